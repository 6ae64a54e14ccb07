"""A layer of a million features in the page: drawn from the server's tiles at the city's and a
street's zoom, a click on one of its points opens that point's popup (found by the server), the
page's filters reach the tiles, and nothing is fetched from another host (the ``open_map`` watch)."""
from __future__ import annotations

import numpy as np
import pytest
import shapely

from bench.synthetic import site_points
from geo.store import open_store
from layers import build as builder
from server import create_app
from tests.conftest import write_sources

from .conftest import LiveServer

N = 1_000_000
#: a point placed where no other is near: the one the test clicks
LONE = (122.0311, 37.3277)


@pytest.fixture(scope="session")
def million_server(tmp_path_factory):
    """The small atlas and ``sites``, a million points written through the store's bulk path,
    built once a session; the app draws layers over 20,000 features as tiles."""
    folder = tmp_path_factory.mktemp("atlas-million")
    frame = site_points(N, seed=12)
    coords = shapely.get_coordinates(frame.geometry.values)
    near = (np.abs(coords[:, 0] - LONE[0]) < 0.002) & (np.abs(coords[:, 1] - LONE[1]) < 0.002)
    frame = frame[~near].reset_index(drop=True)  # nothing else within ~200 m of the lone point
    frame.loc[0, "geometry"] = shapely.Point(*LONE)
    frame.loc[0, ["name_zh", "name_en", "category"]] = ["孤立测试地块", "Lone test site", "historic_street"]
    store = open_store(folder / "atlas.gpkg", key="id")
    builder.write(store, {**builder.build_all(write_sources(folder / "sources")), "sites": frame})
    app = create_app({"STORE": str(store.path), "TESTING": True, "TILES_ABOVE": 20_000})
    server = LiveServer(app)
    server.lone_id = frame.loc[0, "id"]
    server.count = len(frame)
    yield server
    server.stop()


def _tiles_seen(page) -> list[str]:
    return page.js("() => Array.from(document.querySelectorAll('img.leaflet-tile'))"
                   ".filter(i => i.src.includes('/tiles/sites/') && i.complete && i.naturalWidth === 256)"
                   ".map(i => i.src)")


def test_city_view_draws_the_million_from_tiles(open_map, million_server):
    page = open_map("?layers=sites", server=million_server)
    assert page.js("() => Atlas.layerConfig('sites').mode") == "tiles"
    assert page.js("() => Atlas.layerConfig('sites').count") == million_server.count
    seen = _tiles_seen(page)
    assert len(seen) >= 4, seen  # the city spans several tiles, each drawn
    # no GeoJSON of the big layer was fetched: its features come only as tiles
    assert not [u for u in page.watch.api if "/api/layers/sites?" in u or u.endswith("/api/layers/sites")]


def test_click_on_a_point_opens_its_popup(open_map, million_server):
    page = open_map(f"?layers=sites&center={LONE[1]},{LONE[0]}&zoom=15", server=million_server)
    assert _tiles_seen(page)
    x, y = page.screen_point(LONE[1], LONE[0])
    page.page.mouse.click(x, y)
    popup = page.page.wait_for_selector(f".atlas-popup[data-feature-id='{million_server.lone_id}']", timeout=10_000)
    assert "孤立测试地块" in popup.inner_text()
    # a click where nothing is near opens nothing
    page.page.keyboard.press("Escape")
    x2, y2 = page.screen_point(LONE[1] + 0.0012, LONE[0] + 0.0012)
    page.page.mouse.click(x2, y2)
    page.wait_idle()
    assert page.js("() => document.querySelectorAll('.leaflet-popup .atlas-popup').length") == 0


def test_filters_reach_the_tiles_and_the_click(open_map, million_server):
    page = open_map(f"?layers=sites&center={LONE[1]},{LONE[0]}&zoom=15&status=operating", server=million_server)
    seen = _tiles_seen(page)
    assert seen and all("status=operating" in u for u in seen), seen
    # the lone site is "planned" (the first of five statuses): filtered out, a click finds nothing
    x, y = page.screen_point(LONE[1], LONE[0])
    page.page.mouse.click(x, y)
    page.wait_idle()
    assert page.js("() => document.querySelectorAll('.leaflet-popup .atlas-popup').length") == 0
    page.js("() => Atlas.setFilter('status', null)")
    page.wait_idle()
    assert all("status=" not in u for u in _tiles_seen(page))
    page.page.mouse.click(x, y)
    page.page.wait_for_selector(f".atlas-popup[data-feature-id='{million_server.lone_id}']", timeout=10_000)


def test_tiles_name_the_revision_until_an_edit(open_map, million_server):
    """The page's tile URLs name the store's revision (the browser keeps them: the server says
    immutable); a redraw after an edit asks for them unnamed, revalidated by their ETag."""
    page = open_map(f"?layers=sites&center={LONE[1]},{LONE[0]}&zoom=15", server=million_server)
    version = million_server.server.app.extensions["atlas_store"].version()
    seen = _tiles_seen(page)
    assert seen and all(f"v={version}" in u for u in seen), seen
    page.js("() => Atlas.layers.sites.refresh(true)")  # what the page does after an edit
    page.wait_idle()
    again = _tiles_seen(page)
    assert again and all("v=" not in u for u in again), again


def test_the_first_views_tiles_are_asked_for_first_and_once(open_map, million_server):
    """The page asks for its first view's tiles while its scripts load, not after they have run
    (elements.PREFETCH_JS); Leaflet's tile layer then uses those very images: each fetched once."""
    page = open_map(f"?layers=sites&center={LONE[1]},{LONE[0]}&zoom=14", server=million_server)
    seen = _tiles_seen(page)
    prefetched = page.js("() => (window.ATLAS_PREFETCHED || []).map(i => i.src)")
    assert seen and set(seen) <= set(prefetched), (seen, prefetched)
    fetched = page.js("() => performance.getEntriesByType('resource').map(e => e.name).filter(n => n.includes('/tiles/sites/'))")
    assert len(fetched) == len(set(fetched)), sorted(fetched)
    scripts_run = page.js("() => performance.getEntriesByType('navigation')[0].domInteractive")
    first_tile = page.js("() => Math.min(...performance.getEntriesByType('resource')"
                         ".filter(e => e.name.includes('/tiles/sites/')).map(e => e.startTime))")
    assert first_tile < scripts_run, (first_tile, scripts_run)
    # a filtered view is not guessed at: the page asks for its tiles as it draws them
    page.open(f"?layers=sites&center={LONE[1]},{LONE[0]}&zoom=14&status=operating")
    assert page.js("() => window.ATLAS_PREFETCHED === undefined")
