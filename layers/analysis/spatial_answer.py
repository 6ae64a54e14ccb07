"""``POST /api/query``, ``GET /api/overlay`` and their commands as plain functions over a store and the
request's parameters, and their files: GeoJSON (the region and the parts inside; the intersections
and the features outside) and CSV (UTF-8 with a BOM). No Flask."""
from __future__ import annotations

import re
from collections.abc import Mapping

import orjson

from geo.errors import InvalidParameter
from geo.store import Store

from .overlay import overlay
from .spatial import FILTER_PARAMS, region, within
from .tables import LANGS, csv_bytes

FORMATS = {"json": "application/json", "geojson": "application/geo+json", "csv": "text/csv; charset=utf-8"}
QUERY_PARAMS = ("layers", "polygon", "feature", "distance_m", "predicate", "repair", "geometry", "format", "lang",
                *FILTER_PARAMS)
TABLES = ("pairs", "covered", "outside")
OVERLAY_PARAMS = ("left", "right", "format", "lang", "table", "as_of",
                  *[f"{side}_{f}" for side in ("left", "right") for f in FILTER_PARAMS if f != "as_of"])


def split_layers(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _common(args: Mapping, accepted: tuple[str, ...]) -> tuple[str, str]:
    unknown = sorted(set(args) - set(accepted))
    if unknown:
        raise InvalidParameter(f"unknown parameter {unknown[0]!r}; accepted: {', '.join(accepted)}",
                               parameter=unknown[0])
    fmt, lang = args.get("format") or "json", args.get("lang") or "zh"
    if fmt not in FORMATS:
        raise InvalidParameter(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}", parameter="format")
    if lang not in LANGS:
        raise InvalidParameter(f"lang must be one of {', '.join(LANGS)}, got {lang!r}", parameter="lang")
    return fmt, lang


def _flag(value, name: str) -> bool:
    if value in (None, "", False, "0", "false"):
        return False
    if value in (True, "1", "true"):
        return True
    raise InvalidParameter(f"{name} is true or false, got {value!r}", parameter=name)


def query(store: Store, body: Mapping) -> tuple[str, str, dict]:
    """(format, lang, the answer) of a query body: {"layers", "polygon" | "feature": {"layer",
    "id"}, "distance_m", "predicate", "repair", "geometry", filters…}; ``geometry`` true: the JSON
    answer's features carry their part inside (the page draws them from the one answer)."""
    if not isinstance(body, Mapping):
        raise InvalidParameter("the query is a JSON object: {\"layers\": [...], \"polygon\": {...} or \"feature\": "
                               "{\"layer\", \"id\"}, \"distance_m\": 0}", parameter="body")
    fmt, lang = _common(body, QUERY_PARAMS)
    if body.get("layers") in (None, "", []):
        raise InvalidParameter("layers is required: the ids of the layers to query, e.g. [\"projects\"]",
                               parameter="layers")
    feature = body.get("feature")
    if feature is not None:
        if isinstance(feature, str) and ":" in feature:
            feature = dict(zip(("layer", "id"), feature.split(":", 1)))
        if not isinstance(feature, Mapping) or set(feature) != {"layer", "id"}:
            raise InvalidParameter('feature must be {"layer": "<layer id>", "id": "<feature id>"}', parameter="feature")
        feature = (feature["layer"], feature["id"])
    filters = {k: body[k] for k in FILTER_PARAMS if k in body}
    as_of = filters.get("as_of") if isinstance(filters.get("as_of"), str) else None
    where = region(store, polygon=body.get("polygon"), feature=feature, distance_m=body.get("distance_m", 0),
                   repair=_flag(body.get("repair"), "repair"), as_of=as_of)
    result = within(store, body["layers"], where, predicate=body.get("predicate") or "intersects", filters=filters,
                    geometry=fmt == "geojson" or _flag(body.get("geometry"), "geometry"))
    return fmt, lang, result


def overlay_request(store: Store, args: Mapping, *, at_most: int | None) -> tuple[str, str, str, dict]:
    """(format, lang, table, the answer) of ``GET /api/overlay``'s parameters; ``at_most``: the most
    features a side may select (the web: ATLAS_OVERLAY_MAX, each side held in memory and every pair
    listed; the command line: None)."""
    fmt, lang = _common(args, OVERLAY_PARAMS)
    table = args.get("table") or "pairs"
    if table not in TABLES:
        raise InvalidParameter(f"table (of format=csv) is one of {', '.join(TABLES)}, got {table!r}", parameter="table")
    for side in ("left", "right"):
        if not (args.get(side) or "").strip():
            raise InvalidParameter(f"{side} is required: a layer id, e.g. left=projects&right=zones", parameter=side)
    sides = {side: {f: args[f"{side}_{f}"] for f in FILTER_PARAMS if f"{side}_{f}" in args} for side in ("left", "right")}
    if args.get("as_of"):
        for filters in sides.values():
            filters["as_of"] = args["as_of"]
    result = overlay(store, args["left"].strip(), args["right"].strip(), left_filters=sides["left"],
                     right_filters=sides["right"], geometry=fmt == "geojson", at_most=at_most)
    return fmt, lang, table, result


# -- files ---------------------------------------------------------------------------------------
def _collection(features: list[dict], extra: dict) -> bytes:
    return orjson.dumps({"type": "FeatureCollection", **extra, "features": features})


def query_geojson(result: dict) -> bytes:
    """The region, then each feature's part inside, its attributes and measures in its properties."""
    features = [result["region"]]
    for layer, found in result["layers"].items():
        for record in found["features"]:
            props = {k: v for k, v in record.items() if k != "geometry"}
            inside = props.pop("inside")
            features.append({"type": "Feature", "id": record["id"], "geometry": record["geometry"],
                             "properties": {"kind": "inside", "layer": layer, **props,
                                            **{f"inside_{k}": v for k, v in inside.items()}}})
    return _collection(features, {"crs_measured": result["crs"], "predicate": result["predicate"]})


def overlay_geojson(result: dict) -> bytes:
    """The intersections (kind ``pair``) with both features' attributes, then the left features
    outside every right one (kind ``outside``)."""
    features = []
    for pair in result["pairs"]:
        props = {"kind": "pair", **{f"left_{k}": v for k, v in pair["left"].items()},
                 **{f"right_{k}": v for k, v in pair["right"].items()},
                 **{k: v for k, v in pair.items() if k not in ("left", "right", "geometry")}}
        features.append({"type": "Feature", "geometry": pair["geometry"], "properties": props})
    for row in result["outside"]:
        features.append({"type": "Feature", "id": row["id"], "geometry": row["geometry"],
                         "properties": {"kind": "outside", **{k: v for k, v in row.items() if k != "geometry"}}})
    return _collection(features, {"left": result["left"]["layer"], "right": result["right"]["layer"],
                                  "crs_measured": result["crs"]})


H = {  # header titles: zh, en
    "layer": ("图层", "Layer"), "id": ("编号", "ID"), "name": ("名称", "Name"), "category": ("类别", "Category"),
    "status": ("状态", "Status"), "area_mu": ("面积(亩)", "Area (mu)"), "length_km": ("长度(千米)", "Length (km)"),
    "in_m2": ("区内面积(平方米)", "Area inside (m²)"), "in_ha": ("区内面积(公顷)", "Area inside (ha)"),
    "in_mu": ("区内面积(亩)", "Area inside (mu)"), "in_km": ("区内长度(千米)", "Length inside (km)"),
    "share": ("区内比例(%)", "Share inside (%)"), "right_id": ("所在要素编号", "In feature (ID)"),
    "right_name": ("所在要素名称", "In feature (name)"), "x_m2": ("交集面积(平方米)", "Intersection (m²)"),
    "x_mu": ("交集面积(亩)", "Intersection (mu)"), "x_km": ("交集长度(千米)", "Intersection length (km)"),
    "x_share": ("占本要素比例(%)", "Share of the feature (%)"), "count": ("要素数", "Features"),
    "cov_m2": ("被覆盖面积(平方米)", "Covered (m²)"), "cov_mu": ("被覆盖面积(亩)", "Covered (mu)"),
    "cov_share": ("被覆盖比例(%)", "Covered (%)"), "area_m2": ("面积(平方米)", "Area (m²)"), "total": ("合计", "Total"),
}


def _name(record: dict, lang: str) -> str:
    return record.get(f"name_{lang}") or record.get("name_zh") or record.get("name_en") or ""


def _pct(share: float) -> str:
    return f"{share * 100:.2f}"


def _csv(header: list[str], rows: list[list], lang: str) -> bytes:
    return csv_bytes([H[h][LANGS.index(lang)] for h in header], rows)


def query_csv(result: dict, lang: str = "zh") -> bytes:
    """A row a feature found (its part inside measured), a total row a layer."""
    header = ["layer", "id", "name", "category", "status", "area_mu", "length_km", "in_m2", "in_ha", "in_mu", "in_km",
              "share"]
    rows = []
    for layer, found in result["layers"].items():
        for r in found["features"]:
            i = r["inside"]
            rows.append([layer, r["id"], _name(r, lang), r.get("category") or "", r.get("status") or "",
                         f"{r['area_mu']:.2f}", f"{r['length_km']:.3f}", f"{i['area_m2']:.2f}", f"{i['area_ha']:.4f}",
                         f"{i['area_mu']:.2f}", f"{i['length_km']:.3f}", _pct(r["share"])])
        s, w = found["stats"]["inside"], found["stats"]["whole"]
        rows.append([layer, H["total"][LANGS.index(lang)], s["count"], "", "", f"{w['area_mu']:.2f}",
                     f"{w['length_km']:.3f}", f"{s['area_m2']:.2f}", f"{s['area_ha']:.4f}", f"{s['area_mu']:.2f}",
                     f"{s['length_km']:.3f}", ""])
    return _csv(header, rows, lang)


def overlay_csv(result: dict, table: str = "pairs", lang: str = "zh") -> bytes:
    """One of the overlay's tables: ``pairs``, ``covered`` or ``outside``."""
    if table == "pairs":
        header = ["id", "name", "right_id", "right_name", "x_m2", "x_mu", "x_km", "x_share"]
        rows = [[p["left"]["id"], _name(p["left"], lang), p["right"]["id"], _name(p["right"], lang),
                 f"{p['area_m2']:.2f}", f"{p['area_mu']:.2f}", f"{p['length_km']:.3f}", _pct(p["share"])]
                for p in result["pairs"]]
    elif table == "covered":
        header = ["id", "name", "category", "area_mu", "count", "cov_m2", "cov_mu", "cov_share"]
        rows = [[c["right"]["id"], _name(c["right"], lang), c["right"].get("category") or "",
                 f"{c['area']['area_mu']:.2f}", c["count"], f"{c['covered']['area_m2']:.2f}",
                 f"{c['covered']['area_mu']:.2f}", _pct(c["share"])] for c in result["covered"]]
    else:
        header = ["id", "name", "category", "status", "area_m2", "area_mu", "length_km"]
        rows = [[o["id"], _name(o, lang), o.get("category") or "", o.get("status") or "", f"{o['area_m2']:.2f}",
                 f"{o['area_mu']:.2f}", f"{o['length_km']:.3f}"] for o in result["outside"]]
    return _csv(header, rows, lang)


def filename(kind: str, fmt: str, *names: str) -> str:
    ext = "csv" if fmt == "csv" else "geojson"
    stem = "_".join(re.sub(r"[^A-Za-z0-9_-]+", "-", n) for n in names if n)
    return f"weihai-atlas_{kind}_{stem}.{ext}"
