"""The storage interface, run unchanged against every backend (``BACKENDS``: GeoPackage now; a
server backend joins by adding a factory). Nothing here knows how a backend stores things: only
what the interface promises."""
from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geo.errors import CRSError, InvalidParameter, NotFound, StoreError
from geo.store import Field, Query, open_store
from tests import pg


def frame(n=5, crs="EPSG:4326", prefix="t"):
    return gpd.GeoDataFrame(
        {
            "id": [f"{prefix}-{i}" for i in range(n)],
            "name_zh": [f"测试路{i}号" for i in range(n)],
            "name_en": [f"Test Road {i}" for i in range(n)],
            "category": ["a" if i % 2 else "b" for i in range(n)],
            "district": ["371002"] * (n - 1) + ["371003"],
            "year": pd.array([2018 + i if i != 2 else None for i in range(n)], dtype="Int64"),
            "area": [i * 1.5 for i in range(n)],
            "open": [i % 2 == 0 for i in range(n)],
            "since": [f"2021-11-1{i}" for i in range(n)],
            "figures": ['[{"value": %d}]' % i for i in range(n)],
        },
        geometry=[shapely.Point(122.0 + i * 0.1, 37.5) for i in range(n)],
        crs=crs,
    )


DECLARED = (Field("since", "date"), Field("figures", "json"))
TEXT = ("name_zh", "name_en")


def gpkg(tmp_path):
    return open_store(tmp_path / "s.gpkg", key="id")


def postgis(tmp_path):
    return open_store(pg.fresh_url(), key="id")


BACKENDS = {"gpkg": gpkg, "postgis": postgis}


@pytest.fixture(params=list(BACKENDS))
def store(request, tmp_path):
    s = BACKENDS[request.param](tmp_path)
    s.replace({"points": frame(), "more": frame(2, prefix="m")}, {"points": DECLARED, "more": DECLARED})
    return s


def ids(store, q, layer="points"):
    return list(store.query(layer, q)["id"])


def test_layers_info_fields_and_bbox(store):
    assert store.layers() == ["points", "more"]
    info = store.info("points")
    assert info.count == 5 and info.geometry_type == "Point" and info.crs == "EPSG:4326"
    assert info.bbox == pytest.approx((122.0, 37.5, 122.4, 37.5))
    assert store.fields("points") == info.fields
    assert {f.name: f.type for f in info.fields} == {
        "id": "str", "name_zh": "str", "name_en": "str", "category": "str", "district": "str",
        "year": "int", "area": "float", "open": "bool", "since": "date", "figures": "json"}
    with pytest.raises(NotFound):
        store.fields("nope")


def test_values_come_back_as_written(store):
    row = store.query("points", Query(ids=("t-3",))).iloc[0]
    assert row["name_zh"] == "测试路3号" and row["year"] == 2021 and row["area"] == 4.5
    assert bool(row["open"]) is False and row["since"] == "2021-11-13" and row["figures"] == '[{"value": 3}]'
    assert row.geometry.equals(shapely.Point(122.3, 37.5))
    assert pd.isna(store.query("points", Query(ids=("t-2",)))["year"].iloc[0])  # a null stays null


def test_query_filters_count_and_paging(store):
    assert ids(store, Query()) == [f"t-{i}" for i in range(5)]
    assert ids(store, Query(bbox=(122.05, 37.4, 122.25, 37.6))) == ["t-1", "t-2"]
    assert ids(store, Query(equals={"category": ("a",)})) == ["t-1", "t-3"]
    assert ids(store, Query(equals={"category": ("a",), "district": ("371003",)})) == []
    assert ids(store, Query(text="路3", text_fields=TEXT)) == ["t-3"]
    assert ids(store, Query(text="test road 4", text_fields=TEXT)) == ["t-4"]  # case-insensitive English
    assert ids(store, Query(text="路3")) == []  # no text fields named: nothing to search in
    assert ids(store, Query(ids=("t-4", "t-0"))) == ["t-0", "t-4"]
    assert ids(store, Query(ids=())) == []
    assert ids(store, Query(limit=2, offset=1)) == ["t-1", "t-2"]
    assert store.count("points", Query(limit=2, offset=1)) == 5  # the count ignores the page
    assert store.count("points", Query(equals={"category": ("a",)})) == 2
    empty = store.query("points", Query(text="没有", text_fields=TEXT))
    assert store.count("points", Query(text="没有", text_fields=TEXT)) == 0
    assert len(empty) == 0 and "name_zh" in empty.columns
    assert list(store.query("points", Query(columns=("id", "year"), limit=1)).columns) == ["id", "year", "geometry"]


def test_values_are_parameters_not_sql(store):
    assert ids(store, Query(text="' OR 1=1 --", text_fields=TEXT)) == []
    assert ids(store, Query(text="%", text_fields=TEXT)) == []  # LIKE wildcards are literal
    assert ids(store, Query(equals={"category": ("a' OR '1'='1",)})) == []


def test_unknown_field_and_layer(store):
    with pytest.raises(InvalidParameter):
        store.query("points", Query(equals={"name_zh; DROP TABLE points": ("x",)}))
    with pytest.raises(InvalidParameter):
        store.query("points", Query(columns=("nope",)))
    with pytest.raises(NotFound):
        store.info("nope")


def test_find_by_the_key(store):
    layer, row = store.find("m-1")
    assert layer == "more" and row["name_zh"].iloc[0] == "测试路1号"
    assert store.find("missing") is None


def test_stream_reads_every_row_once_in_key_order(tmp_path):
    """25,000 features streamed in chunks: each row exactly once, in the order of the key, with the
    page (offset, limit) applied to the whole and not to each chunk."""
    for make in BACKENDS.values():
        s = make(tmp_path)
        n = 25_000
        big = gpd.GeoDataFrame({"id": [f"r{i:05d}" for i in range(n)], "k": range(n)},
                               geometry=[shapely.Point(122 + (i % 100) / 1000, 37.5) for i in range(n)],
                               crs="EPSG:4326")
        s.replace({"roads": big})
        chunks = list(s.stream("roads", Query(), chunk_size=4096))
        assert [len(c) for c in chunks] == [4096] * 6 + [n - 6 * 4096]
        seen = pd.concat([c["k"] for c in chunks]).tolist()
        assert seen == list(range(n))  # every row once, in order
        paged = pd.concat(list(s.stream("roads", Query(offset=10, limit=5000), chunk_size=1000)))
        assert paged["k"].tolist() == list(range(10, 5010))
        filtered = list(s.stream("roads", Query(bbox=(122.0, 37.4, 122.0095, 37.6)), chunk_size=1000))
        assert sum(len(c) for c in filtered) == s.count("roads", Query(bbox=(122.0, 37.4, 122.0095, 37.6))) == 2500


def test_a_rebuild_during_a_stream_does_not_mix_versions(store):
    stream = store.stream("points", Query(), chunk_size=2)
    first = next(stream)
    store.replace({"points": frame(5, prefix="new")})
    rest = list(stream)
    assert first["id"].tolist() + [i for c in rest for i in c["id"]] == [f"t-{i}" for i in range(5)]
    assert ids(store, Query()) == [f"new-{i}" for i in range(5)]  # a new read sees the new store


def _snapshot(store):
    return {layer: ids(store, Query(), layer) for layer in store.layers()}


@pytest.mark.parametrize("bad", [
    {"points": frame(crs=None)},
    {"points": frame(crs="EPSG:4550")},
    {"points": frame().assign(id=["x"] * 5)},
    {"points": frame().assign(id=[None, "a", "b", "c", "d"])},
    {"Bad-Name": frame()},
])
def test_rejected_writes_leave_the_store_unchanged(store, bad):
    before = _snapshot(store)
    with pytest.raises((StoreError, CRSError, InvalidParameter)):
        store.replace(bad)
    assert _snapshot(store) == before


def test_a_failure_midway_leaves_the_store_unchanged(store, monkeypatch):
    import pyogrio

    from geo.store.pg_edit import PostGISEditor

    # the backend's own writing of a layer's rows fails for the second layer
    owner, name = (pyogrio, "write_arrow") if store.url.startswith("gpkg") else (PostGISEditor, "_copy_rows")
    real = getattr(owner, name)
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, flaky)
    before = _snapshot(store)
    with pytest.raises(StoreError) as caught:
        store.replace({"points": frame(3), "more": frame(1, prefix="m")})
    assert "disk full" not in caught.value.detail and "disk full" in caught.value.internal  # detail for the log
    assert _snapshot(store) == before


def test_missing_store_says_how_to_build(tmp_path):
    with pytest.raises(StoreError, match="make build"):
        open_store(tmp_path / "none.gpkg", key="id").layers()


def test_a_file_that_is_not_a_store_is_a_store_error(tmp_path):
    path = tmp_path / "broken.gpkg"
    path.write_bytes(b"this is not a GeoPackage\n" * 100)
    with pytest.raises(StoreError) as caught:
        open_store(path, key="id").layers()
    assert str(tmp_path) not in caught.value.detail and str(path) in caught.value.internal


@pytest.mark.parametrize("url", ["atlas.sqlite", "mysql://u@h/db"])
def test_unsupported_urls_say_what_to_use(url):
    with pytest.raises(StoreError, match=r"\.gpkg.*postgresql://"):
        open_store(url, key="id")


def test_a_postgis_store_not_built_says_how_to_build():
    store = open_store(pg.fresh_url(), key="id")
    assert not store.exists() and store.version() == "none"
    with pytest.raises(StoreError, match="make build"):
        store.layers()


def test_an_unreachable_database_is_a_store_error_without_its_address(tmp_path):
    store = open_store(f"postgresql://atlas@/atlas?host={tmp_path}&port=1&connect_timeout=1&pool_timeout=1s", key="id")
    with pytest.raises(StoreError) as caught:
        store.exists()
    assert "cannot be reached" in caught.value.detail and str(tmp_path) not in caught.value.detail


@pytest.fixture(scope="module")
def random_layer(tmp_path_factory):
    """2,000 random lines and points with categories and names, and the frame they were made from."""
    import numpy as np

    rng = np.random.default_rng(7)
    n = 2000
    x, y = rng.uniform(121.9, 122.4, n), rng.uniform(37.25, 37.58, n)
    dx, dy = rng.uniform(-0.01, 0.01, n), rng.uniform(-0.01, 0.01, n)
    geoms = [shapely.Point(x[i], y[i]) if i % 3 == 0 else shapely.LineString([(x[i], y[i]), (x[i] + dx[i], y[i] + dy[i])])
             for i in range(n)]
    truth = gpd.GeoDataFrame({"id": [f"f{i:04d}" for i in range(n)],
                              "category": rng.choice(["主干路", "次干路", "支路"], n),
                              "name_zh": [f"{'威海' if i % 5 else '环翠'}路{i}" for i in range(n)]},
                             geometry=geoms, crs="EPSG:4326")
    results = {}
    for name, make in BACKENDS.items():
        s = make(tmp_path_factory.mktemp(name))
        s.replace({"lines": truth})
        results[name] = s
    return results, truth


BOXES = [(122.0, 37.3, 122.1, 37.4), (121.9, 37.25, 122.4, 37.58), (122.2, 37.5, 122.2001, 37.5001),
         (120.0, 30.0, 120.1, 30.1), (122.05, 37.45, 122.2, 37.55)]


def _brute(truth, bbox=None, category=None, text=None):
    """The same selection by shapely, row by row: the bbox meets the feature's bounding box."""
    keep = []
    for row in truth.itertuples():
        if bbox is not None:
            minx, miny, maxx, maxy = row.geometry.bounds
            if maxx < bbox[0] or minx > bbox[2] or maxy < bbox[1] or miny > bbox[3]:
                continue
        if category is not None and row.category not in category:
            continue
        if text is not None and text not in row.name_zh:
            continue
        keep.append(row.id)
    return keep


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("bbox", BOXES)
@pytest.mark.parametrize("category,text", [(None, None), (("支路",), None), (("主干路", "次干路"), "环翠")])
def test_queries_match_a_brute_force_filter_page_by_page(random_layer, backend, bbox, category, text):
    stores, truth = random_layer
    store = stores[backend]
    want = _brute(truth, bbox, category, text)
    q = Query(bbox=bbox, equals={"category": category} if category else {}, text=text, text_fields=("name_zh",))
    assert store.count("lines", q) == len(want)
    got, offset = [], 0
    while True:  # pages of 97: none lost, none repeated, in key order
        page = list(store.query("lines", Query(**{**q.__dict__, "limit": 97, "offset": offset}))["id"])
        got += page
        offset += 97
        if len(page) < 97:
            break
    assert got == want
    assert [i for c in store.stream("lines", q, chunk_size=250) for i in c["id"]] == want


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_a_bounded_count_is_exact_up_to_its_bound(random_layer, backend):
    stores, truth = random_layer
    store = stores[backend]
    q = Query(equals={"category": ("支路",)})
    exact = len(_brute(truth, category=("支路",)))
    assert exact > 100
    assert store.count("lines", q, at_most=10_000) == exact  # under the bound: exact
    assert store.count("lines", q, at_most=100) > 100  # over it: "more than 100"
    assert store.count("lines", q, at_most=exact) == exact

