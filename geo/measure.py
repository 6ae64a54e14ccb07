"""Areas and lengths, always measured in EPSG:4550 (CGCS2000 GK CM 123E), never in degrees."""
from __future__ import annotations

import numpy as np
import shapely

from .crs import GK_CM123E, WGS84, reproject

#: 1 亩 (mu) = 10000/15 m² ≈ 666.67 m².
M2_PER_MU = 10000.0 / 15.0
M2_PER_HECTARE = 10000.0


def measure(geoms, crs: str = WGS84) -> dict[str, np.ndarray]:
    """Vectorised measures of geometries given in ``crs``.

    Returns arrays ``area_m2``, ``area_ha``, ``area_mu`` (0 for points and lines) and ``length_km``
    (the perimeter is not reported as a length: 0 for polygons and points).
    """
    projected = reproject(geoms, crs, GK_CM123E)
    dims = shapely.get_dimensions(projected)
    area = np.where(dims == 2, shapely.area(projected), 0.0)
    length = np.where(dims == 1, shapely.length(projected), 0.0)
    return {
        "area_m2": np.round(area, 1),
        "area_ha": np.round(area / M2_PER_HECTARE, 2),
        "area_mu": np.round(area / M2_PER_MU, 1),
        "length_km": np.round(length / 1000.0, 3),
    }
