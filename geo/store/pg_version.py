"""The PostGIS store's version: the head table's revision id and oid, read once a request
(``pin_version``) and, for a caller with a question of its own on every request, in the same
statement as that question (``version_with``)."""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

import psycopg
from psycopg import sql

from ..errors import StoreError

#: the versions pinned in this context (``PostGISStore.pin_version``): {(conninfo, schema): version}
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
            pins.pop(self._pin_key, None)

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

        def read(con):
            try:
                # the head table's oid: a store replaced by a copy is a new table, even at the same revision
                row = con.execute(sql.SQL("SELECT id, tableoid::bigint{} FROM {}").format(
                    more, self._t("atlas_head"))).fetchone()
            except psycopg.errors.UndefinedTable:
                value = None if beside is None else con.execute(sql.SQL("SELECT ") + beside).fetchone()[0]
                return "none", value
            return f"pg-{row[1]:x}-{row[0]:x}", (row[2] if beside is not None else None)
        try:
            return self._run("reading the version", read)
        except StoreError:
            if beside is not None:  # the caller's question failed, or the database: the caller is told
                raise
            return "none", None
