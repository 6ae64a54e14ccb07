"""A small reader of dBASE (.dbf) headers and raw field bytes: what the encoding inspector needs,
read without any DBF package and without decoding anything.

A DBF file is a 32-byte header (record count, header and record lengths, and at byte 29 the
"language driver" that names a code page), 32-byte field descriptors ended by 0x0D, then fixed-width
records, each a deletion flag (``*`` when deleted) and the fields' bytes side by side.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InvalidParameter

_HEADER = struct.Struct("<B3BIHH")  # version, yy mm dd, records, header length, record length
_TERMINATOR = 0x0D


@dataclass(frozen=True)
class DbfField:
    """One field descriptor; ``raw_name`` is the name's bytes (they too are in the file's encoding)."""

    raw_name: bytes
    type: str        # C text, N/F numbers, D date, L logical, M memo
    length: int
    decimals: int
    offset: int      # from the start of a record, the deletion flag being byte 0

    @property
    def is_text(self) -> bool:
        return self.type == "C"


@dataclass(frozen=True)
class DbfHeader:
    version: int
    records: int
    header_length: int
    record_length: int
    ldid: int                      # byte 29, the language driver id (0 when not set)
    fields: tuple[DbfField, ...]

    @property
    def text_fields(self) -> tuple[DbfField, ...]:
        return tuple(f for f in self.fields if f.is_text)


def _bad(name: str, problem: str) -> InvalidParameter:
    return InvalidParameter(f"{name} is not a readable dBASE (.dbf) file: {problem}; export the layer "
                            "again from its GIS program, with its .dbf next to the .shp", parameter="file")


def read_header(path: Path | str) -> DbfHeader:
    """The header and field descriptors of the .dbf at ``path``."""
    path = Path(path)
    with path.open("rb") as f:
        head = f.read(32)
        if len(head) < 32:
            raise _bad(path.name, f"it has {len(head)} bytes, fewer than a header")
        version, _yy, _mm, _dd, records, header_length, record_length = _HEADER.unpack_from(head)
        if header_length < 33 or record_length < 1:
            raise _bad(path.name, f"header length {header_length}, record length {record_length}")
        rest = f.read(header_length - 32)
    fields: list[DbfField] = []
    offset = 1
    for start in range(0, len(rest) - 31, 32):
        if rest[start] == _TERMINATOR:
            break
        desc = rest[start:start + 32]
        name = desc[:11].split(b"\x00", 1)[0]
        ftype = chr(desc[11])
        length, decimals = desc[16], desc[17]
        fields.append(DbfField(name, ftype, length, decimals, offset))
        offset += length
    if offset != record_length:
        raise _bad(path.name, f"its fields add up to {offset} bytes a record but the header says {record_length}")
    return DbfHeader(version, records, header_length, record_length, head[29], tuple(fields))


def read_records(path: Path | str, header: DbfHeader | None = None, *, limit: int | None = None) -> np.ndarray:
    """The first ``limit`` (all when None) records that are not deleted, as an (n, record_length)
    uint8 array. A file cut short yields the records it holds."""
    path = Path(path)
    header = header or read_header(path)
    count = header.records if limit is None else min(header.records, limit)
    with path.open("rb") as f:
        f.seek(header.header_length)
        data = f.read(count * header.record_length)
    count = len(data) // header.record_length
    rows = np.frombuffer(data, dtype=np.uint8, count=count * header.record_length)
    rows = rows.reshape(count, header.record_length)
    return rows[rows[:, 0] != ord("*")]


def column_bytes(rows: np.ndarray, field: DbfField, *, separator: bytes = b"\n") -> bytes:
    """One field's values of every row as one byte string, each value followed by ``separator``
    (fixed width: value i starts at i * (field.length + len(separator)))."""
    block = rows[:, field.offset:field.offset + field.length]
    if separator:
        sep = np.frombuffer(separator, dtype=np.uint8)
        block = np.concatenate([block, np.broadcast_to(sep, (len(block), len(sep)))], axis=1)
    return np.ascontiguousarray(block).tobytes()


def values(rows: np.ndarray, field: DbfField) -> list[bytes]:
    """One field's raw values, trailing blanks and NULs removed."""
    width = field.length
    raw = column_bytes(rows, field, separator=b"")
    return [raw[i * width:(i + 1) * width].rstrip(b" \x00") for i in range(len(rows))]
