"""Tiles of a large layer drawn from its copy in memory (the overview, with its grid index) are the
tiles the store's bbox query per tile draws: for lines, polygons and points, with and without a
filter, at zooms 11-14. At zoom 14 (``OVERVIEW_MAX_ZOOM - 1``, where both simplify alike) pixel for
pixel; below it the overview is simplified finer than the store's path, so the tolerance is: every
drawn pixel of either tile has a drawn pixel of the same colour (RGB) within one pixel in the other,
and at most 1 % of the drawn pixels differ. And the index finds exactly the boxes a full scan finds, in
order; ``Shapes.take`` gathers exactly what ``Shapes.only`` keeps."""
from __future__ import annotations

import io
import time

import numpy as np
import pytest
import shapely
from PIL import Image

from bench.synthetic import road_lines, site_points, zone_polygons
from geo.store import Query, open_store
from geo.tiles import grid, raster
from geo.tiles.index import BoxIndex
from layers import build as builder
from layers import catalog
from layers import tiles as tiles_module
from layers.tiles import Tiles
from tests.conftest import write_sources

#: a few thousand features in a box of ~5 km around Huancui, dense enough to fill zoom-14 tiles
CENTRE = (122.10, 37.50)
N = 6_000
SPREAD = 0.04


def _squeeze(frame, seed: int = 3):
    """The frame's features moved (not scaled) so that each begins somewhere within ±SPREAD
    degrees of CENTRE, with Chinese names."""
    g = np.asarray(frame.geometry.values, dtype=object)
    c, owner = shapely.get_coordinates(g, return_index=True)
    first = np.searchsorted(owner, np.arange(len(g)))
    start = np.random.default_rng(seed).uniform(-SPREAD, SPREAD, (len(g), 2)) + CENTRE
    out = frame.copy()
    out["name_zh"] = [f"测试要素{i}号" for i in range(len(frame))]
    out.geometry = shapely.set_coordinates(g.copy(), c + (start - c[np.minimum(first, len(c) - 1)])[owner])
    return out


class CountingStore:
    """The real GeoPackage store, counting its bbox queries (to see which path drew a tile)."""

    def __init__(self, store):
        self._store = store
        self.queries = 0

    def __getattr__(self, name):
        return getattr(self._store, name)

    def query(self, layer, query):
        self.queries += 1
        return self._store.query(layer, query)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("overview")
    store = open_store(folder / "atlas.gpkg", key="id")
    builder.write(store, {**builder.build_all(write_sources(folder / "sources")),
                          "big_roads": _squeeze(road_lines(N, seed=5)),
                          "big_zones": _squeeze(zone_polygons(N, seed=5)),
                          "big_sites": _squeeze(site_points(N, seed=5))})
    return store


def _rgba(body: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGBA"))


def _near_same(a: np.ndarray, b: np.ndarray) -> bool:
    """Every drawn pixel of ``a`` has a drawn pixel of the same colour (RGB: a polygon's fill and
    outline differ only in opacity) within one pixel in ``b``."""
    def rgb(image):
        return np.where(image[:, :, 3] > 0, image[:, :, :3].astype(np.uint32) @ np.array([1, 256, 65536], dtype=np.uint32) + 1, 0)
    pa, pb = rgb(a), np.pad(rgb(b), 1)
    drawn = pa != 0
    found = np.zeros_like(drawn)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            found |= pb[1 + dy:1 + dy + pa.shape[0], 1 + dx:1 + dx + pa.shape[1]] == pa
    return bool(found[drawn].all())


#: a category of each layer (one feature in ten of the roads and sites, one in four of the zones)
CATEGORY = {"big_roads": "historic_street", "big_zones": "rural_revitalization", "big_sites": "historic_street"}


@pytest.mark.parametrize("layer", sorted(CATEGORY))
@pytest.mark.parametrize("filtered", [False, True], ids=["all", "filtered"])
def test_overview_tiles_are_the_store_path_tiles(store, monkeypatch, layer, filtered):
    args = {"category": CATEGORY[layer]} if filtered else {}
    counting = CountingStore(store)
    tiles = Tiles(counting, cache_bytes=0)
    compared = 0
    for z in (11, 12, 13, 14):
        cx, cy = grid.tile_of(*CENTRE, z)
        for x, y in ((cx, cy), (cx - 1, cy), (cx, cy - 1)):
            monkeypatch.setattr(tiles_module, "OVERVIEW_MIN", 10**9)  # every tile from the store's query
            before = counting.queries
            old = _rgba(tiles.tile(counting, layer, z, x, y, "png", args).body)
            assert counting.queries == before + 1
            monkeypatch.setattr(tiles_module, "OVERVIEW_MIN", 1_000)  # a large layer: from the overview
            before = counting.queries
            new = _rgba(tiles.tile(counting, layer, z, x, y, "png", args).body)
            assert counting.queries == before, "the overview's tile read the store"
            drawn = int((old[:, :, 3] > 0).sum())
            if not drawn:
                continue
            compared += 1
            if z == tiles_module.OVERVIEW_MAX_ZOOM - 1:
                assert np.array_equal(old, new), (layer, z, x, y, int((old != new).any(axis=2).sum()))
            else:
                differ = int((old != new).any(axis=2).sum())
                assert differ <= drawn / 100, (layer, z, x, y, differ, drawn)
                assert _near_same(old, new) and _near_same(new, old), (layer, z, x, y)
    assert compared >= 8, "too few tiles had anything drawn to compare"


def test_the_index_finds_what_a_full_scan_finds_in_order():
    rng = np.random.default_rng(7)
    n = 20_000
    lo = rng.uniform([121.0, 36.5], [122.8, 37.6], (n, 2))
    size = rng.exponential(0.003, (n, 2))
    size[:50] = rng.uniform(0.5, 1.5, (50, 2))  # a few boxes across much of the extent
    bounds = np.column_stack([lo, lo + size])
    bounds[100:110] = np.nan  # empty geometries
    bounds[200:260, 2:] = bounds[200:260, :2]  # points
    index = BoxIndex(bounds)
    for _ in range(200):
        x, y = rng.uniform(120.9, 122.9), rng.uniform(36.4, 37.7)
        w, h = rng.exponential(0.05, 2)
        q = (x, y, x + w, y + h)
        b = bounds
        full = np.flatnonzero((b[:, 0] <= q[2]) & (b[:, 2] >= q[0]) & (b[:, 1] <= q[3]) & (b[:, 3] >= q[1]))
        np.testing.assert_array_equal(index.query(q), full)
    assert len(index.query((121.0, 36.5, 122.9, 37.7))) == n - 10


def test_take_gathers_what_only_keeps():
    g = np.asarray(_squeeze(zone_polygons(500, seed=2)).geometry.values, dtype=object)
    g[10] = None
    g[20] = shapely.MultiPolygon()
    shapes = raster.shapes(g, "polygon")
    which = np.array([0, 3, 10, 20, 21, 250, 499])
    mask = np.zeros(len(g), dtype=bool)
    mask[which] = True
    colours = np.random.default_rng(1).integers(0, 255, (len(g), 4)).astype(np.uint8)
    taken, kept = shapes.take(which), shapes.only(mask)
    np.testing.assert_array_equal(taken.coords, kept.coords)
    np.testing.assert_array_equal(taken.vertex_owner, kept.vertex_owner)
    z = 14
    x, y = grid.tile_of(*CENTRE, z)
    for dx in range(-2, 3):
        np.testing.assert_array_equal(raster.render_shapes(taken, colours, z, x + dx, y),
                                      raster.render_shapes(kept, colours, z, x + dx, y))


def test_after_an_edit_zoomed_in_tiles_do_not_wait_for_the_overview(tmp_path, monkeypatch):
    """After an edit a district's tile is drawn at once from the store's query (with the edit),
    while the overview is rebuilt in the background; once rebuilt, tiles come from it again."""
    monkeypatch.setattr(tiles_module, "OVERVIEW_MIN", 1_000)
    store = open_store(tmp_path / "atlas.gpkg", key="id")
    builder.write(store, {"big_roads": _squeeze(road_lines(3_000, seed=8))})
    counting = CountingStore(store)
    tiles = Tiles(counting, cache_bytes=0)
    z = 13
    x, y = grid.tile_of(*CENTRE, z)
    tiles.tile(counting, "big_roads", 11, *grid.tile_of(*CENTRE, 11), "png", {})  # builds the overview
    before = counting.queries
    drawn = _rgba(tiles.tile(counting, "big_roads", z, x, y, "png", {}).body)
    assert counting.queries == before
    inside = list(store.query("big_roads", Query(bbox=grid.tile_bounds(z, x, y)))["id"])
    store.delete("big_roads", inside, actor="测试员", message="删除图块内的道路")
    before = counting.queries
    after = _rgba(tiles.tile(counting, "big_roads", z, x, y, "png", {}).body)
    assert counting.queries == before + 1, "the tile waited for the overview instead of asking the store"
    assert (drawn[:, :, 3] > 0).sum() > (after[:, :, 3] > 0).sum()  # the deleted roads are gone
    deadline = time.monotonic() + 30
    while tiles._overviews["big_roads"].version != store.version():
        assert time.monotonic() < deadline, "the overview was not rebuilt in the background"
        time.sleep(0.05)
    before = counting.queries
    again = _rgba(tiles.tile(counting, "big_roads", z, x, y, "png", {}).body)
    assert counting.queries == before
    assert (again != after).any(axis=2).sum() <= (after[:, :, 3] > 0).sum() / 100  # the tolerance above
    assert _near_same(again, after) and _near_same(after, again)


@pytest.mark.parametrize("layer", sorted(CATEGORY))
def test_an_overview_built_in_chunks_gives_back_each_feature_simplified(store, monkeypatch, layer):
    """The overview read in several chunks (as a large layer is) holds each feature's geometry
    once, as drawing arrays; the features a vector tile takes from it (``select``) are the layer's
    geometries simplified as the overview simplifies them, within 1e-9 degrees, in the store's order."""
    real_stream = store.stream
    monkeypatch.setattr(store, "stream", lambda layer, query, chunk_size=5000: real_stream(layer, query, chunk_size=1_000),
                        raising=False)
    tiles = Tiles(store, cache_bytes=0)
    found = tiles.overview(store, layer, [f.name for f in store.fields(layer)])
    assert not hasattr(found, "geoms")
    frame = store.query(layer, Query())
    assert len(found.frame) == len(frame) == N
    which = np.arange(0, N, 7)
    picked = found.select(which)
    tolerance = grid.degrees_per_pixel(tiles_module.OVERVIEW_MAX_ZOOM - 1) / 2
    expected = shapely.simplify(np.asarray(frame.geometry.values, dtype=object)[which], tolerance, preserve_topology=True)
    assert picked[catalog.KEY].tolist() == frame[catalog.KEY].iloc[which].tolist()
    for got, want in zip(picked.geometry.values, expected):
        parts = shapely.get_parts(want)
        assert shapely.equals_exact(shapely.normalize(got), shapely.normalize(type(got)(list(parts))), 1e-9)
