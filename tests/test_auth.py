"""Accounts over HTTP: logging in and out, idle expiry, CSRF, bearer tokens, the login limit,
lockout, every admin route for each kind of asker, hidden layers on every read route, and
ATLAS_ANONYMOUS=NONE. A real small store (a copy per test), the Flask test client, no mocks."""
from __future__ import annotations

import io
import os
import zipfile
import stat
import time

import pytest

from tests.auth_helpers import PASSWORD, USERS, add_users, bearer, csrf, login, make_app, tokens


@pytest.fixture()
def app(built_store, tmp_path):
    return make_app(built_store, tmp_path / "atlas", LOGIN_LOCK_AFTER=3)


@pytest.fixture()
def book(app):
    return add_users(app)


@pytest.fixture()
def client(app):
    return app.test_client()


def test_login_and_logout(app, book, client):
    first = client.get("/api/session")
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    assert first.get_json()["user"] is None and first.get_json()["anonymous"] == "VIEW"
    answer = login(client, "editor")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["user"] == {"name": "张三", "role": "editor", "grants": ["roads"]}
    cookie = answer.headers["Set-Cookie"]
    assert "atlas_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http here; see the https test
    assert client.get("/api/session").get_json()["user"]["name"] == "张三"
    out = client.delete("/api/session", headers={"X-CSRFToken": csrf(client)})
    assert out.status_code == 200 and out.get_json()["user"] is None
    assert client.get("/api/session").get_json()["user"] is None
    events = [(e["action"], e["user"], e["address"]) for e in book.events()]
    assert events[:2] == [("logout", "张三", "127.0.0.1"), ("login", "张三", "127.0.0.1")]


def test_the_cookie_is_secure_over_https(app, book):
    client = app.test_client()
    token = client.get("/api/session", base_url="https://localhost").get_json()["csrf_token"]
    answer = client.post("/api/session", json={"name": "张三", "password": PASSWORD}, base_url="https://localhost",
                         headers={"X-CSRFToken": token, "Referer": "https://localhost/"})
    assert answer.status_code == 200 and "Secure" in answer.headers["Set-Cookie"]
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=")


def test_wrong_password_then_lockout(app, book, client):
    for _ in range(2):
        wrong = login(client, "viewer", "not-the-password-1")
        assert wrong.status_code == 401 and wrong.get_json()["error"] == "login_failed"
    locked = login(client, "viewer", "not-the-password-1")
    assert locked.status_code == 423 and locked.get_json()["error"] == "locked"
    assert login(client, "viewer").status_code == 423  # the right password waits too
    book.clock.advance(minutes=16)
    assert login(client, "viewer").status_code == 200
    assert any(e["action"] == "locked" and e["user"] == "李四" for e in book.events())


def test_login_attempts_are_rate_limited(built_store, tmp_path):
    app = make_app(built_store, tmp_path / "atlas", LOGIN_RATE="3/minute")
    add_users(app)
    client = app.test_client()
    for _ in range(3):
        assert login(client, "viewer", "not-the-password-1").status_code == 401
    limited = login(client, "viewer")
    assert limited.status_code == 429
    assert limited.get_json()["error"] == "too_many_requests" and "wait" in limited.get_json()["detail"]
    assert client.get("/api/session").status_code == 200  # only logging in is limited


def test_an_idle_session_expires_and_activity_keeps_it(app, book, client):
    assert login(client, "admin").status_code == 200
    for _ in range(3):  # 3 x 20 minutes, each with a request: still logged in
        book.clock.advance(minutes=20)
        assert client.get("/api/session").get_json()["user"]["name"] == "王五"
    book.clock.advance(minutes=31)
    assert client.get("/api/session").get_json()["user"] is None
    assert client.get("/api/users").status_code == 401
    assert book.events(action="session_expired")[0]["user"] == "王五"


def test_a_password_change_or_disabling_ends_sessions(app, book, client):
    assert login(client, "editor").status_code == 200
    book.set_password("张三", "另一个密码password2", by="test")
    assert client.get("/api/session").get_json()["user"] is None
    assert login(client, "editor", "另一个密码password2").status_code == 200
    book.set_disabled("张三", True, by="test")
    assert client.get("/api/session").get_json()["user"] is None
    assert login(client, "editor", "另一个密码password2").status_code == 403


@pytest.mark.parametrize("header", [None, "wrong-token"])
def test_csrf_missing_or_wrong_is_refused_and_nothing_changes(app, book, client, header):
    assert login(client, "admin").status_code == 200
    headers = {} if header is None else {"X-CSRFToken": header}
    refused = client.post("/api/users", json={"name": "赵六", "role": "viewer", "password": PASSWORD}, headers=headers)
    assert refused.status_code == 400 and refused.get_json()["error"] == "csrf", refused.get_json()
    assert "X-CSRFToken" in refused.get_json()["detail"]
    refused = client.patch("/api/layers/roads/settings", json={"hidden": True}, headers=headers)
    assert refused.status_code == 400
    assert client.delete("/api/session", headers=headers).status_code == 400
    assert [u["name"] for u in book.users()] == sorted(USERS.values())
    assert book.hidden_layers() == frozenset()
    assert client.get("/api/session").get_json()["user"]["name"] == "王五"  # still logged in
    made = client.post("/api/users", json={"name": "赵六", "role": "viewer", "password": PASSWORD},
                       headers={"X-CSRFToken": csrf(client)})
    assert made.status_code == 201 and made.get_json()["name"] == "赵六"


def test_bearer_tokens(app, book):
    browser = app.test_client()
    assert login(browser, "admin").status_code == 200
    made = browser.post("/api/tokens", json={"name": "nightly", "role": "viewer"},
                        headers={"X-CSRFToken": csrf(browser)})
    assert made.status_code == 201
    token = made.get_json()["token"]
    script = app.test_client()  # no cookie: no CSRF token needed
    who = script.get("/api/session", headers=bearer(token)).get_json()["user"]
    assert who == {"name": "王五", "role": "viewer", "grants": [], "token": "nightly"}
    assert script.get("/api/layers", headers=bearer(token)).status_code == 200
    refused = script.get("/api/users", headers=bearer(token))  # the token is a viewer, its owner an admin
    assert refused.status_code == 403 and refused.get_json()["role"] == "admin"
    listed = browser.get("/api/tokens").get_json()["tokens"]
    assert [(t["name"], t["revoked"]) for t in listed] == [("nightly", False)] and "token" not in listed[0]
    admin_token = book.create_token("王五", "admin-script", "admin")["token"]
    assert script.post("/api/users", json={"name": "赵六", "role": "viewer", "password": PASSWORD},
                       headers=bearer(admin_token)).status_code == 201
    assert script.post("/api/tokens", json={"name": "more"}, headers=bearer(admin_token)).status_code == 403
    gone = browser.delete(f"/api/tokens/{made.get_json()['id']}", headers={"X-CSRFToken": csrf(browser)})
    assert gone.status_code == 200 and gone.get_json()["revoked"] is True
    after = script.get("/api/layers", headers=bearer(token))
    assert after.status_code == 401 and after.get_json()["error"] == "invalid_token"
    assert script.get("/api/layers", headers=bearer("atl_made-up")).status_code == 401


def test_others_tokens_are_theirs(app, book):
    keys = tokens(app)
    viewer = app.test_client()
    own = viewer.get("/api/tokens", headers=bearer(keys["viewer"])).get_json()["tokens"]
    assert [t["owner"] for t in own] == ["李四"]
    editors = next(t["id"] for t in book.tokens("张三"))
    assert viewer.delete(f"/api/tokens/{editors}", headers=bearer(keys["viewer"])).status_code == 404
    assert len(viewer.get("/api/tokens", headers=bearer(keys["admin"])).get_json()["tokens"]) == 3


ADMIN_ROUTES = [
    ("GET", "/api/users", None, 200),
    ("POST", "/api/users", {"name": "赵六", "role": "viewer", "password": PASSWORD}, 201),
    ("PATCH", "/api/users/李四", {"grants": ["parks"]}, 200),
    ("GET", "/api/audit", None, 200),
    ("PATCH", "/api/layers/roads/settings", {"hidden": False}, 200),
    ("GET", "/api/layer-settings", None, 200),
]


@pytest.mark.parametrize("method,url,data,ok", ADMIN_ROUTES, ids=[f"{m} {u}" for m, u, _, _ in ADMIN_ROUTES])
@pytest.mark.parametrize("who", ["anonymous", "viewer", "editor", "admin", "admin-session"])
def test_every_admin_route_for_every_asker(app, book, method, url, data, ok, who):
    keys = tokens(app)
    client = app.test_client()
    headers = {}
    if who == "admin-session":
        assert login(client, "admin").status_code == 200
        headers = {"X-CSRFToken": csrf(client)}
    elif who != "anonymous":
        headers = bearer(keys[who])
    answer = client.open(url, method=method, json=data, headers=headers)
    body = answer.get_json()
    if who.startswith("admin"):
        assert answer.status_code == ok, body
    elif who == "anonymous":
        assert answer.status_code == 401 and body["error"] == "login_required" and body["role"] == "admin"
    else:
        assert answer.status_code == 403 and body["error"] == "forbidden" and body["role"] == "admin"
        assert "needs role admin" in body["detail"]
    assert "Traceback" not in answer.get_data(as_text=True)


def test_admin_changes_are_recorded_and_the_last_admin_stays(app, book):
    keys = tokens(app)
    client = app.test_client()
    changed = client.patch("/api/users/张三", json={"role": "viewer", "grants": ["roads", "parks"]},
                           headers=bearer(keys["admin"]))
    assert changed.status_code == 200 and changed.get_json()["grants"] == ["parks", "roads"]
    last = client.patch("/api/users/王五", json={"disabled": True}, headers=bearer(keys["admin"]))
    assert last.status_code == 409 and "only enabled admin" in last.get_json()["detail"]
    weak = client.patch("/api/users/李四", json={"password": "short"}, headers=bearer(keys["admin"]))
    assert weak.status_code == 400 and weak.get_json()["error"] == "weak_password"
    bad = client.patch("/api/users/李四", json={"grants": ["nope"]}, headers=bearer(keys["admin"]))
    assert bad.status_code == 400 and "unknown layer 'nope'" in bad.get_json()["detail"]
    audit = client.get("/api/audit?action=role_changed", headers=bearer(keys["admin"])).get_json()["events"]
    assert audit[0]["detail"] == "张三 to viewer" and audit[0]["user"] == "token:test-admin@王五"
    assert client.get("/api/audit?since=yesterday", headers=bearer(keys["admin"])).status_code == 400


def _ok(client, url, headers) -> bool:
    with client.get(url, headers=headers) as answer:
        return answer.status_code == 200


def _job(client, headers) -> bool:
    """Whether an export job of parks starts (then waited for, so no thread outlives the test)."""
    job = client.post("/api/exports", json={"layers": "parks", "format": "geojson"}, headers=headers)
    if job.status_code != 202:
        return False
    for _ in range(200):
        if client.get(job.get_json()["url"], headers=headers).get_json()["state"] != "running":
            return True
        time.sleep(0.05)
    raise AssertionError("the export job did not finish")


def _readable_everywhere(client, headers) -> dict[str, bool]:
    """Whether the hidden layer 'parks' shows on each read route for this asker."""
    listed = [lay["id"] for lay in client.get("/api/layers", headers=headers).get_json()["layers"]]
    search = client.get("/api/search?q=华夏城", headers=headers).get_json()["features"]
    with client.get("/api/export?layers=all&format=geojson", headers=headers) as export_all:  # a zip
        names = " ".join(zipfile.ZipFile(io.BytesIO(export_all.get_data())).namelist())
    page = client.get("/", headers=headers).get_data(as_text=True)
    return {
        "list": "parks" in listed,
        "layer": _ok(client, "/api/layers/parks", headers),
        "feature": _ok(client, "/api/features/parks-huaxiacheng", headers),
        "search": bool(search),
        "export": _ok(client, "/api/export?layers=parks", headers),
        "export_all": "parks" in names,
        "job": _job(client, headers),
        "page": '"id": "parks"' in page or '"id":"parks"' in page,
        "offline": _ok(client, "/export/map.html?layers=parks", headers),
    }


def test_hidden_layers_are_absent_for_viewers_and_anonymous_on_every_read_route(app, book):
    keys = tokens(app)
    book.set_grants("张三", ["parks"], by="test")
    client = app.test_client()
    before = _readable_everywhere(client, {})
    assert all(before.values()), before
    assert client.patch("/api/layers/parks/settings", json={"hidden": True},
                        headers=bearer(keys["admin"])).get_json() == {"layer": "parks", "hidden": True}
    # the admin asks first: the answer cache must not hand the admin's view to the others
    assert all(_readable_everywhere(client, bearer(keys["admin"])).values())
    for who in ("anonymous", "viewer"):
        seen = _readable_everywhere(client, {} if who == "anonymous" else bearer(keys[who]))
        assert not any(seen.values()), (who, seen)
    assert all(_readable_everywhere(client, bearer(keys["editor"])).values())  # granted parks
    absent = client.get("/api/layers/parks")
    assert absent.status_code == 404 and "no layer 'parks'" in absent.get_json()["detail"]
    assert "parks" not in absent.get_json()["detail"].split("layers are:")[1]


def test_anonymous_none_needs_a_login_for_everything_but_the_shell(built_store, tmp_path):
    app = make_app(built_store, tmp_path / "atlas", ANONYMOUS="NONE")
    add_users(app)
    keys = tokens(app)
    client = app.test_client()
    for url in ("/api/layers", "/api/layers/roads", "/api/features/roads-wangdaohenan", "/api/search?q=路",
                "/api/export?layers=roads", "/api/export/options", "/export/map.html", "/api/tokens",
                "/api/exports/abc", "/api/exports/abc/file"):
        refused = client.get(url)
        assert refused.status_code == 401, url
        if url.startswith("/api/"):
            assert refused.get_json()["error"] == "login_required" and refused.get_json()["role"] == "viewer"
    assert client.post("/api/exports", json={"layers": "roads"}).status_code == 401
    page = client.get("/")
    assert page.status_code == 200 and "roads-wangdaohenan" not in page.get_data(as_text=True)
    assert '"id": "roads"' not in page.get_data(as_text=True)
    with client.get("/static/atlas.js") as script:
        assert script.status_code == 200
    assert client.get("/api/session").get_json()["anonymous"] == "NONE"
    assert client.get("/api/layers", headers=bearer(keys["viewer"])).status_code == 200
    assert login(client, "viewer").status_code == 200
    assert client.get("/api/layers/roads").status_code == 200


def test_exports_are_security_events(app, book):
    client = app.test_client()
    with client.get("/api/export?layers=roads&format=geojson") as answer:
        assert answer.status_code == 200
    event = book.events(action="export")[0]
    assert event["user"] is None and event["address"] == "127.0.0.1" and "layers=roads" in event["detail"]


def test_the_session_key_is_made_once_private_and_shared(built_store, tmp_path):
    first = make_app(built_store, tmp_path / "atlas")
    key = tmp_path / "atlas" / "secret_key"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    second = make_app(built_store, tmp_path / "atlas")  # another worker
    assert first.secret_key == second.secret_key == key.read_text().strip()
    add_users(first)
    client = first.test_client()
    assert login(client, "viewer").status_code == 200
    cookie = client.get_cookie("atlas_session").value
    other = second.test_client()
    other.set_cookie("atlas_session", cookie)
    assert other.get("/api/session").get_json()["user"]["name"] == "李四"
    assert (tmp_path / "atlas" / "accounts.sqlite").exists()
