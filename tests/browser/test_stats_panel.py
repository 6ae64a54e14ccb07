"""The statistics panel (static/atlas-stats.js, atlas-chart.js) in real headless Chromium, over the
statistics test atlas of known geometry (tests/layers/stats_atlas.py) plus a layer with a hostile
category and name: the panel opens on the first visible layer with area, grouped by district ×
status, and shows what /api/stats answers (every cell's raw numbers in data-*, its text the page's
number format); it follows the page's filter control; its chart is drawn in SVG by the page (bars in
proportion to their values, a donut) with no outside request (the conftest's watch); the table's
CSV and XLSX links and the chart's SVG and PNG files; hostile values stay text. The page is also the
third surface of tests/test_stats_api.py: the same table of cases gives the same numbers in the panel
as in the core, the API and the command line."""
from __future__ import annotations

import io
import urllib.request
import xml.etree.ElementTree as ET
from urllib.parse import parse_qsl, urlsplit

import openpyxl
import pytest

from geo.store import open_store
from server import create_app
from tests.browser.conftest import LiveServer
from tests.layers.stats_atlas import FIELDS, LINES, PLOTS, SPOTS, box, districts_frame, layer_frame
from tests.test_stats_api import CASES, COMPARED, SURFACES, core_numbers

HOSTILE = "<img src=x onerror=alert(1)>"
#: a layer whose category and name are markup: they must show as text, in the table and the chart
MARKS = [
    ("mark-1", HOSTILE, HOSTILE, "371002", "planned", 2024, box(100, 100, 300, 300)),
    ("mark-2", "普通地块", "居住用地", "371003", "operating", 2023, box(1100, 100, 1300, 300)),
]
VIEW = "?layers=plots,lines,spots,marks"
MEASURES = ("count", "area_m2", "area_ha", "area_mu", "area_km2", "length_km")
DIGITS = {"count": 0, "area_m2": 2, "area_ha": 4, "area_mu": 2, "area_km2": 6, "length_km": 3}
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def stats_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("atlas-stats-panel")
    store = open_store(folder / "atlas.gpkg", key="id")
    store.replace({"districts": districts_frame(), "plots": layer_frame(PLOTS), "lines": layer_frame(LINES),
                   "spots": layer_frame(SPOTS, multi=False), "marks": layer_frame(MARKS)},
                  {"plots": FIELDS, "lines": FIELDS, "spots": FIELDS, "marks": FIELDS})
    app = create_app({"STORE": str(store.path), "TESTING": True})
    server = LiveServer(app)
    server.app, server.store = app, store
    yield server
    server.stop()


def api(server, params: dict) -> dict:
    response = server.app.test_client().get("/api/stats", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


# -- the panel, driven and read -------------------------------------------------------------------------
def open_panel(page):
    page.page.click(".atlas-tool-stats")
    return wait_ready(page)


def wait_ready(page, want: dict | None = None) -> dict:
    """Wait until the panel shows an answer (to the request ``want``, when given); its parameters."""
    page.page.wait_for_function("""(want) => {
        const p = document.querySelector('.atlas-stats');
        if (!p || p.hidden || p.getAttribute('data-stats-state') !== 'ready') { return false; }
        if (!want) { return true; }
        const got = Object.fromEntries(new URLSearchParams(p.getAttribute('data-stats-query') || ''));
        return JSON.stringify(Object.keys(got).sort().map(k => [k, got[k]])) ===
               JSON.stringify(Object.keys(want).sort().map(k => [k, want[k]]));
    }""", arg=want, timeout=10_000)
    return dict(parse_qsl(page.page.get_attribute(".atlas-stats", "data-stats-query")))


def choose(page, name: str, value: str):
    page.page.select_option(f".atlas-stats select[name={name}]", value)


def shown(page) -> dict:
    """What the panel shows, in the shape of the API's answer: the numbers from the table's cells
    (data-*), their text, the headers' labels, the rule."""
    return page.js("""(measures) => {
        const panel = document.querySelector('.atlas-stats');
        const values = td => Object.fromEntries(measures.map(m => [m, Number(td.getAttribute('data-' + m))]));
        const cells = [...panel.querySelectorAll('.atlas-stats-table td[data-part]:not([data-empty])')];
        const out = {groups: [], subtotals: {}, totals: null, texts: [], rule: {},
                     rows: [...panel.querySelectorAll('tbody th.atlas-stats-rowhead')].map(th => th.textContent),
                     columns: [...panel.querySelectorAll('thead th[data-key]')].map(th => th.textContent)};
        cells.forEach(td => {
            const part = td.getAttribute('data-part'), entry = {key: JSON.parse(td.getAttribute('data-key') || 'null'),
                                                                values: values(td)};
            out.texts.push([td.textContent, entry.values]);
            if (part === 'group') { out.groups.push(entry); }
            if (part === 'subtotal') {
                const dim = td.getAttribute('data-dimension');
                (out.subtotals[dim] = out.subtotals[dim] || []).push(entry);
            }
            if (part === 'total') { out.totals = entry.values; }
        });
        const rule = panel.querySelector('.atlas-stats-rule');
        out.rule = {id: rule.getAttribute('data-rule'), text: rule.querySelector('span').textContent};
        out.measure = panel.querySelector('select[name=stats-measure]').value;
        out.by = panel.querySelector('select[name=stats-by]').value;
        return out;
    }""", list(MEASURES))


def numbers_of(answer: dict) -> dict:
    """The numbers of an answer as the panel's table carries them (the keys and values, in order)."""
    groups = [{"key": g["key"], "values": g["values"]} for g in answer["groups"]]
    subtotals = {d: [{"key": e["key"], "values": e["values"]} for e in entries]
                 for d, entries in answer["subtotals"].items() if entries}  # an empty table has no cells
    # the cross table lists the first group's subtotals down its rows, the second's along its foot
    return {"groups": groups, "subtotals": subtotals, "totals": answer["totals"]}


def as_text(value, measure: str) -> str:
    return f"{value:,.{DIGITS[measure]}f}"


def assert_shows(page, answer: dict):
    got = shown(page)
    assert {k: got[k] for k in ("groups", "subtotals", "totals")} == numbers_of(answer)
    assert got["rule"] == {"id": answer["rule"]["id"], "text": answer["rule"]["zh"]}
    first = answer["dimensions"][0]["values"]
    assert got["rows"] == [v["label"]["zh"] for v in first]
    if len(answer["dimensions"]) == 2:
        assert got["columns"] == [v["label"]["zh"] for v in answer["dimensions"][1]["values"]]
    for text, values in got["texts"]:  # the chosen measure, written as zh-CN writes it
        assert text == as_text(values[got["measure"]], got["measure"]), (text, values)
    return got


def bars(page) -> list[dict]:
    return page.js("""() => [...document.querySelectorAll('.atlas-stats-chart svg rect.atlas-chart-bar')].map(r => ({
        value: Number(r.getAttribute('data-value')), height: Number(r.getAttribute('height')),
        y: Number(r.getAttribute('y')), row: Number(r.getAttribute('data-row')), series: Number(r.getAttribute('data-series')),
        fill: r.getAttribute('fill'), title: r.querySelector('title').textContent}))""")


def assert_in_proportion(found: list[dict]):
    assert found
    ratios = [b["height"] / b["value"] for b in found]
    assert max(ratios) - min(ratios) <= 0.02 * max(ratios) + 0.01 / min(b["value"] for b in found), ratios


def fetch(server, href: str) -> tuple[int, bytes, str]:
    with urllib.request.urlopen(server.url + href) as resp:
        return resp.status, resp.read(), resp.headers.get("Content-Type", "")


def download(page, selector: str, tmp_path):
    with page.page.expect_download(timeout=15_000) as info:
        page.page.click(selector)
    dl = info.value
    target = tmp_path / dl.suggested_filename
    dl.save_as(str(target))
    return target


# -- the panel ------------------------------------------------------------------------------------------
def test_the_panel_shows_the_api_numbers_follows_the_filters_and_draws_its_chart(open_map, stats_server, tmp_path):
    page = open_map(VIEW, server=stats_server)
    asked = open_panel(page)
    # the first visible layer with area, by district × status, district by geometry, in 亩
    assert asked == {"layer": "plots", "group": "district,status", "by": "geometry"}
    answer = api(stats_server, asked)
    got = assert_shows(page, answer)
    assert got["measure"] == "area_mu" and got["by"] == "geometry" and answer["rule"]["id"] == "geometry"
    cell = page.page.locator('.atlas-stats td[data-key=\'{"district":"371002","status":"planned"}\']')
    assert cell.inner_text() == "172.50" and cell.get_attribute("data-count") == "2"  # plots 1 (part) and 3
    assert page.page.locator(".atlas-stats tfoot td[data-part=total]").inner_text() == as_text(answer["totals"]["area_mu"], "area_mu")

    # the chart: stacked bars for two groups, each segment's height in proportion to its value
    assert page.page.get_attribute(".atlas-stats-chart", "data-chart") == "stacked"
    stacked = bars(page)
    assert len(stacked) == sum(1 for g in answer["groups"] if g["values"]["area_mu"] > 0)
    assert_in_proportion(stacked)
    assert page.page.locator(".atlas-stats-chart svg > title").text_content() == "plots · 面积(亩)"
    # the count as the measure: the same table, its text the counts; grouped bars side by side
    choose(page, "stats-measure", "count")
    choose(page, "stats-chart", "bar")
    got = assert_shows(page, answer)
    side = bars(page)
    assert_in_proportion(side)
    assert {b["series"] for b in side} == set(range(len(answer["dimensions"][1]["values"])))  # each status its bars
    choose(page, "stats-chart", "donut")
    slices = page.page.locator(".atlas-stats-chart svg path.atlas-chart-slice")
    assert slices.count() == len(answer["subtotals"]["district"])
    assert [float(v) for v in slices.evaluate_all("s => s.map(p => p.getAttribute('data-value'))")] == \
        [e["values"]["count"] for e in answer["subtotals"]["district"]]

    # a filter change on the page's own control: the panel follows
    choose(page, "stats-chart", "stacked")
    choose(page, "stats-measure", "area_mu")
    page.page.select_option(".atlas-filters select[name=status]", "planned")
    asked = wait_ready(page, {"layer": "plots", "group": "district,status", "by": "geometry", "status": "planned"})
    answer = api(stats_server, asked)
    assert_shows(page, answer)
    assert answer["totals"]["count"] == 2
    assert_in_proportion(bars(page))
    page.page.select_option(".atlas-filters select[name=district]", "371003")
    asked = wait_ready(page, {"layer": "plots", "group": "district,status", "by": "geometry", "status": "planned",
                              "district": "371003"})
    assert_shows(page, api(stats_server, asked))
    assert page.page.locator(".atlas-stats-message").inner_text() == "当前范围内没有要素"
    assert page.page.locator(".atlas-stats-chart .atlas-chart-empty").count() == 1
    page.page.click(".atlas-filter-clear")
    asked = wait_ready(page, {"layer": "plots", "group": "district,status", "by": "geometry"})

    # by field: another rule, said in words
    choose(page, "stats-by", "field")
    asked = wait_ready(page, {"layer": "plots", "group": "district,status", "by": "field"})
    answer = api(stats_server, asked)
    assert assert_shows(page, answer)["rule"]["id"] == "field"

    # the table's files: the API's, in the page's language
    csv_href = page.page.get_attribute(".atlas-stats-csv", "href")
    assert dict(parse_qsl(urlsplit(csv_href).query)) == {**asked, "format": "csv", "lang": "zh"}
    status, body, kind = fetch(stats_server, csv_href)
    assert status == 200 and kind.startswith("text/csv") and body.startswith(b"\xef\xbb\xbf")
    assert body.decode("utf-8-sig").splitlines()[0].startswith("行政区,状态,数量(个)")
    status, body, kind = fetch(stats_server, page.page.get_attribute(".atlas-stats-xlsx", "href"))
    assert status == 200 and body[:4] == b"PK\x03\x04" and kind.endswith("spreadsheetml.sheet")
    assert openpyxl.load_workbook(io.BytesIO(body))["统计 statistics"]["A1"].value == "行政区"

    # the chart's files: SVG (well-formed, white, fonts named) and PNG drawn by the page
    svg_file = download(page, ".atlas-stats-svg", tmp_path)
    root = ET.fromstring(svg_file.read_bytes())
    assert root.tag == SVG_NS + "svg" and "Noto Sans CJK SC" in root.get("font-family")
    assert root.find(SVG_NS + "title").text == "plots · 面积(亩)"
    background = root.find(SVG_NS + "rect")
    assert background.get("fill") == "#ffffff" and background.get("width") == root.get("width")
    assert len(root.findall(f".//{SVG_NS}rect[@class='atlas-chart-bar']")) == len(bars(page))
    png = download(page, ".atlas-stats-png", tmp_path).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (2 * int(root.get("width")), 2 * int(root.get("height")))
    assert not page.watch.outside


def test_the_visible_layers_only_the_view_the_selection_and_the_time_shown(open_map, stats_server):
    page = open_map(VIEW, server=stats_server)
    open_panel(page)
    layers = lambda: page.page.locator(".atlas-stats select[name=stats-layer] option").evaluate_all(
        "options => options.map(o => o.value)")
    assert layers() == ["plots", "lines", "spots", "marks"]  # the visible layers (not the districts)
    page.js("() => Atlas.map.removeLayer(Atlas.layers.plots)")  # the layer counted is hidden: the next one
    wait_ready(page, {"layer": "marks", "group": "district,status", "by": "geometry"})
    assert layers() == ["lines", "spots", "marks"]
    choose(page, "stats-layer", "spots")
    choose(page, "stats-group2", "")
    wait_ready(page, {"layer": "spots", "group": "district", "by": "geometry"})
    page.page.check(".atlas-stats input[name=stats-view-only]")
    asked = wait_ready(page)
    assert "bbox" in asked
    assert_shows(page, api(stats_server, asked))
    before = asked["bbox"]
    page.js("() => Atlas.map.setZoom(Atlas.map.getZoom() + 2, {animate: false})")  # the view moves: the panel follows
    page.page.wait_for_function("(b) => { const p = document.querySelector('.atlas-stats'); "
                                "return p.getAttribute('data-stats-state') === 'ready' && "
                                "!p.getAttribute('data-stats-query').includes(encodeURIComponent(b).replace(/%2C/g, ',')); }",
                                arg=before, timeout=10_000)
    asked = wait_ready(page)
    assert asked["bbox"] != before
    assert_shows(page, api(stats_server, asked))
    # the selection: nothing selected yet says so; two features selected are counted
    page.page.check(".atlas-stats input[name=stats-scope][value=selected]")
    page.page.wait_for_selector(".atlas-stats[data-stats-state=error]")
    assert "Shift" in page.page.locator(".atlas-stats-message").inner_text()
    page.js("""() => ['spot-1', 'spot-4'].forEach(id => Atlas.toggleSelected(Atlas.layers.spots.findFeature(id).feature, 'spots'))""")
    asked = wait_ready(page, {"layer": "spots", "group": "district", "by": "geometry", "ids": "spot-1,spot-4"})
    answer = api(stats_server, asked)
    assert answer["totals"]["count"] == 2
    assert_shows(page, answer)
    # the atlas as it was at a time: the panel counts it then
    page.js("() => Atlas.setAsOf('2030-01-01T00:00:00Z')")
    asked = wait_ready(page, {"layer": "spots", "group": "district", "by": "geometry", "ids": "spot-1,spot-4",
                              "as_of": "2030-01-01T00:00:00Z"})
    assert api(stats_server, asked)["filters"]["as_of"].startswith("2030-01-01")
    assert_shows(page, api(stats_server, asked))


def test_hostile_names_are_text_in_the_table_and_the_chart(open_map, stats_server):
    page = open_map(VIEW + "&lang=en", server=stats_server)
    title = page.js("() => document.title")
    open_panel(page)
    choose(page, "stats-layer", "marks")
    choose(page, "stats-group", "category")
    choose(page, "stats-group2", "")
    asked = wait_ready(page, {"layer": "marks", "group": "category"})
    answer = api(stats_server, asked)
    assert {v["key"] for v in answer["dimensions"][0]["values"]} == {"居住用地", HOSTILE}
    rows = page.page.locator(".atlas-stats tbody th.atlas-stats-rowhead").all_text_contents()
    assert HOSTILE in rows
    assert page.page.locator(".atlas-stats tfoot th").text_content() == "Total"
    assert page.page.locator(".atlas-stats thead th").first.text_content() == "Category"
    # in the chart: the bar's tooltip and the axis label (cut to fit, whole in its own <title>)
    assert any(b["title"].startswith(HOSTILE) for b in bars(page))
    labels = page.js("""() => [...document.querySelectorAll('.atlas-stats-chart text.atlas-chart-label')].map(
        t => (t.querySelector('title') || t).textContent)""")
    assert HOSTILE in labels
    for chart in ("stacked", "donut"):
        choose(page, "stats-chart", chart)
        svg = page.js("() => Atlas.chart.svgText(document.querySelector('.atlas-stats-chart svg'))")
        assert "<img" not in svg and "&lt;img src=x onerror=alert(1)&gt;" in svg
    assert page.page.locator(".atlas-stats img, .atlas-stats-chart foreignObject").count() == 0
    assert page.js("() => document.title") == title  # nothing ran (an alert would fail the watch)


# -- the page as the third surface of the table of cases ---------------------------------------------------
def _page_case(page, case) -> dict:
    """Set ``case`` on the page (the panel's choices, the page's filter controls, its selection, its
    view) and return the parameters the panel asked with."""
    groups = case["group"].split(",")
    open_panel(page)
    choose(page, "stats-layer", case["layer"])
    choose(page, "stats-group", groups[0])
    choose(page, "stats-group2", groups[1] if len(groups) == 2 else "")
    if "district" in groups:
        choose(page, "stats-by", case.get("by", "field"))
    for name in ("district", "status"):
        if name in case:  # by the option's value or its words (环翠区)
            select = page.page.locator(f".atlas-filters select[name={name}]")
            if select.locator(f"option[value='{case[name]}']").count():
                select.select_option(case[name])
            else:
                select.select_option(label=case[name])
    if "ids" in case:
        page.page.check(".atlas-stats input[name=stats-scope][value=selected]")
        page.js("(ids) => ids.forEach(id => Atlas.toggleSelected(Atlas.layers[%r].findFeature(id).feature, %r))"
                % (case["layer"], case["layer"]), case["ids"].split(","))
    if "bbox" in case:  # the page's bbox is its view: the map fitted to the case's, then only the view
        w, s, e, n = (float(v) for v in case["bbox"].split(","))
        page.js("(b) => Atlas.map.fitBounds([[b[1], b[0]], [b[3], b[2]]], {animate: false, padding: [0, 0]})", [w, s, e, n])
        page.page.check(".atlas-stats input[name=stats-view-only]")
    want = {"layer": case["layer"], "group": case["group"]}
    if "district" in groups:
        want["by"] = case.get("by", "field")
    want.update({k: case[k] for k in ("status", "ids") if k in case})
    if "district" in case:
        want["district"] = page.page.locator(".atlas-filters select[name=district]").input_value()
    if "bbox" in case:
        page.page.wait_for_function("() => document.querySelector('.atlas-stats').getAttribute('data-stats-query')"
                                    ".includes('bbox=')", timeout=10_000)
        want["bbox"] = wait_ready(page)["bbox"]
        view = [float(v) for v in want["bbox"].split(",")]
        assert view[0] <= w and view[1] <= s and view[2] >= e and view[3] >= n  # the view holds the case's bbox
    return wait_ready(page, want)


def page_expresses(case) -> bool:
    """Whether the page can set the case: it has no name filter (q: its search finds features, it
    does not filter layers), its status filter takes one value, and its category filter offers the
    catalog's categories (this atlas's layers are not in it). The API and the CLI run every case."""
    return "q" not in case and "," not in case.get("status", "") and "category" not in case


PAGE_CASES = [c for c in CASES if page_expresses(c)]


@pytest.mark.parametrize("case", PAGE_CASES, ids=lambda c: "&".join(f"{k}={v}" for k, v in c.items())[:60])
def test_page_api_cli_and_core_give_the_same_numbers(open_map, stats_server, case):
    page = open_map(VIEW, server=stats_server)
    asked = _page_case(page, case)
    # the case as the page put it: the same filters (a district in words is its code; a bbox the view's)
    same = {**case, **{k: asked[k] for k in ("district", "bbox") if k in case}}
    expected = core_numbers(stats_server.app, stats_server.store, same)
    assert expected["totals"]["count"] > 0 or "bbox" in case
    got = assert_shows(page, expected)
    assert got["rule"]["id"] == expected["rule"]["id"]
    for name, surface in SURFACES.items():
        answer = surface(stats_server.app, stats_server.store, same)
        assert {k: answer[k] for k in COMPARED} == {k: expected[k] for k in COMPARED}, name
        assert numbers_of(answer) == {k: got[k] for k in ("groups", "subtotals", "totals")}, name
    assert sum(g["values"]["count"] for g in got["groups"]) >= got["totals"]["count"]  # a split feature in each part
