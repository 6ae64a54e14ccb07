"""A small atlas of known geometry for the statistics tests, drawn in EPSG:4550 itself (metres near
Weihai) and handed to the store in WGS84 by pyproj here, not by geo.

    y0+2000 ┌──────────┐
            │ C 荣成市  │  (county_city 371082)
    y0+1000 ├──────────┼──────────┐
            │ A 环翠区  │ B 文登区  │        outside: x > x0+2000
            │ 371002   │ 371003   │
         y0 └──────────┴──────────┘
            x0      x0+1000    x0+2000

Each district is 1 km × 1 km. A 威海市 polygon over everything (category city) and a 高区 polygon
over the A/B boundary (functional_area) are in the districts layer too: neither may split.
``PLOTS``, ``LINES`` and ``SPOTS`` keep every feature's shape in EPSG:4550 with its attributes,
so a test can compute what it expects with shapely on its own.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from geo.store import Field, open_store

X0, Y0 = 509_000.0, 4_152_000.0
TO_WGS = Transformer.from_crs(4550, 4326, always_xy=True)
HYPERLINK = '=HYPERLINK("https://example.com","点我")'


def box(x1, y1, x2, y2, hole=None):
    """A rectangle in metres from (X0, Y0), optionally with a rectangular hole."""
    shell = [(X0 + x1, Y0 + y1), (X0 + x2, Y0 + y1), (X0 + x2, Y0 + y2), (X0 + x1, Y0 + y2)]
    holes = [] if hole is None else [[(X0 + a, Y0 + b) for a, b in
                                     ((hole[0], hole[1]), (hole[2], hole[1]), (hole[2], hole[3]), (hole[0], hole[3]))]]
    return shapely.Polygon(shell, holes)


def line(*points):
    return shapely.MultiLineString([[(X0 + x, Y0 + y) for x, y in points]])


def to_wgs(geom):
    return shapely.transform(geom, lambda xy: np.column_stack(TO_WGS.transform(xy[:, 0], xy[:, 1])))


DISTRICT_SHAPES = {"371002": box(0, 0, 1000, 1000), "371003": box(1000, 0, 2000, 1000),
                   "371082": box(0, 1000, 1000, 2000)}

DISTRICTS = [
    # id, name_zh, category, district, functional_area, shape
    ("districts-weihai", "威海市", "city", "371000", None, box(-5000, -5000, 9000, 9000)),
    ("districts-huancui", "环翠区", "district", "371002", None, DISTRICT_SHAPES["371002"]),
    ("districts-wendeng", "文登区", "district", "371003", None, DISTRICT_SHAPES["371003"]),
    ("districts-rongcheng", "荣成市", "county_city", "371082", None, DISTRICT_SHAPES["371082"]),
    ("districts-gaoqu", "高区", "functional_area", "371002", "高区", box(500, 0, 1500, 1000)),
]

# id, name_zh, category, district (field), status, year, shape
PLOTS = [
    ("plot-1", "跨界居住地块", "居住用地", "371002", "planned", 2024, box(750, 200, 1300, 500)),
    ("plot-2", "带洞工业地块", "工业用地", "371002", "completed", 2021, box(100, 100, 500, 500, hole=(200, 200, 300, 300))),
    ("plot-3", "两块居住地块", "居住用地", "371002", "planned", 2024,
     shapely.MultiPolygon([box(100, 600, 300, 800), box(100, 1200, 200, 1400)])),
    ("plot-4", "区外地块", "工业用地", "371003", None, None, box(3000, 0, 3100, 100)),
    ("plot-5", "半在区外的地块", "工业用地", "371003", "under_construction", 2023, box(1900, 100, 2100, 200)),
    ("plot-6", "链接地块", HYPERLINK, "371003", "operating", 2023, box(1500, 600, 1600, 700)),
]
LINES = [
    ("line-1", "跨界道路", "主干路", "371002", "completed", 2020, line((200, 500), (1700, 500))),
    ("line-2", "区外道路", "支路", "371003", "planned", None, line((3000, 500), (3500, 500))),
    ("line-3", "南北道路", "支路", "371002", "planned", 2022, line((500, 900), (500, 1300))),
]
SPOTS = [
    ("spot-1", "环翠的点", "学校", "371002", "operating", 2020, shapely.Point(X0 + 300, Y0 + 300)),
    ("spot-2", "文登的点", "学校", "371003", "operating", 2020, shapely.Point(X0 + 1500, Y0 + 300)),
    ("spot-3", "区外的点", "医院", "371003", "planned", None, shapely.Point(X0 + 3000, Y0 + 300)),
    # the corner of A, B and C: on the boundary of all three (the lowest adcode takes it)
    ("spot-4", "三区交点", "医院", "371082", "planned", 2025, shapely.Point(X0 + 1000, Y0 + 1000)),
]

FIELDS = (Field("year", "int"),)


def layer_frame(rows, multi=True) -> gpd.GeoDataFrame:
    shapes = [r[-1] for r in rows]
    if multi:
        shapes = [s if s.geom_type.startswith("Multi") else
                  (shapely.MultiPolygon([s]) if s.geom_type == "Polygon" else s) for s in shapes]
    return gpd.GeoDataFrame(
        {"id": [r[0] for r in rows], "name_zh": [r[1] for r in rows], "name_en": [r[0] for r in rows],
         "category": [r[2] for r in rows], "district": [r[3] for r in rows], "status": [r[4] for r in rows],
         "year": pd.array([r[5] for r in rows], dtype="Int64")},
        geometry=[to_wgs(s) for s in shapes], crs="EPSG:4326")


def districts_frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": [r[0] for r in DISTRICTS], "name_zh": [r[1] for r in DISTRICTS], "name_en": [r[0] for r in DISTRICTS],
         "category": [r[2] for r in DISTRICTS], "district": [r[3] for r in DISTRICTS],
         "functional_area": [r[4] for r in DISTRICTS]},
        geometry=[to_wgs(shapely.MultiPolygon([r[5]])) for r in DISTRICTS], crs="EPSG:4326")


def make_store(path):
    store = open_store(path, key="id")
    store.replace({"districts": districts_frame(), "plots": layer_frame(PLOTS), "lines": layer_frame(LINES),
                   "spots": layer_frame(SPOTS, multi=False)},
                  {"plots": FIELDS, "lines": FIELDS, "spots": FIELDS})
    return store


ROWS = {"plots": PLOTS, "lines": LINES, "spots": SPOTS}
