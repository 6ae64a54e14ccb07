"""``open_source``: what a file, or a folder an archive was unpacked into, holds — its format, its
layers with their feature counts, declared CRS, fields (neutral types) and geometry types — before
a single feature is imported. Every problem is a typed error naming the file and what to do.
"""
from __future__ import annotations

import re
import zipfile
from dataclasses import asdict, replace
from pathlib import Path

import pyogrio

from ..errors import EmptyFile, InvalidParameter, MissingPart, UnreadableFile
from ..store.base import FIELD_TYPES, Field
from .base import FORMATS, TABULAR, Source, SourceLayer, gdal_errors, neutral_type
from .shapefile import declared_encoding, mapping, parts, sibling
from .tabular import read_table, sheet_names, suggest_columns

#: extension -> our format name
EXTENSIONS = {".shp": "shapefile", ".gpkg": "gpkg", ".geojson": "geojson", ".json": "geojson", ".kml": "kml",
              ".kmz": "kmz", ".csv": "csv", ".xlsx": "xlsx", ".dxf": "dxf", ".fgb": "fgb", ".parquet": "parquet",
              ".geoparquet": "parquet"}
_OTHER_PARTS = {".shx", ".dbf", ".prj", ".cpg", ".sbn", ".sbx", ".qmd", ".qix", ".xml"}
#: files of an unpacked archive that are never layers (our export's side files included)
_SIDE_FILES = re.compile(r"^(fields\.csv|.*_long_text\.csv|readme.*|.*\.txt|.*\.md|.*\.pdf)$", re.IGNORECASE)
#: DXF: open options that make closed polylines polygons (GDAL >= 3.? reads it as an open option)
DXF_OPTIONS = {"CLOSED_LINE_AS_POLYGON": "TRUE"}
_WHAT = {"gpkg": "a GeoPackage", "geojson": "GeoJSON", "kml": "KML", "kmz": "KMZ (zipped KML)", "dxf": "a DXF drawing",
         "fgb": "FlatGeobuf", "shapefile": "a Shapefile"}
_XML_SCAN = 1024 * 1024
#: GDAL's LIBKML driver, which reads KML and KMZ here, "launders" the names of untyped ExtendedData
#: (``<Data name="类别">``, as Google Earth and Chinese field apps write it) into ASCII: each Chinese
#: character became "___", and two names of the same length one field, the first one's values lost.
#: Process-wide, but it only concerns LIBKML, and the atlas never writes KML with GDAL.
pyogrio.set_gdal_config_options({"LIBKML_LAUNDER_FIELD_NAMES": "NO"})


def open_source(path, *, encoding: str | None = None) -> Source:
    """What ``path`` is: a data file, one part of a Shapefile, or a folder (an unpacked archive)
    holding one data file or Shapefiles. ``encoding`` is the text encoding to read Shapefile, DXF and
    CSV text with (field names included); None takes what the file declares (the inspector in
    ``geo.inspect`` finds the right one when it declares none)."""
    source = _open(Path(path), encoding)
    return replace(source, text_encoding=encoding) if encoding else source


def _open(path: Path, encoding: str | None) -> Source:
    if path.is_dir():
        return _open_folder(path, encoding)
    if not path.exists():
        raise InvalidParameter(f"{path.name} was not found; upload it again", parameter="file")
    suffix = path.suffix.lower()
    if suffix in _OTHER_PARTS - {".xml"}:
        shp = sibling(path, ".shp")
        if shp is None:
            raise MissingPart(f"{path.name} is part of a Shapefile, but {path.stem}.shp (the shapes) is missing: add "
                              "the .shp from the same export and upload every file of that name together",
                              file=path.name, parameter="file")
        return _open_shapefiles([shp], encoding)
    fmt = EXTENSIONS.get(suffix)
    if fmt is None:
        raise UnreadableFile(_unknown(path.name), file=path.name, parameter="file")
    if path.stat().st_size == 0:
        raise EmptyFile(f"{path.name} is empty (0 bytes): upload the file again", file=path.name, parameter="file")
    if fmt == "shapefile":
        return _open_shapefiles([path], encoding)
    if fmt in TABULAR:
        return _open_table(path, fmt, encoding)
    if fmt == "parquet":
        from .parquet import parquet_layer

        return _nonempty(Source(path, fmt, (parquet_layer(path),), files=(path,)))
    return _open_gdal(path, fmt, encoding)


def _accepted() -> str:
    return "upload one of: " + ", ".join(f"{FORMATS[f]} ({ext})" for ext, f in sorted(EXTENSIONS.items()))


def _unknown(name: str) -> str:
    if name.lower().endswith(".xls"):
        return f"{name} is an old Excel file (.xls): open it in Excel or WPS and save it as .xlsx, then upload that"
    if name.lower().endswith(".zip"):
        return f"{name} is a zip archive: it must be unpacked before its files are read"
    return f"{name} is of a kind that cannot be imported; {_accepted()}"


def _folder_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()
                  and not any(part.startswith((".", "__MACOSX")) for part in p.relative_to(folder).parts))


def table_file(path) -> Path | None:
    """The CSV file ``open_source(path)`` would read — ``path`` itself, or the one data file of a
    folder — or None when it would read something else (or refuse). Nothing is parsed: the caller
    can find the text's encoding before the table is read with it."""
    path = Path(path)
    if path.is_file():
        return path if path.suffix.lower() == ".csv" else None
    if not path.is_dir():
        return None
    files = _folder_files(path)
    if any(p.suffix.lower() in (".shp", ".dbf", ".shx") for p in files):
        return None
    data = [p for p in files if p.suffix.lower() in EXTENSIONS and not _SIDE_FILES.match(p.name)]
    return data[0] if len(data) == 1 and data[0].suffix.lower() == ".csv" else None


def _open_folder(folder: Path, encoding: str | None) -> Source:
    files = _folder_files(folder)
    shps = [p for p in files if p.suffix.lower() == ".shp"]
    if shps:
        return _open_shapefiles(shps, encoding)
    loose = [p for p in files if p.suffix.lower() in (".dbf", ".shx")]
    if loose:
        return _open(loose[0], encoding)  # names the missing .shp
    data = [p for p in files if p.suffix.lower() in EXTENSIONS and not _SIDE_FILES.match(p.name)]
    if not data:
        found = ", ".join(p.name for p in files[:10]) or "nothing"
        raise UnreadableFile(f"{folder.name} holds no file that can be imported (found {found}); {_accepted()}",
                             file=folder.name, parameter="file")
    if len(data) > 1:
        raise InvalidParameter(f"{folder.name} holds {len(data)} data files ({', '.join(p.name for p in data[:10])}): "
                               "import them one at a time", parameter="file")
    return _open(data[0], encoding)


# -- Shapefiles ---------------------------------------------------------------------------------
def _open_shapefiles(shps: list[Path], encoding: str | None) -> Source:
    layers, files, declared = [], [], None
    for shp in shps:
        found = parts(shp)
        files += found.files
        cpg = declared_encoding(found.cpg)
        declared = declared or cpg
        info = _info(shp, "shapefile", None, encoding=encoding)
        side = mapping(shp)
        fields = []
        for f in _fields(info):
            full = side.names.get(f.name, f.name)
            kind = side.types.get(full, f.type)
            fields.append(Field(full, kind if kind in FIELD_TYPES else f.type))
        layers.append(_layer(shp.stem, info, tuple(fields), names=side.names, titles=side.titles, file=shp))
    source = Source(shps[0] if len(shps) == 1 else shps[0].parent, "shapefile", tuple(layers), files=tuple(files),
                    encoding=declared)
    return _nonempty(source)


# -- GDAL formats --------------------------------------------------------------------------------
def _info(path: Path, fmt: str, layer, *, encoding: str | None = None, options: dict | None = None) -> dict:
    with gdal_errors(path, _WHAT.get(fmt, FORMATS[fmt])):
        return pyogrio.read_info(path, layer=layer, encoding=encoding, force_feature_count=True, **(options or {}))


def _fields(info: dict) -> list[Field]:
    subtypes = info.get("ogr_subtypes") or ["OFSTNone"] * len(info["fields"])
    return [Field(str(name), neutral_type(t, s)) for name, t, s in zip(info["fields"], info["ogr_types"], subtypes)]


def _split_type(gdal_type: str | None) -> tuple[str | None, bool]:
    if gdal_type is None:
        return None, False
    base = gdal_type.replace(" ZM", "").replace(" Z", "").replace(" M", "")
    return base, base != gdal_type


def _layer(name: str, info: dict, fields: tuple[Field, ...], **extra) -> SourceLayer:
    geometry_type, has_z = _split_type(info.get("geometry_type"))
    return SourceLayer(name=name, count=max(int(info.get("features") or 0), 0), geometry_type=geometry_type,
                       crs=info.get("crs"), fields=fields, has_z=has_z, **extra)


def _open_gdal(path: Path, fmt: str, encoding: str | None) -> Source:
    if encoding is not None and fmt != "dxf":
        raise InvalidParameter(f"{FORMATS[fmt]} text is always UTF-8: an encoding can be chosen for Shapefile, DXF "
                               "and CSV files only", parameter="encoding")
    if fmt in ("kml", "kmz"):
        _refuse_xml_entities(path, fmt)
    _check_whole(path, fmt)
    if fmt == "dxf":
        return _nonempty(_open_dxf(path, encoding))
    with gdal_errors(path, _WHAT[fmt]):
        listed = pyogrio.list_layers(path)
    layers = []
    for name, gtype in listed:
        if gtype is None:
            continue  # a table without shapes (a GeoPackage attribute table)
        info = _info(path, fmt, name)
        layers.append(_layer(str(name), info, tuple(_fields(info))))
    if fmt in ("kml", "kmz"):
        layers = [_typed_from_data(path, layer) for layer in layers]
    return _nonempty(Source(path, fmt, tuple(layers), files=(path,)))


def _cut_short(path: Path, why: str) -> UnreadableFile:
    return UnreadableFile(f"{path.name} is cut short ({why}), so its last features are missing. Upload it again "
                          "(the copy or the upload was interrupted)", file=path.name, parameter="file")


def _check_whole(path: Path, fmt: str) -> None:
    """What GDAL reads without complaint from a truncated file: a DXF without its closing ``EOF``
    (the entities read up to the cut), a FlatGeobuf shorter than its header (no features at all)."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(12)
        fh.seek(max(0, size - 32))
        tail = fh.read()
    if fmt == "dxf" and head.lstrip()[:1] not in (b"", b"A") and not tail.rstrip().endswith(b"EOF"):
        raise _cut_short(path, "a DXF ends with EOF, this one does not")  # binary DXF starts "AutoCAD Binary DXF"
    if fmt == "fgb" and len(head) == 12 and head[:3] == b"fgb" and size < 12 + int.from_bytes(head[8:12], "little"):
        raise _cut_short(path, "it is shorter than its own header")


def _typed_from_data(path: Path, layer: SourceLayer) -> SourceLayer:
    """KML declares no geometry type: take it from the shapes (KML files are small)."""
    import shapely

    with gdal_errors(path, "KML"):
        frame = pyogrio.read_dataframe(path, layer=layer.name, columns=[], use_arrow=True)
    kinds = set(frame.geometry.dropna().geom_type)
    has_z = bool(shapely.has_z(frame.geometry.dropna().array).any()) if len(frame) else False
    kind = kinds.pop() if len(kinds) == 1 else ("Unknown" if kinds else None)
    return SourceLayer(layer.name, len(frame), kind, layer.crs or "EPSG:4326", layer.fields, has_z=has_z)


def _refuse_xml_entities(path: Path, fmt: str) -> None:
    """KML never needs a DOCTYPE; entities are how XML bombs and reads of server files are made."""
    heads = []
    if fmt == "kml":
        with open(path, "rb") as fh:
            heads.append(fh.read(_XML_SCAN))
    else:
        try:
            with zipfile.ZipFile(path) as zf:
                for item in zf.infolist():
                    if item.filename.lower().endswith(".kml"):
                        with zf.open(item) as fh:
                            heads.append(fh.read(_XML_SCAN))
        except zipfile.BadZipFile as exc:
            raise UnreadableFile(f"{path.name} is not a KMZ (zipped KML) file: it is damaged or of another kind; "
                                 "export it again", file=path.name, parameter="file", internal=str(exc)) from None
    if any(b"<!DOCTYPE" in h.upper() or b"<!ENTITY" in h.upper() for h in heads):
        raise UnreadableFile(f"{path.name} declares XML entities (a DOCTYPE), which KML never needs and which are "
                             "used to attack servers: export the KML again from a GIS program",
                             file=path.name, parameter="file")


def _open_dxf(path: Path, encoding: str | None) -> Source:
    """A DXF's CAD layers (the ``Layer`` field of GDAL's one ``entities`` layer) as layers."""
    import shapely

    version_says = None if encoding else dxf_version_encoding(path)
    chosen = encoding or version_says
    options = dict(DXF_OPTIONS, **({"ENCODING": chosen} if chosen else {}))
    info = _info(path, "dxf", None, options=options)
    with gdal_errors(path, _WHAT["dxf"]):
        frame = pyogrio.read_dataframe(path, columns=["Layer"], use_arrow=True, **options)
    fields = tuple(_fields(info))
    layers = []
    for name, group in frame.groupby("Layer", sort=True, dropna=False):
        geoms = group.geometry.dropna()
        kinds = set(geoms.geom_type)
        kind = kinds.pop() if len(kinds) == 1 else ("Unknown" if kinds else None)
        has_z = bool(shapely.has_z(geoms.array).any()) if len(geoms) else False
        layers.append(SourceLayer(str(name), len(group), kind, info.get("crs"), fields, has_z=has_z))
    return Source(path, "dxf", tuple(layers), files=(path,), encoding=version_says or dxf_codepage(path),
                  gdal_layer=str(info["layer_name"]), text_encoding=version_says)


def _dxf_header(path: Path) -> str:
    with open(path, "rb") as fh:
        return fh.read(64 * 1024).decode("latin-1")


def dxf_codepage(path: Path) -> str | None:
    """The ``$DWGCODEPAGE`` a DXF's header declares (``ANSI_936`` is GBK), or None."""
    found = re.search(r"\$DWGCODEPAGE\s*\r?\n\s*3\s*\r?\n\s*(\S+)", _dxf_header(path))
    return found.group(1) if found else None


def dxf_version_encoding(path: Path) -> str | None:
    """UTF-8 for a DXF of AutoCAD 2007 or later (``$ACADVER`` AC1021 and up): their text is UTF-8
    whatever ``$DWGCODEPAGE`` says (Chinese AutoCAD leaves ANSI_936 there), and GDAL would decode it
    by the code page. None for older drawings, whose text is in their code page."""
    found = re.search(r"\$ACADVER\s*\r?\n\s*1\s*\r?\n\s*AC(\d{4})", _dxf_header(path))
    return "UTF-8" if found and int(found.group(1)) >= 1021 else None


# -- tables --------------------------------------------------------------------------------------
def _open_table(path: Path, fmt: str, encoding: str | None) -> Source:
    if encoding is not None and fmt == "xlsx":
        raise InvalidParameter("Excel files hold their own encoding: an encoding can be chosen for Shapefile, DXF "
                               "and CSV files only", parameter="encoding")
    names = [path.stem] if fmt == "csv" else sheet_names(path)
    layers, tables = [], {}
    for name in names:
        frame = read_table(path, fmt, None if fmt == "csv" else name, encoding=encoding)
        if fmt == "xlsx" and frame.empty and len(names) > 1:
            continue  # an empty sheet beside others
        fields = tuple(Field(str(n), t) for n, t in frame.attrs["types"].items())
        layers.append(SourceLayer(name, len(frame), None, None, fields, suggestion=suggest_columns(frame)))
        tables[(name, encoding)] = frame
    return _nonempty(Source(path, fmt, tuple(layers), files=(path,), encoding=encoding, tables=tables))


def _nonempty(source: Source) -> Source:
    if not source.layers or not any(layer.count for layer in source.layers):
        raise EmptyFile(f"{source.name} holds no features: export the layer again with its features",
                        file=source.name, parameter="file")
    return source


def describe(source: Source) -> dict:
    """The source as JSON-ready data for the page's preview."""
    return {"file": source.name, "format": source.format, "title": source.title, "encoding": source.encoding,
            "layers": [{"name": l.name, "count": l.count, "geometry_type": l.geometry_type, "crs": l.crs,
                        "has_z": l.has_z, "fields": [{"name": f.name, "type": f.type, "title": l.titles.get(f.name, "")}
                                                     for f in l.fields],
                        "names": dict(l.names),
                        "suggestion": None if l.suggestion is None else asdict(l.suggestion)}
                       for l in source.layers]}
