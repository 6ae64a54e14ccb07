"""The attribute table's reads of the GeoPackage backend: order, keyset pages, ranges, per-field
substrings, rows without geometry, totals; and the sort indexes made when a large layer is first
sorted by a field.

All of it is parameterised SQL over the names of the layer's own columns (checked against the
schema, then quoted): no value of a request is ever pasted into a statement.

**Order.** ``ORDER BY f1 [DESC], …, key [DESC]``: the key last, in the direction of the last field,
so one index ``(field, key)`` serves a sort by that field both ways. SQLite sorts NULL as the
smallest value (first ascending, last descending), as its indexes keep it, so the index needs no
help with NULL.

**Keyset.** The rows after a cursor ``(v1, …, vk)`` of the order ``(f1, …, fk)`` are, in order,
the disjoint runs "equal on f1…f(i-1), beyond vi on fi" for i = k … 1 (beyond a value when
descending: below it, then NULL). Each run is an equality prefix and one range: an exact range
of the index ``(f1, key)`` for the runs that matter, so a deep page costs what the first page
costs. They are read one after another until the page is full (usually one or two statements).
OR-ing the runs into one WHERE instead leaves SQLite unable to start the index scan at the cursor.
An ``offset`` (the table's jump to a place it has no cursor for) is first turned into one: the
order's values of the row before it, read alone — from the index only, when nothing else is
filtered — then the page by keyset; skipping whole rows with their boxes costs ten to a hundred
times more.

**Sort indexes.** A layer of at least ``SORT_INDEX_MIN_ROWS`` rows sorted by a field with no index
that starts with ``(field, key)`` gets one, once (about 0.2 s for 100,000 rows), through a short
write transaction; at most ``MAX_SORT_INDEXES`` such indexes a layer (each one slows edits a little).
A store that cannot be written (a read-only file, a long write) is sorted without; the log says so.
Smaller layers are sorted by SQLite in memory, which is quicker than keeping an index.
"""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import replace

import numpy as np
import pandas as pd

from ..errors import InvalidParameter, StoreError
from . import order as ordering
from .base import Query, Rows, sort_order
from .gpkg_rows import UNAVAILABLE, attribute_columns, like_pattern, rows_to_frame
from .gpkg_rows import quote as _q

log = logging.getLogger(__name__)
SORT_INDEX_MIN_ROWS = 5_000
MAX_SORT_INDEXES = 16


def order_by(order) -> str:
    return "ORDER BY " + ", ".join(f"t.{_q(name)}{' DESC' if desc else ''}" for name, desc in order)


def keyset_runs(order, after) -> list[tuple[list[str], list]]:
    """The conditions of the runs after the cursor, in order (see the module's doc)."""
    runs = []
    for i in range(len(order) - 1, -1, -1):
        prefix, params = [], []
        for (name, _), value in zip(order[:i], after[:i]):
            prefix.append(f"t.{_q(name)} IS NULL" if value is None else f"t.{_q(name)} = ?")
            params += [] if value is None else [value]
        name, descending = order[i]
        column, value = f"t.{_q(name)}", after[i]
        if value is None:
            if not descending:
                runs.append((prefix + [f"{column} IS NOT NULL"], params))
            continue
        runs.append((prefix + [f"{column} {'<' if descending else '>'} ?"], params + [value]))
        if descending:
            runs.append((prefix + [f"{column} IS NULL"], params))
    return runs


class GeoPackageTable:
    """Mixed into ``GeoPackageStore``: uses its ``_layer``, ``_from``, ``_run``, ``_columns`` and
    caches."""

    def _table_conditions(self, layer: str, meta: dict, query: Query) -> tuple[list[str], list]:
        fields = meta["fields"]
        ordering.check_ranges(layer, fields, query.ranges)
        ordering.check_contains(layer, fields, query.contains)
        conds, params = [], []
        for name, (lo, hi) in query.ranges.items():
            column = f"t.{_q(name)}"
            conds.append(f"{column} IS NOT NULL")
            for op, value in ((">=", lo), ("<=", hi)):
                if value is not None:
                    conds.append(f"{column} {op} ?")
                    params.append(value)
        for name, text in query.contains.items():
            conds.append(f"t.{_q(name)} LIKE ? ESCAPE '\\'")
            params.append(like_pattern(text))
        return conds, params

    def _order_of(self, layer: str, meta: dict, query: Query):
        order = sort_order(query, self.key)
        ordering.check_order(layer, meta["fields"], order, self.key)
        ordering.check_after(order, query.after, query.offset)
        if query.limit is not None and query.limit < 0:
            raise InvalidParameter("limit must not be negative", parameter="limit")
        self._sort_index(layer, meta, order[0][0])
        return order

    def _statements(self, layer: str, meta: dict, query: Query, order, cols: str, join: str = "") -> list[tuple[str, list]]:
        """The statements of the ordered page, each to be given ``LIMIT ? OFFSET ?``."""
        tail = " " + order_by(order) + " LIMIT ? OFFSET ?"
        if query.after is None:
            base, params = self._from(layer, meta, query, join=join)
            return [(f"SELECT {cols} {base}{tail}", params)]
        out = []
        for conds, values in keyset_runs(order, tuple(query.after)):
            base, params = self._from(layer, meta, query, join=join, extra=(conds, values))
            out.append((f"SELECT {cols} {base}{tail}", params))
        return out

    def _seek(self, layer: str, meta: dict, query: Query, order) -> Query:
        """An offset as a cursor: the order's values of the row just before it, read alone (from the
        index when no other column is asked about), then the page by keyset. Skipping rows this way
        costs a fraction of skipping whole rows with their box looked up (100,000 rows: ~20 ms, not
        ~200 ms)."""
        if query.after is not None or not query.offset:
            return query
        base, params = self._from(layer, meta, query)
        cols = ", ".join(f"t.{_q(name)}" for name, _ in order)
        sql = f"SELECT {cols} {base} {order_by(order)} LIMIT 1 OFFSET ?"
        row = self._run(f"reading {layer}", lambda con: con.execute(sql, params + [query.offset - 1]).fetchone())
        return replace(query, offset=0, **({"ids": ()} if row is None else {"after": tuple(row)}))

    def _read_runs(self, what: str, statements, limit: int | None, offset: int) -> list[tuple]:
        def read(con):
            rows: list[tuple] = []
            for sql, params in statements:
                want = -1 if limit is None else limit - len(rows)
                rows += con.execute(sql, params + [want, offset]).fetchall()
                if limit is not None and len(rows) >= limit:
                    break
            return rows
        return self._run(what, read)

    def _ordered_rows(self, layer: str, query: Query) -> tuple[list[tuple], list[str], dict[str, str]]:
        meta = self._layer(layer)
        order = self._order_of(layer, meta, query)
        columns = self._columns(layer, meta, query)
        cols = ", ".join([*(f"t.{_q(c)}" for c in columns), f"t.{_q(meta['geom'])}"])
        rows = self._read_runs(f"reading {layer}", self._statements(layer, meta, query, order, cols),
                               query.limit, query.offset)
        return rows, columns, meta["fields"]

    def _ordered_stream(self, layer: str, query: Query, chunk_size: int):
        meta = self._layer(layer)
        order = self._order_of(layer, meta, query)
        columns = self._columns(layer, meta, query)
        cols = ", ".join([*(f"t.{_q(c)}" for c in columns), f"t.{_q(meta['geom'])}"])
        left = query.limit
        con = self._connect()  # one connection, one snapshot for the whole stream
        try:
            for sql, params in self._statements(layer, meta, query, order, cols):
                cursor = con.execute(sql, params + [-1 if left is None else left, query.offset])
                while rows := cursor.fetchmany(chunk_size):
                    if left is not None:
                        left -= len(rows)
                    yield rows_to_frame(rows, columns, meta["fields"])
                if left is not None and left <= 0:
                    return
        except sqlite3.Error as exc:
            raise StoreError(UNAVAILABLE, internal=f"streaming {layer} from {self.path}: {exc}") from exc
        finally:
            con.close()

    # -- the table's reads -----------------------------------------------------------------------
    def rows(self, layer: str, query: Query) -> Rows:
        if query.as_of is not None:
            return self._asof_rows(layer, query)
        meta = self._layer(layer)
        order = self._order_of(layer, meta, query) if sort_order(query, self.key) else ((self.key, False),)
        query = self._seek(layer, meta, query, order)
        columns = self._columns(layer, meta, query)
        extra = [n for n, _ in order if n not in columns]
        rtree = _q(f"rtree_{layer}_{meta['geom']}")
        cols = ", ".join([*(f"t.{_q(c)}" for c in [*columns, *extra]), "rb.minx", "rb.miny", "rb.maxx", "rb.maxy"])
        join = f" LEFT JOIN {rtree} AS rb ON rb.id = t.{_q(meta['fid'])}"
        limit = None if query.limit is None else query.limit + 1  # one more: whether a next page exists
        rows = self._read_runs(f"reading {layer}", self._statements(layer, meta, query, order, cols, join),
                               limit, query.offset)
        more = query.limit is not None and len(rows) > query.limit
        rows = rows[:query.limit] if more else rows
        names = [*columns, *extra]
        values = list(zip(*rows)) if rows else [()] * (len(names) + 4)
        frame = pd.DataFrame(attribute_columns(columns, values[:len(columns)], meta["fields"]), columns=columns)
        bounds = np.array(values[len(names):], dtype="float64").T.reshape(len(rows), 4)
        after = None
        if more:
            last = dict(zip(names, rows[-1]))
            after = tuple(last[n] for n, _ in order)
        return Rows(frame.reset_index(drop=True), bounds, after)

    def _table_totals(self, layer: str, meta: dict, query: Query, fields) -> dict:
        base, params = self._from(layer, meta, query)
        sums = "".join(f", SUM(t.{_q(f)})" for f in fields)
        sql = f"SELECT COUNT(*){sums} {base}"
        key = ("totals", self._schema_cache[0] if self._schema_cache else None, sql, tuple(params))
        with self._lock:
            if key in self._counts:
                self._counts.move_to_end(key)
                return dict(self._counts[key])
        row = self._run(f"totalling {layer}", lambda con: con.execute(sql, params).fetchone())
        found = {"count": int(row[0]), **dict(zip(fields, row[1:]))}
        with self._lock:
            self._counts[key] = found
            while len(self._counts) > 512:
                self._counts.popitem(last=False)
        return dict(found)

    # -- sort indexes ----------------------------------------------------------------------------
    def _sort_index(self, layer: str, meta: dict, name: str) -> None:
        """An index ``(name, key)`` on a large layer, made the first time it is sorted by ``name``."""
        if name == self.key or meta["fields"].get(name) in (None, "json") or self.key not in meta["fields"]:
            return
        stamp = (layer, name, self._schema_cache[0] if self._schema_cache else None)
        if stamp in self._indexed:
            return

        def look(con):
            n = con.execute(f"SELECT COUNT(*) FROM {_q(layer)}").fetchone()[0]
            mine, have = 0, False
            for row in con.execute(f"PRAGMA index_list({_q(layer)})").fetchall():
                cols = [c[2] for c in con.execute(f"PRAGMA index_info({_q(row[1])})").fetchall()]
                have = have or cols[:2] == [name, self.key]
                mine += row[1].startswith(f"idx_{layer}_sort_")
            return n, mine, have

        n, mine, have = self._run(f"reading the indexes of {layer}", look)
        if have or n < SORT_INDEX_MIN_ROWS or mine >= MAX_SORT_INDEXES:
            self._indexed[stamp] = have
            return
        index = f"idx_{layer}_sort_{name}"
        try:
            con = self._writer()
            try:
                con.execute("PRAGMA busy_timeout = 2000")
                con.execute(f"CREATE INDEX IF NOT EXISTS {_q(index)} ON {_q(layer)}({_q(name)}, {_q(self.key)})")
            finally:
                con.close()
            log.info("made the sort index %s (%d rows)", index, n)
        except sqlite3.Error as exc:
            log.warning("could not make the sort index %s on %s (%s); sorting without it", index, self.path, exc)
        self._indexed[stamp] = True
        self._schema()  # the index changed the schema cookie: the cached schema and counts follow
