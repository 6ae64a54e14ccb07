"""The log's rows as text and back, for large writes (``revisions`` uses them): values as plain
JSON (``plain``), attributes written as canonical JSON a column at a time (``json_objects``), one
change as the hash's text (``item_text``) spooled to a temporary file as the rows are written
(``Spool``), and the changes of a large revision read from the log only when asked for
(``StoredChanges``): a revision that wrote a million features holds none of them in memory."""
from __future__ import annotations

import json
import math
import sqlite3
import tempfile
from collections.abc import Sequence
from contextlib import closing
from json.encoder import encode_basestring as _text

from .base import Change

_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def plain(value):
    """A value of a frame or a request as plain JSON (numpy/pandas scalars, NaN/NA -> None)."""
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool:  # the common case, first
        return value
    if kind is float:
        return None if math.isnan(value) else value
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return None
        if isinstance(value, pd.Timestamp):
            return value.date().isoformat()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


class Canonical(str):
    """Attributes already written as the log's canonical JSON (``dumps`` gives them as they are)."""

    __slots__ = ()


_NULL, _TRUE, _FALSE = "null", "true", "false"


def json_objects(columns: dict[str, list]) -> list[Canonical]:
    """``dumps`` of each row of ``columns`` ({field: its plain values: text, whole numbers,
    numbers, booleans or None}), made a column at a time: the same text, without a dict a row."""
    names = sorted(columns)
    if not names:
        return []
    pieces = []
    for name in names:
        prefix = _text(name) + ":"
        out = []
        for v in columns[name]:
            kind = type(v)
            if v is None:
                out.append(prefix + _NULL)
            elif kind is str:
                out.append(prefix + _text(v))
            elif kind is bool:
                out.append(prefix + (_TRUE if v else _FALSE))
            elif kind is int:
                out.append(prefix + int.__repr__(v))
            elif kind is float and math.isfinite(v):
                out.append(prefix + float.__repr__(v))
            else:
                out.append(prefix + _ENCODE(plain(v)))
        pieces.append(out)
    return [Canonical("{" + ",".join(row) + "}") for row in zip(*pieces)]


def item_text(c) -> str:
    """One stored change as the hash's canonical JSON: ``[layer, key, fid, op, before, before_geom
    as hex, after, after_geom as hex]`` (what ``_ENCODE`` of that list gives, made faster for the
    types the log holds; any other value goes through the encoder)."""
    layer, key, fid, op, before, bgeom, after, ageom = c
    if (type(layer) is str and type(key) is str and (fid is None or type(fid) is int) and type(op) is str
            and (before is None or type(before) is str) and (after is None or type(after) is str)
            and (bgeom is None or type(bgeom) is bytes) and (ageom is None or type(ageom) is bytes)):
        return ("[" + _text(layer) + "," + _text(key) + "," + (_NULL if fid is None else int.__repr__(fid)) + ","
                + _text(op) + "," + (_NULL if before is None else _text(before)) + ","
                + (_NULL if bgeom is None else '"' + bgeom.hex() + '"') + ","
                + (_NULL if after is None else _text(after)) + ","
                + (_NULL if ageom is None else '"' + ageom.hex() + '"') + "]")
    return _ENCODE([layer, key, fid, op, before, None if bgeom is None else bytes(bgeom).hex(), after,
                    None if ageom is None else bytes(ageom).hex()])


class Spool:
    """The hash's text of change rows written ahead of their revision (``GeoPackageWriter._spill``),
    kept in an unnamed temporary file beside the store (gone when closed, or if the process dies),
    so that the revision is hashed without holding them or reading them back from the log."""

    def __init__(self, folder):
        self.file = tempfile.TemporaryFile(dir=folder, prefix=".atlas-log-")  # noqa: SIM115 (closed by close)
        self.empty = True

    def add(self, rows) -> None:
        if rows:
            self.file.write(("" if self.empty else ",").encode() + ",".join(map(item_text, rows)).encode("utf-8"))
            self.empty = False

    def feed(self, digest) -> bool:
        """The text so far into ``digest``; whether there was any."""
        self.file.seek(0)
        while block := self.file.read(1 << 20):
            digest.update(block)
        return not self.empty

    def close(self) -> None:
        self.file.close()


def _loads(text):
    return None if text is None else json.loads(text)


class LazyChanges(Sequence):
    """The changes of a large revision, read from the store's log when they are asked for (a
    revision of a million features does not hold them all in memory). A read-only sequence of
    ``Change``; equal to a tuple of the same changes. A backend gives ``_rows(start, stop)`` (the
    changes of those positions, in order) and ``_where`` (the store it reads, for the hash)."""

    _BATCH = 5000
    rid: int
    count: int
    _where: str

    def _rows(self, start: int, stop: int):
        raise NotImplementedError

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        return self._rows(0, self.count)

    def __getitem__(self, index):
        if isinstance(index, slice):
            start, stop, step = index.indices(self.count)
            if step != 1:
                return tuple(self)[index]
            return tuple(self._rows(start, max(start, stop)))
        i = index + self.count if index < 0 else index
        if not 0 <= i < self.count:
            raise IndexError("revision change index out of range")
        return next(self._rows(i, i + 1))

    def __eq__(self, other):
        if isinstance(other, (tuple, list, LazyChanges)):
            return len(self) == len(other) and tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self):
        return hash((self._where, self.rid, self.count))

    def __repr__(self) -> str:
        return f"StoredChanges(revision {self.rid}, {self.count} changes)"


class StoredChanges(LazyChanges):
    """``LazyChanges`` of a GeoPackage store, read from its file."""

    def __init__(self, path: str, rid: int, count: int):
        self.path, self.rid, self.count = str(path), int(rid), int(count)
        self._where = self.path

    def _rows(self, start: int, stop: int):
        with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as con:
            for low in range(start, stop, self._BATCH):
                for r in con.execute("SELECT layer, key, op, before, before_geom, after, after_geom FROM "
                                     "gpkg_atlas_changes WHERE rev = ? AND seq >= ? AND seq < ? ORDER BY seq",
                                     (self.rid, low, min(stop, low + self._BATCH))):
                    yield Change(r[0], r[1], r[2], _loads(r[3]), r[4], _loads(r[5]), r[6])
