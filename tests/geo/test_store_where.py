"""Filters (``Query.where``: CQL2 trees compiled by ``geo.store.where``) through the store
interface, the same texts giving the same answers on every backend of ``test_store.BACKENDS``:
Chinese values, LIKE with its wildcards and escapes, IN, BETWEEN, NULLs, NOT, OR, S_INTERSECTS with
a polygon and a box, values that look like SQL; in counts, rows, totals, streams and pages."""
from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from geo import cql2
from geo.errors import InvalidParameter
from geo.store import Field, Query
from tests.geo.test_store import BACKENDS


@pytest.fixture(scope="module")
def filtered(tmp_path_factory):
    """Seven features with Chinese names, wildcards and a backslash in their text, NULLs in each
    kind of field, and points, a line and a polygon: one store per backend."""
    n = None
    g = gpd.GeoDataFrame({
        "id": [f"f{i}" for i in range(7)],
        "name_zh": ["威海公园", "环翠楼", "100%纯", "a_b路", "ab路", n, "Ärger"],
        "name_en": ["Weihai Park", "Huancui Tower", "100% pure", "A_B Road", "AB road", "back\\slash", "ÄRGER\\"],
        "kind": ["公园", "古迹", "商业", n, "公园", "公园", "商业"],
        "year": pd.array([2018, n, 2020, 2021, 2019, 2022, 2017], dtype="Int64"),
        "area": [1.5, 2.0, n, 4.0, 5.5, 0.0, 7.25],
        "open": pd.array([True, False, True, n, False, True, False], dtype="boolean"),
        "since": ["2021-01-05", "2020-12-31", n, "2022-03-01", "2019-07-07", "2023-01-01", "2021-01-01"],
    }, geometry=[shapely.Point(122.0, 37.5), shapely.Point(122.1, 37.5), shapely.Point(122.2, 37.5),
                 shapely.LineString([(122.3, 37.45), (122.3, 37.55)]),
                 shapely.box(122.35, 37.45, 122.45, 37.55), shapely.Point(120.0, 30.0),
                 shapely.Point(122.05, 37.45)], crs="EPSG:4326")
    stores = {}
    for name, make in BACKENDS.items():
        s = make(tmp_path_factory.mktemp(f"where-{name}"))
        s.replace({"places": g}, {"places": (Field("since", "date"),)})
        stores[name] = s
    return stores


# (CQL2 text, the ids it selects): worked out by hand from the rows above
WHERE = [
    ("name_zh = '环翠楼'", ["f1"]),
    ("name_zh <> '环翠楼'", ["f0", "f2", "f3", "f4", "f6"]),  # NULL is not "different"
    ("name_zh LIKE '威海%'", ["f0"]),
    ("name_zh LIKE '%路'", ["f3", "f4"]),
    ("name_zh LIKE 'a_b%'", ["f3"]),  # _ is one character: "ab路" is too short for it
    (r"name_zh LIKE 'a\_b%'", ["f3"]),  # an escaped _ is itself
    (r"name_zh LIKE '100\%%'", ["f2"]),
    ("name_zh LIKE '%'", ["f0", "f1", "f2", "f3", "f4", "f6"]),
    ("name_zh NOT LIKE '%路'", ["f0", "f1", "f2", "f6"]),
    ("name_en LIKE 'weihai%'", []),  # LIKE is case-sensitive
    ("name_en ILIKE 'weihai%'", ["f0"]),
    ("CASEI(name_en) LIKE CASEI('a_b%')", ["f3"]),
    ("CASEI(name_zh) = CASEI('ÄRGER')", ["f6"]),  # only A-Z change case, on both backends
    ("CASEI(name_zh) = CASEI('ärger')", []),
    (r"name_en LIKE 'back\\\\slash'", ["f5"]),  # an escaped backslash
    (r"name_en LIKE '%\\'", ["f6"]),  # a lone backslash at the end is itself
    ("name_zh > 'b'", ["f0", "f1", "f6"]),  # text by code point
    ("kind IN ('公园', '古迹')", ["f0", "f1", "f4", "f5"]),
    ("kind NOT IN ('公园')", ["f1", "f2", "f6"]),  # NULL is in no list, and not out of one either
    ("year BETWEEN 2019 AND 2021", ["f2", "f3", "f4"]),
    ("year NOT BETWEEN 2019 AND 2021", ["f0", "f5", "f6"]),
    ("year IS NULL", ["f1"]),
    ("kind IS NOT NULL AND open IS NULL", []),
    ("NOT (year > 2019)", ["f0", "f4", "f6"]),
    ("year > 2020 OR kind = '古迹'", ["f1", "f3", "f5"]),
    ("NOT (open = TRUE)", ["f1", "f4", "f6"]),
    ("open = FALSE AND area > 3", ["f4", "f6"]),
    ("since >= DATE('2021-01-01')", ["f0", "f3", "f5", "f6"]),
    ("since < '2021-01-01'", ["f1", "f4"]),
    ("since = '2021-02-30'", []),  # not a day: matches nothing (and fails nowhere)
    ("area >= 1.5 AND area < 5", ["f0", "f1", "f3"]),
    ("area = 7.25 OR year = 2022", ["f5", "f6"]),
    ("'a' = 'a' AND 1 < 2", ["f0", "f1", "f2", "f3", "f4", "f5", "f6"]),
    ("S_INTERSECTS(geometry, BBOX(122.05, 37.4, 122.32, 37.6))", ["f1", "f2", "f3", "f6"]),
    ("S_INTERSECTS(geom, POLYGON((121.95 37.45, 122.08 37.44, 121.99 37.56, 121.95 37.45)))", ["f0", "f6"]),
    # f6 is in this triangle's box but above its long side: the exact test, not the boxes'
    ("S_INTERSECTS(geometry, POLYGON((122.04 37.44, 122.11 37.44, 122.11 37.46, 122.04 37.44)))", []),
    ("S_INTERSECTS(geometry, POINT(122.4 37.5))", ["f4"]),  # inside the polygon
    ("S_INTERSECTS(geometry, LINESTRING(122.25 37.5, 122.35 37.5))", ["f3", "f4"]),
    ("NOT S_INTERSECTS(geometry, BBOX(121, 37, 123, 38))", ["f5"]),
    ("S_INTERSECTS(geometry, BBOX(121, 37, 123, 38)) AND kind = '公园'", ["f0", "f4"]),
    # values that look like SQL stay values
    ("name_zh = 'x'' OR 1=1 --'", []),
    ("name_zh = 'a\"; DROP TABLE places; --'", []),
    ("name_zh LIKE '%'' OR ''1''=''1'", []),
]


def _where_ids(store, text, **query):
    return list(store.query("places", Query(where=cql2.parse(text), **query))["id"])


@pytest.mark.parametrize("text, want", WHERE)
def test_filters_mean_the_same_on_every_backend(filtered, text, want):
    for name, store in filtered.items():
        assert _where_ids(store, text) == want, name


def test_filters_in_count_rows_totals_stream_and_pages(filtered):
    tree = cql2.parse("kind = '公园' OR year IS NULL")  # f0 f1 f4 f5
    for name, s in filtered.items():
        q = Query(where=tree)
        assert s.count("places", q) == 4 and s.count("places", q, at_most=2) > 2, name
        assert s.totals("places", q, ["area", "year"]) == {"count": 4, "area": 9.0, "year": 6059}, name
        assert [i for c in s.stream("places", q, chunk_size=3) for i in c["id"]] == ["f0", "f1", "f4", "f5"], name
        rows = s.rows("places", Query(where=tree, order_by=(("area", True),), limit=3))
        assert list(rows.frame["id"]) == ["f4", "f1", "f0"] and rows.after == (1.5, "f0"), name
        rest = s.rows("places", Query(where=tree, order_by=(("area", True),), after=rows.after, limit=3))
        assert list(rest.frame["id"]) == ["f5"] and rest.after is None, name
        page = s.query("places", Query(where=tree, order_by=(("id", True),), after=("f4",), limit=5))
        assert list(page["id"]) == ["f1", "f0"], name
        assert _where_ids(s, "kind = '公园'", bbox=(121.9, 37.4, 122.5, 37.6)) == ["f0", "f4"], name


@pytest.mark.parametrize("text", ['"name_zh"" OR 1=1 --" = \'x\'', "名称 = '威海'", "year = '2018'",
                                  "S_INTERSECTS(name_zh, POINT(1 2))"])
def test_filters_that_cannot_be_evaluated_are_refused_on_every_backend(filtered, text):
    for name, store in filtered.items():
        with pytest.raises(InvalidParameter) as err:
            _where_ids(store, text)
        assert err.value.parameter == "filter", name
    for store in filtered.values():  # and the table is still there, whole
        assert len(store.query("places", Query())) == 7
