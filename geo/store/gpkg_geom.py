"""Geometries on the way into a GeoPackage: checked (valid, of the layer's type), written as
GeoPackage blobs (header + envelope + WKB) by hand, and the ``ST_`` functions GDAL's R-tree triggers
call, for plain sqlite3 connections (GDAL defines them in its own; sqlite3 does not have them)."""
from __future__ import annotations

import re
import sqlite3
import struct
from functools import lru_cache

import numpy as np
import shapely
import shapely.validation

from ..errors import InvalidGeometry
from .base import GEOMETRY_FAMILY
from .gpkg_rows import quote, wkb

#: GeoPackage blob header: magic "GP", version 0, flags (bit 0: little-endian; bits 1-3: envelope
#: 1 = [minx, maxx, miny, maxy]; bit 4: empty), srs_id.
_HEADER = struct.Struct("<2sBBi")
_ENVELOPE = struct.Struct("<4d")
_EMPTY_FLAGS = 0b00010001
_XY_FLAGS = 0b00000011
#: A single part goes into a layer of its multi type; nothing else changes type.
_PROMOTE = {("Point", "MultiPoint"): shapely.multipoints, ("LineString", "MultiLineString"): shapely.multilinestrings,
            ("Polygon", "MultiPolygon"): shapely.multipolygons}
_AT = re.compile(r"\[\s*(-?[\d.eE+-]+)\s+(-?[\d.eE+-]+)")


def blob(geom) -> bytes | None:
    """A shapely geometry as a GeoPackage blob with its XY envelope, SRS 4326."""
    if geom is None:
        return None
    body = shapely.to_wkb(geom, byte_order=1)
    if geom.is_empty:
        return _HEADER.pack(b"GP", 0, _EMPTY_FLAGS, 4326) + body
    minx, miny, maxx, maxy = geom.bounds
    return _HEADER.pack(b"GP", 0, _XY_FLAGS, 4326) + _ENVELOPE.pack(minx, maxx, miny, maxy) + body


def blob_from_wkb(data: bytes | None) -> bytes | None:
    return None if data is None else blob(shapely.from_wkb(data))


_XY_HEADER = struct.Struct("<2sBBi4d")


def blobs(geoms, wkbs=None) -> list[bytes | None]:
    """``blob`` of each geometry of the array ``geoms`` (``wkbs``: their little-endian WKB, if
    already made), the bounds and WKB computed for the whole array at once: the same bytes."""
    geoms = np.asarray(geoms, dtype=object)
    if wkbs is None:
        wkbs = shapely.to_wkb(geoms, byte_order=1)
    missing = shapely.is_missing(geoms)
    empty = (shapely.is_empty(geoms) & ~missing).tolist()
    bounds = shapely.bounds(geoms).tolist()
    head, empty_head = _XY_HEADER.pack, _HEADER.pack(b"GP", 0, _EMPTY_FLAGS, 4326)
    out = []
    for body, (minx, miny, maxx, maxy), gone, hollow in zip(wkbs, bounds, missing.tolist(), empty):
        if gone:
            out.append(None)
        elif hollow:
            out.append(empty_head + body)
        else:
            out.append(head(b"GP", 0, _XY_FLAGS, 4326, minx, maxx, miny, maxy) + body)
    return out


def _envelope(gp: bytes | None) -> tuple[float, float, float, float] | None:
    """(minx, maxx, miny, maxy) of a GeoPackage blob: its envelope if it has one, else computed."""
    if gp is None or len(gp) < 8 or gp[:2] != b"GP":
        return None
    flags = gp[3]
    if flags & 0b00010000:
        return None
    if (flags >> 1) & 0x07 and flags & 1:
        return _ENVELOPE.unpack_from(gp, 8)
    geom = shapely.from_wkb(wkb(gp))
    if geom.is_empty:
        return None
    minx, miny, maxx, maxy = geom.bounds
    return minx, maxx, miny, maxy


def _part(i):
    at = 8 + 8 * i
    unpack = struct.Struct("<d").unpack_from

    def fn(gp):
        if gp is not None and len(gp) >= 40 and gp[3] == _XY_FLAGS and gp[:2] == b"GP":  # our own blobs
            return unpack(gp, at)[0]
        env = _envelope(gp)
        return None if env is None else env[i]
    return fn


def _is_empty(gp):
    if gp is None:
        return None
    if len(gp) >= 40 and gp[3] == _XY_FLAGS and gp[:2] == b"GP":
        return 0
    return 1 if _envelope(gp) is None else 0


def register_functions(con: sqlite3.Connection) -> None:
    """The functions GDAL's R-tree triggers call, so that plain sqlite3 writes keep the index."""
    for i, name in enumerate(("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY")):
        con.create_function(name, 1, _part(i), deterministic=True)
    con.create_function("ST_IsEmpty", 1, _is_empty, deterministic=True)


def fit(geom, layer: str, layer_type: str):
    """``geom`` checked for ``layer`` (of ``layer_type``): not empty, within lon/lat, valid, of the
    layer's type (a single part is promoted to the layer's multi type). Raises InvalidGeometry."""
    if geom is None or not isinstance(geom, shapely.Geometry):
        raise InvalidGeometry(f"layer {layer!r}: a feature needs a geometry ({layer_type})", parameter="geometry")
    if geom.is_empty:
        raise InvalidGeometry(f"layer {layer!r}: the geometry is empty; draw the shape", parameter="geometry")
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise InvalidGeometry(f"坐标超出经纬度范围 / coordinates {geom.bounds} are not WGS84 longitude/latitude "
                              "degrees; reproject to EPSG:4326", parameter="geometry")
    kind = geom.geom_type
    if layer_type not in ("Geometry", kind):
        promote = _PROMOTE.get((kind, layer_type))
        if promote is None:
            want = GEOMETRY_FAMILY.get(layer_type, layer_type)
            raise InvalidGeometry(f"图层 {layer!r} 只收 {layer_type} / layer {layer!r} holds {layer_type} ({want} "
                                  f"shapes); a {kind} cannot go into it: draw a {want} instead",
                                  parameter="geometry")
        geom = promote([geom])
    if not shapely.is_valid(geom):
        reason = shapely.validation.explain_validity(geom)
        m = _AT.search(reason)
        location = (float(m[1]), float(m[2])) if m else None
        where = f" at {location[0]:.6f} {location[1]:.6f}" if location else ""
        raise InvalidGeometry(f"几何图形无效 / invalid geometry: {reason.split('[')[0].strip()}{where}; "
                              "fix the shape there (e.g. remove the crossing) and save again",
                              parameter="geometry", location=location)
    return geom


# -- the exact test of a filter's spatial predicate (geo.store.where) -------------------------------
@lru_cache(maxsize=64)
def _prepared(literal: bytes):
    geom = shapely.from_wkb(literal)
    shapely.prepare(geom)
    return geom


def intersects(stored: bytes | None, literal: bytes) -> int:
    """SQLite function ``atlas_intersects(geometry blob, WKB)``: 1 when they intersect (the literal
    prepared once per statement's value), 0 otherwise or without a geometry."""
    if stored is None:
        return 0
    geom = shapely.from_wkb(wkb(stored))
    return int(geom is not None and not geom.is_empty and shapely.intersects(_prepared(literal), geom))


def spatial_test(layer: str, meta: dict):
    """A filter's spatial test on a layer's table ``t``: the R-tree's boxes that meet the
    geometry's box (a set of ids, quick), then ``atlas_intersects`` on those rows only."""
    rtree, fid = quote(f"rtree_{layer}_{meta['geom']}"), f"t.{quote(meta['fid'])}"

    def test(op, geom, geometry_sql):
        minx, miny, maxx, maxy = geom.bounds
        sql = (f"{fid} IN (SELECT r.id FROM {rtree} AS r WHERE r.maxx >= ? AND r.minx <= ? AND r.maxy >= ? "
               f"AND r.miny <= ?) AND atlas_intersects({geometry_sql}, ?) = 1")
        return sql, [minx, maxx, miny, maxy, shapely.to_wkb(geom)]
    return test
