"""The PostGIS store's connections: its URL's own options (``parse_url``; see ``pg``), one
psycopg_pool ConnectionPool a process per database and settings (autocommit, the statement
timeout, ISO dates, UTC), and psycopg's failures as the StoreError a user may see."""
from __future__ import annotations

import atexit
import os
import re
import threading
from contextlib import contextmanager
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from ..errors import StoreError

UNAVAILABLE = "the atlas's database cannot be read just now; the operator has been told (see the server log)"
_OWN = ("schema", "statement_timeout", "write_timeout", "pool_min", "pool_max", "pool_timeout")
_UNITS = {"": 1, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000}
_pools: dict[tuple, object] = {}
_pools_lock = threading.Lock()


def _millis(text: str, name: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*(ms|s|min|h|)\s*", str(text))
    if not m:
        raise StoreError(f"{name} in ATLAS_STORE must be a duration such as 30s, 500ms or 2min, got {text!r}")
    return int(m[1]) * _UNITS[m[2]]


def parse_url(url: str) -> tuple[str, dict]:
    """(the libpq URL without the store's options, the options)."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    own = {k: v for k, v in pairs if k in _OWN}
    rest = [(k, v) for k, v in pairs if k not in _OWN]
    schema = own.get("schema", "atlas")
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
        raise StoreError(f"schema in ATLAS_STORE must be lower-case letters, digits and '_', got {schema!r}")
    options = {"schema": schema,
               "statement_timeout": _millis(own.get("statement_timeout", "30s"), "statement_timeout"),
               "write_timeout": _millis(own.get("write_timeout", "10min"), "write_timeout"),
               "pool_min": int(own.get("pool_min", 1)), "pool_max": int(own.get("pool_max", 10)),
               "pool_timeout": _millis(own.get("pool_timeout", "10s"), "pool_timeout")}
    scheme = "postgresql" if parts.scheme in ("postgres", "postgresql") else parts.scheme
    # %20, not +, for a space: libpq decodes only %-escapes (options=-c%20a=1%20-c%20b=2)
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(rest, quote_via=quote), "")), options


def pool(conninfo: str, options: dict):
    """The process's pool for this database (a forked process makes its own)."""
    from psycopg_pool import ConnectionPool

    key = (os.getpid(), conninfo, options["statement_timeout"], options["pool_min"], options["pool_max"],
           options["pool_timeout"])
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            # the URL's own options (e.g. options=-c%20search_path%3D…) kept, the store's after them
            given = conninfo_to_dict(conninfo).get("options", "")
            # the plan cache as PostgreSQL keeps it (auto): a read whose plan depends on its values
            # is never prepared (``pg.planned``), so it is planned for its own values each run; one
            # by key is prepared after five runs and keeps its generic plan (planning the read of a
            # feature by id anew each time was a fifth of the database's time for it: 0.64 -> 0.51 ms)
            ours = f"-c statement_timeout={options['statement_timeout']} -c datestyle=ISO -c timezone=UTC"
            pool = ConnectionPool(conninfo, min_size=options["pool_min"], max_size=options["pool_max"], open=False,
                                  kwargs={"autocommit": True, "application_name": "weihai-atlas",
                                          "options": f"{given} {ours}".strip()},
                                  name="atlas", timeout=options["pool_timeout"] / 1000)
            pool.open(wait=False)
            _pools[key] = pool
        return pool


def close_pools() -> None:
    """Close every pool of this process (at exit; the tests before they stop their server)."""
    with _pools_lock:
        for key, pool in list(_pools.items()):
            if key[0] == os.getpid():
                pool.close()
            del _pools[key]


atexit.register(close_pools)


@contextmanager
def connection(conninfo: str, options: dict, what: str, schema: str):
    """A pooled autocommit connection of the database's pool; every psycopg failure, and a pool
    that gave none in time, a StoreError (``what`` and ``schema`` in its detail for the log)."""
    try:
        with pool(conninfo, options).connection() as con:
            yield con
    except psycopg.Error as exc:
        raise store_error(exc, f"{what} in schema {schema}", options) from exc
    except Exception as exc:
        if type(exc).__name__ == "PoolTimeout":
            raise store_error(exc, what, options) from exc
        raise


def store_error(exc: Exception, what: str, options: dict) -> StoreError:
    """A psycopg failure as the StoreError a user may see (its detail for the log only)."""
    internal = f"{what}: {type(exc).__name__}: {exc}"
    if isinstance(exc, psycopg.errors.QueryCanceled):
        seconds = options["statement_timeout"] / 1000
        return StoreError(f"the database took longer than its time limit ({seconds:g} s) to answer; ask for less "
                          "(a smaller area, a filter, fewer features a page) or try again when it is less busy",
                          internal=internal)
    if isinstance(exc, psycopg.OperationalError) or type(exc).__name__ == "PoolTimeout":
        return StoreError("the atlas's database cannot be reached just now; try again in a moment (the operator "
                          "has been told)", internal=internal)
    return StoreError(UNAVAILABLE, internal=internal)
