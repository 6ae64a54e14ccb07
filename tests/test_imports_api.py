"""The import API (layers.web.imports) over a copy of the small store: who may upload, commit, see
and remove an upload (by session with CSRF, and by token); a zipped GBK Shapefile in EPSG:4529
uploaded, inspected, planned and committed as a new layer that the API then serves; too large
uploads and zip slips refused with nothing stored."""
from __future__ import annotations

import io
import time
import zipfile

import pytest
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from layers.imports.uploads import Uploads
from tests.auth_helpers import PASSWORD, add_users, bearer, csrf, login, make_app
from tests.layers.test_imports import NAMES, gbk_shapefile_zip

#: askers beyond auth_helpers' viewer 李四, editor 张三 (granted roads) and admin 王五
MORE = {"editor-nogrant": ("赵六", ()), "editor-all": ("孙七", ("*",))}
NAMES_OF = {"anonymous": None, "viewer": "李四", "editor": "张三", "admin": "王五",
            **{k: v[0] for k, v in MORE.items()}}


@pytest.fixture()
def app(built_store, tmp_path):
    app = make_app(built_store, tmp_path / "atlas")
    book = add_users(app, grants=("roads",))
    for name, grants in MORE.values():
        book.add_user(name, "editor", PASSWORD, by="test")
        book.set_grants(name, list(grants), by="test")
    return app


@pytest.fixture()
def archive(tmp_path):
    return gbk_shapefile_zip(tmp_path / "src").read_bytes()


def _client(app, who: str, via: str = "session"):
    client = app.test_client()
    if who == "anonymous":
        return client, {}
    name = NAMES_OF[who]
    if via == "token":
        role = "admin" if who == "admin" else "viewer" if who == "viewer" else "editor"
        token = app.extensions["atlas_accounts"].create_token(name, f"test-{who}", role)["token"]
        return client, bearer(token)
    assert login(client, name).status_code == 200
    return client, {"X-CSRFToken": csrf(client)}


def _upload(client, headers, data: bytes, name: str = "parcels.zip"):
    # the body encoded here, in memory (the test client would spool a large one to a temporary file
    # that it leaves open when the app refuses the body unread)
    boundary, body = encode_multipart(MultiDict({"file": FileStorage(io.BytesIO(data), name)}))
    return client.post("/api/imports", data=body, headers=headers,
                       content_type=f"multipart/form-data; boundary={boundary}")


def _kept(app) -> list[str]:
    """The uploads kept (their folders; the lock file that serialises task starts is not one)."""
    return sorted(p.name for p in app.extensions["atlas_uploads"].folder.iterdir() if not p.name.startswith("."))


def _head(app):
    return app.extensions["atlas_store"].history(limit=1)[0].id


UPLOADERS = [("anonymous", 401), ("viewer", 403), ("editor-nogrant", 403), ("editor", 201), ("editor-all", 201),
             ("admin", 201)]


@pytest.mark.parametrize("via", ["session", "token"])
@pytest.mark.parametrize("who,status", UPLOADERS, ids=[u[0] for u in UPLOADERS])
def test_who_may_upload(app, archive, who, status, via):
    client, headers = _client(app, who, via)
    answer = _upload(client, headers, archive)
    assert answer.status_code == status, answer.get_json()
    if status == 201:
        assert _kept(app) == [answer.get_json()["id"]]
    else:
        assert answer.get_json()["role"] == "editor" and _kept(app) == []
    (event, *_) = app.extensions["atlas_accounts"].events(action="import")
    assert event["outcome"] == ("ok" if status == 201 else f"refused_{status}") and event["user"] == (
        None if who == "anonymous" else NAMES_OF[who] if via == "session" else f"token:test-{who}@{NAMES_OF[who]}")


COMMITTERS = [("anonymous", 401), ("viewer", 403), ("editor", 403), ("editor-all", 200), ("admin", 200)]


@pytest.mark.parametrize("via", ["session", "token"])
@pytest.mark.parametrize("who,status", COMMITTERS, ids=[c[0] for c in COMMITTERS])
def test_who_may_make_a_new_layer(app, archive, who, status, via):
    client, headers = _client(app, who, via)
    uploader = who if who in ("editor", "editor-all", "admin") else "admin"
    up_client, up_headers = (client, headers) if uploader == who else _client(app, "admin")
    upload_id = _upload(up_client, up_headers, archive).get_json()["id"]
    head = _head(app)
    answer = client.post(f"/api/imports/{upload_id}/commit", json={"layer": "parcels", "mode": "new"},
                         headers=headers)
    assert answer.status_code == status, answer.get_json()
    if status == 200:
        assert answer.get_json()["revision"] == _head(app) > head
        assert "parcels" in app.extensions["atlas_store"].layers()
    else:
        assert _head(app) == head and "parcels" not in app.extensions["atlas_store"].layers()


def test_appending_to_a_layer_needs_its_grant_and_an_upload_is_its_owners(app, archive):
    admin, admin_h = _client(app, "admin")
    first = _upload(admin, admin_h, archive).get_json()["id"]
    made = admin.post(f"/api/imports/{first}/commit", json={"layer": "parcels", "key": "code"}, headers=admin_h)
    assert made.status_code == 200 and made.get_json()["added"] == len(NAMES)
    editor, editor_h = _client(app, "editor", "token")
    assert editor.get(f"/api/imports/{first}", headers=editor_h).status_code == 404  # the admin's
    mine = _upload(editor, editor_h, archive).get_json()["id"]
    assert admin.get(f"/api/imports/{mine}", headers=admin_h).status_code == 200  # an admin sees every upload
    head = _head(app)
    upsert = {"layer": "parcels", "mode": "upsert", "key": "code"}
    refused = editor.post(f"/api/imports/{mine}/commit", json=upsert, headers=editor_h)
    assert refused.status_code == 403 and _head(app) == head
    app.extensions["atlas_accounts"].set_grants("张三", ["roads", "parcels"], by="test")
    editor, editor_h = _client(app, "editor", "token")  # a new token: its grants are read when it is resolved
    planned = editor.post(f"/api/imports/{mine}/commit", json={**upsert, "dry_run": True}, headers=editor_h)
    assert planned.status_code == 200 and planned.get_json()["revision"] is None and _head(app) == head
    done = editor.post(f"/api/imports/{mine}/commit", json=upsert, headers=editor_h)
    assert done.status_code == 200, done.get_json()
    counts = {k: done.get_json()[k] for k in ("added", "updated", "unchanged")}
    assert counts == {"added": 0, "updated": 0, "unchanged": len(NAMES)}
    assert counts == {k: planned.get_json()[k] for k in counts}


@pytest.mark.parametrize("header", [None, "wrong"])
def test_without_the_csrf_token_nothing_is_uploaded_or_written(app, archive, header):
    client, headers = _client(app, "admin")
    bad = {"X-CSRFToken": header} if header else {}
    answer = _upload(client, bad, archive)
    assert answer.status_code == 400 and answer.get_json()["error"] == "csrf" and _kept(app) == []
    upload_id = _upload(client, headers, archive).get_json()["id"]
    head = _head(app)
    answer = client.post(f"/api/imports/{upload_id}/commit", json={"layer": "parcels"}, headers=bad)
    assert answer.status_code == 400 and answer.get_json()["error"] == "csrf" and _head(app) == head
    assert client.delete(f"/api/imports/{upload_id}", headers=bad).status_code == 400
    assert _kept(app) == [upload_id]


def test_a_gbk_shapefile_in_gk_zone_41_is_uploaded_inspected_and_served(app, archive, built_store, tmp_path):
    client, headers = _client(app, "editor-all")
    answer = _upload(client, headers, archive)
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    found = body["inspection"]
    assert found["encoding"] in ("GBK", "GB18030") and found["crs"] == "EPSG:4529", found
    assert found["count"] == len(NAMES) and body["url"] == f"/api/imports/{body['id']}"
    assert answer.headers["Location"] == body["url"]
    # a reload: another app over the same folder finds the upload and its inspection
    again = make_app(built_store, tmp_path / "atlas")
    other = again.test_client()
    _, token = _client(again, "editor-all", "token")
    assert other.get(body["url"], headers=token).get_json()["inspection"] == found
    head = _head(app)
    choices = {"layer": "parcels", "mode": "new", "key": "code", "message": "规划地块导入"}
    planned = client.post(f"{body['url']}/commit", json={**choices, "dry_run": True}, headers=headers).get_json()
    assert planned["revision"] is None and _head(app) == head
    done = client.post(f"{body['url']}/commit", json=choices, headers=headers)
    assert done.status_code == 200, done.get_json()
    result = done.get_json()
    assert [result[k] for k in ("added", "updated", "unchanged")] == [planned[k] for k in ("added", "updated",
                                                                                          "unchanged")]
    assert result["added"] == len(NAMES) and result["revision"] == _head(app)
    revision = app.extensions["atlas_store"].history(limit=1)[0]
    assert revision.actor == "孙七" and revision.message == "规划地块导入"
    listed = {layer["id"]: layer for layer in client.get("/api/layers").get_json()["layers"]}
    assert listed["parcels"]["count"] == len(NAMES)
    features = client.get("/api/layers/parcels").get_json()["features"]
    assert sorted(f["properties"]["name_zh"] for f in features) == sorted(NAMES)
    assert sorted(f["id"] for f in features) == [f"P{i:03d}" for i in range(len(NAMES))]
    lon, lat = features[0]["geometry"]["coordinates"][0][0][0]
    assert 122.0 < lon < 122.1 and 37.48 < lat < 37.53  # over Huancui, not in the sea
    assert client.get(body["url"], headers=headers).get_json()["committed"][0]["revision"] == result["revision"]
    assert client.delete(body["url"], headers=headers).status_code == 200
    assert client.get(body["url"], headers=headers).status_code == 404 and _kept(app) == []


@pytest.mark.parametrize("megabytes", [1.5, 3])
def test_a_too_large_upload_is_refused_and_nothing_is_kept(built_store, tmp_path, megabytes):
    app = make_app(built_store, tmp_path / "atlas", IMPORT_MAX_MB=1)
    add_users(app)
    client, headers = _client(app, "admin")
    answer = _upload(client, headers, b"x" * int(megabytes * (1 << 20)), "huge.geojson")
    assert answer.status_code == 413
    assert "ATLAS_IMPORT_MAX_MB" in answer.get_json()["detail"] and _kept(app) == []


def test_a_zip_slip_is_refused_and_the_store_is_unchanged(app, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("../../evil.shp", b"x" * 100)
    client, headers = _client(app, "admin", "token")
    head = _head(app)
    answer = _upload(client, headers, buffer.getvalue(), "slip.zip")
    assert answer.status_code == 400 and "slip.zip" in answer.get_json()["detail"]
    assert _head(app) == head and _kept(app) == []
    assert not list(tmp_path.rglob("evil.shp"))
    event = app.extensions["atlas_accounts"].events(action="import")[0]
    assert event["outcome"] == "refused_400" and "slip.zip" in event["detail"]


def test_old_uploads_expire(tmp_path):
    uploads = Uploads(tmp_path / "imports", ttl=60)
    state = uploads.save(io.BytesIO(b"abc"), "../a/b/规划.csv", owner="张三", max_bytes=10)
    assert state["file"] == "规划.csv" and uploads.path(state["id"]).read_bytes() == b"abc"
    assert uploads.cleanup() == []
    assert uploads.cleanup(now=time.time() + 61) == [state["id"]]
    assert not (tmp_path / "imports" / state["id"]).exists()
