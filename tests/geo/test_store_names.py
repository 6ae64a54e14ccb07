"""Fields whose names hold ``%`` (a planner's "增长率%", "占比%s", "a%%b") beside a plain Chinese one,
through every read and write of the store interface on every backend of ``test_store.BACKENDS``:
reads (query, records, rows, stream, count, totals), orders and cursors on them, each kind of
filter on them, CQL2 on them, edits, bulk writes, the log (history, versions, as-of, compare,
restores), a key field named so, and a copy GeoPackage -> PostGIS -> GeoPackage. psycopg reads a
statement executed with parameters for ``%`` placeholders, identifiers included: a name such as
``"x%"`` failed every read of the PostGIS store."""
from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geo import cql2
from geo.store import Field, Query, open_store
from geo.store.copy import copy_store
from tests import pg
from tests.geo.test_store import BACKENDS

RATE, SHARE, ODD, NAME, DAY = "增长率%", "占比%s", "a%%b", "名称", "日期%"
LAYER = "plans"
IDS = [f"p{i}" for i in range(5)]


def plans(ids=IDS, key="id"):
    """The five features p0…p4 (more ids: their values again, in turn)."""
    n = None
    values = {
        NAME: ["环翠区规划", "文登区规划", "荣成市规划", "乳山市规划", "高区规划"],
        RATE: [1.5, n, 3.0, 0.5, 2.0],
        SHARE: ["10%", "20%s", "a%%b", n, "5%"],
        ODD: [3, 1, 2, n, 5],
        DAY: ["2021-03-01", "2020-12-31", n, "2022-06-30", "2021-01-01"],
    }
    rows = {name: [v[i % 5] for i in range(len(ids))] for name, v in values.items()}
    rows[ODD] = pd.array(rows[ODD], dtype="Int64")
    return gpd.GeoDataFrame({key: list(ids), **rows},
                            geometry=[shapely.Point(122.0 + (i % 5) * 0.1, 37.5) for i in range(len(ids))],
                            crs="EPSG:4326")


DECLARED = {LAYER: (Field(DAY, "date"),)}


@pytest.fixture(params=list(BACKENDS))
def store(request, tmp_path):
    s = BACKENDS[request.param](tmp_path)
    s.replace({LAYER: plans()}, DECLARED)
    return s


def ids(store, **query):
    return list(store.query(LAYER, Query(**query))["id"])


def where(text):
    return cql2.parse(text)


def test_fields_and_values_read_back(store):
    assert {f.name: f.type for f in store.fields(LAYER)} == {
        "id": "str", NAME: "str", RATE: "float", SHARE: "str", ODD: "int", DAY: "date"}
    assert store.info(LAYER).count == 5
    row = store.query(LAYER, Query(ids=("p2",))).iloc[0]
    assert (row[NAME], row[RATE], row[SHARE], row[ODD]) == ("荣成市规划", 3.0, "a%%b", 2) and pd.isna(row[DAY])
    assert list(store.query(LAYER, Query(columns=("id", ODD, SHARE))).columns) == ["id", ODD, SHARE, "geometry"]
    # records: by ids alone (the statement rendered once a store version), and with a filter
    for q in (Query(ids=("p1",), limit=1), Query(equals={SHARE: ("20%s",)})):
        got = [dict(zip(store.records(LAYER, q).columns, r)) for r in store.records(LAYER, q).rows]
        assert len(got) == 1 and pd.isna(got[0].pop(RATE))  # None or NaN: records are as each backend gives them
        assert got == [{"id": "p1", NAME: "文登区规划", SHARE: "20%s", ODD: 1, DAY: "2020-12-31"}]
    assert store.find("p4")[1][DAY].tolist() == ["2021-01-01"]


@pytest.mark.parametrize("query, want", [
    ({"equals": {SHARE: ("20%s",)}}, ["p1"]),
    ({"equals": {ODD: ("2",)}}, ["p2"]),
    ({"equals": {DAY: ("2021-01-01",)}}, ["p4"]),
    ({"equals": {RATE: ("3", "0.5")}}, ["p2", "p3"]),
    ({"ranges": {RATE: (1.0, 2.5)}}, ["p0", "p4"]),
    ({"ranges": {ODD: (2, None)}}, ["p0", "p2", "p4"]),
    ({"ranges": {DAY: ("2021-01-01", "2021-12-31")}}, ["p0", "p4"]),
    ({"contains": {SHARE: "%s"}}, ["p1"]),  # the % of a value is a character, not a wildcard
    ({"contains": {SHARE: "%"}}, ["p0", "p1", "p2", "p4"]),
    ({"contains": {NAME: "登区"}}, ["p1"]),
    ({"text": "20%", "text_fields": (SHARE, NAME)}, ["p1"]),
    ({"text": "荣成", "text_fields": (SHARE, NAME)}, ["p2"]),
    ({"where": where('"增长率%" > 1 AND "a%%b" < 5')}, ["p0", "p2"]),
    ({"where": where(r""""占比%s" LIKE '%\%s'""")}, ["p1"]),
    ({"where": where(""""a%%b" IS NULL OR "占比%s" = 'a%%b'""")}, ["p2", "p3"]),
    ({"where": where(""""日期%" >= DATE('2021-01-01')""")}, ["p0", "p3", "p4"]),
    ({"where": where(""""名称" LIKE '%市规划' AND "增长率%" BETWEEN 0 AND 1""")}, ["p3"]),
    ({"where": where('"增长率%" > 1'), "bbox": (122.15, 37.4, 122.45, 37.6)}, ["p2", "p4"]),
])
def test_every_filter_on_such_fields(store, query, want):
    assert ids(store, **query) == want
    assert store.count(LAYER, Query(**query)) == len(want)
    assert [i for c in store.stream(LAYER, Query(**query), chunk_size=1) for i in c["id"]] == want


def test_count_and_totals(store):
    assert store.count(LAYER, Query(where=where('"增长率%" >= 1')), at_most=1) > 1
    assert store.totals(LAYER, Query(), [RATE, ODD]) == {"count": 5, RATE: 7.0, ODD: 11}
    assert store.totals(LAYER, Query(where=where('"a%%b" > 1'), equals={SHARE: ("10%", "5%")}),
                        [RATE, ODD]) == {"count": 2, RATE: 3.5, ODD: 8}


def _pages(store, order, size, **query):
    seen, after, cursors = [], None, []
    while True:
        page = store.rows(LAYER, Query(order_by=order, after=after, limit=size, **query))
        seen += list(page.frame["id"])
        if page.after is None:
            return seen, cursors
        after = page.after
        cursors.append(after)


def test_orders_and_cursors_on_such_fields(store):
    # descending, NULL last (the cursor in the runs' general form: the field may be NULL)
    assert _pages(store, ((RATE, True),), 2) == (["p2", "p4", "p0", "p3", "p1"], [(2.0, "p4"), (0.5, "p3")])
    # ascending, NULL first (a cursor holding NULL, then numbers: the row-value comparison)
    assert _pages(store, ((ODD, False),), 1)[0] == ["p3", "p1", "p2", "p0", "p4"]
    assert _pages(store, ((SHARE, True), (ODD, False)), 2)[0] == ["p2", "p4", "p1", "p0", "p3"]
    # text by code point: 乳 文 环 荣 高
    assert ids(store, order_by=((NAME, False),)) == ["p3", "p1", "p0", "p2", "p4"]
    assert ids(store, order_by=((NAME, False),), after=("环翠区规划", "p0"), limit=5) == ["p2", "p4"]
    assert ids(store, order_by=((DAY, True),), after=("2021-01-01", "p4"), limit=5) == ["p1", "p2"]
    assert _pages(store, ((RATE, False),), 1, where=where('"a%%b" <> 2'))[0] == ["p1", "p0", "p4"]
    assert [i for c in store.stream(LAYER, Query(order_by=((RATE, True),)), chunk_size=2) for i in c["id"]] == [
        "p2", "p4", "p0", "p3", "p1"]


def test_edits_bulk_writes_and_the_log(store):
    built = store.history(limit=1)[0]
    new = plans(["p5"]).assign(**{NAME: ["新区规划"], RATE: [4.5], SHARE: ["50%s"], ODD: [7], DAY: ["2023-01-01"]})
    store.add(LAYER, new, actor="规划师", message="新增")
    updated = store.update(LAYER, "p0", properties={RATE: 9.5, SHARE: "99%"}, actor="规划师", message="改")
    store.delete(LAYER, ["p3"], actor="规划师", message="删")
    upsert = plans(["p1", "p6"]).assign(**{ODD: [10, 11]})
    store.upsert(LAYER, upsert, actor="规划师", message="合并")
    many = plans([f"q{i:03d}" for i in range(200)]).assign(**{RATE: [i / 4 for i in range(200)]})
    store.add(LAYER, many, actor="规划师", message="批量")

    assert store.count(LAYER, Query()) == 4 + 1 + 1 + 200
    row = store.query(LAYER, Query(ids=("p0",))).iloc[0]
    assert (row[RATE], row[SHARE], row[ODD]) == (9.5, "99%", 3)
    assert ids(store, equals={SHARE: ("50%s",)}) == ["p5"]
    assert ids(store, ids=("p1", "p6")) == ["p1", "p6"]
    assert store.query(LAYER, Query(ids=("p1", "p6")))[ODD].tolist() == [10, 11]
    assert store.totals(LAYER, Query(where=where("\"增长率%\" > 49 AND id LIKE 'q%'")), [RATE]) == {
        "count": 3, RATE: 49.25 + 49.5 + 49.75}

    change = updated.changes[0]
    assert (change.op, change.before[RATE], change.after[RATE], change.after[SHARE]) == ("update", 1.5, 9.5, "99%")
    log = store.history(layer=LAYER, key="p0")
    assert [r.message for r in log] == ["改"]  # a build records no feature's change
    assert log[0].changes[0].before[SHARE] == "10%" and log[0].changes[0].after[ODD] == 3
    assert store.versions(LAYER, ["p0", "p3", "p5"]) == {"p0": updated.id, "p5": updated.id - 1}
    frame, versions = store.read_versioned(LAYER, ["p0"])
    assert frame[RATE].tolist() == [9.5] and versions == {"p0": updated.id}

    # as of the build: the values then, in every read
    then = Query(as_of=built.time)
    assert store.query(LAYER, then)["id"].tolist() == IDS
    assert store.query(LAYER, Query(as_of=built.time, ids=("p0",)))[SHARE].tolist() == ["10%"]
    assert store.count(LAYER, Query(as_of=built.time, ranges={RATE: (1.0, None)})) == 3  # (no CQL2 with as_of)
    assert store.count(LAYER, Query(as_of=built.time, equals={SHARE: ("10%",)}, contains={NAME: "环翠"})) == 1
    assert store.totals(LAYER, then, [RATE, ODD]) == {"count": 5, RATE: 7.0, ODD: 11}
    assert list(store.rows(LAYER, Query(as_of=built.time, order_by=((RATE, True),), limit=2)).frame["id"]) == [
        "p2", "p4"]
    assert [i for c in store.stream(LAYER, then, chunk_size=2) for i in c["id"]] == IDS
    added, removed, changed = store.compare(LAYER, built.time, store.history(limit=1)[0].time)
    assert "p5" in list(added["id"]) and list(removed["id"]) == ["p3"]
    assert sorted(str(a["id"]) for a, _ in changed) == ["p0", "p1"]

    store.restore_feature(LAYER, "p0", built.id, actor="规划师", message="还原")
    assert store.query(LAYER, Query(ids=("p0",)))[[RATE, SHARE]].values.tolist() == [[1.5, "10%"]]
    store.drop_layer(LAYER, actor="规划师", message="删图层")
    store.restore_layer(LAYER, revision_id=built.id, actor="规划师", message="恢复")
    assert ids(store) == IDS and store.query(LAYER, Query(ids=("p2",)))[SHARE].tolist() == ["a%%b"]
    assert store.verify().ok


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_a_key_field_with_a_percent_sign(backend, tmp_path):
    key = "编号%"
    s = open_store(pg.fresh_url() if backend == "postgis" else tmp_path / "s.gpkg", key=key)
    s.replace({LAYER: plans(key=key)}, DECLARED)
    assert list(s.query(LAYER, Query(ids=("p3", "p1")))[key]) == ["p1", "p3"]
    page = s.rows(LAYER, Query(order_by=((key, True),), limit=2))  # descending by the key: its index
    assert list(page.frame[key]) == ["p4", "p3"] and page.after == ("p3",)
    assert list(s.rows(LAYER, Query(order_by=((key, True),), after=page.after, limit=5)).frame[key]) == [
        "p2", "p1", "p0"]
    s.update(LAYER, "p2", properties={RATE: 0.25}, actor="规划师", message="改")
    s.delete(LAYER, ["p4"], actor="规划师", message="删")
    assert s.query(LAYER, Query(ids=("p2",)))[RATE].tolist() == [0.25] and s.count(LAYER, Query()) == 4
    assert [c.key for r in s.history(layer=LAYER, key="p2") for c in r.changes] == ["p2"]
    assert s.find("p1")[1][NAME].tolist() == ["文登区规划"] and s.verify().ok


def _content(store) -> dict:
    frame = store.query(LAYER, Query()).to_wkb()
    return {"layers": store.layers(), "fields": store.fields(LAYER),
            "features": frame.astype(object).where(frame.notna(), None).to_dict("list"),
            "history": store.history(limit=1000), "versions": store.versions(LAYER, list(frame["id"]))}


def test_a_copy_gpkg_to_postgis_and_back(tmp_path):
    source = open_store(tmp_path / "atlas.gpkg", key="id")
    source.replace({LAYER: plans()}, DECLARED)
    source.update(LAYER, "p1", properties={RATE: 6.5, SHARE: "%s%%"}, actor="甲", message="改")
    source.delete(LAYER, ["p4"], actor="甲", message="删")

    url = pg.fresh_url()
    assert copy_store(source, url).ok
    copied = open_store(url, key="id")
    assert _content(copied) == _content(source)
    assert ids(copied, equals={SHARE: ("%s%%",)}) == ["p1"]

    copied.add(LAYER, plans(["p9"]), actor="乙", message="新增")
    copied.update(LAYER, "p9", properties={ODD: 99}, actor="乙", message="改")
    back = tmp_path / "back.gpkg"
    assert copy_store(copied, str(back)).ok
    again = open_store(back, key="id")
    assert _content(again) == _content(copied)
    assert again.query(LAYER, Query(ids=("p9",)))[ODD].tolist() == [99] and again.verify().ok
