"""The atlas's JSON API as plain functions over a store: no Flask here.

Each function takes the store and the request's parameters as a plain mapping and returns what the
route serialises. Every parameter is checked here, and a bad one raises ``InvalidParameter`` naming
the parameter, what was given and the accepted form.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import InvalidParameter, NotFound
from geo.store import Query, Store

from . import catalog, style

#: Parameters of /api/layers/<id>; anything else is refused so that a typo is not silently ignored.
FEATURE_PARAMS = ("bbox", "district", "category", "status", "q", "ids", "limit", "offset", "simplify",
                  "fields", "lang")
MAX_TEXT = 100
#: SQLite binds at most 32,766 values a statement; a selection is far smaller.
MAX_IDS = 10_000
#: metres per degree of latitude (for turning a tolerance in metres into degrees near Weihai).
M_PER_DEG = 111_320.0


# -- parameters ----------------------------------------------------------------------------------
def split_list(value: str | None) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``: the comma lists of every parameter."""
    return [v.strip() for v in str(value or "").split(",") if v.strip()]


def parse_bbox(value: str) -> tuple[float, float, float, float]:
    form = "bbox must be minx,miny,maxx,maxy in WGS84 degrees (e.g. 122.0,37.4,122.2,37.6)"
    parts = str(value).split(",")
    try:
        nums = tuple(float(p) for p in parts)
    except ValueError:
        raise InvalidParameter(f"{form}, got {value!r}", parameter="bbox") from None
    if len(nums) != 4 or not all(math.isfinite(n) for n in nums):
        raise InvalidParameter(f"{form}, got {value!r}", parameter="bbox")
    minx, miny, maxx, maxy = nums
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90):
        raise InvalidParameter(f"{form}: longitudes within ±180 and latitudes within ±90, got {value!r}"
                               " (projected coordinates are not accepted here)", parameter="bbox")
    if minx > maxx or miny > maxy:
        raise InvalidParameter(f"{form}: minx <= maxx and miny <= maxy, got {value!r}", parameter="bbox")
    return nums


def _district_lookup() -> dict[str, tuple[str, str]]:
    """Every accepted spelling -> (field, value): adcodes, Chinese and English names, with and
    without the 区/市 suffix, and the functional areas."""
    table: dict[str, tuple[str, str]] = {}
    for code, names in catalog.DISTRICTS.items():
        for key in (code, names["zh"], names["zh"].rstrip("区市"), names["en"], names["en"].split()[0]):
            table[key.lower()] = ("district", code)
    for name, names in catalog.FUNCTIONAL_AREAS.items():
        for key in (name, names["en"]):
            table[key.lower()] = ("functional_area", name)
    return table


def parse_district(value: str) -> dict[str, tuple[str, ...]]:
    lookup = _district_lookup()
    equals: dict[str, list[str]] = {}
    for item in split_list(value):
        hit = lookup.get(item.lower())
        if hit is None:
            accepted = ", ".join(f"{c} {n['zh']}" for c, n in catalog.DISTRICTS.items())
            raise InvalidParameter(
                f"unknown district {item!r}; use an adcode or name ({accepted}) or a functional area "
                f"({', '.join(catalog.FUNCTIONAL_AREAS)}); separate several with commas",
                parameter="district")
        field, code = hit
        if field == "district" and code == "371000":
            continue  # the whole city: every feature of the atlas lies in it
        equals.setdefault(field, []).append(code)
    return {k: tuple(v) for k, v in equals.items()}


def _parse_int(args: Mapping, name: str, default: int, lo: int, hi: int) -> int:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(str(raw))
    except ValueError:
        value = None
    if value is None or not lo <= value <= hi:
        raise InvalidParameter(f"{name} must be a whole number from {lo} to {hi}, got {raw!r}", parameter=name)
    return value


#: The filters the page applies to every layer at once; exports and the offline map take them too.
FILTERS = ("district", "category", "status")


def filter_rule(layer: str, fields) -> dict[str, list[str] | None]:
    """The one rule of which filter values a layer can match, decided from its fields: per filter,
    None (any value: passed on to the store) or the list of values it can match ([]: the filter
    excludes the whole layer). The page receives this in its layer config and only looks it up."""
    names = set(fields)
    spec = catalog.get(layer)
    district = ([*catalog.DISTRICTS] if "district" in names else []) + \
               ([*catalog.FUNCTIONAL_AREAS] if "functional_area" in names else [])
    if "category" not in names:
        category = []
    else:
        category = list(spec.categories) if spec is not None else None
    return {"district": district, "category": category, "status": None if "status" in names else []}


def _filter_values(layer: str, name: str, value: str) -> list[str] | None:
    """The canonical values of one filter (InvalidParameter for a value the atlas does not know);
    None when the filter means no restriction (the whole city)."""
    items = split_list(value)
    if name == "district":
        found = parse_district(value)
        keys = [*found.get("district", ()), *found.get("functional_area", ())]
        return keys or None
    if name == "status":
        bad = [s for s in items if s not in catalog.STATUSES]
        if bad:
            raise InvalidParameter(f"unknown status {bad[0]!r}; accepted: {', '.join(catalog.STATUSES)}",
                                   parameter="status")
        return items or None
    if catalog.get(layer) is not None:  # category: any layer's of the catalog (the page's list)
        known = {c: spec.id for spec in catalog.LAYERS for c in spec.categories}
        bad = [c for c in items if c not in known]
        if bad:
            accepted = "; ".join(f"{spec.id}: {', '.join(spec.categories)}" for spec in catalog.LAYERS)
            raise InvalidParameter(f"unknown category {bad[0]!r}; accepted: {accepted}", parameter="category")
    return items or None


def filters_for_layer(layer: str, fields, args: Mapping) -> dict | None:
    """Filters meant for several layers at once (the page's, an export's, the offline map's) for
    one layer, by ``filter_rule``: each filter keeps the values this layer can match; None when a
    filter leaves it none (nothing of this layer can match). Other parameters pass unchanged."""
    out = {k: v for k, v in args.items() if v not in (None, "")}
    rule = filter_rule(layer, fields)
    for name in FILTERS:
        if name not in out:
            continue
        values = _filter_values(layer, name, out.pop(name))
        if values is None:
            continue
        allowed = rule[name]
        mine = values if allowed is None else [v for v in values if v in allowed]
        if not mine:
            return None
        out[name] = ",".join(mine)
    return out


def parse_query(args: Mapping, layer: str, *, default_limit: int, max_limit: int) -> tuple[Query, float]:
    """The store query and the simplification tolerance (degrees) for /api/layers/<layer>."""
    unknown = sorted(set(args) - set(FEATURE_PARAMS))
    if unknown:
        raise InvalidParameter(f"unknown parameter {unknown[0]!r}; accepted: {', '.join(FEATURE_PARAMS)}",
                               parameter=unknown[0])
    spec = catalog.get(layer)
    equals: dict[str, tuple[str, ...]] = {}
    if args.get("district"):
        equals.update(parse_district(args["district"]))
    if args.get("category"):
        cats = split_list(args["category"])
        if spec is not None:
            bad = [c for c in cats if c not in spec.categories]
            if bad:
                raise InvalidParameter(f"unknown category {bad[0]!r} for layer {layer!r}; accepted: "
                                       f"{', '.join(spec.categories)}", parameter="category")
        equals["category"] = tuple(cats)
    if args.get("status"):
        stats = split_list(args["status"])
        bad = [s for s in stats if s not in catalog.STATUSES]
        if bad:
            raise InvalidParameter(f"unknown status {bad[0]!r}; accepted: {', '.join(catalog.STATUSES)}",
                                   parameter="status")
        equals["status"] = tuple(stats)
    text = args.get("q") or None
    if text is not None and len(text) > MAX_TEXT:
        raise InvalidParameter(f"q must be at most {MAX_TEXT} characters", parameter="q")
    ids = tuple(split_list(args["ids"])) if args.get("ids") is not None else None
    if ids is not None and len(ids) > MAX_IDS:
        raise InvalidParameter(f"ids lists at most {MAX_IDS} features, got {len(ids)}; filter by bbox, "
                               "district, category or status instead", parameter="ids")
    simplify_m = _parse_int(args, "simplify", 0, 0, 10_000)
    columns = None
    if args.get("fields"):
        wanted = split_list(args["fields"])
        known = catalog.FIELD_NAMES if spec is not None else None
        bad = [f for f in wanted if known is not None and f not in known]
        if bad:
            raise InvalidParameter(f"unknown field {bad[0]!r}; accepted: {', '.join(catalog.FIELD_NAMES)}",
                                   parameter="fields")
        columns = ("id", *[f for f in wanted if f != "id"])
    query = Query(
        bbox=parse_bbox(args["bbox"]) if args.get("bbox") else None,
        equals=equals,
        text=text,
        ids=ids,
        limit=_parse_int(args, "limit", default_limit, 1, max_limit),
        offset=_parse_int(args, "offset", 0, 0, 10**9),
        columns=columns,
    )
    return query, simplify_m / M_PER_DEG


# -- serialisation -------------------------------------------------------------------------------
def round_geometries(geoms, decimals: int = 7):
    """Coordinates rounded to ``decimals`` (7 decimals of a degree is about 1 cm)."""
    return shapely.transform(np.asarray(geoms, dtype=object), lambda xy: np.round(xy, decimals))


def _clean(value):
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts: JSON fields decoded, NaN/NA as null."""
    cols = [c for c in frame.columns if c != frame.geometry.name] if isinstance(frame, gpd.GeoDataFrame) else list(frame.columns)
    out = []
    for row in frame[cols].itertuples(index=False, name=None):
        rec = {c: _clean(v) for c, v in zip(cols, row)}
        for key in catalog.JSON_FIELDS:
            if isinstance(rec.get(key), str):
                rec[key] = json.loads(rec[key])
        out.append(rec)
    return out


def feature_collection_text(frame: gpd.GeoDataFrame, *, extra: dict | None = None, decimals: int = 7,
                            layer: str | None = None) -> str:
    """A GeoJSON FeatureCollection as text. Each geometry comes from shapely's GeoJSON writer and
    each member from ``json.dumps``: nothing is pasted in unserialised."""
    geoms = shapely.to_geojson(round_geometries(frame.geometry.values, decimals))
    parts = []
    for geom, props in zip(geoms, records(frame)):
        if layer is not None:
            props["layer"] = layer
        fid = json.dumps(props.get("id"), ensure_ascii=False)
        body = json.dumps(props, ensure_ascii=False, separators=(",", ":"))
        parts.append(f'{{"type":"Feature","id":{fid},"geometry":{geom},"properties":{body}}}')
    head = {"type": "FeatureCollection", **(extra or {})}
    head_text = json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1]
    return f'{head_text},"features":[{",".join(parts)}]}}'


# -- the endpoints' cores ------------------------------------------------------------------------
def layer_summary(store: Store, layer: str) -> dict:
    info = store.info(layer)
    spec = catalog.get(layer)
    if spec is not None:
        title = spec.title
        fields = [f.describe() for f in catalog.FIELDS]
        layer_style = style.layer_style(spec)
    else:
        title = {"zh": layer, "en": layer}
        fields = [{"name": n, "type": t, "title": {"zh": n, "en": n}} for n, t in info.fields]
        layer_style = style.generic_style(info.geometry_type)
    return {
        "id": layer,
        "title": title,
        "geometry_type": info.geometry_type,
        "count": info.count,
        "bbox": [round(v, 7) for v in info.bbox] if info.bbox else None,
        "fields": fields,
        "style": layer_style,
    }


def ordered_layers(store: Store) -> list[str]:
    """The store's layers, catalog layers first in catalog order."""
    order = {spec.id: i for i, spec in enumerate(catalog.LAYERS)}
    return sorted(store.layers(), key=lambda n: order.get(n, len(order)))


def list_layers(store: Store) -> dict:
    return {"layers": [layer_summary(store, n) for n in ordered_layers(store)]}


def layer_features(store: Store, layer: str, args: Mapping, *, default_limit: int = 1000,
                   max_limit: int = 10000) -> str:
    fields = [name for name, _ in store.fields(layer)]  # NotFound for an unknown layer, first
    params = filters_for_layer(layer, fields, args)
    unfiltered = {k: v for k, v in args.items() if k not in FILTERS}
    query, tolerance = parse_query(unfiltered if params is None else params, layer,
                                   default_limit=default_limit, max_limit=max_limit)
    if params is None:  # a filter this layer cannot match: nothing of it
        query = replace(query, ids=())
    frame, matched = store.query(layer, query)
    if tolerance > 0 and len(frame):
        frame = frame.set_geometry(shapely.simplify(frame.geometry.values, tolerance, preserve_topology=True))
    extra = {"layer": layer, "numberMatched": matched, "numberReturned": len(frame),
             "offset": query.offset, "limit": query.limit}
    return feature_collection_text(frame, extra=extra)


def feature(store: Store, feature_id: str) -> dict:
    found = store.find(feature_id)
    if found is None:
        raise NotFound(f"no feature with id {feature_id!r}; ids are listed in /api/layers/<layer>",
                       parameter="id")
    layer, frame = found
    return json.loads(feature_collection_text(frame, layer=layer))["features"][0]


def search(store: Store, args: Mapping, *, limit: int = 20) -> dict:
    text = (args.get("q") or "").strip()
    if not text:
        raise InvalidParameter("q is required: a part of a name in Chinese or English, e.g. q=华夏城",
                               parameter="q")
    if len(text) > MAX_TEXT:
        raise InvalidParameter(f"q must be at most {MAX_TEXT} characters", parameter="q")
    limit = _parse_int(args, "limit", limit, 1, 100)
    columns = ("id", "name_zh", "name_en", "category", "district")
    results = []
    for layer in ordered_layers(store):
        present = tuple(c for c in columns if c in dict(store.fields(layer)))
        if "id" not in present:
            continue
        frame, _ = store.query(layer, Query(text=text, limit=limit, columns=present))
        if frame.empty:
            continue
        bounds = shapely.bounds(frame.geometry.values)
        points = shapely.point_on_surface(frame.geometry.values)
        for rec, pt, bb in zip(records(frame), points, bounds):
            rec["layer"] = layer
            results.append({
                "type": "Feature", "id": rec["id"],
                "geometry": json.loads(shapely.to_geojson(round_geometries([pt])[0])),
                "bbox": [round(float(v), 7) for v in bb],
                "properties": rec,
            })
    needle = text.lower()
    # exact names first, then the rest in layer order (a stable sort)
    results.sort(key=lambda r: needle not in (str(r["properties"].get("name_zh", "")).lower(),
                                              str(r["properties"].get("name_en", "")).lower()))
    ordered = results[:limit]
    return {"type": "FeatureCollection", "query": text, "numberReturned": len(ordered), "features": ordered}
