"""The text formats we write ourselves: CSV (pyarrow's CSV writer) and KML (streamed XML)."""
from __future__ import annotations

import codecs
import re
from xml.sax.saxutils import escape, quoteattr

import shapely

from ..errors import InvalidParameter
from .base import Writer, arrow_batch, arrow_schema


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
_KML_TYPES = {"str": "string", "json": "string", "date": "string", "int": "int", "float": "double", "bool": "bool"}


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
    """KML 2.2, streamed: a Document a layer (its own Schema, then its Placemarks), the key field
    as the Placemark id, the label field as the name Google Earth shows, every attribute in
    ExtendedData. (GDAL's LIBKML driver builds the whole document in memory before writing it.)"""

    def __init__(self, path, fmt, about):
        super().__init__(path, fmt, about)
        self._fh = open(self.path, "w", encoding="utf-8")
        self._fh.write('<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2">\n'
                       f'<Document id="root_doc"><name>{escape(about.title)}</name>'
                       f'<description>{escape(about.description())}</description>\n')

    def write_layer(self, layer, chunks):
        fields = [c for c in layer.columns if c.name != layer.key]
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
            ids = records.get(layer.key, [None] * batch.num_rows)
            labels = records.get(layer.label, [None] * batch.num_rows)
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
