"""What only the GeoPackage backend does: its temporary files and the file it writes."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

from geo.store import Field, open_store
from tests.geo.test_store import frame


def test_a_killed_build_leaves_nothing_that_is_never_cleaned(tmp_path):
    """A build killed with SIGKILL leaves its temporary file; the next write (and cleanup()) removes
    what belongs to a process that is gone, and never a live one's."""
    store = open_store(tmp_path / "atlas.gpkg", key="id")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    left = [tmp_path / f".atlas.{dead}.0123abcd.tmp.gpkg", tmp_path / f".atlas.{dead}.0123abcd.tmp.gpkg-journal"]
    alive = tmp_path / f".atlas.{os.getpid()}.89abcdef.tmp.gpkg"
    other = tmp_path / f".other.{dead}.0123abcd.tmp.gpkg"  # another store's: not ours to remove
    for path in (*left, alive, other):
        path.write_bytes(b"partial")
    store.replace({"points": frame()})
    assert not any(p.exists() for p in left)
    assert alive.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["atlas.gpkg", alive.name, other.name])


def test_json_and_date_fields_are_declared_as_geopackage_and_gdal_read_them():
    """JSON columns carry the GeoPackage schema extension's application/json (GDAL reads a JSON
    subtype), dates are DATE columns."""
    import tempfile
    from pathlib import Path

    import pyogrio

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.gpkg"
        open_store(path, key="id").replace({"points": frame()}, {"points": (Field("since", "date"), Field("figures", "json"))})
        with sqlite3.connect(path) as con:
            decl = {row[1]: row[2] for row in con.execute("PRAGMA table_info(points)")}
            mime = dict(con.execute("SELECT column_name, mime_type FROM gpkg_data_columns"))
        assert decl["since"] == "DATE" and decl["year"] == "INTEGER" and decl["open"] == "BOOLEAN"
        assert mime == {"figures": "application/json"}
        assert pyogrio.read_dataframe(path)["name_zh"].tolist()[0] == "测试路0号"


def test_a_bbox_alone_is_counted_exactly_by_the_rtree(tmp_path):
    import geopandas as gpd
    import shapely

    from geo.store import Query

    store = open_store(tmp_path / "s.gpkg", key="id")
    store.replace({"pts": gpd.GeoDataFrame({"id": [f"p{i}" for i in range(500)]},
                                           geometry=[shapely.Point(122 + i / 1000, 37.5) for i in range(500)],
                                           crs="EPSG:4326")})
    assert store.count("pts", Query(bbox=(122.0, 37.4, 122.1995, 37.6)), at_most=10) == 200  # exact, bound or not


def test_a_thread_keeps_its_connection_until_the_file_is_replaced(tmp_path):
    """Reads reuse one connection per thread (no reopening per request), yet a rebuild is read at
    once, and no thread uses another's connection. (A file put in the store's place is a restored
    backup: that is done with the server stopped, see restore_backup.)"""
    import threading

    from geo.store import Query

    store = open_store(tmp_path / "atlas.gpkg", key="id")
    store.replace({"points": frame(3, prefix="旧")})
    assert store.query("points", Query()).id.tolist() == ["旧-0", "旧-1", "旧-2"]
    first = store._reader()
    assert store._reader() is first
    store.replace({"points": frame(2, prefix="新")})
    assert store.query("points", Query()).id.tolist() == ["新-0", "新-1"]
    assert store._reader() is first
    seen = []
    worker = threading.Thread(target=lambda: seen.append((store._reader(), store.query("points", Query()).id.tolist())))
    worker.start()
    worker.join()
    assert seen[0][0] is not store._reader() and seen[0][1] == ["新-0", "新-1"]
