"""The items of a collection: filters (bbox in any offered CRS, a CQL2 text ``filter``, a form
parameter per queryable), output in any offered CRS, and pages that never drop or repeat a feature.

**Pages.** Features come in the order of the key and each page's ``next`` link carries the key of
its last feature (``cursor``, opaque to clients): the next page is the features whose key is
beyond it (a keyset page, ``Query.order_by``/``after``), never an offset. A feature added or
removed while a client pages (QGIS and GDAL read a whole layer page by page) therefore moves no
other feature from one page to another: every feature present throughout is returned exactly
once. ``prev`` pages go the other way from the first key of a page. ``numberMatched`` is exact when
cheap (the whole layer, or a last page), else counted up to ``count_at_most`` and left out beyond.

**Filters are never ignored**: a parameter or filter that cannot be evaluated is a 400 naming it.
"""
from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timezone
from urllib.parse import quote as url_quote

import orjson
import shapely

from geo import cql2
from geo.errors import InvalidParameter
from geo.store import Query, Records, Store

from .. import catalog
from ..api import features as api_features
from . import crs as refs
from .core import GEOJSON, HTML, JSON, Answer, Ask, link, queryable_fields, title, url

FILTER_LANGS = ("cql2-text", "cql-text")
RESERVED = ("f", "lang", "limit", "bbox", "bbox-crs", "crs", "filter", "filter-lang", "filter-crs", "cursor",
            "datetime")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


# -- parameters ------------------------------------------------------------------------------------
def parse_limit(value: str | None, ask: Ask) -> int:
    """``limit``: 1 and up; more than the maximum is served as the maximum (Part 1 allows it)."""
    if value is None or value == "":
        return ask.default_limit
    if not re.fullmatch(r"\d{1,9}", str(value).strip()) or int(value) < 1:
        raise InvalidParameter(f"limit must be a whole number from 1 to {ask.max_limit}, got {value!r}",
                               parameter="limit")
    return min(int(value), ask.max_limit)


def parse_bbox(value: str, source: refs.RefSystem):
    parts = [p.strip() for p in str(value).split(",")]
    if len(parts) not in (4, 6) or not all(_NUMBER.match(p) for p in parts):
        raise InvalidParameter(f"bbox must be four numbers minx,miny,maxx,maxy (in bbox-crs, {source.code} by its "
                               f"axis order), got {value!r}", parameter="bbox")
    numbers = [float(p) for p in parts]
    box = numbers if len(numbers) == 4 else [numbers[0], numbers[1], numbers[3], numbers[4]]
    if box[0] > box[2] or box[1] > box[3]:
        raise InvalidParameter(f"bbox must be minx,miny,maxx,maxy with the lower corner first, got {value!r}",
                               parameter="bbox")
    return refs.bbox_to_wgs84(tuple(box), source)


def _form_value(name: str, kind: str, raw: str):
    if kind == "int" and re.fullmatch(r"[+-]?\d{1,18}", raw.strip()):
        return int(raw)
    if kind == "float" and _NUMBER.match(raw.strip()):
        return float(raw)
    if kind == "bool" and raw.strip().lower() in ("true", "false", "1", "0"):
        return raw.strip().lower() in ("true", "1")
    if kind in ("str", "date"):
        return raw
    raise InvalidParameter(f"{name} is {'a whole number' if kind == 'int' else 'a number' if kind == 'float' else 'true/false'}"
                           f", got {raw!r}", parameter=name)


def parse_filter(args: Mapping, fields: dict[str, str]):
    """The ``filter`` (CQL2 text; ``cql-text`` is GDAL's older name for it) with its geometries
    brought from ``filter-crs`` into WGS84, ANDed with the queryables given as form parameters."""
    lang = (args.get("filter-lang") or "cql2-text").strip().lower()
    if lang not in FILTER_LANGS:
        raise InvalidParameter(f"filter-lang must be cql2-text (or cql-text), got {lang!r}", parameter="filter-lang")
    tree = None
    if args.get("filter") is not None:
        source = refs.parse(args.get("filter-crs"), "filter-crs")
        tree = cql2.parse(args["filter"])
        if source.uri != refs.CRS84:
            tree = cql2.map_geometries(tree, lambda g: refs.to_wgs84(g, source))
    elif args.get("filter-crs"):
        raise InvalidParameter("filter-crs is given without a filter", parameter="filter-crs")
    forms = [cql2.Compare("=", cql2.Property(name), cql2.Literal(_form_value(name, fields[name], args[name])))
             for name in fields if name in args]
    return cql2.conjunction(tree, *forms)


def encode_cursor(direction: str, key) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([direction, key])).decode().rstrip("=")


def decode_cursor(token: str) -> tuple[str, object]:
    try:
        direction, key = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if direction in ("n", "p") and isinstance(key, (str, int)):
            return direction, key
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError):
        pass
    raise InvalidParameter("cursor is not one this server gave; follow the next or prev link of a page, or "
                           "leave cursor out for the first page", parameter="cursor")


# -- writing features ------------------------------------------------------------------------------
def encode(records: Records, fields, target: refs.RefSystem) -> list[bytes]:
    """Each feature (``Store.records``) as a GeoJSON Feature (bytes) in ``target``'s coordinates
    and axis order."""
    if len(records) and (target.uri != refs.CRS84 or target.swap):  # CRS84: the store's own coordinates
        records = replace(records, geometry=refs.from_wgs84(records.geometry, target))
    return api_features.record_features(records, {f.name: f.type for f in fields}, decimals=target.decimals)


def page_context(store: Store, layer: str, records: Records, fields, ask: Ask, links: list[dict],
                 extra: dict | None = None):
    """What the HTML page of features shows: the collection, the rows (text, escaped by the
    template; JSON fields as their text) and the links."""
    names = [f.name for f in fields]
    at = [records.columns.index(n) for n in names]
    rows = []
    for row in records.rows:
        values = [api_features.plain_value(row[i]) for i in at]
        rows.append({n: "" if v is None else str(v) for n, v in zip(names, values)})
    return {"id": layer, "title": title(store, layer, ask.lang), "columns": names, "rows": rows,
            "key": catalog.KEY, "links": links, **(extra or {})}


# -- the items -------------------------------------------------------------------------------------
#: The share of a layer's features in a bbox from which a page is read by walking the key order and
#: testing each row (a dense box: a page is found after a few rows) rather than by the box's index
#: (which gives every match, all of them sorted by key before the first page is cut).
DENSE = 0.2


def page(store: Store, layer: str, query: Query, poly, want: int):
    """Up to ``want`` features of ``query`` in its order that meet ``poly`` (WGS84; None: no box).

    The exact test of the geometry is made here, on each chunk of rows at once (vectorised: in the
    store's filter it would run row by row on every match of the box before the page is cut), and
    rows are read on from the last one until ``want`` pass or none is left. The rows come from the
    store's spatial index (``Query.bbox``) for a sparse box, in key order alone for a dense one
    (``DENSE``; both counts the store keeps while its version holds) on a GeoPackage, whose R-tree
    gives every match of the box to be sorted by key before a page is cut. (PostgreSQL plans the
    box and the order together and is given both.)"""
    if poly is None:
        return store.records(layer, replace(query, limit=want))
    shapely.prepare(poly)
    walk = False
    if store.box_matches_unordered:  # (a GeoPackage's R-tree)
        share = store.count(layer, Query(bbox=query.bbox)) / max(store.count(layer, Query()), 1)
        walk = share >= DENSE
    if walk:
        query = replace(query, bbox=None)
    parts, kept = [], 0
    while kept < want:
        need = want - kept
        ask = int(need / share * 1.25) + 16 if walk else need + need // 8 + 8  # some only meet the box
        chunk = store.records(layer, replace(query, limit=ask))
        hit = chunk.take(shapely.intersects(poly, chunk.geometry)) if len(chunk) else chunk
        parts.append(hit)
        kept += len(hit)
        if len(chunk) < ask:
            break
        query = replace(query, after=(chunk.rows[-1][chunk.columns.index(store.key)],))
    return Records.concat(parts).take(slice(0, want))


def items(store: Store, layer: str, args: Mapping, ask: Ask) -> Answer:
    fields = queryable_fields(store, layer)  # NotFound first for a layer the asker may not read
    all_fields = store.fields(layer)
    unknown = sorted(set(args) - set(RESERVED) - set(fields))
    if unknown:
        raise InvalidParameter(f"unknown parameter {unknown[0]!r}; accepted: {', '.join(RESERVED)} and the "
                               f"queryables {', '.join(fields)}", parameter=unknown[0])
    if args.get("datetime"):
        raise InvalidParameter("this collection has no temporal property, so datetime cannot be evaluated; "
                               "filter a date field with filter=… instead", parameter="datetime")
    limit = parse_limit(args.get("limit"), ask)
    target = refs.parse(args.get("crs"), "crs")
    where = parse_filter(args, fields)
    poly = box = None
    if args.get("bbox"):
        poly, box = parse_bbox(args["bbox"], refs.parse(args.get("bbox-crs"), "bbox-crs"))
    elif args.get("bbox-crs"):
        raise InvalidParameter("bbox-crs is given without a bbox", parameter="bbox-crs")
    key = store.key
    # the count tests the box exactly in the store (kept by the store while its version holds)
    base = Query(where=where if poly is None else cql2.conjunction(
        where, cql2.Spatial("intersects", cql2.Property("geometry"), cql2.Geometry(poly))))
    direction, after = decode_cursor(args["cursor"]) if args.get("cursor") else ("n", None)
    found = page(store, layer, Query(where=where, bbox=box, order_by=((key, direction == "p"),),
                                     after=None if after is None else (after,)), poly, limit + 1)
    more = len(found) > limit
    found = found.take(slice(0, limit))
    if direction == "p":
        found = found.take(slice(None, None, -1))

    first_page = after is None
    if first_page and not more:
        matched = len(found)
    elif where is None:
        matched = store.count(layer, base)
    else:
        matched = store.count(layer, base, at_most=ask.count_at_most)
        matched = None if matched > ask.count_at_most else matched

    kept = {k: v for k, v in args.items() if k not in ("cursor", "f")}
    path = f"/collections/{url_quote(layer)}/items"
    keys = found.column(key) if len(found) else []
    has_next = more if direction == "n" else bool(keys)
    has_prev = (after is not None and bool(keys)) if direction == "n" else more
    links = []
    for fmt, media in (("json", GEOJSON), ("html", HTML)):
        rel = "self" if fmt == ask.fmt else "alternate"
        links.append(link(url(ask, path, **kept, **({"cursor": args["cursor"]} if args.get("cursor") else {}),
                              f=fmt), rel, media))
    zh = ask.lang == "zh"
    for fmt, media in ((ask.fmt, GEOJSON if ask.fmt == "json" else HTML),):
        if has_next:
            links.append(link(url(ask, path, **kept, cursor=encode_cursor("n", keys[-1]), f=fmt), "next", media,
                              "下一页" if zh else "next page"))
        if has_prev:
            links.append(link(url(ask, path, **kept, cursor=encode_cursor("p", keys[0]), f=fmt), "prev", media,
                              "上一页" if zh else "previous page"))
    links.append(link(url(ask, f"/collections/{url_quote(layer)}", f="json"), "collection", JSON))
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    counted = {} if matched is None else {"numberMatched": matched}
    headers = {"Content-Crs": refs.header(target)}
    if ask.fmt == "html":
        extra = {**counted, "numberReturned": len(found), "timeStamp": stamp, "crs": target.code,
                 "limit": limit, "filter": args.get("filter") or "", "bbox": args.get("bbox") or ""}
        return Answer(page_context(store, layer, found, all_fields, ask, links, extra), template="items.html",
                      headers=headers)
    parts = encode(found, all_fields, target)
    head = orjson.dumps({"type": "FeatureCollection", **counted, "numberReturned": len(found), "timeStamp": stamp,
                         "links": links})[:-1]
    return Answer(body=head + b',"features":[' + b",".join(parts) + b"]}", media_type=GEOJSON, headers=headers)
