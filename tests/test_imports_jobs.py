"""Imports run outside the request (layers.imports.uploads tasks behind layers.web.imports): an
upload answered 202 at once with ``?wait=0`` and polled to its inspection, a plan and a commit the
same way, the state on disk seen by another app over the same folder (a reload, another worker),
progress reported, one task at a time per upload (409), ``ATLAS_IMPORT_JOBS`` over the server (429),
a refused file's error readable while nothing of the file is kept, a task whose process died
reported "interrupted" with the store unchanged, and the kept file inspected again with choices."""
from __future__ import annotations

import os
import threading
import time

import pytest

from layers.api.jobfiles import read_state, write_state
from tests.auth_helpers import add_users, make_app
from tests.layers.test_imports import NAMES, gbk_shapefile_zip
from tests.test_imports_api import _client, _head, _kept, _upload


@pytest.fixture()
def app(built_store, tmp_path):
    app = make_app(built_store, tmp_path / "atlas")
    add_users(app)
    return app


@pytest.fixture()
def archive(tmp_path):
    return gbk_shapefile_zip(tmp_path / "src").read_bytes()


def _poll(client, headers, url: str, seconds: float = 30) -> dict:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        body = client.get(url, headers=headers).get_json()
        if body["state"] != "running":
            return body
        time.sleep(0.05)
    raise AssertionError(f"{url} still running after {seconds} s")


def _upload_later(client, headers, data, name="parcels.zip"):
    from werkzeug.datastructures import FileStorage, MultiDict
    from werkzeug.test import encode_multipart
    import io

    boundary, body = encode_multipart(MultiDict({"file": FileStorage(io.BytesIO(data), name)}))
    return client.post("/api/imports?wait=0", data=body, headers=headers,
                       content_type=f"multipart/form-data; boundary={boundary}")


@pytest.fixture()
def gate(monkeypatch):
    """Holds every inspection until ``gate.set()`` (a slow file, deterministically)."""
    from layers.web import imports as web

    event = threading.Event()
    real = web.core.inspect

    def slow(*args, **kwargs):
        assert event.wait(20), "the test never opened the gate"
        return real(*args, **kwargs)

    monkeypatch.setattr(web.core, "inspect", slow)
    yield event
    event.set()


def test_an_upload_answered_at_once_is_polled_to_its_inspection_and_committed(app, archive, built_store,
                                                                              tmp_path, gate):
    client, headers = _client(app, "admin")
    answer = _upload_later(client, headers, archive)
    assert answer.status_code == 202, answer.get_json()
    body = answer.get_json()
    assert body["state"] == "running" and body["task"] == "inspect" and body["inspection"] is None
    assert answer.headers["Location"] == body["url"]
    # another app over the same folder (a reload served by another worker) sees it running
    other = make_app(built_store, tmp_path / "atlas")
    other_client, other_headers = _client(other, "admin")
    assert other_client.get(body["url"], headers=other_headers).get_json()["state"] == "running"
    # the upload is busy: a second task, or removing it, is refused
    busy = client.post(f"{body['url']}/commit?wait=0", json={"layer": "parcels", "key": "code"}, headers=headers)
    assert busy.status_code == 409 and "busy" in busy.get_json()["detail"]
    assert client.delete(body["url"], headers=headers).status_code == 409
    gate.set()
    done = _poll(client, headers, body["url"])
    assert done["state"] == "done" and done["progress"]["percent"] == 100, done
    assert done["inspection"]["count"] == len(NAMES) and done["inspection"]["crs"] == "EPSG:4529"
    head = _head(app)
    planned = client.post(f"{body['url']}/commit?wait=0", json={"layer": "parcels", "key": "code", "dry_run": True},
                          headers=headers)
    assert planned.status_code == 202
    plan = _poll(client, headers, body["url"])
    assert plan["task"] == "plan" and plan["plan"]["added"] == len(NAMES) and _head(app) == head
    committed = client.post(f"{body['url']}/commit?wait=0", json={"layer": "parcels", "key": "code"}, headers=headers)
    assert committed.status_code == 202
    result = _poll(client, headers, body["url"])
    assert result["state"] == "done" and result["task"] == "commit", result
    assert result["result"]["added"] == len(NAMES) and result["result"]["revision"] == _head(app) != head
    assert result["committed"][0]["revision"] == result["result"]["revision"]
    assert app.extensions["atlas_store"].info("parcels").count == len(NAMES)
    outcomes = [(e["outcome"], e["detail"].split(" ")[0]) for e in
                app.extensions["atlas_accounts"].events(action="import")]
    assert ("ok", "commit") in outcomes and ("ok", "plan") in outcomes and ("ok", "inspect") in outcomes


def test_waiting_answers_a_small_file_at_once(app, archive):
    client, headers = _client(app, "admin")
    answer = _upload(client, headers, archive)
    assert answer.status_code == 201 and answer.get_json()["state"] == "done"
    url = answer.get_json()["url"]
    planned = client.post(f"{url}/commit", json={"layer": "parcels", "key": "code", "dry_run": True}, headers=headers)
    assert planned.status_code == 200 and planned.get_json()["added"] == len(NAMES)


@pytest.mark.parametrize("wait", ["-1", "61", "soon"])
def test_a_bad_wait_is_refused_before_anything_is_kept(app, archive, wait):
    client, headers = _client(app, "admin")
    from werkzeug.datastructures import FileStorage, MultiDict
    from werkzeug.test import encode_multipart
    import io

    boundary, body = encode_multipart(MultiDict({"file": FileStorage(io.BytesIO(archive), "a.zip")}))
    answer = client.post(f"/api/imports?wait={wait}", data=body, headers=headers,
                         content_type=f"multipart/form-data; boundary={boundary}")
    assert answer.status_code == 400 and answer.get_json()["parameter"] == "wait" and _kept(app) == []


def test_the_server_runs_at_most_import_jobs_tasks(built_store, tmp_path, archive, gate):
    app = make_app(built_store, tmp_path / "atlas", IMPORT_JOBS=1)
    add_users(app)
    client, headers = _client(app, "admin")
    first = _upload_later(client, headers, archive)
    assert first.status_code == 202
    second = _upload_later(client, headers, archive)
    assert second.status_code == 429 and "ATLAS_IMPORT_JOBS" in second.get_json()["detail"]
    assert _kept(app) == [first.get_json()["id"]]  # the refused one is not kept
    gate.set()
    assert _poll(client, headers, first.get_json()["url"])["state"] == "done"


def test_a_refused_file_answered_later_keeps_its_error_and_nothing_of_the_file(app):
    client, headers = _client(app, "admin")
    answer = _upload_later(client, headers, b"PK\x03\x04 not really a zip", "损坏.zip")
    assert answer.status_code == 202
    state = _poll(client, headers, answer.get_json()["url"])
    assert state["state"] == "failed" and 400 <= state["error"]["status"] < 500, state
    assert "损坏.zip" in state["error"]["detail"]
    folder = app.extensions["atlas_uploads"].folder / state["id"]
    assert sorted(p.name for p in folder.iterdir()) == ["state.json"]
    again = client.post(f"{state['url']}/commit", json={"layer": "x"}, headers=headers)
    assert again.status_code == 404 and "upload it again" in again.get_json()["detail"]


def test_a_task_whose_process_died_is_interrupted_and_nothing_is_stored(app, archive):
    client, headers = _client(app, "admin")
    body = _upload(client, headers, archive).get_json()
    head = _head(app)
    # as a worker killed during the commit leaves it: running, by a process that is gone
    folder = app.extensions["atlas_uploads"].folder / body["id"]
    state = read_state(folder)
    gone = 2 ** 22 + 12345  # above the default pid_max of 32768·128: no such process
    assert not os.path.exists(f"/proc/{gone}")
    write_state(folder, {**state, "state": "running", "task": "commit", "pid": gone, "started": "2026-12-01T00:00:00Z",
                         "progress": {"phase": "write", "done": 3, "total": 5, "percent": 60}})
    seen = client.get(body["url"], headers=headers).get_json()
    assert seen["state"] == "failed" and seen["error"]["error"] == "interrupted", seen
    assert "nothing of it was stored" in seen["error"]["detail"] and _head(app) == head
    # the upload can be committed again
    done = client.post(f"{body['url']}/commit", json={"layer": "parcels", "key": "code"}, headers=headers)
    assert done.status_code == 200 and done.get_json()["added"] == len(NAMES)


def test_the_kept_file_is_inspected_again_with_the_planners_choices(app, archive):
    client, headers = _client(app, "admin")
    body = _upload(client, headers, archive).get_json()
    assert body["inspection"]["encoding"] in ("GBK", "GB18030")
    again = client.post(f"{body['url']}/inspect", json={"encoding": "UTF-8", "crs": "EPSG:4550"}, headers=headers)
    found = again.get_json()
    # not UTF-8: refused with a message; or read (replacement characters) — either way the planner sees it
    if again.status_code == 200:
        assert found["inspection"]["encoding"] == "UTF-8" and found["inspection"]["crs"] == "EPSG:4550"
        assert "chosen by hand" in found["inspection"]["crs_reason"]
    else:
        assert again.status_code in (400, 422) and "UTF-8" in found["detail"], found
    back = client.post(f"{body['url']}/inspect", json={"encoding": "GBK"}, headers=headers)
    assert back.status_code == 200 and back.get_json()["inspection"]["encoding"] == "GBK"
    names = back.get_json()["inspection"]
    assert names["count"] == len(NAMES)
    bad = client.post(f"{body['url']}/inspect", json={"encoding": 5}, headers=headers)
    assert bad.status_code == 400 and bad.get_json()["parameter"] == "encoding"


def _upload_parts(client, headers, parts: dict):
    from werkzeug.datastructures import FileStorage, MultiDict
    from werkzeug.test import encode_multipart
    import io

    fields = MultiDict([("file", FileStorage(io.BytesIO(data), name)) for name, data in parts.items()])
    boundary, body = encode_multipart(fields)
    return client.post("/api/imports", data=body, headers=headers,
                       content_type=f"multipart/form-data; boundary={boundary}")


def test_a_shapefiles_loose_parts_are_one_upload(app, archive):
    import io
    import zipfile

    client, headers = _client(app, "admin")
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        parts = {name: zf.read(name) for name in zf.namelist()}
    assert sorted(parts) == ["parcels.dbf", "parcels.shp", "parcels.shx"]
    answer = _upload_parts(client, headers, parts)
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert body["file"] == "parcels.shp" and sorted(body["files"]) == sorted(parts)
    assert body["inspection"]["count"] == len(NAMES) and body["inspection"]["crs"] == "EPSG:4529"
    done = client.post(f"{body['url']}/commit", json={"layer": "loose", "key": "code"}, headers=headers)
    assert done.status_code == 200 and done.get_json()["added"] == len(NAMES)
    # files that are not one Shapefile's parts: refused, nothing kept
    mixed = _upload_parts(client, headers, {"parcels.shp": parts["parcels.shp"], "其他.dbf": parts["parcels.dbf"]})
    assert mixed.status_code == 400 and "zip" in mixed.get_json()["detail"]
    other = _upload_parts(client, headers, {"a.csv": b"x,y\n1,2\n", "b.csv": b"x,y\n1,2\n"})
    assert other.status_code == 400 and other.get_json()["parameter"] == "file"
    assert _kept(app) == [body["id"]]
    # without its .dbf: the part that is missing is named
    lonely = _upload_parts(client, headers, {"parcels.shp": parts["parcels.shp"], "parcels.shx": parts["parcels.shx"]})
    assert 400 <= lonely.status_code < 500 and ".dbf" in lonely.get_json()["detail"], lonely.get_json()


def test_an_import_is_undone_as_a_new_revision_while_it_is_the_layers_latest_change(app, archive):
    client, headers = _client(app, "admin")
    store = app.extensions["atlas_store"]
    body = _upload(client, headers, archive).get_json()
    nothing = client.post(f"{body['url']}/undo", json={}, headers=headers)
    assert nothing.status_code == 400 and "not imported" in nothing.get_json()["detail"]
    made = client.post(f"{body['url']}/commit", json={"layer": "parcels", "key": "code"}, headers=headers).get_json()
    undone = client.post(f"{body['url']}/undo", json={"message": "导错了"}, headers=headers)
    assert undone.status_code == 200, undone.get_json()
    assert undone.get_json()["undone"] == made["revision"] and "parcels" not in store.layers()
    assert store.history(limit=1)[0].message == "导错了"
    again = client.post(f"{body['url']}/undo", json={}, headers=headers)
    assert again.status_code == 409 and "undone already" in again.get_json()["detail"]
    # an upsert undone restores the layer as it was; after a later edit it is refused
    base = _upload(client, headers, archive).get_json()
    client.post(f"{base['url']}/commit", json={"layer": "parcels2", "key": "code"}, headers=headers)
    before = sorted((f["id"], f["properties"]["note"]) for f in
                    client.get("/api/layers/parcels2").get_json()["features"])
    import io
    import zipfile
    import geopandas as gpd
    import pyogrio
    from pathlib import Path
    import tempfile

    folder = Path(tempfile.mkdtemp())
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        zf.extractall(folder)
    frame = pyogrio.read_dataframe(folder / "parcels.shp", encoding="GBK")
    frame["note"] = [f"改过的说明{i}" for i in range(len(frame))]
    frame = gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:4529")
    pyogrio.write_dataframe(frame, folder / "changed.shp", encoding="UTF-8")
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as zf:
        for part in folder.glob("changed.*"):
            zf.write(part, part.name)
    second = _upload(client, headers, zipped.getvalue(), "changed.zip").get_json()
    upserted = client.post(f"{second['url']}/commit", json={"layer": "parcels2", "mode": "upsert", "key": "code",
                                                            "crs": "EPSG:4529"}, headers=headers)
    assert upserted.status_code == 200 and upserted.get_json()["updated"] == len(NAMES), upserted.get_json()
    assert client.post(f"{second['url']}/undo", json={}, headers=headers).status_code == 200
    after = sorted((f["id"], f["properties"]["note"]) for f in client.get("/api/layers/parcels2").get_json()["features"])
    assert after == before
    third = _upload(client, headers, zipped.getvalue(), "changed.zip").get_json()
    client.post(f"{third['url']}/commit", json={"layer": "parcels2", "mode": "upsert", "key": "code",
                                                "crs": "EPSG:4529"}, headers=headers)
    store.update("parcels2", "P000", properties={"note": "之后的编辑"}, actor="王五", message="later")
    late = client.post(f"{third['url']}/undo", json={}, headers=headers)
    assert late.status_code == 409 and "changed after the import" in late.get_json()["detail"]
    assert client.get("/api/features/P000").get_json()["properties"]["note"] == "之后的编辑"
