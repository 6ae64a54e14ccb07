"""The CQL2 text parser (geo.cql2) and the filter compiler (geo.store.where): the trees clients'
filters become, the SQL both dialects get (every value a parameter), errors that name the problem,
and the filters' meaning on a real GeoPackage store with Chinese values."""
from __future__ import annotations

import pytest
import shapely

from geo import cql2
from geo.errors import InvalidParameter
from geo.store import Query
from geo.store.where import like_to_glob, like_to_postgres, to_sql

FIELDS = {"id": "str", "name_zh": "str", "year": "int", "area_m2": "float", "open": "bool", "built": "date",
          "figures": "json", "类别": "str"}


def test_gdal_style_filter():
    tree = cql2.parse("(name_zh = '华夏城') AND (year >= 2018)")
    assert tree == cql2.And((cql2.Compare("=", cql2.Property("name_zh"), cql2.Literal("华夏城")),
                             cql2.Compare(">=", cql2.Property("year"), cql2.Literal(2018))))


def test_qgis_style_filter():
    tree = cql2.parse("(\"name_zh\" LIKE '威海%') OR (CASEI(\"类别\") = CASEI('Park')) AND \"built\" >= DATE('2021-01-01')"
                      " AND S_INTERSECTS(geometry,BBOX(122.0,37.4,122.2,37.6)) AND open = TRUE AND year IS NOT NULL")
    assert isinstance(tree, cql2.Or)
    conj = tree.items[1]
    assert conj.items[0] == cql2.Compare("=", cql2.CaseI(cql2.Property("类别")), cql2.CaseI(cql2.Literal("Park")))
    assert conj.items[1].right == cql2.Literal("2021-01-01", "date")
    spatial = conj.items[2]
    assert spatial.op == "intersects" and spatial.right.geom.equals(shapely.box(122.0, 37.4, 122.2, 37.6))
    assert conj.items[4] == cql2.IsNull(cql2.Property("year"), negate=True)


@pytest.mark.parametrize("text, sql, params", [
    ("name_zh = '华夏城'", '("name_zh" = ?)', ["华夏城"]),
    ("类别 <> '公园'", '("类别" <> ?)', ["公园"]),
    ("2018 < year", '("year" > ?)', [2018]),
    ("year BETWEEN 2000 AND 2020", '("year" BETWEEN ? AND ?)', [2000, 2020]),
    ("year NOT IN (1, 2)", '("year" NOT IN (?, ?))', [1, 2]),
    ("NOT (open = TRUE)", '(NOT ("open" = ?))', [1]),
    ("name_zh LIKE '威海_%'", '("name_zh" GLOB ?)', ["威海?*"]),
    ("name_zh ILIKE 'ab%'", '(lower("name_zh") GLOB ?)', ["ab*"]),
    ("built > '2020-01-01T'", '("built" > ?)', ["2020-01-01"]),  # what GDAL writes for a date
    ("area_m2 >= 1.5e3 OR id IS NULL", '(("area_m2" >= ?) OR ("id" IS NULL))', [1500.0]),
])
def test_sqlite_sql(text, sql, params):
    assert to_sql(cql2.parse(text), FIELDS) == (sql, params)


def test_postgis_sql():
    sql, params = to_sql(cql2.parse("name_zh LIKE '威海%' AND S_INTERSECTS(geom, POINT(122.1 37.5))"), FIELDS,
                         dialect="postgis", column=lambda n: f't."{n}"', geometry="t.geom")
    assert sql == ("((t.\"name_zh\" LIKE %s ESCAPE '\\') AND "
                   "(t.geom IS NOT NULL AND ST_Intersects(t.geom, ST_GeomFromText(%s, 4326))))")
    assert params == ["威海%", "POINT (122.1 37.5)"]
    _, params = to_sql(cql2.parse("S_INTERSECTS(geometry, POINT(122.123456789 37.5))"), FIELDS, dialect="postgis")
    assert params == ["POINT (122.123456789 37.5)"]  # the literal as given, not rounded to 6 decimals


def test_postgis_lower_and_like_patterns():
    sql, params = to_sql(cql2.parse(r"CASEI(name_zh) LIKE CASEI('ÄB\_%\\') AND 类别 > 'b'"), FIELDS, dialect="postgis")
    assert sql == """((lower("name_zh" COLLATE "C") LIKE %s ESCAPE '\\') AND ("类别" > %s))"""
    assert params == ["Äb\\_%\\\\", "b"]  # A-Z lowered only; the lone backslash at the end is itself


@pytest.mark.parametrize("text", [
    "name_zh = 'x'' OR 1=1 --'",
    "name_zh = 'a\"; DROP TABLE parks; --'",
    "\"name_zh\"\" OR 1=1 --\" = 'x'",
])
def test_injection_stays_a_value_or_is_refused(text):
    try:
        sql, params = to_sql(cql2.parse(text), FIELDS)
    except InvalidParameter as exc:
        assert exc.parameter == "filter" and "unknown property" in exc.detail
        return
    assert sql == '("name_zh" = ?)' and len(params) == 1 and "--" in params[0]


@pytest.mark.parametrize("text, words", [
    ("名称 = '华夏城'", ["unknown property '名称'", "name_zh"]),
    ("year = '2018'", ["'year' is a number", "without quotes"]),
    ("name_zh = 3", ["'name_zh' is text", "quote"]),
    ("figures = 1", ["'figures' holds JSON"]),
    ("open = 'yes'", ["true/false"]),
    ("built = DATE('2021-13')", ["not an ISO date"]),
    ("name_zh = NULL", ["IS NULL"]),
    ("year LIKE '20%'", ["LIKE applies to text"]),
    ("buffer(geometry, 3) = 1", ["function 'buffer'", "not supported"]),
    ("S_INTERSECTS(name_zh, POINT(1 2))", ["S_INTERSECTS compares the geometry"]),
    ("S_INTERSECTS(geometry, POLYGON((1 2, 3)))", ["not valid WKT"]),
    ("S_INTERSECTS(geometry, BBOX(3, 3, 1, 1))", ["lower corner"]),
    ("name_zh = '华夏城", ["unclosed quote"]),
    ("name_zh = 'a' AND", ["expected", "end of the filter"]),
    ("year > 1 year", ["AND, OR"]),
    ("", ["empty"]),
])
def test_errors_name_the_problem(text, words):
    with pytest.raises(InvalidParameter) as err:
        to_sql(cql2.parse(text), FIELDS)
    assert err.value.parameter == "filter"
    for word in words:
        assert word in err.value.detail


def test_like_to_glob_escapes():
    assert like_to_glob(r"100\%*?[x]_") == "100%[*][?][[]x]?"
    assert like_to_postgres(r"100\%\a\\_\\") == r"100\%a\\_\\"
    assert like_to_postgres("end\\") == "end\\\\"


def test_envelope_order_and_geometry_mapping():
    tree = cql2.parse("S_INTERSECTS(geometry, ENVELOPE(122.0, 122.2, 37.6, 37.4))")
    assert tree.right.geom.equals(shapely.box(122.0, 37.4, 122.2, 37.6))
    moved = cql2.map_geometries(tree, lambda g: shapely.transform(g, lambda xy: xy + 1))
    assert moved.right.geom.equals(shapely.box(123.0, 38.4, 123.2, 38.6))


# -- on the real GeoPackage store -----------------------------------------------------------------
def _ids(store, layer, text, **query):
    return sorted(store.query(layer, Query(where=cql2.parse(text), **query))["id"])


def test_the_store_filters(built_store):
    assert _ids(built_store, "parks", "name_zh = '华夏城'") == ["parks-huaxiacheng"]
    assert _ids(built_store, "parks", "name_zh LIKE '华%'") == ["parks-huaxiacheng"]
    assert _ids(built_store, "parks", "name_en LIKE 'huaxia%'") == []  # LIKE is case-sensitive
    assert _ids(built_store, "parks", "CASEI(name_en) LIKE CASEI('huaxia%')") == ["parks-huaxiacheng"]
    assert _ids(built_store, "projects", "year > 2020 OR status = 'under_construction'") == [
        "projects-weiqiao", "projects-yuanyao"]
    assert _ids(built_store, "projects", "NOT (year > 2020)") == []  # a missing year is not "not > 2020"
    assert _ids(built_store, "projects", "year IS NULL") == ["projects-weiqiao"]
    assert _ids(built_store, "parks", "name_zh = 'x'' OR 1=1 --'") == []
    # the exact spatial test: the road's box meets this point, the road does not
    assert _ids(built_store, "roads", "S_INTERSECTS(geometry, POINT(122.092 37.509))") == []
    assert _ids(built_store, "roads", "S_INTERSECTS(geometry, POINT(122.1 37.505))") == ["roads-wangdaohenan"]
    assert _ids(built_store, "parks", "NOT S_INTERSECTS(geometry, BBOX(122.0, 37.4, 122.1, 37.5))") == ["parks-hostile"]


def test_the_store_counts_and_pages_with_a_filter(built_store):
    tree = cql2.parse("S_INTERSECTS(geometry, BBOX(121, 37, 123, 38)) AND name_zh <> '不存在'")
    assert built_store.count("parks", Query(where=tree)) == 2
    assert built_store.count("parks", Query(where=tree), at_most=1) == 2  # "more than 1"
    first = built_store.query("parks", Query(where=tree, order_by=(("id", False),), limit=1))
    rest = built_store.query("parks", Query(where=tree, order_by=(("id", False),), after=(first["id"][0],), limit=5))
    assert sorted([*first["id"], *rest["id"]]) == ["parks-hostile", "parks-huaxiacheng"]


def test_a_filter_is_never_dropped_with_as_of(built_store):
    with pytest.raises(InvalidParameter) as err:
        built_store.query("parks", Query(where=cql2.parse("year = 1"), as_of="2099-01-01T00:00:00Z"))
    assert err.value.parameter == "filter"
