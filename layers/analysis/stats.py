"""Statistics of one layer that follow the filters of ``/api/layers/<id>`` (查询统计): count, areas
(m², ha, 亩, km²) and lengths (km) per group of one or two of district, category, status and year,
with subtotals of a cross table and the totals. No Flask here.

Features are selected exactly as the API selects them (``layers.api.params.layer_query``: bbox,
district, category, status, q, ids, as_of) and measured in EPSG:4550 (``geo.measure``). Grouped by
district ``by="field"``, a feature counts whole in the district its ``district`` field names; ``by=
"geometry"``, it is cut by the district polygons of the ``districts`` layer (``_split``) and each
part counts in its own district, what lies outside every district in the group ``outside`` (区外).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import shapely

from geo.errors import InvalidParameter, NotFound
from geo.measure import (
    M2_PER_HECTARE,
    M2_PER_KM2,
    M2_PER_MU,
    MEASURE_CRS,
    projected,
    repaired,
    raw_measures,
)
from geo.store import Query, Store

from .. import catalog, layermeta
from ..api.params import layer_query, parse_bbox, parse_district, parse_time, split_list

GROUPS = ("district", "category", "status", "year")
BY = ("field", "geometry")
#: The filters of /api/layers/<id> that statistics follow (paging and shape parameters aside).
FILTER_PARAMS = ("bbox", "district", "category", "status", "q", "ids", "as_of")
#: The layer whose polygons split features by district, and its categories that are districts
#: (the city as a whole and the functional areas are not).
DISTRICTS_LAYER = "districts"
DIVISION_CATEGORIES = ("district", "county_city")
OUTSIDE = "outside"
CHUNK_SIZE = 20_000

DIMENSION_TITLES = {
    "district": {"zh": "行政区", "en": "District"},
    "category": {"zh": "类别", "en": "Category"},
    "status": {"zh": "状态", "en": "Status"},
    "year": {"zh": "年份", "en": "Year"},
}
MEASURES = {  # name: (title, decimals)
    "count": ({"zh": "数量(个)", "en": "Count"}, 0),
    "area_m2": ({"zh": "面积(平方米)", "en": "Area (m²)"}, 2),
    "area_ha": ({"zh": "面积(公顷)", "en": "Area (ha)"}, 4),
    "area_mu": ({"zh": "面积(亩)", "en": "Area (mu)"}, 2),
    "area_km2": ({"zh": "面积(平方千米)", "en": "Area (km²)"}, 6),
    "length_km": ({"zh": "长度(千米)", "en": "Length (km)"}, 3),
}
NOT_GIVEN = {"zh": "未注明", "en": "not given"}
OUTSIDE_LABEL = {"zh": "区外", "en": "outside every district"}
TOTAL_LABEL = {"zh": "合计", "en": "Total"}

RULES = {
    "whole": {
        "zh": "不按行政区分组：要素按筛选条件选取（与地图和 /api/layers 相同），每个要素整体计入其分组；面积和长度由几何在"
              " EPSG:4550（CGCS2000 3度带高斯-克吕格 中央经线123°E）中量算，1 亩 = 10000/15 平方米；线只计长度，面只计面积，"
              "点只计数量、没有面积。",
        "en": "Not grouped by district: features are selected by the filters (as on the map and in /api/layers) "
              "and each counts whole in its group; areas and lengths are measured from the geometry in EPSG:4550 "
              "(CGCS2000 3-degree Gauss-Kruger CM 123E), 1 mu = 10000/15 m²; lines have a length, areas an "
              "area, points only count.",
    },
    "field": {
        "zh": "按属性统计：要素按筛选条件选取（与地图和 /api/layers 相同），每个要素按其“行政区代码”(district)字段整体"
              "计入一个行政区，不按几何切分；面积和长度由几何在 EPSG:4550（CGCS2000 3度带高斯-克吕格 中央经线123°E）"
              "中量算，1 亩 = 10000/15 平方米；线只计长度，面只计面积，点只计数量、没有面积。",
        "en": "By field: features are selected by the filters (as on the map and in /api/layers), and each "
              "counts whole in the district its district field (adcode) names, without cutting its shape; "
              "areas and lengths are measured from the geometry in EPSG:4550 (CGCS2000 3-degree Gauss-Kruger "
              "CM 123E), 1 mu = 10000/15 m²; lines have a length, areas an area, points only count.",
    },
    "geometry": {
        "zh": "按几何统计：要素按筛选条件选取（与地图和 /api/layers 相同，行政区筛选按字段），再在 EPSG:4550 中与"
              "“行政区划”图层的区、县级市多边形叠加：跨越行政区界线的要素被切分，各部分的面积和长度计入所在行政区，"
              "不在任何行政区内的部分计入“区外”；被切分的要素在其所涉及的每个行政区各计数一次，合计中只计一次；"
              "点计入包含它的行政区（恰在界线上时计入代码最小者），只计数量、没有面积；1 亩 = 10000/15 平方米。",
        "en": "By geometry: features are selected by the filters (as on the map and in /api/layers; a district "
              "filter by the field), then overlaid in EPSG:4550 with the polygons of the districts and "
              "county-level cities of the districts layer: a feature crossing a district boundary is split "
              "and the area and length of each part count in its district, what lies outside every district "
              "counts as \"outside\" (区外); a split feature counts once in each district it has a part in and "
              "once in the totals; a point counts in the district that contains it (on a shared boundary, the "
              "lowest adcode) and has no area; 1 mu = 10000/15 m².",
    },
}


def parse_group(group) -> tuple[str, ...]:
    """``"district,status"`` or a sequence -> one or two distinct names of ``GROUPS``."""
    items = split_list(group) if isinstance(group, str) else [str(g).strip() for g in (group or ())]
    form = f"group takes one or two of {', '.join(GROUPS)}, separated by a comma (e.g. group=district,status)"
    bad = [g for g in items if g not in GROUPS]
    if bad:
        raise InvalidParameter(f"{form}; unknown group {bad[0]!r}", parameter="group")
    if not 1 <= len(items) <= 2 or len(set(items)) != len(items):
        raise InvalidParameter(f"{form}, got {group!r}", parameter="group")
    return tuple(items)


def parse_by(by) -> str:
    if by not in BY:
        raise InvalidParameter(f"by must be field (a feature counts whole in the district of its district "
                               f"field) or geometry (features are split by the district polygons), got {by!r}",
                               parameter="by")
    return by


@dataclass(frozen=True)
class Divisions:
    """The district polygons in EPSG:4550, one (dissolved, prepared) per adcode in ascending order,
    and their tree."""

    codes: np.ndarray
    polygons: np.ndarray
    tree: shapely.STRtree


def divisions(store: Store, as_of: str | None = None, layer: str = DISTRICTS_LAYER) -> Divisions:
    """The polygons of the districts and county-level cities of ``layer`` (as of ``as_of``)."""
    refuse = (f"by=geometry splits features by the district polygons of layer {layer!r}, which this atlas "
              "does not have or you may not read; use by=field")
    try:
        names = {f.name for f in store.fields(layer)}
    except NotFound:
        raise InvalidParameter(refuse, parameter="by") from None
    if not {"category", "district"} <= names:
        raise InvalidParameter(refuse, parameter="by")
    frame = store.query(layer, Query(equals={"category": DIVISION_CATEGORIES}, columns=("district",), as_of=as_of))
    codes = frame["district"].astype(object).to_numpy()
    geoms = projected(frame.geometry.values)
    keep = ~pd.isna(codes) & ~shapely.is_missing(geoms) & (codes != "371000")
    codes, geoms = codes[keep].astype(str), repaired(geoms[keep])
    ordered = np.array(sorted(set(codes)), dtype=object)
    polygons = np.array([shapely.union_all(geoms[codes == c]) for c in ordered], dtype=object)  # a few districts
    shapely.prepare(polygons)
    return Divisions(ordered, polygons, shapely.STRtree(polygons))


def _first(pairs_f: np.ndarray, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each feature among ``pairs_f[pairs]`` its first pair (the lowest adcode: pairs are sorted)."""
    features, first = np.unique(pairs_f[pairs], return_index=True)
    return features, pairs[first]


def _split(geoms: np.ndarray, area: np.ndarray, length: np.ndarray, div: Divisions):
    """The parts of features (EPSG:4550) in the districts: (feature index, district key, area m²,
    length m) arrays. A feature covered by a district is one part (no cut); a point goes to the
    first district meeting it; other features are cut on candidate pairs of the tree, parts of no
    area (or length) dropped; the rest of a feature outside every district is one ``outside`` part
    (the remainder after the district parts, to a relative 1e-9: what a cut's rounding leaves)."""
    n = len(geoms)
    fi, di = div.tree.query(geoms)  # bounding boxes that meet
    order = np.lexsort((di, fi))
    fi, di = fi[order], di[order]
    covered = np.zeros(len(fi), dtype=bool)
    meets = np.zeros(len(fi), dtype=bool)
    for d, polygon in enumerate(div.polygons):  # a loop over the few districts, each vectorised
        sel = np.flatnonzero(di == d)
        covered[sel] = shapely.covers(polygon, geoms[fi[sel]])
        rest = sel[~covered[sel]]
        meets[sel] = covered[sel]
        meets[rest] = shapely.intersects(polygon, geoms[fi[rest]])
    dims = shapely.get_dimensions(geoms)
    whole_f, whole_p = _first(fi, np.flatnonzero(covered))
    placed = np.zeros(n, dtype=bool)
    placed[whole_f] = True
    candidates = np.flatnonzero(meets & ~placed[fi])
    point_f, point_p = _first(fi, candidates[dims[fi[candidates]] == 0])
    placed[point_f] = True
    cut = candidates[dims[fi[candidates]] > 0]
    shapes = repaired(geoms[fi[cut]])
    pieces = shapely.intersection(shapes, div.polygons[di[cut]])
    kind = dims[fi[cut]]
    piece_area = np.where(kind == 2, shapely.area(pieces), 0.0)
    piece_length = np.where(kind == 1, shapely.length(pieces), 0.0)
    kept = (piece_area > 0) | (piece_length > 0)
    cut, piece_area, piece_length = cut[kept], piece_area[kept], piece_length[kept]
    cut_f = fi[cut]
    placed[cut_f] = True
    rest_area = np.where(placed, area - np.bincount(cut_f, weights=piece_area, minlength=n), area)
    rest_length = np.where(placed, length - np.bincount(cut_f, weights=piece_length, minlength=n), length)
    rest_area[rest_area <= 1e-9 * area + 1e-6] = 0.0
    rest_length[rest_length <= 1e-9 * length + 1e-6] = 0.0
    rest_area[whole_f] = rest_length[whole_f] = 0.0
    out_f = np.flatnonzero(~placed | (rest_area > 0) | (rest_length > 0))
    out_keys = np.where(dims[out_f] < 0, None, OUTSIDE).astype(object)  # no geometry: no place at all
    return (np.concatenate([whole_f, point_f, cut_f, out_f]),
            np.concatenate([div.codes[di[whole_p]], div.codes[di[point_p]], div.codes[di[cut]], out_keys]),
            np.concatenate([area[whole_f], area[point_f], piece_area, rest_area[out_f]]),
            np.concatenate([length[whole_f], length[point_f], piece_length, rest_length[out_f]]))


def _values(column: pd.Series) -> np.ndarray:
    """A column as an object array with None where missing."""
    values = column.astype(object).to_numpy(copy=True)
    values[pd.isna(values)] = None
    return values


def _factorize(values: np.ndarray) -> tuple[np.ndarray, list]:
    """Codes of ``values`` and their distinct keys (None for missing, ints as int), once a dimension."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    return codes, [None if pd.isna(v) else (int(v) if isinstance(v, (int, np.integer)) else v) for v in uniques]


def _aggregate(keys: list[tuple[np.ndarray, list]], fid: np.ndarray, area: np.ndarray, length: np.ndarray,
               repeated: np.ndarray | None = None) -> list:
    """[(key tuple, count of distinct features, area m², length m)] per combination of ``keys`` (the
    codes and keys of ``_factorize`` a part). ``repeated``: the parts whose feature has more than one
    part, the only ones that can count twice in a group (all, when not given)."""
    if not len(fid):
        return []
    codes = [c for c, _ in keys]
    uniques = [u for _, u in keys]
    shape = tuple(len(u) for u in uniques)
    group = np.ravel_multi_index(codes, shape)
    size = int(np.prod(shape))
    if repeated is None:
        repeated = np.ones(len(fid), dtype=bool)
    counts = np.bincount(group[~repeated], minlength=size)  # a feature of one part counts once
    if repeated.any():
        span = int(fid.max()) + 1
        distinct = np.unique(group[repeated].astype(np.int64) * span + fid[repeated])
        counts += np.bincount(distinct // span, minlength=size)
    areas = np.bincount(group, weights=area, minlength=size)
    lengths = np.bincount(group, weights=length, minlength=size)
    out = []
    for g in np.flatnonzero(counts):  # one entry a group, not a feature
        index = np.unravel_index(g, shape)
        out.append((tuple(uniques[k][int(i)] for k, i in enumerate(index)), int(counts[g]),
                    float(areas[g]), float(lengths[g])))
    return out


def values(count: int, area_m2: float, length_m: float) -> dict:
    raw = {"count": count, "area_m2": area_m2, "area_ha": area_m2 / M2_PER_HECTARE,
           "area_mu": area_m2 / M2_PER_MU, "area_km2": area_m2 / M2_PER_KM2, "length_km": length_m / 1000.0}
    return {k: int(v) if k == "count" else round(float(v), MEASURES[k][1]) + 0.0 for k, v in raw.items()}


def label(dimension: str, key, categories: Mapping[str, dict]) -> dict:
    """The zh/en label of a group key, from the catalog's vocabularies."""
    if key is None:
        return dict(NOT_GIVEN)
    if dimension == "district":
        return dict(OUTSIDE_LABEL) if key == OUTSIDE else dict(catalog.DISTRICTS.get(key) or {"zh": key, "en": key})
    if dimension == "status":
        return dict(catalog.STATUSES.get(key) or {"zh": key, "en": key})
    if dimension == "category":
        return dict(categories.get(key) or {"zh": str(key), "en": str(key)})
    return {"zh": f"{key}年", "en": str(key)}


def _sort_key(dimension: str, key, categories: Mapping[str, dict]):
    """Vocabulary order (the catalog's districts, statuses, the layer's categories; years
    ascending), values the vocabulary does not know after, then outside, then not given."""
    if key is None:
        return (3, 0, "")
    if dimension == "district" and key == OUTSIDE:
        return (2, 0, "")
    vocab = {"district": list(catalog.DISTRICTS), "status": list(catalog.STATUSES),
             "category": list(categories)}.get(dimension)
    if vocab is None:
        return (0, key, "") if isinstance(key, int) else (1, 0, str(key))
    return (0, vocab.index(key), "") if key in vocab else (1, 0, str(key))


def applied_filters(args: Mapping) -> dict:
    """The filters asked for, in their canonical form (adcodes, lists, the UTC as_of)."""
    out: dict = {}
    given = {k: v for k, v in args.items() if k in FILTER_PARAMS and v not in (None, "")}
    if "bbox" in given:
        out["bbox"] = list(parse_bbox(given["bbox"]))
    if "district" in given:
        out.update({k: list(v) for k, v in parse_district(given["district"]).items()})
    for name in ("category", "status", "ids"):
        if name in given:
            out[name] = split_list(given[name])
    if "q" in given:
        out["q"] = given["q"]
    if "as_of" in given:
        out["as_of"] = parse_time(given["as_of"])
    return out


def _title(store: Store, layer: str) -> dict:
    spec = catalog.get(layer)
    if spec is not None:
        return spec.title
    return (layermeta.get(store, layer) or {}).get("title") or {"zh": layer, "en": layer}


def statistics(store: Store, layer: str, args: Mapping | None = None, *, group: str | Sequence[str] = ("district", "status"),
               by: str = "field", districts_layer: str = DISTRICTS_LAYER, chunk_size: int = CHUNK_SIZE,
               div: Divisions | None = None) -> dict:
    """Count, area and length of the features of ``layer`` that ``args`` (the filters of
    /api/layers/<id>: bbox, district, category, status, q, ids, as_of) select, per group of
    ``group`` (one or two of ``GROUPS``), with subtotals (two groups) and totals, and the ``rule``
    that placed features in districts (``by``; ``div``: the divisions of ``districts_layer`` at the
    query's time, when the caller has them). NotFound for a layer the store (as the asker sees
    it) does not have; InvalidParameter naming the parameter for anything else."""
    args = dict(args or {})
    names = [f.name for f in store.fields(layer)]  # NotFound first, before any parameter is judged
    group, by = parse_group(group), parse_by(by)
    unknown = sorted(set(args) - set(FILTER_PARAMS))
    if unknown:
        raise InvalidParameter(f"unknown filter {unknown[0]!r}; statistics follow {', '.join(FILTER_PARAMS)}",
                               parameter=unknown[0])
    split = by == "geometry" and "district" in group
    missing = [g for g in group if g not in names and not (split and g == "district")]
    if missing:
        can = [g for g in GROUPS if g in names] + ([] if "district" in names else ["district (by=geometry)"])
        raise InvalidParameter(f"layer {layer!r} has no field {missing[0]!r} to group by; it can be grouped by "
                               f"{', '.join(can)}", parameter="group")
    query, _ = layer_query(layer, names, args, default_limit=None, max_limit=1)
    attrs = [g for g in group if not (split and g == "district")]
    columns = tuple(dict.fromkeys([c for c in (catalog.KEY, *attrs) if c in names]))
    query = replace(query, limit=None, offset=0, columns=columns)
    if split and div is None:  # (a caller that has the divisions of this time already passes them)
        div = divisions(store, query.as_of, districts_layer)
    elif not split:
        div = None
    feature_keys: dict[str, list] = {g: [] for g in attrs}
    parts: list[tuple] = []
    totals = [0, 0.0, 0.0]
    done = 0
    for chunk in store.stream(layer, query, chunk_size=chunk_size):
        geoms = projected(chunk.geometry.values)
        area, length = raw_measures(geoms)
        totals = [totals[0] + len(chunk), totals[1] + float(area.sum()), totals[2] + float(length.sum())]
        for g in attrs:
            feature_keys[g].append(_values(chunk[g]))
        if div is not None:
            fid, where, part_area, part_length = _split(geoms, area, length, div)
            parts.append((fid + done, where, part_area, part_length))
        else:
            parts.append((np.arange(done, done + len(chunk)), None, area, length))
        done += len(chunk)
    if parts:
        fid = np.concatenate([p[0] for p in parts])
        where = np.concatenate([p[1] for p in parts]) if div is not None else None
        part_area = np.concatenate([p[2] for p in parts])
        part_length = np.concatenate([p[3] for p in parts])
    else:
        fid, where, part_area, part_length = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object),
                                              np.zeros(0), np.zeros(0))
    per_feature = {g: np.concatenate(v) if v else np.zeros(0, dtype=object) for g, v in feature_keys.items()}
    keys = {}  # each dimension factorized once, over the features (or the parts, for split districts)
    for g in group:
        if split and g == "district":
            keys[g] = _factorize(where)
        else:
            codes, uniques = _factorize(per_feature[g])
            keys[g] = (codes[fid], uniques)
    # a feature has several parts only when split by district: only those can count twice in a group
    repeated = np.bincount(fid, minlength=done)[fid] > 1 if div is not None else np.zeros(len(fid), dtype=bool)
    spec = catalog.get(layer)
    categories = spec.categories if spec is not None else {}

    def entries(dims: tuple[str, ...]) -> list[dict]:
        found = _aggregate([keys[g] for g in dims], fid, part_area, part_length, repeated)
        found.sort(key=lambda e: tuple(_sort_key(g, k, categories) for g, k in zip(dims, e[0])))
        return [{"key": dict(zip(dims, key)), "label": {g: label(g, k, categories) for g, k in zip(dims, key)},
                 "values": values(count, a, l)} for key, count, a, l in found]

    rows = entries(group)
    rule = "whole" if "district" not in group else by
    dimensions = []
    for g in group:
        seen = sorted({r["key"][g] for r in rows}, key=lambda k: _sort_key(g, k, categories))
        dimensions.append({"name": g, "title": DIMENSION_TITLES[g],
                           "values": [{"key": k, "label": label(g, k, categories)} for k in seen]})
    return {
        "layer": layer,
        "title": _title(store, layer),
        "group": list(group),
        "by": by,
        "rule": {"id": rule, **RULES[rule]},
        "filters": applied_filters(args),
        "crs": MEASURE_CRS,
        "dimensions": dimensions,
        "measures": [{"name": k, "title": t} for k, (t, _) in MEASURES.items()],
        "groups": rows,
        "subtotals": {g: entries((g,)) for g in group} if len(group) == 2 else {},
        "totals": values(*totals),
    }
