"""Tiles read from an MBTiles file (SQLite; the MBTiles 1.3 specification): the ``tiles`` table
keyed by zoom, column and TMS row (counted from the south), and the ``metadata`` table (name,
format, bounds, minzoom, maxzoom, attribution). Read-only; one connection per call, so any thread
may read."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from ..errors import InvalidParameter, StoreError

#: The tile formats of the specification and their media types.
MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp",
               "pbf": "application/vnd.mapbox-vector-tile"}


def _connect(path: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as exc:
        raise StoreError("a basemap file could not be opened", internal=f"{path}: {exc}") from None


def metadata(path: Path) -> dict[str, str]:
    """The file's metadata; StoreError when it is not an MBTiles file."""
    con = _connect(path)
    try:
        rows = con.execute("SELECT name, value FROM metadata").fetchall()
        con.execute("SELECT 1 FROM tiles LIMIT 1").fetchall()
    except sqlite3.Error as exc:
        raise StoreError("a basemap file is not an MBTiles file", internal=f"{path}: {exc}") from None
    finally:
        con.close()
    meta = {str(k): str(v) for k, v in rows}
    fmt = meta.get("format", "png").lower()
    if fmt not in MEDIA_TYPES:
        raise StoreError("a basemap file has a tile format the atlas cannot serve",
                         internal=f"{path}: format {fmt!r}; accepted: {', '.join(MEDIA_TYPES)}")
    meta["format"] = fmt
    return meta


def read_tile(path: Path, z: int, x: int, y: int) -> bytes | None:
    """The tile ``z/x/y`` (XYZ, rows from the north) or None when the file has none there."""
    if not 0 <= z <= 30 or not (0 <= x < 1 << z and 0 <= y < 1 << z):
        raise InvalidParameter(f"no tile {z}/{x}/{y}: x and y at zoom z are from 0 to 2^z - 1", parameter="z")
    con = _connect(path)
    try:
        row = con.execute("SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
                          (z, x, (1 << z) - 1 - y)).fetchone()
    except sqlite3.Error as exc:
        raise StoreError("a basemap tile could not be read", internal=f"{path}: {exc}") from None
    finally:
        con.close()
    return None if row is None else bytes(row[0])
