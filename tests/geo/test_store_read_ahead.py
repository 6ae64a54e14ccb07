"""``Store.read_ahead``: a feature by id said ahead gives what ``records`` gives without it, on
every backend; on PostGIS it is read in the statement of the version (one round trip), and never
stale: a version other than the schema's that rendered it, a layer gone, or a write of the request
itself, and the feature is read again."""
from __future__ import annotations

import json

import geopandas as gpd
import psycopg
import pytest
import shapely

from geo.errors import NotFound
from geo.store import Query
from server import create_app
from tests import pg
from tests.geo.test_store import BACKENDS

BY_ID = Query(ids=("b",), limit=1)


def places():
    return gpd.GeoDataFrame({"id": ["a", "b", "c"], "name_zh": ["环翠楼", "刘公岛", None], "year": [2018, 2019, 2022]},
                            geometry=[shapely.Point(122.1, 37.5), shapely.LineString([(122.2, 37.5), (122.3, 37.51)]),
                                      shapely.Point(122.0, 37.4)], crs="EPSG:4326")


@pytest.fixture(params=list(BACKENDS))
def store(request, tmp_path):
    s = BACKENDS[request.param](tmp_path)
    s.replace({"places": places()})
    s.layers()  # the schema read once, as by an earlier request of the process
    return s


def plain(records):
    return records.columns, [list(r) for r in records.rows], [g.wkt for g in records.geometry]


@pytest.mark.parametrize("query, rows", [
    (BY_ID, [["b", "刘公岛", 2019]]),
    (Query(ids=("无此编号",), limit=1), []),
    (Query(ids=("b",), limit=1, columns=("name_zh",)), [["刘公岛"]]),
])
def test_said_ahead_or_not_the_same_records(store, query, rows):
    expected = plain(store.records("places", query))
    assert expected[1] == rows
    with store.pin_version():
        store.read_ahead("places", query)
        store.version()
        assert plain(store.records("places", query)) == expected


def test_an_unknown_layer_said_ahead_is_still_not_found(store):
    with store.pin_version():
        store.read_ahead("无此图层", BY_ID)
        store.version()
        with pytest.raises(NotFound):
            store.records("无此图层", BY_ID)


def counting(monkeypatch) -> list:
    sent = []
    original = psycopg.Connection.execute

    def execute(self, query, *args, **kwargs):
        sent.append(query if isinstance(query, str) else query.as_string(self))
        return original(self, query, *args, **kwargs)
    monkeypatch.setattr(psycopg.Connection, "execute", execute)
    return sent


def test_on_postgis_the_version_and_the_feature_are_one_statement(tmp_path, monkeypatch):
    store = BACKENDS["postgis"](tmp_path)
    store.replace({"places": places()})
    store.layers()
    sent = counting(monkeypatch)
    with store.pin_version():
        store.read_ahead("places", BY_ID)
        version = store.version()
        records = store.records("places", BY_ID)
    assert len(sent) == 1 and "atlas_head" in sent[0] and '"places" AS t' in sent[0], sent
    assert version == store.version()
    assert [list(r) for r in records.rows] == [["b", "刘公岛", 2019]]
    assert records.geometry[0].equals(shapely.LineString([(122.2, 37.5), (122.3, 37.51)]))


def test_on_postgis_another_programs_edit_is_read_not_the_old_schema(tmp_path, monkeypatch):
    """An edit by plain SQL after the process read its schema: the version read with the feature
    is not the schema's, so the feature is read again (with the schema of the new version)."""
    store = BACKENDS["postgis"](tmp_path)
    store.replace({"places": places()})
    store.layers()
    with pg.connect() as con:
        con.execute(f'ALTER TABLE "{store.schema}".places ADD COLUMN note text')
        con.execute(f'UPDATE "{store.schema}".places SET name_zh = %s, note = %s WHERE id = %s', ("成山头", "新注", "b"))
    sent = counting(monkeypatch)
    with store.pin_version():
        store.read_ahead("places", BY_ID)
        store.version()
        records = store.records("places", BY_ID)
    assert len(sent) > 1, sent
    row = dict(zip(records.columns, records.rows[0]))
    assert row["name_zh"] == "成山头"
    assert row.get("note", "新注") == "新注"


def test_on_postgis_a_layer_dropped_outside_is_not_found(tmp_path):
    store = BACKENDS["postgis"](tmp_path)
    store.replace({"places": places(), "more": places()})
    store.layers()
    with pg.connect() as con:
        con.execute(f'ALTER TABLE "{store.schema}".places RENAME TO gone')
    with store.pin_version():
        store.read_ahead("places", BY_ID)
        assert store.version() != "none"
        with pytest.raises(Exception) as failed:
            store.records("places", BY_ID)
    assert "places" in str(failed.value)


def test_on_postgis_a_write_in_the_request_drops_what_was_read_ahead(tmp_path):
    store = BACKENDS["postgis"](tmp_path)
    store.replace({"places": places()})
    store.layers()
    with store.pin_version():
        store.read_ahead("places", BY_ID)
        store.version()
        store.add("places", gpd.GeoDataFrame({"id": ["d"], "name_zh": ["金海湾"], "year": [2020]},
                                             geometry=[shapely.Point(122.2, 37.5)], crs="EPSG:4326"),
                  actor="测试", message="添加")
        with pg.connect() as con:
            con.execute(f'UPDATE "{store.schema}".places SET name_zh = %s WHERE id = %s', ("威海公园", "b"))
        assert store.records("places", BY_ID).rows[0][1] == "威海公园"


def test_an_ogc_feature_of_a_hidden_layer_is_still_404_when_read_ahead(tmp_path, monkeypatch):
    """The app says the feature ahead before it knows who asks: a layer hidden from the asker is
    404 all the same, and nothing of it is in the answer."""
    store = BACKENDS["postgis"](tmp_path)
    store.replace({"places": places()})
    monkeypatch.chdir(tmp_path)
    app = create_app({"STORE": store.url, "TESTING": True, "CACHE_MB": 0, "ACCOUNTS": str(tmp_path / "accounts.sqlite")})
    client = app.test_client()
    seen = client.get("/ogc/collections/places/items/b?f=json")
    assert seen.status_code == 200 and json.loads(seen.data)["properties"]["name_zh"] == "刘公岛"
    app.extensions["atlas_accounts"].set_hidden("places", True, by="测试")
    hidden = client.get("/ogc/collections/places/items/b?f=json")
    assert hidden.status_code == 404 and "刘公岛" not in hidden.get_data(as_text=True)
