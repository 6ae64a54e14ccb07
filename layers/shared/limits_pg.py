"""A storage for the ``limits`` library (Flask-Limiter's counters) in the app's PostgreSQL, so that
the login rate limit counts every attempt from an address whichever app server takes it. The
``limits`` package has storages for Redis, Memcached, MongoDB and memory, none for PostgreSQL; this
one implements its fixed-window counters (the strategy the atlas uses) on one table,
``<store schema>_app.limits(key, count, expires)``, each increment one statement. Times are the
database's, so app servers whose clocks differ count one window.

    Limiter(get_remote_address, storage_uri="atlas-postgresql://", storage_options={"database": db})
"""
from __future__ import annotations

import itertools

from limits.storage import Storage

from geo.errors import StoreError

#: every this many increments, counters that ended an hour ago are removed
_PRUNE_EVERY = 200

_INCR = """
INSERT INTO limits AS l (key, count, expires) VALUES (%s, %s, now() + make_interval(secs => %s))
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN l.expires <= now() THEN excluded.count ELSE l.count + excluded.count END,
    expires = CASE WHEN l.expires <= now() THEN excluded.expires ELSE l.expires END
RETURNING count"""


class PostgresLimits(Storage):
    """Fixed-window counters in ``database`` (a ``layers.shared.pg.AppDatabase``)."""

    STORAGE_SCHEME = ["atlas-postgresql"]
    DEPENDENCIES: list[str] = []

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, *, database=None, **options):
        if database is None:
            raise ValueError("PostgresLimits needs storage_options={'database': AppDatabase}")
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.database = database
        self._calls = itertools.count(1)

    @property
    def base_exceptions(self):
        return StoreError

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        with self.database.transaction("counting a rate limit") as con:
            count = con.execute(_INCR, (key, int(amount), float(expiry))).fetchone()[0]
            if next(self._calls) % _PRUNE_EVERY == 0:
                con.execute("DELETE FROM limits WHERE expires < now() - interval '1 hour'")
        return int(count)

    def get(self, key: str) -> int:
        with self.database.transaction("reading a rate limit") as con:
            row = con.execute("SELECT count FROM limits WHERE key = %s AND expires > now()", (key,)).fetchone()
        return 0 if row is None else int(row[0])

    def get_expiry(self, key: str) -> float:
        """When the key's window ends (seconds since the epoch, by the database's clock)."""
        with self.database.transaction("reading a rate limit") as con:
            row = con.execute("SELECT extract(epoch FROM expires)::float8, extract(epoch FROM now())::float8 "
                              "FROM limits RIGHT JOIN (SELECT 1) one ON key = %s", (key,)).fetchone()
        return float(row[0] if row[0] is not None else row[1])

    def check(self) -> bool:
        try:
            with self.database.transaction("checking the rate limits") as con:
                con.execute("SELECT 1 FROM limits LIMIT 1")
            return True
        except StoreError:
            return False

    def reset(self) -> int | None:
        with self.database.transaction("resetting the rate limits") as con:
            return con.execute("DELETE FROM limits").rowcount

    def clear(self, key: str) -> None:
        with self.database.transaction("clearing a rate limit") as con:
            con.execute("DELETE FROM limits WHERE key = %s", (key,))
