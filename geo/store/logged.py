"""The changes of a large revision as a sequence read from the log when asked for: a revision that
wrote a million features does not hold a million ``Change`` objects (``revisions.append``)."""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import closing

from .base import Change


def _loads(text):
    return None if text is None else json.loads(text)


class StoredChanges(Sequence):
    """The changes of a large revision, read from the store's log when they are asked for (a
    revision of a million features does not hold them all in memory). A read-only sequence of
    ``Change``; equal to a tuple of the same changes."""

    _BATCH = 5000

    def __init__(self, path: str, rid: int, count: int):
        self.path, self.rid, self.count = str(path), int(rid), int(count)

    def __len__(self) -> int:
        return self.count

    def _rows(self, start: int, stop: int):
        with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as con:
            for low in range(start, stop, self._BATCH):
                for r in con.execute("SELECT layer, key, op, before, before_geom, after, after_geom FROM "
                                     "gpkg_atlas_changes WHERE rev = ? AND seq >= ? AND seq < ? ORDER BY seq",
                                     (self.rid, low, min(stop, low + self._BATCH))):
                    yield Change(r[0], r[1], r[2], _loads(r[3]), r[4], _loads(r[5]), r[6])

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
        if isinstance(other, (tuple, list, StoredChanges)):
            return len(self) == len(other) and tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self):
        return hash((self.path, self.rid, self.count))

    def __repr__(self) -> str:
        return f"StoredChanges(revision {self.rid}, {self.count} changes)"


def _loads(text):
    return None if text is None else json.loads(text)
