"""Synthetic data for benchmarks: many road lines over Weihai with the atlas's full schema."""
from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
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
        "position_source": None,
        "position_note_zh": None,
        "position_note_en": None,
    }, geometry=geoms, crs="EPSG:4326")
    for key, values in measure(frame.geometry.values).items():
        frame[key] = values
    return frame[list(FIELD_NAMES) + ["geometry"]]


def zone_polygons(n: int = 100_000, seed: int = 2026) -> gpd.GeoDataFrame:
    """``n`` small quadrilaterals (10 m to 600 m across) over Weihai in the zone schema, for the
    attribute table: areas of every size with many ties (rounded), four categories and statuses, a
    year (null in one of ten) and a date (null in three of ten), Chinese names."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = WEIHAI
    cx, cy = rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)
    half = np.round(np.exp(rng.uniform(np.log(5), np.log(300), n)), 0) / 111_000  # whole metres
    corners = np.stack([np.column_stack([cx - half, cy - half]), np.column_stack([cx + half, cy - half]),
                        np.column_stack([cx + half, cy + half]), np.column_stack([cx - half, cy + half]),
                        np.column_stack([cx - half, cy - half])], axis=1)
    polygons = shapely.polygons(corners)
    geoms = shapely.multipolygons(polygons, indices=np.arange(n))
    idx = np.arange(n)
    statuses = np.array(["planned", "under_construction", "completed", "operating", None], dtype=object)
    categories = np.array(["rural_revitalization", "common_prosperity", "eco_demonstration", "town_development"])
    year = pd.array(np.where(rng.random(n) < 0.1, -1, rng.integers(2010, 2027, n)), dtype="Int64")
    year[year == -1] = pd.NA
    days = rng.integers(0, 5000, n)
    date = np.where(rng.random(n) < 0.3, None,
                    (np.datetime64("2012-01-01") + days).astype("datetime64[D]").astype(str).astype(object))
    frame = gpd.GeoDataFrame({
        "id": np.char.add("zone-", idx.astype(str)),
        "name_zh": np.char.add(np.char.add("合成片区", idx.astype(str)), "号"),
        "name_en": np.char.add("Synthetic zone ", idx.astype(str)),
        "category": categories[rng.integers(0, 4, n)],
        "district": np.array(["371002", "371003", "371082", "371083"])[rng.integers(0, 4, n)],
        "functional_area": None,
        "status": statuses[rng.integers(0, 5, n)],
        "year": year,
        "date": date,
        "figures": "[]",
        "description_zh": "基准测试用合成片区",
        "description_en": "synthetic zone for benchmarks",
        "source": json.dumps([{"file": "synthetic", "quote": "synthetic"}]),
        "accuracy": "schematic",
        "accuracy_note_zh": "随机生成",
        "accuracy_note_en": "random",
        "position_source": None,
        "position_note_zh": None,
        "position_note_en": None,
    }, geometry=geoms, crs="EPSG:4326")
    for key, values in measure(frame.geometry.values).items():
        frame[key] = values
    return frame[list(FIELD_NAMES) + ["geometry"]]


def site_points(n: int = 1_000_000, seed: int = 2026) -> gpd.GeoDataFrame:
    """``n`` points over Weihai in the atlas's schema (a million in a few seconds): ids
    ``site-<i>``, Chinese names ``合成地块<i>号``, the roads' two categories in turn (one in ten
    ``historic_street``), four districts and five statuses."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = WEIHAI
    idx = np.arange(n)
    text = idx.astype(str)
    frame = gpd.GeoDataFrame({
        "id": np.char.add("site-", text).astype(object),
        "name_zh": np.char.add(np.char.add("合成地块", text), "号").astype(object),
        "name_en": np.char.add("Synthetic site ", text).astype(object),
        "category": np.where(idx % 10 == 0, "historic_street", "bottleneck_road").astype(object),
        "district": np.array(["371002", "371003", "371082", "371083"], dtype=object)[idx % 4],
        "functional_area": None,
        "status": np.array(["planned", "under_construction", "completed", "operating", "completed"], dtype=object)[idx % 5],
        "year": 2020,
        "date": None,
        "figures": "[]",
        "description_zh": "基准测试用合成地块",
        "description_en": "synthetic site for benchmarks",
        "source": json.dumps([{"file": "synthetic", "quote": "synthetic"}]),
        "accuracy": "schematic",
        "accuracy_note_zh": "随机生成",
        "accuracy_note_en": "random",
        "position_source": None,
        "position_note_zh": None,
        "position_note_en": None,
        "area_m2": None, "area_ha": None, "area_mu": None, "length_km": None,
    }, geometry=shapely.points(rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)), crs="EPSG:4326")
    return frame[list(FIELD_NAMES) + ["geometry"]]
