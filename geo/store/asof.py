"""A layer as it was: the current rows not touched since, plus, for each key touched since, the
``before`` of its earliest later change (if it existed then); and one evaluator of a ``Query`` over
a frame in memory (vectorised), with the SQL path's meaning: bbox meets the feature's box, equals per
field ORed and fields ANDed, ASCII-case-insensitive substring, ids, order by fid, offset, limit."""
from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import InvalidParameter
from . import order as ordering
from .base import Query, sort_order
from .gpkg_rows import rows_to_frame

FID = "__fid"
_UPPER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def frame_of(rows: list[tuple], columns: list[str], types: dict[str, str], *, gpkg: bool) -> gpd.GeoDataFrame:
    """Rows of (fid, attributes…, geometry) as a frame with the fid in column ``FID``."""
    frame = rows_to_frame([r[1:] for r in rows], columns, types, gpkg=gpkg)
    frame.insert(0, FID, np.array([r[0] for r in rows], dtype="int64"))
    return frame


def state(current: gpd.GeoDataFrame, later: list[tuple], columns: list[str], types: dict[str, str],
          key: str | None) -> gpd.GeoDataFrame:
    """``current`` (with ``FID``) rolled back over ``later``: (key, fid, before JSON, before WKB) of
    every change after the wanted point, oldest first."""
    first: dict[str, tuple] = {}
    for item in later:
        first.setdefault(item[0], item)
    if not first:
        return current
    keys = current[key].astype(object) if key else current[FID].astype(str)
    kept = current[~keys.isin(list(first))]
    rows = []
    for k, fid, before, geom in first.values():
        if before is None:
            continue
        props = json.loads(before)
        rows.append((fid, *[props.get(c) for c in columns], geom))
    if not rows:
        return kept.reset_index(drop=True)
    back = frame_of(rows, columns, types, gpkg=False)
    out = pd.concat([kept, back], ignore_index=True) if len(kept) else back
    out = gpd.GeoDataFrame(out, geometry="geometry", crs="EPSG:4326")
    return out.sort_values(FID, kind="stable").reset_index(drop=True)


def _as_type(values, kind):
    out = []
    for v in values:
        try:
            if kind == "int":
                out.append(int(v))
            elif kind == "float":
                out.append(float(v))
            elif kind == "bool":
                out.append({"1": True, "0": False, "true": True, "false": False}.get(str(v).lower(), v))
            else:
                out.append(str(v))
        except (TypeError, ValueError):
            out.append(v)
    return out


def mask(frame: gpd.GeoDataFrame, layer: str, query: Query, fields: dict[str, str], key: str) -> np.ndarray:
    if query.where is not None:
        raise InvalidParameter("a filter cannot be combined with as_of (a past state) yet; ask for the present "
                               "state, or filter by the other parameters", parameter="filter")
    keep = np.ones(len(frame), dtype=bool)
    for name, values in query.equals.items():
        if name not in fields:
            raise InvalidParameter(f"layer {layer!r} has no field {name!r}", parameter=name)
        if values:
            keep &= frame[name].isin(_as_type(values, fields[name])).fillna(False).to_numpy(dtype=bool)
    if query.text:
        present = [f for f in query.text_fields if f in fields]
        needle = query.text.translate(_UPPER)
        hit = np.zeros(len(frame), dtype=bool)
        for f in present:
            text = frame[f].astype(object).where(frame[f].notna(), "").astype(str).str.translate(_UPPER)
            hit |= text.str.contains(needle, regex=False).to_numpy(dtype=bool)
        keep &= hit
    if query.ids is not None:
        keep &= frame[key].isin(list(query.ids)).to_numpy(dtype=bool) if key in fields else False
    ordering.check_ranges(layer, fields, query.ranges)
    ordering.check_contains(layer, fields, query.contains)
    keep &= ordering.range_mask(frame, query.ranges)
    for name, part in query.contains.items():
        text = frame[name].astype(object).where(frame[name].notna(), None)
        keep &= np.array([v is not None and part.translate(_UPPER) in str(v).translate(_UPPER) for v in text], dtype=bool)
    if query.bbox is not None and len(frame):
        minx, miny, maxx, maxy = query.bbox
        b = shapely.bounds(frame.geometry.values)
        with np.errstate(invalid="ignore"):
            keep &= (b[:, 2] >= minx) & (b[:, 0] <= maxx) & (b[:, 3] >= miny) & (b[:, 1] <= maxy)
    return keep


def select(frame: gpd.GeoDataFrame, layer: str, query: Query, fields: dict[str, str], key: str,
           *, page: bool = True) -> gpd.GeoDataFrame:
    """The rows of ``frame`` (ordered by ``FID``) that ``query`` selects, its page, its columns."""
    if query.columns is not None:
        unknown = [c for c in query.columns if c not in fields]
        if unknown:
            raise InvalidParameter(f"layer {layer!r} has no field {unknown[0]!r}", parameter="fields")
    out = frame[mask(frame, layer, query, fields, key)]
    order = sort_order(query, key)
    if order is not None:
        ordering.check_order(layer, fields, order, key)
        ordering.check_after(order, query.after, query.offset)
        out = ordering.ordered(out, order)
        if query.after is not None:
            out = out[ordering.after_mask(out, order, query.after)]
    if page:
        stop = None if query.limit is None else query.offset + query.limit
        out = out.iloc[query.offset:stop]
    columns = list(fields) if query.columns is None else list(query.columns)
    return gpd.GeoDataFrame(out[columns + ["geometry"]].reset_index(drop=True), geometry="geometry", crs="EPSG:4326")


def differs(a: pd.Series, b: pd.Series, columns: list[str]) -> bool:
    for c in columns:
        x, y = a.get(c), b.get(c)
        if (x is None or x is pd.NA or (isinstance(x, float) and np.isnan(x))) and \
                (y is None or y is pd.NA or (isinstance(y, float) and np.isnan(y))):
            continue
        try:
            if x != y:
                return True
        except (TypeError, ValueError):
            return True
    ga, gb = a.geometry, b.geometry
    if (ga is None) != (gb is None):
        return True
    return ga is not None and shapely.to_wkb(ga) != shapely.to_wkb(gb)
