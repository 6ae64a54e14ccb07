"""The writable store and its revision log: every write a revision with the right who/why/before/
after, versions and stale edits, the hash chain, external edits through GDAL, as-of reads against
snapshots, compare, restores, backups during writes, a killed writer, two editors at once."""
from __future__ import annotations

import datetime
import sqlite3
import threading
import time

import geopandas as gpd
import pytest
import shapely

from geo.errors import Conflict, InvalidGeometry, InvalidParameter, NotFound, Stale
from geo.store import Field, Query, open_store, restore_backup
from tests import pg

PARK_FIELDS = (Field("name_zh", "str"), Field("category", "str"), Field("area_mu", "float"), Field("open", "bool"))


def square(x, y, d=0.01):
    return shapely.Polygon([(x, y), (x + d, y), (x + d, y + d), (x, y + d)])


def parks(n=4, start=0):
    return gpd.GeoDataFrame({"id": [f"park-{i}" for i in range(start, start + n)],
                             "name_zh": [f"公园{i}号" for i in range(start, start + n)],
                             "category": ["城市公园" if i % 2 else "郊野公园" for i in range(start, start + n)],
                             "area_mu": [10.0 * i for i in range(start, start + n)],
                             "open": [i % 2 == 0 for i in range(start, start + n)]},
                            geometry=[shapely.MultiPolygon([square(122.0 + i * 0.02, 37.5)]) for i in range(start, start + n)],
                            crs="EPSG:4326")


def roads(n=3):
    return gpd.GeoDataFrame({"id": [f"road-{i}" for i in range(n)], "name_zh": [f"道路{i}" for i in range(n)]},
                            geometry=[shapely.LineString([(122.0, 37.4 + i * 0.01), (122.1, 37.41 + i * 0.01)])
                                      for i in range(n)], crs="EPSG:4326")


BACKENDS = {"gpkg": lambda tmp_path: open_store(tmp_path / "atlas.gpkg", key="id"),
            "postgis": lambda tmp_path: open_store(pg.fresh_url(), key="id")}


@pytest.fixture(params=list(BACKENDS))
def store(request, tmp_path):
    s = BACKENDS[request.param](tmp_path)
    s.replace({"parks": parks(), "roads": roads()})
    return s


def is_gpkg(store) -> bool:
    return store.url.startswith("gpkg")


def direct(store, *statements):
    """SQL run in the store's database by another program (QGIS, sqlite3, psql), not by the atlas:
    the GeoPackage's log tables are ``gpkg_atlas_*``, the PostGIS schema's ``atlas_*``."""
    if is_gpkg(store):
        from geo.store.gpkg_geom import register_functions

        con = sqlite3.connect(store.path)
        register_functions(con)  # GDAL's R-tree triggers call the ST_ functions every GIS program has
        try:
            for statement in statements:
                con.execute(statement)
            con.commit()
        finally:
            con.close()
        return
    with pg.connect() as con:
        con.execute(f'SET search_path TO "{store.schema}", public')
        with con.transaction():
            for statement in statements:
                con.execute(statement.replace("gpkg_atlas_", "atlas_"))


def ids(store, layer="parks", **q):
    return list(store.query(layer, Query(**q))["id"])


def test_the_build_is_one_revision_and_the_file_is_wal(store):
    (rev,) = store.history()
    assert rev.actor == "sources" and rev.message == "build" and rev.changes == () and rev.id == 1
    assert store.versions("parks", ["park-0", "park-3", "nope"]) == {"park-0": 1, "park-3": 1}
    if is_gpkg(store):
        with sqlite3.connect(store.path) as con:
            assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again = store.replace({"parks": parks(2)}, message="重建")
    assert again.id == 2 and again.actor == "sources" and again.message == "重建"
    assert ids(store) == ["park-0", "park-1"] and store.layers() == ["parks"]
    assert [r.id for r in store.history()] == [2, 1] and store.verify().ok  # the log survives a rebuild


def test_every_write_records_actor_message_before_and_after(store):
    new = parks(1, start=9)
    r_add = store.add("parks", new, actor="王工", message="新增公园")
    assert (r_add.actor, r_add.message) == ("王工", "新增公园")
    (c,) = r_add.changes
    assert c.op == "add" and c.key == "park-9" and c.before is None and c.after["name_zh"] == "公园9号"
    assert c.after["open"] is False and shapely.from_wkb(c.after_geom).equals(new.geometry.iloc[0])

    r_up = store.update("parks", "park-1", properties={"name_zh": "人民公园"}, actor="李工", message="改名")
    (c,) = r_up.changes
    assert c.op == "update" and c.before["name_zh"] == "公园1号" and c.after["name_zh"] == "人民公园"
    assert c.after["category"] == "城市公园" and c.before_geom == c.after_geom  # partial: the rest kept
    assert store.query("parks", Query(ids=("park-1",)))["name_zh"].iloc[0] == "人民公园"

    moved = shapely.Polygon([(122.5, 37.6), (122.51, 37.6), (122.51, 37.61)])  # a Polygon into MultiPolygon
    r_geom = store.update("parks", "park-1", geometry=moved, actor="李工", message="改形")
    stored = store.query("parks", Query(ids=("park-1",))).geometry.iloc[0]
    assert stored.geom_type == "MultiPolygon" and stored.equals(shapely.MultiPolygon([moved]))
    assert ids(store, bbox=(122.49, 37.59, 122.52, 37.62)) == ["park-1"]  # the R-tree follows
    assert store.info("parks").bbox[2] == pytest.approx(122.51)  # so does the extent

    r_del = store.delete("parks", ["park-2"], actor="王工", message="撤销")
    (c,) = r_del.changes
    assert c.op == "delete" and c.after is None and c.before["name_zh"] == "公园2号"
    assert "park-2" not in ids(store) and store.info("parks").count == 4

    assert store.versions("parks", ["park-0", "park-1", "park-9"]) == {"park-0": 1, "park-1": r_geom.id,
                                                                       "park-9": r_add.id}
    hist = store.history(layer="parks", key="park-1")
    assert [r.id for r in hist] == [r_geom.id, r_up.id] and all(len(r.changes) == 1 for r in hist)
    assert [r.id for r in store.history(actor="王工")] == [r_del.id, r_add.id]
    assert [r.id for r in store.history(limit=2)] == [r_del.id, r_geom.id]
    assert [r.id for r in store.history(before_id=r_up.id)] == [r_add.id, 1]
    assert store.verify().ok and store.verify().entries == r_del.id


def test_refused_writes_write_nothing(store):
    before = (store.version(), ids(store), len(store.history()))
    with pytest.raises(Conflict, match="park-0"):
        store.add("parks", parks(2), actor="a", message="")
    with pytest.raises(InvalidParameter, match="nope"):
        store.update("parks", "park-0", properties={"nope": 1}, actor="a", message="")
    with pytest.raises(NotFound):
        store.update("parks", "park-77", properties={"name_zh": "x"}, actor="a", message="")
    bowtie = shapely.Polygon([(122.0, 37.5), (122.1, 37.6), (122.1, 37.5), (122.0, 37.6)])
    with pytest.raises(InvalidGeometry) as caught:
        store.update("parks", "park-0", geometry=bowtie, actor="a", message="")
    assert caught.value.status == 400 and caught.value.location == pytest.approx((122.05, 37.55))
    assert "122.05" in caught.value.detail and caught.value.to_dict()["location"] == pytest.approx([122.05, 37.55])
    with pytest.raises(InvalidGeometry, match="LineString"):
        store.update("parks", "park-0", geometry=shapely.LineString([(122, 37), (122.1, 37.1)]), actor="a", message="")
    v = store.versions("parks", ["park-0"])["park-0"]
    store.update("parks", "park-0", properties={"name_zh": "甲"}, expected_version=v, actor="a", message="ok")
    mid = (store.version(), ids(store), len(store.history()))
    with pytest.raises(Stale) as stale:
        store.update("parks", "park-0", properties={"name_zh": "乙"}, expected_version=v, actor="b", message="")
    assert stale.value.status == 412 and stale.value.current == v + 1
    with pytest.raises(Stale):
        store.delete("parks", ["park-0"], expected_versions={"park-0": v}, actor="b", message="")
    assert (store.version(), ids(store), len(store.history())) == mid and mid[1] == before[1]
    assert store.query("parks", Query(ids=("park-0",)))["name_zh"].iloc[0] == "甲"


def test_the_chain_detects_a_changed_an_inserted_and_a_deleted_entry(store):
    for i in range(3):
        store.update("parks", "park-0", properties={"area_mu": float(i) + 0.5}, actor="a", message=f"第{i}次")
    assert store.verify().ok and store.verify().entries == 4
    direct(store, "UPDATE gpkg_atlas_revisions SET message = '篡改' WHERE id = 2")
    report = store.verify()
    assert not report.ok and report.first_bad == 2 and "altered" in report.detail
    direct(store, "UPDATE gpkg_atlas_revisions SET message = '第0次' WHERE id = 2",
           "UPDATE gpkg_atlas_changes SET after = replace(after, '0.5', '9.5') WHERE rev = 2")
    assert not store.verify().ok and store.verify().first_bad == 2
    direct(store, "UPDATE gpkg_atlas_changes SET after = replace(after, '9.5', '0.5') WHERE rev = 2")
    assert store.verify().ok
    direct(store, "DELETE FROM gpkg_atlas_changes WHERE rev = 4",  # the newest entry removed
           "DELETE FROM gpkg_atlas_revisions WHERE id = 4")
    report = store.verify()
    assert not report.ok and "newest" in report.detail
    direct(store, "DELETE FROM gpkg_atlas_revisions WHERE id = 2")  # one in the middle removed
    assert not store.verify().ok and store.verify().first_bad == 2


def test_an_edit_through_gdal_is_recorded_as_external(tmp_path):
    import pyogrio

    store = open_store(tmp_path / "atlas.gpkg", key="id")
    store.replace({"parks": parks(), "roads": roads()})

    extra = roads(1).assign(id=["road-ext"], name_zh=["外部道路"])
    pyogrio.write_dataframe(extra, store.path, layer="roads", append=True)
    # another program, outside the app's connection; GDAL's R-tree triggers need the GeoPackage
    # ST_ functions, which every GeoPackage program (GDAL, QGIS) has and plain sqlite3 lacks
    from geo.store.gpkg_geom import register_functions

    con = sqlite3.connect(store.path)
    register_functions(con)
    con.execute("UPDATE roads SET name_zh = '改名道路' WHERE id = 'road-0'")
    con.commit()
    con.close()
    rev = store.history(limit=1)[0]
    assert rev.actor == "external" and len(rev.changes) == 2
    add, upd = rev.changes
    assert add.op == "add" and add.key == "road-ext" and add.after["name_zh"] == "外部道路"
    assert shapely.from_wkb(add.after_geom).equals(extra.geometry.iloc[0])
    assert upd.op == "update" and upd.before["name_zh"] == "道路0" and upd.after["name_zh"] == "改名道路"
    assert store.versions("roads", ["road-0"]) == {"road-0": rev.id}
    assert ids(store, "roads") == ["road-0", "road-1", "road-2", "road-ext"] and store.verify().ok
    # the app's own writes are never taken for external ones
    store.update("roads", "road-1", properties={"name_zh": "新路"}, actor="王工", message="")
    assert [r.actor for r in store.history(limit=2)] == ["王工", "external"]


def test_as_of_reads_equal_snapshots_taken_then(store):
    queries = [Query(), Query(bbox=(122.015, 37.49, 122.045, 37.52)), Query(equals={"category": ("城市公园",)}),
               Query(limit=2, offset=1), Query(text="公园1", text_fields=("name_zh",)), Query(ids=("park-9", "park-0"))]

    def snap():
        return [store.query("parks", q).to_wkb() for q in queries], [store.count("parks", q) for q in queries]

    taken = []
    writes = [lambda: store.add("parks", parks(2, start=8), actor="a", message=""),
              lambda: store.update("parks", "park-1", properties={"category": "郊野公园"},
                                   geometry=square(122.3, 37.3), actor="a", message=""),
              lambda: store.delete("parks", ["park-0", "park-9"], actor="a", message=""),
              lambda: store.add("parks", parks(1, start=0), actor="a", message="")]
    for write in writes:
        write()
        time.sleep(0.002)
        # one reading of the clock (the second and its fraction of the same moment)
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        taken.append((now, snap()))
        time.sleep(0.002)
    for when, (frames, counts) in taken:
        got = [store.query("parks", Query(**{**q.__dict__, "as_of": when})).to_wkb() for q in queries]
        for a, b in zip(got, frames):
            assert a.equals(b), when
        assert [store.count("parks", Query(**{**q.__dict__, "as_of": when})) for q in queries] == counts
    first = taken[0][0]
    assert [len(c) for c in store.stream("parks", Query(as_of=first), chunk_size=4)] == [4, 2]
    layer, row = store.find("park-9", as_of=first)
    assert layer == "parks" and row["name_zh"].iloc[0] == "公园9号"
    assert store.find("park-9") is None
    with pytest.raises(InvalidParameter):  # before the build: not in the log, so not guessed
        store.query("parks", Query(as_of="2000-01-01"))


def test_compare_two_times(store):
    t0 = store.history()[0].time
    store.add("parks", parks(1, start=5), actor="a", message="")
    store.update("parks", "park-1", properties={"name_zh": "改"}, actor="a", message="")
    store.delete("parks", ["park-2"], actor="a", message="")
    added, removed, changed = store.compare("parks", t0, store.history(limit=1)[0].time)
    assert list(added["id"]) == ["park-5"] and list(removed["id"]) == ["park-2"]
    assert [(b["name_zh"], a["name_zh"]) for b, a in changed] == [("公园1号", "改")]


def test_restore_a_feature_and_drop_and_restore_a_layer(store):
    r1 = store.update("parks", "park-1", properties={"name_zh": "一改"}, actor="a", message="")
    store.update("parks", "park-1", properties={"name_zh": "二改"}, geometry=square(122.4, 37.4), actor="a", message="")
    back = store.restore_feature("parks", "park-1", r1.id, actor="b", message="恢复")
    row = store.query("parks", Query(ids=("park-1",))).iloc[0]
    assert row["name_zh"] == "一改" and row.geometry.equals(shapely.MultiPolygon([square(122.02, 37.5)]))
    assert back.changes[0].op == "update"
    gone = store.delete("parks", ["park-3"], actor="a", message="")
    store.restore_feature("parks", "park-3", gone.id - 1, actor="b", message="恢复删除")
    assert ids(store) == ["park-0", "park-1", "park-2", "park-3"]  # re-created, in its old place

    snapshot = store.query("parks", Query()).to_wkb()
    before_drop = store.history(limit=1)[0].id
    dropped = store.drop_layer("parks", actor="admin", message="删图层")
    assert "parks" not in store.layers() and len(dropped.changes) == 4
    assert {c.op for c in dropped.changes} == {"delete"}
    restored = store.restore_layer("parks", revision_id=before_drop, actor="admin", message="恢复图层")
    assert store.layers() == ["roads", "parks"] and len(restored.changes) == 4
    assert store.query("parks", Query()).to_wkb().equals(snapshot)
    assert store.info("parks").geometry_type == "MultiPolygon" and store.verify().ok
    store.restore_layer("parks", revision_id=1, actor="admin", message="回到构建")  # back to the build
    assert store.query("parks", Query()).to_wkb().equals(open_store(store.url, key="id").query(
        "parks", Query(as_of=store.history()[-1].time)).to_wkb())


def test_create_layer_add_field_and_rename(store):
    made = store.create_layer("plans", "MultiPolygon", [Field("name_zh", "str"), Field("year", "int")],
                              actor="admin", message="新图层")
    assert store.layers()[-1] == "plans" and made.actor == "admin"
    with pytest.raises(Conflict):
        store.create_layer("plans", "Point", [], actor="admin", message="")
    store.add("plans", gpd.GeoDataFrame({"id": ["plan-1"], "name_zh": ["规划一"], "year": [2026]},
                                        geometry=[square(122.1, 37.5)], crs="EPSG:4326"), actor="a", message="")
    store.add_field("plans", Field("status", "str"), actor="admin", message="加字段")
    store.update("plans", "plan-1", properties={"status": "规划中"}, actor="a", message="")
    store.rename_layer("plans", "plans_2026", actor="admin", message="改名")
    assert "plans_2026" in store.layers() and "plans" not in store.layers()
    assert store.query("plans_2026", Query(bbox=(122.09, 37.49, 122.2, 37.6)))["status"].tolist() == ["规划中"]
    store.add("plans_2026", gpd.GeoDataFrame({"id": ["plan-2"], "name_zh": ["规划二"]},
                                             geometry=[square(122.3, 37.5)], crs="EPSG:4326"), actor="a", message="")
    assert ids(store, "plans_2026", bbox=(122.29, 37.49, 122.4, 37.6)) == ["plan-2"]
    if is_gpkg(store):  # GDAL reads the renamed layer
        import pyogrio

        assert pyogrio.read_dataframe(store.path, layer="plans_2026")["id"].tolist() == ["plan-1", "plan-2"]
    assert ids(store, "plans_2026") == ["plan-1", "plan-2"] and store.verify().ok


def test_backup_while_a_thread_writes_then_restore(store, tmp_path):
    stop, done = threading.Event(), []

    def writer():
        i = 0
        while not stop.is_set():
            store.update("parks", "park-0", properties={"area_mu": float(i)}, actor="w", message=f"{i}")
            done.append(i)
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    try:
        time.sleep(0.2)
        for n in range(3):
            store.backup(tmp_path / f"backup-{n}.gpkg")
            time.sleep(0.05)
    finally:
        stop.set()
        t.join()
    assert len(done) > 5
    for n in range(3):
        assert open_store(tmp_path / f"backup-{n}.gpkg", key="id").verify(seal=False).ok
    target = tmp_path / "restored.gpkg"
    report = restore_backup(tmp_path / "backup-2.gpkg", target)
    assert report.ok and report.entries >= 2
    restored = open_store(target, key="id")
    assert restored.verify().ok and restored.layers() == ["parks", "roads"]
    with sqlite3.connect(tmp_path / "backup-1.gpkg") as con:
        con.execute("UPDATE gpkg_atlas_revisions SET actor = 'x' WHERE id = 2")
    with pytest.raises(Exception, match="does not verify"):
        restore_backup(tmp_path / "backup-1.gpkg", target)


def test_two_editors_from_the_same_version(store):
    v = store.versions("parks", ["park-0"])["park-0"]
    barrier, results = threading.Barrier(2), []

    def edit(name):
        barrier.wait()
        try:
            store.update("parks", "park-0", properties={"name_zh": name}, expected_version=v, actor=name, message="")
            results.append("ok")
        except Stale:
            results.append("stale")

    threads = [threading.Thread(target=edit, args=(n,)) for n in ("甲", "乙")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok", "stale"]
    assert len(store.history()) == 2 and store.verify().ok


CRASH = """
import sys, geopandas as gpd, shapely
from geo.store import open_store
store = open_store(sys.argv[1], key="id")
n = 50_000
frame = gpd.GeoDataFrame({"id": [f"big-{i}" for i in range(n)], "name_zh": [f"道路{i}" for i in range(n)]},
                         geometry=[shapely.LineString([(122 + i * 1e-6, 37.4), (122.01 + i * 1e-6, 37.41)]) for i in range(n)],
                         crs="EPSG:4326")
print("writing", flush=True)
store.add("roads", frame, actor="crash", message="never committed")
print("done", flush=True)
"""


def test_a_writer_killed_mid_transaction_leaves_the_store_consistent(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    store = open_store(tmp_path / "atlas.gpkg", key="id")
    store.replace({"parks": parks(), "roads": roads()})
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-c", CRASH, str(store.path)], stdout=subprocess.PIPE, text=True,
                            cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.stdout.readline().strip() == "writing"
    wal = Path(f"{store.path}-wal")
    deadline = time.time() + 60
    while time.time() < deadline and (not wal.exists() or wal.stat().st_size < 2_000_000):
        time.sleep(0.01)  # the transaction is under way once its pages spill into the WAL
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rest = proc.stdout.read()
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL and "done" not in rest
    again = open_store(store.path, key="id")
    assert again.verify().ok and len(again.history()) == 1
    assert ids(again, "roads") == ["road-0", "road-1", "road-2"]
    again.update("roads", "road-0", properties={"name_zh": "照常"}, actor="a", message="")
    assert again.verify().ok


def test_the_version_moves_on_every_committed_write_app_or_external(store):
    seen = {store.version()}
    store.update("parks", "park-0", properties={"name_zh": "一"}, actor="a", message="")
    seen.add(store.version())
    direct(store, "DELETE FROM parks WHERE id = 'park-3'")
    seen.add(store.version())
    store.add_field("parks", Field("note", "str"), actor="a", message="")
    seen.add(store.version())
    assert len(seen) == 4 and "note" in {f.name for f in store.fields("parks")}  # the schema cache follows
    assert store.version() == store.version()  # and stays put without a write


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_the_extent_follows_moves_and_deletes_without_a_pass_when_it_cannot_change(tmp_path, backend):
    """A shape moved inside the extent leaves it as it is (no pass over the R-tree); one moved
    off the edge, or deleted there, shrinks it to what is left; a move outward grows it."""
    import geopandas as gpd

    from geo.store import open_store as open_

    store = BACKENDS[backend](tmp_path)
    pts = gpd.GeoDataFrame({"id": ["西", "中", "东"], "name_zh": ["西点", "中点", "东点"]},
                           geometry=[shapely.Point(122.0, 37.0), shapely.Point(122.5, 37.2), shapely.Point(123.0, 37.4)],
                           crs="EPSG:4326")
    store.replace({"points": pts})
    # (an extent read again from the R-tree has its float32 boxes, rounded outward: 1e-5 degrees)
    bbox = lambda: tuple(round(v, 4) for v in store.info("points").bbox)
    assert bbox() == (122.0, 37.0, 123.0, 37.4)
    v = store.versions("points", ["中"])["中"]
    store.update("points", "中", geometry=shapely.Point(122.6, 37.3), expected_version=v, actor="甲", message="")
    assert bbox() == (122.0, 37.0, 123.0, 37.4)
    v = store.versions("points", ["东"])["东"]
    store.update("points", "东", geometry=shapely.Point(122.8, 37.1), expected_version=v, actor="甲", message="")
    assert bbox() == (122.0, 37.0, 122.8, 37.3)
    v = store.versions("points", ["西"])["西"]
    store.update("points", "西", geometry=shapely.Point(121.5, 37.0), expected_version=v, actor="甲", message="")
    assert bbox() == (121.5, 37.0, 122.8, 37.3)
    store.delete("points", ["西"], actor="甲", message="")
    assert bbox() == (122.6, 37.1, 122.8, 37.3)
