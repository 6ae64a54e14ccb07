"""The spatial analysis panel (static/atlas-analysis.js, atlas-analysis-overlay.js) in real headless
Chromium, over the spatial test atlas of known geometry (tests/layers/spatial_atlas.py) plus one work
with a hostile name inside Z2: a polygon drawn by clicks (closed by a double-click) finds what
POST /api/query finds for the same polygon, with the same 亩, and the known features; a feature picked
on the map (and the open popup's feature) plus a distance draws its region, dashed, and finds the
known features; the overlay of works × zoning shows the known pairs, covered areas and features
outside; the exports answer 200 (CSV with a BOM, GeoJSON that parses); 清除 removes every layer drawn;
the hostile name is text."""
from __future__ import annotations

import codecs
import json
import re
import urllib.request

import pytest
import shapely

from geo.store import open_store
from server import create_app
from tests.browser.conftest import LiveServer, add_user
from tests.browser.test_edit_ui import login
from tests.layers.spatial_atlas import ROWS, frame
from tests.layers.stats_atlas import X0, Y0, box, to_wgs

HOSTILE = "<img src=x onerror=alert(1)>"
#: W9: a work with a markup name, 100 × 100 m inside Z2 (15 亩)
WORKS = ROWS["works"] + [("W9", HOSTILE, "项目", box(1600, 100, 1700, 200))]
VIEW = "?layers=zoning,works,spots,ways"
MU = 10000 / 15


@pytest.fixture(scope="module")
def analysis_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("atlas-analysis-panel")
    store = open_store(folder / "atlas.gpkg", key="id")
    store.replace({**{name: frame(rows) for name, rows in ROWS.items()}, "works": frame(WORKS)})
    app = create_app({"STORE": str(store.path), "TESTING": True})
    add_user(app, "viewer1", "viewer")
    server = LiveServer(app)
    server.app = app
    yield server
    server.stop()


def api_query(server, body: dict) -> dict:
    response = server.app.test_client().post("/api/query", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def api_overlay(server, **params) -> dict:
    response = server.app.test_client().get("/api/overlay", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def latlng(x: float, y: float) -> tuple[float, float]:
    p = to_wgs(shapely.Point(X0 + x, Y0 + y))
    return p.y, p.x


def fit(page, x1, y1, x2, y2):
    """The map's view on these metres, right of the panel (which takes the clicks over it)."""
    (s, w), (n, e) = latlng(x1, y1), latlng(x2, y2)
    page.js("b => Atlas.map.fitBounds(b, {animate: false, paddingTopLeft: [900, 90], paddingBottomRight: [20, 90]})",
            [[s, w], [n, e]])
    page.wait_idle()


def click_at(page, x, y, *, double=False):
    px, py = page.screen_point(*latlng(x, y))
    page.page.mouse.move(px, py, steps=2)
    if double:
        page.page.mouse.dblclick(px, py)
    else:
        page.page.mouse.click(px, py)
    page.page.wait_for_timeout(120)  # not a double-click


def open_panel(page):
    page.page.click(".atlas-tool-analysis")
    page.page.wait_for_selector(".atlas-analysis:not([hidden])")


def run_query(page) -> dict:
    """Run the query; the page asks it once (its features come with their parts inside)."""
    sent = []
    watch = lambda r: sent.append(r.post_data_json) if r.url.endswith("/api/query") and r.method == "POST" else None
    page.page.on("request", watch)
    page.page.click(".atlas-analysis-run")
    page.page.wait_for_selector(".atlas-analysis[data-query-state=ready]", timeout=10_000)
    page.page.remove_listener("request", watch)
    assert len(sent) == 1 and sent[0]["geometry"] is True and "format" not in sent[0], sent
    return json.loads(page.page.get_attribute(".atlas-analysis", "data-query"))


def listed(page) -> dict:
    """Per layer what the result list shows: {id: (name, 亩 inside, share)} and the layer's stats."""
    return page.js("""() => Object.fromEntries([...document.querySelectorAll('.atlas-analysis-layer')].map(sec => {
        const stats = sec.querySelector('.atlas-analysis-stats');
        return [sec.getAttribute('data-layer'), {
            rows: Object.fromEntries([...sec.querySelectorAll('.atlas-analysis-row')].map(tr => [tr.getAttribute('data-id'),
                [tr.cells[0].textContent, Number(tr.getAttribute('data-area-mu')), Number(tr.getAttribute('data-share'))]])),
            count: Number(stats.getAttribute('data-count')), mu: Number(stats.getAttribute('data-area-mu'))}];
    }))""")


def same_as_api(shown: dict, answer: dict):
    assert set(shown) == set(answer["layers"])
    for layer, found in answer["layers"].items():
        assert {r["id"]: (pytest.approx(r["inside"]["area_mu"]), pytest.approx(r["share"])) for r in found["features"]} == \
            {i: (mu, share) for i, (_, mu, share) in shown[layer]["rows"].items()}, layer
        assert shown[layer]["count"] == found["stats"]["count"]
        assert shown[layer]["mu"] == pytest.approx(found["stats"]["inside"]["area_mu"])


def download(page, selector: str) -> tuple[str, bytes]:
    with page.page.expect_download() as info:
        page.page.click(selector)
    got = info.value
    with open(got.path(), "rb") as file:
        return got.suggested_filename, file.read()


def drawn(page, key: str) -> int:
    return page.js("k => Atlas.analysis.layers[k] ? Atlas.analysis.layers[k].getLayers().length : 0", key)


# -- the query ---------------------------------------------------------------------------------------------
def test_a_polygon_drawn_by_clicks_finds_what_the_api_finds(open_map, analysis_server, artifacts):
    page = open_map(VIEW, server=analysis_server)
    fit(page, -400, -400, 1400, 800)
    open_panel(page)
    # the layers searched: the visible ones
    checked = page.js("() => [...document.querySelectorAll('input[name=analysis-layer]:checked')].map(i => i.value)")
    assert sorted(checked) == sorted(page.js("() => Atlas.visibleConfigs().map(c => c.id)")) == \
        ["spots", "ways", "works", "zoning"]
    page.page.click(".atlas-analysis-draw")
    corners = [(-200, -200), (1200, -200), (1200, 600), (-200, 600)]
    for x, y in corners[:3]:
        click_at(page, x, y)
    live = page.page.locator(".atlas-analysis-area").inner_text()
    assert "亩" in live and "亩" in page.page.locator(".atlas-draw-box .atlas-draw-value").inner_text()
    click_at(page, *corners[3], double=True)  # the double-click closes it
    page.page.wait_for_selector(".atlas-analysis[data-polygon]")
    polygon = json.loads(page.page.get_attribute(".atlas-analysis", "data-polygon"))
    assert polygon["type"] == "Polygon" and len(polygon["coordinates"][0]) == 5
    assert page.js("() => Atlas.draw.state()") is None  # the drawing ended, the region stays shown
    area = page.page.locator(".atlas-analysis-area").inner_text()
    assert float(re.search(r"([\d,.]+) 亩", area).group(1).replace(",", "")) == pytest.approx(1400 * 800 / MU, rel=0.02)

    body = run_query(page)
    assert body["polygon"] == polygon and body["predicate"] == "intersects"
    answer = api_query(analysis_server, body)
    shown = listed(page)
    same_as_api(shown, answer)
    # the known answer (pixels move the corners by a few metres: W1 is wholly inside, the rest cut)
    assert set(shown["works"]["rows"]) == {"W1", "W2", "W3"} and set(shown["zoning"]["rows"]) == {"Z1", "Z2"}
    assert set(shown["spots"]["rows"]) == {"P1"} and set(shown["ways"]["rows"]) == {"L1"}
    assert tuple(shown["works"]["rows"]["W1"][1:]) == (pytest.approx(750, rel=1e-6), 1.0)
    assert shown["works"]["rows"]["W1"][0] == "南半"
    assert answer["region"]["properties"]["area_mu"] == pytest.approx(1400 * 800 / MU, rel=0.02)
    page.page.screenshot(path=str(artifacts / "analysis-query.png"))
    # the region drawn dashed, the parts found highlighted
    assert drawn(page, "region") == 1 and drawn(page, "found") == 7
    assert page.js("() => Atlas.analysis.layers.region.getLayers()[0].options.dashArray")
    # exports: the API's files of the same query
    name, data = download(page, ".atlas-analysis-geojson")
    fc = json.loads(data)
    assert name.endswith(".geojson") and fc["features"][0]["properties"]["kind"] == "region"
    assert {f["id"] for f in fc["features"][1:]} == {"W1", "W2", "W3", "Z1", "Z2", "P1", "L1"}
    name, data = download(page, ".atlas-analysis-csv")
    assert name.endswith(".csv") and data.startswith(codecs.BOM_UTF8) and "南半" in data.decode("utf-8-sig")
    # a row flies to its feature and opens its popup
    page.page.click(".atlas-analysis-layer[data-layer=works] .atlas-analysis-row[data-id=W2]")
    page.page.wait_for_selector(".leaflet-popup .atlas-popup[data-feature-id=W2]", timeout=10_000)
    # 清除: nothing of ours stays on the map
    page.page.click(".atlas-analysis-clear")
    assert drawn(page, "region") == drawn(page, "found") == 0
    assert page.page.locator(".atlas-analysis-row").count() == 0
    assert page.page.get_attribute(".atlas-analysis", "data-query-state") == "idle"


def test_a_feature_and_a_distance_draw_the_region_and_find_the_known_features(open_map, analysis_server):
    page = open_map(VIEW, server=analysis_server)
    fit(page, 2900, -300, 6300, 1300)
    open_panel(page)
    page.page.check("input[name=analysis-region][value=feature]")
    # the open popup's feature
    click_at(page, 6050, 50)
    page.page.wait_for_selector(".leaflet-popup .atlas-popup[data-feature-id=W6]")
    page.page.click(".atlas-analysis-from-popup")
    assert page.page.get_attribute(".atlas-analysis-picked", "data-feature") == "works:W6"
    # a feature picked on the map: no popup, it becomes the region's feature
    page.page.click(".atlas-analysis-pick")
    click_at(page, 3500, 500)  # W5, in Z3's hole
    assert page.page.get_attribute(".atlas-analysis-picked", "data-feature") == "works:W5"
    assert page.page.locator(".leaflet-popup").count() == 0
    assert "洞里" in page.page.locator(".atlas-analysis-picked").inner_text()
    page.page.fill("input[name=analysis-distance]", "300")
    body = run_query(page)
    assert body["feature"] == {"layer": "works", "id": "W5"} and body["distance_m"] == 300
    answer = api_query(analysis_server, body)
    shown = listed(page)
    same_as_api(shown, answer)
    # 3100–3900 × 100–900: W5 and W7, Z3's ring; nothing of the spots and ways
    assert set(shown["works"]["rows"]) == {"W5", "W7"} and set(shown["zoning"]["rows"]) == {"Z3"}
    assert shown["spots"]["rows"] == {} and shown["ways"]["rows"] == {}
    assert tuple(shown["works"]["rows"]["W5"][1:]) == (pytest.approx(200 * 200 / MU, rel=1e-6), 1.0)
    # the buffer of a 200 m square by 300 m: 800² less the corners' squares plus their quarter circles
    want = (800 * 800 - 4 * 300 * 300 + 3.14159265 * 300 * 300) / MU
    assert answer["region"]["properties"]["area_mu"] == pytest.approx(want, rel=0.003)
    assert drawn(page, "region") == 1 and drawn(page, "found") == 3
    # within: only what lies wholly inside
    page.page.select_option("select[name=analysis-predicate]", "within")
    body = run_query(page)
    assert set(listed(page)["works"]["rows"]) == {"W5", "W7"} and listed(page)["zoning"]["rows"] == {}
    same_as_api(listed(page), api_query(analysis_server, body))


def test_signed_in_the_query_carries_the_csrf_token(open_map, analysis_server):
    """With the session cookie a POST needs X-CSRFToken: the panel's query and its export send it."""
    page = open_map(VIEW, server=analysis_server)
    login(page, "viewer1")
    fit(page, -400, -400, 1400, 800)
    open_panel(page)
    page.page.check("input[name=analysis-region][value=feature]")
    page.page.click(".atlas-analysis-pick")
    click_at(page, 300, 300)  # P1, a point in Z1 (over W1 and W2: the point is drawn on top)
    picked = page.page.get_attribute(".atlas-analysis-picked", "data-feature")
    assert picked == "spots:P1"
    page.page.fill("input[name=analysis-distance]", "100")
    with page.page.expect_request(lambda r: r.url.endswith("/api/query") and r.method == "POST") as sent:
        body = run_query(page)
    token = page.js("() => Atlas.session.csrf_token")
    assert token and sent.value.headers.get("x-csrftoken") == token
    shown = listed(page)
    same_as_api(shown, api_query(analysis_server, body))
    assert set(shown["works"]["rows"]) == {"W1", "W2"} and set(shown["zoning"]["rows"]) == {"Z1"}
    name, data = download(page, ".atlas-analysis-csv")
    assert data.startswith(codecs.BOM_UTF8)


# -- the overlay ---------------------------------------------------------------------------------------------
PAIRS = {("W1", "Z1"): 750, ("W2", "Z1"): 750, ("W3", "Z2"): 750, ("W4", "Z1"): 30, ("W4", "Z2"): 45,
         ("W7", "Z3"): 15, ("W8", "Z4"): 15, ("W9", "Z2"): 15}


def test_the_overlay_shows_the_known_pairs_covered_and_outside_and_exports(open_map, analysis_server, artifacts):
    page = open_map(VIEW, server=analysis_server)
    open_panel(page)
    page.page.click(".atlas-analysis-tab[data-tab=overlay]")
    page.page.select_option("select[name=overlay-left]", "works")
    page.page.select_option("select[name=overlay-right]", "zoning")
    page.page.click(".atlas-overlay-run")
    page.page.wait_for_selector(".atlas-analysis[data-overlay-state=ready]", timeout=10_000)
    rows = page.js("""() => Object.fromEntries(['pairs', 'covered', 'outside'].map(t =>
        [t, [...document.querySelectorAll('.atlas-overlay-' + t + ' .atlas-analysis-row')].map(tr =>
            Object.assign({text: [...tr.cells].map(c => c.textContent)}, tr.dataset))]))""")
    pairs = {(r["left"], r["right"]): float(r["areaMu"]) for r in rows["pairs"]}
    assert pairs == {k: pytest.approx(v, rel=1e-6) for k, v in PAIRS.items()}
    covered = {r["right"]: (float(r["share"]), int(r["count"])) for r in rows["covered"]}
    assert covered == {"Z1": (pytest.approx(0.77), 3), "Z2": (pytest.approx(0.51), 3),
                       "Z3": (pytest.approx(10_000 / 750_000, abs=1e-6), 1), "Z4": (pytest.approx(0.125), 1)}
    assert {r["id"] for r in rows["outside"]} == {"W5", "W6"}
    answer = api_overlay(analysis_server, left="works", right="zoning")
    assert len(answer["pairs"]) == len(rows["pairs"]) and len(answer["outside"]) == len(rows["outside"])
    # the hostile name: text in its cell, no element made of it
    hostile = [r for r in rows["pairs"] if r["left"] == "W9"][0]
    assert hostile["text"][0] == HOSTILE and hostile["text"][1] == "二号区"
    assert page.js("() => document.querySelectorAll('.atlas-analysis img').length") == 0
    page.page.screenshot(path=str(artifacts / "analysis-overlay.png"))
    # the intersections and the features outside on the map
    assert drawn(page, "overlay") == len(PAIRS) + 2
    # exports: the API's files
    links = page.js("() => Object.fromEntries([...document.querySelectorAll('.atlas-overlay-file')].map(a => "
                    "[a.getAttribute('data-file'), a.href]))")
    assert set(links) == {"geojson", "pairs", "covered", "outside"}
    for kind, url in links.items():
        with urllib.request.urlopen(url) as response:
            assert response.status == 200
            data = response.read()
        if kind == "geojson":
            fc = json.loads(data)
            assert fc["type"] == "FeatureCollection" and len(fc["features"]) == len(PAIRS) + 2
        else:
            assert data.startswith(codecs.BOM_UTF8), kind
            assert len(data.decode("utf-8-sig").strip().splitlines()) == 1 + len(rows[kind]), kind
    with urllib.request.urlopen(links["pairs"]) as response:
        assert HOSTILE in response.read().decode("utf-8-sig")
    page.page.click(".atlas-analysis-clear")
    assert drawn(page, "overlay") == 0 and page.page.locator(".atlas-overlay-pairs").count() == 0
