"""Serving under load, as `make serve SERVER=gunicorn` runs it: gunicorn gthread (2 workers x 8 threads) over the atlas
and a synthetic layer of 100,000 roads, on loopback.

    python bench/load.py        (or `make bench`, which writes bench/RESULTS.md)

1. 64 concurrent clients for 60 s (``BENCH_LOAD_SECONDS``), each looping over a mix of the page,
   the layer list, a whole small layer, a city-centre box of the big layer, a search and a small
   direct export: errors (must be 0) and latency percentiles per kind.
2. Two large exports started as jobs (``POST /api/exports``, 100,000 roads to GeoPackage and to
   XLSX) and, while they run, ``/api/layers`` asked once every 0.2 s: its latencies (the site must
   stay usable: under a second).
Every request goes to 127.0.0.1 only; both phases stop by themselves.
"""
from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.synthetic import CENTRE, road_lines  # noqa: E402
from geo.store import open_store  # noqa: E402
from layers import build as builder  # noqa: E402
from layers import catalog  # noqa: E402

CLIENTS = 64
SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "60"))
MIX = [
    ("page /", "/"),
    ("GET /api/layers", "/api/layers"),
    ("whole layer (projects)", "/api/layers/projects"),
    ("centre bbox, 100k roads, limit 1000", "/api/layers/synthetic_roads?bbox=" + ",".join(map(str, CENTRE)) + "&limit=1000"),
    ("search 华夏", "/api/search?q=" + quote("华夏")),
    ("direct export (parks, gpkg)", "/api/export?layers=parks&format=gpkg"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        con.request(method, path, body=body, headers=headers or {})
        resp = con.getresponse()
        data = resp.read()
        return resp.status, data
    finally:
        con.close()


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))] if values else float("nan")


def _serve(store_path: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "ATLAS_STORE": str(store_path), "ATLAS_LOG_LEVEL": "WARNING"}
    cmd = [sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", "2", "--threads", "8", "--worker-connections", "12", "--timeout", "300",
           "--no-control-socket", "-b", f"127.0.0.1:{port}", "server:create_app()"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if _request(port, "GET", "/api/layers")[0] == 200:
                return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"gunicorn did not start; see {log}")


def _load(port: int) -> dict[str, dict]:
    results = {name: [] for name, _ in MIX}
    errors = {name: 0 for name, _ in MIX}
    lock = threading.Lock()
    stop = time.time() + SECONDS

    def client(i: int) -> None:
        k = i
        while time.time() < stop:
            name, path = MIX[k % len(MIX)]
            k += 1
            t0 = time.perf_counter()
            try:
                status, _ = _request(port, "GET", path, headers={"Accept-Encoding": "gzip"})
                ok = status == 200
            except OSError:
                ok = False
            ms = (time.perf_counter() - t0) * 1000
            with lock:
                results[name].append(ms)
                if not ok:
                    errors[name] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {name: {"n": len(results[name]), "errors": errors[name], "p50": _pct(results[name], 0.5),
                   "p90": _pct(results[name], 0.9), "p99": _pct(results[name], 0.99), "max": max(results[name], default=0)}
            for name, _ in MIX}


def _jobs(port: int) -> dict:
    started = time.perf_counter()
    jobs = []
    for fmt in ("gpkg", "xlsx"):
        status, body = _request(port, "POST", "/api/exports", json.dumps({"layers": "synthetic_roads", "format": fmt}).encode(),
                                {"Content-Type": "application/json"})
        if status != 202:
            raise RuntimeError(f"POST /api/exports answered {status}: {body[:300]!r}")
        jobs.append(json.loads(body))
    latencies, done = [], {}
    while len(done) < len(jobs) and time.perf_counter() - started < 600:
        t0 = time.perf_counter()
        status, _ = _request(port, "GET", "/api/layers")
        latencies.append(((time.perf_counter() - t0) * 1000, status))
        for job in jobs:
            if job["id"] in done:
                continue
            state = json.loads(_request(port, "GET", job["url"])[1])
            if state["state"] in ("done", "failed"):
                done[job["id"]] = (state["state"], time.perf_counter() - started, state.get("size"))
        time.sleep(0.2)
    ms = [m for m, _ in latencies]
    return {"jobs": done, "n": len(ms), "errors": sum(1 for _, s in latencies if s != 200),
            "p50": _pct(ms, 0.5), "p90": _pct(ms, 0.9), "max": max(ms, default=0)}


def run() -> str:
    tmp = Path(tempfile.mkdtemp(prefix="atlas-load-"))
    try:
        store = open_store(tmp / "atlas.gpkg", key=catalog.KEY)
        layers = builder.build_all()
        builder.write(store, {**layers, "synthetic_roads": road_lines(100_000)})
        port = _free_port()
        proc = _serve(store.path, port, tmp / "gunicorn.log")
        try:
            load = _load(port)
            jobs = _jobs(port)
        finally:
            proc.terminate()
            proc.wait(30)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = sum(r["n"] for r in load.values())
    errors = sum(r["errors"] for r in load.values())
    lines = ["## Serving under load (bench/load.py)", "",
             f"gunicorn gthread, 2 workers x 8 threads; {CLIENTS} concurrent clients for {SECONDS:.0f} s on loopback, "
             f"client and server on the same 2 cores: {total:,} requests, **{errors} errors**.", "",
             "| request | n | errors | p50 ms | p90 ms | p99 ms | max ms |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {name} | {r['n']:,} | {r['errors']} | {r['p50']:.0f} | {r['p90']:.0f} | {r['p99']:.0f} | {r['max']:.0f} |"
              for name, r in load.items()]
    lines += ["", "While two export jobs of 100,000 roads ran (GeoPackage and XLSX), `/api/layers` every 0.2 s:", "",
              f"- {jobs['n']} requests, {jobs['errors']} errors; p50 {jobs['p50']:.0f} ms, p90 {jobs['p90']:.0f} ms, "
              f"max {jobs['max']:.0f} ms",
              "- jobs: " + "; ".join(f"{state} after {secs:.1f} s ({(size or 0) / 1e6:.1f} MB)"
                                    for state, secs, size in jobs["jobs"].values()), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(run())
