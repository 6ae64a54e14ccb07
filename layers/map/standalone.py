"""The standalone map: one HTML file of a view of the atlas that opens offline on another computer.

Everything is inside the file: Leaflet's JavaScript and CSS (from the xstatic-leaflet package, its
images as data: URIs), our own CSS and the viewer (``static/atlas.js`` for the strings and styles,
``static/atlas-popup.js`` for the popups, ``static/atlas-standalone.js`` for the rest), and the
layers' features as GeoJSON read through the API core with the page's filters. No basemap: the
land/sea look of the offline page. Opened from ``file://`` it makes no request at all.

The data reaches the page as JSON in ``<script type="application/json">``, serialised with
``htmlsafe_json_dumps`` and every ``/`` written ``\\/`` (so no ``</script>``, and no URL, can stand
in it); every other value reaches HTML through Jinja's autoescape. No Flask here: the route in
``server.py`` passes the request's parameters.
"""
from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from geo.errors import InvalidParameter
from geo.store import Store

from .. import catalog, style
from ..api import features
from ..api.params import filters_for_layer, parse_bbox, parse_time
from ..config import DEFAULTS
from . import assets, page

#: The most features a standalone file embeds; more is refused (filter first).
MAX_FEATURES = DEFAULTS["STANDALONE_MAX_FEATURES"]
#: Parameters beyond the page's view: only the view's box, selected features, a title.
EXTRA_PARAMS = ("bbox", "ids", "title", "as_of")
#: ``as_of``: the offline map of the atlas as it was then (its note says so).
PARAMS = tuple(p for p in page.PAGE_PARAMS if p != "as_of") + EXTRA_PARAMS
MAX_TITLE = 120
#: Our scripts inlined, in load order.
SCRIPTS = ("atlas.js", "atlas-ui.js", "atlas-popup.js", "atlas-standalone.js")


@dataclass(frozen=True)
class Standalone:
    html: str
    filename: str       # ASCII
    filename_utf8: str  # with the Chinese title
    counts: dict[str, int]

    @property
    def content_disposition(self) -> str:
        return f'attachment; filename="{self.filename}"; filename*=UTF-8\'\'{quote(self.filename_utf8, safe="")}'


# -- assets, inlined -------------------------------------------------------------------------------
_URL_IN_JS = re.compile(r"\b(https?|wss?|ftp)://", re.IGNORECASE)
_CSS_URL = re.compile(r"url\((['\"]?)(images/[A-Za-z0-9_.-]+\.png)\1\)")


def _inline_js(text: str) -> str:
    """JavaScript safe inside ``<script>``: no ``</script`` or ``<!--`` can end or alter the element,
    and no ``scheme://`` stands in it (``:\\/\\/`` is the same text in a JS string, regex or comment;
    in Leaflet these are the SVG namespace and its home page, nothing it loads). The source-map
    comment is dropped: nothing may be looked up beside the file."""
    text = re.sub(r"^//# sourceMappingURL=.*$", "", text, flags=re.MULTILINE)
    text = _URL_IN_JS.sub(lambda m: m.group(1) + r":\/\/", text)
    text = re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE)
    return text.replace("<!--", "<\\!--")


def _inline_css(text: str, base: Path | None = None) -> str:
    """CSS safe inside ``<style>``, without comments (Leaflet's name bug trackers), its images
    (Leaflet's icons) as data: URIs."""
    def data_uri(match):
        path = (base / match.group(2)) if base else None
        if path is None or not path.is_file():
            raise FileNotFoundError(f"the CSS image {match.group(2)} is missing beside {base}")
        return "url(data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii") + ")"
    text = _CSS_URL.sub(data_uri, re.sub(r"/\*.*?\*/", "", text, flags=re.S))
    return re.sub(r"</(style)", r"<\\/\1", text, flags=re.IGNORECASE)


@lru_cache(maxsize=4)
def _assets(_key: tuple) -> dict[str, str]:
    leaflet = assets.package("leaflet").base_dir
    return {
        "leaflet_js": _inline_js((leaflet / "leaflet.js").read_text(encoding="utf-8")),
        "leaflet_css": _inline_css((leaflet / "leaflet.css").read_text(encoding="utf-8"), leaflet),
        "atlas_css": _inline_css((assets.STATIC_DIR / "atlas.css").read_text(encoding="utf-8")),
        "scripts": "\n".join(_inline_js((assets.STATIC_DIR / name).read_text(encoding="utf-8")) for name in SCRIPTS),
    }


def inlined_assets() -> dict[str, str]:
    """The inlined assets, read again when one of our files changes."""
    key = tuple((name, (assets.STATIC_DIR / name).stat().st_mtime_ns) for name in (*SCRIPTS, "atlas.css"))
    return _assets(key)


def script_json(data) -> Markup:
    """JSON for ``<script type="application/json">``: HTML-safe, and ``/`` as ``\\/`` (JSON has
    ``/`` only inside strings, where ``\\/`` means the same)."""
    return Markup(str(htmlsafe_json_dumps(data, sort_keys=False, ensure_ascii=False)).replace("/", "\\/"))


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(str(assets.TEMPLATES_DIR)), autoescape=select_autoescape(["html"]),
                       trim_blocks=True, lstrip_blocks=True)


# -- the data ------------------------------------------------------------------------------------
def _read(store: Store, layer: str, params: dict, limit: int) -> dict:
    return json.loads(features.layer_features(store, layer, {**params, "limit": str(limit)},
                                         default_limit=limit, max_limit=limit, count_at_most=None))


def filters_in_words(filters: Mapping[str, str | None], lang: str, *, bbox: bool = False,
                     ids: int = 0) -> str:
    """The filters as a planner reads them: 环翠区 · 公园 · 运营中."""
    vocab = page.filter_vocabulary()
    words = []
    for name in ("district", "category", "status"):
        value = filters.get(name)
        if value:
            labels = vocab[name].get(value, {})
            words.append(labels.get(lang) or labels.get("zh") or value)
    if bbox:
        words.append("当前视图范围" if lang == "zh" else "current view")
    if ids:
        words.append(f"已选 {ids} 个要素" if lang == "zh" else f"{ids} selected features")
    return " · ".join(words) if words else ("全市 · 全部要素" if lang == "zh" else "whole city · all features")


def build(store: Store, args: Mapping, *, max_features: int = MAX_FEATURES, now: float | None = None) -> Standalone:
    """The standalone HTML file for the page's view ``args`` (plus ``bbox``, ``ids``, ``title``)."""
    layers = features.list_layers(store)["layers"]
    ids = [lay["id"] for lay in layers]
    unknown = sorted(set(args) - set(PARAMS))
    if unknown:
        raise InvalidParameter(f"unknown parameter {unknown[0]!r}; the standalone map accepts "
                               f"{', '.join(PARAMS)}", parameter=unknown[0])
    view = page.parse_view({k: v for k, v in args.items() if k in page.PAGE_PARAMS}, ids,
                              list(page.basemaps()))
    lang = view.lang
    extra = {k: str(args[k]).strip() for k in EXTRA_PARAMS if args.get(k) not in (None, "")}
    if "bbox" in extra:
        parse_bbox(extra["bbox"])  # a bad box is a 400 naming the form
    if "as_of" in extra:
        extra["as_of"] = parse_time(extra["as_of"])
    if len(extra.get("title", "")) > MAX_TITLE:
        raise InvalidParameter(f"title must be at most {MAX_TITLE} characters", parameter="title")
    shown = [lay for lay in layers if (lay["id"] in view.layers if view.layers is not None
                                       else lay["count"] <= page.DEFAULT_VISIBLE_MAX)]
    if not shown:
        raise InvalidParameter("layers names no layer: choose at least one, e.g. layers=parks,roads",
                               parameter="layers")
    selected = [v for v in extra.get("ids", "").split(",") if v.strip()]
    plans: dict[str, dict | None] = {}
    for lay in shown:
        if selected:
            params = {"ids": ",".join(selected)}
        else:
            params = filters_for_layer(lay["id"], [f["name"] for f in lay["fields"]], view.filters)
            if params is not None and "bbox" in extra:
                params["bbox"] = extra["bbox"]
        if params is not None and "as_of" in extra:
            params["as_of"] = extra["as_of"]
        plans[lay["id"]] = params
    # count first (one id each), so a request for too much is refused before anything is read
    counts = {lid: (_read(store, lid, {**p, "fields": "id"}, 1)["numberMatched"] if p is not None else 0)
              for lid, p in plans.items()}
    total = sum(counts.values())
    if total > max_features:
        raise InvalidParameter(
            f"the standalone map holds at most {max_features:,} features and this view selects {total:,} "
            f"({', '.join(f'{k}: {v:,}' for k, v in counts.items() if v)}); filter first (district, category, "
            "status), choose fewer layers or tick 'only the current view'", parameter="layers")
    data_layers = []
    for lay in shown:
        params = plans[lay["id"]]
        fc = _read(store, lay["id"], params, max(1, counts[lay["id"]])) if counts[lay["id"]] else \
            {"type": "FeatureCollection", "features": []}
        data_layers.append({**page.layer_config(lay, True), "data": {"type": "FeatureCollection",
                                                                          "features": fc["features"]}})
    land = None
    ground = page.land(ids)
    if ground is not None:
        land_fc = _read(store, ground["layer"], {"category": ",".join(ground["category"])}, 1000)
        land = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": f["geometry"], "properties": {}} for f in land_fc["features"]]}
    stamp = time.localtime(now if now is not None else time.time())
    date = time.strftime("%Y-%m-%d", stamp)
    title_main = "精致威海规划图" if lang == "zh" else "Weihai Planning Atlas"
    subtitle = filters_in_words(view.filters, lang, bbox="bbox" in extra and not selected, ids=len(selected))
    if "as_of" in extra:  # the atlas as it was: said where the filters are
        when = extra["as_of"][:16].replace("T", " ")
        subtitle += (f" · {when} (UTC) 时的状态" if lang == "zh" else f" · as it was at {when} UTC")
    title = extra.get("title") or title_main
    config = {
        "lang": lang,
        "title": title,
        "subtitle": subtitle,
        "date": date,
        "layers": data_layers,
        "land": land,
        "statusStyle": style.STATUS_STYLE,
        "vocab": page.vocabulary(),
        "fieldTitles": {f.name: {"zh": f.zh, "en": f.en} for f in catalog.FIELDS},
        "view": None if view.center is None else {"center": list(view.center), "zoom": view.zoom},
        "home": page.home_bounds(layers),
        "zoom": {"min": page.MIN_ZOOM, "max": page.MAX_ZOOM},
    }
    html = _environment().get_template("standalone.html").render(
        html_lang="zh-CN" if lang == "zh" else "en", title=f"{title} · {subtitle}", config=script_json(config),
        **{k: Markup(v) for k, v in inlined_assets().items()})
    leaf = "-".join(lay["id"] for lay in shown) if len(shown) <= 3 else f"{len(shown)}-layers"
    stamp_name = time.strftime("%Y%m%d", stamp)
    return Standalone(html, f"weihai-atlas_{leaf}_map_{stamp_name}.html",
                      f"精致威海规划图_离线地图_{stamp_name}.html", counts)
