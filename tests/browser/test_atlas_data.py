"""The atlas's own data in the page (issue 13): parks drawn as areas, an outline's area in 亩 shown
as measured, a schematic one said to be schematic, and 华夏城's 3,767 亩 set beside its area."""
from __future__ import annotations

import re

import pytest

from geo.store import open_store
from layers import build as builder
from server import create_app
from tests.browser.conftest import LiveServer
from tests.browser.test_map import popup

HUAXIACHENG = (37.42375, 122.110365)   # the Amap POI, the centre of its schematic circle
HUANCUILOU = (37.5042, 122.1039)       # inside the OSM outline of 环翠楼公园
LIUGONGDAO = (37.5054, 122.1816)       # on the island


@pytest.fixture(scope="module")
def atlas_server(tmp_path_factory):
    """The atlas built from layers/data, as `make run` builds it."""
    store = open_store(tmp_path_factory.mktemp("atlas-data") / "atlas.gpkg", key="id")
    builder.build(store)
    server = LiveServer(create_app({"STORE": str(store.path), "TESTING": True}))
    yield server
    server.stop()


def _popup_at(open_map, server, latlng, fid, lang="zh"):
    page = open_map(f"?lang={lang}&basemap=none&center={latlng[0]},{latlng[1]}&zoom=14&layers=districts,parks",
                    server=server)
    page.page.mouse.click(*page.screen_point(*latlng))
    return page, popup(page, fid)


def test_parks_are_drawn_as_areas(open_map, atlas_server):
    page = open_map("?basemap=none&layers=parks", server=atlas_server)
    kinds = page.js("""() => { const out = {}; Atlas.layers.parks.eachLayer(g => g.eachLayer(l => {
        out[l.feature.id] = [l.feature.geometry.type, !!l.getLatLng]; })); return out; }""")
    # areas, not markers (the page's simplified view may send a one-part MultiPolygon as a Polygon)
    assert len(kinds) == 7 and set(map(tuple, kinds.values())) <= {("MultiPolygon", False), ("Polygon", False)}, kinds


def test_an_outline_shows_its_measured_area_and_a_schematic_circle_says_so(open_map, atlas_server):
    _, park = _popup_at(open_map, atlas_server, HUANCUILOU, "parks-huancuilou")
    area = park.locator("dd[data-schematic=false]").inner_text()
    assert re.fullmatch(r"46\.\d 公顷 · 7\d\d 亩", area), area  # the OSM outline, about 46.7 ha
    assert "ODbL 1.0" in park.inner_text() and "非实测" not in park.inner_text()

    _, island = _popup_at(open_map, atlas_server, LIUGONGDAO, "parks-liugongdao")
    assert re.fullmatch(r"35\d\.\d 公顷 · 5,\d\d\d 亩", island.locator("dd[data-schematic=false]").inner_text())
    assert "实测(官方边界)" in island.inner_text()


def test_huaxiacheng_sets_the_articles_3767_mu_beside_its_area(open_map, atlas_server):
    _, box = _popup_at(open_map, atlas_server, HUAXIACHENG, "parks-huaxiacheng")
    assert box.locator("dd[data-schematic=true]").inner_text().endswith("亩（示意范围，非实测）")
    assert box.locator("dd.atlas-area-compare").inner_text() == (
        "文章称“前身矿坑占地 3767亩”；本图范围只是示意，没有公开轮廓可与之比较")
    assert "半径894米" in box.inner_text()  # the accuracy note says how the circle was drawn
    _, english = _popup_at(open_map, atlas_server, HUAXIACHENG, "parks-huaxiacheng", lang="en")
    assert english.locator("dd.atlas-area-compare").inner_text() == (
        "the article gives former quarry area as 3,767 mu; the map's area is only schematic: "
        "no public outline to compare with")
