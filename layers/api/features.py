"""The atlas's JSON API as plain functions over a store: no Flask here.

Each function takes the store and the request's parameters as a plain mapping and returns what the
route serialises; the parameters are checked by ``layers.api.params``.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping

import geopandas as gpd
import orjson
import numpy as np
import pandas as pd
import shapely

from geo.errors import InvalidParameter, NotFound
from geo.store import Query, Store

from .. import catalog, layermeta, style
from . import params as params_module
from .params import MAX_TEXT, layer_query, parse_int, parse_time


# -- serialisation -------------------------------------------------------------------------------
def round_geometries(geoms, decimals: int = 7):
    """Coordinates rounded to ``decimals`` (7 decimals of a degree is about 1 cm)."""
    return shapely.transform(np.asarray(geoms, dtype=object), lambda xy: np.round(xy, decimals))


def json_fields(store: Store, layer: str) -> tuple[str, ...]:
    return tuple(f.name for f in store.fields(layer) if f.type == "json")


def _float(v: float):
    """A float as Python's json writes it: orjson agrees except with an exponent (1e-07, 1e+16)."""
    return orjson.Fragment(repr(v).encode()) if v and (abs(v) < 1e-4 or abs(v) >= 1e16) else v


def _floats(value):
    """``value`` (decoded JSON) with its awkward floats written as Python's json writes them."""
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, list):
        return [_floats(v) for v in value]
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    return value


def _column(values: pd.Series, is_json: bool) -> list:
    """A column as JSON-ready Python values: NaN and NA as None, numpy scalars as Python's, JSON
    fields decoded."""
    out = values.tolist()
    if is_json:
        return [_floats(orjson.loads(v)) if isinstance(v, str) else v for v in out]
    if values.dtype.kind == "f":
        return [None if v != v else _float(v) for v in out]  # NaN is the only value not equal to itself
    if values.dtype == object or isinstance(values.dtype, pd.api.extensions.ExtensionDtype):
        return [None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else v for v in out]
    return out


def records(frame: pd.DataFrame, json_fields: tuple[str, ...] = ()) -> list[dict]:
    """Rows as JSON-ready dicts: JSON fields decoded, NaN/NA as null; built a column at a time."""
    cols = [c for c in frame.columns if c != frame.geometry.name] if isinstance(frame, gpd.GeoDataFrame) else list(frame.columns)
    columns = [_column(frame[c], c in json_fields) for c in cols]
    return [dict(zip(cols, row)) for row in zip(*columns)] if cols else [{} for _ in range(len(frame))]


def features_json(frame: gpd.GeoDataFrame, *, decimals: int = 7, layer: str | None = None,
                  json_fields: tuple[str, ...] = ()) -> list[bytes]:
    """Each row as a GeoJSON Feature (UTF-8 bytes): geometries from shapely's GeoJSON writer
    (vectorised, coordinates rounded), every other member from orjson; nothing is pasted in
    unserialised."""
    geoms = shapely.to_geojson(round_geometries(frame.geometry.values, decimals))
    dumps = orjson.dumps
    parts = []
    for geom, props in zip(geoms, records(frame, json_fields)):
        if layer is not None:
            props["layer"] = layer
        parts.append(b'{"type":"Feature","id":%b,"geometry":%b,"properties":%b}'
                     % (dumps(props.get(catalog.KEY)), geom.encode(), dumps(props)))
    return parts


def plain_value(v):
    """A value of a store's row as JSON has it: NA and NaN as None."""
    return None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v


def record_features(records, kinds: Mapping[str, str], *, decimals: int = 7) -> list[bytes]:
    """``features_json``'s Features, byte for byte, from a store's plain values (``Store.records``:
    no frame; ``kinds`` the layer's field types): JSON fields decoded, NaN and NA as null, floats
    as Python's json writes them."""
    geoms = shapely.to_geojson(round_geometries(records.geometry, decimals))
    convert = [(lambda v: _floats(orjson.loads(v)) if isinstance(v, str) else v) if kinds.get(c) == "json" else
               (lambda v: None if v is None or v != v else _float(v)) if kinds.get(c) == "float" else plain_value
               for c in records.columns]
    names, dumps = records.columns, orjson.dumps
    parts = []
    for geom, row in zip(geoms, records.rows):
        props = {n: f(v) for n, f, v in zip(names, convert, row)}
        parts.append(b'{"type":"Feature","id":%b,"geometry":%b,"properties":%b}'
                     % (dumps(props.get(catalog.KEY)), b"null" if geom is None else geom.encode(), dumps(props)))
    return parts


def feature_collection(frame: gpd.GeoDataFrame, *, extra: dict | None = None, decimals: int = 7,
                       layer: str | None = None, json_fields: tuple[str, ...] = ()) -> bytes:
    """A GeoJSON FeatureCollection of the rows, with ``extra`` members before ``features``."""
    parts = features_json(frame, decimals=decimals, layer=layer, json_fields=json_fields)
    head = orjson.dumps({"type": "FeatureCollection", **(extra or {})})[:-1]
    return head + b',"features":[' + b",".join(parts) + b"]}"


# -- the endpoints' cores ------------------------------------------------------------------------
def layer_summary(store: Store, layer: str, metadata: Mapping | None = None) -> dict:
    """A layer as ``/api/layers`` lists it. A layer the catalog does not describe takes its title,
    its fields' titles and its style from its entry in ``layers.layermeta`` (``metadata``: every
    entry, read once for a list; None reads the layer's); a field without a title there has the
    catalog's title of a field of that name (the key, the measures), or its name."""
    info = store.info(layer)
    spec = catalog.get(layer)
    if spec is not None:
        title = spec.title
        fields = [f.describe() for f in catalog.FIELDS]
        layer_style = style.layer_style(spec)
    else:
        meta = (layermeta.get(store, layer) if metadata is None else metadata.get(layer)) or {}
        title = meta.get("title") or {"zh": layer, "en": layer}
        titles = meta.get("fields") or {}
        fields = [{"name": f.name, "type": f.type,
                   "title": titles.get(f.name) or _CATALOG_TITLES.get(f.name) or {"zh": f.name, "en": f.name}}
                  for f in info.fields]
        by = meta.get("style")
        if by and by.get("by") in {f.name for f in info.fields}:
            layer_style = style.field_style(info.geometry_type, by["by"], layermeta.ordered(by))
        else:
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


#: The catalog's titles of its fields, for a field of the same name in another layer (the key and
#: the measures an import adds, a file's ``name_zh``).
_CATALOG_TITLES = {f.name: {"zh": f.zh, "en": f.en} for f in catalog.FIELDS}


def ordered_layers(store: Store) -> list[str]:
    """The store's layers, catalog layers first in catalog order."""
    order = {spec.id: i for i, spec in enumerate(catalog.LAYERS)}
    return sorted(store.layers(), key=lambda n: order.get(n, len(order)))


def list_layers(store: Store) -> dict:
    names = ordered_layers(store)
    metadata = layermeta.entries(store) if any(catalog.get(n) is None for n in names) else {}
    return {"layers": [layer_summary(store, n, metadata) for n in names]}


def layer_features(store: Store, layer: str, args: Mapping, *, default_limit: int = 1000,
                   max_limit: int = 10000, count_at_most: int | None = params_module.AT_MOST_DEFAULT) -> bytes:
    """The page of features ``args`` asks for, as GeoJSON. ``numberMatched`` is exact when it is
    cheap: a page that is not full tells it, a bbox alone is counted by the spatial index, and
    other filters are counted up to ``count_at_most``; beyond that the answer has no
    ``numberMatched`` but ``numberMatchedAtLeast`` (``count_at_most`` + 1)."""
    if count_at_most is params_module.AT_MOST_DEFAULT:  # read when asked: tests lower it
        count_at_most = params_module.COUNT_AT_MOST
    fields = store.fields(layer)  # NotFound for an unknown layer, before any parameter is judged
    query, tolerance = layer_query(layer, [f.name for f in fields], args,
                                   default_limit=default_limit, max_limit=max_limit)
    frame = store.query(layer, query)
    if len(frame) and (query.limit is None or len(frame) < query.limit) or not (len(frame) or query.offset):
        matched = query.offset + len(frame)  # the last page: it tells how many there are
    else:
        matched = store.count(layer, query, at_most=count_at_most)
    if tolerance > 0 and len(frame):
        frame = frame.set_geometry(shapely.simplify(frame.geometry.values, tolerance, preserve_topology=True))
    # a count that stopped says count_at_most + 1; any other number is exact (a bbox alone is
    # counted whole by the spatial index)
    stopped = count_at_most is not None and matched == count_at_most + 1
    counted = {"numberMatchedAtLeast": matched} if stopped else {"numberMatched": matched}
    extra = {"layer": layer, **counted, "numberReturned": len(frame), "offset": query.offset, "limit": query.limit}
    return feature_collection(frame, extra=extra, json_fields=tuple(f.name for f in fields if f.type == "json"))


def feature(store: Store, feature_id: str, args: Mapping | None = None) -> tuple[bytes, int | None]:
    """One feature with every property and its ``layer``, as GeoJSON bytes with its ``version``
    (the one an edit names in If-Match), and the version; as it was at ``as_of`` when asked
    (then without a version: a past state is not edited)."""
    args = args or {}
    unknown = sorted(set(args) - {"as_of"})
    if unknown:
        raise InvalidParameter(f"unknown parameter {unknown[0]!r}; accepted: as_of", parameter=unknown[0])
    as_of = parse_time(args.get("as_of"))
    if as_of:
        found = store.find(feature_id, as_of=as_of)
        if found is None:
            raise NotFound(f"no feature with id {feature_id!r} at {as_of}", parameter="id")
        return features_json(found[1], layer=found[0], json_fields=json_fields(store, found[0]))[0], None
    found = store.find_versioned(feature_id)
    if found is None:
        raise NotFound(f"no feature with id {feature_id!r}; ids are listed in /api/layers/<layer>",
                       parameter="id")
    layer, frame, version = found
    return _versioned_json(store, layer, frame, version), version


def with_version(store: Store, layer: str, key: str) -> tuple[bytes, int]:
    """The feature as GeoJSON with the ``version`` it is at, the two read as of one moment (an
    editor who saves what they read with that version never overwrites a change they did not see)."""
    frame, versions = store.read_versioned(layer, [key])
    if not len(frame) or key not in versions:
        raise NotFound(f"no feature {key!r} in layer {layer!r}", parameter="id")
    return _versioned_json(store, layer, frame, versions[key]), versions[key]


def _versioned_json(store: Store, layer: str, frame, version: int) -> bytes:
    body = features_json(frame, layer=layer, json_fields=json_fields(store, layer))[0]
    return b'{"type":"Feature","version":%d,' % version + body[len(b'{"type":"Feature",'):]


def search(store: Store, args: Mapping, *, limit: int = 20) -> dict:
    text = (args.get("q") or "").strip()
    if not text:
        raise InvalidParameter("q is required: a part of a name in Chinese or English, e.g. q=华夏城",
                               parameter="q")
    if len(text) > MAX_TEXT:
        raise InvalidParameter(f"q must be at most {MAX_TEXT} characters", parameter="q")
    limit = parse_int(args, "limit", limit, 1, 100)
    as_of = parse_time(args.get("as_of"))
    columns = (catalog.KEY, *catalog.TEXT_FIELDS, "category", "district")
    results = []
    for layer in ordered_layers(store):
        names = {f.name for f in store.fields(layer)}
        present = tuple(c for c in columns if c in names)
        if catalog.KEY not in present:
            continue
        frame = store.query(layer, Query(text=text, text_fields=catalog.TEXT_FIELDS, limit=limit, columns=present,
                                          as_of=as_of))
        if frame.empty:
            continue
        bounds = shapely.bounds(frame.geometry.values)
        points = shapely.point_on_surface(frame.geometry.values)
        for rec, pt, bb in zip(records(frame), points, bounds):
            rec["layer"] = layer
            results.append({
                "type": "Feature", "id": rec[catalog.KEY],
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
