"""The export panel runs data exports as jobs (POST /api/exports, then the job polled, then its file)
in real headless Chromium: the progress in features, a reload in the middle that the page resumes
(the job kept in localStorage), and the server's message for a refused, failed or vanished job.
Pages are watched by the fixtures (no console error, no dialog, no request to another host)."""
from __future__ import annotations

import json
import time
from urllib.parse import urlsplit

import openpyxl
import pytest
from playwright.sync_api import expect

from layers.api import jobs as jobs_module
from tests.browser.conftest import LARGE
from tests.browser.test_export_panel import choose_layers, open_panel
from tests.browser.test_map import VIEW

KEY = "atlas-export-job"
#: seconds each chunk of features (5,000) waits after it is read: the job runs for some seconds,
#: long enough to reload the page in its middle whatever the machine's speed
PACE = 1.5


@pytest.fixture()
def slow_exports(monkeypatch):
    """Export jobs that pause after each chunk (the server's job code unchanged, only paced)."""
    real = jobs_module.export

    def paced(store, args, *, progress=None, **kwargs):
        def step(layer, done, total):
            if progress:
                progress(layer, done, total)
            if done:
                time.sleep(PACE)
        return real(store, args, progress=step, **kwargs)

    monkeypatch.setattr(jobs_module, "export", paced)


def stored(page):
    return page.js(f"() => JSON.parse(localStorage.getItem({json.dumps(KEY)}) || 'null')")


def progress_text(page):
    return page.page.locator(".atlas-export-progress-text").inner_text()


def take_error(page, status: int) -> None:
    """Chromium logs a refused request itself: that one line is expected, nothing else."""
    refused = [e for e in page.watch.errors if f"status of {status}" in e]
    assert len(refused) == 1, page.watch.errors
    page.watch.errors.remove(refused[0])


def test_a_large_export_runs_as_a_job_and_survives_a_reload(open_map, large_server, slow_exports, artifacts):
    page = open_map("?center=37.45,122.05&zoom=12&layers=synthetic_roads", server=large_server)
    panel = open_panel(page)
    choose_layers(page, [])
    page.page.check(".atlas-export input[name=export-layer][value=synthetic_roads]")
    page.page.select_option(".atlas-export-format", "xlsx")
    page.page.click(".atlas-export-go")
    # the job's progress: the layer, features read of all, percent
    page.page.wait_for_selector(".atlas-export[data-export-state=running]")
    page.page.locator(".atlas-export-progress-text").filter(has_text="正在导出").wait_for(timeout=10_000)
    text = progress_text(page)
    assert text.startswith("正在导出 synthetic_roads：") and "/ 12,000 个要素（" in text and text.endswith("%）"), text
    assert 0 < page.js("() => document.querySelector('.atlas-export-progress progress').value") < 100
    assert page.page.locator(".atlas-export-go").is_disabled()
    job = stored(page)
    assert set(job) >= {"id", "url", "started"} and job["url"].endswith(f"/api/exports/{job['id']}")
    shot = artifacts / "export-job-running.png"
    panel.screenshot(path=str(shot))

    # reload in the middle: the panel opens by itself and follows the same job to its file
    with page.page.expect_download(timeout=30_000) as info:
        page.page.reload()
        page.page.wait_for_selector(".atlas-export[data-export-state=running]", timeout=10_000)
        assert panel.is_visible()
        assert "继续刷新前开始的导出" in panel.locator(".atlas-export-message").inner_text()
        assert stored(page)["id"] == job["id"]  # still running: not forgotten by the reload
        page.page.locator(".atlas-export-progress-text").filter(has_text="正在导出").wait_for(timeout=10_000)
        # what the job writes (the panel's own choices are the page's defaults again)
        expect(panel.locator(".atlas-export-message")).to_have_text("继续刷新前开始的导出（Excel (XLSX) · EPSG:4326）")
        panel.screenshot(path=str(artifacts / "export-job-resumed.png"))
    dl = info.value
    page.page.wait_for_selector(".atlas-export[data-export-state=done]", timeout=10_000)
    assert stored(page) is None  # saved: forgotten

    # saved under the server's UTF-8 name, the whole layer inside
    state = page.js("url => fetch(url).then(r => r.json())", job["url"])
    assert state["state"] == "done" and state["total"] == LARGE
    assert dl.suggested_filename == state["filename_utf8"] == "精致威海规划图_synthetic_roads_EPSG4326.xlsx"
    target = artifacts / dl.suggested_filename
    dl.save_as(str(target))
    assert f"已保存 {dl.suggested_filename}" in panel.locator(".atlas-export-message").inner_text()
    book = openpyxl.load_workbook(target, read_only=True)
    try:
        assert "synthetic_roads" in book.sheetnames, book.sheetnames
        sheet = book["synthetic_roads"].iter_rows(values_only=True)
        header = next(sheet)
        ids = [row[header.index("id")] for row in sheet if any(v is not None for v in row)]
    finally:
        book.close()
    assert len(ids) == len(set(ids)) == LARGE

    # one job started, followed, its file fetched; no direct export
    paths = [urlsplit(u).path for u in page.watch.api]
    assert not [u for u in page.watch.api if urlsplit(u).path == "/api/export"], page.watch.api
    assert paths.count("/api/exports") == 1  # the POST: the reload did not start another
    assert paths.count(f"/api/exports/{job['id']}") >= 3  # polled before and after the reload
    assert paths.count(f"/api/exports/{job['id']}/file") == 1


def test_a_refused_or_failed_job_shows_the_servers_message(open_map):
    page = open_map(VIEW)
    panel = open_panel(page)
    choose_layers(page, ["parks"])
    page.page.select_option(".atlas-export-format", "gpkg")
    message = panel.locator(".atlas-export-message")
    busy = "3 exports are running, as many as may run at once (3); wait for one <b>to finish</b>"

    def too_many(route):
        if route.request.method != "POST":
            route.fallback()
            return
        assert json.loads(route.request.post_data) == {"layers": "parks", "format": "gpkg", "crs": "EPSG:4326"}
        assert route.request.headers["content-type"] == "application/json"
        route.fulfill(status=429, content_type="application/json",
                      body=json.dumps({"error": "too_many_jobs", "detail": busy}))
    page.page.route("**/api/exports", too_many)
    page.page.click(".atlas-export-go")
    page.page.wait_for_selector(".atlas-export[data-export-state=error]")
    assert message.inner_text() == "导出失败：" + busy  # as text: the <b> is shown, not made
    assert message.locator("*").count() == 0 and message.get_attribute("role") == "alert"
    assert stored(page) is None and not page.page.locator(".atlas-export-go").is_disabled()
    take_error(page, 429)
    page.page.unroute("**/api/exports", too_many)

    # a job that fails while it runs: its detail shown, the stored job forgotten
    seen = {}

    def failed(route):
        seen["stored"] = stored(page)
        route.fulfill(status=200, content_type="application/json", body=json.dumps(
            {"id": urlsplit(route.request.url).path.rsplit("/", 1)[1], "state": "failed", "percent": 0,
             "done": 0, "total": 2, "layer": None, "download": False, "detail": "the disk is full"}))
    page.page.route("**/api/exports/*", failed)
    page.page.click(".atlas-export-go")
    page.page.wait_for_selector(".atlas-export[data-export-state=error]")
    assert message.inner_text() == "导出失败：the disk is full"
    assert seen["stored"] and seen["stored"]["url"].endswith(seen["stored"]["id"])  # kept while it ran
    assert stored(page) is None


def test_a_stored_job_that_is_gone_opens_the_panel_with_its_message(open_map):
    page = open_map(VIEW)
    gone = {"id": "AAAAAAAAAAAAAAAA", "url": "/api/exports/AAAAAAAAAAAAAAAA", "started": 0}
    page.js(f"() => localStorage.setItem({json.dumps(KEY)}, {json.dumps(json.dumps(gone))})")
    page.page.reload()
    page.page.wait_for_selector(".atlas-export[data-export-state=error]", timeout=10_000)
    text = page.page.locator(".atlas-export-message").inner_text()
    assert text.startswith("刷新前开始的导出已不存在：") and "AAAAAAAAAAAAAAAA" in text, text
    assert stored(page) is None
    take_error(page, 404)
    # the panel works on: its options were read although the job had the panel first
    assert page.page.locator(".atlas-export-format option").count() >= 2


def test_jobs_work_without_local_storage(open_map, tmp_path):
    page = open_map(VIEW)
    page.page.add_init_script("Object.defineProperty(window, 'localStorage', "
                              "{get() { throw new DOMException('denied', 'SecurityError'); }})")
    page.page.reload()
    page.wait_idle()
    open_panel(page)
    choose_layers(page, ["parks"])
    page.page.select_option(".atlas-export-format", "geojson")
    with page.page.expect_download(timeout=15_000) as info:
        page.page.click(".atlas-export-go")
    assert info.value.suggested_filename.endswith(".geojson")
    page.page.wait_for_selector(".atlas-export[data-export-state=done]")
    assert "/api/exports" in [urlsplit(u).path for u in page.watch.api]
