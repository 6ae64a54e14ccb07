"""Synthetic data for benchmarks: many road lines over Weihai with the atlas's full schema."""
from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import shapely

from geo.measure import measure
from layers.catalog import FIELD_NAMES

#: Weihai city's extent (WGS84), and the city centre bbox used by the benchmarks.
WEIHAI = (121.2, 36.7, 122.7, 37.57)
CENTRE = (122.08, 37.48, 122.16, 37.54)


def road_lines(n: int = 100_000, vertices: int = 6, seed: int = 2026) -> gpd.GeoDataFrame:
    """``n`` wiggly lines of ``vertices`` points each (~1 km long), vectorised, in the road schema."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = WEIHAI
    start = np.column_stack([rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)])
    steps = rng.normal(0, 0.002, (n, vertices, 2))
    steps[:, 0, :] = 0
    coords = start[:, None, :] + np.cumsum(steps, axis=1)
    lines = shapely.linestrings(coords.reshape(-1, 2), indices=np.repeat(np.arange(n), vertices))
    geoms = shapely.multilinestrings(lines, indices=np.arange(n))
    ids = np.char.add("synthetic-", np.arange(n).astype(str))
    frame = gpd.GeoDataFrame({
        "id": ids,
        "name_zh": np.char.add("合成道路", np.arange(n).astype(str)),
        "name_en": np.char.add("Synthetic road ", np.arange(n).astype(str)),
        "category": np.where(np.arange(n) % 10 == 0, "historic_street", "bottleneck_road"),
        "district": "371002",
        "functional_area": None,
        "status": "completed",
        "year": 2018,
        "date": None,
        "figures": "[]",
        "description_zh": "基准测试用合成道路",
        "description_en": "synthetic road for benchmarks",
        "source": json.dumps([{"file": "synthetic", "quote": "synthetic"}]),
        "accuracy": "schematic",
        "accuracy_note_zh": "随机生成",
        "accuracy_note_en": "random",
    }, geometry=geoms, crs="EPSG:4326")
    for key, values in measure(frame.geometry.values).items():
        frame[key] = values
    return frame[list(FIELD_NAMES) + ["geometry"]]
