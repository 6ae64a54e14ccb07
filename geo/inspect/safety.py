"""Opening uploaded archives and XML without letting them harm the server.

A zip is checked whole, from its central directory, before one byte is extracted: every member's
path stays inside the target folder (no ``../``, no absolute or drive paths), no member is a link,
encrypted, a nested archive, or a duplicate; the members are few enough, and their total size and
compression ratio under the limits the caller passes. Extraction then counts the bytes it really
writes, so a header that lies about sizes cannot get past the total either. XML (KML) is parsed with
defusedxml and any DTD is refused: KML needs none, and entities are how XXE and billion-laughs work.
"""
from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import defusedxml
import defusedxml.ElementTree as SafeET

from ..errors import InvalidParameter, UnsafeFile

#: what a nested archive starts with; checked as well as the member's extension
_MAGIC = {b"PK\x03\x04": "zip", b"PK\x05\x06": "zip", b"\x1f\x8b": "gzip", b"7z\xbc\xaf\x27\x1c": "7z",
          b"Rar!\x1a\x07": "rar", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}
_ARCHIVE_EXTENSIONS = {".zip", ".kmz", ".7z", ".rar", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".tar", ".xlsx",
                       ".docx", ".jar"}
_CHUNK = 1 << 20
_UTF8_FLAG = 0x800


@dataclass(frozen=True)
class ArchiveLimits:
    """Limits for one uploaded archive; the import job passes its settings."""

    max_members: int = 2000
    max_total_bytes: int = 2 << 30          # uncompressed, all members together
    max_ratio: float = 200.0                # uncompressed / compressed, per member ...
    ratio_floor_bytes: int = 1 << 20        # ... for members larger than this (small files squeeze well)


@dataclass(frozen=True)
class Member:
    name: str          # as decoded (UTF-8, or GB18030 for the Chinese Windows zips without the UTF-8 flag)
    size: int
    compressed: int


def member_name(info: zipfile.ZipInfo) -> str:
    """A member's name. Without the UTF-8 flag, zipfile reads names as CP437; Chinese Windows tools
    write them in GBK, so the raw bytes are tried as UTF-8, then GB18030."""
    if info.flag_bits & _UTF8_FLAG:
        return info.filename
    try:
        raw = info.filename.encode("cp437")
    except UnicodeEncodeError:
        return info.filename
    for enc in ("utf-8", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return info.filename


def _refuse(archive: str, member: str | None, problem: str, todo: str, *, status: int | None = None) -> UnsafeFile:
    where = f"{archive}: {member}" if member else archive
    return UnsafeFile(f"{where}: {problem}; {todo}", file=archive, status=status)


def _safe_path(archive: str, name: str) -> PurePosixPath:
    text = name.replace("\\", "/")
    path = PurePosixPath(text)
    if any(ord(ch) < 32 for ch in text):
        raise _refuse(archive, repr(name), "the name holds control characters",
                      "rename the file with letters, digits or Chinese characters and zip it again")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":") or ".." in path.parts or not path.parts:
        raise _refuse(archive, name, "the path leaves the archive's folder (an absolute path or '..')",
                      "zip the files again from inside their folder, with relative paths")
    return path


def check_zip(path: Path | str, limits: ArchiveLimits, *, name: str | None = None) -> list[Member]:
    """The members of the zip at ``path`` (files only), or an UnsafeFile for the first problem.
    ``name`` is the file's name as uploaded, for messages."""
    path = Path(path)
    archive = name or path.name
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise InvalidParameter(f"{archive} is not a readable zip archive ({err}); upload it again, or zip the "
                               "files anew", parameter="file") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            raise _refuse(archive, None, f"it holds {len(infos):,} members, more than the {limits.max_members:,} "
                          "allowed", "upload only the files of the layer", status=413)
        seen: set[str] = set()
        members, total = [], 0
        for info in infos:
            mname = member_name(info)
            path_in = _safe_path(archive, mname)
            mode = info.external_attr >> 16
            if info.create_system == 3 and stat.S_ISLNK(mode):
                raise _refuse(archive, mname, "it is a symbolic link", "zip the real files, not links to them")
            if info.is_dir():
                continue
            if info.flag_bits & 0x1:
                raise _refuse(archive, mname, "it is encrypted", "zip the files again without a password")
            key = str(path_in).lower()
            if key in seen:
                raise _refuse(archive, mname, "the archive holds this name twice", "zip each file once")
            seen.add(key)
            if path_in.suffix.lower() in _ARCHIVE_EXTENSIONS or _sniff(zf, info) is not None:
                raise _refuse(archive, mname, "it is an archive inside the archive",
                              "unpack it and upload its files (a .kmz or .xlsx on its own, not inside a zip)")
            total += info.file_size
            if total > limits.max_total_bytes:
                raise _refuse(archive, None, f"its members unpack to more than {limits.max_total_bytes:,} bytes",
                              "split the data, or upload a smaller extract", status=413)
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > limits.ratio_floor_bytes and ratio > limits.max_ratio:
                raise _refuse(archive, mname, f"it unpacks {ratio:,.0f} times larger than it is packed (a zip bomb?), "
                              f"more than the {limits.max_ratio:,.0f} allowed", "upload the real files", status=413)
            members.append(Member(mname, info.file_size, info.compress_size))
    return members


def _sniff(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str | None:
    if info.file_size < 2:
        return None
    try:
        with zf.open(info) as f:
            head = f.read(8)
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError):
        return None  # unreadable members fail at extraction, with a message
    return next((kind for magic, kind in _MAGIC.items() if head.startswith(magic)), None)


def extract_zip(path: Path | str, dest: Path | str, limits: ArchiveLimits, *, name: str | None = None) -> list[Path]:
    """Check the zip at ``path`` and extract its files into the folder ``dest`` (made if missing);
    the extracted paths, in archive order. Any problem: an UnsafeFile, and what was written so far
    is removed."""
    path, dest = Path(path), Path(dest)
    archive = name or path.name
    check_zip(path, limits, name=archive)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    written: list[Path] = []
    total = 0
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                mname = member_name(info)
                target = (root / _safe_path(archive, mname)).resolve()
                if root not in target.parents:
                    raise _refuse(archive, mname, "the path leaves the archive's folder", "zip the files again "
                                  "from inside their folder")
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, target.open("xb") as out:
                    written.append(target)
                    while chunk := src.read(_CHUNK):
                        total += len(chunk)
                        if total > limits.max_total_bytes:
                            raise _refuse(archive, None, "its members unpack to more than "
                                          f"{limits.max_total_bytes:,} bytes", "upload a smaller extract", status=413)
                        out.write(chunk)
    except zipfile.BadZipFile as err:
        _remove(written)
        raise InvalidParameter(f"{archive} is damaged ({err}); upload it again, or zip the files anew",
                               parameter="file") from None
    except BaseException:
        _remove(written)
        raise
    return written


def _remove(paths: list[Path]) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


# -- XML -------------------------------------------------------------------------------------------
def _xml_refusal(name: str, err: Exception) -> UnsafeFile:
    if isinstance(err, defusedxml.DTDForbidden):
        problem = "it declares a DTD (<!DOCTYPE ...>), which KML never needs and XML attacks use"
    elif isinstance(err, defusedxml.EntitiesForbidden):
        problem = f"it declares the XML entity {err.name!r} (an external-entity or billion-laughs attack?)"
    elif isinstance(err, defusedxml.ExternalReferenceForbidden):
        problem = "it refers to an external resource"
    else:
        problem = str(err)
    return UnsafeFile(f"{name}: {problem}; save the file again from a GIS program, without the DOCTYPE",
                      file=name)


def parse_xml(source: Path | str | bytes, *, name: str | None = None):
    """The parsed XML (an ElementTree element) of a file or bytes, with DTDs, entities and external
    references refused as UnsafeFile; malformed XML is an InvalidParameter."""
    if isinstance(source, (bytes, bytearray)):
        label, data = name or "the XML file", bytes(source)
    else:
        label, data = name or Path(source).name, Path(source).read_bytes()
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException as err:
        raise _xml_refusal(label, err) from None
    except SafeET.ParseError as err:
        raise InvalidParameter(f"{label} is not well-formed XML ({err}); save it again from its program",
                               parameter="file") from None


def check_xml(path: Path | str, *, name: str | None = None) -> None:
    """Stream through the XML file at ``path`` (any size) and refuse it as parse_xml does; nothing is
    kept. For a KML that GDAL will read afterwards."""
    path = Path(path)
    label = name or path.name
    try:
        for _event, elem in SafeET.iterparse(str(path), events=("end",), forbid_dtd=True,
                                             forbid_entities=True, forbid_external=True):
            elem.clear()
    except defusedxml.DefusedXmlException as err:
        raise _xml_refusal(label, err) from None
    except SafeET.ParseError as err:
        raise InvalidParameter(f"{label} is not well-formed XML ({err}); save it again from its program",
                               parameter="file") from None
