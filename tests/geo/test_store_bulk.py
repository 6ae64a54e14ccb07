"""Large writes of the GeoPackage store: chunked, the layer's insert triggers set aside and their
work done a chunk at a time, the log written as it goes and hashed from what was written. The
result must be the write row by row: the same rows, R-tree, feature count, log and hash chain."""
from __future__ import annotations

import hashlib
import json
import sqlite3
from contextlib import closing

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.errors import InvalidGeometry
from geo.store import Field, Query, open_store
from geo.store import gpkg_edit, gpkg_write, revisions
from geo.store.gpkg_bulk import db_column
from geo.store.gpkg_geom import blob, blobs
from geo.store.gpkg_write import db_value
from geo.store.logged import StoredChanges
from tests import pg

FIELDS = [Field("name_zh", "str"), Field("n", "int"), Field("ratio", "float"), Field("ok", "bool"),
          Field("note", "str")]


def _frame(n: int, *, start: int = 0) -> gpd.GeoDataFrame:
    i = np.arange(start, start + n)
    lon, lat = 122.0 + (i % 300) * 1e-4, 37.4 + (i // 300) * 1e-4
    squares = shapely.box(lon, lat, lon + 5e-5, lat + 5e-5)
    parts = np.where(i % 2 == 0, shapely.multipolygons(squares, indices=np.arange(n)), squares)  # half single parts
    return gpd.GeoDataFrame({
        "id": [f"k-{v}" for v in i], "name_zh": [f"地块{v}" if v % 7 else None for v in i],
        "n": pd.array([v if v % 5 else None for v in i], dtype="Int64"), "ratio": np.where(i % 3, i / 7, np.nan),
        "ok": i % 2 == 0, "note": pd.Series([f'"引号"\\{v}' for v in i], dtype="str"),
    }, geometry=list(parts), crs="EPSG:4326")


def _store(tmp_path, name: str):
    from layers import build as builder

    store = open_store(tmp_path / f"{name}.gpkg", key="id")
    builder.write(store, {"seed": gpd.GeoDataFrame({"id": ["s"]}, geometry=[shapely.Point(122, 37.5)], crs=4326)})
    return store


def _dump(store, layer: str) -> dict:
    with closing(sqlite3.connect(store.path)) as con:
        geom = con.execute("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", (layer,)).fetchone()[0]
        return {
            "rows": con.execute(f'SELECT * FROM "{layer}" ORDER BY fid').fetchall(),
            "rtree": con.execute(f'SELECT * FROM "rtree_{layer}_{geom}" ORDER BY id').fetchall(),
            "count": con.execute("SELECT feature_count FROM gpkg_ogr_contents WHERE table_name = ?", (layer,)).fetchone(),
            "extent": con.execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = ?",
                                  (layer,)).fetchone(),
            "triggers": sorted(con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
                                           (layer,)).fetchall()),
            "log": con.execute("SELECT seq, layer, key, fid, op, before, before_geom, after, after_geom FROM "
                               "gpkg_atlas_changes WHERE layer = ? ORDER BY rev, seq", (layer,)).fetchall(),
        }


def test_a_large_write_is_the_write_row_by_row(tmp_path, monkeypatch):
    frame = _frame(25_000)  # three chunks, two spills and the rest
    bulk = _store(tmp_path, "bulk")
    rev = bulk.create_layer("parcels", "MultiPolygon", FIELDS, features=frame, actor="测试", message="bulk")
    # the same write the old way: every row through the triggers, the log held until the end
    monkeypatch.setattr(gpkg_edit, "_BULK_TRIGGERS", 10**9)
    monkeypatch.setattr(gpkg_write, "_SPILL", 10**9)
    slow = _store(tmp_path, "slow")
    slow.create_layer("parcels", "MultiPolygon", FIELDS, features=frame, actor="测试", message="bulk")
    fast, plain = _dump(bulk, "parcels"), _dump(slow, "parcels")
    assert fast == plain
    assert len(fast["rtree"]) == fast["count"][0] == 25_000
    assert bulk.verify().ok and slow.verify().ok
    # the revision's changes read from the log when asked for, equal to what history gives
    assert isinstance(rev.changes, StoredChanges) and len(rev.changes) == 25_000
    first = rev.changes[0]
    assert (first.op, first.key, first.after["name_zh"], first.after["ok"]) == ("add", "k-0", None, True)
    assert rev.changes[-1].key == "k-24999" and [c.key for c in rev.changes[10:12]] == ["k-10", "k-11"]
    assert rev.changes == tuple(bulk.history(limit=1)[0].changes)
    got = bulk.query("parcels", Query(bbox=(122.0, 37.4, 122.00004, 37.40004)))
    assert list(got["id"]) == ["k-0"] and got.geometry.iloc[0].geom_type == "MultiPolygon"


def _seeded(tmp_path, backend: str):
    """A store of either backend with one seed layer (the interface's tests below)."""
    if backend == "gpkg":
        return _store(tmp_path, "seeded")
    store = open_store(pg.fresh_url(), key="id")
    store.replace({"seed": gpd.GeoDataFrame({"id": ["s"]}, geometry=[shapely.Point(122, 37.5)], crs=4326)})
    return store


@pytest.mark.parametrize("backend", ["gpkg", "postgis"])
def test_a_large_write_holds_its_changes_in_the_log_and_reads_back(tmp_path, backend):
    frame = _frame(25_000)  # more than one chunk of every backend
    store = _seeded(tmp_path, backend)
    rev = store.create_layer("parcels", "MultiPolygon", FIELDS, features=frame, actor="测试", message="bulk")
    assert store.info("parcels").count == 25_000 and store.verify().ok
    assert len(rev.changes) == 25_000 and not isinstance(rev.changes, tuple)  # read from the log when asked for
    first = rev.changes[0]
    assert (first.op, first.key, first.after["name_zh"], first.after["ok"]) == ("add", "k-0", None, True)
    assert first.after["note"] == '"引号"\\0' and first.after["n"] is None
    assert rev.changes[-1].key == "k-24999" and [c.key for c in rev.changes[10:12]] == ["k-10", "k-11"]
    assert rev.changes == tuple(store.history(limit=1)[0].changes)
    got = store.query("parcels", Query(bbox=(122.0, 37.4, 122.00004, 37.40004)))
    assert list(got["id"]) == ["k-0"] and got.geometry.iloc[0].geom_type == "MultiPolygon"
    assert list(store.query("parcels", Query(limit=3, offset=24_998))["id"]) == ["k-24998", "k-24999"]


@pytest.mark.parametrize("backend", ["gpkg", "postgis"])
def test_a_failure_in_a_later_chunk_writes_nothing_and_spends_no_revision(tmp_path, backend):
    store = _seeded(tmp_path, backend)
    frame = _frame(25_000)
    x, y = 122.0, 37.49
    frame.loc[22_222, "geometry"] = shapely.Polygon([(x, y), (x + 1e-3, y + 1e-3), (x + 1e-3, y), (x, y + 1e-3)])
    before = (store.version(), store.layers(), store.history())
    with pytest.raises(InvalidGeometry):
        store.create_layer("parcels", "MultiPolygon", FIELDS, features=frame, actor="a", message="m")
    assert (store.version(), store.layers(), store.history()) == before and store.verify().ok
    store.create_layer("parcels", "MultiPolygon", FIELDS, features=_frame(100), actor="a", message="m")
    assert store.history(limit=1)[0].id == 2


def test_external_edits_are_still_recorded_after_a_bulk_write(tmp_path):
    store = _store(tmp_path, "ext")
    store.create_layer("parcels", "MultiPolygon", FIELDS, features=_frame(3_000), actor="a", message="m")
    with closing(sqlite3.connect(store.path)) as con:
        con.execute('DELETE FROM "parcels" WHERE id = ?', ("k-5",))  # as QGIS would: through the triggers
        con.commit()
        assert con.execute("SELECT op FROM gpkg_atlas_pending").fetchall() == [("delete",)]
        assert con.execute("SELECT feature_count FROM gpkg_ogr_contents WHERE table_name = 'parcels'").fetchone() == (2999,)
    store.add("parcels", _frame(2_500, start=3_000), actor="b", message="more")  # seals the edit first
    assert store.history(limit=2)[1].actor == "external" and store.verify().ok
    assert store.info("parcels").count == 5_499


def test_a_failure_in_a_later_chunk_leaves_the_store_as_it_was(tmp_path):
    store = _store(tmp_path, "fail")
    frame = _frame(25_000)
    x, y = 122.0, 37.49
    frame.loc[22_222, "geometry"] = shapely.Polygon([(x, y), (x + 1e-3, y + 1e-3), (x + 1e-3, y), (x, y + 1e-3)])
    before = hashlib.sha256(store.path.read_bytes()).hexdigest()
    with pytest.raises(InvalidGeometry):
        store.create_layer("parcels", "MultiPolygon", FIELDS, features=frame, actor="a", message="m")
    assert hashlib.sha256(store.path.read_bytes()).hexdigest() == before
    assert "parcels" not in store.layers() and store.verify().ok
    store.create_layer("parcels", "MultiPolygon", FIELDS, features=_frame(100), actor="a", message="m")
    assert store.history(limit=1)[0].id == 2  # no revision was spent by the failed write


def test_an_unknown_insert_trigger_keeps_the_row_by_row_path(tmp_path):
    store = _store(tmp_path, "own")
    store.create_layer("parcels", "MultiPolygon", FIELDS, actor="a", message="m")
    with closing(sqlite3.connect(store.path)) as con:
        con.execute("CREATE TABLE audit (id TEXT)")
        con.execute('CREATE TRIGGER mine AFTER INSERT ON "parcels" BEGIN INSERT INTO audit VALUES (NEW.id); END')
        con.commit()
    store.add("parcels", _frame(3_000), actor="a", message="m")
    with closing(sqlite3.connect(store.path)) as con:
        assert con.execute("SELECT COUNT(*) FROM audit").fetchone() == (3_000,)  # it ran for every row
        assert con.execute("SELECT COUNT(*) FROM rtree_parcels_geom").fetchone() == (3_000,)


def test_the_streamed_hash_is_the_one_shot_hash():
    def one_shot(prev, rid, time, actor, message, layers, count, changes):
        body = [rid, time, actor, message, layers, count,
                [[c[0], c[1], c[2], c[3], c[4], None if c[5] is None else bytes(c[5]).hex(), c[6],
                  None if c[7] is None else bytes(c[7]).hex()] for c in changes]]
        return hashlib.sha256((prev + json.dumps(body, ensure_ascii=False, separators=(",", ":"))).encode()).hexdigest()

    changes = [("层", f"k{i}", i, "add", None, None, '{"a":"名"}', bytes([i % 256]) * 9) for i in range(2_345)]
    changes.append(("l", "x", None, "delete", '{"b":1}', b"\x00", None, None))
    changes.append(("l", 5, 1.5, "update", None, memoryview(b"\x01\x02"), "{}", bytearray(b"\x03")))  # odd types
    for rows in (changes, changes[:1], []):
        args = ("ab" * 32, 7, "2026-12-01T00:00:00.000000Z", "规划员", "msg \"q\"", '["l"]', len(rows))
        assert revisions.entry_hash(*args, iter(rows)) == one_shot(*args, rows)


def test_json_objects_and_db_column_are_the_row_by_row_values():
    values = ["", 'a"b\\c\n', "中文\u2028", "😀", 0, -5, 2**70, True, False, None, 0.1, -0.0, 1e300,
              float("inf"), 5e-324]
    rng = np.random.default_rng(3)
    for _ in range(300):
        names = list(rng.choice(["id", "b", "Z", "名", "a_1"], size=rng.integers(1, 5), replace=False))
        columns = {n: [values[j] for j in rng.integers(0, len(values), 4)] for n in names}
        assert revisions.json_objects(columns) == [revisions.dumps({n: columns[n][i] for n in names}) for i in range(4)]
    series = [
        (pd.Series(["a", None, "中"], dtype=object), "str"), (pd.Series(["a", np.nan, "b"], dtype="str"), "str"),
        (pd.Series([1, None, 3], dtype="Int64"), "int"), (pd.Series([1, 2**40], dtype="int64"), "int"),
        (pd.Series([1.5, np.nan, float("inf")]), "float"), (pd.Series([3, 4], dtype="int32"), "float"),
        (pd.Series([True, False]), "bool"), (pd.Series([True, None], dtype="boolean"), "bool"),
        (pd.Series([1, "x", 2.5, None], dtype=object), "str"), (pd.Series(["1", "2"], dtype=object), "int"),
        (pd.Series([1.0, 2.0]), "int"), (pd.Series(["2026-01-02"], dtype=object), "date"),
    ]
    for values, kind in series:
        got = db_column(values, kind, "f", len(values))
        want = [db_value(v, kind, "f") for v in values]
        assert got == want and [type(v) for v in got] == [type(v) for v in want], (values, kind)
    assert db_column(None, "str", "f", 2) == [None, None]


def test_blobs_are_the_blobs_one_by_one():
    geoms = np.array([shapely.Point(1, 2), shapely.Point(1, 2, 3), shapely.from_wkt("POINT EMPTY"), None,
                      shapely.box(0, 0, 1, 1), shapely.from_wkt("MULTILINESTRING ((0 0, 1 1), (2 2, 3 0))"),
                      shapely.from_wkt("POLYGON EMPTY")], dtype=object)
    assert blobs(geoms) == [blob(g) for g in geoms]
