"""The attribute table (数据表) in real headless Chromium: it sorts and filters on the server, scrolls
through thousands of rows drawing only those in sight, flies to and highlights a row's feature, keeps
the map's selection and its rows in step, exports exactly the selection and the table as shown, and
shows hostile names as text. Pages are watched by the fixtures (no console error, no dialog — an
``alert`` would be one —, no request to another host)."""
from __future__ import annotations

import json

import pytest

from bench.synthetic import zone_polygons
from geo.store import open_store
from layers import build as builder
from server import create_app
from tests.browser.conftest import LiveServer
from tests.browser.test_export_panel import click_at
from tests.browser.test_map import HOSTILE, HOSTILE_ZH, HUAXIA, VIEW
from tests.conftest import write_sources

N = 2500
LAYER = "synthetic_zones"
ALERT = "<img src=x onerror=alert(1)>"


def zones():
    frame = zone_polygons(N, seed=9)
    frame.loc[7, "name_zh"] = ALERT
    frame.loc[8, "name_en"] = "<script>alert(2)</script>"
    return frame


@pytest.fixture(scope="module")
def table_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("atlas-table")
    layers = builder.build_all(write_sources(folder / "sources"))
    store = open_store(folder / "atlas.gpkg", key="id")
    builder.write(store, {**layers, LAYER: zones()})
    server = LiveServer(create_app({"STORE": str(store.path), "TESTING": True}))
    yield server
    server.stop()


def download(page, button, tmp_path):
    """The file a click on ``button`` saves (an export job: more time on a busy machine)."""
    with page.page.expect_download(timeout=45_000) as info:
        page.page.click(button)
    target = tmp_path / info.value.suggested_filename
    info.value.save_as(str(target))
    return target, info.value.suggested_filename


def open_table(page, layer):
    page.page.click(".atlas-tool-table")
    page.page.wait_for_selector(".atlas-table:not([hidden])")
    page.page.select_option(".atlas-table-layer", layer)
    settle(page)


def settle(page):
    page.page.wait_for_timeout(120)
    page.page.wait_for_selector(".atlas-table[data-table-state=idle]", timeout=10_000)


def cells(page, field):
    """The texts of column ``field`` in the rows drawn now, top to bottom."""
    return page.js("""field => {
        const cols = [...document.querySelectorAll('.atlas-table-hrow .atlas-table-th')].map(c => c.dataset.field);
        const at = cols.indexOf(field) + 1;
        return [...document.querySelectorAll('.atlas-table-row[data-id]')]
            .sort((a, b) => a.dataset.index - b.dataset.index).map(r => r.children[at].textContent); }""", field)


def rows_api(page, query):
    return page.js("url => fetch(url).then(r => r.json())", f"/api/layers/{LAYER}/rows?{query}")


def sorted_ids(frame, field, descending):
    f = frame.assign(_n=frame[field].notna().astype(int), _v=frame[field].astype(object).where(frame[field].notna(), 0).astype(float))
    return list(f.sort_values(["_n", "_v", "id"], ascending=not descending, kind="mergesort")["id"])


def test_the_table_sorts_filters_and_scrolls_through_every_row(open_map, table_server):
    page = open_map(VIEW + f"&layers={LAYER}", server=table_server)
    open_table(page, LAYER)
    frame = zones()
    assert page.js("() => Atlas.table.data().total") == N
    assert page.page.locator(".atlas-table-count").inner_text() == "共 2,500 行"
    # a click on a title sorts ascending, a second descending: on the server, over every row
    header = page.page.locator(".atlas-table-th[data-field=area_mu] .atlas-table-sort")
    header.click()
    settle(page)
    header.click()
    settle(page)
    assert page.page.locator(".atlas-table-th[data-field=area_mu]").get_attribute("aria-sort") == "descending"
    order = sorted_ids(frame, "area_mu", True)
    assert page.js("() => Atlas.table.shownIds()")[:10] == order[:10]
    # scrolled to the end: the last row of the order, and never more than a screenful in the page
    page.page.locator(".atlas-table-scroll").evaluate("s => s.scrollTop = s.scrollHeight")
    settle(page)
    assert page.js("() => Atlas.table.shownIds()")[-1] == order[-1]
    assert page.page.locator(".atlas-table-row").count() < 60
    # scrolled back up page by page: by keyset (after=), no row missing in between
    for _ in range(3):
        page.page.locator(".atlas-table-scroll").evaluate("s => s.scrollTop = 0")
        settle(page)
    for step in range(1, 8):
        page.page.locator(".atlas-table-scroll").evaluate(f"s => s.scrollTop = {step} * 1400")
        settle(page)
    loaded = page.js("() => Atlas.table.data().rows.slice(0, 300).map(r => r && r.id)")
    assert loaded == order[:300]
    assert any("after=" in url for url in page.watch.api)
    # filters: a pick-list (district), a numeric range, a piece of text; totals follow
    page.page.select_option(".atlas-table-frow select[name=district]", "371003")
    page.page.fill(".atlas-table-frow input[name=area_mu_min]", "50")
    page.page.fill(".atlas-table-frow input[name=name_en_contains]", "zone 1")
    page.page.wait_for_timeout(450)
    settle(page)
    kept = frame[(frame.district == "371003") & (frame.area_mu >= 50) & frame.name_en.str.contains("zone 1")]
    assert page.js("() => Atlas.table.data().total") == len(kept) > 0
    assert page.js("() => Atlas.table.shownIds()") == sorted_ids(kept, "area_mu", True)[:len(page.js("() => Atlas.table.shownIds()"))]
    assert set(cells(page, "district")) == {"文登区"}
    total = page.page.locator(".atlas-table-sum").inner_text()
    assert f"{kept.area_mu.sum():,.1f}" in total and "亩" in total and "公顷" in total and "m²" in total


def test_a_row_click_flies_to_its_feature_and_highlights_it(open_map, table_server):
    page = open_map(f"?center=37.0,121.5&zoom=13&layers={LAYER}", server=table_server)
    open_table(page, LAYER)
    page.page.locator(".atlas-table-th[data-field=area_mu] .atlas-table-sort").click()
    settle(page)
    row = page.page.locator(".atlas-table-row[data-index='3']")
    target = row.get_attribute("data-id")
    row.locator(".atlas-table-cell").nth(2).click()
    page.page.wait_for_function("id => Atlas._highlight && Atlas.leafIds(Atlas._highlight).includes(id)", arg=target,
                                timeout=8000)
    page.wait_idle()
    box = rows_api(page, "sort=area_mu&limit=4")["rows"][3]["bbox"]
    inside = page.js("""b => Atlas.map.getBounds().contains([[b[1], b[0]], [b[3], b[2]]])""", box)
    assert inside
    assert "atlas-table-current" in row.get_attribute("class")
    assert page.page.locator(".atlas-popup").get_attribute("data-feature-id") == target


def test_the_maps_selection_and_the_rows_stay_in_step_and_export_exactly(open_map, table_server, tmp_path):
    page = open_map(VIEW, server=table_server)
    open_table(page, "parks")
    page.wait_idle()  # the map, smaller now, drawn again
    click_at(page, HUAXIA, shift=True)  # selected on the map: its row is selected
    page.page.wait_for_selector(".atlas-table-row.atlas-selected[data-id=parks-huaxiacheng]")
    assert page.page.locator(".atlas-table-row[data-id=parks-huaxiacheng] input").is_checked()
    assert "已选 1" in page.page.locator(".atlas-table-count").inner_text()
    # a row's checkbox adds to the map's selection (drawn there), shift-click on another row too
    page.page.locator(".atlas-table-row[data-id=parks-hostile] input").check()
    page.page.wait_for_function("() => Atlas.selectedIds().length === 2")
    assert sorted(page.js("() => Atlas.selectedIds()")) == ["parks-hostile", "parks-huaxiacheng"]
    page.page.locator(".atlas-table-row[data-id=parks-huaxiacheng] input").uncheck()
    page.page.wait_for_function("() => Atlas.selectedIds().length === 1")
    click_at(page, HUAXIA, shift=True)
    page.page.wait_for_function("() => Atlas.selectedIds().length === 2")
    # "export selection": the export panel, scope "selected", exactly those features
    page.page.click(".atlas-table-export-sel")
    page.page.wait_for_selector(".atlas-export[data-export-state=ready]")
    assert page.page.locator(".atlas-export input[name=export-scope][value=selected]").is_checked()
    page.page.select_option(".atlas-export-format", "geojson")
    path, _ = download(page, ".atlas-export-go", tmp_path)
    exported = json.loads(path.read_text(encoding="utf-8"))
    assert sorted(f["properties"]["id"] for f in exported["features"]) == ["parks-hostile", "parks-huaxiacheng"]
    # a click on the map marks the row of its popup
    click_at(page, HOSTILE)
    page.page.wait_for_selector(".atlas-table-row.atlas-table-current[data-id=parks-hostile]")


def test_export_the_table_as_shown(open_map, table_server, tmp_path):
    page = open_map(VIEW + f"&layers={LAYER}", server=table_server)
    open_table(page, LAYER)
    page.page.fill(".atlas-table-frow input[name=year_min]", "2024")
    page.page.wait_for_timeout(450)
    settle(page)
    page.page.locator(".atlas-table-th[data-field=year] .atlas-table-sort").click()
    settle(page)
    n = page.js("() => Atlas.table.data().total")
    page.page.click(".atlas-table-export-all")
    page.page.wait_for_selector(".atlas-export[data-export-state=ready]")
    scope = page.page.locator(".atlas-export input[name=export-scope][value=table]")
    assert scope.is_checked()
    assert "数据表所示" in page.page.locator(".atlas-export").inner_text()
    page.page.select_option(".atlas-export-format", "geojson")
    path, name = download(page, ".atlas-export-go", tmp_path)
    exported = json.loads(path.read_text(encoding="utf-8"))["features"]
    frame = zones()
    kept = frame[frame.year >= 2024]
    assert [f["properties"]["id"] for f in exported] == sorted_ids(kept, "year", False) and len(exported) == n
    assert "筛选结果" in name


def test_hostile_names_are_text_in_the_table(open_map, table_server):
    page = open_map(VIEW + f"&layers={LAYER}", server=table_server)
    open_table(page, LAYER)
    page.page.fill(".atlas-table-frow input[name=name_zh_contains]", "<img")
    page.page.wait_for_timeout(450)
    settle(page)
    assert cells(page, "name_zh") == [ALERT]
    page.page.fill(".atlas-table-frow input[name=name_zh_contains]", "")
    page.page.fill(".atlas-table-frow input[name=name_en_contains]", "<script>")
    page.page.wait_for_timeout(450)
    settle(page)
    assert cells(page, "name_en") == ["<script>alert(2)</script>"]
    page.page.select_option(".atlas-table-layer", "parks")
    settle(page)
    assert HOSTILE_ZH in cells(page, "name_zh")
    assert page.page.locator(".atlas-table img, .atlas-table script").count() == 0
    assert page.js("() => document.title").startswith("精致威海规划图")


def test_on_a_phone_the_table_is_full_width_under_the_map(open_map, table_server):
    page = open_map(VIEW, server=table_server, width=390, height=844, mobile=True)
    open_table(page, "projects")
    box = page.page.locator(".atlas-table").bounding_box()
    map_box = page.page.locator(".atlas-map").bounding_box()
    assert box["x"] == 0 and box["width"] == 390 and abs(box["y"] - (map_box["y"] + map_box["height"])) < 1
    assert box["y"] + box["height"] <= 844 + 1 and map_box["height"] > 300
