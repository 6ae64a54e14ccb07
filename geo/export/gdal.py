"""The writers GDAL drives: GeoJSON, GeoPackage and FlatGeobuf (``GdalWriter``), and Shapefile
with its dBase limits (``ShapefileWriter``). One ``pyogrio.write_arrow`` stream per layer, which GDAL
pulls chunk by chunk."""
from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio

from .base import (
    Chunk,
    Column,
    LayerSchema,
    Writer,
    _Counted,
    arrow_batch,
    arrow_schema,
)

_GDAL_GEOMETRY = {"Geometry": "Unknown", "GeometryCollection": "GeometryCollection"}


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
            ids = frame[layer.key].iloc[long] if layer.key in frame else pd.Series(long)
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
