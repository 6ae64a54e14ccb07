"""The features ``inspect`` read, kept for ``commit`` so that it does not read and decode the file
again: in memory (the inspection holds them, in the same process), and in the upload's folder
(``scratch``) as an Arrow file, for a commit in another process. Either is used only while the
files are unchanged (size and modification time) and for the same layer, encoding and columns
(``read_key``); else commit reads the file, as it always did."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from pyproj import CRS

from geo.inspect import normalise_encoding

_READ_CACHE = ".atlas-read-{}.arrow"
_READ_VERSION = 1
_KEEP_BATCH = 65_536


def _stat(path: Path) -> list:
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def read_key(upload: Path, folder: Path | None, source, layer: str, label: str | None, columns) -> dict:
    """What a read depends on: the uploaded file(s) as they are now (a zip itself, as its unpacked
    copy is new each time; the member read named within it), the layer, the encoding and the
    columns of a table. Equal keys: the same features."""
    if folder is not None:
        files = [_stat(upload)]
        member = str(Path(source.path).resolve().relative_to(Path(folder).resolve()))
    else:
        files = sorted(_stat(Path(p)) for p in (source.files or (source.path,)))
        member = None
    return {"version": _READ_VERSION, "files": files, "member": member, "format": source.format, "layer": layer,
            "encoding": label, "columns": columns}


def still_valid(key: dict | None) -> bool:
    """Whether the files a read came from are unchanged (size and modification time)."""
    if not key:
        return False
    try:
        return all(_stat(Path(name)) == [name, size, mtime] for name, size, mtime in key["files"])
    except OSError:
        return False


def _cache_name(key: dict) -> str:
    text = json.dumps(key, sort_keys=True, ensure_ascii=False)
    return _READ_CACHE.format(hashlib.sha256(text.encode("utf-8")).hexdigest()[:24])


#: dtypes a kept read brings back exactly (the others: no cache, the file is read again)
def _keepable(frame: gpd.GeoDataFrame) -> bool:
    for name in frame.columns:
        if name == frame.geometry.name:
            continue
        dtype = frame[name].dtype
        if dtype == object:
            if pd.api.types.infer_dtype(frame[name], skipna=True) not in ("string", "empty"):
                return False
        elif not (pd.api.types.is_string_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
                  or pd.api.types.is_integer_dtype(dtype) or pd.api.types.is_float_dtype(dtype)):
            return False
    geoms = np.asarray(frame.geometry.array, dtype=object)
    return not shapely.has_m(geoms[~shapely.is_missing(geoms)]).any()


def kept_file(scratch: Path, key: dict) -> Path:
    """Where ``keep_read`` keeps the read of ``key`` in the upload folder ``scratch``."""
    return Path(scratch) / _cache_name(key)


def keep_read(frame: gpd.GeoDataFrame, scratch: Path, key: dict) -> Path | None:
    """The features as read, kept in the upload folder (an Arrow file: attributes, WKB, the CRS,
    the key and each column's dtype), so that a ``commit`` in another process does not read and
    decode the file again; None when they cannot be kept exactly (then commit reads the file)."""
    if not scratch.is_dir() or not _keepable(frame):
        return None
    target = scratch / _cache_name(key)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        attrs = frame.drop(columns=frame.geometry.name)
        geoms = np.asarray(frame.geometry.array, dtype=object)
        meta = {"key": key, "crs": None if frame.crs is None else frame.crs.to_json(),
                "geometry": frame.geometry.name, "columns": [str(c) for c in attrs.columns],
                "dtypes": [repr(attrs[c].dtype) for c in attrs.columns], "count": len(frame)}
        writer = None
        with pa.OSFile(str(tmp), "wb") as sink:
            for start in range(0, len(frame), _KEEP_BATCH):  # a batch at a time: bounded memory
                part = attrs.iloc[start:start + _KEEP_BATCH]
                arrays = [pa.array(part[c].to_numpy(dtype=object), type=pa.string(), from_pandas=True)
                          if part[c].dtype == object else pa.array(part[c], from_pandas=True) for c in attrs.columns]
                arrays.append(pa.array(shapely.to_wkb(geoms[start:start + _KEEP_BATCH]), type=pa.binary()))
                batch = pa.RecordBatch.from_arrays(arrays, names=[*meta["columns"], "__geometry__"])
                if writer is None:
                    schema = batch.schema.with_metadata({b"atlas": json.dumps(meta, ensure_ascii=False).encode()})
                    writer = pa.ipc.new_file(sink, schema)
                writer.write_batch(batch.replace_schema_metadata(schema.metadata))
            if writer is not None:
                writer.close()
        os.replace(tmp, target)
    except (OSError, pa.ArrowException, ValueError, TypeError):
        tmp.unlink(missing_ok=True)
        return None
    for other in scratch.glob(_READ_CACHE.format("*")):  # one kept read an upload: the newest
        if other != target:
            other.unlink(missing_ok=True)
    return target


def _masked() -> dict:
    return {repr(pd.Int64Dtype()): pd.Int64Dtype(), repr(pd.BooleanDtype()): pd.BooleanDtype(),
            repr(pd.Float64Dtype()): pd.Float64Dtype()}


_MASKED = _masked()


def load_read(path: Path | None, key: dict | None) -> gpd.GeoDataFrame | None:
    """The features ``keep_read`` kept at ``path``, if they are those of ``key`` and the files are
    unchanged; None otherwise (the caller reads the file)."""
    if path is None or key is None or not still_valid(key):
        return None
    try:
        with pa.memory_map(str(path), "r") as source:
            table = pa.ipc.open_file(source).read_all()
        meta = json.loads(table.schema.metadata[b"atlas"])
        if meta["key"] != json.loads(json.dumps(key)) or meta["count"] != table.num_rows:
            return None
        data = {}
        for name, dtype, column in zip(meta["columns"], meta["dtypes"], table.columns[:-1]):
            if dtype == repr(np.dtype(object)):
                values = pd.Series(column.to_numpy(zero_copy_only=False), dtype=object)
            elif dtype in _MASKED:
                values = column.to_pandas(types_mapper={column.type: _MASKED[dtype]}.get)
            else:
                values = column.to_pandas()
            if repr(values.dtype) != dtype:
                return None
            data[name] = values
        geoms = shapely.from_wkb(table.column("__geometry__").to_numpy(zero_copy_only=False))
        crs = None if meta["crs"] is None else CRS.from_json(meta["crs"])
        frame = gpd.GeoDataFrame(pd.DataFrame(data, columns=meta["columns"]),
                                 geometry=gpd.GeoSeries(geoms, crs=crs), crs=crs)
        return frame.rename_geometry(meta["geometry"]) if meta["geometry"] != "geometry" else frame
    except (OSError, KeyError, ValueError, TypeError, pa.ArrowException):
        return None


#: the formats whose read depends on the encoding (the others are UTF-8 by definition)
_TEXT_FORMATS = ("shapefile", "dxf", "csv")


def _same_encoding(a: str | None, b: str | None) -> bool:
    if a == b:
        return True
    if a is None or b is None:
        return False
    label = normalise_encoding(a)
    return label is not None and label == normalise_encoding(b)


def take_read(found, label: str | None, *, keep: bool) -> tuple | None:
    """(frame, shape report or None) of the inspected read, if ``commit`` may use it: read with the
    same encoding (``label``), from files unchanged since. ``keep`` False hands it over (the
    inspection no longer holds it, so that its memory goes when commit is done with it)."""
    key = found.read_key
    if key is None or (key["format"] in _TEXT_FORMATS and not _same_encoding(label, key["encoding"])):
        return None
    if not still_valid(key):
        return None
    held = found.__dict__.get("_read")
    if held is not None:
        if not keep:
            found.__dict__.pop("_read", None)
        return held
    frame = load_read(found.read_cache, key)
    return None if frame is None else (frame, None)
