"""A million features in the page: raster PNG tiles drawn by the server against Mapbox Vector Tiles
drawn in the browser (our canvas renderer, static/atlas-mvt.js), on the same layer, in one run,
served by gunicorn, gthread, WORKERS x THREADS (``make serve SERVER=gunicorn``; ``make serve``'s default
is granian since the OGC bench measured it faster, and this bench has not been run on it yet).

    python -m bench.run tiles        (writes its section of bench/RESULTS.md)
    BENCH_TILES_DIR=/tmp/x python -m bench.tiles    (keeps the built store there and re-uses it)

Data: ``road_lines(1,000,000)`` (MultiLineStrings of 6 vertices, every atlas field) in a
GeoPackage store. gunicorn serves it with ATLAS_TILE_CACHE_MB=0, so every tile is made per request
(no answer cache: the worst case short of a cold overview); each worker builds its layer copies in
the background at start, and the loads begin once both have. Headless Chromium (Debian's) at
1280x800, a fresh context (empty cache) for every load. Measured:

- the floor: the same page with the big layer hidden (what the page itself costs to load);
- the time from navigation to the page idle with every tile drawn, at the city's, a district's and
  a street's zoom; a pan by 400x300 px and the time until redrawn; the tiles and bytes of a view;
- what the browser waits for in a district load: when the first tile is asked for, how many are in
  flight at once (HTTP/1.1: 6 connections a host), the server's time to first byte per tile;
- each tile's server time at zooms 12-14 (one at a time, and a view's 24 with 6 at once as the
  browser asks), the click query's time, and the layer copies' build once per revision.
Medians of RUNS.
"""
from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from bench.synthetic import road_lines  # noqa: E402
from geo.store import open_store  # noqa: E402
from geo.tiles import grid  # noqa: E402
from layers import build as builder  # noqa: E402
from tests.conftest import write_sources  # noqa: E402

N = 1_000_000
RUNS = 3
PANS = 4
TIMEOUT_MS = 120_000
#: as `make serve SERVER=gunicorn` runs it (Makefile WORKERS, GUNICORN_THREADS, CONNECTIONS)
WORKERS, THREADS, CONNECTIONS = 2, 8, 12
#: (name, zoom, (lat, lon)): the whole city, a district, a street
VIEWS = (("city", 10, (37.13, 121.95)), ("district", 13, (37.50, 122.10)), ("street", 16, (37.505, 122.11)))
TECHNIQUES = tuple(os.environ.get("BENCH_TILES_TECHNIQUES", "png,mvt").split(","))
#: the page's view in tiles: 1280x800 px is 5x3.1 tiles, Leaflet asks for the tiles it overlaps
VIEW_TILES = (6, 4)
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]

IDLE_JS = """() => {
  const box = document.querySelector('.atlas-map');
  return !!(window.Atlas && Atlas.started && box && box.getAttribute('data-atlas-state') === 'idle'
            && (!Atlas.layers.million || !Atlas.layers.million._map
                || (Atlas.layers.million._tiles && !Atlas.layers.million._tiles._loading)));
}"""
#: the page's busy state is watched from the first script on: the last time it turned idle
MARK_JS = """
window.__idle = [];
new MutationObserver(function (list) {
  list.forEach(function (m) {
    if (m.target.getAttribute && m.target.getAttribute('data-atlas-state') === 'idle') { window.__idle.push(performance.now()); }
  });
}).observe(document, {attributes: true, subtree: true, attributeFilter: ['data-atlas-state']});
"""
TIMELINE_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const tiles = performance.getEntriesByType('resource').filter(e => e.name.includes('/tiles/million/'));
  return {html: nav.responseEnd, dom: nav.domContentLoadedEventEnd,
          tiles: tiles.map(e => [e.startTime, e.requestStart, e.responseStart, e.responseEnd, e.encodedBodySize || 0])};
}"""


def _guard(host):
    def route(r):
        if r.request.url.split("/")[2] == host or r.request.url.startswith("data:"):
            r.continue_()
        else:
            r.abort()
    return route


def _build(folder: Path) -> tuple[Path, float]:
    path = folder / "atlas.gpkg"
    if path.exists() and os.environ.get("BENCH_TILES_DIR"):
        return path, 0.0
    started = time.perf_counter()
    store = open_store(path, key="id")
    builder.write(store, {**builder.build_all(write_sources(folder / "sources")), "million": road_lines(N, seed=12)})
    return store.path, time.perf_counter() - started


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """The app as `make serve SERVER=gunicorn` runs it, in its own process group, logging to ``log``; ready when
    every worker has built its layer copies (the log's ``tiles ready`` lines)."""

    def __init__(self, store: Path, log: Path, workers: int = WORKERS, threads: int = THREADS):
        port = _free_port()
        env = {**os.environ, "ATLAS_STORE": str(store), "ATLAS_TILE_CACHE_MB": "0", "ATLAS_LOG_LEVEL": "INFO",
               "PYTHONPATH": str(ROOT)}
        self.log = log
        self._out = open(log, "wb")  # noqa: SIM115 (closed by stop)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", str(workers), "--threads", str(threads),
             "--worker-connections", str(CONNECTIONS), "--timeout", "300", "-b", f"127.0.0.1:{port}",
             "server:create_app()"],
            cwd=ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True)
        self.url = f"http://127.0.0.1:{port}"
        self.workers = workers

    def wait_warm(self, timeout: float = 600) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn ended; see {self.log}")
            text = self.log.read_text(encoding="utf-8", errors="replace")
            if text.count("tiles ready") >= self.workers:
                return time.monotonic() - started
            time.sleep(0.5)
        raise RuntimeError(f"the workers did not build their tiles' copies in {timeout} s; see {self.log}")

    def worker_mb(self) -> list[float]:
        """Each worker's resident memory (MB)."""
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        out = []
        for pid in children:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out.append(int(line.split()[1]) / 1024)
        return out

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(30)
        self._out.close()


def _wait_drawn(page) -> float:
    page.wait_for_function(IDLE_JS, timeout=TIMEOUT_MS, polling=20)
    return page.evaluate("() => window.__idle[window.__idle.length - 1]")


def _timeline(raw: dict) -> dict:
    t = raw["tiles"]
    if not t:
        return {"html_ms": raw["html"], "first_ask_ms": 0, "last_tile_ms": 0, "in_flight": 0, "ttfb_ms": 0, "queued_ms": 0}
    events = sorted([(s, 1) for _, s, _, _, _ in t] + [(e, -1) for _, _, _, e, _ in t])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return {"html_ms": raw["html"], "first_ask_ms": min(e[0] for e in t), "last_tile_ms": max(e[3] for e in t),
            "in_flight": most, "ttfb_ms": statistics.median(e[2] - e[1] for e in t),
            "queued_ms": statistics.median(e[1] - e[0] for e in t)}


def _view(browser, base: str, technique: str | None, zoom: int, centre) -> dict:
    """One load in a fresh context: ``technique`` None is the floor (the big layer hidden)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, device_scale_factor=1)
    context.add_init_script(MARK_JS + f"window.ATLAS_TILE_FORMAT = {(technique or 'png')!r};")
    page = context.new_page()
    page.route("**/*", _guard(base.split("//", 1)[1]))
    layers = "million" if technique else ""
    try:
        page.goto(f"{base}/?layers={layers}&basemap=none&center={centre[0]},{centre[1]}&zoom={zoom}",
                  timeout=TIMEOUT_MS, wait_until="load")
        drawn = _wait_drawn(page)
        timeline = _timeline(page.evaluate(TIMELINE_JS))
        tiles = page.evaluate("() => performance.getEntriesByType('resource').filter(e => e.name.includes('/tiles/million/'))"
                              ".reduce((a, e) => [a[0] + 1, a[1] + (e.encodedBodySize || 0)], [0, 0])")
        pans = []
        for i in range(PANS if technique else 0):
            dx, dy = (400, 300) if i % 2 == 0 else (-300, 400)
            before = page.evaluate("() => window.__idle.length")
            start = page.evaluate(f"() => {{ const t = performance.now(); Atlas.map.panBy([{dx}, {dy}], {{animate: false}}); return t; }}")
            page.wait_for_function(f"() => window.__idle.length > {before}", timeout=TIMEOUT_MS, polling=20)
            pans.append(_wait_drawn(page) - start)
        return {"draw_ms": drawn, "pan_ms": statistics.median(pans) if pans else 0.0, "tiles": tiles[0],
                "bytes": tiles[1], **timeline}
    finally:
        context.close()


def _get(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as answer:
        size = len(answer.read())
    return (time.perf_counter() - started) * 1000, size


def _server_tiles(base: str) -> dict:
    """Per zoom 12-14 at the district's centre: a view's tiles one at a time (median ms, bytes) and
    all of them 6 at once as the browser asks (wall ms)."""
    lat, lon = VIEWS[1][2]
    out = {}
    for z in (12, 13, 14):
        cx, cy = grid.tile_of(lon, lat, z)
        urls = [f"{base}/tiles/million/{z}/{x}/{y}.png" for x in range(cx - 3, cx + VIEW_TILES[0] - 3)
                for y in range(cy - 2, cy + VIEW_TILES[1] - 2)]
        one = [_get(u) for u in urls]
        started = time.perf_counter()
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(_get, urls))
        out[z] = {"tile_ms": statistics.median(t for t, _ in one), "max_ms": max(t for t, _ in one),
                  "bytes": statistics.median(s for _, s in one), "view_6_ms": (time.perf_counter() - started) * 1000,
                  "tiles": len(urls)}
    return out


def _click_ms(base: str, runs: int = 20) -> float:
    times = []
    for i in range(runs):
        lon, lat = 122.05 + i * 0.003, 37.45 + i * 0.002
        times.append(_get(f"{base}/api/layers/million/at?lon={lon}&lat={lat}&zoom=16")[0])
    return statistics.median(times)


def _median(runs: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def _dev_server_district(path: Path, browser) -> dict:
    """The district load under Flask's threaded development server (one process), for comparison."""
    from werkzeug.serving import make_server

    from server import create_app

    app = create_app({"STORE": str(path), "TESTING": True, "TILE_CACHE_MB": 0, "LOG_LEVEL": "WARNING"})
    app.extensions["atlas_tiles"].warm(20_000)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        _view(browser, base, "png", VIEWS[1][1], VIEWS[1][2])
        return _median([_view(browser, base, "png", VIEWS[1][1], VIEWS[1][2]) for _ in range(RUNS)])
    finally:
        server.shutdown()


def run() -> str:
    keep = os.environ.get("BENCH_TILES_DIR")
    with tempfile.TemporaryDirectory(prefix="bench-tiles-") as tmp:
        folder = Path(keep) if keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        path, built = _build(folder)
        load = os.getloadavg()[0]
        server = Gunicorn(path, folder / "gunicorn.log")
        try:
            warm_s = server.wait_warm()
            memory = server.worker_mb()
            base = server.url
            per_tile = _server_tiles(base)
            print("server tiles", per_tile, flush=True)
            click = _click_ms(base)
            results = {}
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                try:
                    _view(browser, base, "png", 13, VIEWS[1][2])  # warm-up: the browser's and the server's first load
                    for name, zoom, centre in VIEWS:
                        results[name, None] = _median([_view(browser, base, None, zoom, centre) for _ in range(RUNS)])
                        print(name, "floor", results[name, None], flush=True)
                        for technique in TECHNIQUES:
                            results[name, technique] = _median([_view(browser, base, technique, zoom, centre)
                                                                for _ in range(RUNS)])
                            print(name, technique, results[name, technique], flush=True)
                    server.stop()
                    server = None
                    dev = _dev_server_district(path, browser)
                    print("district dev server", dev, flush=True)
                finally:
                    browser.close()
        finally:
            if server is not None:
                server.stop()
    return _section(results, per_tile, dev, built, warm_s, click, (load, os.getloadavg()[0]), memory)


#: The same script on main before the in-memory path for zooms 11-14 (commit 915af2d, load 2.8):
#: zooms 12-14 read the store per tile.
BEFORE = {"city": (738, 748, 107), "district": (2004, 587, 545), "street": (1214, 818, 207),
          "tiles": {12: 58.1, 13: 25.9, 14: 14.1}, "warm_s": 32, "worker_mb": 1309}


def _section(results: dict, per_tile: dict, dev: dict, built: float, warm_s: float, click: float,
             load: tuple[float, float], memory: list[float]) -> str:
    lines = ["## A million features: raster tiles against vector tiles", "",
             "Data: `bench/synthetic.py` `road_lines(1,000,000)` (MultiLineStrings of 6 vertices, every atlas field) in a "
             "GeoPackage store" + (f", written in {built:.0f} s" if built else "") + ". Served as `make serve SERVER=gunicorn` does: "
             f"gunicorn, gthread, {WORKERS} workers x {THREADS} threads, with no tile cache (ATLAS_TILE_CACHE_MB=0: every "
             "tile made per request); headless Chromium at 1280x800, a fresh context (empty browser cache) for each "
             f"load; medians of {RUNS} loads, each pan the median of {PANS} (400x300 px, redrawn). "
             f"Load average (2 cores, shared) when the run began: {load[0]:.1f}, when it ended: {load[1]:.1f}.", "",
             "| view (zoom) | technique | drawn (ms) | floor: page without the layer (ms) | pan redrawn (ms) | "
             "first tile asked (ms) | tiles in flight | tile wait (ms) | tiles | tile bytes |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, zoom, _ in VIEWS:
        floor = results[name, None]["draw_ms"]
        for technique in TECHNIQUES:
            r = results[name, technique]
            label = "raster PNG (server, numpy + Pillow)" if technique == "png" else "vector MVT (mapbox-vector-tile, our canvas)"
            lines.append(f"| {name} ({zoom}) | {label} | {r['draw_ms']:,.0f} | {floor:,.0f} | {r['pan_ms']:,.0f} | "
                         f"{r['first_ask_ms']:,.0f} | {r['in_flight']:.0f} | {r['ttfb_ms']:,.0f} | {r['tiles']:.0f} | "
                         f"{r['bytes'] / 1e6:,.2f} MB |")
    lines += ["", "Drawn: from navigation to the page idle with every tile on screen; first tile asked: when the page "
              "asked for its first tile of the layer; tiles in flight: the most at once (Chromium opens 6 HTTP/1.1 "
              "connections a host); tile wait: the median time from a tile's request sent to its first byte.", "",
              "Each tile's server time (a view's tiles around the district's centre, over HTTP to gunicorn; one at a time, "
              "then all at once 6 in parallel as the browser asks):", "",
              "| zoom | tiles | median tile (ms) | slowest (ms) | all, 6 at once (ms) | median bytes |",
              "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for z, r in per_tile.items():
        lines.append(f"| {z} | {r['tiles']} | {r['tile_ms']:,.1f} | {r['max_ms']:,.1f} | {r['view_6_ms']:,.0f} | "
                     f"{r['bytes']:,.0f} |")
    city_png, city_mvt = results["city", "png"], results.get(("city", "mvt"), {"draw_ms": 0, "bytes": 0})
    lines += ["", f"The district's raster load under Flask's threaded development server instead (one process): "
              f"drawn {dev['draw_ms']:,.0f} ms, pan {dev['pan_ms']:,.0f} ms, tiles in flight {dev['in_flight']:.0f}, "
              f"tile wait {dev['ttfb_ms']:,.0f} ms.", "",
              "Before (the same script on main, commit 915af2d, load 2.8; zooms 12–14 read the store per tile): "
              + "; ".join(f"{v} drawn {BEFORE[v][0]:,} ms (floor {BEFORE[v][1]:,}), pan {BEFORE[v][2]:,} ms"
                          for v in ("city", "district", "street"))
              + "; a tile at zoom " + ", ".join(f"{z} {ms} ms" for z, ms in BEFORE["tiles"].items())
              + f"; both workers ready {BEFORE['warm_s']} s after the start, {BEFORE['worker_mb']:,} MB each. A district's "
              "tile then read the store (~26 ms: the bbox query 8, simplifying 4, drawing 8), and the page asked for "
              "its first tile only after its scripts had run (~740 ms). Now tiles up to zoom 14 come from the overview "
              "through a numpy grid index (no store query, no simplifying per tile; the same pixels at zoom 14, within "
              "a pixel below: tests/layers/test_tiles_overview.py), the drawing stamps on a padded canvas (one "
              "addition and one assignment per pixel offset, the same pixels as before), and the page asks for its "
              "first view's tiles from its head, with URLs naming the store's revision that the browser keeps. "
              "Under the development server (one process) the 6 connections' tiles queue behind one interpreter.",
              "",
              f"Once per store revision, each worker builds in the background at start (and again on the first tile "
              f"after an edit) its copy of the layer (the overview: the whole layer simplified to half a pixel at zoom "
              f"14, in numpy arrays with a grid index over the features' boxes) and the pictures of zooms 8–10 that "
              f"zoomed-out tiles are cut from: {warm_s:.0f} s from the server's start until both workers were ready; "
              f"each worker then holds {', '.join(f'{m:,.0f}' for m in memory)} MB. Click query (`/api/layers/million/at`, zoom 16): {click:.1f} ms median. "
              "The table's loads run after these.", "",
              f"At the city's zoom the raster tiles draw {city_mvt['draw_ms'] / max(city_png['draw_ms'], 1):.1f}x sooner "
              f"and weigh {city_mvt['bytes'] / max(city_png['bytes'], 1):.0f}x less than the vector tiles, which carry "
              "every feature to the browser. The page draws layers over ATLAS_TILES_ABOVE features as raster tiles "
              "(no front-end library: Leaflet's own tile layer) with the server answering clicks.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    from bench.page import write_section

    section = run()
    print(section)
    write_section(section)
