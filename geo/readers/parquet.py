"""GeoParquet, read with pyarrow (this GDAL has no Parquet driver): the ``geo`` metadata gives the
geometry column, its types and CRS (PROJJSON; absent means OGC:CRS84, null means unknown)."""
from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pyarrow as pa

from ..errors import UnreadableFile
from ..store.base import Field
from .base import SourceLayer


def _unreadable(path: Path, exc: Exception) -> UnreadableFile:
    return UnreadableFile(f"{path.name} could not be read as GeoParquet: the file is damaged or not Parquet. Export "
                          "it again and upload the new file", file=path.name, parameter="file", internal=str(exc))


def _meta(path: Path):
    from pyarrow import parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise _unreadable(path, exc) from None
    raw = (pf.schema_arrow.metadata or {}).get(b"geo")
    if raw is None:
        raise UnreadableFile(f"{path.name} is a Parquet table without GeoParquet metadata, so it has no shapes: "
                             "save it as GeoParquet (e.g. GeoPandas to_parquet), or as CSV with a WKT column",
                             file=path.name, parameter="file")
    try:
        geo = json.loads(raw)
        column = geo["primary_column"]
        about = geo["columns"][column]
    except (ValueError, KeyError, TypeError) as exc:
        raise _unreadable(path, exc) from None
    return pf, column, about


def _kind(t: pa.DataType) -> str:
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "float"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_struct(t) or pa.types.is_map(t):
        return "json"
    return "str"


def _crs(about: dict) -> str | None:
    if "crs" not in about:
        return "OGC:CRS84"
    if about["crs"] is None:
        return None
    from pyproj import CRS

    crs = CRS.from_user_input(about["crs"])
    code = crs.to_authority()
    return f"{code[0]}:{code[1]}" if code else crs.to_wkt()


def parquet_layer(path: Path) -> SourceLayer:
    pf, column, about = _meta(path)
    fields = tuple(Field(f.name, _kind(f.type)) for f in pf.schema_arrow if f.name != column)
    types = [t for t in about.get("geometry_types") or []]
    has_z = any(t.endswith(" Z") for t in types)
    bases = {t.removesuffix(" Z") for t in types}
    kind = bases.pop() if len(bases) == 1 else "Unknown"
    return SourceLayer(path.stem, pf.metadata.num_rows, kind, _crs(about), fields, has_z=has_z)


def read_parquet(path: Path, columns=None) -> gpd.GeoDataFrame:
    _, column, _ = _meta(path)
    try:
        frame = gpd.read_parquet(path, columns=None if columns is None else [*columns, column])
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _unreadable(path, exc) from None
    return frame
