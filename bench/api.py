"""API latency per layer, and for a synthetic layer of 100,000 road lines, over real HTTP.

    python bench/api.py        (or `make bench`, which writes bench/RESULTS.md)

Side by side in one run: our endpoint against the floor of a plain pyogrio bbox read of the same
rows serialised with geopandas (no HTTP, no paging, no filters).
"""
from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyogrio  # noqa: E402
from werkzeug.serving import WSGIRequestHandler, make_server  # noqa: E402

from bench.synthetic import CENTRE, road_lines  # noqa: E402
from geo.store import open_store  # noqa: E402
from layers import build as builder  # noqa: E402
from server import create_app  # noqa: E402

REPEAT = 15


def _timed(fn, repeat=REPEAT):
    fn()  # warm-up
    times, size = [], 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        size = fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9) - 1], size


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


def _serve(store_path):
    # the answer cache off: every request is computed (a repeated view is measured in bench/peer.py)
    app = create_app({"STORE": str(store_path), "CACHE_MB": 0})
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def _get(url):
    def fetch():
        with urllib.request.urlopen(url) as resp:
            return len(resp.read())
    return fetch


def run() -> str:
    tmp = Path(tempfile.mkdtemp(prefix="atlas-bench-"))
    store = open_store(tmp / "atlas.gpkg", key="id")
    t0 = time.perf_counter()
    layers = builder.build_all()
    build_ms = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    roads = road_lines(100_000)
    gen_ms = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    builder.write(store, {**layers, "synthetic_roads": roads})
    write_ms = (time.perf_counter() - t0) * 1000
    server, base = _serve(store.path)
    rows = []
    try:
        for layer in layers:
            rows.append((f"{layer} (whole layer, {len(layers[layer])} features)", *_timed(_get(f"{base}/api/layers/{layer}"))))
        bbox = ",".join(map(str, CENTRE))
        cases = [
            ("synthetic 100k: bbox of the city centre, limit 1000", f"/api/layers/synthetic_roads?bbox={bbox}&limit=1000"),
            ("synthetic 100k: centre bbox, limit 1000, simplify 20 m", f"/api/layers/synthetic_roads?bbox={bbox}&limit=1000&simplify=20"),
            ("synthetic 100k: no bbox, limit 1000", "/api/layers/synthetic_roads?limit=1000"),
            ("synthetic 100k: category + name filter, limit 1000", "/api/layers/synthetic_roads?category=historic_street&q=%E9%81%93%E8%B7%AF9&limit=1000"),
            ("synthetic 100k: last page (offset 99000), limit 1000", "/api/layers/synthetic_roads?limit=1000&offset=99000"),
            ("/api/layers (all layers' metadata)", "/api/layers"),
            ("/api/search?q=华夏城 (all layers)", "/api/search?q=%E5%8D%8E%E5%A4%8F%E5%9F%8E"),
        ]
        for label, path in cases:
            rows.append((label, *_timed(_get(base + path))))

        def floor():
            frame = pyogrio.read_dataframe(store.path, layer="synthetic_roads", bbox=CENTRE, max_features=1000)
            return len(frame.to_json().encode())
        rows.append(("floor: pyogrio bbox read + GeoDataFrame.to_json, same 1000 rows (no HTTP)", *_timed(floor)))
    finally:
        server.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    ours = rows[len(layers)][1]
    lines = [
        "## API latency",
        "",
        f"Store: GeoPackage with the atlas and a synthetic layer of 100,000 road lines (6 vertices each); "
        f"served by werkzeug on 127.0.0.1 with the answer cache off (every answer computed), fetched with urllib; {REPEAT} requests each after one warm-up. "
        f"Atlas build {build_ms:.0f} ms; synthetic generation {gen_ms:.0f} ms; store write (all layers) {write_ms:.0f} ms.",
        "",
        "| request | median ms | p90 ms | bytes |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {label} | {med:.1f} | {p90:.1f} | {size:,} |" for label, med, p90, size in rows]
    lines += ["", f"Centre-bbox request against the pyogrio floor: {ours / rows[-1][1]:.2f}× (median/median).", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
