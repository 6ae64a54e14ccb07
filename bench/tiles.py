"""A million features in the page: raster PNG tiles drawn by the server against Mapbox Vector Tiles
drawn in the browser (our canvas renderer, static/atlas-mvt.js), on the same layer, in one run.

    python -m bench.run tiles        (writes its section of bench/RESULTS.md)

Data: ``road_lines(1,000,000)`` (MultiLineStrings of 6 vertices, every atlas field) in a
GeoPackage store. The app serves it with ATLAS_TILE_CACHE_MB=0, so every tile is made per request
(no answer cache: the worst case short of a cold overview), from a threaded server on this machine;
headless Chromium (Debian's) at 1280x800, a fresh context (empty cache) for every load. Measured:
the time from navigation to the page idle with every tile drawn, at the city's, a district's and
a street's zoom; a pan by 400x300 px and the time until redrawn; the tile bytes of a view; the
click query's time; and the overview's build once per revision. Medians of RUNS.
"""
from __future__ import annotations

import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from playwright.sync_api import sync_playwright  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from bench.synthetic import road_lines  # noqa: E402
from geo.store import open_store  # noqa: E402
from layers import build as builder  # noqa: E402
from server import create_app  # noqa: E402
from tests.conftest import write_sources  # noqa: E402

N = 1_000_000
RUNS = 3
PANS = 4
TIMEOUT_MS = 120_000
#: (name, zoom, (lat, lon)): the whole city, a district, a street
VIEWS = (("city", 10, (37.13, 121.95)), ("district", 13, (37.50, 122.10)), ("street", 16, (37.505, 122.11)))
TECHNIQUES = ("png", "mvt")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]

IDLE_JS = """() => {
  const box = document.querySelector('.atlas-map');
  return !!(window.Atlas && Atlas.started && box && box.getAttribute('data-atlas-state') === 'idle'
            && Atlas.layers.million && Atlas.layers.million._tiles
            && !Atlas.layers.million._tiles._loading);
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
BYTES_JS = """() => performance.getEntriesByType('resource').filter(e => e.name.includes('/tiles/'))
  .reduce((a, e) => [a[0] + 1, a[1] + (e.encodedBodySize || 0)], [0, 0])"""


def _guard(host):
    def route(r):
        if r.request.url.split("/")[2] == host or r.request.url.startswith("data:"):
            r.continue_()
        else:
            r.abort()
    return route


def _build(folder: Path) -> tuple[Path, float]:
    started = time.perf_counter()
    store = open_store(folder / "atlas.gpkg", key="id")
    builder.write(store, {**builder.build_all(write_sources(folder / "sources")), "million": road_lines(N, seed=12)})
    return store.path, time.perf_counter() - started


def _serve(path: Path):
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("atlas.access").setLevel(logging.WARNING)
    app = create_app({"STORE": str(path), "TESTING": True, "TILE_CACHE_MB": 0, "CACHE_MB": 0, "LOG_LEVEL": "WARNING"})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return app, server, f"http://127.0.0.1:{server.server_port}"


def _wait_drawn(page) -> float:
    page.wait_for_function(IDLE_JS, timeout=TIMEOUT_MS, polling=20)
    return page.evaluate("() => window.__idle[window.__idle.length - 1]")


def _view(browser, base: str, technique: str, zoom: int, centre) -> dict:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, device_scale_factor=1)
    context.add_init_script(MARK_JS + f"window.ATLAS_TILE_FORMAT = {technique!r};")
    page = context.new_page()
    page.route("**/*", _guard(base.split("//", 1)[1]))
    try:
        page.goto(f"{base}/?layers=million&basemap=none&center={centre[0]},{centre[1]}&zoom={zoom}",
                  timeout=TIMEOUT_MS, wait_until="load")
        drawn = _wait_drawn(page)
        tiles, size = page.evaluate(BYTES_JS)
        pans = []
        for i in range(PANS):
            dx, dy = (400, 300) if i % 2 == 0 else (-300, 400)
            before = page.evaluate("() => window.__idle.length")
            start = page.evaluate(f"() => {{ const t = performance.now(); Atlas.map.panBy([{dx}, {dy}], {{animate: false}}); return t; }}")
            page.wait_for_function(f"() => window.__idle.length > {before}", timeout=TIMEOUT_MS, polling=20)
            pans.append(_wait_drawn(page) - start)
        return {"draw_ms": drawn, "pan_ms": statistics.median(pans), "tiles": tiles, "bytes": size}
    finally:
        context.close()


def _click_ms(app, runs: int = 20) -> float:
    client = app.test_client()
    times = []
    for i in range(runs):
        lon, lat = 122.05 + i * 0.003, 37.45 + i * 0.002
        started = time.perf_counter()
        answer = client.get(f"/api/layers/million/at?lon={lon}&lat={lat}&zoom=16")
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200
    return statistics.median(times)


def run() -> str:
    with tempfile.TemporaryDirectory(prefix="bench-tiles-") as tmp:
        path, built = _build(Path(tmp))
        app, server, base = _serve(path)
        try:
            tiles, store = app.extensions["atlas_tiles"], app.extensions["atlas_store"]
            started = time.perf_counter()
            tiles.overview(store, "million", [f.name for f in store.fields("million")])
            overview_s = time.perf_counter() - started
            started = time.perf_counter()
            tiles.warm(20_000)  # what a served app does at start: the unfiltered pictures of zooms 8-10
            pictures_s = time.perf_counter() - started
            started = time.perf_counter()  # a filter not seen before: its picture at zoom 10, then the tile
            tiles.tile(store, "million", 10, 859, 394, "png", {"category": "historic_street"})
            filtered_s = time.perf_counter() - started
            click = _click_ms(app)
            results = {}
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                try:
                    _view(browser, base, "png", 13, VIEWS[1][2])  # warm-up: the browser's and the server's first load
                    for name, zoom, centre in VIEWS:
                        for technique in TECHNIQUES:
                            runs = [_view(browser, base, technique, zoom, centre) for _ in range(RUNS)]
                            results[name, technique] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                            print(name, technique, results[name, technique], flush=True)
                finally:
                    browser.close()
        finally:
            server.shutdown()
    return _section(results, built, overview_s, pictures_s, filtered_s, click)


def _section(results: dict, built: float, overview_s: float, pictures_s: float, filtered_s: float,
             click: float) -> str:
    lines = ["## A million features: raster tiles against vector tiles", "",
             f"Data: `bench/synthetic.py` `road_lines(1,000,000)` (MultiLineStrings of 6 vertices, every atlas field) in a "
             f"GeoPackage store, written in {built:.0f} s. The app serves it with no tile cache (every tile made per "
             "request) from a threaded server on this machine; headless Chromium at 1280x800, a fresh context for each "
             f"load; medians of {RUNS} loads, each pan the median of {PANS} (400x300 px, redrawn).", "",
             "| view (zoom) | technique | drawn (ms) | pan redrawn (ms) | tiles | tile bytes |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for name, zoom, _ in VIEWS:
        for technique in TECHNIQUES:
            r = results[name, technique]
            label = "raster PNG (server, numpy + Pillow)" if technique == "png" else "vector MVT (mapbox-vector-tile, our canvas)"
            lines.append(f"| {name} ({zoom}) | {label} | {r['draw_ms']:,.0f} | {r['pan_ms']:,.0f} | {r['tiles']:.0f} | "
                         f"{r['bytes'] / 1e6:,.2f} MB |")
    city_png, city_mvt = results["city", "png"], results["city", "mvt"]
    lines += ["", f"Once per store revision, built in the background when a served app starts (and again on the "
              f"first zoomed-out tile after an edit): the overview (the whole layer read, simplified, held as "
              f"arrays) {overview_s:.1f} s, then the unfiltered pictures of zooms 8–10 that zoomed-out tiles are "
              f"cut from {pictures_s:.1f} s. The first zoomed-out tile under a filter not asked before (its picture "
              f"drawn): {filtered_s:.2f} s. Click query (`/api/layers/million/at`, zoom 16): {click:.1f} ms median. "
              "The table's loads run after these, so their zoomed-out tiles are cut from ready pictures.", "",
              f"At the city's zoom the raster tiles draw {city_mvt['draw_ms'] / max(city_png['draw_ms'], 1):.1f}x sooner "
              f"and weigh {city_mvt['bytes'] / max(city_png['bytes'], 1):.0f}x less than the vector tiles, which carry "
              "every feature to the browser; zoomed in, both are quick. The page draws layers over "
              "ATLAS_TILES_ABOVE features as raster tiles (no front-end library: Leaflet's own tile layer) with the "
              "server answering clicks.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    from bench.page import write_section

    section = run()
    print(section)
    write_section(section)
