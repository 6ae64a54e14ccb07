"""``Store.records`` (a small page as plain values, the OGC writer's fast path) gives what ``query``
gives, on every backend of ``test_store.BACKENDS``; ``Store.pin_version`` reads the version once in
its context and forgets it on a write of the store, and a change made outside it (plain SQL
through psycopg, as QGIS would) is seen by the next request of a server."""
from __future__ import annotations

import json
import math

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geo.store import Field, Query, Records
from server import create_app
from tests import pg
from tests.geo.test_store import BACKENDS


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Six features with Chinese names, NULLs of every kind, a NaN, a date, a JSON field and a
    boolean: one store per backend."""
    n = None
    g = gpd.GeoDataFrame({
        "id": [f"r{i}" for i in range(6)],
        "name_zh": ["威海公园", "环翠楼", n, "刘公岛", "成山头", "金海湾"],
        "year": pd.array([2018, n, 2020, 2021, 2019, 2022], dtype="Int64"),
        "area": [1.5, n, 2.25e-07, 4.0, float("nan"), 1e17],
        "open": pd.array([True, False, n, True, False, True], dtype="boolean"),
        "since": ["2021-01-05", n, "2022-03-01", "2019-07-07", "2023-01-01", "2021-01-01"],
        "extra": ['{"层": 1, "v": [1.5, 2e-07]}', n, '{"a": null}', '[]', '"文本"', '{}'],
    }, geometry=[shapely.Point(122.0, 37.5), shapely.Point(122.1, 37.5), shapely.Point(122.2, 37.52),
                 shapely.LineString([(122.3, 37.45), (122.3, 37.55)]),
                 shapely.box(122.35, 37.45, 122.45, 37.55), shapely.Point(120.0, 30.0)], crs="EPSG:4326")
    out = {}
    for name, make in BACKENDS.items():
        s = make(tmp_path_factory.mktemp(f"records-{name}"))
        s.replace({"places": g}, {"places": (Field("since", "date"), Field("extra", "json"))})
        out[name] = s
    return out


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _same(a, b) -> bool:
    """Equal, or both missing (a float without a value may be None or NaN: ``Records``)."""
    return (_missing(a) and _missing(b)) or (not _missing(a) and a == b)


QUERIES = [Query(), Query(ids=("r2",), limit=1), Query(ids=("无此",), limit=1),
           Query(bbox=(122.05, 37.4, 122.5, 37.6), order_by=(("id", False),), limit=2),
           Query(order_by=(("id", True),), after=("r4",), limit=3), Query(columns=("name_zh", "area"), limit=4)]


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("query", QUERIES, ids=range(len(QUERIES)))
def test_records_are_the_rows_of_query(stores, backend, query):
    store = stores[backend]
    got = store.records("places", query)
    frame = store.query("places", query)
    assert got.columns == tuple(c for c in frame.columns if c != "geometry")
    assert len(got) == len(frame)
    for row, (_, expected) in zip(got.rows, frame.iterrows()):
        for name, value in zip(got.columns, row):
            want = expected[name]
            want = None if want is pd.NA else want
            assert _same(value, want), (name, value, want)
    assert list(shapely.to_wkb(got.geometry)) == list(shapely.to_wkb(frame.geometry.values))


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_records_take_and_concat(stores, backend):
    got = stores[backend].records("places", Query())
    ids = got.column("id")
    assert ids == [f"r{i}" for i in range(6)]
    picked = got.take([True, False, True, False, False, True])
    assert picked.column("id") == ["r0", "r2", "r5"]
    assert Records.concat([picked, got.take(slice(0, 1))]).column("id") == ["r0", "r2", "r5", "r0"]
    assert list(got.take(slice(None, None, -1)).geometry) == list(got.geometry[::-1])


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_ogc_features_are_written_as_from_the_frame(stores, backend, tmp_path, monkeypatch):
    """The OGC item and items (written from records) are the Features ``/api`` writes from the
    frame (``features_json``), byte for byte: NULLs, NaN, tiny and huge floats, JSON, dates."""
    from layers.api.features import features_json

    store = stores[backend]
    monkeypatch.chdir(tmp_path)
    app = create_app({"STORE": store.url if backend == "postgis" else str(store.path), "TESTING": True,
                      "CACHE_MB": 0, "ACCOUNTS": str(tmp_path / "accounts.sqlite")})
    client = app.test_client()
    frame = store.query("places", Query())
    expected = features_json(frame, json_fields=("extra",))
    for i in range(6):
        r = client.get(f"/ogc/collections/places/items/r{i}?f=json")
        assert r.status_code == 200, r.get_data(as_text=True)
        assert r.data.startswith(expected[i][:-1] + b',"links":'), (r.data, expected[i])
    r = client.get("/ogc/collections/places/items?f=json&limit=3&bbox=121,37,123,38")
    body = r.data
    start = body.index(b'"features":[') + len(b'"features":[')
    boxed = frame[frame.intersects(shapely.box(121, 37, 123, 38))].index[:3]
    assert body[start:-2] == b",".join(expected[i] for i in boxed)
    page = client.get("/ogc/collections/places/items?f=html&limit=10&lang=en")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "威海公园" in text and "1e+17" in text and "2.25e-07" in text


def test_a_pinned_version_is_read_once_and_a_write_forgets_it(tmp_path):
    store = BACKENDS["postgis"](tmp_path)
    store.replace({"places": gpd.GeoDataFrame({"id": ["a"], "name_zh": ["环翠楼"]},
                                              geometry=[shapely.Point(122.1, 37.5)], crs="EPSG:4326")})
    before = store.version()
    with store.pin_version():
        assert store.version() == before
        with pg.connect() as con:  # another program's edit: not seen while the version is pinned
            con.execute(f'UPDATE "{store.schema}".places SET name_zh = %s', ("刘公岛",))
        assert store.version() == before
        store.add("places", gpd.GeoDataFrame({"id": ["b"], "name_zh": ["成山头"]},
                                             geometry=[shapely.Point(122.2, 37.5)], crs="EPSG:4326"),
                  actor="测试", message="添加")
        after_write = store.version()  # its own write: seen at once
        assert after_write != before
        assert store.version() == after_write
    assert store.version() == after_write
    with pg.connect() as con:
        con.execute(f'UPDATE "{store.schema}".places SET name_zh = %s WHERE id = %s', ("金海湾", "b"))
    assert store.version() != after_write  # no pin: asked afresh


def test_an_edit_in_the_database_is_seen_by_the_next_request(tmp_path, monkeypatch):
    """Two requests of the same server, a plain SQL edit between them: the second has a new tag
    and the new value (the version is pinned for one request only)."""
    store = BACKENDS["postgis"](tmp_path)
    store.replace({"places": gpd.GeoDataFrame({"id": ["a"], "name_zh": ["环翠楼"]},
                                              geometry=[shapely.Point(122.1, 37.5)], crs="EPSG:4326")})
    monkeypatch.chdir(tmp_path)
    client = create_app({"STORE": store.url, "TESTING": True, "CACHE_MB": 0,
                         "ACCOUNTS": str(tmp_path / "accounts.sqlite")}).test_client()
    first = client.get("/ogc/collections/places/items/a?f=json")
    assert json.loads(first.data)["properties"]["name_zh"] == "环翠楼"
    with pg.connect() as con:
        con.execute(f'UPDATE "{store.schema}".places SET name_zh = %s', ("刘公岛",))
    second = client.get("/ogc/collections/places/items/a?f=json", headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200
    assert second.headers["ETag"] != first.headers["ETag"]
    assert json.loads(second.data)["properties"]["name_zh"] == "刘公岛"


def test_a_request_for_a_feature_by_id_is_one_statement(tmp_path, monkeypatch):
    """The statements one OGC request for a feature by id sends to the store's schema
    (log_statement in the test cluster's log): one, reading the version and the feature."""
    logged = "-c log_statement=all"
    store = BACKENDS["postgis"](tmp_path)
    store.replace({"places": gpd.GeoDataFrame({"id": ["a"], "name_zh": ["环翠楼"]},
                                              geometry=[shapely.Point(122.1, 37.5)], crs="EPSG:4326")})
    from geo.store import open_store

    url = store.url + "&options=" + logged.replace(" ", "%20").replace("=", "%3D")
    monkeypatch.chdir(tmp_path)
    client = create_app({"STORE": url, "TESTING": True, "CACHE_MB": 0,
                         "ACCOUNTS": str(tmp_path / "accounts.sqlite")}).test_client()
    assert open_store(url, key="id").version() == store.version()
    client.get("/ogc/collections/places/items/a?f=json")
    server_log = pg.log_path()
    start = server_log.stat().st_size
    r = client.get("/ogc/collections/places/items/a?f=json")
    assert r.status_code == 200
    with open(server_log, encoding="utf-8", errors="replace") as fh:
        fh.seek(start)
        text = fh.read()
    mine = [line for line in text.splitlines() if f'"{store.schema}".' in line and ("statement:" in line or "execute" in line)]
    assert len(mine) == 1, mine
    assert "atlas_head" in mine[0] and '"places" AS t' in mine[0], mine


def test_a_dense_box_page_of_ten_walks_the_key_index_right_after_a_build(tmp_path, monkeypatch):
    """A layer just written has the planner's statistics at once (not when autovacuum comes round),
    and a statement run again and again is planned for its own box (no generic plan): the first
    page of 10 of a box holding half the layer walks the key's index and stops, instead of sorting
    every match (auto_explain, in the test cluster's log)."""
    big, store = pg.explained_points(100_000, seed=7, ids="p{:05d}", names="点{}")
    monkeypatch.chdir(tmp_path)
    client = create_app({"STORE": store.url, "TESTING": True, "CACHE_MB": 0,
                         "ACCOUNTS": str(tmp_path / "accounts.sqlite")}).test_client()
    dense, sparse = "122.0,37.3,122.25,37.6", "122.0,37.3,122.01,37.31"
    for _ in range(8):  # the same statement many times, for other boxes and limits: planned each time anew
        for box, limit in ((dense, 1000), (sparse, 1000), (dense, 10)):
            assert client.get(f"/ogc/collections/big/items?f=json&limit={limit}&bbox={box}").status_code == 200
    server_log = pg.log_path()
    start = server_log.stat().st_size
    r = client.get(f"/ogc/collections/big/items?f=json&limit=10&bbox={dense}")
    inside = big[big.geometry.x <= 122.25]["id"].tolist()
    assert [f["id"] for f in json.loads(r.data)["features"]] == sorted(inside)[:10]
    with open(server_log, encoding="utf-8", errors="replace") as fh:
        fh.seek(start)
        entries = fh.read().split("LOG:  duration:")
    page = [e for e in entries if '"big" AS t' in e and "ORDER BY" in e and "LIMIT" in e]
    assert len(page) == 1, entries
    assert "Index Scan using big_id_idx" in page[0] and "Sort" not in page[0], page[0]


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_a_read_by_id_follows_a_change_of_columns(backend, tmp_path):
    """A read by id (its statement kept a store version on PostGIS) gives the layer's columns as
    they are after the layer is replaced with other columns, and the rows by every id asked."""
    store = BACKENDS[backend](tmp_path)
    point = [shapely.Point(122.12, 37.50), shapely.Point(122.13, 37.51)]
    store.replace({"parks": gpd.GeoDataFrame({"id": ["园1", "园2"], "name_zh": ["威海公园", "幸福公园"]},
                                             geometry=point, crs="EPSG:4326")})
    first = store.records("parks", Query(ids=("园2",), limit=1))
    assert set(first.columns) == {"name_zh", "id"}
    assert [dict(zip(first.columns, r))["name_zh"] for r in first.rows] == ["幸福公园"]
    store.replace({"parks": gpd.GeoDataFrame({"id": ["园1", "园2"], "name_zh": ["威海公园", "幸福公园"],
                                              "area_mu": [12.5, 30.0]}, geometry=point, crs="EPSG:4326")})
    again = store.records("parks", Query(ids=("园2", "园1")))
    assert "area_mu" in again.columns
    got = sorted((dict(zip(again.columns, r))["id"], dict(zip(again.columns, r))["area_mu"]) for r in again.rows)
    assert got == [("园1", 12.5), ("园2", 30.0)]


def test_a_read_by_id_keeps_a_prepared_plan_and_a_box_is_planned_for_its_own_values(tmp_path, monkeypatch):
    """On the one connection of a store's pool (pool_max=1): after many OGC reads by id, their
    statement (the version's, with the feature) is a prepared statement on generic plans; the
    statements of a box's pages, run as often, are never prepared (each planned for its box)."""
    store = BACKENDS["postgis"](tmp_path)
    store.replace({"places": gpd.GeoDataFrame({"id": ["甲", "乙"], "name_zh": ["环翠楼", "刘公岛"]},
                                              geometry=[shapely.Point(122.1, 37.5), shapely.Point(122.2, 37.51)],
                                              crs="EPSG:4326")})
    url = store.url + "&pool_min=1&pool_max=1"
    monkeypatch.chdir(tmp_path)
    client = create_app({"STORE": url, "TESTING": True, "CACHE_MB": 0,
                         "ACCOUNTS": str(tmp_path / "accounts.sqlite")}).test_client()
    for i in range(12):
        assert client.get(f"/ogc/collections/places/items/{'甲' if i % 2 else '乙'}?f=json").status_code == 200
        box = f"122.0,37.4,122.{15 + i},37.6"
        assert client.get(f"/ogc/collections/places/items?f=json&limit=10&bbox={box}").status_code == 200
    from geo.store import open_store
    from geo.store.pg_conn import pool

    opened = open_store(url, key="id")
    with pool(opened.conninfo, opened.options).connection() as con:
        prepared = con.execute("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements").fetchall()
    by_id = [p for p in prepared if "atlas_head" in p[0] and '"places" AS t' in p[0]]
    assert len(by_id) == 1 and by_id[0][1] > 0, prepared
    assert not [p for p in prepared if "&&" in p[0] or "ST_Intersects" in p[0]], prepared
