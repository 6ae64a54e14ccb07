"""Tables of coordinates: CSV and XLSX read as text (never as formulas), their columns typed from
their values, the columns that hold the geometry suggested from names and values, and the geometry
built from the chosen ones.

A table has no geometry until the caller names its columns: ``read_table`` returns attributes only,
``suggest_columns`` proposes lon/lat, X/Y or a WKT column, ``points_from_columns`` builds it.
"""
from __future__ import annotations

import codecs
import csv
import io
import datetime as dt
import zipfile
import zlib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import shapely

from ..errors import InvalidParameter, UnreadableFile
from ..memory import give_back
from .base import Columns, FormulaCell

#: what openpyxl raises on a damaged workbook (SyntaxError: the XML parsers' ParseError)
_BOOK_ERRORS = (zipfile.BadZipFile, zlib.error, KeyError, OSError, ValueError, EOFError, SyntaxError)
#: sheets of our own XLSX export that hold no features
_EXPORT_SHEETS = ("字段 fields", "说明 README")
_INT = r"[+-]?(?:0|[1-9]\d{0,17})"
_FLOAT = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_DATE = r"\d{4}-\d{2}-\d{2}"
#: the first characters of a cell that a spreadsheet would run as a formula (OWASP's list)
_FORMULA = r"^[=+\-@\t\r]"

_X_NAMES = ("lon", "lng", "long", "longitude", "经度", "x", "x坐标", "东坐标", "easting", "point_x", "坐标x")
_Y_NAMES = ("lat", "latitude", "纬度", "y", "y坐标", "北坐标", "northing", "point_y", "坐标y")
_WKT_NAMES = ("wkt", "geometry", "geom", "the_geom", "几何", "shape", "空间信息")


# -- reading ------------------------------------------------------------------------------------
def sheet_names(path: Path) -> list[str]:
    """The sheets of an XLSX that may hold features (our export's field and README sheets aside)."""
    book = _open_book(path)
    try:
        return [s.title for s in book.worksheets if s.title not in _EXPORT_SHEETS]
    finally:
        book.close()


def _damaged_book(path: Path, exc: Exception) -> UnreadableFile:
    return UnreadableFile(f"{path.name} could not be read as an Excel workbook (.xlsx): the file is damaged or of "
                          "another kind (an old .xls must be saved as .xlsx first)", file=path.name,
                          parameter="file", internal=str(exc))


def read_table(path: Path, fmt: str, layer: str | None = None, *, encoding: str | None = None,
               columns=None) -> gpd.GeoDataFrame:
    """The rows of a CSV or of one XLSX sheet, each column typed (see ``infer``), without geometry.
    ``attrs["formula_cells"]`` lists the cells that look like formulas (kept as text). A CSV is
    parsed by Arrow as text and typed there (``infer_text``): its text columns stay Arrow text
    (pandas' ``str``), as a plain ``pandas.read_csv`` leaves them, not one Python object a cell."""
    if fmt == "csv":
        names, arrays = _read_csv(path, encoding)
    else:
        frame = _read_sheet(path, layer)
        names = list(frame.columns)
    if columns is not None:
        missing = [c for c in columns if c not in names]
        if missing:
            raise InvalidParameter(f"{path.name} has no column {', '.join(map(repr, missing))}; its columns are "
                                   f"{', '.join(map(str, names))}", parameter="columns")
        names = list(columns)
    types, typed = {}, {}
    if fmt == "csv":
        flagged = sorted((cell for n in names for cell in _formulas(n, arrays[n])), key=lambda c: (c.row, c.column))
        rows = len(arrays[names[0]]) if names else 0
        for name in names:
            types[name], typed[name] = infer_text(arrays.pop(name))
        del arrays
        index = pd.RangeIndex(rows)
        give_back()
    else:
        frame = frame[names]
        flagged = formula_cells(frame)
        for name in frame.columns:
            types[name], typed[name] = infer(frame[name])
        index = frame.index
    out = gpd.GeoDataFrame(pd.DataFrame(typed, index=index, columns=names))
    out.attrs["formula_cells"] = flagged
    out.attrs["types"] = types
    return out


def _read_csv(path: Path, encoding: str | None) -> tuple[list[str], dict[str, pa.Array]]:
    """The header's names and each column's cells as Arrow text (an empty cell null)."""
    chosen = encoding or "utf-8-sig"
    try:
        codec = codecs.lookup(chosen).name
    except LookupError:
        raise InvalidParameter(f"unknown encoding {encoding!r}; use e.g. UTF-8 or GB18030", parameter="encoding") from None
    wrong = InvalidParameter(f"{path.name} is not {chosen.upper()} text: choose its encoding "
                             "(Chinese CSV files from Excel are often GB18030/GBK)", parameter="encoding")

    def unreadable(exc):
        return UnreadableFile(f"{path.name} is not a readable CSV table (one header row, then one row a feature, every "
                              "row with the same columns): save it again as CSV", file=path.name, parameter="file",
                              internal=str(exc))
    try:
        with open(path, encoding=chosen, newline="") as fh:
            sample = fh.read(64 * 1024)
    except UnicodeDecodeError:
        raise wrong from None
    if not sample.strip():
        raise unreadable(ValueError("no rows"))
    try:
        sep = csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        sep = ","
    try:
        width = len(next(csv.reader(io.StringIO(sample.lstrip("\ufeff")), delimiter=sep)))
    except (csv.Error, StopIteration) as exc:
        raise unreadable(exc) from None
    # the header read as a row (never guessed), every cell as text: a row longer than the header
    # is an error, not a silent index; Arrow skips a UTF-8 BOM and transcodes other encodings
    keys = [f"c{i}" for i in range(width)]
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=keys, encoding="utf8" if codec in ("utf-8", "utf-8-sig")
                                           else chosen, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={k: pa.string() for k in keys}, null_values=[""],
                                                 strings_can_be_null=True, quoted_strings_can_be_null=True))
    except UnicodeDecodeError:
        raise wrong from None
    except pa.ArrowInvalid as exc:
        if "utf8" in str(exc).lower() or "utf-8" in str(exc).lower():
            raise wrong from None
        raise unreadable(exc) from None
    if table.num_rows == 0:
        raise unreadable(ValueError("no rows"))
    head = table.slice(0, 1).to_pylist()[0]
    names = []
    for i, k in enumerate(keys):
        text = "" if head[k] is None else str(head[k]).lstrip("\ufeff").strip() if i == 0 else str(head[k]).strip()
        names.append(text or f"column_{i + 1}")
    _unique(path, names)
    body = table.slice(1)
    del table
    return names, {n: body.column(k).combine_chunks() for n, k in zip(names, keys)}


def _unique(path: Path, names: list) -> None:
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise InvalidParameter(f"{path.name}: the header row names {', '.join(dupes)} more than once; give every "
                               "column its own name", parameter="file")


def _open_book(path: Path):
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        return load_workbook(path, read_only=True, data_only=False)
    except (*_BOOK_ERRORS, InvalidFileException) as exc:
        raise _damaged_book(path, exc) from None


def _read_sheet(path: Path, layer: str | None) -> pd.DataFrame:
    try:
        return _sheet(path, layer)
    except _BOOK_ERRORS as exc:  # a damaged part of the zip shows only when its rows are read
        raise _damaged_book(path, exc) from None


def _sheet(path: Path, layer: str | None) -> pd.DataFrame:
    book = _open_book(path)
    try:
        names = [s.title for s in book.worksheets if s.title not in _EXPORT_SHEETS]
        if not names:
            raise UnreadableFile(f"{path.name} has no sheet with features", file=path.name, parameter="file")
        if layer is not None and layer not in names:
            raise InvalidParameter(f"{path.name} has no sheet {layer!r}; its sheets are {', '.join(names)}",
                                   parameter="layer")
        rows = book[layer or names[0]].iter_rows(values_only=True)
        head = next(rows, None)
        while head is not None and all(v is None for v in head):
            head = next(rows, None)
        if head is None:
            return pd.DataFrame()
        names = [None if v is None else str(v).strip() for v in head]
        while names and names[-1] is None:
            names.pop()
        wkt_at = names.index("WKT") if names and names[-1] == "WKT" else None
        records = []
        for row in rows:
            if all(v is None for v in row):
                continue
            record = [_cell(v) for v in row[:len(names)]] + [None] * max(0, len(names) - len(row))
            if wkt_at is not None and len(row) > len(names):  # our export: long WKT goes on to the right
                record[wkt_at] = "".join(str(v) for v in row[wkt_at:] if v is not None)
            records.append(record)
    finally:
        book.close()
    unnamed = [i for i, n in enumerate(names) if not n]
    for i in unnamed:
        names[i] = f"column_{i + 1}"
    _unique(path, names)
    return pd.DataFrame(records, columns=names, dtype=object)


def _cell(value):
    """Cell values as Python values; dates as ISO text (a midnight date-time is a date)."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.isoformat()
    return value


# -- types --------------------------------------------------------------------------------------
def infer(values: pd.Series) -> tuple[str, pd.Series]:
    """The neutral type of a column of cell values and the values converted to it: whole numbers
    (codes with a leading zero stay text), numbers, true/false, ISO dates (kept as text), or text."""
    present = values.dropna()
    if present.empty:
        return "str", values.astype(object)
    kinds = pd.api.types.infer_dtype(present, skipna=True)
    if kinds == "boolean":
        return "bool", values.astype(object)
    if kinds == "integer":  # Excel's numbers
        return "int", values.astype("Int64")
    if kinds in ("floating", "mixed-integer-float"):
        return "float", values.astype("float64")
    cells = present.to_numpy(dtype=object) if kinds == "string" else present.astype(str).to_numpy(dtype=object)
    text = pc.utf8_trim_whitespace(pa.array(cells, type=pa.string()))
    numbers = not _any(text, r"[+-]?0\d.*")  # codes such as 0012 keep their zeros: text
    if numbers and _all(text, _INT):
        return "int", pd.to_numeric(values, errors="raise").astype("Int64")
    if numbers and _all(text, _FLOAT):
        return "float", pd.to_numeric(values, errors="raise").astype("float64")
    if _all_true_false(text):
        return "bool", values.map(lambda v: None if v is None else str(v).strip().lower() == "true", na_action="ignore")
    if _all(text, _DATE) and pd.to_datetime(text.to_pandas(), format="%Y-%m-%d", errors="coerce").notna().all():
        return "date", values.astype(object)
    if kinds == "string":
        return "str", values.astype(object)
    return "str", values.map(lambda v: v if isinstance(v, str) else str(v), na_action="ignore").astype(object)


def _strings(text: pa.Array) -> pd.Series:
    """Arrow text as pandas' ``str`` (Arrow-backed, a missing cell NaN): the same buffers, no copy."""
    return pd.Series(pd.array(text, dtype=pd.StringDtype("pyarrow", na_value=np.nan)))


def infer_text(text: pa.Array) -> tuple[str, pd.Series]:
    """``infer`` for a column of text cells as Arrow reads a CSV (null: an empty cell): the same
    types by the same rules, decided and converted in Arrow. Text stays Arrow text."""
    present = pc.drop_null(text)
    if len(present) == 0:
        return "str", _strings(text)
    trimmed = pc.utf8_trim_whitespace(present)
    numbers = not _any(trimmed, r"[+-]?0\d.*")  # codes such as 0012 keep their zeros: text
    whole = numbers and _all(trimmed, _INT)
    if whole or (numbers and _all(trimmed, _FLOAT)):
        unsigned = pc.replace_substring_regex(pc.utf8_trim_whitespace(text), r"^\+", "")
        if whole:
            return "int", pd.Series(pd.array(pc.cast(unsigned, pa.int64()), dtype=pd.Int64Dtype()))
        return "float", pd.Series(pc.cast(unsigned, pa.float64()).to_numpy(zero_copy_only=False), dtype="float64")
    if _all_true_false(trimmed):
        truth = pc.equal(pc.utf8_lower(pc.utf8_trim_whitespace(text)), "true")
        return "bool", pd.Series(truth.to_pylist(), dtype=object)
    if _all(trimmed, _DATE) and pd.to_datetime(trimmed.to_pandas(), format="%Y-%m-%d", errors="coerce").notna().all():
        return "date", _strings(text)
    return "str", _strings(text)


#: values looked at first: a column of text fails a number's pattern there, without a pass over all
_HEAD = 1000


def _all(text: pa.Array, pattern: str) -> bool:
    """Whether every text matches ``pattern`` (the first ``_HEAD`` looked at first)."""
    return bool(_matches(text.slice(0, _HEAD), pattern).all()) and (len(text) <= _HEAD or bool(_matches(text, pattern).all()))


def _any(text: pa.Array, pattern: str) -> bool:
    return bool(_matches(text.slice(0, _HEAD), pattern).any()) or (len(text) > _HEAD and bool(_matches(text, pattern).any()))


def _all_true_false(text: pa.Array) -> bool:
    words = pa.array(["true", "false"])
    return all(bool(pc.all(pc.is_in(pc.utf8_lower(part), words)).as_py())
               for part in (text.slice(0, _HEAD), text))


def _matches(text: pa.Array, pattern: str) -> np.ndarray:
    """Whether each text matches ``pattern`` whole (Arrow's regular expressions: vectorised)."""
    return pc.match_substring_regex(text, f"^(?:{pattern})$").to_numpy(zero_copy_only=False).astype(bool)


def formula_cells(frame: pd.DataFrame) -> list[FormulaCell]:
    """Cells whose text would run as a formula in a spreadsheet (``=HYPERLINK(...)``, ``+1+2``,
    ``@SUM``); a number such as ``-5`` is not one. They stay text; this lists them."""
    found: list[FormulaCell] = []
    for name in frame.columns:
        column = frame[name]
        if not (column.dtype == object or pd.api.types.is_string_dtype(column.dtype)):
            continue
        cells = column.to_numpy(dtype=object)
        if pd.api.types.infer_dtype(cells, skipna=True) in ("string", "empty"):  # text and gaps only
            text = pa.array(cells, type=pa.string(), from_pandas=True)
        else:
            strings = np.fromiter((isinstance(v, str) for v in cells), dtype=bool, count=len(cells))
            text = pa.array(np.where(strings, cells, None), type=pa.string())
        starts = pc.fill_null(pc.match_substring_regex(text, _FORMULA), False).to_numpy(zero_copy_only=False)
        if not starts.any():
            continue
        rows = np.flatnonzero(starts)
        numbers = _matches(pc.utf8_trim_whitespace(text.take(pa.array(rows))), _FLOAT)
        found += [FormulaCell(int(i), str(name), str(cells[i])) for i in rows[~numbers]]
    return sorted(found, key=lambda c: (c.row, c.column))


def _formulas(name: str, text: pa.Array) -> list[FormulaCell]:
    """``formula_cells`` of one column of Arrow text."""
    starts = pc.fill_null(pc.match_substring_regex(text, _FORMULA), False).to_numpy(zero_copy_only=False)
    if not starts.any():
        return []
    rows = np.flatnonzero(starts)
    picked = text.take(pa.array(rows))
    numbers = _matches(pc.utf8_trim_whitespace(picked), _FLOAT)
    return [FormulaCell(int(i), str(name), str(v)) for i, v, n in zip(rows, picked.to_pylist(), numbers) if not n]


# -- where the geometry is ------------------------------------------------------------------------
def _numbers(frame: pd.DataFrame, name) -> pd.Series | None:
    values = pd.to_numeric(frame[name], errors="coerce")
    present = frame[name].notna()
    return values if present.any() and values[present].notna().all() else None


def suggest_columns(frame: pd.DataFrame) -> Columns | None:
    """The columns most likely to hold the geometry: a WKT column whose values parse, else a pair of
    number columns named like longitude/latitude or X/Y (经度/纬度, lng/lat, x/y ...), else a pair
    whose values lie in China's longitudes and latitudes. ``kind`` is "lonlat" when the values are
    degrees, "xy" when they are projected metres. None when nothing fits."""
    lowered = {str(name).strip().lower(): name for name in frame.columns}
    for key in _WKT_NAMES:
        if key in lowered and _parses_as_wkt(frame[lowered[key]]):
            return Columns(wkt=lowered[key], kind="wkt")
    xs = [lowered[k] for k in _X_NAMES if k in lowered and _numbers(frame, lowered[k]) is not None]
    ys = [lowered[k] for k in _Y_NAMES if k in lowered and _numbers(frame, lowered[k]) is not None]
    if xs and ys:
        x, y = xs[0], ys[0]
        return Columns(x=x, y=y, kind=_kind(_numbers(frame, x), _numbers(frame, y)))
    numeric = {name: v for name in frame.columns if (v := _numbers(frame, name)) is not None}
    lons = [n for n, v in numeric.items() if v.between(73, 136).all()]
    lats = [n for n, v in numeric.items() if v.between(3, 54).all() and n not in lons]
    if lons and lats:
        return Columns(x=lons[0], y=lats[0], kind="lonlat")
    return None


def _kind(x: pd.Series, y: pd.Series) -> str:
    degrees = x.dropna().between(-180, 180).all() and y.dropna().between(-90, 90).all()
    return "lonlat" if degrees else "xy"


def _parses_as_wkt(values: pd.Series) -> bool:
    sample = values.dropna().head(100)
    if sample.empty or not all(isinstance(v, str) for v in sample):
        return False
    return bool(pd.notna(shapely.from_wkt(sample.to_numpy(), on_invalid="ignore")).all())


def points_from_columns(frame: pd.DataFrame, x: str | None = None, y: str | None = None, *, wkt: str | None = None,
                        crs=None) -> gpd.GeoDataFrame:
    """``frame`` with a geometry: points from the ``x``/``y`` columns (kept as attributes), or the
    shapes of the ``wkt`` column (which then leaves the attributes). A row with both cells empty gets
    no geometry (``report`` counts it); a cell that is not a number or not WKT is an error naming the
    first rows."""
    for name, label in ((x, "x"), (y, "y"), (wkt, "wkt")):
        if name is not None and name not in frame.columns:
            raise InvalidParameter(f"no column {name!r}; the columns are {', '.join(map(str, frame.columns))}",
                                   parameter=label)
    attrs = pd.DataFrame(frame).copy(deep=False)  # copy-on-write: columns shared until changed
    if wkt is not None:
        text = attrs.pop(wkt)
        geoms = shapely.from_wkt(text.where(text.notna(), None).to_numpy(dtype=object), on_invalid="ignore")
        _refuse(text.notna().to_numpy() & pd.isna(geoms), text, wkt, "is not WKT (e.g. POINT (122.1 37.5))")
    elif x is not None and y is not None:
        xs, ys = pd.to_numeric(attrs[x], errors="coerce"), pd.to_numeric(attrs[y], errors="coerce")
        for name, raw, num in ((x, attrs[x], xs), (y, attrs[y], ys)):
            _refuse(raw.notna().to_numpy() & num.isna().to_numpy(), raw, name, "is not a number")
        both = (xs.notna() & ys.notna()).to_numpy()
        geoms = np.full(len(attrs), None, dtype=object)
        geoms[both] = shapely.points(xs.to_numpy()[both], ys.to_numpy()[both])
    else:
        raise InvalidParameter("name the x and y columns, or a wkt column", parameter="x")
    out = gpd.GeoDataFrame(attrs, geometry=gpd.GeoSeries(geoms, index=attrs.index), crs=crs)
    out.attrs.update(frame.attrs)
    return out


def _refuse(bad: np.ndarray, raw: pd.Series, column: str, problem: str) -> None:
    rows = np.flatnonzero(bad)
    if rows.size:
        shown = "; ".join(f"row {i + 1}: {raw.iloc[i]!r}" for i in rows[:5])
        more = f" and {rows.size - 5} more" if rows.size > 5 else ""
        raise InvalidParameter(f"column {column!r} {problem} in {rows.size} rows ({shown}{more}); correct those "
                               "cells or choose other columns", parameter="columns")
