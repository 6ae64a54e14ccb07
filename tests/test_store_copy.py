"""``flask --app server store copy SRC DST``: a whole store, revisions included, GeoPackage -> PostGIS
and back; the copy's log verifies with the source's head, and its layers, features, history, dropped
layers and documents are the source's. A copy that fails leaves the destination as it was."""
from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from geo.errors import StoreError
from geo.store import Query, open_store
from geo.store.copy import copy_store
from layers import build as builder
from server import create_app
from tests import pg
from tests.conftest import write_sources


def _rows(store, layer: str) -> dict:
    frame = store.query(layer, Query()).to_wkb()
    return frame.astype(object).where(frame.notna(), None).to_dict("list")  # None for NaN: equal to itself


def _content(store) -> dict:
    layers = store.layers()
    return {
        "layers": layers,
        "fields": {n: store.fields(n) for n in layers},
        "features": {n: _rows(store, n) for n in layers},
        "history": store.history(limit=10_000),
        "dropped": store.dropped_layers(),
        "document": store.document("规划说明"),
        "versions": {n: store.versions(n, list(store.query(n, Query())["id"])) for n in layers},
    }


def _edit(store, who: str, gone: tuple[str, str]) -> None:
    store.update("parks", "parks-huaxiacheng", properties={"description_zh": f"{who}修改"}, actor=who, message="改")
    store.add("parks", gpd.GeoDataFrame({"id": [f"parks-{who}"], "name_zh": [f"{who}的公园"]},
                                        geometry=[shapely.MultiPolygon([shapely.box(122.1, 37.5, 122.101, 37.501)])], crs="EPSG:4326"),
              actor=who, message="新增")
    store.delete(gone[0], [gone[1]], actor=who, message="删")


def test_copy_gpkg_to_postgis_and_back_keeps_everything(tmp_path):
    source = open_store(tmp_path / "atlas.gpkg", key="id")
    builder.build(source, write_sources(tmp_path / "sources"))
    _edit(source, "甲", ("projects", "projects-weiqiao"))
    source.drop_layer("roads", actor="甲", message="删图层")
    source.put_document("规划说明", {"版本": 1, "说明": "测试"})
    app = create_app({"STORE": str(source.path), "TESTING": True})
    runner = app.test_cli_runner()

    url = pg.fresh_url()
    result = runner.invoke(args=["store", "copy", str(source.path), url])
    assert result.exit_code == 0, result.output
    assert "the chain verifies" in result.output and "copying" in result.output  # the progress bar's label
    copied = open_store(url, key="id")
    assert copied.verify().head == source.verify().head
    assert _content(copied) == _content(source)
    assert copied.query("parks", Query(bbox=(122.09, 37.49, 122.11, 37.51)))["id"].tolist() == ["parks-甲"]

    # the copy is a live store: the atlas's edits and a direct one, then back to a GeoPackage
    _edit(copied, "乙", ("projects", "projects-yuanyao"))
    with pg.connect() as con:
        con.execute(f'UPDATE "{copied.schema}".parks SET name_zh = %s WHERE id = %s', ("改名", "parks-hostile"))
    copied.restore_layer("roads", revision_id=1, actor="乙", message="恢复")
    back = tmp_path / "back.gpkg"
    result = runner.invoke(args=["store", "copy", url, str(back)])
    assert result.exit_code == 0, result.output
    again = open_store(back, key="id")
    assert again.verify(seal=False).ok and again.verify().head == copied.verify().head
    assert _content(again) == _content(copied)
    assert again.history(limit=2)[1].actor == "atlas"  # the direct edit, as the database recorded it
    # and the copy of the copy takes edits too, its log still whole
    _edit(again, "丙", ("parks", "parks-甲"))
    assert again.verify().ok and again.verify().entries == copied.verify().entries + 3


def test_an_existing_destination_is_refused_and_a_failed_copy_leaves_nothing(tmp_path, monkeypatch):
    source = open_store(tmp_path / "atlas.gpkg", key="id")
    builder.build(source, write_sources(tmp_path / "sources"))
    app = create_app({"STORE": str(source.path), "TESTING": True})
    runner = app.test_cli_runner()
    taken = open_store(pg.fresh_url(), key="id")
    taken.replace({"other": gpd.GeoDataFrame({"id": ["x"]}, geometry=[shapely.Point(122, 37)], crs="EPSG:4326")})
    result = runner.invoke(args=["store", "copy", str(source.path), taken.url])
    assert result.exit_code == 2 and "already holds a store" in result.output
    assert taken.layers() == ["other"] and len(taken.history()) == 1

    from geo.store import pg_edit

    real, calls = pg_edit.copy_rows, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise StoreError("the disk is full")
        return real(*args, **kwargs)

    monkeypatch.setattr(pg_edit, "copy_rows", flaky)
    fresh = open_store(pg.fresh_url(), key="id")
    with pytest.raises(StoreError):
        copy_store(source, fresh.url)
    assert not fresh.exists()
    with pg.connect() as con:  # no schema of the copy left behind either
        assert con.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'atlas_copy_%%'").fetchone()[0] == 0
    monkeypatch.undo()
    # replaced on request: complete, with the source's log
    assert copy_store(source, taken.url, replace=True).head == source.verify().head
    assert taken.layers() == source.layers()

    # a GeoPackage destination: written beside it, then moved; a failure leaves the old file as it was
    dest = tmp_path / "dest.gpkg"
    copy_store(taken, str(dest))
    before = dest.read_bytes()
    import pyogrio

    monkeypatch.setattr(pyogrio, "write_arrow", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        copy_store(taken, str(dest))
    assert dest.read_bytes() == before and sorted(p.name for p in tmp_path.glob(".dest*")) == []


def test_backup_and_restore_of_a_postgis_store_from_the_command_line(built_store, tmp_path, monkeypatch):
    from tests.auth_helpers import postgis_copy

    monkeypatch.chdir(tmp_path)  # a server store's own files (the copy kept before a restore) under var/
    url = postgis_copy(built_store)
    app = create_app({"STORE": url, "TESTING": True, "ACCOUNTS": str(tmp_path / "accounts.sqlite")})
    runner = app.test_cli_runner()
    store = open_store(url, key="id")
    before = _content(store)
    result = runner.invoke(args=["store", "backup", str(tmp_path / "b.gpkg")])
    assert result.exit_code == 0 and "the chain verifies" in result.output, result.output
    _edit(store, "丁", ("projects", "projects-weiqiao"))
    assert _content(store) != before
    result = runner.invoke(args=["store", "restore", str(tmp_path / "b.gpkg"), "--yes"])
    assert result.exit_code == 0, result.output
    assert _content(open_store(url, key="id")) == before and store.verify().ok
    kept = open_store(tmp_path / "var" / "atlas.before-restore.gpkg", key="id")  # what was replaced, kept
    assert kept.verify(seal=False).entries == len(before["history"]) + 3
