"""Tiles read from a PMTiles file (version 3, the Protomaps single-file archive, read by the
``pmtiles`` package): a header, directories of tile ids along a Hilbert curve, and the tiles.
Read-only, memory-mapped once per file and version of it (its modification time), so any thread
may read; the same answers as ``mbtiles``: ``metadata`` (format, name, minzoom, maxzoom, bounds,
attribution) and ``read_tile`` (XYZ, rows from the north; None where the file has no tile)."""
from __future__ import annotations

import gzip
import mmap
import threading
from functools import lru_cache
from pathlib import Path

from pmtiles.reader import Reader
from pmtiles.tile import Compression, TileType

from ..errors import InvalidParameter, StoreError

#: The tile types the atlas serves, as the MBTiles ``format`` names them.
FORMATS = {TileType.PNG: "png", TileType.JPEG: "jpg", TileType.WEBP: "webp", TileType.MVT: "pbf"}
_lock = threading.Lock()


@lru_cache(maxsize=16)
def _open(path: str, mtime_ns: int) -> tuple[Reader, dict]:
    try:
        with open(path, "rb") as f:
            mapping = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as exc:  # ValueError: an empty file cannot be mapped
        raise StoreError("a basemap file could not be opened", internal=f"{path}: {exc}") from None
    reader = Reader(lambda offset, length: mapping[offset:offset + length])
    try:
        header = reader.header()
    except Exception as exc:  # not "PMTiles" at its start, a short or unknown header
        raise StoreError("a basemap file is not a PMTiles file (version 3)", internal=f"{path}: {exc}") from None
    if header.get("version") != 3:
        raise StoreError("a basemap file is a PMTiles file of another version than 3; convert it with "
                         "'pmtiles convert'", internal=f"{path}: version {header.get('version')}")
    return reader, header


def _reader(path: Path) -> tuple[Reader, dict]:
    with _lock:
        return _open(str(path), path.stat().st_mtime_ns)


def metadata(path: Path) -> dict[str, str]:
    """The file's metadata in MBTiles' words; StoreError when it is not a PMTiles file the atlas
    can serve (a tile type or compression it cannot)."""
    reader, header = _reader(path)
    fmt = FORMATS.get(header["tile_type"])
    if fmt is None:
        raise StoreError("a basemap file has a tile format the atlas cannot serve",
                         internal=f"{path}: tile type {header['tile_type'].name}; accepted: png, jpg, webp, mvt")
    if header["tile_compression"] not in (Compression.NONE, Compression.GZIP, Compression.UNKNOWN):
        raise StoreError("a basemap file's tiles are compressed in a way the atlas cannot serve",
                         internal=f"{path}: tile compression {header['tile_compression'].name}; accepted: none, gzip")
    try:
        extra = reader.metadata()
    except Exception as exc:  # a metadata block that is not JSON
        raise StoreError("a basemap file's metadata cannot be read", internal=f"{path}: {exc}") from None
    meta = {k: str(v) for k, v in (extra.items() if isinstance(extra, dict) else ()) if isinstance(v, (str, int, float))}
    bounds = [header[k] / 1e7 for k in ("min_lon_e7", "min_lat_e7", "max_lon_e7", "max_lat_e7")]
    meta.update(format=fmt, minzoom=str(header["min_zoom"]), maxzoom=str(header["max_zoom"]),
                bounds=",".join(f"{v:.7f}" for v in bounds))
    return meta


def read_tile(path: Path, z: int, x: int, y: int) -> bytes | None:
    """The tile ``z/x/y`` (XYZ, rows from the north), uncompressed, or None when the file has none there."""
    if not 0 <= z <= 30 or not (0 <= x < 1 << z and 0 <= y < 1 << z):
        raise InvalidParameter(f"no tile {z}/{x}/{y}: x and y at zoom z are from 0 to 2^z - 1", parameter="z")
    reader, header = _reader(path)
    if not header["min_zoom"] <= z <= header["max_zoom"]:
        return None
    try:
        data = reader.get(z, x, y)
    except Exception as exc:  # a broken directory
        raise StoreError("a basemap tile could not be read", internal=f"{path}: {exc}") from None
    if data is None:
        return None
    data = bytes(data)
    if header["tile_compression"] == Compression.GZIP:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise StoreError("a basemap tile could not be read", internal=f"{path}: {exc}") from None
    return data
