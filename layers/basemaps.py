"""Basemaps an intranet can have, beside the page's built-in ones (``layers.map.page.basemaps``):
tile URL templates from the settings (XYZ, WMTS in KVP form, an intranet Tianditu), and local
MBTiles and PMTiles files in a folder, served by the app itself at ``/basemap/<name>/<z>/<x>/<y>.<ext>``, so a
fully offline office has a real basemap. Flask-free: the route and the page get plain values."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from geo.errors import ConfigError, NotFound
from geo.tiles import mbtiles, pmtiles_reader

#: how each kind of local file is read, by its suffix
_READERS = {".mbtiles": mbtiles, ".pmtiles": pmtiles_reader}

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,40}$")
_URL = re.compile(r"^(https?://[^\s\"'<>]+|/[^\s\"'<>]*)$")
#: The placeholders a template must have, in Leaflet's form ({s} for subdomains is optional).
_NEEDED = ("{z}", "{x}", "{y}")


@dataclass(frozen=True)
class Configured:
    id: str
    title: dict[str, str]
    tiles: tuple[dict, ...]


def parse(text: str) -> list[Configured]:
    """``ATLAS_BASEMAPS``: a JSON list of {"id", "title" (text or {"zh", "en"}), "url" (or "urls":
    several layers drawn together, e.g. a map and its labels), "attribution", "maxZoom",
    "subdomains"}; ConfigError saying what is wrong."""
    if not text or not text.strip():
        return []
    form = ('ATLAS_BASEMAPS must be a JSON list such as [{"id": "intranet", "title": {"zh": "内网地图", "en": '
            '"Intranet map"}, "url": "http://gis.example/tiles/{z}/{x}/{y}.png", "attribution": "…"}]')
    try:
        items = json.loads(text)
    except ValueError:
        raise ConfigError(f"{form}; it is not JSON") from None
    if not isinstance(items, list):
        raise ConfigError(form)
    out, seen = [], set()
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not _ID.match(item["id"]):
            raise ConfigError(f"{form}; each needs an id of lower-case letters, digits, '-' and '_'")
        if item["id"] in seen or item["id"] in ("none", "osm", "imagery", "light") or item["id"].startswith(("local-", "tianditu")):
            raise ConfigError(f"ATLAS_BASEMAPS: the id {item['id']!r} is taken; give each basemap its own id")
        seen.add(item["id"])
        urls = item.get("urls") or [item.get("url")]
        for url in urls:
            if not isinstance(url, str) or not _URL.match(url) or not all(p in url for p in _NEEDED):
                raise ConfigError(f"ATLAS_BASEMAPS: basemap {item['id']!r} needs a url with {{z}}, {{x}} and {{y}} "
                                  f"(http://, https:// or a path on this server), got {url!r}")
        title = item.get("title") or item["id"]
        title = {"zh": title, "en": title} if isinstance(title, str) else {"zh": str(title.get("zh") or item["id"]),
                                                                           "en": str(title.get("en") or title.get("zh") or item["id"])}
        max_zoom = item.get("maxZoom", 18)
        if not isinstance(max_zoom, int) or not 0 <= max_zoom <= 22:
            raise ConfigError(f"ATLAS_BASEMAPS: maxZoom of {item['id']!r} must be a whole number from 0 to 22")
        tiles = tuple({"url": url, "maxZoom": max_zoom, "attribution": str(item.get("attribution") or ""),
                       **({"subdomains": str(item["subdomains"])} if item.get("subdomains") else {})} for url in urls)
        out.append(Configured(item["id"], title, tiles))
    return out


def local_files(folder: str | Path | None) -> dict[str, Path]:
    """The MBTiles and PMTiles files of ``folder`` by name (the file's name without its suffix);
    ConfigError when two files have one name."""
    if not folder:
        return {}
    base = Path(folder)
    if not base.is_dir():
        raise ConfigError(f"ATLAS_BASEMAP_DIR must be a folder of .mbtiles or .pmtiles files; {folder!r} is not a folder")
    found: dict[str, Path] = {}
    for p in sorted(base.iterdir()):
        if p.suffix.lower() not in _READERS or not _ID.match(p.stem) or not p.is_file():
            continue
        if p.stem in found:
            raise ConfigError(f"ATLAS_BASEMAP_DIR has two basemaps named {p.stem!r} ({found[p.stem].name} and "
                              f"{p.name}); rename one of them")
        found[p.stem] = p
    return found


def check_folder(folder: str | Path | None) -> None:
    """Every file of ``folder`` readable as the basemap it claims to be (at start-up: a broken or
    foreign file stops the start naming it, rather than failing the page later)."""
    from geo.errors import StoreError

    for path in local_files(folder).values():
        try:
            local_meta(path)
        except StoreError as exc:
            raise ConfigError(f"ATLAS_BASEMAP_DIR: {path.name} cannot be served: {exc.detail}; replace or remove "
                              "the file") from None


@lru_cache(maxsize=64)
def _meta(path: str, mtime_ns: int) -> dict:
    return _READERS[Path(path).suffix.lower()].metadata(Path(path))


def local_meta(path: Path) -> dict:
    return _meta(str(path), path.stat().st_mtime_ns)


def local(folder, prefix: str = "/basemap/") -> list[Configured]:
    """A basemap for each MBTiles or PMTiles file of ``folder``, its tiles at ``prefix<name>/{z}/{x}/{y}.<format>``."""
    out = []
    for name, path in local_files(folder).items():
        meta = local_meta(path)
        if meta["format"] == "pbf":  # vector tiles: served to GIS clients, but the page draws raster basemaps
            continue
        title = meta.get("name") or name
        try:
            max_zoom = int(meta.get("maxzoom", 18))
        except ValueError:
            max_zoom = 18
        out.append(Configured(f"local-{name}", {"zh": f"{title}（本地）", "en": f"{title} (local)"}, (
            {"url": f"{prefix}{name}/{{z}}/{{x}}/{{y}}.{meta['format']}", "maxZoom": 19, "maxNativeZoom": max_zoom,
             "attribution": meta.get("attribution", "")},)))
    return out


def tile(folder, name: str, z: int, x: int, y: int, ext: str) -> tuple[bytes, str] | None:
    """A tile of the local basemap ``name`` and its media type; None where the file has no tile
    there (the map shows nothing); NotFound for an unknown basemap or the wrong extension."""
    files = local_files(folder)
    if name not in files:
        raise NotFound(f"no local basemap {name!r}; the local basemaps are: {', '.join(files) or '(none)'}",
                       parameter="basemap")
    fmt = local_meta(files[name])["format"]
    if ext != fmt and not (ext in ("jpg", "jpeg") and fmt in ("jpg", "jpeg")):
        raise NotFound(f"the basemap {name!r} has .{fmt} tiles, not .{ext}", parameter="basemap")
    data = _READERS[files[name].suffix.lower()].read_tile(files[name], z, x, y)
    return None if data is None else (data, mbtiles.MEDIA_TYPES[fmt])
