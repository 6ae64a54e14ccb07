"""The attribute table's reads of the store — order, keyset cursor, ranges, per-field substrings,
rows without geometry, totals — against brute force: pandas sorting and filtering the same data,
with ties and NULLs everywhere. NULL is the smallest value: first ascending, last descending."""
from __future__ import annotations

import sqlite3
from contextlib import closing

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.errors import InvalidParameter
from geo.store import Field, Query, open_store, sort_order
from geo.store import gpkg_table
from tests import pg

N = 400


def data(n=N, seed=11) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    pick = lambda values, p_null: [None if rng.random() < p_null else values[rng.integers(len(values))] for _ in range(n)]
    return gpd.GeoDataFrame({
        "id": [f"k{i:04d}" for i in rng.permutation(n)],  # the key's order is not the rows' order
        "area": pd.array(pick([0.0, 1.5, 2.25, 10.0, 99.5], 0.2), dtype="Float64").astype("float64"),
        "year": pd.array(pick([2015, 2018, 2021], 0.3), dtype="Int64"),
        "name": pick(["华夏城", "望岛路", "Huaxia", "huaxia road", "路_%", "a"], 0.15),
        "since": pick(["2019-01-05", "2021-11-18", "2021-11-30", "2024-02-29"], 0.25),
        "open": pd.array(pick([True, False], 0.2), dtype="boolean"),
    }, geometry=[shapely.Point(122 + rng.random() * 0.2, 37.4 + rng.random() * 0.2) for _ in range(n)],
        crs="EPSG:4326")


DECLARED = (Field("since", "date"),)


BACKENDS = {"gpkg": lambda folder: open_store(folder / "t.gpkg", key="id"),
            "postgis": lambda folder: open_store(pg.fresh_url(), key="id")}


@pytest.fixture(scope="module", params=list(BACKENDS))
def store(request, tmp_path_factory):
    s = BACKENDS[request.param](tmp_path_factory.mktemp("table"))
    s.replace({"pts": data()}, {"pts": DECLARED})
    return s


def brute(frame: pd.DataFrame, order) -> list[str]:
    """The key order of ``frame`` by pandas: per field a NULL flag then the value, stable."""
    keys, ascending = {}, []
    for i, (name, descending) in enumerate(order):
        numeric = pd.api.types.is_numeric_dtype(frame[name].dtype)
        col = frame[name].astype(object)
        keys[f"n{i}"] = col.notna().astype(int)
        keys[f"v{i}"] = col.where(col.notna(), 0 if numeric else "").astype(float if numeric else object)
        ascending += [not descending] * 2
    table = pd.DataFrame(keys, index=frame.index)
    return list(frame.loc[table.sort_values(list(keys), ascending=ascending, kind="mergesort").index, "id"])


def walk(store, layer, query, limit) -> list[str]:
    """Every page by keyset: the keys in the order read, and that no page was empty before the end."""
    seen, after = [], None
    while True:
        page = store.rows(layer, Query(**{**query.__dict__, "limit": limit, "after": after}))
        seen += list(page.frame["id"])
        after = page.after
        if after is None:
            return seen
        assert len(page.frame) == limit


ORDERS = [
    (("area", False),), (("area", True),), (("year", True), ("name", False)), (("name", False),),
    (("since", True), ("area", False), ("year", True)), (("open", False), ("area", True)), (("id", True),),
    (("name", True), ("id", False), ("area", False)),  # the key in the middle: nothing after it counts
]


@pytest.mark.parametrize("order", ORDERS, ids=lambda o: ",".join(("-" if d else "") + n for n, d in o))
def test_keyset_pages_read_the_brute_force_order_exactly_once(store, order):
    frame = data()
    completed = sort_order(Query(order_by=order), "id")
    expected = brute(frame, completed)
    assert completed[-1][0] == "id" and len(set(expected)) == N
    for limit in (1, 7, 50, N):
        assert walk(store, "pts", Query(order_by=order), limit) == expected
    # the same order by offset (rows: sought as a cursor first), with geometry (query) and streamed
    for offset in (1, 100, N - 3, N, N + 5):
        page = store.rows("pts", Query(order_by=order, limit=30, offset=offset))
        assert list(page.frame["id"]) == expected[offset:offset + 30]
        assert (page.after is None) == (offset + 30 >= N)
    assert list(store.query("pts", Query(order_by=order, limit=30, offset=100))["id"]) == expected[100:130]
    assert [i for c in store.stream("pts", Query(order_by=order), chunk_size=64) for i in c["id"]] == expected


def test_nulls_are_the_smallest_value(store):
    asc = store.rows("pts", Query(order_by=(("area", False),), limit=N)).frame["area"]
    desc = store.rows("pts", Query(order_by=(("area", True),), limit=N)).frame["area"]
    nulls = int(asc.isna().sum())
    assert nulls > 0 and asc.iloc[:nulls].isna().all() and asc.iloc[nulls:].notna().all()
    assert desc.iloc[-nulls:].isna().all() and desc.iloc[0] == 99.5


def test_ties_are_broken_by_the_key_in_the_direction_of_the_last_field(store):
    page = store.rows("pts", Query(order_by=(("area", True),), limit=N)).frame
    tie = page[page["area"] == 10.0]["id"].tolist()
    assert len(tie) > 5 and tie == sorted(tie, reverse=True)
    assert sort_order(Query(order_by=(("area", True), ("name", False))), "id")[-1] == ("id", False)


def _filtered(frame):
    f = frame
    keep = (f["area"].notna() & (f["area"] >= 1.5) & (f["area"] <= 10.0)
            & f["since"].notna() & (f["since"].astype(object).fillna("") >= "2021-11-01")
            & f["name"].fillna("").str.lower().str.contains("huaxia", regex=False))
    return f[keep]


def test_ranges_and_substrings_match_pandas_and_totals_sum_them(store):
    q = Query(ranges={"area": (1.5, 10.0), "since": ("2021-11-01", None)}, contains={"name": "HUAXIA"},
              order_by=(("area", True),))
    expected = _filtered(data())
    assert walk(store, "pts", q, 3) == brute(expected, sort_order(q, "id"))
    assert store.count("pts", q) == len(expected) > 0
    totals = store.totals("pts", q, ["area", "year"])
    assert totals["count"] == len(expected)
    assert totals["area"] == pytest.approx(expected["area"].sum())
    assert totals["year"] == int(expected["year"].sum())
    assert store.totals("pts", Query(ranges={"area": (1000.0, None)}), ["area"]) == {"count": 0, "area": None}
    # one open end, an integer range, a literal wildcard
    assert store.count("pts", Query(ranges={"year": (None, 2018)})) == int((data()["year"] <= 2018).sum())
    assert list(store.rows("pts", Query(contains={"name": "_%"}, limit=N)).frame["name"].unique()) == ["路_%"]


def test_rows_carry_the_attributes_and_boxes_without_geometry(store):
    page = store.rows("pts", Query(columns=("id", "name"), order_by=(("area", True),), limit=5))
    assert list(page.frame.columns) == ["id", "name"] and page.bounds.shape == (5, 4)
    truth = data().set_index("id").geometry
    for key, box in zip(page.frame["id"], page.bounds):
        pt = truth[key]
        assert box[0] <= pt.x <= box[2] and box[1] <= pt.y <= box[3] and box[2] - box[0] < 1e-4
    assert len(page.after) == 2 and page.after[-1] == page.frame["id"].iloc[-1]
    last = store.rows("pts", Query(order_by=(("area", True),), limit=N + 5))
    assert last.after is None and len(last.frame) == N


def test_values_and_names_are_never_sql(store):
    for bad in ({"order_by": (('area" DESC; DROP TABLE pts; --', False),)},
                {"ranges": {"area; DROP TABLE pts": (0, 1)}}, {"contains": {"nope": "x"}}):
        with pytest.raises(InvalidParameter):
            store.rows("pts", Query(**bad))
    assert store.count("pts", Query(contains={"name": "' OR 1=1 --"})) == 0
    assert store.rows("pts", Query(order_by=(("area", False),), after=("' OR 1=1", "x"), limit=3)).frame.empty
    assert store.info("pts").count == N


@pytest.mark.parametrize("query, parameter", [
    (Query(order_by=(("area", False),), after=(1.5,)), "after"),            # one value short
    (Query(order_by=(("area", False),), after=(1.5, None)), "after"),       # a null key
    (Query(order_by=(("area", False),), after=([1], "k")), "after"),        # not a scalar
    (Query(order_by=(("area", False),), after=(1.5, "k"), offset=3), "after"),
    (Query(order_by=(("area", False), ("area", True))), "sort"),
    (Query(ranges={"area": ("big", None)}), "area"),
    (Query(ranges={"since": (3, None)}), "since"),
])
def test_bad_orders_cursors_and_bounds_are_refused(store, query, parameter):
    with pytest.raises(InvalidParameter) as caught:
        store.rows("pts", query)
    assert caught.value.parameter == parameter


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_json_fields_cannot_be_sorted_or_totalled(tmp_path, backend):
    s = BACKENDS[backend](tmp_path)
    s.replace({"pts": data(5).assign(doc='{"a": 1}')}, {"pts": (*DECLARED, Field("doc", "json"))})
    with pytest.raises(InvalidParameter, match="JSON"):
        s.rows("pts", Query(order_by=(("doc", False),)))
    with pytest.raises(InvalidParameter, match="numbers"):
        s.totals("pts", Query(), ["name"])


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_as_of_reads_take_the_same_order_after_the_past_view(tmp_path, backend):
    s = BACKENDS[backend](tmp_path)
    s.replace({"pts": data()}, {"pts": DECLARED})
    when = s.history(limit=1)[0].time
    frame = data()
    victim = brute(frame, (("area", True), ("id", True)))[0]
    s.update("pts", victim, properties={"area": -1.0}, actor="test", message="moved to the end")
    s.delete("pts", [brute(frame, (("area", True), ("id", True)))[1]], actor="test", message="gone")
    q = Query(order_by=(("area", True),), ranges={"area": (1.5, None)}, as_of=when)
    past = frame[frame["area"].notna() & (frame["area"] >= 1.5)]
    assert walk(s, "pts", q, 9) == brute(past, sort_order(q, "id"))
    assert s.totals("pts", q, ["area"])["area"] == pytest.approx(past["area"].sum())
    now = walk(s, "pts", Query(order_by=(("area", True),), ranges={"area": (1.5, None)}), 9)
    assert victim not in now and len(now) == len(past) - 2


def test_a_large_layer_gets_one_sort_index_that_serves_deep_pages(tmp_path):
    s = open_store(tmp_path / "big.gpkg", key="id")
    big = data(gpkg_table.SORT_INDEX_MIN_ROWS + 100, seed=3)
    s.replace({"pts": big}, {"pts": DECLARED})
    order = (("area", True),)
    first = s.rows("pts", Query(order_by=order, limit=20))
    with closing(sqlite3.connect(s.path)) as con:
        made = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'pts'")]
    assert "idx_pts_sort_area" in made
    s.rows("pts", Query(order_by=order, limit=20))  # asked again: no second index
    expected = brute(big, sort_order(Query(order_by=order), "id"))
    deep = s.rows("pts", Query(order_by=order, limit=20, offset=4000))
    assert list(deep.frame["id"]) == expected[4000:4020]
    page = s.rows("pts", Query(order_by=order, limit=20, after=deep.after))
    assert list(page.frame["id"]) == expected[4020:4040] and list(first.frame["id"]) == expected[:20]
    meta = s._layer("pts")
    with closing(sqlite3.connect(s.path)) as con:
        for sql, params in s._statements("pts", meta, Query(order_by=order, after=deep.after),
                                         sort_order(Query(order_by=order), "id"), "t.id"):
            plan = " ".join(r[3] for r in con.execute("EXPLAIN QUERY PLAN " + sql, params + [20, 0]))
            assert "idx_pts_sort_area" in plan and "TEMP B-TREE" not in plan, plan
    with closing(sqlite3.connect(s.path)) as con:
        small = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE '%sort%'")]
    assert small == ["idx_pts_sort_area"]
