"""The indicator panel and its thematic map (static/atlas-indicators.js, atlas-indicators-map.js) in
real headless Chromium, over the indicator test atlas of known geometry (tests/layers/indicators_atlas.py)
plus a district whose code — and so its name in the answer — is markup: the panel lists the
registry with the standards' verified flags; park_coverage of the ``strip`` park shows the known
percentages (A 40, B 63.33, C 40) that /api/indicators answers for the same parameters, and a
parameter change recomputes; the thematic map draws one path per district, coloured by equal-interval
class in the order of the values, with its legend section; a click shows a district's value; a
compare time shows the change; the markup stays text; the CSV link is the API's file with its BOM."""
from __future__ import annotations

import time
import urllib.request
from datetime import datetime, timezone
from urllib.parse import parse_qsl

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geo.store import Field, open_store
from server import create_app
from tests.browser.conftest import LiveServer
from tests.layers.indicators_atlas import GREENS, HOMES, LOTS, SHOPS, districts_frame, frame
from tests.layers.stats_atlas import X0, Y0, box, to_wgs

HOSTILE = "<img src=x onerror=alert(1)>"
A, B, C = "371002", "371003", "371082"
#: the strip park (x 1100-1200, radius 500 m: x 600-1700): A 400/1000, B (700 000 − 225 000 in the hole)
#: / 750 000, C 400/1000, the hostile district (x 3000-4000) nothing
STRIP = {A: 40.0, B: 63.33, C: 40.0, HOSTILE: 0.0}
#: radius 400 m: x 700-1600
STRIP_400 = {A: 30.0, B: 56.67, C: 30.0, HOSTILE: 0.0}
RAMP = ["#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494"]


def make_store(path):
    store = open_store(path, key="id")
    hostile = gpd.GeoDataFrame({"id": ["districts-hostile"], "name_zh": [HOSTILE], "category": ["district"],
                                "district": [HOSTILE]},
                               geometry=[to_wgs(shapely.MultiPolygon([box(3000, 0, 4000, 1000)]))], crs="EPSG:4326")
    area = (Field("area_m2", "float"),)
    store.replace({"districts": pd.concat([districts_frame(), hostile], ignore_index=True), "greens": frame(GREENS),
                   "homes": frame(HOMES), "shops": frame(SHOPS), "lots": frame(LOTS)},
                  {"greens": area, "homes": area, "shops": area, "lots": area})
    return store


def serve(folder):
    store = make_store(folder / "atlas.gpkg")
    app = create_app({"STORE": str(store.path), "TESTING": True})
    server = LiveServer(app)
    server.app, server.store = app, store
    return server


@pytest.fixture(scope="module")
def ind_server(tmp_path_factory):
    server = serve(tmp_path_factory.mktemp("atlas-indicator-panel"))
    yield server
    server.stop()


def api(server, indicator: str, params: dict) -> dict:
    response = server.app.test_client().get(f"/api/indicators/{indicator}", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


# -- the panel, driven and read -------------------------------------------------------------------------
def wait_state(page, states=("ready",), query: dict | None = None) -> dict:
    page.page.wait_for_function("""([states, want]) => {
        const p = document.querySelector('.atlas-ind');
        if (!p || p.hidden || states.indexOf(p.getAttribute('data-ind-state')) < 0) { return false; }
        if (!want) { return true; }
        const got = Object.fromEntries(new URLSearchParams(p.getAttribute('data-ind-query') || ''));
        return Object.keys(want).every(k => got[k] === want[k]);
    }""", arg=[list(states), query], timeout=15_000)
    return dict(parse_qsl(page.page.get_attribute(".atlas-ind", "data-ind-query") or "", keep_blank_values=True))


def set_param(page, name: str, value: str):
    field = page.page.locator(f".atlas-ind [name=ind-{name}]")
    if field.evaluate("n => n.tagName") == "SELECT":
        field.select_option(value)
    else:
        field.fill(value)
        field.dispatch_event("change")


def open_strip(page) -> dict:
    """The panel opened on park_coverage of the strip park in layer greens; the parameters asked."""
    page.page.click(".atlas-tool-indicators")
    wait_state(page, ("ready", "error"))
    set_param(page, "layer", "greens")
    set_param(page, "category", "strip")
    return wait_state(page, query={"layer": "greens", "category": "strip"})


def table(page) -> dict:
    return page.js("""() => Object.fromEntries([...document.querySelectorAll('.atlas-ind-table tr[data-district]')].map(tr => {
        const cell = c => tr.querySelector(c);
        const num = c => cell(c) && cell(c).getAttribute('data-value') !== '' ? Number(cell(c).getAttribute('data-value')) : null;
        return [tr.getAttribute('data-district'), {
            name: cell('.atlas-ind-name').textContent, value: num('.atlas-ind-value'), text: cell('.atlas-ind-value').textContent,
            level: cell('.atlas-ind-badge').getAttribute('data-level'), word: cell('.atlas-ind-badge').textContent,
            then: num('.atlas-ind-then'), change: num('.atlas-ind-change'),
            change_text: cell('.atlas-ind-change') ? cell('.atlas-ind-change').textContent : null}];
    }))""")


def paths(page) -> list[dict]:
    return page.js("""() => [...document.querySelectorAll('.leaflet-atlas-thematic-pane path.atlas-thematic-area')].map(p => ({
        district: p.getAttribute('data-district'), value: Number(p.getAttribute('data-value')),
        cls: Number(p.getAttribute('data-class')), fill: p.getAttribute('fill')}))""")


def legend(page) -> list[dict]:
    return page.js("""() => [...document.querySelectorAll('.atlas-legend-thematic .atlas-thematic-class')].map(k => ({
        cls: k.getAttribute('data-class'), color: k.getAttribute('data-color'), text: k.textContent}))""")


def click_district(page, code: str, x: float, y: float) -> str:
    """Fold the panel, fit the district ``code`` into the free map and click the place (x, y) of the
    drawing (metres from X0, Y0) with the mouse; the popup's text (then the panel unfolded)."""
    point = to_wgs(shapely.Point(X0 + x, Y0 + y))
    page.page.click(".atlas-ind-fold")
    page.js("""code => {
        const lay = Atlas.thematic.layer().getLayers().find(l => l.feature.properties.row.district === code);
        Atlas.map.fitBounds(lay.getBounds(), {animate: false, paddingTopLeft: [340, 120], paddingBottomRight: [340, 60]});
    }""", code)
    page.wait_idle()
    page.page.mouse.click(*page.screen_point(point.y, point.x))
    page.page.wait_for_selector(".atlas-thematic-popup", timeout=5_000)
    text = page.page.locator(".atlas-thematic-popup").text_content()
    page.js("() => Atlas.map.closePopup()")
    page.page.click(".atlas-ind-fold")
    return text


# -- the tests ------------------------------------------------------------------------------------------
def test_the_panel_computes_the_known_coverage_and_draws_the_thematic_map(open_map, ind_server):
    page = open_map("", server=ind_server)
    asked = open_strip(page)
    registry = ind_server.app.test_client().get("/api/indicators").get_json()["indicators"]
    options = page.page.locator(".atlas-ind select[name=ind-indicator] option")
    assert options.evaluate_all("os => os.map(o => [o.value, o.textContent])") == \
        [[i["id"], i["title"]["zh"]] for i in registry]
    # the standards as declared: not verified, said in words, with the note
    std = page.page.locator('.atlas-ind-standard[data-code="GB/T 50563-2010"] .atlas-ind-verified')
    assert std.text_content() == "未核实 / not verified" and std.get_attribute("data-verified") == "false"
    assert "未能从可读的标准原文核实" in page.page.locator('.atlas-ind-standard[data-code="GB/T 50563-2010"]').text_content()
    assert page.page.locator(".atlas-ind-params [data-param=radius_large]").get_attribute("max") == "5000"

    # the table: the API's numbers for the same parameters, and the known ones
    answer = api(ind_server, "park_coverage", asked)
    got = table(page)
    assert {k: v["value"] for k, v in got.items() if k != "371000"} == STRIP
    assert {r["district"]: r["value"] for r in answer["districts"]} == STRIP
    assert got["371000"]["value"] == answer["city"]["value"] == 34.0  # (400 000·2 + 475 000) / 3 750 000
    assert got[A]["name"] == "环翠区" and got[A]["text"] == "40.0" and got[B]["text"] == "63.33"
    assert got[A]["level"] == "warning" and got[A]["word"] == "预警"  # in words, not colour alone
    assert page.page.locator(".atlas-ind-base span").text_content() == answer["base"]["zh"]

    # the thematic map: one path per district, equal-interval classes 0-63.33 in steps of 12.67
    drawn = {p["district"]: p for p in paths(page)}
    assert sorted(drawn) == sorted(STRIP)
    assert {d: p["cls"] for d, p in drawn.items()} == {HOSTILE: 0, A: 3, C: 3, B: 4}
    assert {d: p["fill"] for d, p in drawn.items()} == {d: RAMP[p["cls"]] for d, p in drawn.items()}
    by_value = sorted(drawn.values(), key=lambda p: p["value"])
    assert [RAMP.index(p["fill"]) for p in by_value] == sorted(RAMP.index(p["fill"]) for p in by_value)
    keys = legend(page)
    assert [k["color"] for k in keys] == RAMP and [k["cls"] for k in keys] == ["0", "1", "2", "3", "4"]
    assert keys[0]["text"].startswith("0.0 – 12.67 %") and keys[4]["text"].startswith("50.66 – 63.33 %")
    assert "等间距分级" in page.page.locator(".atlas-legend-thematic").text_content()
    assert "40.0 %" in click_district(page, A, 300, 500)

    # a parameter change recomputes, the map follows
    set_param(page, "radius_large", "400")
    asked = wait_state(page, query={"layer": "greens", "category": "strip", "radius_large": "400"})
    assert {k: v["value"] for k, v in table(page).items() if k != "371000"} == STRIP_400
    assert {r["district"]: r["value"] for r in api(ind_server, "park_coverage", asked)["districts"]} == STRIP_400
    assert {p["district"]: p["value"] for p in paths(page)} == STRIP_400
    # a value out of bounds is not asked for: the panel says which parameter
    set_param(page, "radius_large", "9000")
    wait_state(page, ("error",))
    assert "大型公园服务半径" in page.page.locator(".atlas-ind-message").text_content() and not paths(page)
    set_param(page, "radius_large", "500")
    wait_state(page, query={"radius_large": "500"})

    # "show on the map" unticked, and the panel closed: the map and its legend go
    page.page.uncheck(".atlas-ind [name=ind-show-map]")
    assert not paths(page) and not legend(page)
    page.page.check(".atlas-ind [name=ind-show-map]")
    page.page.wait_for_function("() => document.querySelectorAll('.leaflet-atlas-thematic-pane path').length === 4")
    page.page.click(".atlas-ind-close")
    assert not paths(page) and not legend(page)


def test_hostile_names_stay_text_and_the_csv_is_the_apis(open_map, ind_server):
    page = open_map("", server=ind_server)
    asked = open_strip(page)
    assert table(page)[HOSTILE]["name"] == HOSTILE
    assert HOSTILE in click_district(page, HOSTILE, 3500, 500)
    assert page.js("() => document.querySelectorAll('.atlas-ind img, .leaflet-popup img, .atlas-legend img').length") == 0

    href = page.page.get_attribute(".atlas-ind-csv", "href")
    assert dict(parse_qsl(href.split("?", 1)[1], keep_blank_values=True)) == {**asked, "format": "csv", "lang": "zh"}
    with urllib.request.urlopen(ind_server.url + href) as resp:
        status, data = resp.status, resp.read()
    assert status == 200 and data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    assert "环翠区,40.0," in text and HOSTILE in text


def test_a_compare_time_shows_the_change(open_map, tmp_path):
    server = serve(tmp_path)
    try:
        time.sleep(1.1)  # the compare field is to the second
        before = datetime.now(timezone.utc).isoformat()
        time.sleep(1.1)
        server.store.delete("greens", ["g-strip"], actor="测试", message="删除公园")
        page = open_map("", server=server)
        open_strip(page)
        assert {k: v["value"] for k, v in table(page).items() if k != "371000"} == {d: 0.0 for d in STRIP}
        local = page.js("""iso => { const d = new Date(iso), p = n => String(n).padStart(2, '0');
            return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`; }""",
                        before)
        set_param(page, "compare", local)
        asked = wait_state(page, query={"layer": "greens", "category": "strip"})
        page.page.wait_for_function("() => !!document.querySelector('.atlas-ind-table .atlas-ind-change')")
        asked = wait_state(page)
        assert "compare" in asked
        got = table(page)
        assert {k: v["then"] for k, v in got.items() if k != "371000"} == STRIP
        assert {k: v["change"] for k, v in got.items() if k != "371000"} == {d: -v for d, v in STRIP.items()}
        assert got[B]["change_text"] == "-63.33" and got["371000"]["change"] == -34.0
        answer = api(server, "park_coverage", asked)
        assert {r["district"]: r["change"] for r in answer["districts"]} == {k: v["change"] for k, v in got.items()
                                                                             if k != "371000"}
        assert "变化" in page.page.locator(".atlas-ind-rule").text_content()
        popup = click_district(page, A, 300, 500)
        assert "对比时：40.0 %" in popup and "变化：-40.0" in popup
    finally:
        server.stop()
