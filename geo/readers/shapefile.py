"""A Shapefile's parts: which are there, whether each is whole, the encoding its ``.cpg`` declares,
and the full field names a mapping file gives back to its 10-character dBase names.

GDAL reads a ``.shp`` without its ``.dbf`` (no attributes) and a truncated ``.shp`` (the last shapes
come back empty) without an error, so both are checked here from the files' own headers before GDAL
opens them.
"""
from __future__ import annotations

import csv
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EmptyFile, MissingPart, UnreadableFile

PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
_SHP_CODE = 9994
#: a mapping file larger than this is not one of ours (nor ArcGIS's metadata)
_MAX_SIDE_FILE = 8 * 1024 * 1024


@dataclass(frozen=True)
class Parts:
    shp: Path
    shx: Path
    dbf: Path
    prj: Path | None
    cpg: Path | None

    @property
    def files(self) -> tuple[Path, ...]:
        return tuple(p for p in (self.shp, self.shx, self.dbf, self.prj, self.cpg) if p is not None)


@dataclass(frozen=True)
class Mapping:
    """What a mapping file says about a layer's fields: dBase name -> full name, full name -> title
    and full name -> the store type it had (our export's ``fields.csv`` only)."""

    names: dict[str, str] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)


def sibling(path: Path, suffix: str) -> Path | None:
    """The file beside ``path`` with the same stem and ``suffix``, in any letter case."""
    exact = path.with_suffix(suffix)
    if exact.exists():
        return exact
    stem = path.stem.lower()
    for other in path.parent.iterdir():
        if other.stem.lower() == stem and other.suffix.lower() == suffix:
            return other
    return None


def parts(shp: Path) -> Parts:
    """The parts of the shapefile ``shp``, each checked to be whole; MissingPart names the one that
    is not there and says where to find it."""
    found = {suffix: sibling(shp, suffix) for suffix in PARTS}
    for suffix, role in ((".dbf", "its attributes"), (".shx", "the index of its shapes")):
        if found[suffix] is None:
            raise MissingPart(f"{shp.name} came without {shp.stem}{suffix}, which holds {role}: add the {suffix} "
                              "from the same export (every file of the same name) and upload them together",
                              file=shp.name, parameter="file")
    result = Parts(found[".shp"], found[".shx"], found[".dbf"], found[".prj"], found[".cpg"])
    _check_shp(result.shp)
    index = _check_shp(result.shx)
    records = _check_dbf(result.dbf)
    if (index - 100) // 8 != records:
        raise UnreadableFile(f"{result.shx.name} indexes {(index - 100) // 8} shapes but {result.dbf.name} holds "
                             f"{records} records: the files come from different exports. Upload the .shp, .shx and "
                             ".dbf of one export together", file=result.dbf.name, parameter="file")
    return result


def _whole(path: Path, declared: int, actual: int) -> None:
    if actual < declared:
        raise UnreadableFile(f"{path.name} is cut short: its header says {declared:,} bytes but the file has "
                             f"{actual:,}, so its last records are missing. Upload it again (the copy or the "
                             "upload was interrupted)", file=path.name, parameter="file")


def _empty(path: Path) -> None:
    raise EmptyFile(f"{path.name} is empty (0 bytes): upload the file again from the original export",
                    file=path.name, parameter="file")


def _check_shp(path: Path) -> int:
    """The length a .shp or .shx declares, checked against its size."""
    size = path.stat().st_size
    if size == 0:
        _empty(path)
    with open(path, "rb") as fh:
        head = fh.read(100)
    if len(head) < 100 or struct.unpack(">i", head[:4])[0] != _SHP_CODE:
        raise UnreadableFile(f"{path.name} is not a shapefile part (its header is not one): export the layer "
                             "again as a Shapefile", file=path.name, parameter="file")
    declared = struct.unpack(">i", head[24:28])[0] * 2
    _whole(path, declared, size)
    return declared


def _check_dbf(path: Path) -> int:
    """The number of records of a .dbf, checked against its size."""
    size = path.stat().st_size
    if size == 0:
        _empty(path)
    with open(path, "rb") as fh:
        head = fh.read(32)
    if len(head) < 32:
        _whole(path, 32, size)
    records, header, record = struct.unpack("<IHH", head[4:12])
    if header < 33 or record < 1:
        raise UnreadableFile(f"{path.name} is not a dBase file (its header is not one): export the layer again "
                             "as a Shapefile", file=path.name, parameter="file")
    _whole(path, header + records * record, size)
    return records


def declared_encoding(cpg: Path | None) -> str | None:
    """The encoding a ``.cpg`` names (``UTF-8``, ``GBK``, ``936``...), or None."""
    if cpg is None:
        return None
    text = cpg.read_bytes()[:64].decode("ascii", errors="ignore").strip()
    return text or None


# -- full names ----------------------------------------------------------------------------------
def mapping(shp: Path) -> Mapping:
    """Full names and titles of the fields of ``shp``: from our export's ``fields.csv`` beside it
    (columns layer, shapefile_field, field, title_zh, title_en, type), else from ArcGIS's
    ``<name>.shp.xml`` (each ``attr``'s ``attrlabl`` and its alias ``attalias``); empty if neither."""
    fields_csv = next((p for p in shp.parent.iterdir() if p.name.lower() == "fields.csv"), None)
    if fields_csv is not None and fields_csv.stat().st_size <= _MAX_SIDE_FILE:
        found = _from_fields_csv(fields_csv, shp.stem)
        if found.names or found.titles:
            return found
    xml = next((p for p in shp.parent.iterdir() if p.name.lower() == f"{shp.name.lower()}.xml"), None)
    if xml is not None and xml.stat().st_size <= _MAX_SIDE_FILE:
        return _from_shp_xml(xml)
    return Mapping()


def _from_fields_csv(path: Path, layer: str) -> Mapping:
    out = Mapping()
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (UnicodeDecodeError, csv.Error):
        return out  # not ours: the fields keep their names
    for row in rows:
        if (row.get("layer") or "").lower() != layer.lower() or not row.get("shapefile_field") or not row.get("field"):
            continue
        full = row["field"]
        if full != row["shapefile_field"]:
            out.names[row["shapefile_field"]] = full
        title = " ".join(t for t in (row.get("title_zh"), row.get("title_en")) if t)
        if title:
            out.titles[full] = title
        if row.get("type"):
            out.types[full] = row["type"]
    return out


def _from_shp_xml(path: Path) -> Mapping:
    out = Mapping()
    data = path.read_bytes()
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        return out  # ArcGIS writes neither; entities are how XML bombs and file reads are made
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return out
    seen: set[str] = set()
    for attr in root.iter("attr"):
        label = (attr.findtext("attrlabl") or "").strip()
        alias = (attr.findtext("attalias") or "").strip()
        if not label or not alias or alias == label or alias in seen:
            continue
        seen.add(alias)
        out.names[label] = alias
        out.titles[alias] = alias
    return out
