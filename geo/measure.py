"""Areas and lengths, always measured in EPSG:4550 (CGCS2000 GK CM 123E), never in degrees."""
from __future__ import annotations

import numpy as np
import shapely

from .crs import GK_CM123E, WGS84, reproject

#: 1 亩 (mu) = 10000/15 m² ≈ 666.67 m².
M2_PER_MU = 10000.0 / 15.0
M2_PER_HECTARE = 10000.0
M2_PER_KM2 = 1_000_000.0
#: The coordinate system every area and length of the atlas is measured in.
MEASURE_CRS = GK_CM123E
#: A buffer's circle is a polygon of 4 x BUFFER_QUAD_SEGS sides: its area within 0.04% of π r².
BUFFER_QUAD_SEGS = 32


def projected(geoms, crs: str = WGS84) -> np.ndarray:
    """Geometries given in ``crs`` as an array in the measuring system (EPSG:4550)."""
    return reproject(geoms, crs, MEASURE_CRS)


def repaired(geoms) -> np.ndarray:
    """``geoms`` with every invalid shape made valid (``make_valid``; a missing one stays missing):
    projecting can make a valid ring cross itself, and an overlay of an invalid shape fails."""
    geoms = np.array(geoms, dtype=object)
    broken = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    if broken.any():
        geoms[broken] = shapely.make_valid(geoms[broken])
    return geoms


def projected_valid(geoms, crs: str = WGS84) -> np.ndarray:
    """``projected``, then ``repaired``: shapes in EPSG:4550 fit for an overlay."""
    return repaired(projected(geoms, crs))


def raw_measures(geoms_4550) -> tuple[np.ndarray, np.ndarray]:
    """Unrounded (area in m², length in m) of geometries already in EPSG:4550: the area of areas
    (0 for lines and points), the length of lines (0 for areas, whose perimeter is not a length,
    and for points). Sums of many features are taken from these, and rounded once."""
    geoms_4550 = np.asarray(geoms_4550, dtype=object)
    dims = shapely.get_dimensions(geoms_4550)
    area = np.where(dims == 2, shapely.area(geoms_4550), 0.0)
    length = np.where(dims == 1, shapely.length(geoms_4550), 0.0)
    return np.nan_to_num(area), np.nan_to_num(length)


def measure(geoms, crs: str = WGS84) -> dict[str, np.ndarray]:
    """Vectorised measures of geometries given in ``crs``.

    Returns arrays ``area_m2``, ``area_ha``, ``area_mu`` (0 for points and lines) and ``length_km``
    (the perimeter is not reported as a length: 0 for polygons and points).
    """
    geoms = np.asarray(geoms, dtype=object)
    lines_or_areas = shapely.get_dimensions(geoms) >= 1  # points measure 0 unprojected
    if lines_or_areas.all():
        area, length = raw_measures(projected(geoms, crs))
    else:
        area, length = np.zeros(len(geoms)), np.zeros(len(geoms))
        if lines_or_areas.any():
            area[lines_or_areas], length[lines_or_areas] = raw_measures(projected(geoms[lines_or_areas], crs))
    return {
        "area_m2": np.round(area, 1),
        "area_ha": np.round(area / M2_PER_HECTARE, 2),
        "area_mu": np.round(area / M2_PER_MU, 1),
        "length_km": np.round(length / 1000.0, 3),
    }
