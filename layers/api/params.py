"""The parameters of the API, the export and the offline map, checked in one place, and the one
rule of which filters apply to which layer (``filter_rule``). A bad parameter raises
``InvalidParameter`` naming it, what was given and the accepted form. No Flask here."""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import replace

from geo.errors import InvalidParameter
from geo.store import Query

from .. import catalog

#: Parameters of /api/layers/<id>; anything else is refused so that a typo is not silently ignored.
FEATURE_PARAMS = ("bbox", "district", "category", "status", "q", "ids", "limit", "offset", "simplify",
                  "fields", "lang", "as_of")
MAX_TEXT = 100
#: A count that would pass over more matches than this is not finished (``numberMatchedAtLeast``);
#: at least the most features the page draws at once, so the page never needs more.
COUNT_AT_MOST = 20_000
AT_MOST_DEFAULT = object()  # "COUNT_AT_MOST as it is when asked"
#: SQLite binds at most 32,766 values a statement; a selection is far smaller.
MAX_IDS = 10_000
#: metres per degree of latitude (for turning a tolerance in metres into degrees near Weihai).
M_PER_DEG = 111_320.0


def parse_time(value: str | None, name: str = "as_of") -> str | None:
    """An ISO 8601 time (a date alone, or without a zone: UTC) in the store's UTC form
    ``YYYY-MM-DDTHH:MM:SS.ffffffZ``; None when not given."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip().replace(" ", "T")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidParameter(f"{name} must be an ISO 8601 time such as 2026-12-01T12:00:00Z, "
                               f"2026-12-01T20:00+08:00 or 2026-12-01 (UTC unless a zone is given), "
                               f"got {value!r}", parameter=name) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    try:
        utc = when.astimezone(dt.timezone.utc)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
        raise InvalidParameter(f"{name} must be a time from year 1 to 9999 in UTC, got {value!r}",
                               parameter=name) from None
    # isoformat, not strftime: strftime's %Y does not pad years before 1000 (141-01-04 is no ISO 8601)
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


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


def parse_int(args: Mapping, name: str, default: int, lo: int, hi: int) -> int:
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
    simplify_m = parse_int(args, "simplify", 0, 0, 10_000)
    columns = None
    if args.get("fields"):
        wanted = split_list(args["fields"])
        known = catalog.FIELD_NAMES if spec is not None else None
        bad = [f for f in wanted if known is not None and f not in known]
        if bad:
            raise InvalidParameter(f"unknown field {bad[0]!r}; accepted: {', '.join(catalog.FIELD_NAMES)}",
                                   parameter="fields")
        columns = (catalog.KEY, *[f for f in wanted if f != catalog.KEY])
    query = Query(
        bbox=parse_bbox(args["bbox"]) if args.get("bbox") else None,
        equals=equals,
        text=text,
        text_fields=catalog.TEXT_FIELDS,
        ids=ids,
        limit=parse_int(args, "limit", default_limit, 1, max_limit),
        offset=parse_int(args, "offset", 0, 0, 10**9),
        columns=columns,
        as_of=parse_time(args.get("as_of")),
    )
    return query, simplify_m / M_PER_DEG


def layer_query(layer: str, fields, args: Mapping, *, default_limit: int | None,
                max_limit: int) -> tuple[Query, float]:
    """The store query and tolerance of /api/layers/<layer> for a layer with these ``fields``:
    the filters by ``filter_rule`` (one this layer cannot match leaves it empty: ``ids=()``), then
    ``parse_query``. Everything that selects features as the API does (the API, statistics) goes
    through here."""
    params = filters_for_layer(layer, fields, args)
    unfiltered = {k: v for k, v in args.items() if k not in FILTERS}
    query, tolerance = parse_query(unfiltered if params is None else params, layer,
                                   default_limit=default_limit, max_limit=max_limit)
    if params is None:  # a filter this layer cannot match: nothing of it
        query = replace(query, ids=())
    return query, tolerance
