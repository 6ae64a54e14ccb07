"""The permission matrix of every editing and history route: anonymous, viewer, editor with and
without a grant, admin — by session (with the CSRF token) and by API token — against the real
routes over a copy of the small store. A refusal writes nothing; CSRF missing or wrong is a 400."""
from __future__ import annotations

import pytest

from tests.auth_helpers import add_users, bearer, csrf, login, make_app, tokens

ROAD = {"type": "Feature", "properties": {"name_zh": "新修道路", "category": "bottleneck_road", "district": "371002"},
        "geometry": {"type": "LineString", "coordinates": [[122.10, 37.50], [122.11, 37.51]]}, "message": "新建"}
PARK = {"type": "Feature", "properties": {"name_zh": "新公园", "category": "urban_park", "district": "371002"},
        "geometry": {"type": "Polygon", "coordinates": [[[122.12, 37.5], [122.121, 37.5], [122.121, 37.501], [122.12, 37.5]]]}}


def _version(client, key="roads-wangdaohenan"):
    return str(client.get(f"/api/features/{key}").get_json()["version"])


# (name, method, url, json body, needs If-Match, who may: "editor" = an editor granted roads, or "admin")
ROUTES = [
    ("create", "POST", "/api/layers/roads/features", ROAD, False, "editor", 201),
    ("create, no grant", "POST", "/api/layers/parks/features", PARK, False, "admin", 201),
    ("update", "PATCH", "/api/layers/roads/features/roads-wangdaohenan",
     {"properties": {"status": "completed"}, "message": "竣工"}, True, "editor", 200),
    ("update, no grant", "PATCH", "/api/layers/parks/features/parks-huaxiacheng",
     {"properties": {"status": "completed"}}, "parks-huaxiacheng", "admin", 200),
    ("delete", "DELETE", "/api/layers/roads/features/roads-wangdaohenan", {"message": "撤销"}, True, "editor", 200),
    ("restore feature", "POST", "/api/layers/roads/features/roads-wangdaohenan/restore", {"revision": 1}, False,
     "editor", 200),
    ("restore layer", "POST", "/api/layers/roads/restore", {"revision": 1}, False, "admin", 200),
    ("drop layer", "DELETE", "/api/layers/roads", {"message": "不再使用"}, False, "admin", 200),
    ("undelete an existing layer", "POST", "/api/layers/roads/undelete", {}, False, "admin", 400),
]
ASKERS = ["anonymous", "viewer", "editor", "admin", "viewer-token", "editor-token", "admin-token"]


@pytest.fixture(params=["gpkg", "postgis"])
def app(request, built_store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a server store's folders (exports, imports) are under var/ here
    app = make_app(built_store, tmp_path / "atlas", backend=request.param)
    add_users(app, grants=("roads",))
    return app


def _client(app, who):
    client = app.test_client()
    headers = {}
    if who.endswith("-token"):
        headers = bearer(tokens(app)[who[:-len("-token")]])
    elif who != "anonymous":
        assert login(client, who).status_code == 200
        headers = {"X-CSRFToken": csrf(client)}
    return client, headers


@pytest.mark.parametrize("name,method,url,body,if_match,least,ok", ROUTES, ids=[r[0] for r in ROUTES])
@pytest.mark.parametrize("who", ASKERS)
def test_every_edit_route_for_every_asker(app, name, method, url, body, if_match, least, ok, who):
    client, headers = _client(app, who)
    if if_match:
        headers["If-Match"] = _version(client, if_match if isinstance(if_match, str) else "roads-wangdaohenan")
    store = app.extensions["atlas_store"]
    head = store.history(limit=1)[0].id
    answer = client.open(url, method=method, json=body, headers=headers)
    role = who.removesuffix("-token")
    allowed = role == "admin" or (role == "editor" and least == "editor")
    if allowed:
        assert answer.status_code == ok, answer.get_json()
    else:
        expected = 401 if role == "anonymous" else 403
        assert answer.status_code == expected, answer.get_json()
        body = answer.get_json()
        assert body["role"] in ("editor", "admin") and body["role"] in body["detail"]
        assert store.history(limit=1)[0].id == head  # nothing written
    if allowed and ok < 300:
        (revision,) = store.history(limit=1)
        actor = revision.actor
        assert actor == ({"editor": "张三", "admin": "王五"}[role] if not who.endswith("-token")
                         else f"token:test-{role}@{ {'editor': '张三', 'admin': '王五'}[role]}")


@pytest.mark.parametrize("url", ["/api/features/roads-wangdaohenan/history", "/api/revisions?layer=roads",
                                 "/api/layers/roads/compare?from={built}&to=2030-01-01"])
@pytest.mark.parametrize("who", ASKERS)
def test_the_history_is_read_by_every_reader(app, url, who):
    client, headers = _client(app, who)
    built = app.extensions["atlas_store"].history(limit=1)[0].time
    assert client.get(url.format(built=built), headers=headers).status_code == 200


@pytest.mark.parametrize("header", [None, "wrong"])
def test_an_edit_without_the_right_csrf_token_is_refused_and_nothing_is_written(app, header):
    client, _ = _client(app, "editor")
    store = app.extensions["atlas_store"]
    head = store.history(limit=1)[0].id
    headers = {"If-Match": _version(client)}
    if header:
        headers["X-CSRFToken"] = header
    answer = client.patch("/api/layers/roads/features/roads-wangdaohenan", json={"properties": {"status": "planned"}},
                          headers=headers)
    assert answer.status_code == 400 and answer.get_json()["error"] == "csrf"
    assert store.history(limit=1)[0].id == head


def test_a_stale_edit_gets_412_with_the_current_feature(app):
    client, headers = _client(app, "editor")
    old = _version(client)
    first = client.patch("/api/layers/roads/features/roads-wangdaohenan", json={"properties": {"status": "planned"}},
                         headers={**headers, "If-Match": old})
    assert first.status_code == 200 and first.headers["ETag"] != f'"{old}"'
    second = client.patch("/api/layers/roads/features/roads-wangdaohenan", json={"properties": {"status": "completed"}},
                          headers={**headers, "If-Match": old})
    body = second.get_json()
    assert second.status_code == 412 and body["error"] == "stale"
    assert body["current"]["properties"]["status"] == "planned" and f'"{body["current"]["version"]}"' == first.headers["ETag"]
    missing = client.patch("/api/layers/roads/features/roads-wangdaohenan", json={"properties": {"status": "completed"}},
                           headers=headers)
    assert missing.status_code == 428 and missing.get_json()["parameter"] == "If-Match"


def test_a_hidden_layer_is_absent_for_its_history_too(app):
    book = app.extensions["atlas_accounts"]
    book.set_hidden("roads", True, by="test")
    client, headers = _client(app, "viewer")
    assert client.get("/api/features/roads-wangdaohenan/history", headers=headers).status_code == 404
    built = app.extensions["atlas_store"].history(limit=1)[0].time
    assert client.get(f"/api/layers/roads/compare?from={built}&to=2030-01-01", headers=headers).status_code == 404
    log = client.get("/api/revisions", headers=headers).get_json()
    assert all(c["layer"] != "roads" for r in log["revisions"] for c in r["changes"])


def test_a_dropped_layer_keeps_its_history_and_comes_back(app):
    client, headers = _client(app, "admin")
    before = client.get("/api/layers/roads").get_json()["features"]
    dropped = client.delete("/api/layers/roads", json={"message": "误删测试"}, headers=headers)
    assert dropped.status_code == 200 and dropped.get_json()["undo"].endswith("/api/layers/roads/undelete")
    assert client.get("/api/layers/roads").status_code == 404
    assert "roads" not in [layer["id"] for layer in client.get("/api/layers").get_json()["layers"]]
    assert client.get("/api/layer-settings", headers=headers).get_json()["dropped"] == ["roads"]
    log = client.get("/api/revisions", headers=headers).get_json()["revisions"]
    assert log[0]["message"] == "误删测试" and {c["layer"] for c in log[0]["changes"]} == {"roads"}
    history = client.get("/api/features/roads-wangdaohenan/history?layer=roads").get_json()["revisions"]
    assert history[0]["message"] == "误删测试" and history[0]["changes"][0]["op"] == "delete"
    back = client.post("/api/layers/roads/undelete", json={"message": "恢复"}, headers=headers)
    assert back.status_code == 200, back.get_json()
    assert client.get("/api/layers/roads").get_json()["features"] == before
    assert client.get("/api/layer-settings", headers=headers).get_json()["dropped"] == []
    assert app.extensions["atlas_store"].verify().ok
