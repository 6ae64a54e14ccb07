"""Mapbox Vector Tiles (version 2) of features in WGS84, encoded by the ``mapbox-vector-tile``
package: geometries moved into the tile's integer grid (``extent`` units a side), clipped to the
tile and a ``buffer`` around it, simplified to ``tolerance`` units, with their properties."""
from __future__ import annotations

from collections.abc import Sequence

import mapbox_vector_tile
import numpy as np
import shapely

from .grid import SIZE, to_pixels

EXTENT = 4096
#: Units beyond the tile's edge kept, so lines and outlines do not end at the edge.
BUFFER = 64


def tile_geometries(geoms, z: int, x: int, y: int, *, extent: int = EXTENT, buffer: int = BUFFER,
                    tolerance: float = 8.0) -> np.ndarray:
    """``geoms`` (WGS84) in the tile's grid (y down), clipped and simplified; empty where nothing
    of a feature is left in the tile."""
    scale = extent / SIZE

    def fn(coords):
        px, py = to_pixels(coords[:, 0], coords[:, 1], z, x, y)
        return np.column_stack([px * scale, py * scale])

    moved = shapely.transform(np.asarray(geoms, dtype=object), fn)
    if tolerance > 0:
        moved = shapely.simplify(moved, tolerance, preserve_topology=False)
    clipped = shapely.clip_by_rect(moved, -buffer, -buffer, extent + buffer, extent + buffer)
    return shapely.set_precision(clipped, 1.0)


def encode(layer: str, geoms, properties: Sequence[dict], z: int, x: int, y: int, *, ids: Sequence[int] | None = None,
           extent: int = EXTENT, buffer: int = BUFFER, tolerance: float = 8.0) -> bytes:
    """One tile with one layer named ``layer``: each feature's geometry and properties (values:
    text, numbers, booleans; None dropped); ``ids``: whole-number feature ids (MVT ids are
    unsigned integers), else none."""
    moved = tile_geometries(geoms, z, x, y, extent=extent, buffer=buffer, tolerance=tolerance)
    keep = np.flatnonzero(~shapely.is_empty(moved) & ~shapely.is_missing(moved))
    features = []
    for i in keep.tolist():
        feature = {"geometry": moved[i], "properties": {k: v for k, v in properties[i].items() if v is not None}}
        if ids is not None:
            feature["id"] = int(ids[i])
        features.append(feature)
    if not features:
        return b""
    return mapbox_vector_tile.encode(
        [{"name": layer, "features": features}],
        default_options={"extents": extent, "y_coord_down": True, "quantize_bounds": None,
                         "on_invalid_geometry": mapbox_vector_tile.encoder.on_invalid_geometry_make_valid})


def decode(data: bytes) -> dict:
    """A tile's layers as the package decodes them (for tests and tools): {layer: {"features": …}}."""
    return mapbox_vector_tile.decode(data, default_options={"y_coord_down": True})
