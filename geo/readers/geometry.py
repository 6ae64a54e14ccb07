"""What is wrong with the shapes of a frame before they are stored, and the repairs a planner may
accept: invalid shapes listed with their row, reason and place; empty shapes, mixed types and
heights (Z) or measures (M) counted. Nothing is changed unless ``repair`` or ``force_2d`` is called.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

#: "Self-intersection[122.1 37.5]": where GEOS found the fault
_AT = re.compile(r"\[\s*([-+0-9.eE]+)\s+([-+0-9.eE]+)(?:\s+[-+0-9.eE]+)?\s*\]")
#: at most this many invalid shapes are listed one by one (all are counted)
MAX_LISTED = 1000


@dataclass(frozen=True)
class Problem:
    """One invalid shape: its 0-based row, GEOS's reason and where (in the frame's CRS, and as
    WGS84 lon/lat when the frame has a CRS) if the reason names a place."""

    row: int
    reason: str
    location: tuple[float, float] | None = None
    lonlat: tuple[float, float] | None = None


@dataclass(frozen=True)
class GeometryReport:
    count: int
    invalid_count: int
    invalid: tuple[Problem, ...]  # the first MAX_LISTED
    empty: int                    # rows without a shape, or with an empty one
    types: dict[str, int]         # "Polygon" -> 12, "MultiPolygon" -> 3
    has_z: int                    # shapes with heights
    has_m: int                    # shapes with measures

    @property
    def mixed(self) -> bool:
        """More than one kind of shape (points, lines, polygons); Polygon with MultiPolygon is one kind."""
        return len({t.removeprefix("Multi") for t in self.types if t != "GeometryCollection"}
                   | ({"GeometryCollection"} & set(self.types))) > 1

    @property
    def ok(self) -> bool:
        return not (self.invalid_count or self.empty or self.mixed or self.has_z or self.has_m)

    def notes(self) -> list[str]:
        """What a planner should know, one sentence each, in Chinese and English."""
        out = []
        if self.invalid_count:
            out.append(f"{self.invalid_count} 个图形无效(自相交等),可选择自动修复。 / {self.invalid_count} shapes are "
                       "invalid (self-intersections and the like); they can be repaired with make_valid if you accept.")
        if self.empty:
            out.append(f"{self.empty} 行没有图形。 / {self.empty} rows have no shape.")
        if self.mixed:
            kinds = ", ".join(f"{t} {n}" for t, n in sorted(self.types.items()))
            out.append(f"图形类型混合:{kinds}。 / The shapes are of mixed types: {kinds}.")
        if self.has_z or self.has_m:
            what = " and ".join(w for w, n in (("Z (heights)", self.has_z), ("M (measures)", self.has_m)) if n)
            out.append(f"{max(self.has_z, self.has_m)} 个图形带有高程或测量值,导入时去除(图集只存二维图形)。 / "
                       f"{max(self.has_z, self.has_m)} shapes carry {what}; they are dropped on import: the atlas "
                       "holds 2D shapes.")
        return out


def report(frame: gpd.GeoDataFrame) -> GeometryReport:
    """What is wrong with the shapes of ``frame`` (vectorised; only the invalid ones are visited)."""
    geoms = np.asarray(frame.geometry.array, dtype=object)
    missing = shapely.is_missing(geoms)
    empty = missing | shapely.is_empty(geoms)
    valid = shapely.is_valid(geoms) | empty
    bad = np.flatnonzero(~valid)
    reasons = shapely.is_valid_reason(geoms[bad[:MAX_LISTED]])
    locations = [_location(r) for r in reasons]
    lonlats = _lonlats(locations, frame.crs)
    problems = tuple(Problem(int(row), str(reason), loc, ll)
                     for row, reason, loc, ll in zip(bad, reasons, locations, lonlats))
    present = geoms[~empty]
    types = Counter(shapely.get_type_id(present).tolist())
    names = {i: n for i, n in enumerate(("Point", "LineString", "LinearRing", "Polygon", "MultiPoint",
                                         "MultiLineString", "MultiPolygon", "GeometryCollection"))}
    return GeometryReport(
        count=len(geoms), invalid_count=int(bad.size), invalid=problems, empty=int(empty.sum()),
        types={names.get(k, str(k)): int(v) for k, v in types.items()},
        has_z=int(shapely.has_z(present).sum()), has_m=int(shapely.has_m(present).sum()),
    )


def _location(reason: str) -> tuple[float, float] | None:
    found = _AT.search(reason)
    return (float(found.group(1)), float(found.group(2))) if found else None


def _lonlats(locations, crs) -> list[tuple[float, float] | None]:
    if crs is None or not any(locations):
        return [None] * len(locations)
    from pyproj import CRS, Transformer

    tr = Transformer.from_crs(CRS.from_user_input(crs), CRS.from_epsg(4326), always_xy=True)
    out = []
    for loc in locations:
        out.append(None if loc is None else tuple(float(v) for v in tr.transform(*loc)))
    return out


def repair(frame: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, int]:
    """A copy of ``frame`` with its invalid shapes made valid (``shapely.make_valid``, keeping the
    shape's own dimension: a bow-tie polygon becomes two triangles, not triangles and a line) and
    the number repaired. Only when the planner asked for it."""
    geoms = np.asarray(frame.geometry.array, dtype=object)
    bad = np.flatnonzero(~(shapely.is_valid(geoms) | shapely.is_missing(geoms) | shapely.is_empty(geoms)))
    if not bad.size:
        return frame.copy(), 0
    fixed = shapely.make_valid(geoms[bad], method="structure", keep_collapsed=False)
    dims = shapely.get_dimensions(geoms[bad])
    for i, (shape, dim) in enumerate(zip(fixed, dims)):
        if shapely.get_type_id(shape) == 7:  # a collection of parts of several dimensions
            parts = [p for p in shapely.get_parts(shape) if shapely.get_dimensions(p) == dim]
            fixed[i] = shapely.union_all(parts) if parts else shapely.from_wkt("GEOMETRYCOLLECTION EMPTY")
    out = frame.copy()
    geoms = geoms.copy()
    geoms[bad] = fixed
    out[out.geometry.name] = gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs)
    return out, int(bad.size)


def force_2d(frame: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, int]:
    """A copy of ``frame`` with heights (Z) and measures (M) dropped, and how many shapes had them."""
    geoms = np.asarray(frame.geometry.array, dtype=object)
    present = ~shapely.is_missing(geoms)
    had = int((shapely.has_z(geoms[present]) | shapely.has_m(geoms[present])).sum())
    out = frame.copy(deep=False)  # the attributes shared (copy-on-write)
    if had:
        out[out.geometry.name] = gpd.GeoSeries(shapely.force_2d(geoms), index=frame.index, crs=frame.crs)
    return out, had
