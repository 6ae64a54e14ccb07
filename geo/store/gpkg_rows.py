"""Rows of the GeoPackage backend to and from frames: GeoPackage geometry blobs to WKB, SQLite rows to
a GeoDataFrame with a dtype by field type, and frames to Arrow with the neutral field types."""
from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyproj
import shapely
from geopandas.array import from_shapely

from ..errors import StoreError
from .base import FIELD_TYPES, Field, Records

_ARROW = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
          "date": pa.date32(), "json": pa.json_(pa.string())}
assert set(_ARROW) == set(FIELD_TYPES)
WGS84 = pyproj.CRS.from_epsg(4326)
UNAVAILABLE = "the atlas's data store cannot be read just now; the operator has been told (see the server log)"
#: Envelope sizes of a GeoPackage geometry blob by its envelope indicator (flags bits 1-3).
_ENVELOPE = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


def wkb(blob: bytes | None) -> bytes | None:
    """The WKB inside a GeoPackage geometry blob (after its header and envelope)."""
    if blob is None:
        return None
    if blob[:2] != b"GP":
        raise ValueError("not a GeoPackage geometry blob")
    return blob[8 + _ENVELOPE[(blob[3] >> 1) & 0x07]:]


def rows_to_frame(rows: list[tuple], columns: list[str], types: dict[str, str], *, gpkg: bool = True) -> gpd.GeoDataFrame:
    """Rows of (attributes…, geometry blob) as a GeoDataFrame with dtypes by field type (the
    geometry a GeoPackage blob, or WKB when not ``gpkg``)."""
    values = list(zip(*rows)) if rows else [()] * (len(columns) + 1)
    data = attribute_columns(columns, values[:-1], types)
    geometry = shapely.from_wkb(np.array([wkb(b) for b in values[-1]] if gpkg else list(values[-1]), dtype=object))
    # the geometry as a ready GeoSeries with a CRS object made once: a third of the cost of a
    # small page's frame otherwise goes into parsing "EPSG:4326" and wrapping the array again
    data["geometry"] = gpd.GeoSeries(from_shapely(geometry, crs=WGS84))
    return gpd.GeoDataFrame(data, geometry="geometry")


def rows_to_records(rows: list[tuple], columns: list[str], types: dict[str, str], *, gpkg: bool = True) -> Records:
    """Rows of (attributes…, geometry blob) as ``Records``: the values as SQLite gives them (a
    boolean as True/False, not 0/1), the geometries decoded at once."""
    flags = [i for i, c in enumerate(columns) if types[c] == "bool"]
    values = [r[:-1] for r in rows]
    if flags:
        values = [tuple(bool(v) if i in flags and v is not None else v for i, v in enumerate(r)) for r in values]
    blobs = [wkb(r[-1]) for r in rows] if gpkg else [r[-1] for r in rows]
    return Records(tuple(columns), values, shapely.from_wkb(np.array(blobs, dtype=object)))


def attribute_columns(columns: Sequence[str], values: Sequence[Sequence], types: dict[str, str]) -> dict:
    """Columns of SQLite values as arrays with a dtype by field type (name -> array)."""
    data = {}
    for name, column in zip(columns, values):
        kind = types[name]
        if kind == "int":
            data[name] = pd.array(column, dtype="Int64")
        elif kind == "float":
            data[name] = np.array([np.nan if v is None else v for v in column], dtype="float64")
        elif kind == "bool":
            data[name] = pd.array([None if v is None else bool(v) for v in column], dtype="boolean")
        else:
            data[name] = pd.Series(column, dtype=object)
    return data


def to_arrow(frame: gpd.GeoDataFrame, fields: dict[str, str]) -> pa.Table:
    """The frame as an Arrow table of the neutral types (GDAL writes DATE and JSON subtypes from it)."""
    arrays, schema = [], []
    for name in (c for c in frame.columns if c != frame.geometry.name):
        kind = fields[name]
        values = frame[name]
        if kind == "date":
            values = pd.to_datetime(values, errors="raise").dt.date
        if kind == "json":
            array = pa.ExtensionArray.from_storage(_ARROW["json"], pa.array(values, type=pa.string(), from_pandas=True))
        else:
            array = pa.array(values, type=_ARROW[kind], from_pandas=True)
        arrays.append(array)
        schema.append(pa.field(name, array.type))
    arrays.append(pa.array(shapely.to_wkb(frame.geometry.values), type=pa.binary()))
    schema.append(pa.field("geom", pa.binary(), metadata={b"ARROW:extension:name": b"geoarrow.wkb"}))
    return pa.Table.from_arrays(arrays, schema=pa.schema(schema))


def field_types(name: str, frame: gpd.GeoDataFrame, declared: Sequence[Field]) -> dict[str, str]:
    types = {f.name: f.type for f in declared}
    for col in frame.columns:
        if col == frame.geometry.name or col in types:
            continue
        dtype = frame[col].dtype
        types[col] = ("bool" if pd.api.types.is_bool_dtype(dtype) else
                      "int" if pd.api.types.is_integer_dtype(dtype) else
                      "float" if pd.api.types.is_float_dtype(dtype) else "str")
    unknown = [c for c in types if c not in frame.columns]
    if unknown:
        raise StoreError(f"layer {name!r}: declared field {unknown[0]!r} is not in its data")
    return types


def quote(identifier: str) -> str:
    """Quote an identifier that has already been checked against the schema."""
    return '"' + identifier.replace('"', '""') + '"'


def like_pattern(text: str) -> str:
    """``text`` anywhere, for ``LIKE ? ESCAPE '\\'`` (its %, _ and \\ taken literally)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
