"""Real clients against a real server: GDAL's OAPIF driver (the one in the pyogrio wheel), OWSLib's
OGC API – Features client and QGIS's OAPIF provider (Debian's QGIS 3.22, in Debian's Python:
tests/qgis_read.py) read the atlas over HTTP from a server in its own process.

The store has the small atlas and a layer of 1,500 road lines; the server's page maximum is 150, so
GDAL (which takes its page size from the OpenAPI document's ``limit``) reads that layer in ten
pages. Coordinates are checked against the store's geometries transformed by pyproj here, not by
the server's code; the server's access log shows which filters GDAL pushed down. Every test runs
against a server on a GeoPackage store and one on a PostGIS store (the test cluster of tests/pg.py,
its URL given to the server process as its store).
"""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Transformer

from bench.synthetic import road_lines
from geo.store import Query, open_store
from layers import build as builder
from tests import pg
from tests.conftest import write_sources

ROOT = Path(__file__).resolve().parent.parent
ROADS = 1500
PAGE_MAX = 150


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def served(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"ogc-clients-{request.param}")
    layers = builder.build_all(write_sources(folder / "sources"))
    store = open_store(folder / "atlas.gpkg" if request.param == "gpkg" else pg.fresh_url(), key="id")
    builder.write(store, {**layers, "synthetic_roads": road_lines(ROADS, seed=11)})
    log = folder / "access.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # in its own folder: the accounts and a server store's folders (var/) go there
    proc = subprocess.Popen([sys.executable, "-m", "tests.ogc_live", store.url.removeprefix("gpkg://"), str(log),
                             str(PAGE_MAX), "50"],
                            cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(proc.stdout.readline())
        yield {"url": f"http://127.0.0.1:{port}/ogc", "store": store, "log": log}
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


def requests(served, since: int = 0) -> list[tuple[str, dict]]:
    """(path, query) of each request the server logged after line ``since``."""
    time.sleep(0.05)
    out = []
    for line in served["log"].read_text(encoding="utf-8").splitlines()[since:]:
        target = line.split(" ")[1]
        parts = urlsplit(target)
        out.append((parts.path, parse_qs(parts.query)))
    return out


def log_length(served) -> int:
    return len(served["log"].read_text(encoding="utf-8").splitlines()) if served["log"].exists() else 0


def _store_frame(served, layer):
    return served["store"].query(layer, Query()).set_index("id")


def _max_offset_m(got, want, crs_got: str) -> float:
    """The largest distance (m) between the vertices of two geometry arrays, both taken to EPSG:4550
    by pyproj (``want`` is WGS84; ``got`` in ``crs_got``)."""
    to_gk = Transformer.from_crs("EPSG:4326", "EPSG:4550", always_xy=True)
    a = shapely.get_coordinates(np.asarray(got, dtype=object))
    b = shapely.get_coordinates(np.asarray(want, dtype=object))
    assert a.shape == b.shape and len(a)
    if crs_got == "EPSG:4326":
        a = np.column_stack(to_gk.transform(a[:, 0], a[:, 1]))
    b = np.column_stack(to_gk.transform(b[:, 0], b[:, 1]))
    return float(np.hypot(*(a - b).T).max())


def test_gdal_lists_every_collection(served):
    layers = dict(pyogrio.list_layers(f"OAPIF:{served['url']}"))
    assert layers == {"districts": "MultiPolygon", "zones": "MultiPolygon", "parks": "MultiPolygon",
                      "roads": "MultiLineString", "projects": "Point", "synthetic_roads": "MultiLineString"}


@pytest.mark.parametrize("crs", ["CRS84", "EPSG:4550"])
def test_gdal_reads_every_collection_across_pages(served, crs):
    url = f"OAPIF:{served['url']}"
    options = {} if crs == "CRS84" else {"CRS": "EPSG:4550"}
    for layer in served["store"].layers():
        since = log_length(served)
        frame = pyogrio.read_dataframe(url, layer=layer, **options)
        want = _store_frame(served, layer)
        assert len(frame) == len(want) and sorted(frame["id"]) == sorted(want.index), layer
        assert frame.crs == ("OGC:CRS84" if crs == "CRS84" else "EPSG:4550")
        got = frame.set_index("id").loc[want.index]
        assert _max_offset_m(got.geometry.values, want.geometry.values,
                             "EPSG:4326" if crs == "CRS84" else "EPSG:4550") < 0.01, layer
        assert list(got["name_zh"]) == list(want["name_zh"])
        pages = [q for path, q in requests(served, since) if path == f"/ogc/collections/{layer}/items" and "cursor" in q]
        if layer == "synthetic_roads":  # 1,500 features, at most 150 a page: nine pages after the first
            assert len(pages) >= ROADS // PAGE_MAX - 1
            assert all(q["limit"] == [str(PAGE_MAX)] for q in pages)
            if crs != "CRS84":
                assert all(q["crs"] == ["http://www.opengis.net/def/crs/EPSG/0/4550"] for q in pages)


def test_gdal_pushes_its_attribute_filter_down(served):
    url = f"OAPIF:{served['url']}"
    since = log_length(served)
    frame = pyogrio.read_dataframe(url, layer="synthetic_roads", where="category = 'historic_street'")
    assert len(frame) == ROADS // 10 and set(frame["category"]) == {"historic_street"}  # every tenth road
    asked = [q for path, q in requests(served, since) if path.endswith("/synthetic_roads/items") and "filter" in q]
    assert asked and all(q["filter"] == ["category = 'historic_street'"] for q in asked)
    assert all(q["filter-lang"] == ["cql-text"] for q in asked)
    # a Chinese value, and two conditions GDAL joins with AND
    since = log_length(served)
    frame = pyogrio.read_dataframe(url, layer="synthetic_roads", where="name_zh = '合成道路7' AND year >= 2018")
    assert list(frame["name_zh"]) == ["合成道路7"]
    asked = [q for path, q in requests(served, since) if path.endswith("/synthetic_roads/items") and "filter" in q]
    assert asked and asked[-1]["filter"] == ["(name_zh = '合成道路7') AND (year >= 2018)"]


def _fetch_all(url: str) -> list[dict]:
    features = []
    while url:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": "application/geo+json"})) as r:
            body = json.loads(r.read())
        features += body["features"]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    return features


@pytest.mark.parametrize("crs", ["CRS84", "EPSG:4550"])
def test_gdal_pushes_its_spatial_filter_down(served, crs):
    box84 = (122.05, 37.40, 122.15, 37.48)
    want = _store_frame(served, "synthetic_roads")
    expected = set(want.index[shapely.intersects(want.geometry.values, shapely.box(*box84))])
    assert 0 < len(expected) < ROADS
    if crs == "CRS84":
        box, options = box84, {}
    else:  # a box in EPSG:4550 (easting/northing as GDAL takes it), sent as bbox + bbox-crs
        to_gk = Transformer.from_crs("EPSG:4326", "EPSG:4550", always_xy=True)
        xs, ys = to_gk.transform([box84[0], box84[2]], [box84[1], box84[3]])
        box, options = (min(xs), min(ys), max(xs), max(ys)), {"CRS": "EPSG:4550"}
        edge = shapely.segmentize(shapely.box(*box), 50.0)  # the box's edges, curved in WGS84
        gk_box = shapely.transform(edge, lambda xy: np.column_stack(
            to_gk.transform(xy[:, 0], xy[:, 1], direction="INVERSE")))
        expected = set(want.index[shapely.intersects(want.geometry.values, gk_box)])
    since = log_length(served)
    frame = pyogrio.read_dataframe(f"OAPIF:{served['url']}", layer="synthetic_roads", bbox=box, **options)
    assert set(frame["id"]) == expected
    asked = [(p, q) for p, q in requests(served, since) if p.endswith("/synthetic_roads/items") and "bbox" in q]
    assert asked
    path, query = asked[0]
    if crs != "CRS84":
        assert query["bbox-crs"] == ["http://www.opengis.net/def/crs/EPSG/0/4550"]
        north_first = [float(v) for v in query["bbox"][0].split(",")]
        assert north_first[0] == pytest.approx(box[1])  # northing first: the authority's order
    # the server's own answer to that request, page by page: exactly the features that meet the box
    first = f"{served['url'].rsplit('/ogc', 1)[0]}{path}?" + "&".join(
        f"{k}={urllib.parse.quote(v[0])}" for k, v in query.items() if k != "cursor")
    assert {f["id"] for f in _fetch_all(first)} == expected


def test_owslib_lists_collections_and_reads_items(served):
    from owslib.ogcapi.features import Features

    api = Features(served["url"] + "/")
    assert set(api.feature_collections()) == set(served["store"].layers())
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in api.conformance()["conformsTo"]
    page = api.collection_items("parks", limit=1)
    assert page["numberMatched"] == 2 and page["numberReturned"] == 1
    assert page["features"][0]["properties"]["name_zh"] in ("华夏城", '<img src=x onerror="document.title=\'pwned\'">')
    hit = api.collection_items("parks", filter="name_zh = '华夏城'")
    assert [f["id"] for f in hit["features"]] == ["parks-huaxiacheng"]
    one = api.collection_item("parks", "parks-huaxiacheng")
    assert one["geometry"]["type"] == "MultiPolygon"
    assert one["geometry"]["coordinates"][0][0][0] == pytest.approx([122.0581, 37.4397])
    assert "name_zh" in api.collection_queryables("parks")["properties"]
    assert api.api()["openapi"].startswith("3.0")


# -- QGIS ------------------------------------------------------------------------------------------
QGIS_PYTHON = "/usr/bin/python3"  # Debian's: python3-qgis is built for it


@functools.cache
def _have_qgis() -> bool:
    return subprocess.run([QGIS_PYTHON, "-c", "import qgis.core"], capture_output=True).returncode == 0


def qgis(served, *reads: dict) -> dict:
    """QGIS's OAPIF provider reading the server (tests/qgis_read.py in Debian's Python)."""
    if not _have_qgis():
        pytest.fail("QGIS's Python bindings are needed for the QGIS client tests: run 'make qgis-deps' "
                    "(bash .ci/qgis) as root, or install the Debian packages python3-qgis and qgis-providers",
                    pytrace=False)
    # its own empty home: QGIS's settings and network cache are not the machine's
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(served["log"].parent / "qgis-home"),
           "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": str(served["log"].parent / "qgis-run")}
    done = subprocess.run([QGIS_PYTHON, str(ROOT / "tests" / "qgis_read.py"),
                           json.dumps({"url": served["url"], "reads": list(reads)})],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_qgis_reads_every_collection_across_pages(served):
    """QGIS adds each collection as a live layer and reads all of it, page after page by the
    ``next`` links: the same features, names and coordinates (within 1 cm) as the store's."""
    layers = served["store"].layers()
    since = log_length(served)
    got = qgis(served, *({"layer": layer} for layer in layers))
    for layer, read in zip(layers, got["reads"]):
        assert read["valid"], layer
        assert read["crs"] == "EPSG:4326"  # CRS84 (QGIS 3.22's provider asks for no other)
        want = _store_frame(served, layer)
        ids = [f["id"] for f in read["features"]]
        assert read["count"] == len(want) and len(ids) == len(want) and set(ids) == set(want.index), layer
        mine = {f["id"]: f for f in read["features"]}
        shapes = [shapely.from_wkt(mine[i]["wkt"]) for i in want.index]
        assert _max_offset_m(shapes, want.geometry.values, "EPSG:4326") < 0.01, layer
        assert [mine[i]["name_zh"] for i in want.index] == list(want["name_zh"])
    pages = [q for path, q in requests(served, since) if path == "/ogc/collections/synthetic_roads/items" and "cursor" in q]
    assert len(pages) >= ROADS // PAGE_MAX - 1 and all(q["limit"] == [str(PAGE_MAX)] for q in pages)


def test_qgis_sends_its_view_as_a_bbox_and_filters_by_expression(served):
    box = (122.05, 37.40, 122.15, 37.48)
    want = _store_frame(served, "synthetic_roads")
    expected = set(want.index[shapely.intersects(want.geometry.values, shapely.box(*box))])
    assert 0 < len(expected) < ROADS
    since = log_length(served)
    in_view, historic = qgis(served, {"layer": "synthetic_roads", "rect": list(box)},
                             {"layer": "synthetic_roads", "subset": "\"category\" = 'historic_street'"})["reads"]
    assert {f["id"] for f in in_view["features"]} == expected
    asked = [q for path, q in requests(served, since) if path == "/ogc/collections/synthetic_roads/items" and "bbox" in q]
    assert asked and [float(v) for v in asked[0]["bbox"][0].split(",")] == pytest.approx(box)
    assert len(historic["features"]) == ROADS // 10  # every tenth road
    assert {f["category"] for f in historic["features"]} == {"historic_street"}
