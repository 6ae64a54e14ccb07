"""Security headers on every kind of response (the page, an API answer, error pages, a static file,
a vendored library), a CSP whose script hashes are those of the page's own inline scripts, and the
accounts command line (flask --app server users …, audit log)."""
from __future__ import annotations

import base64
import hashlib
import re

import pytest

from layers.web.headers import script_hashes, tile_sources
from tests.auth_helpers import PASSWORD, add_users, bearer, make_app


@pytest.fixture()
def app(built_store, tmp_path):
    return make_app(built_store, tmp_path / "atlas")


def _csp(response) -> dict[str, str]:
    return {d.split(" ", 1)[0]: d.split(" ", 1)[1] for d in response.headers["Content-Security-Policy"].split("; ")}


def _common(response):
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    csp = _csp(response)
    assert csp["default-src"] == "'self'" and csp["frame-ancestors"] == "'self'"
    assert csp["object-src"] == "'none'" and csp["connect-src"] == "'self'"
    assert "unsafe-inline" not in csp["script-src"] and "unsafe-eval" not in csp["script-src"]
    return csp


def test_the_page_allows_exactly_its_own_inline_scripts(app):
    page = app.test_client().get("/")
    csp = _common(page)
    html = page.get_data(as_text=True)
    inline = re.findall(r"<script>(.*?)</script>", html, re.S)
    assert inline  # Folium's setup
    expected = {"'sha256-%s'" % base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() for s in inline}
    assert set(csp["script-src"].split()) == {"'self'", *expected}
    assert csp["img-src"].split()[:3] == ["'self'", "data:", "blob:"]
    assert "https://tile.openstreetmap.org" in csp["img-src"]  # the basemaps' tiles
    assert "https://*.basemaps.cartocdn.com" in csp["img-src"]
    assert csp["style-src"] == "'self' 'unsafe-inline'"


@pytest.mark.parametrize("url,status", [
    ("/api/layers", 200),
    ("/api/features/roads-wangdaohenan", 200),
    ("/api/nothing-here", 404),
    ("/nothing-here", 404),
    ("/?zoom=99", 400),
    ("/static/atlas.css", 200),
    ("/vendor/leaflet/leaflet.js", 200),
    ("/api/users", 401),
])
def test_every_response_has_the_headers(app, url, status):
    with app.test_client().get(url) as answer:
        assert answer.status_code == status
        csp = _common(answer)
        if answer.mimetype == "text/html":  # the error page has no inline script
            assert csp["script-src"] == "'self'"


def test_errors_say_nothing_internal(app):
    answer = app.test_client().get("/api/users")
    body = answer.get_json()
    assert set(body) == {"error", "detail", "role", "request_id"} and body["role"] == "admin"
    page = app.test_client().get("/nothing-here").get_data(as_text=True)
    assert "Traceback" not in page and "/work" not in page and "/tmp" not in page


def test_frame_ancestors_for_a_portal(built_store, tmp_path):
    app = make_app(built_store, tmp_path / "atlas", FRAME_ANCESTORS="'self' https://portal.weihai.gov.cn")
    answer = app.test_client().get("/api/layers")
    assert _csp(answer)["frame-ancestors"] == "'self' https://portal.weihai.gov.cn"
    assert "X-Frame-Options" not in answer.headers  # it cannot name another origin
    app = make_app(built_store, tmp_path / "other", FRAME_ANCESTORS="'none'")
    assert app.test_client().get("/api/layers").headers["X-Frame-Options"] == "DENY"


def test_script_hashes_and_tile_sources():
    html = '<script src="/a.js"></script><script>x()</script><script type="application/json">{}</script>'
    assert script_hashes(html) == ["'sha256-%s'" % base64.b64encode(hashlib.sha256(b"x()").digest()).decode()]
    assert tile_sources(["https://t{s}.tianditu.gov.cn/vec_w/wmts?x=1", "https://tile.openstreetmap.org/{z}.png",
                         "https://{s}.basemaps.cartocdn.com/{z}.png"]) == [
        "https://*.tianditu.gov.cn", "https://tile.openstreetmap.org", "https://*.basemaps.cartocdn.com"]


# -- the command line ------------------------------------------------------------------------------
def test_first_admin_from_the_command_line(app):
    runner = app.test_cli_runner()
    status = runner.invoke(args=["users", "status"])
    assert "no admin yet" in status.output and "users add NAME --role admin" in status.output
    weak = runner.invoke(args=["users", "add", "王五", "--role", "admin", "--password-stdin"], input="short\n")
    assert weak.exit_code == 2 and "at least 10 characters" in weak.output
    made = runner.invoke(args=["users", "add", "王五", "--role", "admin", "--password-stdin"], input=PASSWORD + "\n")
    assert made.exit_code == 0 and "added 王五 as admin" in made.output, made.output
    prompted = runner.invoke(args=["users", "add", "张三", "--role", "editor"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert prompted.exit_code == 0 and "users grant 张三 roads,projects" in prompted.output
    assert "2 user(s)" in runner.invoke(args=["users", "status"]).output
    client = app.test_client()
    token = client.get("/api/session").get_json()["csrf_token"]
    assert client.post("/api/session", json={"name": "王五", "password": PASSWORD},
                       headers={"X-CSRFToken": token}).status_code == 200


def test_users_commands(app):
    book = add_users(app)
    runner = app.test_cli_runner()
    granted = runner.invoke(args=["users", "grant", "张三", "parks,projects"])
    assert granted.exit_code == 0 and "may edit: parks,projects,roads" in granted.output
    assert runner.invoke(args=["users", "grant", "张三", "nope"]).exit_code == 2
    revoked = runner.invoke(args=["users", "revoke", "张三", "roads"])
    assert "may edit: parks,projects" in revoked.output
    assert "no user 'nobody'" in runner.invoke(args=["users", "disable", "nobody"]).output
    runner.invoke(args=["users", "disable", "李四"])
    assert book.user("李四")["disabled"] is True
    runner.invoke(args=["users", "enable", "李四"])
    assert book.user("李四")["disabled"] is False
    assert runner.invoke(args=["users", "role", "李四", "editor"]).exit_code == 0
    listing = runner.invoke(args=["users", "list"]).output
    assert "张三" in listing and "parks,projects" in listing and "李四" in listing
    passwd = runner.invoke(args=["users", "passwd", "李四", "--password-stdin"], input="新密码newpassword1\n")
    assert passwd.exit_code == 0 and "sessions have ended" in passwd.output
    made = runner.invoke(args=["users", "token", "李四", "--name", "script", "--role", "viewer"])
    assert made.exit_code == 0
    secret = made.stdout.strip().splitlines()[0]
    assert secret.startswith("atl_") and app.test_client().get("/api/layers", headers=bearer(secret)).status_code == 200
    assert "script" in runner.invoke(args=["users", "tokens", "李四"]).output
    token_id = book.tokens("李四")[0]["id"]
    assert "revoked" in runner.invoke(args=["users", "revoke-token", str(token_id)]).output
    assert app.test_client().get("/api/layers", headers=bearer(secret)).status_code == 401
    log = runner.invoke(args=["audit", "log", "--action", "token_revoked"]).output
    assert "token_revoked" in log and "cli:" in log
    assert runner.invoke(args=["audit", "log", "--since", "not-a-date"]).exit_code == 2
    assert "grant" in runner.invoke(args=["audit", "log", "--since", "2026-01-01"]).output

