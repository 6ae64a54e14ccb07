"""The storage interface, run against every backend (GeoPackage now; PostGIS joins the params)."""
from __future__ import annotations

import os

import geopandas as gpd
import pytest
import shapely

from geo.errors import CRSError, InvalidParameter, NotFound, StoreError
from geo.store import Query, open_store


def frame(n=5, crs="EPSG:4326"):
    return gpd.GeoDataFrame(
        {
            "id": [f"t-{i}" for i in range(n)],
            "name_zh": [f"测试路{i}号" for i in range(n)],
            "name_en": [f"Test Road {i}" for i in range(n)],
            "category": ["a" if i % 2 else "b" for i in range(n)],
            "district": ["371002"] * (n - 1) + ["371003"],
        },
        geometry=[shapely.Point(122.0 + i * 0.1, 37.5) for i in range(n)],
        crs=crs,
    )


@pytest.fixture(params=["gpkg"])
def store(request, tmp_path):
    s = open_store(tmp_path / "s.gpkg")
    s.replace({"points": frame(), "more": frame(2).assign(id=["m-0", "m-1"])})
    return s


def ids(store, q):
    return list(store.query("points", q)[0]["id"])


def test_layers_info_and_bbox(store):
    assert store.layers() == ["points", "more"]
    info = store.info("points")
    assert info.count == 5 and info.geometry_type == "Point"
    assert info.bbox == pytest.approx((122.0, 37.5, 122.4, 37.5))
    assert ("name_zh", "TEXT") in info.fields
    assert store.fields("points") == info.fields
    with pytest.raises(NotFound):
        store.fields("nope")


def test_query_filters_and_paging(store):
    assert ids(store, Query()) == [f"t-{i}" for i in range(5)]
    assert ids(store, Query(bbox=(122.05, 37.4, 122.25, 37.6))) == ["t-1", "t-2"]
    assert ids(store, Query(equals={"category": ("a",)})) == ["t-1", "t-3"]
    assert ids(store, Query(equals={"category": ("a",), "district": ("371003",)})) == []
    assert ids(store, Query(text="路3")) == ["t-3"]
    assert ids(store, Query(text="test road 4")) == ["t-4"]  # case-insensitive English
    assert ids(store, Query(ids=("t-4", "t-0"))) == ["t-0", "t-4"]
    page, matched = store.query("points", Query(limit=2, offset=1))
    assert list(page["id"]) == ["t-1", "t-2"] and matched == 5
    empty, matched = store.query("points", Query(text="没有"))
    assert matched == 0 and len(empty) == 0 and "name_zh" in empty.columns


def test_values_are_parameters_not_sql(store):
    assert ids(store, Query(text="' OR 1=1 --")) == []
    assert ids(store, Query(text="%")) == []  # LIKE wildcards are literal
    assert ids(store, Query(equals={"category": ("a' OR '1'='1",)})) == []


def test_unknown_field_and_layer(store):
    with pytest.raises(InvalidParameter):
        store.query("points", Query(equals={"name_zh; DROP TABLE points": ("x",)}))
    with pytest.raises(NotFound):
        store.info("nope")


def test_find(store):
    layer, row = store.find("m-1")
    assert layer == "more" and row["name_zh"].iloc[0] == "测试路1号"
    assert store.find("missing") is None


def _snapshot(store):
    return list(store.query("points", Query())[0]["id"]), os.stat(store.path).st_ino


@pytest.mark.parametrize("bad", [
    {"points": frame(crs=None)},
    {"points": frame(crs="EPSG:4550")},
    {"points": frame().assign(id=["x"] * 5)},
    {"Bad-Name": frame()},
])
def test_rejected_writes_leave_the_store_unchanged(store, bad):
    before = _snapshot(store)
    with pytest.raises((StoreError, CRSError, InvalidParameter)):
        store.replace(bad)
    assert _snapshot(store) == before
    assert not [p for p in store.path.parent.iterdir() if p.name.endswith(".tmp.gpkg")]


def test_failure_midway_leaves_the_store_unchanged(store, monkeypatch):
    import geo.store.gpkg as gpkg

    real = gpkg.pyogrio.write_dataframe
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(gpkg.pyogrio, "write_dataframe", flaky)
    before = _snapshot(store)
    with pytest.raises(StoreError, match="disk full"):
        store.replace({"points": frame(3), "more": frame(1)})
    assert _snapshot(store) == before
    assert not [p for p in store.path.parent.iterdir() if ".tmp" in p.name]


def test_missing_store_says_how_to_build(tmp_path):
    with pytest.raises(StoreError, match="make build"):
        open_store(tmp_path / "none.gpkg").layers()


@pytest.mark.parametrize("url", ["postgresql://u@h/db", "atlas.sqlite"])
def test_unsupported_urls_say_what_to_use(url):
    with pytest.raises(StoreError, match=r"\.gpkg"):
        open_store(url)
