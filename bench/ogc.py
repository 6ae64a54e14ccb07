"""OGC API – Features side by side, in one sitting, on the same synthetic Weihai roads
(``../shared/bench/make_data.py``, N = 100,000; ``BENCH_OGC_N`` for another size):

- pygeoapi 0.21 (its GeoPackage provider), stood up and measured by the peer's own runner
  (``../shared/bench/bench_pygeoapi.py``);
- the atlas's ``/ogc/collections/roads/items`` on its GeoPackage store (the peer's roads, ``id`` =
  the peer's fid, as ``bench/peer.py`` builds it);
- the same store copied to PostGIS (``flask --app server store copy SRC DST``) on a throwaway
  cluster (``tests/pg.py``'s), served by the atlas with ``ATLAS_STORE=postgresql://…``;
- tipg (FastAPI + asyncpg) serving that very PostGIS table (``fid`` primary key, ``geom
  geometry(LineString, 4326)`` with its GiST index).

The requests are the peer's: centre bbox (limit 1000 and 10), outskirts bbox (limit 1000), by id.
Every server has 2 workers on 127.0.0.1 (gunicorn sync for pygeoapi, as its runner starts it;
granian × 4 threads for the atlas, as ``make serve``, and its PostGIS store once more under gunicorn
gthread × 8 threads, as ``bench/peer.py`` and ``make serve SERVER=gunicorn``; uvicorn ``--workers 2``
with uvloop and httptools for tipg). Latency: median of 50 sequential requests, the kinds
interleaved, a fresh connection each (the peer's ``get``); throughput: ``wrk -t2 -c16 -d15s``, median
of 3 (the peer's ``wrk``), reps interleaved over the kinds as the peer's runner does.

    python -m bench.run ogc      (writes its section of bench/RESULTS.md)
    python bench/ogc.py          (the same)

Without ``../shared`` (``ATLAS_SHARED``) the bench is skipped and says so; without the peer's venvs
(``/tmp/anchorbench/venv-pygeoapi``, ``/tmp/anchorbench/venv-tipg``) or without PostgreSQL the rows
of what is missing say so. ``BENCH_WRK_REPS`` and ``BENCH_WRK_SECONDS`` shorten a run.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import peer as side  # noqa: E402  (the peer's data, store and server helpers)

N = int(os.environ.get("BENCH_OGC_N", "100000"))
REPS = int(os.environ.get("BENCH_WRK_REPS", "3"))
LAT_REQS = 50
KINDS = ("bbox_limit1000", "bbox_limit10", "edge_bbox_limit1000", "by_id")
LABELS = {"bbox_limit1000": "centre bbox, limit 1000", "bbox_limit10": "centre bbox, limit 10",
          "edge_bbox_limit1000": "outskirts bbox, limit 1000", "by_id": "by id"}
TIPG_VENV = side.AB / "venv-tipg"
SCHEMA = "bench"  # the PostGIS store's schema (tipg's collection is "bench.roads")


# -- the servers -----------------------------------------------------------------------------------
def _atlas_paths(n: int) -> dict:
    items = "/ogc/collections/roads/items?f=json"
    return {"bbox_limit1000": f"{items}&limit=1000&bbox={side.CENTRE}",
            "bbox_limit10": f"{items}&limit=10&bbox={side.CENTRE}",
            "edge_bbox_limit1000": f"{items}&limit=1000&bbox={side.EDGE}",
            "by_id": lambda i: f"/ogc/collections/roads/items/{i}?f=json"}


def _tipg_paths(n: int) -> dict:
    items = f"/collections/{SCHEMA}.roads/items?f=geojson"
    return {"bbox_limit1000": f"{items}&limit=1000&bbox={side.CENTRE}",
            "bbox_limit10": f"{items}&limit=10&bbox={side.CENTRE}",
            "edge_bbox_limit1000": f"{items}&limit=1000&bbox={side.EDGE}",
            "by_id": lambda i: f"/collections/{SCHEMA}.roads/items/{i}?f=geojson"}


def _serve_atlas(store_url: str, work: Path, label: str, server: str = "granian"):
    """The atlas as ``make serve`` serves it (granian), or under gunicorn as the bench's read path does."""
    port = side._free_port()
    # ATLAS_TILES_ABOVE=0: no tile overviews built in the background at start-up (they are not
    # measured here, and at 100,000 roads they would take each worker's CPU for seconds)
    env = {"ATLAS_STORE": store_url, "ATLAS_LOG_LEVEL": "WARNING", "ATLAS_CACHE_MB": "0", "ATLAS_TILES_ABOVE": "0"}
    if server == "gunicorn":
        proc = side._gunicorn("server:create_app()", port, env, work / f"{label}.log", ROOT)
    else:
        proc = side._granian("server:create_app", port, env, work / f"{label}.log", ROOT)
    return proc, port, "/ogc/collections/roads", work / f"{label}.log"


def _serve_tipg(pg_url: str, work: Path, label: str):
    """tipg's app under uvicorn with 2 workers, on the store's schema and its roads table only."""
    port = side._free_port()
    env = {"DATABASE_URL": pg_url, "TIPG_DB_SCHEMAS": json.dumps([SCHEMA]), "TIPG_DB_TABLES": json.dumps([f"{SCHEMA}.roads"]),
           "TIPG_MAX_FEATURES_PER_QUERY": "10000", "TIPG_DEBUG": "false", "TIPG_DB_MAX_CONN_SIZE": "10"}
    cmd = [str(TIPG_VENV / "bin" / "uvicorn"), "tipg.main:app", "--host", "127.0.0.1", "--port", str(port),
           "--workers", "2", "--no-access-log", "--log-level", "warning", "--loop", "uvloop", "--http", "httptools"]
    proc = subprocess.Popen(cmd, cwd=work, env={**os.environ, **env}, stdout=(work / f"{label}.log").open("w"),
                            stderr=subprocess.STDOUT)
    return proc, port, f"/collections/{SCHEMA}.roads", work / f"{label}.log"


# -- measuring ------------------------------------------------------------------------------------
def _features(body: bytes) -> int:
    doc = json.loads(body)
    return len(doc["features"]) if "features" in doc else int(doc.get("type") == "Feature")


def _drain(peer, port: int, probe: str, idle: float) -> None:
    """Wait until a probe comes back as fast as when idle: requests wrk left queued are done."""
    deadline = time.time() + 120
    while time.time() < deadline:
        if peer.get(port, probe)[2] < max(0.25, 2 * idle):
            break
        time.sleep(0.5)
    time.sleep(1.0)


def _measure(peer, port: int, paths: dict, n: int) -> dict:
    """The peer runner's protocol, for a server already up: warm-up, latency, wrk."""
    byid = paths["by_id"]
    fixed = {k: v for k, v in paths.items() if k != "by_id"}
    rng = random.Random(n)  # the ids the peer's runner asks for
    ids = [rng.randint(1, n) for _ in range(LAT_REQS)]
    info = {}
    for _ in range(4):  # warm-up, both workers
        for k, p in fixed.items():
            status, body, _ = peer.get(port, p)
            if status != 200:
                raise RuntimeError(f"{p} answered {status}: {body[:300]!r}")
            info[k] = {"bytes": len(body), "features": _features(body)}
        status, body, _ = peer.get(port, byid(ids[0]))
        if status != 200:
            raise RuntimeError(f"{byid(ids[0])} answered {status}: {body[:300]!r}")
        info["by_id"] = {"bytes": len(body), "features": 1}
    lat = {k: [] for k in KINDS}
    for i in range(LAT_REQS):  # the kinds interleaved, as the peer's runner does
        for k, p in fixed.items():
            lat[k].append(peer.get(port, p)[2])
        lat["by_id"].append(peer.get(port, byid(ids[i]))[2])
    idle = statistics.median(lat["by_id"])
    wpaths = {**fixed, "by_id": byid(max(1, n // 2))}
    rps = {k: [] for k in KINDS}
    for _ in range(REPS):  # reps interleaved over the kinds
        for k, p in wpaths.items():
            _drain(peer, port, byid(1), idle)
            got, detail = side._wrk(peer, port, p)
            rps[k].append(got)
            if detail["non2xx"] or detail["socket_errors"]:
                info[k]["errors"] = f"{detail['non2xx']} non-2xx, socket errors {detail['socket_errors'] or 0}"
    return {"latency_ms": {k: statistics.median(v) * 1000 for k, v in lat.items()},
            "rps": {k: statistics.median(v) for k, v in rps.items()}, "info": info}


def _run_server(peer, start, paths: dict, n: int, label: str) -> dict:
    proc, port, ready, log = start()
    try:
        try:
            side._wait(peer, port, ready)
        except RuntimeError as exc:
            raise RuntimeError(f"{label} did not come up: {log.read_text(errors='replace')[-3000:]}") from exc
        return _measure(peer, port, paths, n)
    finally:
        peer.stop(proc, str(Path(tempfile.gettempdir()) / "atlas-ogcbench-none.pid"), label)


def _peer_rows(n: int, work: Path) -> dict | None:
    """pygeoapi, by the peer's runner (its own server, requests and records)."""
    got = side._measure_peer(n, work)
    if got is None:
        return None
    got["info"] = {}
    for line in (work / f"peer_{n}" / "results.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["metric"].startswith("latency"):
            kind = rec["metric"].split()[1]
            got["info"][kind] = {"bytes": rec["extra"].get("bytes"), "features": rec["extra"].get("features", 1)}
    return got


# -- PostGIS ---------------------------------------------------------------------------------------
def _postgis():
    """The throwaway cluster of the tests (tests/pg.py), or why there is none."""
    try:
        from tests import pg as cluster

        return cluster, cluster.url(schema=SCHEMA)
    except BaseException as exc:  # pytest.fail outside pytest: Failed (a BaseException) with what to install
        if isinstance(exc, KeyboardInterrupt):
            raise
        return None, f"no PostgreSQL cluster: {exc}"


def _copy_to_postgis(gpkg: Path, pg_url: str) -> float:
    """``flask --app server store copy`` the GeoPackage store into the cluster (s)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "flask", "--app", "server", "store", "copy", str(gpkg), pg_url, "--replace"],
                   cwd=ROOT, env={**os.environ, "ATLAS_STORE": str(gpkg), "ATLAS_LOG_LEVEL": "WARNING"},
                   check=True, capture_output=True, text=True)
    return time.perf_counter() - t0


def _table_facts(cluster) -> dict:
    """What tipg sees of the table: its primary key, geometry column and SRID, and fid = id."""
    with cluster.connect() as con:
        geom = con.execute("SELECT f_geometry_column, srid, type FROM geometry_columns "
                           "WHERE f_table_schema = %s AND f_table_name = 'roads'", (SCHEMA,)).fetchone()
        same = con.execute(f"SELECT count(*) FROM {SCHEMA}.roads WHERE fid::text = id").fetchone()[0]
        rows = con.execute(f"SELECT count(*) FROM {SCHEMA}.roads").fetchone()[0]
        version = con.execute("SELECT postgis_lib_version(), current_setting('server_version')").fetchone()
    return {"geom": geom, "fid_is_id": same == rows, "rows": rows, "postgis": version[0], "postgres": version[1]}


def _tipg_dsn(cluster) -> str:
    """The cluster's socket as tipg takes it: pydantic wants a host, asyncpg unquotes a socket folder."""
    from urllib.parse import quote

    state = cluster._state
    return f"postgresql://atlas@{quote(str(state['folder']), safe='')}:{state['port']}/{cluster.DATABASE}"


def _tipg_version() -> str:
    out = subprocess.run([str(TIPG_VENV / "bin" / "python"), "-c", "import tipg; print(tipg.__version__)"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "?"


# -- the section ----------------------------------------------------------------------------------
def _cell(result: dict | None, kind: str) -> str:
    if result is None:
        return "–"
    p50, rps = result["latency_ms"].get(kind), result["rps"].get(kind)
    return f"{p50:.1f} · {rps:.1f}" if rps else (f"{p50:.1f} · –" if p50 is not None else "–")


def _ratio(ours: dict | None, theirs: dict | None, kind: str, what: str) -> float | None:
    if not ours or not theirs:
        return None
    a, b = ours[what].get(kind), theirs[what].get(kind)
    if not a or not b:
        return None
    return b / a if what == "latency_ms" else a / b  # > 1: ours better


def _x(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}×"


def run() -> str:
    title = "## OGC API – Features side by side: pygeoapi, tipg, the atlas on GeoPackage and PostGIS (bench/ogc.py)"
    if not (side.SHARED / "make_data.py").exists():
        return (f"{title}\n\nSkipped: the peer's tools are not at {side.SHARED} (set ATLAS_SHARED or put shared/ "
                "beside the checkout); the peers were not measured.\n")
    peer = side._peer_module()
    work = Path(tempfile.mkdtemp(prefix="atlas-ogcbench-"))
    load_start = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M")
    results: dict[str, dict | None] = {}
    notes: list[str] = []
    cluster = None
    try:
        side._data(N)
        t0 = time.perf_counter()
        gpkg = side._atlas_store(N, work)
        build_s = time.perf_counter() - t0
        results["pygeoapi"] = _peer_rows(N, work)
        if results["pygeoapi"] is None:
            notes.append(f"pygeoapi: not set up ({side.AB / 'venv-pygeoapi'} missing): its column is empty.")
        results["atlas_gpkg"] = _run_server(peer, lambda: _serve_atlas(str(gpkg), work, "atlas-gpkg"),
                                            _atlas_paths(N), N, "atlas-gpkg")
        cluster, pg_url = _postgis()
        if cluster is None:
            notes.append(f"PostGIS: {pg_url}; the PostGIS and tipg columns are empty.")
            results["atlas_pg"] = results["atlas_pg_gunicorn"] = results["tipg"] = None
        else:
            copy_s = _copy_to_postgis(gpkg, pg_url)
            facts = _table_facts(cluster)
            notes.append(f"PostGIS {facts['postgis']} on PostgreSQL {facts['postgres']} (a throwaway cluster as "
                         f"tests/pg.py starts it: Unix socket, fsync off, shared_buffers 64MB), reached by both "
                         f"servers through its socket; the store copied there by `flask --app server store copy` "
                         f"in {copy_s:.1f} s ({facts['rows']:,} roads). tipg serves that same table "
                         f"`{SCHEMA}.roads` (primary key `fid`, geometry column `{facts['geom'][0]}` "
                         f"{facts['geom'][2]} SRID {facts['geom'][1]}, GiST index); "
                         f"fid = the atlas's id for {'every' if facts['fid_is_id'] else 'NOT every'} row, so "
                         "by id asks both for the same feature.")
            results["atlas_pg"] = _run_server(peer, lambda: _serve_atlas(pg_url, work, "atlas-pg"),
                                              _atlas_paths(N), N, "atlas-pg")
            results["atlas_pg_gunicorn"] = _run_server(
                peer, lambda: _serve_atlas(pg_url, work, "atlas-pg-gunicorn", "gunicorn"), _atlas_paths(N), N,
                "atlas-pg-gunicorn")
            if (TIPG_VENV / "bin" / "uvicorn").exists():
                results["tipg"] = _run_server(peer, lambda: _serve_tipg(_tipg_dsn(cluster), work, "tipg"), _tipg_paths(N), N, "tipg")
                notes.insert(0, f"tipg {_tipg_version()} (uvicorn --workers 2, uvloop + httptools).")
            else:
                results["tipg"] = None
                notes.append(f"tipg: not set up ({TIPG_VENV} missing): its column is empty.")
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    load_end = os.getloadavg()
    return _section(title, results, notes, started, build_s, load_start, load_end)


def _section(title, results, notes, started, build_s, load_start, load_end) -> str:
    py, gp, pg, tg = (results.get(k) for k in ("pygeoapi", "atlas_gpkg", "atlas_pg", "tipg"))
    gu = results.get("atlas_pg_gunicorn")
    lines = [title, "",
             f"Measured {started}, one sitting, N = {N:,} roads (`make_data.py`; the atlas's GeoPackage store "
             f"built from them in {build_s:.1f} s). Every server with 2 workers on 127.0.0.1; client (the "
             "peer's `get` and `wrk`) and servers share the machine's 2 cores, so read the medians and the "
             "ratios measured side by side, not the absolute numbers. Cells: p50 ms of 50 sequential requests "
             f"· req/s, `wrk -t2 -c16 -d{os.environ.get('BENCH_WRK_SECONDS', '15')}s`, median of {REPS} "
             "(pygeoapi's runner does not run wrk on the outskirts box). The atlas's answer cache is off "
             "(every answer computed, as the others'), and so are its tiles' overviews built at start-up "
             "(`ATLAS_TILES_ABOVE=0`: not measured here). The atlas is served as `make serve` serves it "
             "(granian, 2 workers × 4 threads); its PostGIS store also under gunicorn (gthread, 2 workers × 8 "
             "threads, `SERVER=gunicorn`), for the server's share.", "",
             "| request | features · bytes (atlas) | pygeoapi GeoPackage | atlas GeoPackage | atlas PostGIS "
             "| atlas PostGIS, gunicorn | tipg PostGIS |",
             "|---|---|---|---|---|---|---|"]
    for k in KINDS:
        info = (gp or {}).get("info", {}).get(k, {})
        size = f"{info.get('features', '–')} · {info.get('bytes', 0):,}" if info else "–"
        lines.append(f"| {LABELS[k]} | {size} | {_cell(py, k)} | {_cell(gp, k)} | {_cell(pg, k)} | {_cell(gu, k)} "
                     f"| {_cell(tg, k)} |")
    lines += ["", "Ratios (how many times better ours is; p50: theirs/ours, req/s: ours/theirs):", "",
              "| request | GeoPackage vs pygeoapi p50 · req/s | PostGIS vs tipg p50 · req/s | PostGIS vs GeoPackage req/s "
              "| granian vs gunicorn (PostGIS) req/s |",
              "|---|---|---|---|---|"]
    for k in KINDS:
        lines.append(f"| {LABELS[k]} | {_x(_ratio(gp, py, k, 'latency_ms'))} · {_x(_ratio(gp, py, k, 'rps'))} | "
                     f"{_x(_ratio(pg, tg, k, 'latency_ms'))} · {_x(_ratio(pg, tg, k, 'rps'))} | "
                     f"{_x(_ratio(pg, gp, k, 'rps'))} | {_x(_ratio(pg, gu, k, 'rps'))} |")
    lines += ["", "Targets:", ""]
    lines += _targets(py, gp, pg, tg)
    counts = []
    for name, res in (("pygeoapi", py), ("atlas GeoPackage", gp), ("atlas PostGIS", pg), ("tipg", tg)):
        if res and res.get("info"):
            counts.append(f"{name} " + "/".join(str(res["info"].get(k, {}).get("features", "?")) for k in KINDS[:3]))
    if counts:
        lines += ["", "Features returned (centre 1000 / centre 10 / outskirts 1000): " + "; ".join(counts) + "."]
        got = {name: tuple(res["info"].get(k, {}).get("features") for k in KINDS[:3])
               for name, res in (("pygeoapi", py), ("atlas GeoPackage", gp), ("atlas PostGIS", pg), ("tipg", tg))
               if res and res.get("info")}
        if len(set(got.values())) > 1:
            lines += ["", "**The servers do not return the same features**: the rows above do not compare like "
                      "with like where they differ."]
    errors = [f"{name} {k}: {res['info'][k]['errors']}" for name, res in (("atlas GeoPackage", gp),
              ("atlas PostGIS", pg), ("atlas PostGIS gunicorn", gu), ("tipg", tg)) if res for k in KINDS if res["info"].get(k, {}).get("errors")]
    if errors:
        lines += ["", "Errors under wrk: " + "; ".join(errors) + "."]
    if os.environ.get("BENCH_OGC_NOTE"):  # what the person running it says of the sitting
        notes.append(os.environ["BENCH_OGC_NOTE"])
    lines += [""] + [f"- {n}" for n in notes]
    lines += [f"- Load average at the start {load_start[0]:.2f} / {load_start[1]:.2f} / {load_start[2]:.2f}, at the "
              f"end {load_end[0]:.2f} / {load_end[1]:.2f} / {load_end[2]:.2f} (1/5/15 min).", ""]
    return "\n".join(lines)


def _targets(py, gp, pg, tg) -> list[str]:
    out = []

    def verdict(ok):
        return "–" if ok is None else ("met" if ok else "**not met**")

    centre = _ratio(gp, py, "bbox_limit1000", "rps")
    centre_lat = _ratio(gp, py, "bbox_limit1000", "latency_ms")
    byid = _ratio(gp, py, "by_id", "rps")
    byid_lat = _ratio(gp, py, "by_id", "latency_ms")
    out.append(f"- ≥ 3× pygeoapi on the centre page (limit 1000): {_x(centre_lat)} p50, {_x(centre)} req/s — "
               f"{verdict(None if centre is None else min(centre, centre_lat) >= 3)}")
    out.append(f"- ≥ 10× pygeoapi by id: {_x(byid_lat)} p50, {_x(byid)} req/s — "
               f"{verdict(None if byid is None else min(byid, byid_lat) >= 10)}")
    level = [(k, _ratio(pg, tg, k, "rps")) for k in ("bbox_limit1000", "bbox_limit10", "edge_bbox_limit1000", "by_id")]
    known = [r for _, r in level if r is not None]
    out.append("- the atlas on PostGIS at least level with tipg's req/s: " + ", ".join(
        f"{LABELS[k]} {_x(r)}" for k, r in level) + " — " + verdict(None if not known else min(known) >= 1.0))
    return out


if __name__ == "__main__":
    from bench.page import write_section

    result = run()
    print(result)
    write_section(result)
