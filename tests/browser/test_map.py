"""The map page in real headless Chromium over the small test atlas.

Every page is watched by the fixtures: a console error, an uncaught exception, a dialog or a request
to any host but the live server fails the test.
"""
from __future__ import annotations

import copy
import re
import urllib.request

import pytest
from pyproj import Geod

from geo.store import open_store
from layers import build as builder
from layers import style
from layers.map import page as mapview
from server import create_app
from tests.browser.conftest import LiveServer
from tests.conftest import small_sources, write_sources

LAYERS = ["districts", "zones", "parks", "roads", "projects"]
#: A view with every test feature on screen and clear of the controls (1280x800).
VIEW = "?center=37.4675,122.1075&zoom=12"
HOSTILE_ZH = '<img src=x onerror="document.title=\'pwned\'">'
HOSTILE_EN = "${alert(1)}"
HUAXIA = (37.4437, 122.0631)
HOSTILE = (37.50, 122.12)
ROAD_MID = (37.5025, 122.095)
YUANYAO = (37.535, 122.185)


def api_ids(page, layer, query=""):
    body = page.js("url => fetch(url).then(r => r.json())", f"/api/layers/{layer}?limit=1000{query}")
    return sorted(f["id"] for f in body["features"])


def control_boxes(page):
    """Bounding boxes of every visible Leaflet control, with a name for the message."""
    return page.js("""() => [...document.querySelectorAll('.leaflet-control')]
        .filter(el => el.offsetParent !== null && !el.hidden)
        .map(el => { const r = el.getBoundingClientRect();
                     return {name: el.className.split(' ').filter(c => c !== 'leaflet-control').join('.'),
                             x0: r.left, y0: r.top, x1: r.right, y1: r.bottom}; })""")


def assert_no_overlaps(page, width, height):
    boxes = control_boxes(page)
    assert len(boxes) >= 7, boxes
    for box in boxes:
        assert box["x0"] >= 0 and box["y0"] >= 0 and box["x1"] <= width and box["y1"] <= height, box
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            apart = a["x1"] <= b["x0"] or b["x1"] <= a["x0"] or a["y1"] <= b["y0"] or b["y1"] <= a["y0"]
            assert apart, f"controls overlap: {a} and {b}"


def hover(page, latlng):
    x, y = page.screen_point(*latlng)
    page.page.mouse.move(x - 30, y - 30)
    page.page.mouse.move(x, y, steps=4)
    # Chromium coalesces quick mouse moves: settle on the spot so the last one is delivered
    for dx in (1, 0):
        page.page.wait_for_timeout(60)
        page.page.mouse.move(x + dx, y)
    return x, y


def tooltip_text(page):
    page.page.wait_for_selector(".atlas-tooltip .atlas-tip-name", timeout=3000)
    return page.js("() => document.querySelector('.atlas-tooltip .atlas-tip-name').textContent")


def popup(page, fid):
    """The open popup, which must be the one of feature ``fid`` (a closing one fades for 200 ms)."""
    selector = f".leaflet-popup .atlas-popup[data-feature-id='{fid}']"
    page.page.wait_for_selector(selector, timeout=4000)
    page.page.wait_for_function("() => document.querySelectorAll('.leaflet-popup').length === 1", timeout=2000)
    return page.page.locator(selector)


# -- loading and drawing ----------------------------------------------------------------------------
def test_page_loads_offline_and_draws_every_layer(open_map, artifacts):
    page = open_map(VIEW)
    assert page.js("() => document.documentElement.lang") == "zh-CN"
    assert page.js("() => Atlas.currentBasemap") == "none"
    assert page.js("() => Atlas.map.getContainer().classList.contains('atlas-offline')")
    for layer in LAYERS:
        drawn = page.drawn_ids(layer)
        assert drawn and drawn == api_ids(page, layer), layer
        # drawn on the map's one canvas, not merely loaded
        assert page.js("""id => { const r = Atlas.canvas; let n = 0;
            Atlas.layers[id].eachLayer(g => g.eachLayer(l => { if (r._layers[L.stamp(l)]) n++; })); return n; }""",
                       layer) == len(drawn)
    # the land of the offline map: the district's boundary filled over the sea-blue background, taken
    # from the districts layer's own data (no second request) ...
    assert page.js("() => Atlas.land.featureIds()") == ["districts-huancui"]
    assert not [u for u in page.watch.api if "category=city" in u]
    # ... or fetched on its own when that layer is hidden
    alone = open_map(VIEW + "&layers=parks")
    assert alone.js("() => Atlas.land.featureIds()") == ["districts-huancui"]
    assert [u for u in alone.watch.api if "/api/layers/districts?category=city" in u]
    legend = page.page.locator(".atlas-legend").inner_text()
    for title in ("行政区划与功能区", "公园与景区", "重点项目", "景区", "科创平台", "近似位置", "示意范围", "规划"):
        assert title in legend
    assert page.page.locator(".leaflet-control-layers-overlays label").count() == len(LAYERS)
    assert page.page.locator(".leaflet-control-scale-line").inner_text().strip().endswith(("km", "m"))
    assert_no_overlaps(page, 1280, 800)
    page.page.screenshot(path=str(artifacts / "map-1280x800.png"))


def test_styles_follow_category_status_and_accuracy(open_map):
    page = open_map(VIEW)
    style = page.js("""() => { const out = {};
        Object.values(Atlas.layers).forEach(lay => lay.eachLayer(g => g.eachLayer(l => {
            out[l.feature.id] = {color: l.options.color, fillColor: l.options.fillColor, dash: l.options.dashArray,
                                 fillOpacity: l.options.fillOpacity}; }))); return out; }""")
    layers = {lay["id"]: lay for lay in page.js("() => Atlas.config.layers")}
    parks = layers["parks"]["style"]["categories"]
    assert style["parks-huaxiacheng"]["color"] == parks["scenic_area"]["color"]
    assert style["parks-hostile"]["color"] == parks["urban_park"]["color"]
    assert style["districts-huancui"]["dash"] is None            # surveyed: solid
    assert style["districts-gaoqu"]["dash"] == "2 6"              # schematic: dotted
    assert style["parks-huaxiacheng"]["dash"] == "8 5"            # an approximate area: dashed outline
    assert style["projects-yuanyao"]["dash"] == "5 3"             # an approximate point: dashed ring
    # status: an operating project is filled, one under construction half filled
    assert style["projects-yuanyao"]["fillOpacity"] > style["projects-weiqiao"]["fillOpacity"]


#: Point rings no JS ever hard-coded: a page that ignores the palette in its config draws others.
POINT_DASHES = {"surveyed": "9 1", "approximate": "7 2", "schematic": "1 4"}
#: A point of each accuracy class (the small atlas's points are all approximate; one more is added).
POINT_ACCURACY = {"projects-weiqiao": "surveyed", "projects-third": "approximate", "projects-yuanyao": "schematic"}


@pytest.fixture(scope="module")
def palette_server(tmp_path_factory):
    """The small atlas with its points spread over the accuracy classes."""
    sources = small_sources()
    third = copy.deepcopy(sources["projects"][0])
    third["properties"].update(id="projects-third", name_zh="第三个项目")
    third["geometry"]["coordinates"] = [122.15, 37.52]
    sources["projects"].append(third)
    for features in sources.values():
        for f in features:
            if f["properties"]["id"] in POINT_ACCURACY:  # set by hand: no position source to follow from
                f["properties"]["accuracy"] = POINT_ACCURACY[f["properties"]["id"]]
                f["properties"].pop("position_source", None)
    folder = tmp_path_factory.mktemp("atlas-palette")
    store = open_store(folder / "atlas.gpkg", key="id")
    builder.build(store, write_sources(folder / "sources", sources))
    server = LiveServer(create_app({"STORE": str(store.path), "TESTING": True}))
    yield server
    server.stop()


def test_point_rings_and_legend_patterns_come_from_the_palette(open_map, palette_server, monkeypatch):
    for key, dash in POINT_DASHES.items():
        monkeypatch.setitem(style.ACCURACY_STYLE[key], "pointDashArray", dash)
    monkeypatch.setitem(style.ACCURACY_STYLE["approximate"], "pattern", "dotted")  # the legend's, likewise
    page = open_map(VIEW, server=palette_server)
    drawn = page.js("""() => { const out = [];
        ['projects'].forEach(id => Atlas.layers[id].eachLayer(g => g.eachLayer(l => out.push({
            id: l.feature.id, accuracy: l.feature.properties.accuracy, dash: l.options.dashArray,
            palette: Atlas.layerConfig(id).style.accuracy[l.feature.properties.accuracy]})))); return out; }""")
    assert {d["accuracy"] for d in drawn} == set(style.ACCURACY_STYLE), drawn
    for point in drawn:
        assert point["palette"]["pointDashArray"] == POINT_DASHES[point["accuracy"]], point  # the config carries it
        assert point["dash"] == point["palette"]["pointDashArray"], point                    # the page draws it
    keys = page.js("""() => Object.fromEntries([...document.querySelectorAll('.atlas-legend [data-accuracy]')]
        .map(k => [k.dataset.accuracy, k.querySelector('.atlas-sym').className]))""")
    assert "atlas-pat-dotted" in keys["approximate"] and "atlas-pat-dashed" not in keys["approximate"], keys
    assert "atlas-pat-solid" in keys["surveyed"] and "atlas-pat-dotted" in keys["schematic"], keys


# -- tooltip and popup ------------------------------------------------------------------------------
def test_hover_shows_tooltip_and_click_opens_the_right_popup(open_map):
    page = open_map(VIEW)
    hover(page, HUAXIA)
    assert tooltip_text(page) == "华夏城"
    page.page.mouse.click(*page.screen_point(*HUAXIA))
    box = popup(page, "parks-huaxiacheng")
    text = box.inner_text()
    for part in ("华夏城", "Huaxia City", "景区", "运营中", "环翠区", "占地：3767亩", "华夏城的说明", "近似位置",
                 "测试数据", "公园与景区"):
        assert part in text, part
    # its outline's area in 亩, beside the article's figure (measured here on the ellipsoid)
    mu = abs(Geod(ellps="WGS84").polygon_area_perimeter([122.0581, 122.0681, 122.0681, 122.0581],
                                                        [37.4397, 37.4397, 37.4477, 37.4477])[0]) / (10000 / 15)
    shown = re.search(r"本图轮廓 ([\d,]+) 亩，为文章“占地 3767亩”的 (\d+)%", text)
    assert shown, text
    assert abs(int(shown[1].replace(",", "")) - mu) < 2 and abs(int(shown[2]) - 100 * mu / 3767) < 1
    assert box.locator("dd[data-schematic=false]").count() == 1 and "非实测" not in text
    # where the position comes from, beside the accuracy note (zh first)
    position = box.locator(".atlas-popup-position")
    assert position.get_attribute("data-position-kind") == "public_poi"
    assert position.locator("strong").inner_text() == "位置来源：公开地图兴趣点"
    assert position.locator(".atlas-popup-position-note").inner_text().strip() == "测试位置：兴趣点换算而来，偏差约300米"
    assert position.locator(".atlas-popup-position-ref").inner_text() == "测试兴趣点（高德）"
    box.locator(".atlas-popup-sources summary").click()
    assert "测试：华夏城。" in box.inner_text() and "test.txt" in box.inner_text()
    assert page.js("() => !!Atlas._highlight")  # the clicked feature is outlined

    page.page.click(".leaflet-popup-close-button")
    assert not page.js("() => !!Atlas._highlight")
    hover(page, ROAD_MID)
    assert tooltip_text(page) == "望岛河南路"
    page.page.mouse.click(*page.screen_point(*ROAD_MID))
    road = popup(page, "roads-wangdaohenan")
    assert "已建成" in road.inner_text() and "2018" in road.inner_text() and "千米" in road.inner_text()

    # a polygon: the schematic pilot zone on top of the district
    page.page.mouse.click(*page.screen_point(37.475, 122.055))
    zone = popup(page, "zones-likoushan")
    assert "示意范围" in zone.inner_text() and "在建" in zone.inner_text() and "亩" in zone.inner_text()
    # a schematic area: its measure is qualified, and the article's figure is not compared with it
    assert zone.locator("dd[data-schematic=true]").inner_text().endswith("亩（示意范围，非实测）")
    assert zone.locator("dd.atlas-area-compare").inner_text() == "文章称“片区面积 1500亩”；本图范围只是示意，没有公开轮廓可与之比较"


def test_a_popup_near_the_right_edge_pans_clear_of_the_legend_and_layer_control(open_map):
    # 远遥 about 450 px right of the centre at zoom 14: under the legend and the layer control
    page = open_map(f"?center={YUANYAO[0]},{YUANYAO[1] - 0.0386}&zoom=14")
    x, _ = page.screen_point(*YUANYAO)
    assert x > 1280 - 300  # where the right-hand controls are
    page.page.mouse.click(*page.screen_point(*YUANYAO))
    box = popup(page, "projects-yuanyao")
    page.page.wait_for_timeout(400)  # the pan
    shown = box.locator("xpath=ancestor::div[contains(@class, 'leaflet-popup')][1]").bounding_box()
    for control in [b for b in control_boxes(page) if "layers" in b["name"] or "legend" in b["name"]]:
        apart = shown["x"] + shown["width"] <= control["x0"] or control["x1"] <= shown["x"] or \
            shown["y"] + shown["height"] <= control["y0"] or control["y1"] <= shown["y"]
        assert apart, (shown, control)
    assert len([b for b in control_boxes(page) if "legend" in b["name"]]) == 1


def test_popup_sections_of_the_page_and_of_the_offline_map(open_map, browser, tmp_path):
    """The modules that add to the popup (Atlas.popupSections): the page's Select button, the offline
    map's "all fields"; each only where its module is loaded."""
    page = open_map(VIEW)
    page.page.mouse.click(*page.screen_point(*HUAXIA))
    box = popup(page, "parks-huaxiacheng")
    assert box.locator(".atlas-popup-select").inner_text() == "选择（用于导出）"
    assert box.locator(".atlas-popup-fields-all").count() == 0

    with urllib.request.urlopen(f"{page.server.url}/export/map.html{VIEW}&layers=parks") as resp:
        path = tmp_path / "offline.html"
        path.write_bytes(resp.read())
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    context.set_offline(True)
    errors = []
    try:
        viewer = context.new_page()
        viewer.on("pageerror", lambda e: errors.append(str(e)))
        viewer.goto(path.as_uri())
        viewer.wait_for_selector("#atlas-standalone[data-atlas-state=idle]", timeout=10_000)
        x, y = viewer.evaluate("([lat, lng]) => { const p = Atlas.map.latLngToContainerPoint([lat, lng]); return [p.x, p.y]; }",
                               list(HUAXIA))
        viewer.mouse.click(x, y)
        offline = viewer.locator(".atlas-popup[data-feature-id='parks-huaxiacheng']")
        offline.wait_for(timeout=4000)
        assert offline.locator(".atlas-popup-fields-all summary").inner_text() == "全部字段"
        offline.locator(".atlas-popup-fields-all summary").click()
        assert "华夏城" in offline.locator(".atlas-popup-fields-all").inner_text()
        assert offline.locator(".atlas-popup-select").count() == 0
    finally:
        context.close()
    assert errors == []


def test_hostile_names_are_shown_as_text_and_run_nothing(open_map):
    page = open_map(VIEW)
    title = page.js("() => document.title")
    hover(page, HOSTILE)
    assert tooltip_text(page) == HOSTILE_ZH
    page.page.mouse.click(*page.screen_point(*HOSTILE))
    box = popup(page, "parks-hostile")
    assert box.locator("h3").inner_text() == HOSTILE_ZH
    assert box.locator(".atlas-popup-sub").inner_text() == HOSTILE_EN
    # its position note and source reference too: text, not elements
    assert box.locator(".atlas-popup-position-note").inner_text().strip() == HOSTILE_ZH
    assert box.locator(".atlas-popup-position-ref").inner_text() == HOSTILE_ZH
    assert page.page.locator(".leaflet-popup img, .leaflet-tooltip img, .atlas-results img").count() == 0
    # the search lists it literally too
    page.page.fill(".atlas-search-input", "onerror")
    page.page.wait_for_selector(".atlas-result")
    assert page.page.locator(".atlas-result-name").first.inner_text() == HOSTILE_ZH
    page.page.wait_for_timeout(300)  # an injected onerror would have fired by now
    assert page.js("() => document.title") == title != "pwned"
    assert page.page.locator("img[src=x]").count() == 0

    english = open_map(VIEW + "&lang=en")
    hover(english, HOSTILE)
    assert tooltip_text(english) == HOSTILE_EN
    english.page.mouse.click(*english.screen_point(*HOSTILE))
    assert popup(english, "parks-hostile").locator("h3").inner_text() == HOSTILE_EN
    english.page.wait_for_timeout(300)
    assert english.js("() => document.title") == "Weihai Planning Atlas · 精致威海规划图"
    # dialogs (alert) would fail the test in the fixture's check


# -- search ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("query,fid,latlng", [
    ("远遥", "projects-yuanyao", YUANYAO),
    ("huaxia", "parks-huaxiacheng", HUAXIA),
])
def test_search_flies_to_the_feature_and_opens_its_popup(open_map, query, fid, latlng):
    page = open_map()  # the whole-city view
    start_zoom = page.js("() => Atlas.map.getZoom()")
    page.page.fill(".atlas-search-input", query)
    page.page.wait_for_selector(f".atlas-result[data-feature-id='{fid}']")
    page.page.keyboard.press("Enter")
    popup(page, fid)
    page.wait_idle()
    # the feature is in view (its popup may have panned the map a little), close up
    assert page.js("([lat, lng]) => Atlas.map.getBounds().pad(-0.1).contains([lat, lng])", list(latlng))
    center = page.js("() => Atlas.map.getCenter()")
    assert abs(center["lat"] - latlng[0]) < 0.005 and abs(center["lng"] - latlng[1]) < 0.005
    assert page.js("() => Atlas.map.getZoom()") >= max(15, start_zoom)


def test_search_turns_a_hidden_layer_on(open_map):
    page = open_map(VIEW + "&layers=districts")
    page.page.fill(".atlas-search-input", "望岛")
    page.page.wait_for_selector(".atlas-result[data-feature-id='roads-wangdaohenan']")
    page.page.locator(".atlas-result").first.dispatch_event("mousedown")
    popup(page, "roads-wangdaohenan")
    page.wait_idle()
    assert page.drawn_ids("roads") == ["roads-wangdaohenan"]
    assert "roads" in page.js("() => Atlas.visibleLayers()")


# -- layers and filters ------------------------------------------------------------------------------
def test_toggling_a_layer_changes_what_is_drawn(open_map):
    page = open_map(VIEW)
    label = page.page.locator(".leaflet-control-layers-overlays label", has_text="公园与景区")
    label.locator("input").uncheck()
    page.wait_idle()
    assert page.drawn_ids("parks") == []
    assert page.page.locator(".atlas-legend [data-layer=parks]").count() == 0
    assert "parks" not in re.search(r"layers=([^&]*)", page.page.url).group(1)
    label.locator("input").check()
    page.wait_idle()
    assert page.drawn_ids("parks") == ["parks-hostile", "parks-huaxiacheng"]
    assert page.page.locator(".atlas-legend [data-layer=parks]").count() == 1


def test_filters_apply_to_all_layers_at_once(open_map):
    page = open_map(VIEW)
    page.page.select_option("select[name=category]", "scenic_area")
    page.wait_idle()
    assert page.drawn_ids("parks") == ["parks-huaxiacheng"]
    for layer in ("districts", "zones", "roads", "projects"):
        assert page.drawn_ids(layer) == [], layer
    assert "category=scenic_area" in page.page.url
    assert "无匹配要素" in page.page.locator(".atlas-legend [data-layer=roads]").inner_text()

    page.page.select_option("select[name=category]", "")
    page.page.select_option("select[name=status]", "operating")
    page.wait_idle()
    assert page.drawn_ids("parks") == ["parks-huaxiacheng"]
    assert page.drawn_ids("projects") == ["projects-yuanyao"]
    assert page.drawn_ids("zones") == [] and page.drawn_ids("roads") == []

    page.page.select_option("select[name=status]", "")
    page.page.select_option("select[name=district]", "高区")  # a functional area
    page.wait_idle()
    assert page.drawn_ids("districts") == ["districts-gaoqu"]
    assert page.drawn_ids("parks") == []
    page.page.select_option("select[name=district]", "371003")  # Wendeng: nothing of the test atlas
    page.wait_idle()
    assert all(page.drawn_ids(layer) == [] for layer in LAYERS)

    page.page.click(".atlas-filter-clear")
    page.wait_idle()
    assert all(page.drawn_ids(layer) == api_ids(page, layer) for layer in LAYERS)
    assert "district=" not in page.page.url


# -- the URL carries the view ----------------------------------------------------------------------
def test_a_shared_url_restores_the_view(open_map):
    page = open_map()
    page.js("() => { Atlas.map.setView([37.49, 122.1], 13, {animate: false}); }")
    page.page.locator(".leaflet-control-layers-overlays label", has_text="道路与街区").locator("input").uncheck()
    page.page.select_option("select[name=status]", "under_construction")
    page.wait_idle()
    page.page.wait_for_timeout(200)  # the URL is written 150 ms after the last change
    url = page.page.url
    assert "zoom=13" in url and "status=under_construction" in url and "basemap=none" in url

    other = open_map(url[len(page.server.url) + 1:])
    assert other.js("() => Atlas.map.getZoom()") == 13
    center = other.js("() => Atlas.map.getCenter()")
    assert abs(center["lat"] - 37.49) < 1e-4 and abs(center["lng"] - 122.1) < 1e-4
    assert other.js("() => Atlas.visibleLayers()") == ["districts", "zones", "parks", "projects"]
    assert other.page.locator("select[name=status]").input_value() == "under_construction"
    for layer in LAYERS:
        assert other.drawn_ids(layer) == page.drawn_ids(layer), layer
    assert other.drawn_ids("projects") == ["projects-weiqiao"]


# -- language --------------------------------------------------------------------------------------
def test_english_interface_and_labels(open_map):
    page = open_map(VIEW + "&lang=en")
    assert page.js("() => document.documentElement.lang") == "en"
    assert page.page.locator(".atlas-title").inner_text() == "Weihai Planning Atlas"
    control = page.page.locator(".leaflet-control-layers").inner_text()
    assert "Parks and scenic areas" in control and "No basemap (offline)" in control
    legend = page.page.locator(".atlas-legend").inner_text()
    assert "scenic area" in legend and "Legend" in legend and "景区" not in legend
    assert page.page.locator("select[name=status] option[value=planned]").inner_text() == "planned"
    hover(page, HUAXIA)
    assert tooltip_text(page) == "Huaxia City"
    page.page.mouse.click(*page.screen_point(*HUAXIA))
    text = popup(page, "parks-huaxiacheng").inner_text()
    assert "Huaxia City" in text and "华夏城" in text and "scenic area" in text and "3767 mu (3767亩)" in text
    assert re.search(r"the map's outline is [\d,]+ mu, \d+% of the article's area \(3,767 mu\)", text), text
    assert "About Huaxia City" in text and "operating" in text and "Huancui District" in text
    assert "Position source：public map point of interest" in text and "test position: a converted POI, about 300 m off" in text
    assert "测试位置" not in text  # the English note, not the Chinese one


def test_language_toggle_keeps_the_view(open_map):
    page = open_map(VIEW + "&status=operating")
    page.page.click(".atlas-lang")
    page.page.wait_for_url(re.compile(r"lang=en"))
    page.wait_idle()
    assert page.page.locator(".atlas-title").inner_text() == "Weihai Planning Atlas"
    assert page.js("() => Atlas.map.getZoom()") == 12
    assert page.page.locator("select[name=status]").input_value() == "operating"
    page.page.click(".atlas-lang")
    page.page.wait_for_url(re.compile(r"lang=zh"))
    page.wait_idle()
    assert page.page.locator(".atlas-title").inner_text() == "精致威海规划图"


# -- tools -----------------------------------------------------------------------------------------
def test_measure_area_and_distance(open_map):
    page = open_map(VIEW)
    geod = Geod(ellps="GRS80")
    page.page.click(".atlas-tool-area")
    corners = [(500, 300), (800, 320), (760, 560), (480, 520)]
    for x, y in corners:
        page.page.mouse.click(x, y)
    page.page.click(".atlas-measure-actions button >> nth=0")  # finish
    state = page.js("() => Atlas.measure.state")
    assert state["done"] and state["points"] == 4
    latlngs = page.js("pts => pts.map(([x, y]) => Atlas.map.containerPointToLatLng([x - Atlas.map.getContainer().getBoundingClientRect().left, y]))",
                      corners)
    area, _ = geod.polygon_area_perimeter([p["lng"] for p in latlngs], [p["lat"] for p in latlngs])
    assert state["area_m2"] == pytest.approx(abs(area), rel=0.005)
    shown = page.page.locator(".atlas-measure-value").inner_text()
    assert "m²" in shown and "公顷" in shown and "亩" in shown
    mu = float(re.search(r"([\d,.]+) 亩", shown).group(1).replace(",", ""))
    assert mu == pytest.approx(abs(area) / (10000 / 15), rel=0.005)

    page.page.click(".atlas-tool-line")
    page.page.mouse.click(400, 400)
    page.page.mouse.dblclick(900, 500)
    state = page.js("() => Atlas.measure.state")
    a, b = page.js("pts => pts.map(([x, y]) => Atlas.map.containerPointToLatLng([x, y]))", [(400, 400), (900, 500)])
    _, _, dist = geod.inv(a["lng"], a["lat"], b["lng"], b["lat"])
    assert state["mode"] == "line" and state["done"]
    assert state["length_m"] == pytest.approx(dist, rel=0.005)
    assert "km" in page.page.locator(".atlas-measure-value").inner_text()
    assert page.js("() => Atlas.map.getZoom()") == 12  # the double-click finished, it did not zoom


def test_fullscreen_coordinates_and_scale(open_map):
    page = open_map(VIEW)
    x, y = page.screen_point(37.5, 122.1)
    page.page.mouse.move(x, y)
    text = page.page.locator(".atlas-coords").inner_text()
    lat, lng = (float(v) for v in re.findall(r"\d+\.\d{5}", text))
    assert abs(lat - 37.5) < 0.001 and abs(lng - 122.1) < 0.001
    page.page.click(".atlas-tool-fullscreen")
    page.page.wait_for_function("() => document.fullscreenElement === document.documentElement")
    page.page.wait_for_function("() => document.querySelector('.atlas-tool-fullscreen').title === '退出全屏'")
    page.page.click(".atlas-tool-fullscreen")
    page.page.wait_for_function("() => document.fullscreenElement === null")


# -- basemaps ---------------------------------------------------------------------------------------
def test_online_basemap_unreachable_leaves_the_map_usable(open_map):
    page = open_map(VIEW + "&basemap=osm", tile_hosts=("tile.openstreetmap.org",))
    page.page.wait_for_selector(".atlas-notice-warning")
    assert page.watch.tiles, "the OSM basemap asked for no tiles"
    assert page.drawn_ids("parks") == ["parks-hostile", "parks-huaxiacheng"]
    assert not page.js("() => Atlas.map.hasLayer(Atlas.land)")  # no land fill over tiles
    page.page.locator(".leaflet-control-layers-base label", has_text="无底图").locator("input").check()
    page.wait_idle()
    assert page.js("() => Atlas.map.hasLayer(Atlas.land) && Atlas.currentBasemap") == "none"
    assert "basemap=none" in page.page.url


# -- a large layer ------------------------------------------------------------------------------------
def test_a_large_layer_is_fetched_by_view_and_simplified(open_map, large_server, monkeypatch):
    monkeypatch.setattr(mapview, "MAX_DRAWN", 6000)
    page = open_map("?layers=districts,synthetic_roads", server=large_server)
    first = [u for u in page.watch.api if "/api/layers/synthetic_roads" in u]
    assert first and all("bbox=" in u and "simplify=" in u for u in first)
    overview = page.js("() => [Atlas.layers.synthetic_roads.drawn, Atlas.layers.synthetic_roads.matched]")
    assert 0 < overview[0] <= overview[1] < 12_000
    # the whole city: more match than the page draws at once, and the legend says so
    page.js("() => { Atlas.map.setZoom(8, {animate: false}); }")
    page.wait_idle()
    drawn, matched = page.js("() => [Atlas.layers.synthetic_roads.drawn, Atlas.layers.synthetic_roads.matched]")
    assert matched > drawn >= 6000
    assert "放大查看全部" in page.page.locator(".atlas-legend [data-layer=synthetic_roads]").inner_text()
    # a street's view: only what is there, all of it, in finer geometry
    page.js("() => { Atlas.map.setView([37.5, 122.1], 14, {animate: false}); }")
    page.wait_idle()
    drawn, matched = page.js("() => [Atlas.layers.synthetic_roads.drawn, Atlas.layers.synthetic_roads.matched]")
    assert 0 < drawn == matched < 1000
    last = [u for u in page.watch.api if "/api/layers/synthetic_roads" in u][-1]
    coarse = [u for u in page.watch.api if "/api/layers/synthetic_roads" in u][0]
    simplify = lambda u: int(re.search(r"simplify=(\d+)", u).group(1))
    assert simplify(last) < simplify(coarse)
    html = page.js("() => fetch('/?layers=districts,synthetic_roads').then(r => r.text())")
    assert len(html.encode()) < 40_000 and "合成道路1" not in html


# -- a phone ------------------------------------------------------------------------------------------
def test_phone_sized_screen(open_map, artifacts):
    page = open_map(width=390, height=844, mobile=True)
    assert page.page.locator(".atlas-filter-body").is_hidden()
    assert page.page.locator(".leaflet-control-layers-list").is_hidden()
    assert_no_overlaps(page, 390, 844)
    assert page.page.locator(".atlas-legend-body").is_visible()
    page.page.screenshot(path=str(artifacts / "map-390x844.png"))
    page.page.click(".leaflet-control-layers-toggle")  # the layer list opens on a tap ...
    assert page.page.locator(".leaflet-control-layers-list").is_visible()
    page.page.mouse.click(60, 450)                        # ... and closes on a tap on the map
    assert page.page.locator(".leaflet-control-layers-list").is_hidden()
    page.page.click(".atlas-filter-toggle")
    assert page.page.locator("select[name=district]").is_visible()
    page.page.select_option("select[name=category]", "innovation")
    page.wait_idle()
    assert page.drawn_ids("projects") == ["projects-yuanyao"]


def test_a_count_that_stops_says_more_than(open_map, large_server, monkeypatch):
    """A filter that 10,800 of the 12,000 roads match: the API (its count cap lowered to 10,000 for
    this small layer) stops counting there and the legend says "more than 10,000", not a number it
    does not know."""
    from layers.api import params

    monkeypatch.setattr(mapview, "MAX_DRAWN", 6000)
    monkeypatch.setattr(params, "COUNT_AT_MOST", 10_000)
    page = open_map("?layers=districts,synthetic_roads&category=bottleneck_road&center=37.3,122.0&zoom=8",
                    server=large_server)
    more, matched, drawn = page.js("() => { const l = Atlas.layers.synthetic_roads; return [l.more, l.matched, l.drawn]; }")
    assert more is True and matched == 10_001 and drawn >= 6000
    note = page.page.locator(".atlas-legend [data-layer=synthetic_roads]").inner_text()
    assert "超过 10,000" in note and f"{drawn:,}" in note
