"""Huancui before and after the position sources (issue 13): the atlas built from ``layers/data``
as it was at a git revision (``BEFORE``, default the main line just before the position sources were merged) and
as it is now, each served and drawn in headless Chromium at the same view (Huancui's centre and its
towns), with no basemap, so that only the atlas's own geography shows.

    python bench/positions.py          (writes bench/screenshot-positions-before.png and -after.png)

Also prints, for the features whose position moved, how far (EPSG:4550) and what their accuracy
became. Needs git (the old sources are read with ``git show``); not part of ``bench/run.py``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from bench.page import ARGS, CHROMIUM, _guard, _serve  # noqa: E402
from geo.store import open_store  # noqa: E402
from layers import build as builder  # noqa: E402
from layers import catalog  # noqa: E402

BEFORE = os.environ.get("BENCH_POSITIONS_BEFORE", "74b6f15")
#: Huancui's centre and the towns west and south of it
VIEW = "?lang=zh&basemap=none&center=37.440,122.120&zoom=12&layers=districts,zones,parks,roads,projects"
HERE = Path(__file__).resolve().parent


def _old_sources(rev: str, folder: Path) -> dict[str, Path]:
    out = {}
    for spec in catalog.LAYERS:
        text = subprocess.run(["git", "show", f"{rev}:layers/data/{spec.id}.geojson"], cwd=ROOT, check=True,
                              capture_output=True).stdout
        (folder / f"{spec.id}.geojson").write_bytes(text)
        out[spec.id] = folder / f"{spec.id}.geojson"
    return out


def _build_as_it_was(sources: dict[str, Path]) -> dict:
    """The old sources built with the geometry type each layer had then (the parks were points
    before issue 13 made them areas), so that the before picture is the atlas as it was."""
    specs = []
    for spec in catalog.LAYERS:
        features = json.loads(sources[spec.id].read_text(encoding="utf-8"))["features"]
        kinds = {f["geometry"]["type"] for f in features if f.get("geometry") and "schematic_radius_m" not in f}
        points = kinds == {"Point"} and spec.geometry_type != "Point"
        specs.append(dataclasses.replace(spec, geometry_type="Point") if points else spec)
    return builder.build_all(sources, tuple(specs))


def _shot(browser, store_path: Path, out: Path) -> None:
    server, base = _serve(store_path, {})
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 800}, device_scale_factor=1, locale="zh-CN")
        page = context.new_page()
        page.route("**/*", _guard(base))
        page.goto(base + "/" + VIEW)
        page.wait_for_selector(".atlas-map[data-atlas-state=idle]", state="attached", timeout=30_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(out))
        context.close()
    finally:
        server.shutdown()


def _moves(before: dict, after: dict) -> list[str]:
    lines = []
    for layer in ("zones", "parks", "projects", "roads"):
        a = before[layer].set_index("id").to_crs(4550)
        b = after[layer].set_index("id").to_crs(4550)
        for fid in b.index.intersection(a.index):
            moved = a.geometry[fid].centroid.distance(b.geometry[fid].centroid)
            if moved > 1 or a.loc[fid, "accuracy"] != b.loc[fid, "accuracy"]:
                lines.append(f"| {fid} | {b.loc[fid, 'name_zh']} | {moved:,.0f} m | {a.loc[fid, 'accuracy']} → "
                             f"{b.loc[fid, 'accuracy']} |")
    return lines


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="atlas-positions-"))
    old_folder = tmp / "before"
    old_folder.mkdir()
    before = _build_as_it_was(_old_sources(BEFORE, old_folder))
    after = builder.build_all()
    stores = {}
    for name, built in (("before", before), ("after", after)):
        store = open_store(tmp / f"{name}.gpkg", key="id")
        builder.write(store, built)
        stores[name] = store.path
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for name, path in stores.items():
            _shot(browser, path, HERE / f"screenshot-positions-{name}.png")
        browser.close()
    print(f"Sources before: git {BEFORE}; after: the working tree. Screenshots: bench/screenshot-positions-"
          "before.png, bench/screenshot-positions-after.png\n")
    print("| feature | name | centre moved | accuracy |\n|---|---|---|---|")
    print("\n".join(_moves(before, after)))


if __name__ == "__main__":
    main()
