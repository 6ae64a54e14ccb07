"""The export format registry, the coordinate systems an export may use, and the writers of the
text and spreadsheet formats (KML, CSV, XLSX).

A format is one ``Format`` entry: its name (what ``format=`` takes), GDAL driver if GDAL writes it,
extension, media type, creation options, whether one file holds several layers, and its writer.
Adding a format is adding an entry here; the API, the CLI, the tests and the benchmark all read
``FORMATS``. The machinery and the GDAL/Arrow writers are in ``geo.export``.
"""
from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import pyarrow.compute as pc
import shapely

from . import crs as crs_mod
from .errors import CRSError, InvalidParameter
from .export import (GdalWriter, LayerSchema, ParquetWriter, ShapefileWriter, Target, Writer, arrow_batch,
                     arrow_schema, wkt)


@dataclass(frozen=True)
class Format:
    name: str
    title: str
    extension: str
    media_type: str
    writer: type[Writer]
    #: one file holds several layers (GeoPackage, KML, XLSX); otherwise several layers are zipped
    multi_layer: bool = False
    #: always delivered as a zip, even for one layer (a shapefile is several files)
    zipped: bool = False
    driver: str | None = None
    encoding: str | None = None
    #: ``{title}`` and ``{description}`` are filled in per layer / per file
    layer_options: Mapping[str, str] = field(default_factory=dict)
    dataset_options: Mapping[str, str] = field(default_factory=dict)
    #: the format can only hold longitude/latitude (KML is WGS84 by definition)
    geographic_only: bool = False
    aliases: tuple[str, ...] = ()
    note: str = ""

    def download_extension(self, several: bool) -> str:
        """The extension of the file handed out: a zip when the format cannot hold it all in one."""
        return f"{self.extension}.zip" if self.zipped or (several and not self.multi_layer) else self.extension

    def describe(self) -> dict:
        return {"id": self.name, "title": self.title, "extension": self.extension, "media_type": self.media_type,
                "multi_layer": self.multi_layer, "zipped": self.zipped,
                "crs": [t for t in TARGETS if not self.geographic_only or TARGETS[t].geographic],
                "note": self.note}


# -- text and spreadsheet writers ----------------------------------------------------------------
class CsvWriter(Writer):
    """UTF-8 with a BOM (Excel opens Chinese correctly), a ``WKT`` geometry column first (GDAL and
    QGIS recognise it), JSON fields as JSON text; streamed batch by batch with pyarrow."""

    def write_layer(self, layer, chunks):
        from pyarrow import csv as pacsv

        schema = arrow_schema(layer, geometry="wkt")
        rows = 0
        with open(self.path, "wb") as fh:
            fh.write(codecs.BOM_UTF8)
            with pacsv.CSVWriter(fh, schema) as out:
                for chunk in chunks:
                    out.write_batch(arrow_batch(layer, chunk, schema, geometry="wkt"))
                    rows += len(chunk.frame)
        self.layers[layer.name] = (layer, rows)
        return rows


_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_KML_TYPES = {"str": "string", "json": "string", "int": "int", "int64": "string", "float": "double"}


def _coordinates(geom) -> str:
    return "<coordinates>" + " ".join(f"{x!r},{y!r}" for x, y in shapely.get_coordinates(geom).tolist()) + "</coordinates>"


def kml_geometry(geom) -> str:
    """A shapely geometry as KML 2.2 (2D)."""
    if geom is None or geom.is_empty:
        return ""
    kind = geom.geom_type
    if kind == "Point":
        return f"<Point>{_coordinates(geom)}</Point>"
    if kind == "LineString":
        return f"<LineString><tessellate>1</tessellate>{_coordinates(geom)}</LineString>"
    if kind == "Polygon":
        inner = "".join(f"<innerBoundaryIs><LinearRing>{_coordinates(r)}</LinearRing></innerBoundaryIs>"
                        for r in geom.interiors)
        return (f"<Polygon><outerBoundaryIs><LinearRing>{_coordinates(geom.exterior)}</LinearRing>"
                f"</outerBoundaryIs>{inner}</Polygon>")
    return "<MultiGeometry>" + "".join(kml_geometry(part) for part in geom.geoms) + "</MultiGeometry>"


class KmlWriter(Writer):
    """KML 2.2, streamed: a Document a layer (its own Schema, then its Placemarks), the feature id
    as the Placemark id, ``name_zh`` as the label Google Earth shows, every attribute in
    ExtendedData. (GDAL's LIBKML driver builds the whole document in memory before writing it.)"""

    def __init__(self, path, fmt, about):
        super().__init__(path, fmt, about)
        self._fh = open(self.path, "w", encoding="utf-8")
        self._fh.write('<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2">\n'
                       f'<Document id="root_doc"><name>{escape(about.title)}</name>'
                       f'<description>{escape(about.description())}</description>\n')

    def write_layer(self, layer, chunks):
        fields = [c for c in layer.columns if c.name != "id"]
        schema_id = f"{layer.name}.schema"
        out = self._fh
        out.write(f"<Document id={quoteattr(layer.name)}><name>{escape(layer.name)}</name>"
                  f"<description>{escape(self.about.description(layer))}</description>\n"
                  f"<Schema name={quoteattr(layer.name)} id={quoteattr(schema_id)}>"
                  + "".join(f'<SimpleField name={quoteattr(c.name)} type="{_KML_TYPES[c.kind]}"/>' for c in fields)
                  + "</Schema>\n")
        schema = arrow_schema(layer, geometry=None)
        rows = 0
        for chunk in chunks:
            batch = arrow_batch(layer, chunk, schema, geometry=None)
            records = batch.to_pydict()
            ids = records.get("id", [None] * batch.num_rows)
            labels = records.get("name_zh", [None] * batch.num_rows)
            for i, geom in enumerate(chunk.geometry):
                data = "".join(f"<SimpleData name={quoteattr(c.name)}>{escape(_kml_value(records[c.name][i]))}</SimpleData>"
                               for c in fields if records[c.name][i] is not None)
                pid = f" id={quoteattr(str(ids[i]))}" if ids[i] is not None else ""
                label = f"<name>{escape(labels[i])}</name>" if labels[i] is not None else ""
                placemark = (f"<Placemark{pid}>{label}<ExtendedData><SchemaData schemaUrl=\"#{escape(schema_id)}\">"
                             f"{data}</SchemaData></ExtendedData>{kml_geometry(geom)}</Placemark>\n")
                bad = _XML_INVALID.search(placemark)
                if bad:
                    raise InvalidParameter(f"feature {ids[i]!r} of layer {layer.name!r} has a control character "
                                           f"(U+{ord(bad.group()):04X}) that KML (XML) cannot hold; export as gpkg or csv",
                                           parameter="format")
                out.write(placemark)
            rows += len(chunk.frame)
        out.write("</Document>\n")
        self.layers[layer.name] = (layer, rows)
        return rows

    def abort(self) -> None:
        self._fh.close()

    def close(self) -> None:
        self._fh.write("</Document>\n</kml>\n")
        self._fh.close()


def _kml_value(value) -> str:
    return repr(value) if isinstance(value, float) else str(value)


class XlsxWriter(Writer):
    """A sheet per layer (field names in the first row, WKT last), then a sheet of fields with their
    Chinese and English titles and a README sheet; openpyxl's write-only mode streams rows to disk.
    Text that starts with '=' stays text (never a formula). Excel holds at most 32,767 characters a
    cell: a longer WKT continues in the cells to its right (join them); a longer attribute is refused
    with a message naming the feature."""

    MAX_CELL = 32_767
    MAX_ROWS = 1_048_576
    SHEET_FIELDS = "字段 fields"
    SHEET_README = "说明 README"

    def __init__(self, path, fmt, about):
        super().__init__(path, fmt, about)
        from openpyxl import Workbook

        self.book = Workbook(write_only=True)
        self._titles: set[str] = set()

    def _cell(self, sheet, value, bold=False):
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font

        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"
        if bold:
            cell.font = Font(bold=True)
        return cell

    def _title(self, name: str) -> str:
        title, n = name[:31], 1
        while title in self._titles:
            title, n = f"{name[:28]}_{n}", n + 1
        self._titles.add(title)
        return title

    def _check(self, layer: LayerSchema, batch, rows: int) -> None:
        if rows + batch.num_rows >= self.MAX_ROWS:
            raise InvalidParameter(f"layer {layer.name!r} has more than {self.MAX_ROWS - 1:,} features, more than an "
                                   "Excel sheet holds; export it as csv or gpkg, or filter it", parameter="format")
        for i, col in enumerate(layer.columns):
            if col.kind in ("str", "json") and (pc.max(pc.utf8_length(batch.column(i))).as_py() or 0) > self.MAX_CELL:
                lengths = pc.utf8_length(batch.column(i)).to_numpy(zero_copy_only=False)
                row = int(np.nanargmax(np.where(np.isnan(lengths.astype(float)), -1, lengths)))
                fid = batch.column(0)[row].as_py()
                raise InvalidParameter(f"field {col.name!r} of feature {fid!r} in layer {layer.name!r} is longer than "
                                       f"an Excel cell holds ({self.MAX_CELL:,} characters): export as csv or gpkg",
                                       parameter="format")

    def write_layer(self, layer, chunks):
        from openpyxl.utils.exceptions import IllegalCharacterError

        sheet = self.book.create_sheet(self._title(layer.name))
        sheet.append([self._cell(sheet, c.name, bold=True) for c in layer.columns] + [self._cell(sheet, "WKT", bold=True)])
        schema = arrow_schema(layer, geometry=None)
        rows = 0
        for chunk in chunks:
            batch = arrow_batch(layer, chunk, schema, geometry=None)
            self._check(layer, batch, rows)
            columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)] + [wkt(chunk.geometry).tolist()]
            for values in zip(*columns):
                *attrs, text = values
                pieces = [text[i:i + self.MAX_CELL] for i in range(0, len(text), self.MAX_CELL)]
                row = [self._cell(sheet, v) if isinstance(v, str) and v.startswith("=") else v for v in attrs]
                try:
                    sheet.append(row + pieces)
                except IllegalCharacterError:
                    raise InvalidParameter(f"feature {attrs[0]!r} of layer {layer.name!r} has control characters an "
                                           "Excel file cannot hold; export as csv or gpkg", parameter="format") from None
            rows += batch.num_rows
        self.layers[layer.name] = (layer, rows)
        return rows

    def abort(self) -> None:
        # openpyxl streams each sheet into a temporary file of its own (in the system's temporary
        # folder, removed only at exit): close and remove them now.
        for sheet in self.book.worksheets:
            if sheet._writer is not None:
                sheet.close()
                sheet._writer.cleanup()

    def close(self) -> None:
        sheet = self.book.create_sheet(self.SHEET_FIELDS)
        sheet.append([self._cell(sheet, h, bold=True) for h in
                      ("图层 layer", "字段 field", "中文名 title_zh", "English title_en", "类型 type")])
        for name, (layer, _) in self.layers.items():
            for c in layer.columns:
                sheet.append([name, c.name, c.zh, c.en, c.kind])
            sheet.append([name, "WKT", "几何(WKT)", "geometry (WKT)", "wkt"])
        readme = self.about.readme(self.fmt, self.layers, [
            "每个图层一张工作表,第一行为字段名,最后一列 WKT 为几何;超过 32767 个字符的 WKT 接续在右侧单元格中,"
            "请连接后使用。 / One sheet per layer, field names in the first row, geometry as WKT in the last "
            "column; WKT longer than an Excel cell (32,767 characters) continues in the cells to its right: "
            "join them."])
        sheet = self.book.create_sheet(self.SHEET_README)
        for line in readme.splitlines():
            sheet.append([line])
        self.book.save(self.path)



ZIP = "application/zip"

FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("geojson", "GeoJSON", ".geojson", "application/geo+json", GdalWriter, driver="GeoJSON",
           layer_options={"DESCRIPTION": "{description}"}, aliases=("json",),
           note="one file a layer (several layers: a zip); JSON fields as JSON; projected systems are named in "
                "a 'crs' member (GeoJSON 2008), as QGIS and GDAL read them"),
    Format("gpkg", "GeoPackage", ".gpkg", "application/geopackage+sqlite3", GdalWriter, multi_layer=True,
           driver="GPKG", layer_options={"IDENTIFIER": "{title}", "DESCRIPTION": "{description}"},
           aliases=("geopackage",), note="all layers in one file, with spatial indexes"),
    Format("shp", "ESRI Shapefile (zip)", ".shp", ZIP, ShapefileWriter, zipped=True, driver="ESRI Shapefile",
           encoding="UTF-8", aliases=("shapefile", "zip"),
           note="a zip of one shapefile a layer (.shp .shx .dbf .prj .cpg), field names of at most 10 "
                "characters mapped in fields.csv, README.txt"),
    Format("kml", "KML", ".kml", "application/vnd.google-earth.kml+xml", KmlWriter, multi_layer=True,
           geographic_only=True,
           note="longitude/latitude only (KML is WGS84 by definition): EPSG:4326, EPSG:4490 or GCJ-02"),
    Format("csv", "CSV (UTF-8, WKT)", ".csv", "text/csv; charset=utf-8", CsvWriter,
           note="UTF-8 with a BOM so Excel shows Chinese; geometry as WKT in the first column"),
    Format("xlsx", "Excel (XLSX)", ".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
           XlsxWriter, multi_layer=True, aliases=("excel",),
           note="a sheet per layer with WKT, a sheet of field titles (中文/English) and a README sheet"),
    Format("fgb", "FlatGeobuf", ".fgb", "application/flatgeobuf", GdalWriter, driver="FlatGeobuf",
           layer_options={"TITLE": "{title}", "DESCRIPTION": "{description}", "SPATIAL_INDEX": "YES"},
           aliases=("flatgeobuf",), note="one file a layer (several layers: a zip), with a spatial index"),
    Format("parquet", "GeoParquet", ".parquet", "application/vnd.apache.parquet", ParquetWriter,
           aliases=("geoparquet",), note="GeoParquet 1.1 (WKB); one file a layer (several layers: a zip)"),
)}

_ALIASES = {alias: f.name for f in FORMATS.values() for alias in (f.name, *f.aliases)}


def get(name: str | None) -> Format:
    """The format called ``name`` (or an alias), or InvalidParameter listing the accepted ones."""
    key = str(name or "").strip().lower().lstrip(".")
    if key in _ALIASES:
        return FORMATS[_ALIASES[key]]
    accepted = ", ".join(f"{f.name} ({f.title})" for f in FORMATS.values())
    raise InvalidParameter(f"unknown format {name!r}; use one of: {accepted}", parameter="format")


def from_filename(filename: str) -> Format | None:
    """The format a file name asks for by its extension (``out.gpkg``, ``roads.shp.zip``), if any."""
    lower = filename.lower()
    for fmt in sorted(FORMATS.values(), key=lambda f: -len(f.extension)):
        if lower.endswith((fmt.extension, fmt.extension + ".zip")):
            return fmt
    return None


# -- coordinate systems of exports ---------------------------------------------------------------
def _target(name: str) -> Target:
    title = crs_mod.NAMED[name]
    if name == crs_mod.GCJ02:
        return Target(name, "GCJ-02", crs_mod.WGS84, True, title["zh"], title["en"])
    geographic = name in (crs_mod.WGS84, crs_mod.CGCS2000)
    return Target(name, name.replace(":", ""), name, geographic, title["zh"], title["en"])


#: Every coordinate system an export may use, the default first.
TARGETS: dict[str, Target] = {name: _target(name) for name in
                              (crs_mod.WGS84, crs_mod.CGCS2000, crs_mod.GK_CM123E, crs_mod.GK_ZONE41,
                               crs_mod.WEB_MERCATOR, crs_mod.GCJ02)}
DEFAULT_TARGET = crs_mod.WGS84
_CRS_ALIASES = {"WGS84": crs_mod.WGS84, "CRS84": crs_mod.WGS84, "CGCS2000": crs_mod.CGCS2000,
                "WEBMERCATOR": crs_mod.WEB_MERCATOR, "MARS": crs_mod.GCJ02}


def target(name: str | None, fmt: Format | None = None) -> Target:
    """The export coordinate system called ``name`` (default WGS84), checked against ``fmt``."""
    text = DEFAULT_TARGET if name is None or str(name).strip() == "" else str(name).strip()
    key = text.upper().replace(" ", "")
    key = _CRS_ALIASES.get(key, key)
    if key.startswith("EPSG") and key[4:].isdigit():  # EPSG4550, as in our file names
        key = f"EPSG:{key[4:]}"
    try:
        canonical = crs_mod.normalise(key)
    except CRSError:
        canonical = None
    if canonical not in TARGETS:
        accepted = "; ".join(f"{n} ({t.en})" for n, t in TARGETS.items())
        raise InvalidParameter(f"unknown coordinate system {text!r}; use one of: {accepted}", parameter="crs")
    chosen = TARGETS[canonical]
    if fmt is not None and fmt.geographic_only and not chosen.geographic:
        accepted = ", ".join(n for n, t in TARGETS.items() if t.geographic)
        raise InvalidParameter(f"{fmt.title} holds longitude/latitude only, not {chosen.name} ({chosen.en}); "
                               f"use crs={accepted}, or another format such as gpkg", parameter="crs")
    return chosen


def describe() -> dict:
    """Formats and coordinate systems, for the page's export panel."""
    return {"formats": [f.describe() for f in FORMATS.values()],
            "crs": [{"id": n, "label": t.label, "title": {"zh": t.zh, "en": t.en}, "epsg": t.is_epsg}
                    for n, t in TARGETS.items()],
            "default_crs": DEFAULT_TARGET}
