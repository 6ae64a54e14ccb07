"""What a source file is: its format, layers, counts, declared CRS and fields (``Source``), and the
one place where GDAL's failures become typed errors that name the file.

Nothing here reads features; ``open_source`` (``source.py``) fills these in and ``read`` (``read.py``)
reads what they describe. Field types are the store's neutral ones (``FIELD_TYPES``).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pyogrio.errors
import shapely.errors

from ..errors import InvalidParameter, UnreadableFile
from ..store.base import Field

#: Our names of the formats we read, with the title shown to a planner.
FORMATS = {
    "shapefile": "Shapefile", "gpkg": "GeoPackage", "geojson": "GeoJSON", "kml": "KML", "kmz": "KMZ",
    "csv": "CSV", "xlsx": "Excel (XLSX)", "dxf": "DXF", "fgb": "FlatGeobuf", "parquet": "GeoParquet",
}
#: Formats whose rows have no geometry until the caller names the columns that hold it.
TABULAR = ("csv", "xlsx")


@dataclass(frozen=True)
class Columns:
    """Where the geometry of a table is: ``x``/``y`` columns (longitude/latitude or projected
    X/Y, ``kind`` says which the values look like) or one ``wkt`` column."""

    x: str | None = None
    y: str | None = None
    wkt: str | None = None
    kind: str = "lonlat"  # "lonlat" | "xy" | "wkt"


@dataclass(frozen=True)
class FormulaCell:
    """A cell whose text starts like a spreadsheet formula (``=``, ``+``, ``-``, ``@``, tab, CR):
    kept as text, flagged so that the page can warn and exports keep it text."""

    row: int      # 0-based row of the frame (the first data row is 0)
    column: str
    value: str


@dataclass(frozen=True)
class SourceLayer:
    """One layer of a source: a GeoPackage table, a KML folder, a DXF CAD layer, a sheet."""

    name: str
    count: int
    #: "Point", "MultiPolygon", ... ; "Unknown" for mixed; None for tables without geometry yet
    geometry_type: str | None
    #: the declared CRS ("EPSG:4490" or WKT when there is no code); None when the file has none
    crs: str | None
    #: the fields read() returns (full names where a mapping file gave them), neutral types
    fields: tuple[Field, ...]
    has_z: bool = False
    #: name in the file -> full name (Shapefile's 10-character names), only those that differ
    names: Mapping[str, str] = field(default_factory=dict)
    #: full name -> title (from fields.csv or a .shp.xml's attribute aliases)
    titles: Mapping[str, str] = field(default_factory=dict)
    #: CSV/XLSX: the columns proposed for the geometry, if any look right
    suggestion: Columns | None = None
    #: the file that holds this layer when a source's layers are files of their own (Shapefiles)
    file: Path | None = None


@dataclass(frozen=True)
class Source:
    """A file (or the files of one Shapefile) to import, as ``open_source`` found it."""

    path: Path                    # the main file: the .shp, .gpkg, .csv, ...
    format: str                   # a key of FORMATS
    layers: tuple[SourceLayer, ...]
    files: tuple[Path, ...] = ()  # every file that belongs to it (a Shapefile's parts)
    #: the text encoding the file declares (.cpg; a DXF's $DWGCODEPAGE, or UTF-8 for AutoCAD 2007 and
    #: later, whose text is UTF-8 by their version); None if none
    encoding: str | None = None
    #: the GDAL layer that holds the features of a DXF (its CAD layers are ``layers``)
    gdal_layer: str | None = None
    #: the encoding ``open_source`` was told to read text with (or, for a DXF of AutoCAD 2007 and
    #: later, UTF-8); ``read`` uses it unless told another
    text_encoding: str | None = None
    #: CSV/XLSX: the tables ``open_source`` parsed to describe them, by (layer, encoding); ``read``
    #: takes one instead of parsing the file again (once: it is not kept after)
    tables: dict = field(default_factory=dict, compare=False, repr=False, hash=False)

    @property
    def title(self) -> str:
        return FORMATS[self.format]

    @property
    def name(self) -> str:
        return self.path.name

    def layer(self, name: str | None = None) -> SourceLayer:
        """The layer called ``name``; without a name the only layer (an error when there are several)."""
        if name is None:
            if len(self.layers) == 1:
                return self.layers[0]
            raise InvalidParameter(f"{self.name} holds {len(self.layers)} layers ({_names(self.layers)}); "
                                   "choose the one to import", parameter="layer")
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise InvalidParameter(f"{self.name} has no layer {name!r}; its layers are {_names(self.layers)}",
                               parameter="layer")


def _names(layers) -> str:
    names = [layer.name for layer in layers]
    return ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")


# -- neutral types -------------------------------------------------------------------------------
def neutral_type(ogr_type: str, ogr_subtype: str = "OFSTNone") -> str:
    """The store's type of an OGR field type: lists become JSON, date-times and times ISO text."""
    if ogr_subtype == "OFSTBoolean":
        return "bool"
    if ogr_subtype == "OFSTJSON" or ogr_type.endswith("List"):
        return "json"
    return {"OFTInteger": "int", "OFTInteger64": "int", "OFTReal": "float", "OFTDate": "date"}.get(ogr_type, "str")


# -- GDAL's failures -----------------------------------------------------------------------------
#: what pyogrio raises on a damaged file (OSError: an Arrow stream cut short, e.g. a truncated
#: FlatGeobuf) and what shapely raises on damaged WKB
_GDAL_ERRORS = (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, pyogrio.errors.FieldError,
                pyogrio.errors.FeatureError, pyogrio.errors.GeometryError, pyogrio.errors.CRSError, OSError,
                shapely.errors.ShapelyError)


@contextmanager
def gdal_errors(path: Path, what: str) -> Iterator[None]:
    """Turns what GDAL raises while reading ``path`` into an UnreadableFile that names the file;
    GDAL's own message goes to ``internal`` (the log), not to the planner. ``what`` says which
    format was expected, e.g. "a GeoPackage"."""
    try:
        yield
    except _GDAL_ERRORS as exc:
        raise UnreadableFile(f"{path.name} could not be read as {what}: the file is damaged or not {what}. "
                             "Export it again from the program that made it and upload the new file",
                             file=path.name, parameter="file", internal=str(exc)) from None
