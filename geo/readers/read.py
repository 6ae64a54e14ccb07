"""``read``: the features of one layer of a ``Source`` as a GeoDataFrame in the file's own CRS,
with the store's neutral values (dates as ISO text, lists as JSON text) and full field names; and
``to_wgs84``, the one reprojection, for the caller to apply once it knows the CRS.
"""
from __future__ import annotations

import json
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from .. import crs as crs_names
from ..errors import CRSError, InvalidParameter
from .base import TABULAR, Source, SourceLayer, gdal_errors
from .parquet import read_parquet
from .source import _WHAT, DXF_OPTIONS
from .tabular import read_table

#: the offset systems of Chinese web maps, which no EPSG code describes
_OFFSET_SYSTEMS = ("GCJ-02", "BD-09")


def read(source: Source, layer: str | Sequence[str] | None = None, *, encoding: str | None = None, crs=None,
         columns: Sequence[str] | None = None) -> gpd.GeoDataFrame:
    """The features of ``layer`` (the only one when None; DXF: one CAD layer, a list of them, or None
    for all). ``encoding`` overrides the text encoding of a Shapefile's .dbf, a DXF or a CSV.
    ``crs`` (anything pyproj reads, "EPSG:4549") says which CRS the coordinates are in: it is
    assigned (replacing what the file declares, e.g. a wrong .prj), never transformed to.
    ``columns`` picks fields by their full names. CSV/XLSX come back without geometry: see
    ``suggest_columns`` and ``points_from_columns``."""
    encoding = encoding if encoding is not None else source.text_encoding
    if source.format == "dxf":
        frame = _read_dxf(source, layer, encoding, columns)
    else:
        if layer is not None and not isinstance(layer, str):
            raise InvalidParameter(f"{source.name} is {source.title}: choose one layer", parameter="layer")
        chosen = source.layer(layer)
        if source.format in TABULAR:
            parsed = source.tables.pop((chosen.name, encoding), None) if columns is None else None
            if parsed is not None:  # open_source parsed it with this encoding already
                return parsed
            return read_table(source.path, source.format, None if source.format == "csv" else chosen.name,
                              encoding=encoding, columns=columns)
        _check_columns(source, chosen, columns)
        if encoding is not None and source.format != "shapefile":
            raise InvalidParameter(f"{source.title} text is always UTF-8: an encoding can be chosen for Shapefile, "
                                   "DXF and CSV files only", parameter="encoding")
        if source.format == "parquet":
            frame = read_parquet(source.path, columns)
        else:
            frame = _read_gdal(source, chosen, encoding, columns)
        frame = _neutral(frame, chosen)
    if crs is not None:
        if str(crs).upper() in _OFFSET_SYSTEMS:
            raise CRSError(f"{crs} has no EPSG code: read without crs and convert with to_wgs84(frame, {crs!r})",
                           parameter="crs", status=400)
        frame = frame.set_crs(_crs(crs), allow_override=True)
    return frame


def _check_columns(source: Source, layer: SourceLayer, columns) -> None:
    if columns is None:
        return
    known = [f.name for f in layer.fields]
    missing = [c for c in columns if c not in known]
    if missing:
        raise InvalidParameter(f"layer {layer.name!r} of {source.name} has no field {', '.join(map(repr, missing))}; "
                               f"its fields are {', '.join(known)}", parameter="columns")


def _read_gdal(source: Source, layer: SourceLayer, encoding: str | None, columns) -> gpd.GeoDataFrame:
    path = layer.file or source.path
    back = {full: short for short, full in layer.names.items()}
    wanted = None if columns is None else [back.get(c, c) for c in columns]
    options = {"encoding": encoding} if encoding else {}
    with gdal_errors(path, _WHAT.get(source.format, source.title)):
        frame = pyogrio.read_dataframe(path, layer=None if layer.file else layer.name, columns=wanted,
                                       use_arrow=True, **options)
    return frame.rename(columns=dict(layer.names)) if layer.names else frame


def _read_dxf(source: Source, layer, encoding: str | None, columns) -> gpd.GeoDataFrame:
    chosen = None if layer is None else [layer] if isinstance(layer, str) else list(layer)
    known = {l.name for l in source.layers}
    if chosen is not None:
        unknown = [name for name in chosen if name not in known]
        if unknown:
            raise InvalidParameter(f"{source.name} has no CAD layer {', '.join(map(repr, unknown))}; its layers are "
                                   f"{', '.join(sorted(known))}", parameter="layer")
    fields = [f.name for f in source.layers[0].fields]
    if columns is not None:
        missing = [c for c in columns if c not in fields]
        if missing:
            raise InvalidParameter(f"{source.name} has no field {', '.join(map(repr, missing))}; its fields are "
                                   f"{', '.join(fields)}", parameter="columns")
    options = dict(DXF_OPTIONS, **({"ENCODING": encoding} if encoding else {}))
    wanted = None if columns is None else sorted(set(columns) | {"Layer"}, key=fields.index)
    with gdal_errors(source.path, _WHAT["dxf"]):
        frame = pyogrio.read_dataframe(source.path, layer=source.gdal_layer, columns=wanted, use_arrow=True, **options)
    if chosen is not None:
        frame = frame[frame["Layer"].isin(chosen)].reset_index(drop=True)
    if columns is not None and "Layer" not in columns:
        frame = frame.drop(columns="Layer")
    return frame


def _neutral(frame: gpd.GeoDataFrame, layer: SourceLayer) -> gpd.GeoDataFrame:
    """Values as the store holds them: dates as ``YYYY-MM-DD``, date-times as ISO text, lists and
    objects as JSON text."""
    kinds = {f.name: f.type for f in layer.fields}
    changed = {}
    for name in frame.columns:
        if name == frame.geometry.name:
            continue
        values = frame[name]
        kind = kinds.get(name)
        if pd.api.types.is_datetime64_any_dtype(values.dtype):
            text = values.dt.strftime("%Y-%m-%d") if kind == "date" else values.map(
                lambda v: v.isoformat() if pd.notna(v) else None)
            changed[name] = text.astype(object).where(values.notna(), None)
        elif kind == "json" and values.dtype == object:
            changed[name] = values.map(_json_text)
        elif kind == "date" and values.dtype == object:
            changed[name] = values.map(lambda v: v.isoformat() if hasattr(v, "isoformat") else v)
        elif values.dtype == object and values.isna().any():
            changed[name] = values.astype(object).where(values.notna(), None)  # Arrow's nulls as None, not NaN
    return frame.assign(**changed) if changed else frame


def _json_text(value):
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, np.ndarray):
        value = value.tolist()
    return json.dumps(value, ensure_ascii=False)


def _crs(value):
    from pyproj import CRS
    from pyproj.exceptions import CRSError as ProjError

    try:
        return CRS.from_user_input(value)
    except ProjError:
        raise CRSError(f"unknown coordinate system {value!r}; give an EPSG code such as EPSG:4549 "
                       "(CGCS2000 GK CM 120E) or EPSG:4490 (CGCS2000 degrees)", parameter="crs", status=400) from None


def to_wgs84(frame: gpd.GeoDataFrame, crs=None, *, swapped: bool = False) -> gpd.GeoDataFrame:
    """``frame`` in WGS84 (EPSG:4326) from ``crs`` (default: the frame's own): any CRS pyproj knows,
    or "GCJ-02" (Amap/Gaode) and "BD-09" (Baidu), whose offsets are undone numerically.
    ``swapped``: the file's x holds the northing or latitude (the inspector's ``Candidate.swapped``).
    A frame with no CRS and none given is a CRSError: coordinates are never guessed here. Heights
    are dropped (the atlas holds 2D shapes)."""
    source = crs if crs is not None else frame.crs
    if source is None:
        raise CRSError("the data has no coordinate system: choose the one it is in (the inspector proposes one)",
                       parameter="crs")
    geoms = np.asarray(frame.geometry.array, dtype=object)
    if swapped:
        geoms = shapely.transform(geoms, lambda xy: xy[:, ::-1])
    name = str(source).upper().replace("_", "-")
    if name in ("GCJ-02", "GCJ02"):
        moved = shapely.transform(geoms, crs_names.gcj02_to_wgs84_xy)
    elif name in ("BD-09", "BD09"):
        convert = getattr(crs_names, "bd09_to_wgs84_xy", None)
        if convert is None:
            raise CRSError("BD-09 (Baidu) coordinates cannot be converted by this version of the atlas",
                           parameter="crs")
        moved = shapely.transform(geoms, convert)
    else:
        src = _crs(source)
        if src.equals(_crs("EPSG:4326"), ignore_axis_order=True):
            moved = shapely.force_2d(geoms)
        else:
            tr = crs_names.transformer(src.to_wkt(), "EPSG:4326")
            moved = shapely.transform(geoms, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))
    out = frame.copy(deep=False)  # the attributes shared (copy-on-write), the geometry new
    out[out.geometry.name] = gpd.GeoSeries(moved, index=frame.index, crs="EPSG:4326")
    return out.set_crs("EPSG:4326", allow_override=True)
