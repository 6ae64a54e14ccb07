"""What an export is made of, whatever its format: the layer's schema, chunks of rows, the
description of the export, the Arrow conversion and the ``Writer`` interface every format implements.

Nothing in ``geo.export`` knows the store, Flask or the atlas: a layer is described by a
``LayerSchema`` (names, types and titles of its columns) and its rows arrive as ``Chunk`` objects
(attributes and shapely geometries already in the target coordinate system). Every writer holds at
most one chunk in memory.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from ..crs import Target
from ..store.base import FIELD_TYPES

_WKB = {b"ARROW:extension:name": b"geoarrow.wkb"}
#: The store's field types as Arrow types (dates travel as ISO text, JSON as its text).
ARROW_TYPES = {"str": pa.string(), "json": pa.string(), "date": pa.string(), "int": pa.int64(),
               "float": pa.float64(), "bool": pa.bool_()}
assert set(ARROW_TYPES) == set(FIELD_TYPES)


# -- what is written -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # one of the store's FIELD_TYPES: str, int, float, bool, date, json (JSON text)
    zh: str = ""
    en: str = ""


@dataclass(frozen=True)
class LayerSchema:
    name: str
    geometry_type: str  # "Point", "MultiLineString", ... or "Geometry" for mixed layers
    columns: tuple[Column, ...]
    title_zh: str = ""
    title_en: str = ""
    #: the field that identifies a feature (KML Placemark ids, Shapefile side files), if any
    key: str | None = None
    #: the field a viewer shows as the feature's name (KML ``<name>``), if any
    label: str | None = None

    @property
    def title(self) -> str:
        return " ".join(t for t in (self.title_zh, self.title_en) if t) or self.name


@dataclass
class Chunk:
    """Some rows of a layer: attributes (one column per schema column) and their geometries."""

    frame: pd.DataFrame
    geometry: np.ndarray


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

    def readme(self, fmt, counts: dict[str, tuple[LayerSchema, int]], notes: Iterable[str] = ()) -> str:
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
    fields = [pa.field(names.get(c.name, c.name), ARROW_TYPES[c.kind]) for c in layer.columns]
    if geometry == "wkb":
        fields.append(pa.field("geometry", pa.binary(), metadata=_WKB))
    elif geometry == "wkt":
        fields.insert(0, pa.field("WKT", pa.string()))
    return pa.schema(fields)


def arrow_batch(layer: LayerSchema, chunk: Chunk, schema: pa.Schema, *, geometry: str | None = "wkb") -> pa.RecordBatch:
    """The chunk as an Arrow batch of ``schema`` (made by ``arrow_schema`` with the same options)."""
    arrays = [pa.array(chunk.frame[c.name], type=ARROW_TYPES[c.kind], from_pandas=True) for c in layer.columns]
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

    def __init__(self, path: Path, fmt, about: About):
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
