"""The feature under a click: the one nearest a place, within a few pixels at the map's zoom,
distances measured in the map's pixels (Web Mercator), so "near" means the same on screen at any
latitude and zoom. A polygon holding the place is at distance 0; among equals, the one drawn last
(on top) wins."""
from __future__ import annotations

import numpy as np
import shapely

from .grid import to_pixels


def nearest(geoms, lon: float, lat: float, z: int, *, tolerance_px: float = 5.0) -> int | None:
    """The index in ``geoms`` (WGS84) of the feature nearest (lon, lat) at zoom ``z``, if it is
    within ``tolerance_px`` pixels; None otherwise."""
    geoms = np.asarray(geoms, dtype=object)
    if not len(geoms):
        return None

    def fn(coords):
        px, py = to_pixels(coords[:, 0], coords[:, 1], z)
        return np.column_stack([px, py])

    moved = shapely.transform(geoms, fn)
    cx, cy = to_pixels(np.array([lon]), np.array([lat]), z)
    distance = shapely.distance(moved, shapely.points(float(cx[0]), float(cy[0])))
    distance = np.where(np.isnan(distance), np.inf, distance)
    best = float(distance.min())
    if best > tolerance_px:
        return None
    return int(np.flatnonzero(distance == best)[-1])
