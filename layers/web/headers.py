"""Security headers on every response: pages, API answers, error pages and static files.

The Content-Security-Policy allows only this server: scripts from 'self' plus the SHA-256 of each
inline ``<script>`` of that very page (computed from the response body, so Folium's inline setup
runs and nothing injected would); styles 'self' and 'unsafe-inline' (Leaflet and Folium set inline
styles; no script can run from a style); images also from ``data:``/``blob:`` and the tile hosts of
the basemaps the page offers (``g.tile_urls``, from ``layers.map.page``); frames only from
ATLAS_FRAME_ANCESTORS. X-Frame-Options says the same for old browsers where it can.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import re
from urllib.parse import urlsplit

from flask import current_app, g, request

_INLINE_SCRIPT = re.compile(r"<script(?P<attrs>[^>]*)>(?P<body>.*?)</script\s*>", re.S | re.I)
_SRC = re.compile(r"\bsrc\s*=", re.I)
_DATA_TYPE = re.compile(r"""\btype\s*=\s*["']?application/(ld\+)?json""", re.I)


def init_app(app) -> None:
    """Register last (after the other after-request hooks), so it runs first, on the plain body."""
    app.after_request(secure)


def script_hashes(html: str) -> list[str]:
    """'sha256-…' of every inline script that runs (JSON data blocks do not)."""
    out = []
    for m in _INLINE_SCRIPT.finditer(html):
        if _SRC.search(m["attrs"]) or _DATA_TYPE.search(m["attrs"]):
            continue
        digest = base64.b64encode(hashlib.sha256(m["body"].encode("utf-8")).digest()).decode()
        out.append(f"'sha256-{digest}'")
    return list(dict.fromkeys(out))


def tile_sources(urls) -> list[str]:
    """CSP sources for tile URL templates: https://{s}.tile.example/... -> https://*.tile.example."""
    out = []
    for url in urls:
        netloc = url.split("//", 1)[-1].split("/", 1)[0]
        parts = urlsplit(url.replace("{s}", "s"))
        host = parts.hostname or ""
        if not host:
            continue
        if "{" in netloc and "." in host:  # a subdomain placeholder: any subdomain of the rest
            host = "*." + host.split(".", 1)[1]
        out.append(f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else ""))
    return list(dict.fromkeys(out))


def policy(html: str | None, tile_urls=(), frame_ancestors: str = "'self'") -> str:
    scripts = " ".join(["'self'", *(script_hashes(html) if html else [])])
    images = " ".join(["'self'", "data:", "blob:", *tile_sources(tile_urls)])
    return "; ".join([
        "default-src 'self'", f"script-src {scripts}", "style-src 'self' 'unsafe-inline'", f"img-src {images}",
        "font-src 'self' data:", "connect-src 'self'", "object-src 'none'", "base-uri 'self'",
        "form-action 'self'", f"frame-ancestors {frame_ancestors}",
    ])


@functools.lru_cache(maxsize=32)
def _policy(tile_urls: tuple, frame_ancestors: str) -> str:
    return policy(None, tile_urls, frame_ancestors)


def frame_options(frame_ancestors: str) -> str | None:
    """X-Frame-Options where it can say the same as frame-ancestors (it cannot list other origins)."""
    return {"'self'": "SAMEORIGIN", "'none'": "DENY"}.get(frame_ancestors.strip())


def secure(response):
    ancestors = current_app.config["FRAME_ANCESTORS"]
    html = None
    if response.mimetype == "text/html" and not response.direct_passthrough and not response.is_streamed:
        html = response.get_data(as_text=True)
    tiles = tuple(g.get("tile_urls", ()))
    # an answer with no page (JSON, tiles, files): the same policy every time, made once
    response.headers["Content-Security-Policy"] = policy(html, tiles, ancestors) if html else _policy(tiles, ancestors)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    xfo = frame_options(ancestors)
    if xfo:
        response.headers["X-Frame-Options"] = xfo
    if request.is_secure:
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    return response
