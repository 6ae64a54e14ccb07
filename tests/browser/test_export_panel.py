"""The export panel, the standalone map file and the print layout in real headless Chromium over the
small test atlas. Pages of the atlas are watched by the fixtures (no console error, no dialog, no
request to another host); the standalone file is opened with networking off."""
from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path
from urllib.parse import urlsplit

import pyogrio

from tests.browser.test_map import HOSTILE, HOSTILE_ZH, HUAXIA, VIEW, YUANYAO, api_ids

LAYERS = ["districts", "zones", "parks", "roads", "projects"]


def open_panel(page):
    page.page.click(".atlas-tool-export")
    page.page.wait_for_selector(".atlas-export[data-export-state=ready]", timeout=5000)
    return page.page.locator(".atlas-export")


def choose_layers(page, layers):
    for lay in LAYERS:
        box = page.page.locator(f".atlas-export input[name=export-layer][value={lay}]")
        box.set_checked(lay in layers)


def download(page, button: str, tmp_path: Path, name: str | None = None) -> tuple[Path, str]:
    with page.page.expect_download(timeout=15_000) as info:
        page.page.click(button)
    dl = info.value
    target = tmp_path / (name or dl.suggested_filename)
    dl.save_as(str(target))
    return target, dl.suggested_filename


def click_at(page, latlng, shift=False):
    x, y = page.screen_point(*latlng)
    if shift:
        page.page.keyboard.down("Shift")
    page.page.mouse.click(x, y)
    if shift:
        page.page.keyboard.up("Shift")


# -- data export --------------------------------------------------------------------------------------
def test_export_filtered_parks_as_geopackage_in_epsg4550(open_map, tmp_path):
    page = open_map(VIEW + "&status=operating")
    panel = open_panel(page)
    # the layers shown are ticked; the scope says the filters in words
    ticked = page.js("() => [...document.querySelectorAll('.atlas-export input[name=export-layer]:checked')].map(i => i.value)")
    assert ticked == page.js("() => Atlas.visibleLayers()")
    assert "运营中" in panel.locator(".atlas-export-scope").first.inner_text()
    choose_layers(page, ["parks"])
    page.page.select_option(".atlas-export-format", "gpkg")
    page.page.select_option(".atlas-export-crs", "EPSG:4550")
    path, name = download(page, ".atlas-export-go", tmp_path)
    assert name == "精致威海规划图_公园与景区_筛选结果_EPSG4550.gpkg"  # filename* (UTF-8) preferred
    info = pyogrio.read_info(path, layer="parks")
    assert "4550" in info["crs"]
    frame = pyogrio.read_dataframe(path, layer="parks")
    assert sorted(frame["id"]) == api_ids(page, "parks", "&status=operating") == ["parks-huaxiacheng"]
    assert frame.geometry.bounds.minx.iloc[0] > 100_000  # metres of the Gauss-Kruger zone, not degrees
    page.page.wait_for_selector(".atlas-export[data-export-state=done]")
    message = panel.locator(".atlas-export-message").inner_text()
    assert "已保存" in message and name in message
    # the view's box: only what is on screen
    page.page.check(".atlas-export input[name=export-view-only]")
    bbox = page.js("() => Atlas.exportRequest({layers: ['parks'], format: 'gpkg', crs: 'EPSG:4326', "
                   "scope: 'filtered', viewOnly: true}).params.bbox")
    assert len(bbox.split(",")) == 4
    path, _ = download(page, ".atlas-export-go", tmp_path, "view.gpkg")
    assert sorted(pyogrio.read_dataframe(path, layer="parks")["id"]) == api_ids(page, "parks", f"&status=operating&bbox={bbox}")


def test_export_shows_progress_with_a_large_layer(open_map, large_server, tmp_path):
    page = open_map("?center=37.45,122.05&zoom=12&layers=synthetic_roads", server=large_server)
    open_panel(page)
    choose_layers(page, [])
    page.page.check(".atlas-export input[name=export-layer][value=synthetic_roads]")
    page.page.select_option(".atlas-export-format", "geojson")
    seen = []
    page.page.expose_function("recordProgress", lambda text: seen.append(text))
    page.js("""() => new MutationObserver(() => {
        const t = document.querySelector('.atlas-export-progress-text');
        if (t && t.textContent) { window.recordProgress(t.textContent); }
    }).observe(document.querySelector('.atlas-export-progress'), {subtree: true, childList: true, characterData: true})""")
    path, name = download(page, ".atlas-export-go", tmp_path)
    assert name.endswith(".geojson") and path.stat().st_size > 1_000_000
    assert any("已接收" in s and "%" in s for s in seen), seen  # bytes and percent (Content-Length known)


def test_export_selected_features(open_map, tmp_path):
    page = open_map(VIEW)
    click_at(page, HOSTILE, shift=True)            # shift-click: selected, no popup
    assert page.js("() => Atlas.selectedIds()") == ["parks-hostile"]
    assert page.page.locator(".leaflet-popup").count() == 0
    click_at(page, YUANYAO)                        # a popup's Select button
    page.page.wait_for_selector(".atlas-popup[data-feature-id='projects-yuanyao']")
    page.page.click(".atlas-popup-select")
    assert page.js("() => Atlas.selectedIds()") == ["parks-hostile", "projects-yuanyao"]
    assert page.page.locator(".atlas-popup-select").inner_text() == "取消选择"
    # drawn highlighted
    assert page.js("() => document.querySelectorAll('.leaflet-atlas-highlight-pane path').length") >= 2
    page.page.keyboard.press("Escape")
    page.js("() => Atlas.map.closePopup()")
    panel = open_panel(page)
    page.page.check(".atlas-export input[name=export-scope][value=selected]")
    assert "已选 2 个要素" in panel.inner_text()
    page.page.select_option(".atlas-export-format", "gpkg")
    path, name = download(page, ".atlas-export-go", tmp_path)
    assert "选中要素" in name
    assert sorted(layer for layer, _ in pyogrio.list_layers(path)) == ["parks", "projects"]
    assert list(pyogrio.read_dataframe(path, layer="parks")["id"]) == ["parks-hostile"]
    assert list(pyogrio.read_dataframe(path, layer="projects")["id"]) == ["projects-yuanyao"]
    page.page.click(".atlas-export-clear")
    assert page.js("() => Atlas.selectedIds()") == []
    page.page.click(".atlas-export-go")
    page.page.wait_for_selector(".atlas-export[data-export-state=error]")
    assert "还没有选中要素" in panel.locator(".atlas-export-message").inner_text()


def test_a_bad_choice_shows_the_servers_message_as_text(open_map):
    page = open_map(VIEW)
    panel = open_panel(page)
    choose_layers(page, ["parks"])
    page.page.select_option(".atlas-export-format", "kml")
    page.page.select_option(".atlas-export-crs", "EPSG:4550")
    page.page.click(".atlas-export-go")
    page.page.wait_for_selector(".atlas-export[data-export-state=error]")
    message = panel.locator(".atlas-export-message")
    text = message.inner_text()
    assert text.startswith("导出失败：") and "EPSG:4550" in text and "KML" in text
    assert message.locator("*").count() == 0  # text only
    assert panel.locator(".atlas-export-message[role=alert]").count() == 1
    choose_layers(page, [])
    page.page.click(".atlas-export-go")
    assert "请至少选择一个图层" in message.inner_text()
    # Chromium logs the refused request itself; that one line is expected, nothing else
    refused = [e for e in page.watch.errors if "status of 400" in e]
    assert len(refused) == 1, page.watch.errors
    page.watch.errors.remove(refused[0])


# -- the standalone map ---------------------------------------------------------------------------------
def test_standalone_html_opens_offline_and_draws_the_layers(open_map, browser, tmp_path, artifacts):
    page = open_map(VIEW)
    open_panel(page)
    path, name = download(page, ".atlas-export-html", tmp_path)
    assert name.startswith("精致威海规划图_离线地图_") and name.endswith(".html")
    drawn = {lay: page.drawn_ids(lay) for lay in LAYERS}
    assert all(drawn.values())

    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    context.set_offline(True)
    requests, errors = [], []
    file_url = path.as_uri()

    def route(r):
        url = r.request.url
        if url == file_url or urlsplit(url).scheme == "data":
            r.continue_()
        else:
            requests.append(url)
            r.abort()
    context.route("**/*", route)
    try:
        viewer = context.new_page()
        viewer.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
        viewer.on("pageerror", lambda e: errors.append(str(e)))
        viewer.on("dialog", lambda d: (errors.append("dialog " + d.message), d.dismiss()))
        viewer.on("request", lambda r: None if r.url == file_url or r.url.startswith("data:") else requests.append(r.url))
        viewer.goto(file_url)
        viewer.wait_for_selector("#atlas-standalone[data-atlas-state=idle]", timeout=10_000)
        title = viewer.title()
        for lay in LAYERS:
            assert sorted(viewer.evaluate("id => Atlas.standalone.featureIds(id)", lay)) == drawn[lay], lay
        # drawn on the canvas: pixels of the parks' colour where the hostile park stands
        assert viewer.evaluate("""() => { const c = document.querySelector('canvas.leaflet-zoom-animated');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; } return n; }""") > 500
        # the hostile name: shown in its popup as text, never run
        x, y = viewer.evaluate("([lat, lng]) => { const p = Atlas.map.latLngToContainerPoint([lat, lng]); return [p.x, p.y]; }",
                               list(HOSTILE))
        viewer.mouse.click(x, y)
        viewer.wait_for_selector(".atlas-popup[data-feature-id='parks-hostile']")
        assert viewer.locator(".atlas-popup-title").inner_text() == HOSTILE_ZH
        viewer.click(".atlas-popup-fields-all summary")
        assert "全部字段" in viewer.locator(".atlas-popup").inner_text()
        assert viewer.title() == title and "pwned" not in title
        assert viewer.evaluate("() => document.querySelectorAll('img').length") == 0
        assert viewer.locator(".atlas-legend").inner_text().count("公园与景区") >= 1
        viewer.screenshot(path=str(artifacts / "standalone-1280x800.png"))
    finally:
        context.close()
    assert requests == [], f"the standalone file made requests: {requests}"
    assert errors == [], errors


# -- the print layout ---------------------------------------------------------------------------------
def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


def png_pixels(data: bytes) -> bytes:
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    return zlib.decompress(idat)


def test_print_layout_pdf_and_png(open_map, tmp_path, artifacts):
    page = open_map(VIEW + "&district=371002")
    drawn = {lay: page.drawn_ids(lay) for lay in LAYERS}
    open_panel(page)
    page.js("() => { window.print = () => { window.__printed = (window.__printed || 0) + 1; }; }")
    page.page.fill(".atlas-print-title-input", "环翠区规划图 <b>测试</b>")
    page.page.click(".atlas-print-action-printNow")
    page.page.wait_for_function("() => window.__printed === 1", timeout=10_000)
    sheet = page.page.locator(".atlas-print-sheet")
    assert sheet.get_attribute("data-paper") == "A4-landscape"
    for selector in (".atlas-print-title", ".atlas-print-map", ".atlas-print-legend", ".atlas-print-scale",
                     ".atlas-print-north", ".atlas-print-date", ".atlas-print-sources", ".atlas-print-accuracy"):
        assert page.page.locator(selector).is_visible(), selector
    assert page.page.locator(".atlas-print-title").inner_text() == "环翠区规划图 <b>测试</b>"
    assert "环翠区" in page.page.locator(".atlas-print-subtitle").inner_text()
    assert page.page.locator(".atlas-print-scale-label").inner_text().endswith(("km", "m"))
    assert time.strftime("%Y-%m-%d") in page.page.locator(".atlas-print-date").inner_text()
    assert "test.txt" in page.page.locator(".atlas-print-sources").inner_text()
    legend = page.page.locator(".atlas-print-legend").inner_text()
    for title in ("公园与景区", "重点项目", "近似位置", "示意范围"):
        assert title in legend
    # the controls are gone from the map; the map is in the sheet and still draws the same features
    assert not page.page.locator(".leaflet-control-layers").is_visible()
    assert page.js("() => !!Atlas.map.getContainer().closest('.atlas-print-map')")
    page.wait_idle()
    assert {lay: page.drawn_ids(lay) for lay in LAYERS} == drawn
    width, height = page.js("() => { const r = document.querySelector('.atlas-print-sheet').getBoundingClientRect(); return [r.width, r.height]; }")
    assert abs(width / height - 297 / 210) < 0.01

    pdf = page.page.pdf(format="A4", landscape=True, print_background=True)
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
    assert pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") in (1, -1) or b"/Count 1" in pdf  # one page

    path, name = download(page, ".atlas-print-savePng", tmp_path)
    assert name.endswith(".png") and name.startswith("精致威海规划图_A4_")
    data = path.read_bytes()
    (artifacts / "print-a4.png").write_bytes(data)
    w, h = png_size(data)
    assert (w, h) == (round(width * 2), round(height * 2))
    pixels = png_pixels(data)
    assert len(set(pixels[::97])) > 20  # drawn: many colours, not a blank canvas

    # A3 portrait, and back to the map
    page.js("() => Atlas.enterPrint({paper: 'A3', orientation: 'portrait'})")
    assert sheet.get_attribute("data-paper") == "A3-portrait"
    assert "size: A3 portrait" in page.js("() => [...document.querySelectorAll('style')].map(s => s.textContent).join('')")
    page.page.click(".atlas-print-exitPrint")
    assert not sheet.is_visible()
    assert page.page.locator(".leaflet-control-layers").is_visible()
    page.wait_idle()
    assert {lay: page.drawn_ids(lay) for lay in LAYERS} == drawn


def test_screenshot_of_the_export_panel(open_map, artifacts):
    """What the screenshots show: the panel with its selects filled and two features selected, then
    the print sheet with its title, legend and scale bar. The pictures go to tests/artifacts/."""
    page = open_map(VIEW + "&district=371002")
    click_at(page, HUAXIA, shift=True)
    click_at(page, YUANYAO, shift=True)
    assert sorted(page.js("() => Atlas.selectedIds()")) == ["parks-huaxiacheng", "projects-yuanyao"]
    panel = open_panel(page)
    page.page.select_option(".atlas-export-format", "gpkg")
    page.page.select_option(".atlas-export-crs", "EPSG:4550")
    page.page.wait_for_timeout(100)
    assert panel.is_visible() and "已选 2 个要素" in panel.inner_text()
    for select, value in ((".atlas-export-format", "gpkg"), (".atlas-export-crs", "EPSG:4550")):
        assert panel.locator(f"{select} option").count() >= 2, select
        assert panel.locator(select).input_value() == value
    shot = artifacts / "export-panel.png"
    page.page.screenshot(path=str(shot))
    assert png_size(shot.read_bytes()) == (1280, 800)

    page.page.click(".atlas-export-clear")
    assert page.js("() => Atlas.selectedIds()") == []
    page.page.click(".atlas-print-action-printLayout")
    page.wait_idle()
    sheet = page.page.locator(".atlas-print-sheet")
    for selector in (".atlas-print-title", ".atlas-print-legend", ".atlas-print-scale-bar", ".atlas-print-map"):
        assert sheet.locator(selector).is_visible(), selector
    assert "环翠区" in sheet.locator(".atlas-print-title").inner_text()  # the district filter's title
    assert "公园与景区" in sheet.locator(".atlas-print-legend").inner_text()
    assert sheet.locator(".atlas-print-scale-bar").bounding_box()["width"] > 10
    assert sheet.locator(".atlas-print-scale-label").inner_text().endswith(("km", "m"))
    shot = artifacts / "print-sheet-a4.png"
    sheet.screenshot(path=str(shot))
    box = sheet.bounding_box()
    width, height = png_size(shot.read_bytes())
    assert abs(width - box["width"]) < 2 and abs(height - box["height"]) < 2  # the whole sheet
