"""Known geometry for the indicator tests, drawn in EPSG:4550 (metres, from the origin of
``stats_atlas``) and handed to the store in WGS84 by pyproj there, not by geo.

    y0+2200 ┌──────────┐
            │ C2       │  C 荣成市 371082: a multipolygon of two 1000 m × 500 m pieces
    y0+1700 ├──────────┤  (y 1100–1600 and 1700–2200), 1 000 000 m² in all
            │ C1       │
    y0+1100 └──────────┘
    y0+1000 ┌──────────┬──────────┐
            │ A 环翠区  │ B 文登区  │  A: a 1 km square (1 000 000 m²)
            │ 371002   │  ┌────┐  │  B: a 1 km square with a 500 m square hole
            │          │  └────┘  │     (x 1250–1750, y 250–750): 750 000 m²
         y0 └──────────┴──────────┘
            x0      x0+1000    x0+2000

Parks (layer ``greens``), each of its own category so a test picks one with ``category``:
``half`` a 1000 m × 5000 m park left of A (x −1000–0): its 500 m buffer covers x 0–500 of A and of
C with straight edges; ``strip`` a 100 m × 5000 m park at x 1100–1200 (in B): its 500 m buffer
covers x 600–1700 across A, B (around the hole) and C; ``point`` a point of 3000 m² (the small
class) at the centre of A; ``unsized`` a point of no known size at the centre of A; ``tiny`` a
1000 m² polygon (below the small class). ``homes`` (a base layer, category 居住用地): two 1000 m ×
200 m strips of A (y 0–200 and 800–1000). ``shops``: four facility points at the centres of A's
quarters. ``lots`` (land figures): see LOTS.
"""
from __future__ import annotations

import geopandas as gpd
import pandas as pd
import shapely

from geo.store import Field, open_store

from .stats_atlas import X0, Y0, box, to_wgs

DISTRICTS = [
    ("districts-weihai", "威海市", "city", "371000", box(-5000, -5000, 9000, 9000)),
    ("districts-huancui", "环翠区", "district", "371002", box(0, 0, 1000, 1000)),
    ("districts-wendeng", "文登区", "district", "371003", box(1000, 0, 2000, 1000, hole=(1250, 250, 1750, 750))),
    ("districts-rongcheng", "荣成市", "county_city", "371082",
     shapely.MultiPolygon([box(0, 1100, 1000, 1600), box(0, 1700, 1000, 2200)])),
    ("districts-gaoqu", "高区", "functional_area", "371002", box(500, 0, 1500, 1000)),
]

def point(x, y):
    return shapely.Point(X0 + x, Y0 + y)


# id, category, status, area_m2 (the field), shape
GREENS = [
    ("g-half", "half", "completed", None, box(-1000, -2000, 0, 3000)),
    ("g-strip", "strip", "completed", None, box(1100, -2000, 1200, 3000)),
    ("g-point", "point", "completed", 3000.0, point(500, 500)),
    ("g-unsized", "unsized", "completed", None, point(500, 500)),
    ("g-tiny", "tiny", "completed", None, box(100, 100, 200, 110)),
]
HOMES = [
    ("h-1", "居住用地", "completed", None, box(0, 0, 1000, 200)),
    ("h-2", "居住用地", "completed", None, box(0, 800, 1000, 1000)),
    ("h-3", "工业用地", "completed", None, box(0, 300, 1000, 700)),
]
SHOPS = [(f"s-{i}", "shop", "operating", None, point(x, y))
         for i, (x, y) in enumerate([(250, 250), (750, 250), (250, 750), (750, 750)])]
LOTS = [
    ("l-1", "lot", "planned", None, box(0, 0, 100, 100)),           # A: 10 000 m², 15 亩
    ("l-2", "lot", "completed", None, box(200, 200, 300, 500)),     # A: 30 000 m², 45 亩
    ("l-3", "lot", "planned", None, box(900, 0, 1100, 100)),        # A 10 000 m² and B 10 000 m²
    ("l-4", "lot", "under_construction", None, box(1200, 300, 1300, 400)),  # B 5 000 m², 5 000 in the hole
    ("l-5", "lot", "completed", None, box(500, 600, 623.45, 700)),  # A: 12 345 m², 18.5175 亩
]


def frame(rows) -> gpd.GeoDataFrame:
    shapes = [s if s.geom_type != "Polygon" else shapely.MultiPolygon([s]) for *_, s in rows]
    return gpd.GeoDataFrame(
        {"id": [r[0] for r in rows], "name_zh": [r[0] for r in rows], "category": [r[1] for r in rows],
         "status": [r[2] for r in rows], "district": [None] * len(rows),
         "area_m2": pd.array([r[3] for r in rows], dtype="Float64")},
        geometry=[to_wgs(s) for s in shapes], crs="EPSG:4326")


def districts_frame() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"id": [r[0] for r in DISTRICTS], "name_zh": [r[1] for r in DISTRICTS], "category": [r[2] for r in DISTRICTS],
         "district": [r[3] for r in DISTRICTS]},
        geometry=[to_wgs(s if s.geom_type == "MultiPolygon" else shapely.MultiPolygon([s])) for *_, s in DISTRICTS],
        crs="EPSG:4326")


def make_store(path):
    store = open_store(path, key="id")
    area = (Field("area_m2", "float"),)
    greens = frame(GREENS)
    store.replace({"districts": districts_frame(), "greens": greens, "homes": frame(HOMES), "shops": frame(SHOPS),
                   "lots": frame(LOTS)},
                  {"greens": area, "homes": area, "shops": area, "lots": area})
    return store
