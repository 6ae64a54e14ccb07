"""Export time and peak memory for 100,000 road lines, per format, against a plain pyogrio write.

    python bench/export.py          (or `make bench`, which writes bench/RESULTS.md)

Every measurement runs in a fresh child process, which reports its own peak resident memory
(``VmHWM`` of /proc/self/status: the high-water mark of the process image since ``exec``; the
``ru_maxrss`` of ``getrusage``/``wait4`` would also count the parent's pages at ``fork``).
"Ours" is ``layers.api.export.export`` (chunked reads from the store, reprojection, streaming writers,
a zip where the format needs one); the floor reads the whole layer
with ``pyogrio.read_dataframe`` and writes it with one ``pyogrio.write_dataframe`` call in the same
GDAL driver (geopandas ``to_parquet`` for GeoParquet, which this GDAL build cannot write). A child
that only imports the same modules gives the memory every process starts from. Medians of
``REPEAT`` runs, side by side.
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N = 100_000
REPEAT = int(os.environ.get("ATLAS_BENCH_REPEAT", "3"))
LAYER = "synthetic_roads"
#: format -> (GDAL driver of the floor, its file name, options of the floor's write)
FLOOR = {
    "geojson": ("GeoJSON", "floor.geojson", {}),
    "gpkg": ("GPKG", "floor.gpkg", {}),
    "shp": ("ESRI Shapefile", "floor.shp", {"encoding": "UTF-8"}),
    "kml": ("LIBKML", "floor.kml", {}),
    "csv": ("CSV", "floor.csv", {"GEOMETRY": "AS_WKT"}),
    "xlsx": ("XLSX", "floor.xlsx", {}),
    "fgb": ("FlatGeobuf", "floor.fgb", {}),
    "parquet": (None, "floor.parquet", {}),
}
CASES = [(fmt, "EPSG:4326") for fmt in FLOOR] + [("gpkg", "EPSG:4550"), ("gpkg", "GCJ-02")]


# -- in the child ----------------------------------------------------------------------------------
def _imports():
    import warnings

    warnings.simplefilter("ignore")  # the floor's shapefile write launders long field names, loudly
    import geopandas  # noqa: F401
    import openpyxl  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import pyogrio  # noqa: F401

    from geo.store import open_store
    from layers.api import export
    return open_store, export


def child(kind: str, fmt: str, crs: str, store_path: str, out: str) -> None:
    open_store, export = _imports()
    import pandas as pd
    import pyogrio

    out_dir = Path(out)
    t0 = time.perf_counter()
    size = 0
    if kind == "ours":
        result = export.export(open_store(store_path, key="id"), {"layers": LAYER, "format": fmt, "crs": crs}, tmp_dir=out_dir)
        size = result.size
        result.cleanup()
    elif kind == "floor":
        frame = pyogrio.read_dataframe(store_path, layer=LAYER)
        if crs != "EPSG:4326":
            frame = frame.to_crs(crs)
        driver, name, options = FLOOR[fmt]
        path = out_dir / name
        if driver is None:
            frame.to_parquet(path)
        elif fmt == "xlsx":  # no geometry in a spreadsheet: WKT text, as ours
            table = frame.assign(WKT=frame.geometry.to_wkt()).drop(columns="geometry")
            pyogrio.write_dataframe(pd.DataFrame(table), path, layer=LAYER, driver=driver)
        else:
            pyogrio.write_dataframe(frame, path, layer=LAYER, driver=driver, **options)
        size = sum(p.stat().st_size for p in out_dir.iterdir())
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "bytes": size, "peak_mb": _peak_mb()}))


def _peak_mb() -> float:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource  # not Linux: the best there is, though it may include the parent's pages at fork

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- in the parent ---------------------------------------------------------------------------------
def _measure(kind: str, fmt: str, crs: str, store_path: Path, work: Path) -> tuple[float, float, int]:
    """(seconds, peak RSS in MB, output bytes) of one child."""
    out = Path(tempfile.mkdtemp(dir=work))
    proc = subprocess.Popen([sys.executable, __file__, "--child", kind, fmt, crs, str(store_path), str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    stdout, stderr = proc.communicate()
    shutil.rmtree(out, ignore_errors=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} {fmt} {crs} failed:\n{stderr.decode(errors='replace')}")
    body = json.loads(stdout.decode().strip().splitlines()[-1])
    return body["seconds"], body["peak_mb"], body["bytes"]


def _median(kind, fmt, crs, store_path, work):
    runs = [_measure(kind, fmt, crs, store_path, work) for _ in range(REPEAT)]
    return (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs), runs[-1][2])


def run() -> str:
    from bench.synthetic import road_lines
    from geo.store import open_store
    from layers import build as builder
    from layers.api.export import CHUNK_SIZE as chunk

    work = Path(tempfile.mkdtemp(prefix="atlas-bench-export-"))
    try:
        t0 = time.perf_counter()
        roads = road_lines(N)
        frame_mb = roads.memory_usage(deep=True).sum() / 2**20
        store = open_store(work / "bench.gpkg", key="id")
        builder.write(store, {LAYER: roads})
        setup_s = time.perf_counter() - t0
        del roads
        _, idle_mb, _ = _median("idle", "gpkg", "EPSG:4326", store.path, work)
        rows = []
        for fmt, crs in CASES:
            ours = _median("ours", fmt, crs, store.path, work)
            floor = None if crs == "GCJ-02" else _median("floor", fmt, crs, store.path, work)
            rows.append((fmt, crs, ours, floor))
            print(f"  {fmt} {crs}: ours {ours[0]:.1f} s {ours[1]:.0f} MB; floor "
                  + (f"{floor[0]:.1f} s {floor[1]:.0f} MB" if floor else "-"), file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = [
        "## Export: 100,000 features per format",
        "",
        f"Data: `bench/synthetic.py` `road_lines({N:,})` (MultiLineStrings of 6 vertices, every atlas field, "
        f"Chinese names) in a GeoPackage store; {frame_mb:.0f} MB as a GeoDataFrame in memory. Setup (generate + "
        f"store) {setup_s:.0f} s. Each number is the median of {REPEAT} runs, each run a fresh process; peak memory "
        f"is the process's resident high-water mark (`VmHWM`), of which {idle_mb:.0f} MB is the interpreter and "
        "the imported libraries alone (a child that only imports them).",
        "",
        f"Ours: `layers.api.export.export` — chunks of {chunk:,} features read from the store, reprojected, streamed into "
        "the writer (Arrow stream into GDAL, pyarrow CSV/Parquet writers, openpyxl write-only), zipped where the "
        "format needs it. Floor: one `pyogrio.read_dataframe` of the whole layer and one `pyogrio.write_dataframe` "
        "in the same driver (`to_crs` first when projected; geopandas `to_parquet` for GeoParquet; no floor for "
        "GCJ-02, which GDAL cannot do).",
        "",
        "| format | CRS | ours s | floor s | time ours/floor | ours peak MB | floor peak MB | ours above imports MB | floor above imports MB | file MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for fmt, crs, ours, floor in rows:
        f_s = f"{floor[0]:.1f}" if floor else "–"
        ratio = f"{ours[0] / floor[0]:.2f}×" if floor else "–"
        f_mb = f"{floor[1]:.0f}" if floor else "–"
        f_above = f"{floor[1] - idle_mb:.0f}" if floor else "–"
        lines.append(f"| {fmt} | {crs} | {ours[0]:.1f} | {f_s} | {ratio} | {ours[1]:.0f} | {f_mb} | "
                     f"{ours[1] - idle_mb:.0f} | {f_above} | {ours[2] / 2**20:.1f} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:7])
    else:
        print(run())
