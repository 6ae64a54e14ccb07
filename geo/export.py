"""Writing exports: layers arrive as chunks of rows and are appended to the output as they come.

Nothing here knows about the store, Flask or the atlas's catalog: a layer is described by a
``LayerSchema`` (names, kinds and titles of its columns) and its rows arrive as ``Chunk`` objects
(attributes and shapely geometries, already in the target coordinate system). Every writer holds at
most one chunk in memory: GDAL formats get one Arrow stream per layer (``pyogrio.write_arrow`` pulls
the chunks lazily) and GeoParquet appends a row group a chunk.

This module holds the machinery (schemas, Arrow conversion, the writer interface, packaging into a
zip) and the writers built on GDAL and Arrow (GeoJSON, GeoPackage, FlatGeobuf, Shapefile,
GeoParquet); ``geo.formats`` holds the registry and the text and spreadsheet writers (KML, CSV, XLSX).
"""
from __future__ import annotations

import csv
import json
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import shapely
from pyproj import CRS

if TYPE_CHECKING:  # pragma: no cover
    from .formats import Format

_WKB = {b"ARROW:extension:name": b"geoarrow.wkb"}
_ARROW = {"str": pa.string(), "json": pa.string(), "int": pa.int32(), "int64": pa.int64(),
          "float": pa.float64()}
_GDAL_GEOMETRY = {"Geometry": "Unknown", "GeometryCollection": "GeometryCollection"}


# -- what is written -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "str" | "json" (JSON text) | "int" (32-bit) | "int64" | "float"
    zh: str = ""
    en: str = ""


@dataclass(frozen=True)
class LayerSchema:
    name: str
    geometry_type: str  # "Point", "MultiLineString", ... or "Geometry" for mixed layers
    columns: tuple[Column, ...]
    title_zh: str = ""
    title_en: str = ""

    @property
    def title(self) -> str:
        return " ".join(t for t in (self.title_zh, self.title_en) if t) or self.name


@dataclass
class Chunk:
    """Some rows of a layer: attributes (one column per schema column) and their geometries."""

    frame: pd.DataFrame
    geometry: np.ndarray


@dataclass(frozen=True)
class Target:
    """The coordinate system of an export. GCJ-02 has no EPSG code: its files declare WGS84
    (``file_crs``) and say GCJ-02 in their name and metadata."""

    name: str       # canonical: "EPSG:4550" or "GCJ-02"
    label: str      # for file names: "EPSG4550", "GCJ-02"
    file_crs: str   # what the file declares
    geographic: bool
    zh: str
    en: str

    @property
    def is_epsg(self) -> bool:
        return self.name.startswith("EPSG:")

    def wkt(self) -> str:
        return CRS.from_user_input(self.file_crs).to_wkt()

    def note(self) -> str:
        text = f"坐标系 Coordinate system: {self.name} {self.zh} / {self.en}."
        if not self.is_epsg:
            text += (" GCJ-02 不是 EPSG 坐标系:坐标已按 GCJ-02(火星坐标,高德等使用)偏移,文件按 WGS84 (EPSG:4326)"
                     "声明只因 GCJ-02 没有代码,请勿当作 WGS84 使用。 / GCJ-02 is not an EPSG code: the "
                     "coordinates carry the GCJ-02 offset used by Amap/Gaode; the file declares WGS84 "
                     "(EPSG:4326) only because GCJ-02 has no code, so do not use them as WGS84.")
        return text


@dataclass(frozen=True)
class About:
    """What an export is: shown in README files, layer descriptions and metadata."""

    target: Target
    filters: str  # a human-readable description of the filters or selection
    generated: str  # ISO 8601 UTC
    title: str = "精致威海规划图 Weihai Planning Atlas"

    def description(self, layer: LayerSchema | None = None) -> str:
        head = f"{self.title}" + (f": {layer.title}" if layer else "")
        return f"{head}. {self.target.note()} 筛选 Filters: {self.filters}. 导出 Exported {self.generated}."

    def readme(self, fmt: Format, counts: dict[str, tuple[LayerSchema, int]], notes: Iterable[str] = ()) -> str:
        lines = [f"{self.title} — 导出 export", "",
                 f"生成时间 Generated: {self.generated}",
                 f"格式 Format: {fmt.title}", self.target.note(), f"筛选 Filters: {self.filters}",
                 "编码 Encoding: UTF-8", "", "图层 Layers:"]
        lines += [f"  {name}: {layer.title} — {n} 个要素 features ({layer.geometry_type})"
                  for name, (layer, n) in counts.items()]
        for note in notes:
            lines += ["", note]
        return "\n".join(lines) + "\n"


# -- conversion ----------------------------------------------------------------------------------
def arrow_schema(layer: LayerSchema, *, geometry: str | None = "wkb", names: dict[str, str] | None = None) -> pa.Schema:
    """Arrow fields of the layer's columns (renamed by ``names``) and its geometry: ``wkb`` last
    (tagged geoarrow.wkb, which GDAL reads), ``wkt`` first (as a ``WKT`` column), or none."""
    names = names or {}
    fields = [pa.field(names.get(c.name, c.name), _ARROW[c.kind]) for c in layer.columns]
    if geometry == "wkb":
        fields.append(pa.field("geometry", pa.binary(), metadata=_WKB))
    elif geometry == "wkt":
        fields.insert(0, pa.field("WKT", pa.string()))
    return pa.schema(fields)


def arrow_batch(layer: LayerSchema, chunk: Chunk, schema: pa.Schema, *, geometry: str | None = "wkb") -> pa.RecordBatch:
    """The chunk as an Arrow batch of ``schema`` (made by ``arrow_schema`` with the same options)."""
    arrays = [pa.array(chunk.frame[c.name], type=_ARROW[c.kind], from_pandas=True) for c in layer.columns]
    if geometry == "wkb":
        arrays.append(pa.array(shapely.to_wkb(chunk.geometry), type=pa.binary()))
    elif geometry == "wkt":
        arrays.insert(0, pa.array(wkt(chunk.geometry), type=pa.string()))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def wkt(geoms: np.ndarray) -> np.ndarray:
    """WKT at full precision (shortest text that reads back to the same doubles)."""
    return shapely.to_wkt(geoms, rounding_precision=-1, trim=True)


class _Counted:
    """Iterates chunks, counts rows, and remembers an error raised by the source so that it can be
    re-raised as itself after GDAL has turned it into a generic stream error."""

    def __init__(self, chunks: Iterable[Chunk]):
        self._chunks = chunks
        self.rows = 0
        self.error: BaseException | None = None

    def __iter__(self) -> Iterator[Chunk]:
        try:
            for chunk in self._chunks:
                self.rows += len(chunk.frame)
                yield chunk
        except BaseException as exc:
            self.error = exc
            raise


# -- writers -------------------------------------------------------------------------------------
class Writer(ABC):
    """Writes one output (a file; a folder for Shapefiles). ``write_layer`` once per layer, then
    ``close``. Formats that hold one layer get one writer per layer file."""

    def __init__(self, path: Path, fmt: Format, about: About):
        self.path = Path(path)
        self.fmt = fmt
        self.about = about
        self.layers: dict[str, tuple[LayerSchema, int]] = {}

    @abstractmethod
    def write_layer(self, layer: LayerSchema, chunks: Iterable[Chunk]) -> int:
        """Write every chunk of ``layer``; returns the number of features written."""

    def close(self) -> None:
        """Finish the file (formats that write on close)."""

    def abort(self) -> None:
        """Release what a failed write holds (open files, temporary files); the caller removes
        the output folder."""

    def notes(self) -> list[str]:
        """Format-specific paragraphs for the README of a zip."""
        return []


class GdalWriter(Writer):
    """GeoJSON, GeoPackage, FlatGeobuf: one ``pyogrio.write_arrow`` stream per layer, which GDAL
    pulls chunk by chunk."""

    def _options(self, layer: LayerSchema) -> tuple[dict, dict]:
        layer_opts = {k: v.format(title=layer.title, description=self.about.description(layer))
                      for k, v in self.fmt.layer_options.items()}
        dataset_opts = {k: v.format(title=self.about.title, description=self.about.description())
                        for k, v in self.fmt.dataset_options.items()}
        return dataset_opts, layer_opts

    def _names(self, layer: LayerSchema) -> dict[str, str]:
        """Field renames (the Shapefile hook)."""
        return {}

    def _adapt(self, layer: LayerSchema, chunk: Chunk) -> Chunk:
        """The chunk as the format can hold it (the Shapefile hook)."""
        return chunk

    def write_layer(self, layer: LayerSchema, chunks: Iterable[Chunk]) -> int:
        schema = arrow_schema(layer, names=self._names(layer))
        counted = _Counted(chunks)
        batches = (arrow_batch(layer, self._adapt(layer, chunk), schema) for chunk in counted)

        dataset_opts, layer_opts = self._options(layer)
        append = self._append()
        try:
            pyogrio.write_arrow(
                pa.RecordBatchReader.from_batches(schema, batches), self._file(layer), layer=layer.name,
                driver=self.fmt.driver, geometry_type=_GDAL_GEOMETRY.get(layer.geometry_type, layer.geometry_type),
                crs=self.about.target.wkt(), encoding=self.fmt.encoding, append=append,
                dataset_options=None if append else dataset_opts, layer_options=layer_opts,
            )
        except Exception:
            if counted.error is not None:
                raise counted.error from None
            raise
        self.layers[layer.name] = (layer, counted.rows)
        return counted.rows

    def _file(self, layer: LayerSchema) -> Path:
        return self.path

    def _append(self) -> bool:
        return bool(self.layers)  # the second layer of a multi-layer file joins the first


#: Words shortened first when a field name is longer than a dBase field name may be.
_ABBREVIATIONS = {"description": "desc", "functional": "func", "accuracy": "acc", "note": "nt",
                  "category": "cat", "district": "dist", "source": "src", "length": "len"}
DBF_NAME = 10   # bytes
DBF_TEXT = 254  # bytes


def dbf_names(names: Iterable[str]) -> dict[str, str]:
    """Field name -> a unique dBase name of at most 10 bytes: short names stay, long ones are
    abbreviated word by word, then cut, then numbered if two would collide."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        short = name
        if len(short.encode("utf-8")) > DBF_NAME:
            short = "_".join(_ABBREVIATIONS.get(part, part) for part in name.split("_"))
        short = _cut(short, DBF_NAME)
        n = 1
        while short.lower() in taken:
            suffix = f"_{n}"
            short = _cut(_cut(name, DBF_NAME - len(suffix)) + suffix, DBF_NAME)
            n += 1
        taken.add(short.lower())
        out[name] = short
    return out


def _cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, never inside a character."""
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


class ShapefileWriter(GdalWriter):
    """One shapefile per layer in a folder (zipped by the caller): UTF-8 (.cpg), a .prj, dBase
    names of at most 10 characters with the mapping in ``fields.csv``, and text longer than a
    dBase field holds (254 bytes) cut at a character and kept whole in ``<layer>_long_text.csv``."""

    def __init__(self, path, fmt, about):
        super().__init__(path, fmt, about)
        self.path.mkdir(parents=True, exist_ok=True)
        self.mapping: list[tuple[str, str, Column]] = []
        self._long: dict[str, tuple] = {}

    def _names(self, layer):
        names = dbf_names(c.name for c in layer.columns)
        self.mapping += [(layer.name, names[c.name], c) for c in layer.columns]
        return names

    def _file(self, layer):
        return self.path / f"{layer.name}.shp"

    def _append(self):
        return False  # a new .shp for every layer

    def _adapt(self, layer, chunk):
        frame = chunk.frame
        cut = {}
        for col in layer.columns:
            if col.kind not in ("str", "json"):
                continue
            values = frame[col.name]
            maybe = values.str.len().to_numpy(dtype="float64", na_value=0) > DBF_TEXT // 4  # 4 bytes max a char
            if not maybe.any():
                continue
            long = [i for i in np.flatnonzero(maybe) if len(values.iloc[i].encode("utf-8")) > DBF_TEXT]
            if not long:
                continue
            cut[col.name] = values.copy()
            cut[col.name].iloc[long] = [_cut(values.iloc[i], DBF_TEXT) for i in long]
            ids = frame["id"].iloc[long] if "id" in frame else pd.Series(long)
            self._keep_long(layer, col, ids, values.iloc[long])
        return Chunk(frame.assign(**cut), chunk.geometry) if cut else chunk

    def _keep_long(self, layer: LayerSchema, col: Column, ids: pd.Series, values: pd.Series) -> None:
        if layer.name not in self._long:
            handle = open(self.path / f"{layer.name}_long_text.csv", "w", encoding="utf-8-sig", newline="")
            self._long[layer.name] = (handle, csv.writer(handle))
            self._long[layer.name][1].writerow(["id", "field", "shapefile_field", "value"])
        short = dbf_names(c.name for c in layer.columns)[col.name]
        self._long[layer.name][1].writerows((i, col.name, short, v) for i, v in zip(ids, values))

    def abort(self) -> None:
        for handle, _ in self._long.values():
            handle.close()

    def close(self) -> None:
        self.abort()
        with open(self.path / "fields.csv", "w", encoding="utf-8-sig", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["layer", "shapefile_field", "field", "title_zh", "title_en", "type"])
            out.writerows((layer, short, c.name, c.zh, c.en, c.kind) for layer, short, c in self.mapping)

    def notes(self) -> list[str]:
        renamed = sorted({(short, c.name) for _, short, c in self.mapping if short != c.name})
        text = ["Shapefile 字段名 field names: dBase 字段名最多 10 个字符,完整字段名与中英文标题见 fields.csv。 / "
                "dBase field names hold at most 10 characters; fields.csv maps every shapefile field to the "
                "full field name and its Chinese and English titles."]
        text += [f"  {short} = {name}" for short, name in renamed]
        text += ["文本编码 UTF-8(见 .cpg)。超过 254 字节的文本在 .dbf 中按字符截断,完整内容见 <图层>_long_text.csv。 / "
                 "Text is UTF-8 (see the .cpg). Text longer than a dBase field holds (254 bytes) is cut at a "
                 "character in the .dbf and kept whole in <layer>_long_text.csv (id, field, value)."]
        if self._long:
            text.append("  long text: " + ", ".join(f"{name}_long_text.csv" for name in self._long))
        return ["\n".join(text)]


class ParquetWriter(Writer):
    """GeoParquet 1.1: WKB geometry, the ``geo`` metadata with the CRS as PROJJSON; a row group per
    chunk, so memory holds one chunk."""

    def write_layer(self, layer, chunks):
        from pyarrow import parquet as pq

        schema = arrow_schema(layer)
        schema = schema.set(schema.get_field_index("geometry"), pa.field("geometry", pa.binary()))
        types = [] if layer.geometry_type == "Geometry" else [layer.geometry_type]
        geo = {"version": "1.1.0", "primary_column": "geometry",
               "columns": {"geometry": {"encoding": "WKB", "geometry_types": types,
                                        "crs": CRS.from_user_input(self.about.target.file_crs).to_json_dict()}}}
        schema = schema.with_metadata({"geo": json.dumps(geo), "description": self.about.description(layer),
                                       "coordinate_system": self.about.target.name})
        rows = 0
        with pq.ParquetWriter(self.path, schema, compression="zstd") as out:
            for chunk in chunks:
                out.write_batch(arrow_batch(layer, chunk, schema))
                rows += len(chunk.frame)
        self.layers[layer.name] = (layer, rows)
        return rows


# -- packaging -----------------------------------------------------------------------------------
def _write_all(writer: Writer, layers: Iterable[tuple[LayerSchema, Iterable[Chunk]]]) -> Writer:
    try:
        for layer, chunks in layers:
            writer.write_layer(layer, chunks)
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return writer


@dataclass
class Written:
    path: Path
    counts: dict[str, int] = field(default_factory=dict)


def write(fmt: Format, about: About, layers: Iterable[tuple[LayerSchema, Iterable[Chunk]]], folder: Path,
          stem: str, *, several: bool) -> Written:
    """Write ``layers`` in ``fmt`` under ``folder``: one file named ``stem`` + the format's extension
    when the format holds them all, else a zip (``stem.<ext>.zip``) of one file a layer, a README
    and the format's side files. ``several`` says whether more than one layer will come."""
    folder = Path(folder)
    if not (fmt.zipped or (several and not fmt.multi_layer)):
        writer = _write_all(fmt.writer(folder / f"{stem}{fmt.extension}", fmt, about), layers)
        return Written(writer.path, {k: n for k, (_, n) in writer.layers.items()})
    parts = folder / stem
    parts.mkdir()
    written: dict[str, tuple[LayerSchema, int]] = {}
    notes: list[str] = []
    if fmt.zipped:  # the writer lays out its own folder (Shapefile)
        writer = _write_all(fmt.writer(parts, fmt, about), layers)
        written, notes = writer.layers, writer.notes()
    else:
        for layer, chunks in layers:
            writer = _write_all(fmt.writer(parts / f"{layer.name}{fmt.extension}", fmt, about), [(layer, chunks)])
            written.update(writer.layers)
    (parts / "README.txt").write_text(about.readme(fmt, written, notes), encoding="utf-8")
    target = folder / f"{stem}{fmt.extension}.zip"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for item in sorted(parts.iterdir()):
            zf.write(item, arcname=item.name)
    return Written(target, {k: n for k, (_, n) in written.items()})
