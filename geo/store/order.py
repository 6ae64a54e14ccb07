"""The attribute table's part of a ``Query`` — order, keyset cursor, ranges, per-field substrings —
checked once for every backend, and evaluated over a frame in memory (the as-of reads, and the
meaning the SQL of each backend must match).

The order is ``base.sort_order``'s: the fields asked for, then the key. NULL is the smallest value
(first when ascending, last when descending), as SQLite and its indexes keep it. A cursor holds the
values of the completed order's fields of the last row seen; the rows after it are those beyond it
in that order, whatever was added, changed or removed before it since.
"""
from __future__ import annotations

import numbers
import operator

import numpy as np
import pandas as pd

from ..errors import InvalidParameter

NUMERIC = ("int", "float", "bool")
#: a cursor or a bound is made of these (what JSON carries; bool is an int here, as SQLite keeps it)
_SCALARS = (int, float, str)


def check_order(layer: str, fields: dict[str, str], order, key: str) -> None:
    for name, _ in order or ():
        if name not in fields:
            raise InvalidParameter(f"layer {layer!r} has no field {name!r} to sort by; its fields are: "
                                   f"{', '.join(fields)}", parameter="sort")
        if fields[name] == "json":
            raise InvalidParameter(f"field {name!r} holds JSON, which has no order; sort by another field",
                                   parameter="sort")


def check_after(order, after, offset: int = 0) -> None:
    if after is None:
        return
    if offset:
        raise InvalidParameter("give after (the cursor of the last row seen) or offset, not both", parameter="after")
    if not isinstance(after, (tuple, list)) or len(after) != len(order):
        raise InvalidParameter(f"after must hold one value for each field of the order ({len(order)}: "
                               f"{', '.join(n for n, _ in order)}); pass the 'next' of the previous page",
                               parameter="after")
    for value, (name, _) in zip(after, order):
        if value is not None and (isinstance(value, bool) or not isinstance(value, _SCALARS)):
            raise InvalidParameter(f"after: the value for {name!r} must be a number, a text or null, got "
                                   f"{type(value).__name__}", parameter="after")
    if after[-1] is None:
        raise InvalidParameter("after: the key of the last row seen cannot be null", parameter="after")


def check_ranges(layer: str, fields: dict[str, str], ranges) -> None:
    for name, bounds in (ranges or {}).items():
        if name not in fields:
            raise InvalidParameter(f"layer {layer!r} has no field {name!r}", parameter=name)
        kind = fields[name]
        if kind == "json" or not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
            raise InvalidParameter(f"a range needs a field of numbers or dates and (lowest, highest); "
                                   f"field {name!r} is {kind}", parameter=name)
        for value in bounds:
            if value is None:
                continue
            number = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
            if (kind in NUMERIC and not number) or (kind not in NUMERIC and not isinstance(value, str)):
                raise InvalidParameter(f"the bounds of field {name!r} ({kind}) must be "
                                       f"{'finite numbers' if kind in NUMERIC else 'ISO dates (text)'}, got {value!r}",
                                       parameter=name)


def check_contains(layer: str, fields: dict[str, str], contains) -> None:
    for name, text in (contains or {}).items():
        if name not in fields:
            raise InvalidParameter(f"layer {layer!r} has no field {name!r}", parameter=name)
        if not isinstance(text, str):
            raise InvalidParameter(f"the text to find in {name!r} must be text", parameter=name)


# -- in memory -------------------------------------------------------------------------------------
def _compare(column: pd.Series, value, op) -> np.ndarray:
    """``op(column, value)`` where the column has a value, False where it is null."""
    out = np.zeros(len(column), dtype=bool)
    present = column.notna().to_numpy(dtype=bool)
    if present.any():
        part = column[present]
        if isinstance(part.dtype, pd.BooleanDtype) or part.dtype == bool:
            part = part.astype("int64")
        out[present] = np.asarray(op(part, value), dtype=bool)
    return out


def range_mask(frame: pd.DataFrame, ranges) -> np.ndarray:
    keep = np.ones(len(frame), dtype=bool)
    for name, (lo, hi) in (ranges or {}).items():
        keep &= frame[name].notna().to_numpy(dtype=bool)
        if lo is not None:
            keep &= _compare(frame[name], lo, operator.ge)
        if hi is not None:
            keep &= _compare(frame[name], hi, operator.le)
    return keep


def after_mask(frame: pd.DataFrame, order, after) -> np.ndarray:
    """The rows beyond the cursor ``after`` in ``order``: for some field, equal on every field
    before it and beyond on it (NULL the smallest)."""
    n = len(frame)
    found = np.zeros(n, dtype=bool)
    prefix = np.ones(n, dtype=bool)
    for (name, descending), value in zip(order, after):
        column = frame[name]
        null = column.isna().to_numpy(dtype=bool)
        if value is None:
            beyond = np.zeros(n, dtype=bool) if descending else ~null
            equal = null
        else:
            beyond = (_compare(column, value, operator.lt) | null) if descending else _compare(column, value, operator.gt)
            equal = _compare(column, value, operator.eq)
        found |= prefix & beyond
        prefix &= equal
    return found


def ordered(frame: pd.DataFrame, order) -> pd.DataFrame:
    """``frame`` sorted by ``order``, nulls the smallest, stable."""
    if not len(frame) or not order:
        return frame
    keys, ascending = {}, []
    for i, (name, descending) in enumerate(order):
        column = frame[name]
        present = column.notna()
        if isinstance(column.dtype, pd.BooleanDtype):
            column = column.astype("Int64")
        numeric = pd.api.types.is_numeric_dtype(column.dtype)
        keys[f"n{i}"] = present.to_numpy(dtype=int)
        keys[f"v{i}"] = column.astype(object).where(present, 0 if numeric else "").to_numpy(dtype=float if numeric else object)
        ascending += [not descending, not descending]
    table = pd.DataFrame(keys, index=frame.index)
    return frame.loc[table.sort_values(list(keys), ascending=ascending, kind="mergesort").index]


def cursor(row: pd.Series, order) -> tuple:
    """The cursor of ``row``: the values of its order's fields as JSON carries them."""
    out = []
    for name, _ in order:
        value = row[name]
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            out.append(None)
        elif isinstance(value, (bool, np.bool_)):
            out.append(int(value))
        elif isinstance(value, np.integer):
            out.append(int(value))
        elif isinstance(value, np.floating):
            out.append(float(value))
        else:
            out.append(value)
    return tuple(out)
