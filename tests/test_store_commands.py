"""The store from the command line: a backup taken while planners write restores to a store whose
log verifies; ``audit verify`` finds a tampered log; a restore refuses a backup that does not verify."""
from __future__ import annotations

import sqlite3
import threading
from contextlib import closing

from geo.store import Query, open_store
from layers import build as builder
from layers.api import edits
from server import create_app
from tests.conftest import write_sources


def _app(tmp_path):
    store = open_store(tmp_path / "atlas.gpkg", key="id")
    builder.build(store, write_sources(tmp_path / "sources"))
    return create_app({"STORE": str(store.path), "TESTING": True}), store


def test_backup_during_writes_restores_and_verifies(tmp_path):
    app, store = _app(tmp_path)
    runner = app.test_cli_runner()
    stop = threading.Event()
    written = []

    def write():
        n = 0
        while not stop.is_set():
            _, version = edits.versioned(store, "parks", "parks-huaxiacheng")
            edits.update(store, "parks", "parks-huaxiacheng", {"properties": {"description_zh": f"第{n}次修改"}},
                         if_match=str(version), actor="规划员甲")
            written.append(n)
            n += 1

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while len(written) < 5:
            threading.Event().wait(0.02)
        result = runner.invoke(args=["store", "backup", str(tmp_path / "backup" / "b1.gpkg")])
        assert result.exit_code == 0, result.output
        while len(written) < 10:
            threading.Event().wait(0.02)
    finally:
        stop.set()
        writer.join()
    assert "the chain verifies" in result.output
    assert (tmp_path / "backup" / "b1.accounts.sqlite").exists()
    backed = open_store(tmp_path / "backup" / "b1.gpkg", key="id")
    at_backup = backed.query("parks", Query(ids=("parks-huaxiacheng",))).iloc[0]["description_zh"]
    assert store.verify().entries > backed.verify().entries  # the writes went on after the backup

    result = runner.invoke(args=["store", "restore", str(tmp_path / "backup" / "b1.gpkg"), "--yes"])
    assert result.exit_code == 0, result.output
    restored = open_store(tmp_path / "atlas.gpkg", key="id")
    assert restored.verify().ok
    assert restored.query("parks", Query(ids=("parks-huaxiacheng",))).iloc[0]["description_zh"] == at_backup
    assert (tmp_path / "atlas.gpkg.before-restore").exists()
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0


def test_audit_verify_finds_a_tampered_log_and_restore_refuses_it(tmp_path):
    app, store = _app(tmp_path)
    runner = app.test_cli_runner()
    _, version = edits.versioned(store, "parks", "parks-huaxiacheng")
    edits.update(store, "parks", "parks-huaxiacheng", {"properties": {"status": "completed"}, "message": "竣工"},
                 if_match=str(version), actor="规划员甲")
    assert runner.invoke(args=["store", "backup", str(tmp_path / "good.gpkg")]).exit_code == 0
    with closing(sqlite3.connect(store.path)) as con:
        con.execute("UPDATE gpkg_atlas_revisions SET actor = '无名氏' WHERE actor = '规划员甲'")
        con.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "does not verify" in result.output
    bad = tmp_path / "bad.gpkg"
    store.backup(bad)
    result = runner.invoke(args=["store", "restore", str(bad), "--yes"])
    assert result.exit_code == 2 and "does not verify" in result.output
    result = runner.invoke(args=["store", "backup", str(tmp_path / "good.gpkg")])
    assert result.exit_code == 2 and "exists" in result.output
