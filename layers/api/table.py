"""The attribute table's API, ``GET /api/layers/<id>/rows``, as plain functions over a store (no
Flask), and the per-field filters it shares with the export.

Parameters: those of ``/api/layers/<id>`` (``bbox``, ``district``, ``category``, ``status``, ``q``,
``ids``, ``limit``, ``offset``, ``fields``, ``lang``, ``as_of``; not ``simplify``: no geometry here),
``sort`` (``-area_mu,name_zh``: fields, ``-`` descending; the key completes it) and ``after`` (the
``next`` of the page before), and per field of the layer:

    <field>=a,b          one of these values (a pick-list)
    <field>_min=, _max=  a range, inclusive: numbers, or dates (2021, 2021-11, 2021-11-18)
    <field>_contains=    a piece of its text (case-insensitive in ASCII)

The names above win over a field of the same name (``status`` keeps the atlas's vocabulary). The
answer: ``rows`` (each ``id``, ``bbox`` and ``properties``), ``next`` (an opaque cursor, or null at
the end), ``numberMatched`` (exact: it comes with the totals) and ``totals`` (the sums of the
layer's fields of numbers with a fraction: areas in m², ha and mu, lengths in km).

The cursor is base64url of JSON holding the completed order and the values of its fields in the last
row. It is validated, not signed: all a forged cursor can do is start a page elsewhere, which
``offset`` allows anyway (its values are bound as parameters, never pasted into SQL).
"""
from __future__ import annotations

import base64
import binascii
import calendar
import json
import math
import re
from collections.abc import Mapping
from dataclasses import replace

import orjson

from geo.errors import InvalidParameter
from geo.store import Query, Store, sort_order

from .. import catalog
from .features import records
from .params import FEATURE_PARAMS, MAX_TEXT, layer_query, split_list

#: the parameters of /rows that are not per-field filters
ROW_PARAMS = tuple(p for p in FEATURE_PARAMS if p != "simplify") + ("sort", "after")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_SORT = 4
MAX_CURSOR = 4096
SUFFIXES = ("_min", "_max", "_contains")
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


# -- sort and cursor ------------------------------------------------------------------------------
def parse_sort(value: str | None, layer: str, types: Mapping[str, str]) -> tuple[tuple[str, bool], ...]:
    items = split_list(value)
    if len(items) > MAX_SORT:
        raise InvalidParameter(f"sort by at most {MAX_SORT} fields, got {len(items)}", parameter="sort")
    order = []
    for item in items:
        name = item[1:] if item[:1] in "-+" else item
        if name not in types or types[name] == "json":
            sortable = ", ".join(n for n, t in types.items() if t != "json")
            raise InvalidParameter(f"cannot sort layer {layer!r} by {name!r}; sort by a comma list of its fields, "
                                   f"- for descending (e.g. sort=-area_mu,name_zh): {sortable}", parameter="sort")
        order.append((name, item.startswith("-")))
    return tuple(order)


def sort_text(order) -> str:
    return ",".join(("-" if desc else "") + name for name, desc in order)


def encode_cursor(order, values) -> str:
    raw = json.dumps({"s": sort_text(order), "v": list(values)}, ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str, order) -> tuple:
    bad = InvalidParameter("after must be the 'next' of the previous page of the same sort, unchanged; start "
                           "again from the first page (without after)", parameter="after")
    if not token or len(token) > MAX_CURSOR or not re.fullmatch(r"[A-Za-z0-9_-]+", token):
        raise bad
    try:
        body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    if not isinstance(body, dict) or body.get("s") != sort_text(order) or not isinstance(body.get("v"), list):
        raise bad
    values = tuple(body["v"])
    if len(values) != len(order) or values[-1] is None or any(
            v is not None and (isinstance(v, bool) or not isinstance(v, (int, float, str))
                               or (isinstance(v, float) and not math.isfinite(v))) for v in values):
        raise bad
    return values


# -- per-field filters -----------------------------------------------------------------------------
def _number(name: str, raw: str, kind: str):
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InvalidParameter(f"{name} must be a number (field of {kind}), got {raw!r}", parameter=name)
    return int(value) if value.is_integer() and kind == "int" else value


def _date(name: str, raw: str, high: bool) -> str:
    m = _DATE.match(raw)
    if not m:
        raise InvalidParameter(f"{name} must be a date: 2021, 2021-11 or 2021-11-18, got {raw!r}", parameter=name)
    year, month, day = int(m[1]), int(m[2] or (12 if high else 1)), m[3]
    if not 1 <= month <= 12:
        raise InvalidParameter(f"{name}: no month {month} in {raw!r}", parameter=name)
    last = calendar.monthrange(year, month)[1]
    day = int(day) if day else (last if high else 1)
    if not 1 <= day <= last:
        raise InvalidParameter(f"{name}: no day {day} in {year}-{month:02d}", parameter=name)
    return f"{year:04d}-{month:02d}-{day:02d}"


def _equals(name: str, raw: str, kind: str) -> tuple:
    values = split_list(raw)
    if kind == "json":
        raise InvalidParameter(f"{name} holds JSON: filter it with {name}_contains", parameter=name)
    if kind == "bool":
        table = {"true": 1, "1": 1, "false": 0, "0": 0}
        if any(v.lower() not in table for v in values):
            raise InvalidParameter(f"{name} is true or false, got {raw!r}", parameter=name)
        return tuple(table[v.lower()] for v in values)
    if kind in ("int", "float"):
        return tuple(_number(name, v, kind) for v in values)
    return tuple(values)


def filter_field(name: str, types: Mapping[str, str]) -> str | None:
    """The field a per-field parameter filters (``area_mu_min`` -> ``area_mu``), or None."""
    if name in types:
        return name
    return next((name[:-len(s)] for s in SUFFIXES if name.endswith(s) and name[:-len(s)] in types), None)


def field_filters(layer: str, types: Mapping[str, str], args: Mapping) -> dict:
    """{"equals", "ranges", "contains"} of the per-field parameters in ``args`` (nothing else may
    be in it); InvalidParameter naming the parameter for a name that is no field of the layer."""
    equals, ranges, contains = {}, {}, {}
    for name, raw in args.items():
        raw = "" if raw is None else str(raw).strip()
        base = filter_field(name, types)
        if base is None:
            raise unknown_parameter(name, types)
        suffix = name[len(base):]
        kind = types[base]
        if raw == "":
            continue
        if not suffix:
            equals[base] = _equals(name, raw, kind)
        elif suffix == "_contains":
            if len(raw) > MAX_TEXT:
                raise InvalidParameter(f"{name} must be at most {MAX_TEXT} characters", parameter=name)
            contains[base] = raw
        else:
            lo, hi = ranges.get(base, (None, None))
            if kind in ("int", "float"):
                value = _number(name, raw, kind)
            elif kind == "date" or (kind == "str" and _DATE.match(raw)):
                value = _date(name, raw, suffix == "_max")
            else:
                raise InvalidParameter(f"{name}: a range applies to numbers and dates; {base!r} is {kind}, "
                                       f"filter it with {base}={raw} or {base}_contains=", parameter=name)
            ranges[base] = (value, hi) if suffix == "_min" else (lo, value)
    return {"equals": equals, "ranges": ranges, "contains": contains}


def unknown_parameter(name: str, types: Mapping[str, str]) -> InvalidParameter:
    return InvalidParameter(f"unknown parameter {name!r}; accepted: {', '.join(ROW_PARAMS)}, and for each field "
                            f"<field>=a,b, <field>_min=, <field>_max=, <field>_contains= (fields: {', '.join(types)})",
                            parameter=name)


def narrow(query: Query, filters: dict, order=()) -> Query:
    """``query`` with the per-field filters and the order added."""
    return replace(query, equals={**query.equals, **filters["equals"]}, ranges=filters["ranges"],
                   contains=filters["contains"], order_by=tuple(order) or query.order_by)


def totalled(types: Mapping[str, str]) -> list[str]:
    """The fields the table totals: those of numbers with a fraction (areas, lengths)."""
    return [name for name, kind in types.items() if kind == "float"]


# -- the endpoint ------------------------------------------------------------------------------------
def layer_rows(store: Store, layer: str, args: Mapping, *, max_limit: int = MAX_LIMIT) -> bytes:
    """The page of the table ``args`` asks for, as JSON (UTF-8)."""
    types = {f.name: f.type for f in store.fields(layer)}  # NotFound first, for an unknown layer
    given = {k: v for k, v in args.items() if v is not None}
    own = {k: v for k, v in given.items() if k in ROW_PARAMS}
    filters = field_filters(layer, types, {k: v for k, v in given.items() if k not in ROW_PARAMS})
    common = {k: v for k, v in own.items() if k not in ("sort", "after")}
    query, _ = layer_query(layer, list(types), common, default_limit=DEFAULT_LIMIT, max_limit=min(max_limit, MAX_LIMIT))
    query = narrow(query, filters, parse_sort(own.get("sort"), layer, types))
    order = sort_order(query, catalog.KEY) or ((catalog.KEY, False),)
    if own.get("after"):
        query = replace(query, after=decode_cursor(str(own["after"]), order), order_by=order)
    page = store.rows(layer, query)
    sums = store.totals(layer, replace(query, after=None, order_by=()), totalled(types))
    json_fields = tuple(n for n, t in types.items() if t == "json")
    rows = []
    for props, box in zip(records(page.frame, json_fields), page.bounds.tolist()):
        bbox = None if any(v != v for v in box) else [round(v, 6) for v in box]
        rows.append({"id": props.get(catalog.KEY), "bbox": bbox, "properties": props})
    return orjson.dumps({
        "layer": layer, "sort": sort_text(order), "rows": rows, "numberReturned": len(rows),
        "numberMatched": sums.pop("count"), "totals": sums, "limit": query.limit, "offset": query.offset,
        "next": None if page.after is None else encode_cursor(order, page.after),
    })
