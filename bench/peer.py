"""The read path side by side with the peer: the atlas and pygeoapi (its GeoPackage provider), both
under gunicorn with 2 workers, on the same synthetic Weihai roads (``../shared/bench/make_data.py``,
N = 10,000 and 100,000), the same requests and the same ``wrk -t2 -c16 -d15s``, plus the floor (an
R-tree bbox read + ``to_json`` in process).

    python bench/peer.py        (or `make bench`, which writes bench/RESULTS.md)

The peer's own runner (``../shared/bench/bench_pygeoapi.py``) stands pygeoapi up and measures it;
its ``wrk`` and ``get`` helpers measure the atlas too, so both are read the same way. Without
``../shared`` (``ATLAS_SHARED``) or without the peer's venv (``/tmp/anchorbench/venv-pygeoapi``, set
up as ``../shared/bench/README.md`` says) the peer's rows say so and the atlas is measured alone.
``BENCH_SIZES`` and ``BENCH_WRK_REPS`` (default 3) shorten a run.
"""
from __future__ import annotations

import importlib.util
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHARED = Path(os.environ.get("ATLAS_SHARED", ROOT.parent / "shared")) / "bench"
AB = Path("/tmp/anchorbench")
SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "10000,100000").split(",")]
REPS = int(os.environ.get("BENCH_WRK_REPS", "3"))
LAT_REQS = 50
CENTRE = "122.05,37.45,122.2,37.55"
EDGE = "122.36,37.26,122.39,37.28"
KINDS = ("bbox_limit1000", "bbox_limit10", "edge_bbox_limit1000", "by_id")


def _peer_module():
    spec = importlib.util.spec_from_file_location("bench_pygeoapi", SHARED / "bench_pygeoapi.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _data(n: int) -> Path:
    path = AB / "data" / f"weihai_{n}.gpkg"
    if not path.exists():
        subprocess.run([sys.executable, str(SHARED / "make_data.py"), "--out", str(path.parent), "--sizes", str(n)],
                       check=True, capture_output=True)
    return path


def _atlas_store(n: int, folder: Path) -> Path:
    """The peer's roads as an atlas store: the same rows and geometry, ``id`` = the peer's fid."""
    import pyogrio

    from geo.store import open_store
    from layers import build as builder

    frame = pyogrio.read_dataframe(_data(n), layer="roads", fid_as_index=True)
    frame.insert(0, "id", frame.index.astype(str))
    store = open_store(folder / f"roads_{n}.gpkg", key="id")
    builder.write(store, {"roads": frame.reset_index(drop=True)})
    return store.path


def _gunicorn(app: str, port: int, env: dict, log: Path, cwd: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", "2", "--threads", "8", "--worker-connections", "12", "--timeout", "120",
           "--no-control-socket", "-b", f"127.0.0.1:{port}", app]
    return subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **env}, stdout=log.open("w"), stderr=subprocess.STDOUT)


def _granian(factory: str, port: int, env: dict, log: Path, cwd: Path) -> subprocess.Popen:
    """The app as ``make serve`` serves it (granian, WSGI, its default 2 workers x 4 threads)."""
    cmd = [sys.executable, "-m", "granian", "--interface", "wsgi", "--factory", "--workers", "2", "--blocking-threads", "4",
           "--host", "127.0.0.1", "--port", str(port), factory]
    return subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **env}, stdout=log.open("w"), stderr=subprocess.STDOUT)


def _wait(peer, port: int, path: str) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if peer.get(port, path, timeout=5)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the server on {port} did not come up")


def _wrk(peer, port: int, path: str, header: str | None = None) -> tuple[float, dict]:
    """``wrk`` as the peer's runner calls it (its helper), with an optional request header."""
    args = SimpleNamespace(wrk_threads=2, wrk_conns=16, wrk_dur=int(os.environ.get("BENCH_WRK_SECONDS", "15")), port=port)
    if header is None:
        return peer.wrk(args, path)
    real = subprocess.run

    def with_header(cmd, **kwargs):  # the same command with -H before the URL
        return real([*cmd[:-1], "-H", header, cmd[-1]], **kwargs)

    subprocess.run = with_header
    try:
        return peer.wrk(args, path)
    finally:
        subprocess.run = real


def _serve_atlas(peer, store: Path, work: Path, cache_mb: int) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    env = {"ATLAS_STORE": str(store), "ATLAS_LOG_LEVEL": "WARNING", "ATLAS_CACHE_MB": str(cache_mb)}
    proc = _gunicorn("server:create_app()", port, env, work / f"atlas_{port}.log", ROOT)
    _wait(peer, port, "/api/layers")
    return proc, port


def _measure_atlas(peer, n: int, work: Path) -> dict:
    """Latency and throughput with the answer cache off (every answer computed, as the peer's);
    then a repeated view: 304s, and the cache on."""
    store = _atlas_store(n, work)
    rng = random.Random(n)
    ids = [rng.randint(1, n) for _ in range(LAT_REQS)]
    paths = {"bbox_limit1000": f"/api/layers/roads?limit=1000&bbox={CENTRE}",
             "bbox_limit10": f"/api/layers/roads?limit=10&bbox={CENTRE}",
             "edge_bbox_limit1000": f"/api/layers/roads?limit=1000&bbox={EDGE}"}
    wpaths = {**paths, "by_id": f"/api/features/{max(1, n // 2)}"}
    out: dict = {"rps": {}, "rps_gzip": {}}
    proc, port = _serve_atlas(peer, store, work, cache_mb=0)
    try:
        for p in wpaths.values():  # warm-up, both workers
            for _ in range(4):
                peer.get(port, p)
        lat = {k: [] for k in KINDS}
        for i in range(LAT_REQS):  # the kinds interleaved, as the peer's runner does
            for k, p in paths.items():
                lat[k].append(peer.get(port, p)[2])
            lat["by_id"].append(peer.get(port, f"/api/features/{ids[i]}")[2])
        out["latency_ms"] = {k: statistics.median(v) * 1000 for k, v in lat.items()}
        for k, p in wpaths.items():
            out["rps"][k] = statistics.median(_wrk(peer, port, p)[0] for _ in range(REPS))
        for k in ("bbox_limit1000", "bbox_limit10"):
            out["rps_gzip"][k] = statistics.median(
                _wrk(peer, port, wpaths[k], "Accept-Encoding: gzip")[0] for _ in range(REPS))
        view = paths["bbox_limit1000"]
        body = peer.get(port, view)[1]
        out["bytes"] = len(body)
        tag = _etag(port, view)
        out["rps_304"] = statistics.median(_wrk(peer, port, view, f"If-None-Match: {tag}")[0] for _ in range(REPS))
    finally:
        peer.stop(proc, str(work / "none.pid"), f"atlas-{n}")
    proc, port = _serve_atlas(peer, store, work, cache_mb=64)
    try:
        peer.get(port, view)
        out["rps_cached"] = statistics.median(_wrk(peer, port, view)[0] for _ in range(REPS))
    finally:
        peer.stop(proc, str(work / "none.pid"), f"atlas-{n}-cached")
    out["rps_prebuilt"] = _prebuilt(peer, body, work)
    return out


def _etag(port: int, path: str) -> str:
    import http.client

    con = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    con.request("GET", path, headers={"Accept-Encoding": "identity"})
    resp = con.getresponse()
    resp.read()
    con.close()
    return resp.getheader("ETag")


def _prebuilt(peer, body: bytes, work: Path) -> float:
    """Flask sending the same bytes, built once, under the same gunicorn: the cost of the bytes."""
    (work / "prebuilt.bin").write_bytes(body)
    (work / "prebuilt_app.py").write_text(
        "from pathlib import Path\nfrom flask import Flask, Response\n"
        "BODY = (Path(__file__).parent / 'prebuilt.bin').read_bytes()\napp = Flask(__name__)\n"
        "@app.get('/')\ndef index():\n    return Response(BODY, mimetype='application/geo+json')\n")
    port = _free_port()
    proc = _gunicorn("prebuilt_app:app", port, {}, work / "prebuilt.log", work)
    try:
        _wait(peer, port, "/")
        return statistics.median(_wrk(peer, port, "/")[0] for _ in range(REPS))
    finally:
        peer.stop(proc, str(work / "none.pid"), "prebuilt")


def _floor(n: int) -> float:
    """An R-tree bbox read of the same 1,000 rows + GeoDataFrame.to_json, in process (ms, median)."""
    import pyogrio

    box = tuple(float(v) for v in CENTRE.split(","))
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        pyogrio.read_dataframe(_data(n), layer="roads", bbox=box, max_features=1000).to_json()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _measure_peer(n: int, work: Path) -> dict | None:
    venv = AB / "venv-pygeoapi"
    if not (SHARED / "bench_pygeoapi.py").exists() or not (venv / "bin" / "gunicorn").exists():
        return None
    out_dir = work / f"peer_{n}"
    subprocess.run([sys.executable, str(SHARED / "bench_pygeoapi.py"), "--n", str(n), "--provider", "SQLiteGPKG",
                    "--data", str(AB / "data"), "--pgvenv", str(venv), "--out", str(out_dir),
                    "--wrk-reps", str(REPS), "--port", str(_free_port())],
                   check=True, capture_output=True, text=True, timeout=3600)
    records = [json.loads(line) for line in (out_dir / "results.jsonl").read_text().splitlines()]
    result = {"latency_ms": {}, "rps": {}}
    for rec in records:
        kind = rec["metric"].split()[1]
        if rec["metric"].startswith("latency"):
            result["latency_ms"][kind] = rec["median"] * 1000
        else:
            result["rps"][kind] = rec["median"]
    return result


def run() -> str:
    if not (SHARED / "make_data.py").exists():
        return (f"## Side by side with pygeoapi (bench/peer.py)\n\nSkipped: the peer's tools are not at {SHARED} "
                "(set ATLAS_SHARED or put shared/ beside the checkout).\n")
    peer = _peer_module()
    work = Path(tempfile.mkdtemp(prefix="atlas-peer-"))
    lines = ["## Side by side with pygeoapi (bench/peer.py)", "",
             "pygeoapi 0.21 (GeoPackage provider, gunicorn -w 2 sync) and the atlas (gunicorn gthread -w 2 x 8 "
             "threads) on the same `make_data.py` roads, one sitting, client and servers on the same 2 cores; "
             f"latency: median of {LAT_REQS} sequential requests (identity coding); throughput: `wrk -t2 -c16 -d15s`, "
             f"median of {REPS}. The atlas's answer cache is off for these rows (every answer computed, as the "
             "peer's); the repeated view below measures it.", ""]
    try:
        for n in SIZES:
            _data(n)
            ours = _measure_atlas(peer, n, work)
            theirs = _measure_peer(n, work)
            floor = _floor(n)
            lines += [f"### N = {n:,} roads", "",
                      "| request | pygeoapi p50 ms · req/s | atlas p50 ms · req/s | p50 ratio (atlas/peer) | req/s ratio |",
                      "|---|---|---|---|---|"]
            for k in KINDS:
                a_lat, a_rps = ours["latency_ms"][k], ours["rps"].get(k)
                if theirs:
                    p_lat, p_rps = theirs["latency_ms"].get(k), theirs["rps"].get(k)
                    peer_cell = f"{p_lat:.1f} · {p_rps:.1f}" if p_rps else f"{p_lat:.1f} · –"
                    ratio = f"{a_lat / p_lat:.2f}×" if p_lat else "–"
                    rps_ratio = f"{a_rps / p_rps:.1f}×" if p_rps and a_rps else "–"
                else:
                    peer_cell, ratio, rps_ratio = "not set up", "–", "–"
                lines.append(f"| {k} | {peer_cell} | {a_lat:.1f} · {a_rps:.1f} | {ratio} | {rps_ratio} |")
            g1000, g10 = ours["rps_gzip"]["bbox_limit1000"], ours["rps_gzip"]["bbox_limit10"]
            lines += ["",
                      f"- floor (R-tree bbox read of the same 1,000 rows + `to_json`, in process): {floor:.1f} ms; "
                      f"the atlas's centre bbox, limit 1000, over HTTP: {ours['latency_ms']['bbox_limit1000']:.1f} ms "
                      f"({ours['latency_ms']['bbox_limit1000'] / floor:.2f}× the floor)",
                      f"- with `Accept-Encoding: gzip` (ISA-L gzip level 1): centre limit 1000 {g1000:.1f} req/s "
                      f"({g1000 / ours['rps']['bbox_limit1000']:.2f}× identity), limit 10 {g10:.1f} req/s "
                      f"({g10 / ours['rps']['bbox_limit10']:.2f}× identity)",
                      f"- a repeated view ({ours['bytes'] / 1e6:.1f} MB): {ours['rps_cached']:.0f} req/s from the answer "
                      f"cache, {ours['rps_304']:.0f} req/s as 304; Flask sending the same pre-built bytes "
                      f"{ours['rps_prebuilt']:.0f} req/s (cache {ours['rps_cached'] / ours['rps_prebuilt']:.2f}× of it)",
                      ""]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return "\n".join(lines)


if __name__ == "__main__":
    from bench.page import write_section

    result = run()
    print(result)
    write_section(result)
