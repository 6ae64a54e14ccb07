"""The XYZ tile grid of Web Mercator (EPSG:3857), as Leaflet, OpenStreetMap and MBTiles (with its
rows flipped) use it: tile ``z/x/y`` covers 1/2^z of the world's width, rows counted from the north.
World coordinates here are Web Mercator scaled to 0..1 (x east, y south)."""
from __future__ import annotations

import math

import numpy as np

from ..errors import InvalidParameter

SIZE = 256
MAX_ZOOM = 22
#: Web Mercator's limit of latitude (the world is square).
MAX_LAT = 85.0511287798066
EARTH_CIRCUMFERENCE = 40_075_016.685578488


def check_tile(z: int, x: int, y: int) -> tuple[int, int, int]:
    """``z/x/y`` as whole numbers within the grid, else InvalidParameter naming the bad one."""
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidParameter(f"tile zoom must be from 0 to {MAX_ZOOM}, got {z}", parameter="z")
    n = 1 << z
    for name, v in (("x", x), ("y", y)):
        if not 0 <= v < n:
            raise InvalidParameter(f"tile {name} at zoom {z} must be from 0 to {n - 1}, got {v}", parameter=name)
    return z, x, y


def to_world(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Longitude/latitude (degrees, arrays) to world coordinates 0..1 (y grows southward)."""
    lon = np.asarray(lon, dtype="float64")
    lat = np.clip(np.asarray(lat, dtype="float64"), -MAX_LAT, MAX_LAT)
    x = (lon + 180.0) / 360.0
    s = np.sin(np.radians(lat))
    y = 0.5 - np.log((1 + s) / (1 - s)) / (4 * math.pi)
    return x, y


def to_lonlat(x, y) -> tuple[np.ndarray, np.ndarray]:
    """World coordinates 0..1 back to longitude/latitude."""
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y, dtype="float64")
    lon = x * 360.0 - 180.0
    lat = np.degrees(np.arctan(np.sinh(math.pi * (1 - 2 * y))))
    return lon, lat


def tile_bounds(z: int, x: int, y: int, *, pad_px: float = 0.0) -> tuple[float, float, float, float]:
    """The tile's (west, south, east, north) in degrees, ``pad_px`` pixels larger on each side."""
    n = float(1 << z)
    pad = pad_px / SIZE
    (west, east), (north, south) = to_lonlat(np.array([x - pad, x + 1 + pad]) / n, np.array([y - pad, y + 1 + pad]) / n)
    return (max(-180.0, float(west)), max(-MAX_LAT, float(south)), min(180.0, float(east)), min(MAX_LAT, float(north)))


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The (x, y) of the tile at zoom ``z`` holding the place."""
    wx, wy = to_world(lon, lat)
    n = 1 << z
    return min(n - 1, max(0, int(wx * n))), min(n - 1, max(0, int(wy * n)))


def to_pixels(lon, lat, z: int, x: int = 0, y: int = 0, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Degrees to pixels of tile ``z/x/y`` drawn ``size`` pixels wide (tile 0/0 of zoom z: the world's pixels)."""
    wx, wy = to_world(lon, lat)
    scale = float(1 << z) * size
    return wx * scale - x * size, wy * scale - y * size


def metres_per_pixel(lat: float, z: int) -> float:
    """Ground metres of one 256-pixel tile's pixel at latitude ``lat`` and zoom ``z``."""
    return EARTH_CIRCUMFERENCE * math.cos(math.radians(lat)) / (SIZE * (1 << z))


def degrees_per_pixel(z: int) -> float:
    """Degrees of longitude in one pixel at zoom ``z`` (a tolerance for simplifying in degrees)."""
    return 360.0 / (SIZE * (1 << z))
