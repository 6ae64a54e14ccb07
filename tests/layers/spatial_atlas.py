"""A small atlas of known geometry for the spatial query and overlay tests, drawn in EPSG:4550 (metres
from X0, Y0 near Weihai) and handed to the store in WGS84 by pyproj here, not by geo.

    zoning (right):  Z1 0–1000 × 0–1000 · Z2 1000–2000 × 0–1000 (adjacent) ·
                     Z3 3000–4000 × 0–1000 with a hole 3250–3750 × 250–750 ·
                     Z4 a multipolygon of two 200 m squares at y 2000–2200 (x 0–200 and 500–700)
    works (left):    W1 0–1000 × 0–500 (in Z1, touching Z2 along x=1000: no pair there)
                     W2 0–1000 × 250–750 (overlaps W1 by 250 m: Z1's covered area counts it once)
                     W3 1000–1500 × 0–1000 (half of Z2)
                     W4 800–1300 × 800–900 (crosses Z1/Z2: 200 × 100 in Z1, 300 × 100 in Z2)
                     W5 3400–3600 × 400–600 (in Z3's hole: outside every zone)
                     W6 6000–6100 × 0–100 (far away: outside)
                     W7 3700–3800 × 400–600 (half in Z3's hole, half in its ring)
                     W8 100–600 × 2100–2150 (over both parts of Z4 and the gap between)
    spots:           P1 (300, 300) in Z1 · P2 (5000, 5000) outside
    ways:            L1 (−500, 500) → (500, 500): half inside Z1
"""
from __future__ import annotations

import geopandas as gpd
import shapely

from geo.store import open_store

from .stats_atlas import X0, Y0, box, line, to_wgs

ZONES = [
    ("Z1", "一号区", "居住", box(0, 0, 1000, 1000)),
    ("Z2", "二号区", "工业", box(1000, 0, 2000, 1000)),
    ("Z3", "带洞的区", "生态", box(3000, 0, 4000, 1000, hole=(3250, 250, 3750, 750))),
    ("Z4", "两块的区", "生态", shapely.MultiPolygon([box(0, 2000, 200, 2200), box(500, 2000, 700, 2200)])),
]
WORKS = [
    ("W1", "南半", "项目", box(0, 0, 1000, 500)),
    ("W2", "中间", "项目", box(0, 250, 1000, 750)),
    ("W3", "二号区西半", "项目", box(1000, 0, 1500, 1000)),
    ("W4", "跨界", "项目", box(800, 800, 1300, 900)),
    ("W5", "洞里", "项目", box(3400, 400, 3600, 600)),
    ("W6", "远处", "项目", box(6000, 0, 6100, 100)),
    ("W7", "半在洞里", "项目", box(3700, 400, 3800, 600)),
    ("W8", "跨两块", "项目", box(100, 2100, 600, 2150)),
]
SPOTS = [("P1", "区内的点", "学校", shapely.Point(X0 + 300, Y0 + 300)),
         ("P2", "区外的点", "学校", shapely.Point(X0 + 5000, Y0 + 5000))]
WAYS = [("L1", "半条路", "支路", line((-500, 500), (500, 500)))]
ROWS = {"zoning": ZONES, "works": WORKS, "spots": SPOTS, "ways": WAYS}
SHAPES = {r[0]: r[-1] for rows in ROWS.values() for r in rows}


def frame(rows) -> gpd.GeoDataFrame:
    shapes = [shapely.MultiPolygon([s]) if s.geom_type == "Polygon" else s for s in (r[-1] for r in rows)]
    return gpd.GeoDataFrame({"id": [r[0] for r in rows], "name_zh": [r[1] for r in rows],
                             "name_en": [r[0] for r in rows], "category": [r[2] for r in rows],
                             "status": ["planned"] * len(rows)},
                            geometry=[to_wgs(s) for s in shapes], crs="EPSG:4326")


def make_store(path):
    store = open_store(path, key="id")
    store.replace({name: frame(rows) for name, rows in ROWS.items()})
    return store
