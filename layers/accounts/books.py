"""Where the accounts database lives: one SQLite file (one machine: ``SQLiteBook``) or the app's
schema of the PostGIS store's PostgreSQL (several app servers: ``PostgresBook``). Both give
``transaction(write)`` a connection whose ``execute(sql, args)`` takes SQLite's ``?`` placeholders
and returns rows read by index or by name, so ``Accounts`` writes its SQL once."""
from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import closing, contextmanager
from pathlib import Path

from geo.errors import StoreError
from psycopg import sql

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY COLLATE NOCASE, role TEXT NOT NULL, hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0, failed_logins INTEGER NOT NULL DEFAULT 0, locked_until TEXT,
    created TEXT NOT NULL, last_login TEXT, generation INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS grants (
    user TEXT NOT NULL COLLATE NOCASE REFERENCES users(name) ON DELETE CASCADE, layer TEXT NOT NULL,
    PRIMARY KEY (user, layer));
CREATE TABLE IF NOT EXISTS layer_settings (layer TEXT PRIMARY KEY, hidden INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS tokens (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, owner TEXT NOT NULL COLLATE NOCASE REFERENCES users(name),
    role TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created TEXT NOT NULL, last_used TEXT, revoked TEXT);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, time TEXT NOT NULL, user TEXT, address TEXT, action TEXT NOT NULL,
    outcome TEXT NOT NULL, detail TEXT);
CREATE INDEX IF NOT EXISTS events_time ON events(time);
"""


class SQLiteBook:
    """The accounts in one SQLite file, WAL mode, a connection a call (safe across threads and
    forked workers); readers on a kept connection of their thread."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._readers = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():  # password hashes: readable by the server's user only
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
            with closing(sqlite3.connect(self.path, timeout=10)) as db:
                db.execute("PRAGMA busy_timeout=10000")
                db.execute("PRAGMA journal_mode=WAL")
                db.executescript(SQLITE_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError("the accounts database cannot be opened; the operator has been told (see the log)",
                             internal=f"{self.path}: {exc}") from exc

    def hidden_with_version(self, store) -> None:
        """Nothing to share a round trip with: the accounts read on their own."""
        return None

    @contextmanager
    def transaction(self, write: bool):
        """A writing one on a connection of its own (BEGIN IMMEDIATE: writers queue); a reading one
        on this thread's kept connection, taking no lock (in WAL mode readers never wait)."""
        if write:
            with closing(self._connect()) as db:
                db.execute("PRAGMA foreign_keys=ON")
                yield from _transaction(db, "BEGIN IMMEDIATE")
            return
        db = getattr(self._readers, "db", None)
        if db is None or self._readers.pid != os.getpid():  # a forked worker opens its own
            db = self._readers.db = self._connect()
            self._readers.pid = os.getpid()
        yield from _transaction(db, "BEGIN")

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout=10000")
        return db


def _transaction(db: sqlite3.Connection, begin: str):
    db.execute(begin)
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


class Row:
    """A row read by position or by column name, and ``dict(row)`` (as ``sqlite3.Row``)."""

    __slots__ = ("_names", "_values")

    def __init__(self, names: tuple[str, ...], values):
        self._names, self._values = names, tuple(values)

    def keys(self):
        return list(self._names)

    def __getitem__(self, key):
        return self._values[key if isinstance(key, int) else self._names.index(key)]

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)


def _rows(cursor):
    names = tuple(c.name for c in cursor.description or ())
    return lambda values: Row(names, values)


class _PgConnection:
    """A psycopg connection speaking SQLite's ``?`` placeholders (the accounts' SQL has no ``%``)."""

    def __init__(self, con):
        self._con = con

    def execute(self, query: str, args=()):
        cur = self._con.cursor(row_factory=_rows)
        cur.execute(query.replace("?", "%s"), tuple(args))
        return cur

    def executemany(self, query: str, seq):
        cur = self._con.cursor()
        cur.executemany(query.replace("?", "%s"), [tuple(a) for a in seq])
        return cur


#: the advisory lock (second key) every writer of the accounts takes: they queue as SQLite's do
_WRITERS = 1


class PostgresBook:
    """The accounts in the app's schema of PostgreSQL (``layers.shared.pg``): shared by every app
    server. Writers serialise on an advisory lock (as BEGIN IMMEDIATE does in SQLite: a failed
    login's count is read and written by one at a time); readers take none, and see each statement's own snapshot."""

    path = None

    def __init__(self, database):
        self.database = database
        database.create()

    def hidden_with_version(self, store) -> frozenset[str] | None:
        """The hidden layers, read in the statement that reads ``store``'s version when the store is
        in this database (one round trip on every request instead of two); None when it is not."""
        together = getattr(store, "version_with", None)
        if together is None or getattr(store, "conninfo", None) != self.database.conninfo:
            return None
        self.database.create()
        beside = sql.SQL("ARRAY(SELECT layer FROM {} WHERE hidden <> 0)").format(self.database.t("layer_settings"))
        return frozenset(together(beside)[1] or ())

    @contextmanager
    def transaction(self, write: bool):
        """A writing one: a transaction holding the writers' lock. A reading one: an autocommit
        connection, each statement its own snapshot (a read of one statement, such as the hidden
        layers checked on every request, is one round trip to the database)."""
        if not write:
            with self.database.connection("reading the accounts") as con:
                yield _PgConnection(con)
            return
        with self.database.transaction("the accounts", lock=_WRITERS) as con:
            yield _PgConnection(con)
