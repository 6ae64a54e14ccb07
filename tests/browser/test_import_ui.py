"""The import panel in real headless Chromium (static/atlas-import.js, atlas-import-found.js) against
the real server — acceptance 4 of the import issue: an admin drops a zipped GBK Shapefile without
.cpg (and without .prj) in CGCS2000 Gauss-Krüger zone 41 with the zone prefix on the panel, sees the
preview — the Chinese text right in the chosen encoding and garbled in the other, the coordinate
system found with the data drawn over Huancui on the small map — imports it as a new layer coloured
by a field, and finds it in the layer control, the legend, search, the filters and the export panel.
Then a server killed in the middle of an import (a gunicorn process, SIGKILL while the commit runs)
leaves the store byte-identical, and the page reloaded against the restarted server says the import
was interrupted and nothing was stored."""
from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely
from pyproj import Transformer

from geo.store import open_store
from layers import build as builder
from server import create_app
from tests.browser.conftest import add_user, atlas_server
from tests.browser.test_edit_ui import login
from tests.conftest import write_sources

ADMIN = "导入管理员"
NAMES = ["环翠楼公园片区", "威海公园片区", "幸福门片区", "里口山片区", "华夏城片区"]
CATEGORIES = ["居住用地", "绿地", "居住用地", "绿地", "商业用地"]
#: lon/lat of the parcels' centres, in Huancui district (inside the test atlas's 环翠区 square)
CENTRES = [(122.03 + 0.008 * i, 37.49 + 0.006 * i) for i in range(len(NAMES))]
TO_4529 = Transformer.from_crs("EPSG:4326", "EPSG:4529", always_xy=True)
ROOT = Path(__file__).resolve().parents[2]


def gbk_zone41_zip(folder: Path) -> Path:
    """As ArcGIS on Chinese Windows writes it: GBK text, no .cpg, no .prj, x with the zone prefix 41."""
    folder.mkdir(parents=True, exist_ok=True)
    squares = []
    for lon, lat in CENTRES:
        x, y = TO_4529.transform(lon, lat)
        assert 41_000_000 < x < 42_000_000  # the zone prefix is there
        squares.append(shapely.box(x - 120, y - 90, x + 120, y + 90))
    frame = gpd.GeoDataFrame({"code": [f"GH{i:02d}" for i in range(len(NAMES))], "name_zh": NAMES,
                              "district": ["371002"] * len(NAMES), "category": CATEGORIES},
                             geometry=squares, crs="EPSG:4529")
    shp = folder / "guihua.shp"
    pyogrio.write_dataframe(frame, shp, encoding="GBK")
    for suffix in (".cpg", ".prj"):
        shp.with_suffix(suffix).unlink(missing_ok=True)
    archive = folder / "规划地块.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in sorted(folder.glob("guihua.*")):
            zf.write(part, part.name)
    return archive


def drop_file(page, path: Path, name: str | None = None, on: str = ".atlas-import-drop") -> None:
    """A file dropped on ``on`` (the import panel; or the map), as a planner drags it from the file manager."""
    page.page.evaluate("""([b64, name, on]) => {
        const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name));
        const target = document.querySelector(on);
        for (const type of ['dragenter', 'dragover', 'drop']) {
            target.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: dt}));
        }
    }""", [base64.b64encode(path.read_bytes()).decode(), name or path.name, on])


def open_import(page):
    page.page.locator(".atlas-tool-import").click()
    panel = page.page.locator(".atlas-import")
    panel.wait_for()
    return panel


@pytest.fixture(scope="module")
def import_server(tmp_path_factory):
    server = atlas_server(tmp_path_factory.mktemp("atlas-import-ui"), [(ADMIN, "admin")])
    yield server
    server.stop()


def test_a_dropped_gbk_shapefile_in_zone_41_is_previewed_imported_and_found_everywhere(open_map, import_server,
                                                                                      tmp_path, artifacts):
    archive = gbk_zone41_zip(tmp_path / "src")
    page = open_map("?center=37.50,122.06&zoom=12", server=import_server)
    login(page, ADMIN)
    panel = page.page.locator(".atlas-import")
    assert not panel.is_visible()
    # dragged onto the map itself: the panel opens and takes the file
    drop_file(page, archive, on=".leaflet-container")
    panel.locator(".atlas-import-summary").wait_for(timeout=20_000)
    assert "规划地块.zip" in panel.locator(".atlas-import-summary").inner_text()
    # the encoding: the chosen one reads the Chinese, the other is shown garbled beside it
    chosen = panel.locator(".atlas-import-encoding.atlas-on")
    assert chosen.get_attribute("data-encoding") in ("GB18030", "GBK")
    assert "环翠楼公园片区" in chosen.inner_text()
    other = panel.locator(".atlas-import-encoding:not(.atlas-on)")
    assert other.count() >= 1 and "环翠楼公园片区" not in other.first.inner_text()
    # the coordinate system: zone 41 with the prefix, chosen, and the data over Huancui on the small map
    assert "EPSG:4529" in panel.locator(".atlas-import-section h3", has_text="坐标系").inner_text()
    reason = panel.locator(".atlas-import-crs-reason").inner_text()
    assert "EPSG:4529" in reason and "most likely" not in reason, reason  # in Chinese on the zh page
    page.page.locator(".atlas-import-map path.atlas-import-shape-chosen").first.wait_for()
    assert page.page.locator(".atlas-import-map path.atlas-import-shape-chosen").count() == len(NAMES)
    centre = page.js("() => { const c = Atlas.importPanel.previewMap().getCenter(); return [c.lng, c.lat]; }")
    assert 122.02 < centre[0] < 122.08 and 37.48 < centre[1] < 37.53, centre
    page.page.screenshot(path=str(artifacts / "import-preview.png"))
    # a new layer, titled, coloured by its category field
    panel.locator("input[name=layer]").fill("guihua_dikuai")
    panel.locator("input[name=title_zh]").fill("规划地块")
    panel.locator("input[name=title_en]").fill("Planned parcels")
    panel.locator("select[name=style_field]").select_option("category")
    panel.locator("select[name=key]").select_option("code")
    panel.locator(".atlas-import-check").click()
    panel.locator(".atlas-import-plan", has_text="将新增 5").wait_for()
    assert "guihua_dikuai" not in import_server.app.extensions["atlas_store"].layers()  # a check stores nothing
    with page.page.expect_navigation():
        panel.locator(".atlas-import-go").click()
    page.wait_idle()
    store = import_server.app.extensions["atlas_store"]
    assert store.info("guihua_dikuai").count == len(NAMES)
    assert store.history(limit=1)[0].actor == ADMIN
    # the panel, reopened by the reload, says what was imported and offers to undo it
    first = page
    done = page.page.locator(".atlas-import .atlas-import-status")
    assert "已导入图层“guihua_dikuai”：新增 5" in done.inner_text()
    assert page.page.locator(".atlas-import-undo").is_visible()
    # the layer control and the map
    overlays = page.page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
    assert any("规划地块" in name for name in overlays), overlays
    assert page.drawn_ids("guihua_dikuai") == [f"GH{i:02d}" for i in range(len(NAMES))]
    # the legend: its categories in their colours
    legend = page.page.locator(".atlas-legend")
    assert "规划地块" in legend.inner_text()
    for category in set(CATEGORIES):
        assert category in legend.inner_text()
    # search finds an imported feature by its Chinese name
    page.page.fill(".atlas-search-input", "里口山片区")
    page.page.wait_for_selector(".atlas-result[data-feature-id='GH03']")
    # the filters apply to it: Huancui keeps it, Wendeng empties it
    page = open_map("?center=37.50,122.06&zoom=12&layers=guihua_dikuai&district=371002", server=import_server)
    assert len(page.drawn_ids("guihua_dikuai")) == len(NAMES)
    page = open_map("?center=37.50,122.06&zoom=12&layers=guihua_dikuai&district=371003", server=import_server)
    assert page.drawn_ids("guihua_dikuai") == []
    # the export panel offers it, and its export holds the Chinese names
    page.page.locator(".atlas-tool-export").click()
    offered = page.page.locator(".atlas-export input[name=export-layer][value=guihua_dikuai]")
    offered.wait_for(state="attached")
    label = page.page.locator(".atlas-export-layer", has=page.page.locator("input[value=guihua_dikuai]"))
    assert "规划地块" in label.inner_text()
    with urllib.request.urlopen(f"{import_server.url}/api/export?layers=guihua_dikuai&format=geojson") as resp:
        exported = json.loads(resp.read())
    assert sorted(f["properties"]["name_zh"] for f in exported["features"]) == sorted(NAMES)
    # undone from the panel: one more revision, the layer gone from the store and the page
    with first.page.expect_navigation():
        first.page.locator(".atlas-import-undo").click()
    first.wait_idle()
    assert "guihua_dikuai" not in store.layers() and store.history(limit=1)[0].actor == ADMIN
    overlays = first.page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
    assert not any("规划地块" in name for name in overlays), overlays


# -- a server killed mid-import ---------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _digest(path: Path) -> str:
    """The store's content hash: every table's rows as SQLite dumps them. (Its files' bytes are no
    measure here: a killed writer leaves uncommitted frames in the -wal, which SQLite ignores.)"""
    import sqlite3

    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return hashlib.sha256("\n".join(db.iterdump()).encode()).hexdigest()
    finally:
        db.close()


class Gunicorn:
    """The app served by gunicorn in its own process, as `make serve` runs it."""

    def __init__(self, store: Path, port: int, log: Path):
        env = {**os.environ, "ATLAS_STORE": str(store), "PYTHONPATH": str(ROOT)}
        self.log = open(log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4",
             "--worker-class", "gthread", "server:create_app()"],
            cwd=ROOT, env=env, stdout=self.log, stderr=self.log, start_new_session=True)
        self.url = f"http://127.0.0.1:{port}"
        self.host = f"127.0.0.1:{port}"
        end = time.monotonic() + 60
        while time.monotonic() < end:
            try:
                with urllib.request.urlopen(self.url + "/api/layers", timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"gunicorn did not start; see {log}")

    def kill(self):
        os.killpg(self.proc.pid, signal.SIGKILL)  # the master and its worker, as a power cut would
        self.proc.wait(10)
        self.log.close()


def test_a_server_killed_mid_import_stores_nothing_and_the_page_says_so(open_map, tmp_path, artifacts):
    folder = tmp_path / "atlas"
    store = open_store(folder / "atlas.gpkg", key="id")
    builder.build(store, write_sources(folder / "sources"))
    add_user(create_app({"STORE": str(store.path), "TESTING": True}), ADMIN, "admin")
    # a file large enough that its commit takes a while: 150,000 points over Huancui, as a CSV
    big = tmp_path / "采样点.csv"
    with open(big, "w", encoding="utf-8-sig", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["编号", "名称", "lon", "lat"])
        for i in range(150_000):
            out.writerow([f"D{i:06d}", f"采样点{i}", f"{122.00 + (i % 500) * 0.0002:.6f}",
                          f"{37.44 + (i // 500) * 0.0002:.6f}"])
    port = _free_port()
    server = Gunicorn(store.path, port, artifacts / "import-kill-gunicorn.log")
    try:
        page = open_map("?center=37.47,122.05&zoom=12", server=server)
        login(page, ADMIN)
        panel = open_import(page)
        page.page.locator(".atlas-import input[type=file]").set_input_files(str(big))
        panel.locator(".atlas-import-summary").wait_for(timeout=120_000)
        before = _digest(store.path)
        head = store.history(limit=1)[0].id
        panel.locator("input[name=layer]").fill("caiyangdian")
        page.watch.expect_unreachable("/api/imports/")  # its polls while the server is down
        upload_id = page.js("() => JSON.parse(localStorage.getItem('atlas-import')).id")
        state_file = folder / "imports" / upload_id / "state.json"
        panel.locator(".atlas-import-go").click()
        # the commit is writing on the server (the upload's state on disk says so): kill it now
        end, seen = time.monotonic() + 300, None  # the check of 150,000 rows can take minutes on a loaded machine
        while time.monotonic() < end:
            try:
                seen = json.loads(state_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if seen.get("task") == "commit" and seen["state"] == "running" and seen["progress"]["phase"] == "write":
                break
            assert seen.get("task") != "commit" or seen["state"] == "running", \
                f"the commit ended before the test could kill the server: {seen}"
            time.sleep(0.01)
        assert seen["progress"]["phase"] == "write", seen
        page.page.wait_for_function("() => document.querySelector('.atlas-import-status').textContent.includes('写入图层')")
        server.kill()
    finally:
        if server.proc.poll() is None:
            server.kill()
    assert _digest(store.path) == before
    reopened = open_store(store.path, key="id")
    assert "caiyangdian" not in reopened.layers() and reopened.history(limit=1)[0].id == head
    assert reopened.verify().ok
    # the server restarted on the same store; the reloaded page resumes the upload and says what happened
    server = Gunicorn(store.path, port, artifacts / "import-kill-gunicorn.log")
    try:
        page.page.reload()
        page.wait_idle()
        message = page.page.locator(".atlas-import-problem")
        message.wait_for(timeout=30_000)
        page.page.wait_for_function("() => document.querySelector('.atlas-import-problem').textContent.length > 0")
        text = message.inner_text()
        assert "interrupted" in text or "中断" in text, text
        assert "没有写入任何数据" in text
        assert "caiyangdian" not in open_store(store.path, key="id").layers()
    finally:
        server.kill()
