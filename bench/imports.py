"""Import time and peak memory of a planner's file (Shapefile, GeoPackage, CSV) at 100,000 and
1,000,000 features, ours (``layers.imports.inspect`` + ``commit``) against the floor of the same
work done plainly, side by side in one run.

    python -m bench.run imports      (only this section of bench/RESULTS.md is replaced)
    python bench/imports.py          (the same)

Files are generated here, around Weihai, with Chinese attribute text:

- Shapefile: parcels, polygons of 7 vertices in CGCS2000 GK zone 41 with the zone prefix
  (EPSG:4529, as Chinese planning offices export them), text in GBK with its ``.cpg``, and a ``.prj``;
- GeoPackage: road lines of 6 vertices in WGS84;
- CSV: points as ``经度``/``纬度`` (lon/lat) columns, UTF-8.

*Floor*: ``pyogrio.read_dataframe`` of the file (for the CSV, ``pandas.read_csv`` and points from the
two columns), ``to_crs("EPSG:4326")`` when the file is projected, a key column, and
``store.create_layer(..., features=...)``: the same store write (one transaction, the revision log)
without anything an import adds. *Ours*: ``reference_from_store`` + ``inspect`` (encoding
detection, CRS scoring against Weihai's districts, the shape report, with the upload folder as
``scratch``) then ``commit(mode="new")`` in one process. *Two requests*: ``inspect`` in one process,
then ``inspect`` again and ``commit`` in another, as ``layers/web/imports.py`` does for an upload and
its commit. Each writes into a fresh copy of the atlas store built from ``layers/data``. Every
measurement runs in a fresh child process, which reports its own peak resident memory (``VmHWM``);
"the data" is given two ways: the file(s) on disk, and what a plain read leaves resident (``VmRSS``
after minus before). Medians of ``BENCH_IMPORT_REPEAT`` runs (default 3) at 100,000 and of
``BENCH_IMPORT_REPEAT_1M`` (default 1) at 1,000,000; ``BENCH_IMPORT_SIZES`` (default
``100000,1000000``) and ``BENCH_IMPORT_FORMATS`` (default ``shp,gpkg,csv``) shorten a run.
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

SIZES = [int(s) for s in os.environ.get("BENCH_IMPORT_SIZES", "100000,1000000").split(",") if s]
FORMATS = [f for f in os.environ.get("BENCH_IMPORT_FORMATS", "shp,gpkg,csv").split(",") if f]
REPEAT = int(os.environ.get("BENCH_IMPORT_REPEAT", "3"))
REPEAT_1M = int(os.environ.get("BENCH_IMPORT_REPEAT_1M", "1"))
WEIHAI = (121.25, 36.75, 122.6, 37.5)
LAYER = "imported"
_CATEGORIES = ["居住用地", "商业服务业用地", "工业用地", "公园绿地", "道路与交通设施用地", "公共管理与公共服务用地"]
_DISTRICTS = ["环翠区", "文登区", "荣成市", "乳山市"]


# -- the files ---------------------------------------------------------------------------------------
def _attributes(n: int, rng, prefix: str) -> dict:
    import numpy as np

    i = np.arange(n)
    return {
        "code": np.char.add(prefix, np.char.zfill(i.astype(str), 7)),
        "name_zh": np.char.add(np.char.add("威海", np.array(_DISTRICTS)[i % 4]), np.char.add("地块", i.astype(str))),
        "category": np.array(_CATEGORIES)[rng.integers(0, len(_CATEGORIES), n)],
        "year": rng.integers(1995, 2026, n),
        "plan_ratio": np.round(rng.uniform(0.5, 3.5, n), 2),
        "note_zh": np.where(i % 3 == 0, "已批复的控制性详细规划", "现状用地"),
    }


def _lonlat(n: int, rng):
    minx, miny, maxx, maxy = WEIHAI
    return rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)


def write_shapefile(n: int, folder: Path) -> Path:
    """Parcels: irregular heptagons of ~100 m in EPSG:4529 (x with the zone prefix 41), GBK text."""
    import geopandas as gpd
    import numpy as np
    import pyogrio
    import shapely
    from pyproj import Transformer

    rng = np.random.default_rng(41)
    lon, lat = _lonlat(n, rng)
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:4529", always_xy=True).transform(lon, lat)
    # six corners in angular order, no gap wider than 180 degrees: simple (valid) polygons
    angles = (np.arange(6) + rng.uniform(-0.35, 0.35, (n, 6))) * (np.pi / 3) + rng.uniform(0, np.pi, (n, 1))
    radii = rng.uniform(40, 90, (n, 6))
    ring = np.stack([x[:, None] + radii * np.cos(angles), y[:, None] + radii * np.sin(angles)], axis=-1)
    ring = np.concatenate([ring, ring[:, :1]], axis=1)  # closed: 7 coordinates
    geoms = shapely.polygons(shapely.linearrings(ring.reshape(-1, 2), indices=np.repeat(np.arange(n), 7)))
    frame = gpd.GeoDataFrame(_attributes(n, rng, "P"), geometry=geoms, crs="EPSG:4529")
    path = folder / "parcels.shp"
    pyogrio.write_dataframe(frame, path, encoding="GBK", layer_options={"RESIZE": "YES"})
    return path


def write_geopackage(n: int, folder: Path) -> Path:
    """Road lines of 6 vertices (~1 km) in WGS84."""
    import geopandas as gpd
    import numpy as np
    import pyogrio
    import shapely

    rng = np.random.default_rng(42)
    lon, lat = _lonlat(n, rng)
    steps = rng.normal(0, 0.002, (n, 6, 2))
    steps[:, 0, :] = 0
    coords = np.stack([lon, lat], axis=-1)[:, None, :] + np.cumsum(steps, axis=1)
    geoms = shapely.linestrings(coords.reshape(-1, 2), indices=np.repeat(np.arange(n), 6))
    frame = gpd.GeoDataFrame(_attributes(n, rng, "R"), geometry=geoms, crs="EPSG:4326")
    path = folder / "roads.gpkg"
    pyogrio.write_dataframe(frame, path, layer="roads", driver="GPKG")
    return path


def write_csv(n: int, folder: Path) -> Path:
    """Points as 经度/纬度 columns (six decimals), UTF-8."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(43)
    lon, lat = _lonlat(n, rng)
    frame = pd.DataFrame(_attributes(n, rng, "S"))
    frame.insert(1, "经度", np.round(lon, 6))
    frame.insert(2, "纬度", np.round(lat, 6))
    path = folder / "sites.csv"
    frame.to_csv(path, index=False, encoding="utf-8")
    return path


WRITERS = {"shp": write_shapefile, "gpkg": write_geopackage, "csv": write_csv}


def _files_of(path: Path) -> list[Path]:
    return sorted(p for p in path.parent.iterdir() if p.stem == path.stem) if path.suffix == ".shp" else [path]


# -- in the child ------------------------------------------------------------------------------------
def _status() -> dict[str, float]:
    """VmHWM (the process's peak resident memory) and VmRSS, in MB."""
    out = {}
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(("VmHWM:", "VmRSS:")):
                    out[line[:5]] = int(line.split()[1]) / 1024
    except OSError:  # not Linux: the best there is
        import resource

        out["VmHWM"] = out["VmRSS"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _imports():
    import warnings

    warnings.simplefilter("ignore")
    import geopandas  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401
    import pyogrio  # noqa: F401
    import shapely  # noqa: F401

    import layers.imports  # noqa: F401
    from geo.store import open_store  # noqa: F401


def _plain_read(fmt: str, path: Path):
    """The file read plainly: pyogrio (a CSV: pandas and points from its two columns)."""
    import geopandas as gpd
    import pandas as pd
    import pyogrio
    import shapely

    if fmt == "csv":
        table = pd.read_csv(path, encoding="utf-8")
        return gpd.GeoDataFrame(table, geometry=shapely.points(table["经度"].to_numpy(), table["纬度"].to_numpy()),
                                crs="EPSG:4326")
    return pyogrio.read_dataframe(path, use_arrow=True)


def _floor(fmt: str, path: Path, store) -> int:
    """Read, reproject when projected, a key, and the store's write: nothing an import adds."""
    import numpy as np

    from geo.store import Field

    frame = _plain_read(fmt, path)
    if frame.crs.to_epsg() != 4326:
        frame = frame.to_crs("EPSG:4326")
    frame = frame.rename(columns={"经度": "lon", "纬度": "lat"})
    frame.insert(0, "id", np.char.add("f-", np.arange(len(frame)).astype(str)).astype(object))
    kinds = {"year": "int", "plan_ratio": "float", "lon": "float", "lat": "float"}
    fields = [Field(c, kinds.get(c, "str")) for c in frame.columns if c not in ("id", frame.geometry.name)]
    first = frame.geom_type.iloc[0]
    kind = {"Polygon": "MultiPolygon", "LineString": "MultiLineString"}.get(first, first)
    store.create_layer(LAYER, kind, fields, features=frame, actor="bench", message="floor")
    return len(frame)


def child(kind: str, fmt: str, file: str, store_path: str, scratch: str) -> None:
    _imports()
    from geo.store import open_store
    from layers import imports

    store = open_store(store_path, key="id")
    before = _status()
    t0 = time.perf_counter()
    out, n = {}, 0
    if kind == "floor":
        n = _floor(fmt, Path(file), store)
    elif kind == "data":  # the data in memory: what the plain read leaves resident
        frame = _plain_read(fmt, Path(file))
        out["data_mb"] = _status()["VmRSS"] - before["VmRSS"]
        n = len(frame)
    elif kind in ("ours", "inspect", "again"):  # again: the commit request, which inspects the upload again
        reference = imports.reference_from_store(store)
        found = imports.inspect(file, reference=reference, scratch=Path(scratch))
        t1 = time.perf_counter()
        out["inspect_s"] = t1 - t0
        if kind == "inspect":
            found.close()
            n = found.count
        else:
            with found:
                n = imports.commit(store, found, layer=LAYER, mode="new", actor="bench").added
            out["commit_s"] = time.perf_counter() - t1
    out.update(seconds=time.perf_counter() - t0, features=n, peak_mb=_status()["VmHWM"])
    print(json.dumps(out))


# -- in the parent -----------------------------------------------------------------------------------
def _child(kind: str, fmt: str, file: Path, store: Path, scratch: Path) -> dict:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", kind, fmt, str(file),
                           str(store), str(scratch)], capture_output=True, cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} {fmt} failed:\n{proc.stderr.decode(errors='replace')}")
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


def _measure(kinds: tuple[str, ...], fmt: str, file: Path, template: Path, work: Path) -> list[dict]:
    """Children run one after the other on a fresh copy of the store and a fresh upload folder."""
    run = Path(tempfile.mkdtemp(dir=work))
    try:
        store = run / "atlas.gpkg"
        shutil.copy(template, store)
        scratch = run / "upload"
        scratch.mkdir()
        return [_child(kind, fmt, file, store, scratch) for kind in kinds]
    finally:
        shutil.rmtree(run, ignore_errors=True)


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def run() -> str:
    from geo.store import open_store
    from layers import build as builder

    work = Path(tempfile.mkdtemp(prefix="atlas-bench-import-"))
    rows = []
    started = time.strftime("%Y-%m-%d %H:%M")
    try:
        template = work / "atlas.gpkg"
        builder.build(open_store(template, key="id"))
        idle = _measure(("idle",), "shp", work, template, work)[0]["peak_mb"]
        for n in SIZES:
            repeat = REPEAT if n < 1_000_000 else REPEAT_1M
            for fmt in FORMATS:
                folder = work / f"{fmt}-{n}"
                folder.mkdir()
                t0 = time.perf_counter()
                path = WRITERS[fmt](n, folder)
                made_s = time.perf_counter() - t0
                file_mb = sum(p.stat().st_size for p in _files_of(path)) / 2**20
                data_mb = _measure(("data",), fmt, path, template, work)[0]["data_mb"]
                floor, ours, split = [], [], []
                for _ in range(repeat):  # interleaved, so that each sees the same machine
                    floor += _measure(("floor",), fmt, path, template, work)
                    ours += _measure(("ours",), fmt, path, template, work)
                    inspected, committed = _measure(("inspect", "again"), fmt, path, template, work)
                    split.append({"inspect_s": inspected["inspect_s"], "again_s": committed["inspect_s"],
                                  "commit_s": committed["commit_s"],
                                  "seconds": inspected["inspect_s"] + committed["seconds"],
                                  "peak_mb": max(inspected["peak_mb"], committed["peak_mb"])})
                assert {r["features"] for r in floor + ours} == {n}
                rows.append((n, fmt, file_mb, data_mb, repeat, floor, ours, split))
                print(f"  {fmt} {n:,} (made in {made_s:.0f} s, {file_mb:.0f} MB, {data_mb:.0f} MB in memory): floor "
                      f"{_median(floor, 'seconds'):.1f} s {_median(floor, 'peak_mb'):.0f} MB; ours "
                      f"{_median(ours, 'seconds'):.1f} s ({_median(ours, 'inspect_s'):.1f} + "
                      f"{_median(ours, 'commit_s'):.1f}) {_median(ours, 'peak_mb'):.0f} MB; split "
                      f"{_median(split, 'seconds'):.1f} s {_median(split, 'peak_mb'):.0f} MB",
                      file=sys.stderr, flush=True)
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _section(rows, idle, started)


def _section(rows, idle: float, started: str) -> str:
    import platform

    repeats = sorted({(n, r) for n, _, _, _, r, *_ in rows})
    runs = "; ".join(f"{n:,} features: median of {r} run{'s' if r > 1 else ''}" for n, r in repeats)
    lines = [
        "## Imports: 100,000 and 1,000,000 features (bench/imports.py)",
        "",
        f"Measured {started} on {platform.node() or 'this machine'} ({os.cpu_count()} cores, shared). {runs}; "
        "every number from a fresh child process (`python -m bench.run imports` replaces this section only).",
        "",
        "Files, generated around Weihai with Chinese text: **shp** parcels, polygons of 7 vertices in CGCS2000 GK "
        "zone 41 with the zone prefix (EPSG:4529), GBK with its .cpg and a .prj; **gpkg** road lines of 6 vertices "
        "in WGS84; **csv** points as 经度/纬度 columns, UTF-8. Each is written into a fresh copy of the atlas "
        "store (5 layers, 68 features).",
        "",
        "*Floor*: `pyogrio.read_dataframe` (the CSV: `pandas.read_csv` and points from the two columns), "
        "`to_crs(\"EPSG:4326\")` when projected, a key column, `store.create_layer(..., features=...)` — the same "
        "store write (one transaction, with the revision log) and nothing an import adds. *Ours*: "
        "`reference_from_store`, `inspect` (encoding detection, CRS scoring against the districts, the shape "
        "report, the read kept in the upload folder) and `commit(mode=\"new\")` (2D, validity, reprojection, "
        "keys, measures in EPSG:4550, extent, the write) in one process. *Two requests*: as `layers/web/imports.py` "
        "does, `inspect` when the file is uploaded (one process), then, for the commit, `inspect` of the same "
        "upload again and `commit` (a second process): the second inspect loads the read kept in the upload "
        "folder instead of reading the file again (an inspection pickled to another process does the same; "
        "tested, not timed here).",
        "",
        "| features | format | floor s | ours s | ours: inspect + commit s | ours / floor | two requests s "
        "(inspect; inspect again + commit) | two requests / floor |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for n, fmt, _, _, _, floor, ours, split in rows:
        f_s, o_s, s_s = _median(floor, "seconds"), _median(ours, "seconds"), _median(split, "seconds")
        lines.append(f"| {n:,} | {fmt} | {f_s:.1f} | {o_s:.1f} | {_median(ours, 'inspect_s'):.1f} + "
                     f"{_median(ours, 'commit_s'):.1f} | {o_s / f_s:.2f}× | {s_s:.1f} ({_median(split, 'inspect_s'):.1f}"
                     f"; {_median(split, 'again_s'):.1f} + {_median(split, 'commit_s'):.1f}) | {s_s / f_s:.2f}× |")
    lines += [
        "",
        f"Memory: the peak resident memory of the process (`VmHWM`); {idle:.0f} MB of it is the interpreter and the "
        "libraries alone (a child that only imports them), so the columns *above imports* are what the work took. "
        "*The data* two ways: the file(s) on disk, and the data in memory — what a plain read of the file leaves "
        "resident (the GeoDataFrame with its shapely geometries; a child's `VmRSS` after the read minus before).",
        "",
        "| features | format | file MB | in memory MB | floor peak MB | ours peak MB | two requests peak MB | "
        "ours above imports MB | ÷ in memory | ÷ file | floor above imports ÷ in memory |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, fmt, file_mb, data_mb, _, floor, ours, split in rows:
        f_mb, o_mb, s_mb = _median(floor, "peak_mb"), _median(ours, "peak_mb"), _median(split, "peak_mb")
        above = o_mb - idle
        lines.append(f"| {n:,} | {fmt} | {file_mb:.0f} | {data_mb:.0f} | {f_mb:.0f} | {o_mb:.0f} | {s_mb:.0f} | "
                     f"{above:.0f} | {above / data_mb:.2f}× | {above / file_mb:.2f}× | {(f_mb - idle) / data_mb:.2f}× |")
    lines += ["", _verdict(rows, idle), ""]
    return "\n".join(lines)


def _verdict(rows, idle: float) -> str:
    """The targets (issue 10: within 1.5× of the floor, memory under 3× the data), as measured."""
    def name(n, fmt):
        return f"{fmt} {n // 1000:,}k" if n < 1_000_000 else f"{fmt} {n / 1e6:g}M"

    time_ours = {name(n, f): _median(o, "seconds") / _median(fl, "seconds") for n, f, _, _, _, fl, o, _ in rows}
    time_two = {name(n, f): _median(s, "seconds") / _median(fl, "seconds") for n, f, _, _, _, fl, _, s in rows}
    in_memory = {name(n, f): (_median(o, "peak_mb") - idle) / d for n, f, _, d, _, _, o, _ in rows}
    on_disk = {name(n, f): (_median(o, "peak_mb") - idle) / m for n, f, m, _, _, _, o, _ in rows}
    floor_disk = [(_median(fl, "peak_mb") - idle) / m for _, _, m, _, _, fl, _, _ in rows]

    def over(values, limit):
        out = [f"{k} {v:.2f}×" for k, v in values.items() if v > limit]
        return f"not met for {', '.join(out)}" if out else "met everywhere"

    return (f"Targets as measured: time, ours within 1.5× of the floor — {over(time_ours, 1.5)} (at most "
            f"{max(time_ours.values()):.2f}×); in two requests {min(time_two.values()):.2f}–{max(time_two.values()):.2f}× "
            f"({over(time_two, 1.5)}). Memory above imports under 3× the data in memory — {over(in_memory, 3)}; "
            f"under 3× the file on disk — {over(on_disk, 3)} (the floor itself takes "
            f"{min(floor_disk):.1f}–{max(floor_disk):.1f}× the file: shapes held as GEOS geometries take several times "
            "their size in a file).")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:7])
    else:
        from bench.page import write_section

        section = run()
        print(section)
        write_section(section)
