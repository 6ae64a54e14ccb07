"""The export format registry: one ``Format`` entry a format — its name (what ``format=`` takes),
extension, media type, GDAL driver and creation options, whether one file holds several layers, and
its writer. Adding a format is adding an entry here; the API, the CLI, the tests and the benchmark
all read ``FORMATS``."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..crs import DEFAULT_TARGET, TARGETS, Target, target
from ..errors import InvalidParameter
from .base import Writer
from .gdal import GdalWriter, ShapefileWriter
from .parquet import ParquetWriter
from .sheet import XlsxWriter
from .text import CsvWriter, KmlWriter


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

    def target(self, name: str | None) -> Target:
        """The coordinate system ``name`` (default WGS84), if this format can hold it."""
        return target(name, geographic_only=self.title if self.geographic_only else None)

    def describe(self) -> dict:
        return {"id": self.name, "title": self.title, "extension": self.extension, "media_type": self.media_type,
                "multi_layer": self.multi_layer, "zipped": self.zipped,
                "crs": [t for t in TARGETS if not self.geographic_only or TARGETS[t].geographic],
                "note": self.note}


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


def describe() -> dict:
    """Formats and coordinate systems, for the page's export panel."""
    return {"formats": [f.describe() for f in FORMATS.values()],
            "crs": [{"id": n, "label": t.label, "title": {"zh": t.zh, "en": t.en}, "epsg": t.is_epsg}
                    for n, t in TARGETS.items()],
            "default_crs": DEFAULT_TARGET}
