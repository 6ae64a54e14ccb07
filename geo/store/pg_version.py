"""The PostGIS store's version: the head table's revision id and oid, read once a request
(``pin_version``) and, for a caller with a question of its own on every request, in the same
statement as that question (``version_with``). A request that says ahead which feature it will read
by id (``read_ahead``) has it read in that statement too: one round trip for the version, the
accounts' hidden layers and the feature, where it took two."""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

import psycopg
from psycopg import sql

from ..errors import StoreError

#: the versions pinned in this context (``PostGISStore.pin_version``): {(conninfo, schema): version},
#: a read said ahead {("ahead", conninfo, schema): (layer, query)} and, once read, its rows
#: {("read ahead", conninfo, schema): (what was read, the version read with it, the rows)}
_PINS: ContextVar[dict | None] = ContextVar("atlas_pg_versions", default=None)


@contextmanager
def _pinned(store):
    if _PINS.get() is not None:  # already in one (a nested pin): the outer one holds
        yield
        return
    token = _PINS.set({})
    try:
        yield
    finally:
        _PINS.reset(token)



def _stamp(row) -> str:
    """The version of a row (the head's revision id, its table's oid, …)."""
    return f"pg-{row[1]:x}-{row[0]:x}"


class PostGISVersion:
    """The version methods of ``PostGISStore`` (its ``_run``, ``_t``, ``_pin_key``)."""

    def pin_version(self):
        """The version read once in this context (a request) and answered again to every store of
        this schema (``version()``, the schema, the counts keyed by it): one round trip a request
        instead of one a call. A write of this store in it forgets it (``_unpin``); the next
        request, here or on another server, asks the database again, so any change is seen."""
        return _pinned(self)

    def _unpin(self) -> None:
        pins = _PINS.get()
        if pins is not None:
            for key in (self._pin_key, ("ahead", *self._pin_key), ("read ahead", *self._pin_key)):
                pins.pop(key, None)

    # -- a feature by id, read in the version's statement -----------------------------------------
    def read_ahead(self, layer: str, query) -> None:
        """Remember that this request will read ``query`` (one feature by id, nothing else) of
        ``layer``: the version's statement, when it is still to be read, reads it too."""
        pins = _PINS.get()
        if (pins is None or self._pin_key in pins or query.ids is None or len(query.ids) != 1
                or query.limit != 1 or query.offset or not query.by_ids_only()):
            return
        pins[("ahead", *self._pin_key)] = (layer, query)

    def _ahead_key(self, layer: str, query) -> tuple:
        return (layer, tuple(str(i) for i in query.ids), query.limit, query.columns)

    def _ahead_statement(self, more: sql.Composable):
        """(the version's statement with the feature said ahead beside it, its parameters, what it
        reads) or None: rendered from the schema this process last read, so it is used only when
        the version read with it is that schema's (else the feature is read again, after)."""
        pins = _PINS.get()
        wanted = None if pins is None else pins.pop(("ahead", *self._pin_key), None)
        if wanted is None or self._schema_cache is None:
            return None
        layer, query = wanted
        stamp, schema = self._schema_cache
        meta = schema.get(layer)
        if meta is None or self.key not in meta["fields"]:
            return None
        columns = self._columns(layer, meta, query)
        shape = ("ahead", layer, tuple(columns), more.as_string(None))

        def render():  # the statement's text (psycopg converts a text it has seen once, from its cache)
            conds, _ = self._conditions(layer, meta, query)
            select = self._feature_select(layer, meta, columns)
            return sql.SQL(
                "SELECT h.id, h.tableoid::bigint{more}, f.* FROM {head} AS h LEFT JOIN LATERAL "
                "(SELECT true AS found, {select} FROM {table} AS t WHERE {where} ORDER BY t.fid LIMIT 1) AS f ON true"
            ).format(more=more, head=self._t("atlas_head"), select=select, table=self._t(layer),
                     where=sql.SQL(" AND ").join(conds)).as_string(None)
        return self._cached(shape, render), [[str(i) for i in query.ids]], (stamp, self._ahead_key(layer, query))

    def _ahead_rows(self, layer: str, query):
        """The rows of ``records(layer, query)`` read beside the version, or None (not read so, or
        read at another version than the schema that rendered it)."""
        pins = _PINS.get()
        if pins is None or query.ids is None:
            return None
        got = pins.get(("read ahead", *self._pin_key))
        if got is None or got[0] != self._ahead_key(layer, query):
            return None
        del pins[("read ahead", *self._pin_key)]
        _, stamp, rows = got
        return rows if pins.get(self._pin_key) == stamp else None

    def version(self) -> str:
        return self.version_with(None)[0]

    def version_with(self, beside: sql.Composable | None) -> tuple[str, object]:
        """(the version, the value of the SQL expression ``beside``), read in one statement: a caller
        with a question of its own to this database on every request (the accounts' hidden layers)
        asks it in the round trip of the version. The version is pinned as ``version()`` pins it;
        ``beside`` None: the version alone (the value None)."""
        pins = _PINS.get()
        if pins is not None and self._pin_key in pins:
            if beside is None:
                return pins[self._pin_key], None
            value = self._run("reading beside the version",
                              lambda con: con.execute(sql.SQL("SELECT ") + beside).fetchone()[0])
            return pins[self._pin_key], value
        stamp, value = self._read_version(beside)
        if pins is not None and stamp != "none":  # a store not built yet is asked again
            pins[self._pin_key] = stamp
        return stamp, value

    def _read_version(self, beside: sql.Composable | None = None) -> tuple[str, object]:
        more = sql.SQL("") if beside is None else sql.SQL(", ({})").format(beside)
        ahead = self._ahead_statement(more)

        def read(con):
            if ahead is not None:
                statement, params, (schema_stamp, key) = ahead
                try:
                    row = con.execute(statement, params).fetchone()
                except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn):
                    row = None  # the store or the layer changed since its schema was read: asked plainly
                if row is not None:
                    stamp = _stamp(row)
                    value = row[2] if beside is not None else None
                    found = row[3 if beside is not None else 2:]
                    if stamp == schema_stamp:
                        _PINS.get()[("read ahead", *self._pin_key)] = (key, stamp, [found[1:]] if found[0] else [])
                    return stamp, value
            try:
                # the head table's oid: a store replaced by a copy is a new table, even at the same revision
                row = con.execute(sql.SQL("SELECT id, tableoid::bigint{} FROM {}").format(
                    more, self._t("atlas_head"))).fetchone()
            except psycopg.errors.UndefinedTable:
                value = None if beside is None else con.execute(sql.SQL("SELECT ") + beside).fetchone()[0]
                return "none", value
            return _stamp(row), (row[2] if beside is not None else None)
        try:
            return self._run("reading the version", read)
        except StoreError:
            if beside is not None:  # the caller's question failed, or the database: the caller is told
                raise
            return "none", None
