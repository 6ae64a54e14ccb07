"""The overlay of two layers (叠加分析), e.g. projects × zones: which left features lie in which right
areas (the area of each intersection and its share of the left feature), the area of each right
feature that left features cover (their union: overlapping left features count once), and the left
features outside every right one. No Flask.

Both layers are selected with the filters of ``/api/layers/<id>`` and measured in EPSG:4550; the
candidate pairs come from one STRtree query of the right shapes with all left shapes, and only those
pairs are cut (``shapely.intersection`` on the pair arrays). A pair that only touches (an edge in
common, no area or length inside) is no pair; a point on the edge of two areas lies in both.
"""
from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import pandas as pd
import shapely

from geo.crs import WGS84, reproject
from geo.errors import InvalidParameter
from geo.measure import MEASURE_CRS, raw_measures
from geo.store import Store

from .spatial import _rounded, attributes, check_filters, count, cut, measured, parse_layers, read, share
from .stats import _title, values

RULE = {
    "zh": "在 EPSG:4550 中叠加：左图层的每个要素与其所在的右图层要素求交，交集面积(长度)及其占左要素的比例；右要素的被覆盖"
          "面积为落在其中的左要素的并集（相互重叠的左要素只计一次）；不与任何右要素相交的左要素列为“区外”。"
          "只接边的不算在内；1 亩 = 10000/15 平方米。",
    "en": "Overlaid in EPSG:4550: each left feature is intersected with the right features it lies in, "
          "giving the area (length) of each intersection and its share of the left feature; a right "
          "feature's covered area is the union of the left features in it (overlapping left features "
          "count once); left features meeting no right feature are listed as outside. Touching edges "
          "do not count; 1 mu = 10000/15 m².",
}


def _check_size(store: Store, side: str, layer: str, filters: Mapping, at_most: int) -> None:
    n = count(store, layer, filters, at_most=at_most)
    if n > at_most:
        raise InvalidParameter(
            f"{side}={layer} selects more than {at_most:,} features, the most an overlay over the web takes a side; "
            f"narrow it with {side}_district, {side}_category or {side}_status, or run it on the server "
            f"(flask --app server overlay --{side} {layer} …), which has no limit "
            f"(叠加要素过多：请用筛选条件缩小范围，或在服务器上用命令行运行)", parameter=side)


def _load(store: Store, layer: str, filters: Mapping):
    frames, shapes = [], []
    for chunk, geoms in read(store, layer, filters):
        frames.append(chunk.drop(columns=chunk.geometry.name))
        shapes.append(geoms)
    if not frames:
        return pd.DataFrame(), np.zeros(0, dtype=object)
    return pd.concat(frames, ignore_index=True), np.concatenate(shapes)


def _unions(groups: np.ndarray, parts: np.ndarray, dims: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per group 0..n-1 the area and length of the union of its parts (one part: its own measure)."""
    area, length = np.zeros(n), np.zeros(n)
    if not len(groups):
        return area, length
    order = np.argsort(groups, kind="stable")
    keys, starts = np.unique(groups[order], return_index=True)
    for key, members in zip(keys, np.split(order, starts[1:])):  # one union a group, each in GEOS
        for kind, target in ((2, area), (1, length)):
            chosen = parts[members[dims[members] == kind]]
            if len(chosen):
                merged = chosen[0] if len(chosen) == 1 else shapely.union_all(chosen)
                target[key] = shapely.area(merged) if kind == 2 else shapely.length(merged)
    return area, length


def _sided(side: str, fn, *args):
    """``fn(*args)`` for one side: a filter at fault is named as the API names it (``left_district``);
    ``as_of``, common to both sides, and the side itself (``left``) keep their names."""
    try:
        return fn(*args)
    except InvalidParameter as exc:
        if exc.parameter not in (None, "as_of", side) and not exc.parameter.startswith(f"{side}_"):
            exc.parameter = f"{side}_{exc.parameter}"
        raise


def overlay(store: Store, left: str, right: str, *, left_filters: Mapping | None = None,
            right_filters: Mapping | None = None, geometry: bool = False, at_most: int | None = None) -> dict:
    """``pairs`` (left feature, right feature, the intersection's measures, its share of the left
    feature), ``covered`` (per right feature: its area, the union of the left parts in it, the
    share covered, how many left features), ``outside`` (left features in no right feature) and
    ``totals``. ``geometry``: pairs carry their intersection, outside features their shape
    (GeoJSON, WGS84). ``at_most``: the most features a side may select (InvalidParameter beyond,
    counted before anything is read); None: no limit."""
    left = parse_layers(store, [left] if isinstance(left, str) else left, "left")
    right = parse_layers(store, [right] if isinstance(right, str) else right, "right")
    if len(left) != 1 or len(right) != 1:
        raise InvalidParameter("left and right each name one layer", parameter="left" if len(left) != 1 else "right")
    left, right = left[0], right[0]
    left_filters = _sided("left", check_filters, left_filters)
    right_filters = _sided("right", check_filters, right_filters)
    if at_most is not None:
        _sided("left", _check_size, store, "left", left, left_filters, at_most)
        _sided("right", _check_size, store, "right", right, right_filters, at_most)
    lf, lg = _sided("left", _load, store, left, left_filters)
    rf, rg = _sided("right", _load, store, right, right_filters)
    rdims = shapely.get_dimensions(rg)
    if len(rg) and ((rdims != 2) & (rdims >= 0)).any():
        raise InvalidParameter(f"right must be a layer of areas (polygons) for features to lie in; {right!r} has "
                               "points or lines — put it on the left, or use POST /api/query with a distance",
                               parameter="right")
    ldims = shapely.get_dimensions(lg)
    larea, llength = raw_measures(lg)
    rarea, _ = raw_measures(rg)
    li, ri = shapely.STRtree(rg).query(lg, predicate="intersects")
    order = np.lexsort((ri, li))
    li, ri = li[order], ri[order]
    parts, parea, plength, kept = cut(lg[li], ldims[li], rg[ri])
    li, ri, parts, parea, plength = li[kept], ri[kept], parts[kept], parea[kept], plength[kept]
    pdims = ldims[li]
    pshare = share(pdims, parea, plength, larea[li], llength[li])
    covered_area, covered_length = _unions(ri, parts, pdims, len(rg))
    inside_area, inside_length = _unions(li, parts, pdims, len(lg))  # right features may overlap too
    lattrs, rattrs = attributes(lf, np.arange(len(lf))), attributes(rf, np.arange(len(rf)))
    shapes = (shapely.to_geojson(_rounded(reproject(parts, MEASURE_CRS, WGS84))) if geometry else None)

    pairs = []
    for k, (a, b) in enumerate(zip(li, ri)):
        row = {"left": lattrs[a], "right": rattrs[b], **measured(parea[k], plength[k]), "share": float(pshare[k])}
        if geometry:
            row["geometry"] = json.loads(shapes[k])
        pairs.append(row)
    counts = np.bincount(ri, minlength=len(rg))  # pairs are distinct: the left features in each
    with np.errstate(divide="ignore", invalid="ignore"):
        cshare = np.round(np.nan_to_num(covered_area / rarea), 6)
    covered = [{"right": rattrs[r], "area": measured(rarea[r], 0.0), "covered": measured(covered_area[r],
                covered_length[r]), "share": float(cshare[r]), "count": int(counts[r])} for r in range(len(rg))]
    out_rows = np.setdiff1d(np.arange(len(lg)), li)
    out_shapes = (shapely.to_geojson(_rounded(reproject(lg[out_rows], MEASURE_CRS, WGS84))) if geometry else None)
    outside = []
    for k, a in enumerate(out_rows):
        row = {**lattrs[a], **measured(larea[a], llength[a])}
        if geometry:
            row["geometry"] = json.loads(out_shapes[k])
        outside.append(row)
    n_in = len(lg) - len(out_rows)
    totals = {
        "left_count": len(lg), "right_count": len(rg), "pairs": len(pairs), "left_inside_count": n_in,
        "outside_count": len(out_rows),
        "left": values(len(lg), float(larea.sum()), float(llength.sum())),
        # the left features' parts inside some right feature, each place once
        "left_inside": values(n_in, float(inside_area.sum()), float(inside_length.sum())),
        "left_outside": values(int(len(out_rows)), float(max(larea.sum() - inside_area.sum(), 0.0)),
                               float(max(llength.sum() - inside_length.sum(), 0.0))),
        "right": values(len(rg), float(rarea.sum()), 0.0),
        # summed over the right features: a place under two overlapping right features counts in each
        "covered": values(int((counts > 0).sum()), float(covered_area.sum()), float(covered_length.sum())),
    }
    return {"left": {"layer": left, "title": _title(store, left), "filters": left_filters},
            "right": {"layer": right, "title": _title(store, right), "filters": right_filters},
            "crs": MEASURE_CRS, "rule": RULE, "pairs": pairs, "covered": covered, "outside": outside,
            "totals": totals}
