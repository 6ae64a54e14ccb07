"""The attribute table at 100,000 polygons: its pages over real HTTP against a plain geopandas read +
sort + slice of the same data, and the table in Chromium.

    python bench/table.py        (writes its section into bench/RESULTS.md)

Data: ``bench/synthetic.py`` ``zone_polygons(100,000)`` (quadrilaterals of every size over Weihai,
every atlas field) as a layer of a GeoPackage store. *Ours*: ``GET /api/layers/<id>/rows`` served by
werkzeug on 127.0.0.1 with the answer cache off, fetched with urllib, 15 requests each after one
warm-up; *cold*: the store's totals cache emptied before each request (a new filter every time: the
count and sums are a pass over the matches), *warm*: kept (the next pages of one filter). *geopandas*:
the same page from ``geopandas.read_file`` (pyogrio) of the layer, ``sort_values`` and ``iloc`` —
what a server without the table's SQL would do — and the same on a frame already in memory (the
floor without I/O). In Chromium (Playwright, 1280×800, no layer drawn on the map): from the click to
the rows drawn.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import geopandas as gpd  # noqa: E402
from bench.serving import median, serve  # noqa: E402

from bench.synthetic import zone_polygons  # noqa: E402
from geo.store import Query, open_store  # noqa: E402
from layers import build as builder  # noqa: E402
from server import create_app  # noqa: E402

N = int(os.environ.get("BENCH_TABLE_FEATURES", "100000"))
LAYER = "zones100k"
REPEAT = 15
FILTER = "district=371002&category_contains=prosperity&area_mu_min=10&area_mu_max=200&sort=-area_mu"
CHROMIUM = "/usr/bin/chromium"





def _get(base, query):
    def fetch():
        with urllib.request.urlopen(f"{base}/api/layers/{LAYER}/rows?{query}") as resp:
            body = resp.read()
        return len(body), json.loads(body)
    return fetch


def _browser(base) -> list[tuple[str, float, str]]:
    """From the click to the rows drawn, in Chromium; [] when Chromium or Playwright is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return []
    if not Path(CHROMIUM).exists():
        return []
    out = []
    idle = ".atlas-table[data-table-state=idle]"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{base}/?layers=")
        page.wait_for_selector(".atlas-map[data-atlas-state=idle]", state="attached")

        def timed(label, action, note=""):
            t0 = time.perf_counter()
            action()
            page.wait_for_timeout(30)
            page.wait_for_selector(idle, timeout=30_000)
            out.append((label, (time.perf_counter() - t0) * 1000, note))

        timed(f"open the table (its one layer, {N:,} polygons): first rows drawn", lambda: page.click(".atlas-tool-table"))
        sort = page.locator(".atlas-table-th[data-field=area_mu] .atlas-table-sort")
        timed("click 面积(亩): sorted ascending, drawn", sort.click)
        timed("click again: descending, drawn", sort.click)
        scroll = page.locator(".atlas-table-scroll")
        timed("scroll down one screen (next page by keyset)", lambda: scroll.evaluate("s => s.scrollTop += s.clientHeight * 3"))
        timed(f"drag to the middle (row {N // 2:,}, by offset)", lambda: scroll.evaluate("s => s.scrollTop = s.scrollHeight / 2"))
        timed("pick 文登区 in the district filter", lambda: page.select_option(".atlas-table-frow select[name=district]", "371003"))
        rows = page.locator(".atlas-table-row").count()
        out.append(("row elements in the page (of %s rows)" % f"{page.evaluate('() => Atlas.table.data().total'):,}",
                    float(rows), "count"))
        browser.close()
    return out


def run() -> str:
    tmp = Path(tempfile.mkdtemp(prefix="atlas-table-bench-"))
    try:
        return _run(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(tmp: Path) -> str:
    t0 = time.perf_counter()
    frame = zone_polygons(N)
    made_s = time.perf_counter() - t0
    store = open_store(tmp / "atlas.gpkg", key="id")
    t0 = time.perf_counter()
    builder.write(store, {LAYER: frame})
    write_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    store.rows(LAYER, Query(order_by=(("area_mu", True),), limit=1))  # the sort index, made once
    index_s = time.perf_counter() - t0

    app = create_app({"STORE": str(store.path), "CACHE_MB": 0})
    served = app.extensions["atlas_store"]
    server, base = serve(app)
    cold = served._counts.clear
    try:
        deep = store.rows(LAYER, Query(order_by=(("area_mu", True),), limit=10, offset=N - 20))
        from layers.api.table import encode_cursor
        token = encode_cursor((("area_mu", True), ("id", True)), deep.after)
        cases = [
            ("first page (100 rows, key order)", "limit=100"),
            ("first page sorted by area, descending (`sort=-area_mu`)", "limit=100&sort=-area_mu"),
            (f"page {N // 10:,} of 10 rows by keyset (`after=`), sorted by area", f"limit=10&sort=-area_mu&after={token}"),
            (f"the same page by offset (`offset={N - 10:,}`)", f"limit=10&sort=-area_mu&offset={N - 10}"),
            ("a filtered page: district pick-list, text, area range, sorted", f"limit=100&{FILTER}"),
        ]
        rows = []
        for label, query in cases:
            cold_ms, (size, body) = median(_get(base, query), REPEAT, before=cold)
            warm_ms, _ = median(_get(base, query), REPEAT)
            rows.append((label, cold_ms, warm_ms, size, body["numberReturned"], body["numberMatched"]))
        same = [[r["id"] for r in _get(base, q)()[1]["rows"]] for q in (cases[2][1], cases[3][1])]
        assert same[0] == same[1] and len(same[0]) == 10, "keyset and offset disagree on the deep page"
        # what the seek avoids: the same page by a plain LIMIT/OFFSET over the table and its boxes
        order = (("area_mu", True), ("id", True))
        meta = served._layer(LAYER)
        cols = "t.id, rb.minx, rb.miny, rb.maxx, rb.maxy"
        join = f' LEFT JOIN "rtree_{LAYER}_geom" AS rb ON rb.id = t.fid'
        plain = served._statements(LAYER, meta, Query(order_by=order[:1], offset=N - 10), order, cols, join)
        plain_ms, got = median(lambda: served._read_runs("bench", plain, 10, N - 10), REPEAT)
        assert [r[0] for r in got] == same[0]
        seek_ms, _ = median(lambda: served.rows(LAYER, Query(order_by=order[:1], limit=10, offset=N - 10)), REPEAT)
        totals_ms, totals = median(lambda: served.totals(LAYER, Query(), ["area_m2", "area_ha", "area_mu", "length_km"]),
                                   REPEAT, before=cold)
        browser = _browser(base)
    finally:
        server.shutdown()
        server.server_close()

    # geopandas: read + sort + slice, and the same in memory
    path = store.path
    read_ms, gdf = median(lambda: gpd.read_file(path, layer=LAYER, engine="pyogrio"), repeat=5)
    mem = gdf
    floors = [
        ("read + sort by area + first 100", lambda: gpd.read_file(path, layer=LAYER, engine="pyogrio")
         .sort_values(["area_mu", "id"], ascending=False).iloc[:100], 5),
        ("in memory: sort by area + first 100", lambda: mem.sort_values(["area_mu", "id"], ascending=False).iloc[:100], REPEAT),
        (f"in memory: sort by area + rows {N - 10:,}–{N:,}",
         lambda: mem.sort_values(["area_mu", "id"], ascending=False).iloc[N - 10:], REPEAT),
        ("in memory: the filter + sort + first 100", lambda: mem[(mem.district == "371002") & mem.category.str.contains(
            "prosperity") & (mem.area_mu >= 10) & (mem.area_mu <= 200)].sort_values(["area_mu", "id"], ascending=False).iloc[:100],
         REPEAT),
        ("in memory: totals (count and 4 sums)", lambda: (len(mem), mem[["area_m2", "area_ha", "area_mu", "length_km"]].sum()),
         REPEAT),
    ]
    floor_rows = [(label, median(fn, repeat=n)[0]) for label, fn, n in floors]
    sorted_cold = rows[1][1]

    lines = [
        "## Attribute table (bench/table.py)",
        "",
        f"Data: `zone_polygons({N:,})` in a GeoPackage store (generated in {made_s:.1f} s, written in {write_s:.1f} s); "
        f"the sort index `(area_mu, id)` the first sort makes: {index_s * 1000:.0f} ms, once. Ours: "
        "`GET /api/layers/<id>/rows` over HTTP (werkzeug, answer cache off), medians of 15 after a warm-up; *cold*: the "
        "store's totals cache emptied before each request (count and sums computed: a new filter), *warm*: kept (the next "
        "pages of one filter). Every answer carries `numberMatched` (exact) and the totals.",
        "",
        "| request | cold ms | warm ms | bytes | rows | matched |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, cold_ms, warm_ms, size, returned, matched in rows:
        lines.append(f"| {label} | {cold_ms:.1f} | {warm_ms:.1f} | {size:,} | {returned} | {matched:,} |")
    lines += [
        f"| totals alone (`Store.totals`, in process, count + 4 sums over {N:,} rows) | {totals_ms:.1f} | – | – | – | "
        f"{totals['count']:,} |",
        "",
        f"`offset=` is first sought as a cursor through the sort index, then read by keyset. In process, the page at "
        f"offset {N - 10:,}: {seek_ms:.1f} ms so (`Store.rows`), {plain_ms:.1f} ms by a plain SQL `LIMIT 10 OFFSET {N - 10:,}` "
        f"over the table and its boxes ({plain_ms / seek_ms:.0f}×). geopandas, the same data (a read of the layer alone: "
        f"{read_ms:,.0f} ms):",
        "",
        "| geopandas | ms | ours / it |",
        "|---|---:|---:|",
    ]
    for label, ms in floor_rows:
        lines.append(f"| {label} | {ms:,.1f} | {sorted_cold / ms:.2f}× |")
    lines += ["", "(*ours / it*: our cold sorted first page against each.)", ""]
    if browser:
        lines += ["In Chromium (1280×800, the map drawing no layer), from the action to the rows drawn:", "",
                  "| action | ms |", "|---|---:|"]
        for label, ms, note in browser:
            lines.append(f"| {label} | {int(ms) if note == 'count' else f'{ms:,.0f}'} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    from bench.page import write_section

    result = run()
    print(result)
    write_section(result)
