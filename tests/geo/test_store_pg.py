"""What only the PostGIS store has: edits made directly in the database (QGIS, psql) recorded by its
triggers, with the session's actor; the statement timeout; values and names that try to be SQL.
Against the real PostgreSQL + PostGIS of tests/pg.py; the other program is a plain psycopg connection."""
from __future__ import annotations

import geopandas as gpd
import psycopg
import pytest
import shapely

from geo.errors import Conflict, InvalidParameter, NotFound, StoreError
from geo.store import Field, Query, open_store
from tests import pg


def parks(n=3):
    return gpd.GeoDataFrame({"id": [f"park-{i}" for i in range(n)], "name_zh": [f"公园{i}号" for i in range(n)],
                             "area_mu": [10.0 * i for i in range(n)], "open": [i % 2 == 0 for i in range(n)]},
                            geometry=[shapely.Point(122.0 + i * 0.01, 37.5) for i in range(n)], crs="EPSG:4326")


@pytest.fixture()
def store():
    s = open_store(pg.fresh_url(), key="id")
    s.replace({"parks": parks()})
    return s


def other_program(store):
    con = pg.connect()
    con.execute(f'SET search_path TO "{store.schema}", public')
    return con


def test_direct_sql_edits_are_in_the_history_with_their_changes(store):
    with other_program(store) as con:
        con.execute("UPDATE parks SET name_zh = '人民公园' WHERE id = 'park-1'")  # one statement, autocommit
        with con.transaction():  # one transaction of two statements, under a named actor
            con.execute("SET LOCAL atlas.actor = '王工 (QGIS)'")
            con.execute("SET LOCAL atlas.message = '补录'")
            con.execute("INSERT INTO parks (id, name_zh, area_mu, open, geom) VALUES "
                        "('park-9', '新公园', 5.5, true, ST_SetSRID(ST_MakePoint(122.3, 37.6), 4326))")
            con.execute("DELETE FROM parks WHERE id = 'park-0'")
        con.execute("UPDATE parks SET name_zh = name_zh WHERE id = 'park-2'")  # changes nothing: no revision
    third, second, first = store.history(limit=3)[:3]
    assert (second.actor, second.message) == ("atlas", "direct edit")  # the database user, by default
    (c,) = second.changes
    assert (c.op, c.key, c.before["name_zh"], c.after["name_zh"]) == ("update", "park-1", "公园1号", "人民公园")
    assert c.after["open"] is False and c.after["area_mu"] == 10 and c.before_geom == c.after_geom
    assert (third.actor, third.message) == ("王工 (QGIS)", "补录") and [x.op for x in third.changes] == ["add", "delete"]
    add, gone = third.changes
    assert add.key == "park-9" and add.after["name_zh"] == "新公园" and add.after["open"] is True
    assert shapely.from_wkb(add.after_geom).equals(shapely.Point(122.3, 37.6))
    assert gone.key == "park-0" and gone.before["name_zh"] == "公园0号" and gone.after is None
    assert first.actor == "sources" and third.prev_hash == second.hash and second.prev_hash == first.hash
    assert store.versions("parks", ["park-1", "park-9", "park-2"]) == {"park-1": second.id, "park-9": third.id,
                                                                       "park-2": 1}
    assert store.verify().ok and store.verify().entries == 3
    # the atlas's own write after them: its own revision, the chain still whole
    mine = store.update("parks", "park-9", properties={"name_zh": "新公园二"}, actor="李工", message="改名")
    assert mine.id == 4 and mine.prev_hash == third.hash and store.verify().ok
    assert [r.actor for r in store.history(layer="parks", key="park-9")] == ["李工", "王工 (QGIS)"]
    # and as of before the direct edits, the layer is what the build wrote
    then = store.query("parks", Query(as_of=first.time))
    assert list(then["id"]) == ["park-0", "park-1", "park-2"] and then["name_zh"].iloc[1] == "公园1号"


def test_a_direct_edit_waits_for_the_atlas_and_a_rolled_back_one_leaves_nothing(store):
    with other_program(store) as con:
        with pytest.raises(psycopg.errors.RaiseException):
            con.execute("TRUNCATE parks")  # would bypass the row triggers: refused
        con.autocommit = False
        con.execute("DELETE FROM parks WHERE id = 'park-2'")
        con.rollback()
    assert len(store.history()) == 1 and store.info("parks").count == 3 and store.verify().ok


def test_tampering_with_a_direct_edit_is_detected(store):
    with other_program(store) as con:
        con.execute("UPDATE parks SET area_mu = 1.25 WHERE id = 'park-0'")
    assert store.verify().ok  # the direct edit hashed
    with other_program(store) as con:
        con.execute("UPDATE atlas_changes SET after = replace(after, '1.25', '9.25') WHERE rev = 2")
    report = store.verify()
    assert not report.ok and report.first_bad == 2


def test_a_statement_over_the_time_limit_is_a_clear_store_error(store):
    slow = open_store(store.url + "&statement_timeout=200ms", key="id")
    assert slow.info("parks").count == 3
    with other_program(store) as con:
        with con.transaction():
            con.execute("LOCK TABLE parks IN ACCESS EXCLUSIVE MODE")  # a long write holds the layer
            with pytest.raises(StoreError) as caught:
                slow.query("parks", Query(limit=1))
    assert "time limit (0.2 s)" in caught.value.detail
    assert "SELECT" not in caught.value.detail and "QueryCanceled" in caught.value.internal
    assert len(slow.query("parks", Query())) == 3  # the pool's connection is fine afterwards


@pytest.mark.parametrize("bad", ['公园"; DROP TABLE parks; --', "x' OR '1'='1", "a\\'); DELETE FROM parks; --",
                                 "$$; DROP TABLE parks; $$", "\x01\u2028🙂"])
def test_values_that_try_to_be_sql_are_only_values(store, bad):
    store.update("parks", "park-0", properties={"name_zh": bad}, actor=bad, message=bad)
    store.add("parks", parks(1).assign(id=[bad], name_zh=[bad]), actor="a", message="m")
    assert store.query("parks", Query(ids=(bad,)))["name_zh"].tolist() == [bad]
    assert store.query("parks", Query(equals={"name_zh": (bad,)}))["id"].tolist() == ["park-0", bad]
    assert store.count("parks", Query(text=bad, text_fields=("name_zh",))) == 2
    assert store.count("parks", Query(contains={"name_zh": bad})) == 2
    assert store.rows("parks", Query(order_by=(("name_zh", False),), after=(bad, bad), limit=5)).after is None
    assert store.count("parks", Query(equals={"area_mu": (bad,)})) == 0  # not a number: matches nothing
    rev = store.history(limit=2)[1]
    assert (rev.actor, rev.message) == (bad, bad) and rev.changes[0].after["name_zh"] == bad
    store.put_document(bad, {"k": bad})
    assert store.document(bad) == {"k": bad}
    assert store.info("parks").count == 4 and store.verify().ok


@pytest.mark.parametrize("name", ["parks; DROP TABLE parks", 'p"arks', "Parks)", "atlas_revisions x", "1x"])
def test_names_that_try_to_be_sql_are_refused(store, name):
    with pytest.raises((InvalidParameter, NotFound)):
        store.query(name, Query())
    with pytest.raises((InvalidParameter, NotFound)):
        store.query("parks", Query(equals={name: ("x",)}))
    with pytest.raises((InvalidParameter, NotFound)):
        store.rows("parks", Query(order_by=((name, False),)))
    with pytest.raises(InvalidParameter):
        store.create_layer(name, "Point", [], actor="a", message="m")
    with pytest.raises(InvalidParameter):
        store.add_field("parks", Field(name, "str"), actor="a", message="m")
    with pytest.raises(InvalidParameter):
        store.rename_layer("parks", name, actor="a", message="m")
    assert store.layers() == ["parks"] and store.info("parks").count == 3 and store.verify().ok


def test_the_log_tables_are_not_layers(store):
    with pytest.raises(NotFound):
        store.query("atlas_revisions", Query())
    with pytest.raises(Conflict):
        store.create_layer("parks", "Point", [], actor="a", message="m")


def test_two_stores_in_one_database_are_apart():
    a, b = open_store(pg.fresh_url(), key="id"), open_store(pg.fresh_url(), key="id")
    a.replace({"parks": parks(2)})
    b.replace({"parks": parks(3)})
    a.update("parks", "park-0", properties={"name_zh": "甲"}, actor="a", message="")
    assert b.query("parks", Query(ids=("park-0",)))["name_zh"].tolist() == ["公园0号"]
    assert [len(a.history()), len(b.history())] == [2, 1] and a.verify().ok and b.verify().ok


KILLED = """
import sys, geopandas as gpd, shapely
from geo.store import open_store
store = open_store(sys.argv[1], key="id")
n = 50_000
frame = gpd.GeoDataFrame({"id": [f"big-{i}" for i in range(n)], "name_zh": [f"道路{i}" for i in range(n)]},
                         geometry=[shapely.Point(122 + i * 1e-6, 37.4) for i in range(n)], crs="EPSG:4326")
print("writing", flush=True)
store.add("parks", frame, actor="crash", message="never committed")
print("done", flush=True)
"""


def test_a_writer_killed_mid_write_leaves_the_store_and_its_lock_free(store):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-c", KILLED, store.url], stdout=subprocess.PIPE, text=True, cwd=root,
                            env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.stdout.readline().strip() == "writing"
    with pg.connect() as con:  # until its rows are being copied in (its revision made, the head locked)
        deadline = time.time() + 60
        while time.time() < deadline and not con.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY%%' AND state = 'active'").fetchone()[0]:
            time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rest = proc.stdout.read()
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL and "done" not in rest
    again = open_store(store.url, key="id")
    assert again.verify().ok and len(again.history()) == 1 and again.info("parks").count == 3
    again.update("parks", "park-0", properties={"name_zh": "照常"}, actor="a", message="")  # the lock was let go
    assert again.verify().ok and again.history(limit=1)[0].id == 2
