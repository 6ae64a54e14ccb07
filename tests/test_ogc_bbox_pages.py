"""A bbox read page by page through the ``next`` links gives exactly the features whose geometry
meets the box, in key order, each once: on a box that holds most of the layer (read by walking the
key order) and on one that holds few (read through the spatial index), with lines whose bounding
box meets the box while the line itself passes by its corner (which the index alone would give)."""
from __future__ import annotations

import json
import random

import geopandas as gpd
import pytest
import shapely

from bench.synthetic import road_lines
from geo.store import open_store
from layers import build as builder
from layers.ogc import items as ogc_items
from server import create_app
from tests.conftest import write_sources

DENSE_BOX = (122.0, 37.4, 122.1, 37.5)
SPARSE_BOX = (122.3, 37.2, 122.32, 37.22)


def _lines_in(box, n, rng):
    minx, miny, maxx, maxy = box
    out = []
    for _ in range(n):
        x, y = rng.uniform(minx + 0.001, maxx - 0.006), rng.uniform(miny + 0.001, maxy - 0.006)
        out.append(shapely.LineString([(x, y), (x + 0.004, y + 0.003), (x + 0.005, y + 0.001)]))
    return out


def _corner_misses(box, n):
    """Lines passing below and left of the box's lower-left corner: their bounding boxes overlap it."""
    minx, miny = box[0], box[1]
    return [shapely.LineString([(minx - 0.02 - i * 1e-4, miny + 0.01), (minx + 0.01, miny - 0.02 - i * 1e-4)])
            for i in range(n)]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    rng = random.Random(12)
    geoms = (_lines_in(DENSE_BOX, 160, rng) + _corner_misses(DENSE_BOX, 25) + _lines_in(SPARSE_BOX, 6, rng)
             + _corner_misses(SPARSE_BOX, 30) + _lines_in((121.8, 37.0, 121.9, 37.1), 40, rng))
    order = list(range(len(geoms)))
    rng.shuffle(order)  # the misses and the hits interleaved in key order
    frame = road_lines(len(geoms), seed=3)
    frame["id"] = [f"r{k:04d}" for k in order]
    frame["name_zh"] = [f"测试道路{k}" for k in order]
    frame = gpd.GeoDataFrame(frame.drop(columns="geometry"), geometry=geoms, crs="EPSG:4326")
    folder = tmp_path_factory.mktemp("ogc-bbox")
    layers = builder.build_all(write_sources(folder / "sources"))
    store = open_store(folder / "atlas.gpkg", key="id")
    builder.write(store, {**layers, "roads_box": frame})
    app = create_app({"STORE": str(store.path), "TESTING": True, "CACHE_MB": 0})
    return app.test_client(), frame


def _read_all(client, url):
    pages, seen = [], []
    while url:
        r = client.get(url, headers={"Accept": "application/geo+json"})
        assert r.status_code == 200, r.get_data(as_text=True)
        body = json.loads(r.data)
        pages.append(body)
        seen += [f["id"] for f in body["features"]]
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        url = nxt[0].split("localhost", 1)[1] if nxt else None
    return pages, seen


@pytest.mark.parametrize("box, dense, limit", [(DENSE_BOX, True, 7), (SPARSE_BOX, False, 7), (SPARSE_BOX, False, 2)])
def test_bbox_pages_are_the_exact_matches_in_key_order(served, box, dense, limit):
    """(On the sparse box most rows the index gives are misses: a page is read on past them.)"""
    client, frame = served
    polygon = shapely.box(*box)
    meets_box = frame.geometry.bounds.apply(lambda b: shapely.box(*b).intersects(polygon), axis=1)
    assert bool(meets_box.mean() >= ogc_items.DENSE) == dense  # both ways of reading are exercised
    expected = sorted(frame.loc[frame.geometry.intersects(polygon), "id"])
    misses = set(frame.loc[meets_box, "id"]) - set(expected)
    assert len(misses) >= 4  # the index alone would have given these

    pages, seen = _read_all(client, f"/ogc/collections/roads_box/items?limit={limit}&bbox={','.join(map(str, box))}")
    assert seen == expected
    assert len(pages) == -(-len(expected) // limit)
    assert pages[0]["numberMatched"] == len(expected)
    assert all(p["numberReturned"] == len(p["features"]) for p in pages)

    last = pages[-1]  # and back from the last page: the page before it, in the same order
    prev = [link["href"] for link in last["links"] if link["rel"] == "prev"]
    if len(pages) > 1:
        r = client.get(prev[0].split("localhost", 1)[1], headers={"Accept": "application/geo+json"})
        assert [f["id"] for f in json.loads(r.data)["features"]] == [f["id"] for f in pages[-2]["features"]]


def test_bbox_with_a_filter_keeps_both(served):
    client, frame = served
    polygon = shapely.box(*DENSE_BOX)
    some = sorted(frame.loc[frame.geometry.intersects(polygon), "id"])[::3]
    listed = ",".join(f"'{k}'" for k in some)
    _, seen = _read_all(client, f"/ogc/collections/roads_box/items?limit=5&bbox={','.join(map(str, DENSE_BOX))}"
                                f"&filter=id IN ({listed})")
    assert seen == some
