"""Where the page's JavaScript and CSS come from: installed packages and our own ``static/``, never a CDN.

``PACKAGES`` is the whitelist of XStatic packages the server may serve under ``/vendor/<name>/``;
``outside_hosts`` is the guard that finds any link in a page to a host other than the server.
No Flask here: the server maps these to routes.
"""
from __future__ import annotations

import hashlib
import importlib
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit


def folder(name: str) -> Path:
    """The checkout's ``static/`` or ``templates/`` when running from a checkout, else the copy an
    installed wheel put under ``<prefix>/share/weihai-atlas/`` (pyproject's data-files)."""
    checkout = Path(__file__).resolve().parents[2] / name
    if checkout.is_dir() and any(checkout.iterdir()):
        return checkout
    return Path(sys.prefix) / "share" / "weihai-atlas" / name


STATIC_DIR = folder("static")
TEMPLATES_DIR = folder("templates")


@dataclass(frozen=True)
class Package:
    """An XStatic package whose files the server serves under ``/vendor/<name>/``."""

    name: str
    module: str

    def _module(self):
        try:
            return importlib.import_module(self.module)
        except ImportError:
            raise RuntimeError(f"the package {self.module} is not installed; install the project "
                               "(pip install -e .) to get the map's JavaScript libraries") from None

    @property
    def base_dir(self) -> Path:
        return Path(self._module().BASE_DIR)

    @property
    def version(self) -> str:
        return str(self._module().VERSION)


#: The whitelist: nothing outside these packages' data folders is served under /vendor/.
PACKAGES: dict[str, Package] = {
    "leaflet": Package("leaflet", "xstatic.pkg.leaflet"),
}


def package(name: str) -> Package | None:
    return PACKAGES.get(name)


def vendor_url(name: str, filename: str, prefix: str = "/vendor/") -> str:
    """A versioned local URL of a package file (the version makes long caching safe)."""
    pkg = PACKAGES[name]
    return f"{prefix}{name}/{filename}?v={pkg.version}"


@lru_cache(maxsize=64)
def _digest(path: str, mtime_ns: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def static_url(filename: str, prefix: str = "/static/") -> str:
    """A local URL of one of our own static files, versioned by its content."""
    path = STATIC_DIR / filename
    return f"{prefix}{filename}?v={_digest(str(path), path.stat().st_mtime_ns)}"


# -- the guard -----------------------------------------------------------------------------------
#: Absolute URLs anywhere in the page (attributes, inline CSS, inline scripts).
_ABSOLUTE = re.compile(r"""\b(?:https?|wss?|ftp)://[^\s"'<>\\)`]+""", re.IGNORECASE)
#: Protocol-relative URLs where the browser would fetch or follow them.
_RELATIVE_PROTO = re.compile(
    r"""(?:\b(?:src|href|action|poster|data|srcset)\s*=\s*["']?|url\(\s*["']?|@import\s+["'])\s*//([^\s"'<>/)]+)""",
    re.IGNORECASE)
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def outside_hosts(html: str, *, allowed_urls: tuple[str, ...] = (), local_hosts=LOCAL_HOSTS) -> list[str]:
    """The hosts other than the server's that ``html`` links to or loads from, sorted.

    ``allowed_urls`` are exact URLs that may stand in the page although they name another host: the
    online basemaps' tile URL templates, which the browser fetches only when a planner picks that
    basemap (they are map tiles, not the page's assets)."""
    allowed = set(allowed_urls)
    found: set[str] = set()
    html = html.replace("\\u0026", "&")  # JSON in scripts writes & as \u0026
    for match in _ABSOLUTE.finditer(html):
        url = match.group(0)
        if url in allowed:
            continue
        host = (urlsplit(url).hostname or "").lower()
        if host not in local_hosts:
            found.add(host or url)
    for match in _RELATIVE_PROTO.finditer(html):
        host = match.group(1).split(":")[0].lower()
        if host not in local_hosts:
            found.add(host)
    return sorted(found)
