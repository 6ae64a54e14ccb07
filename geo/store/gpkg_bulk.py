"""Bulk inserts of the GeoPackage store: a frame's column converted to stored values at once
(``db_column``), and a layer's insert triggers set aside while whole chunks are inserted, their
work (R-tree boxes, GDAL's feature count) done for the chunk by the writer, inside its one
transaction (``triggers_aside``/``triggers_back``)."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .gpkg_write import _q, db_value


def db_column(values, kind: str, field: str, n: int) -> list:
    """``db_value`` of every value of the column ``values`` (a Series; None: the frame has no such
    column, so n Nones), converted for the whole column at once where its dtype allows (text, whole
    numbers, numbers, booleans): the same values as ``db_value`` one by one, which the rest get."""
    if values is None:
        return [None] * n
    dtype = values.dtype
    missing = None
    if kind == "str" and (dtype == object or pd.api.types.is_string_dtype(dtype)):
        data = values.to_numpy(dtype=object)
        if pd.api.types.infer_dtype(data, skipna=True) in ("string", "empty"):
            out, missing = data.tolist(), pd.isna(data)
    elif kind == "int" and pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        missing = values.isna().to_numpy()
        out = values.to_numpy(dtype="int64", na_value=0).tolist()
    elif kind == "float" and not pd.api.types.is_bool_dtype(dtype) and (
            pd.api.types.is_float_dtype(dtype) or pd.api.types.is_integer_dtype(dtype)):
        data = values.to_numpy(dtype="float64", na_value=np.nan)
        out, missing = data.tolist(), np.isnan(data)
    elif kind == "bool" and pd.api.types.is_bool_dtype(dtype):
        missing = values.isna().to_numpy()
        out = [1 if v else 0 for v in values.to_numpy(dtype=bool, na_value=False).tolist()]
    if missing is None:
        return [db_value(v, kind, field) for v in values]
    for i in np.flatnonzero(missing).tolist():
        out[i] = None
    return out


def triggers_aside(con, layer: str, meta: dict) -> list[tuple[str, str]] | None:
    """For a bulk insert: the layer's AFTER INSERT triggers dropped inside the transaction, to be
    done by ``_insert_columns`` itself for whole chunks (GDAL's R-tree and feature-count
    triggers, and the external-edit trigger, which skips the app's writes anyway) and put back
    by ``triggers_back``; a failure rolls the transaction back, triggers included. None (and
    nothing dropped) when the layer has an insert trigger of another kind, which only SQLite
    can run: then every row goes through the triggers as before."""
    geom = meta["geom"]
    known = {f"rtree_{layer}_{geom}_insert": f'AFTER INSERT ON {_q(layer)}',
             f"trigger_insert_feature_count_{layer}": f'AFTER INSERT ON {_q(layer)}',
             f"atlas_external_{layer}_insert": f'AFTER INSERT ON {_q(layer)}'}
    found = con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
                           (layer,)).fetchall()
    inserts = [(n, sql) for n, sql in found if re.search(r"\b(AFTER|BEFORE|INSTEAD\s+OF)\s+INSERT\b", sql or "", re.IGNORECASE)]
    if not inserts or any(n not in known or known[n] not in sql for n, sql in inserts):
        return None
    for name, _ in inserts:
        con.execute(f"DROP TRIGGER {_q(name)}")
    return inserts

def triggers_back(con, saved: list[tuple[str, str]]) -> None:
    for _, sql in saved:
        con.execute(sql)
