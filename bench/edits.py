"""Edits with the revision log against the same write without it, and as-of reads of a large layer
with many revisions against a plain read, side by side in one run.

    python bench/edits.py        (or `make bench`, which writes bench/RESULTS.md)

Data: ``bench/synthetic.py`` road lines (100,000; ``BENCH_EDIT_FEATURES`` and ``BENCH_REVISIONS``
shorten a run). *With the log*: ``Store.update`` — one transaction that checks the version, writes
the row, keeps the R-tree, appends the hash-chained revision with the before and after. *Without*:
the same row and geometry written in one plain SQLite transaction on the same file (the GeoPackage
blob, GDAL's R-tree triggers), no version check and no log. Then ``BENCH_REVISIONS`` random edits
(attributes and a moved geometry) are made, and the layer is read as it was halfway through them
(``Query.as_of``) against reading it now: the centre bbox (limit 1000), and the whole layer.
"""
from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import shapely  # noqa: E402

from bench.synthetic import CENTRE, road_lines  # noqa: E402
from geo.store import Query, open_store  # noqa: E402
from geo.store.gpkg_geom import blob  # noqa: E402
from layers import build as builder  # noqa: E402

FEATURES = int(os.environ.get("BENCH_EDIT_FEATURES", "100000"))
REVISIONS = int(os.environ.get("BENCH_REVISIONS", "10000"))
EDITS = 300  # timed edits of each kind


def _moved(geom, rng):
    return shapely.transform(geom, lambda xy: xy + rng.uniform(-1e-4, 1e-4))


def _plain_update(store, key: str, geom, text: str) -> None:
    """The same write without the log: one plain transaction (the app's writer flag set, so the
    external-edit triggers stand aside as they do for the app's own writes)."""
    con = store._writer()
    try:
        con.execute("BEGIN IMMEDIATE")
        con.execute("UPDATE gpkg_atlas_writer SET flag = 1")
        con.execute('UPDATE "roads" SET "description_zh" = ?, "geom" = ? WHERE "id" = ?', (text, blob(geom), key))
        con.execute("UPDATE gpkg_atlas_writer SET flag = 0")
        con.execute("COMMIT")
    finally:
        con.close()


def _pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def _time(fn, n=7):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), result


def run() -> str:
    tmp = Path(tempfile.mkdtemp(prefix="atlas-edit-bench-"))
    frame = road_lines(FEATURES)
    store = open_store(tmp / "atlas.gpkg", key="id")
    builder.write(store, {"roads": frame})
    rng = random.Random(2026)
    keys = list(frame["id"])
    geoms = dict(zip(frame["id"], frame.geometry))

    logged, plain = [], []
    for i in range(EDITS):  # interleaved, so both see the same machine
        key = rng.choice(keys)
        version = store.versions("roads", [key])[key]
        geom = _moved(geoms[key], rng)
        t0 = time.perf_counter()
        store.update("roads", key, properties={"description_zh": f"第{i}次修改"}, geometry=geom,
                     expected_version=version, actor="基准", message="bench")
        logged.append((time.perf_counter() - t0) * 1000)
        key = rng.choice(keys)
        geom = _moved(geoms[key], rng)
        t0 = time.perf_counter()
        _plain_update(store, key, geom, f"第{i}次修改")
        plain.append((time.perf_counter() - t0) * 1000)

    t0 = time.perf_counter()
    halfway = None
    for i in range(REVISIONS - EDITS):
        key = rng.choice(keys)
        version = store.versions("roads", [key])[key]
        geom = _moved(geoms[key], rng)
        store.update("roads", key, properties={"status": "under_construction" if i % 2 else "completed"},
                     geometry=geom, expected_version=version, actor="基准", message="bench")
        if i == (REVISIONS - EDITS) // 2:
            halfway = store.history(limit=1)[0].time
    revisions_s = time.perf_counter() - t0
    made = store.verify().entries

    box = Query(bbox=CENTRE, limit=1000)
    rows = []
    for label, query in (("centre bbox, limit 1000", box), ("whole layer", Query())):
        now_ms, now_frame = _time(lambda: store.query("roads", query))
        then_ms, then_frame = _time(lambda: store.query("roads", Query(**{**query.__dict__, "as_of": halfway})), n=5)
        rows.append((label, len(now_frame), now_ms, len(then_frame), then_ms))

    lines = [
        "## Edits and the revision log (bench/edits.py)",
        "",
        f"A GeoPackage store of {FEATURES:,} synthetic road lines; {EDITS} edits of each kind, interleaved "
        "(attributes and a moved geometry, one transaction each). *With the log*: `Store.update` (version "
        "check, the row, the R-tree, the hash-chained revision with before and after). *Without*: the same "
        "row and geometry in one plain SQLite transaction on the same file.",
        "",
        "| write | p50 ms | p95 ms |",
        "|---|---:|---:|",
        f"| with the revision log (`Store.update`) | {_pct(logged, 0.5):.2f} | {_pct(logged, 0.95):.2f} |",
        f"| the same write without it | {_pct(plain, 0.5):.2f} | {_pct(plain, 0.95):.2f} |",
        "",
        f"With the log: {_pct(logged, 0.5) / _pct(plain, 0.5):.1f}× the plain write at the median.",
        "",
        f"Then {REVISIONS - EDITS:,} more edits ({revisions_s:.0f} s; the log holds {made:,} revisions), and the "
        "layer read now and as it was halfway through them (`as_of`), medians:",
        "",
        "| read | features now | now ms | features then | as of ms | as of / now |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, n_now, now_ms, n_then, then_ms in rows:
        lines.append(f"| {label} | {n_now:,} | {now_ms:,.1f} | {n_then:,} | {then_ms:,.1f} | {then_ms / now_ms:,.1f}× |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    from bench.page import write_section

    result = run()
    print(result)
    write_section(result)
