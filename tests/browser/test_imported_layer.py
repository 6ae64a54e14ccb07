"""A layer made by an import, styled by one of its fields, in real headless Chromium: each category
drawn in its colour, the legend naming the categories drawn (and "other" for the rest), the popup
listing the file's own field names as titles; every value from the file shown as text."""
from __future__ import annotations

import pytest

from geo.store import open_store
from layers import build as builder
from layers import imports
from layers.style import OTHER_COLOR, PALETTE
from server import create_app
from tests.browser.conftest import LiveServer
from tests.browser.test_map import popup
from tests.conftest import write_sources
from tests.layers.test_layermeta import GREEN, LAT, LON, green_gpkg

HOSTILE = '<img src=x onerror="document.title=\'pwned\'">'
#: GREEN and two more: one of no kind, one whose kind is markup
COLUMNS = {"code": GREEN["code"] + ["G7", "G8"], "名称": GREEN["名称"] + ["无类型绿地", "标记绿地"],
           "类型": GREEN["类型"] + [None, HOSTILE], "面积（亩）": GREEN["面积（亩）"] + [1.0, 2.0],
           "🌳": GREEN["🌳"] + ["否", "否"]}
#: the colour of each feature: the kinds by how often they come (林地 3, 公园 2, then 广场 and the
#: markup once each, 广场 first), none in the "other" grey
COLOURS = {"G1": PALETTE[0], "G2": PALETTE[1], "G3": PALETTE[0], "G4": PALETTE[2], "G5": PALETTE[0],
           "G6": PALETTE[1], "G7": OTHER_COLOR, "G8": PALETTE[3]}
VIEW = f"?center={LAT},{LON + 7e-3}&zoom=15&layers=green"


@pytest.fixture(scope="module")
def green_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("atlas-imported")
    store = open_store(folder / "atlas.gpkg", key="id")
    builder.build(store, write_sources(folder / "sources"))
    path = green_gpkg(folder / "src", COLUMNS)
    with imports.inspect(path, reference=imports.reference_from_store(store)) as found:
        imports.commit(store, found, layer="green", key="code", actor="test", title_zh="城市绿地",
                       title_en="Urban green space", style_field="类型")
    server = LiveServer(create_app({"STORE": str(store.path), "TESTING": True}))
    yield server
    server.stop()


def test_an_imported_layer_is_coloured_legended_and_titled_by_its_fields(open_map, green_server, artifacts):
    page = open_map(VIEW, server=green_server)
    drawn = page.js("""() => { const out = {};
        Atlas.layers.green.eachLayer(g => g.eachLayer(l => {
            out[l.feature.id] = {color: l.options.color, fill: l.options.fillColor}; })); return out; }""")
    assert {k: v["color"] for k, v in drawn.items()} == COLOURS
    assert {k: v["fill"] for k, v in drawn.items()} == COLOURS  # status unknown: filled in the colour

    section = page.page.locator(".atlas-legend [data-layer=green]")
    assert section.locator(".atlas-legend-title").inner_text().startswith("城市绿地")
    keys = page.js("""() => [...document.querySelectorAll('.atlas-legend [data-layer=green] .atlas-key')].map(k => ({
        text: k.textContent, other: k.hasAttribute('data-other'),
        color: k.querySelector('.atlas-sym').style.getPropertyValue('--sym')}))""")
    assert keys == [{"text": "林地", "other": False, "color": PALETTE[0]},
                    {"text": "公园", "other": False, "color": PALETTE[1]},
                    {"text": "广场", "other": False, "color": PALETTE[2]},
                    {"text": HOSTILE, "other": False, "color": PALETTE[3]},
                    {"text": "其他", "other": True, "color": OTHER_COLOR}]

    page.page.mouse.click(*page.screen_point(LAT, LON))  # G1, the first point
    box = popup(page, "G1")
    rows = page.js("""() => { const dl = document.querySelector('.leaflet-popup .atlas-popup-fields');
        return [...dl.querySelectorAll('dt')].map(dt => [dt.textContent, dt.nextElementSibling.textContent]); }""")
    for row in (["名称", "环翠楼绿地"], ["类型", "林地"], ["面积（亩）", "12.5"], ["🌳", "是"]):
        assert row in rows, rows
    chip = box.locator(".atlas-chip").first
    assert chip.inner_text() == "林地"
    assert page.js("() => getComputedStyle(document.querySelector('.leaflet-popup .atlas-chip .atlas-dot'))"
                   ".backgroundColor") == "rgb(0, 114, 178)"  # PALETTE[0], #0072B2
    assert "城市绿地" in box.inner_text()  # the layer's title
    page.page.screenshot(path=str(artifacts / "imported-layer.png"))

    # the markup from the file stays text: in the legend, the chip and the fields
    page.page.click(".leaflet-popup-close-button")
    page.page.mouse.click(*page.screen_point(LAT, LON + 7 * 2e-3))  # G8
    marked = popup(page, "G8")
    assert marked.locator(".atlas-chip").first.inner_text() == HOSTILE
    assert page.page.locator(".atlas-legend img, .leaflet-popup img").count() == 0
    assert page.js("() => document.title") != "pwned"

    english = open_map(VIEW + "&lang=en", server=green_server)
    assert english.page.locator(".atlas-legend [data-layer=green] [data-other]").inner_text() == "other"
    assert english.page.locator(".atlas-legend [data-layer=green] .atlas-legend-title").inner_text() \
        .startswith("Urban green space")
