"""Past one machine: two app servers (gunicorn, each its own process in its own empty working folder,
so nothing can pass between them through memory or local disk) on one PostGIS store of the test
cluster. A login, an edit (the atlas's and one made in the database directly), an export job, an
import and the login rate limit made through one are seen, continued and counted through the other.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyogrio
import pytest
import requests
from argon2 import PasswordHasher

from tests import pg
from tests.auth_helpers import PASSWORD, postgis_copy

ROOT = Path(__file__).resolve().parents[1]
ADMIN = "王五"
LOGIN_RATE = 5  # an hour: no window ends while the test runs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``gunicorn 'server:create_app()'`` in ``folder`` (empty), on a free port."""

    def __init__(self, folder: Path, store: str):
        folder.mkdir(parents=True)
        self.folder, self.port = folder, _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ATLAS_")}
        env.update(PYTHONPATH=str(ROOT), ATLAS_STORE=store, ATLAS_LOGIN_RATE=f"{LOGIN_RATE}/hour",
                   ATLAS_LOG_LEVEL="WARNING", TMPDIR=str(folder))
        self.log = open(folder / "server.log", "wb")
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.process = subprocess.Popen([str(gunicorn), "-w", "1", "-k", "gthread", "--threads", "4", "-b",
                                         f"127.0.0.1:{self.port}", "--chdir", str(folder), "server:create_app()"],
                                        cwd=folder, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, seconds: float = 60) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.process.poll() is not None:
                pytest.fail(f"the app server exited: {self.output()}")
            try:
                if requests.get(f"{self.base}/api/session", timeout=10).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        pytest.fail(f"the app server did not answer within {seconds} s: {self.output()}")

    def output(self) -> str:
        self.log.flush()
        return (self.folder / "server.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def servers(built_store, tmp_path_factory):
    url = postgis_copy(built_store)
    root = tmp_path_factory.mktemp("two-servers")
    pair = [Server(root / "a", url), Server(root / "b", url)]
    try:
        for server in pair:
            server.wait_ready()
        yield pair, url
    finally:
        for server in pair:
            server.stop()


@pytest.fixture(scope="module")
def admin(servers):
    """The admin, added to the accounts the servers share (in the store's database), as the
    ``users add`` command would, by a third process: this test's."""
    from geo.store.pg_conn import parse_url
    from layers.accounts import Accounts
    from layers.shared.pg import AppDatabase

    conninfo, options = parse_url(servers[1])
    book = Accounts(AppDatabase(conninfo, options, options["schema"]),
                    hasher=PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))
    book.add_user(ADMIN, "admin", PASSWORD, by="test")
    return ADMIN


def _csrf(http: requests.Session, base: str) -> str:
    return http.get(f"{base}/api/session").json()["csrf_token"]


def _poll(http, url: str, *, until=lambda b: b["state"] != "running", seconds: float = 60) -> dict:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        body = http.get(url).json()
        if until(body):
            return body
        time.sleep(0.1)
    pytest.fail(f"{url} did not finish: {body}")


def test_two_servers_share_logins_edits_jobs_imports_and_limits(servers, admin, tmp_path):
    (a, b), url = servers
    for server in (a, b):  # nothing of either in its working folder but what a process may keep locally
        assert not (server.folder / "var" / "atlas.gpkg").exists()
        assert not list(server.folder.rglob("accounts.sqlite")) and not list(server.folder.rglob("secret_key"))
    logins = 0

    # -- a login through A holds through B (the session key is the database's) ---------------------
    http = requests.Session()  # one browser: its cookie goes to both, as behind one nginx
    token = _csrf(http, a.base)
    answer = http.post(f"{a.base}/api/session", json={"name": ADMIN, "password": PASSWORD},
                       headers={"X-CSRFToken": token})
    logins += 1
    assert answer.status_code == 200, answer.text
    seen = http.get(f"{b.base}/api/session").json()
    assert seen["user"]["name"] == ADMIN and seen["user"]["role"] == "admin", seen
    csrf = seen["csrf_token"]  # a token B gives is good at A too: both sign with one key
    headers = {"X-CSRFToken": csrf}

    # -- an edit through A is seen through B at once -------------------------------------------------
    feature_url = "/api/features/roads-wangdaohenan"
    before = {s.base: http.get(f"{s.base}/api/layers/roads") for s in (a, b)}
    assert before[a.base].headers["ETag"] == before[b.base].headers["ETag"]
    current = http.get(f"{a.base}{feature_url}").json()
    answer = http.patch(f"{a.base}/api/layers/roads/features/roads-wangdaohenan",
                        json={"properties": {"name_zh": "望岛河南路（改）"}},
                        headers={**headers, "If-Match": f'"{current["version"]}"'})
    assert answer.status_code == 200, answer.text
    after_b = http.get(f"{b.base}/api/layers/roads", headers={"If-None-Match": before[b.base].headers["ETag"]})
    assert after_b.status_code == 200  # not "unchanged": B's cache is keyed by the store's revision
    names = {f["id"]: f["properties"]["name_zh"] for f in after_b.json()["features"]}
    assert names["roads-wangdaohenan"] == "望岛河南路（改）"
    assert http.get(f"{a.base}/api/layers/roads").headers["ETag"] == after_b.headers["ETag"]

    # -- an edit made in the database directly (as QGIS would) is seen by both too ---------------------
    schema = dict(p.split("=", 1) for p in url.split("?", 1)[1].split("&"))["schema"]
    with pg.connect() as con:
        con.execute(f'UPDATE "{schema}".roads SET name_zh = %s WHERE id = %s', ("望岛河南路（库）", "roads-wangdaohenan"))
    for server in (a, b):  # the triggers moved the store's revision: no cache answers the old feature
        answer = http.get(f"{server.base}{feature_url}")
        assert answer.status_code == 200 and answer.json()["properties"]["name_zh"] == "望岛河南路（库）"
    assert http.get(f"{a.base}/api/layers/roads").headers["ETag"] not in (
        after_b.headers["ETag"], http.get(f"{b.base}/api/layers/roads", headers={"If-None-Match": "x"}).headers["ETag"] + "x")
    assert http.get(f"{a.base}/api/layers/roads").headers["ETag"] == http.get(f"{b.base}/api/layers/roads").headers["ETag"]

    # -- an export job started through A is followed and downloaded through B -------------------------
    answer = http.post(f"{a.base}/api/exports", json={"layers": "roads,parks", "format": "gpkg"}, headers=headers)
    assert answer.status_code == 202, answer.text
    job = answer.json()
    state = _poll(http, f"{b.base}{job['url']}")
    assert state["state"] == "done", state
    download = http.get(f"{b.base}{state['download']}")
    assert download.status_code == 200 and int(download.headers["Content-Length"]) == state["size"]
    exported = tmp_path / "export.gpkg"
    exported.write_bytes(download.content)
    assert len(download.content) == state["size"]
    counts = {name: len(pyogrio.read_dataframe(exported, layer=name)) for name, _ in pyogrio.list_layers(exported)}
    assert counts == state["counts"] == {"roads": len(before[a.base].json()["features"]),
                                         "parks": len(http.get(f"{a.base}/api/layers/parks").json()["features"])}
    roads = pyogrio.read_dataframe(exported, layer="roads")
    assert "望岛河南路（库）" in set(roads["name_zh"])
    assert http.get(f"{a.base}{state['download']}").content == download.content  # and through A as well

    # -- an import uploaded through A is inspected, committed and undone through B --------------------
    source = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": f"WH-{i}", "name_zh": name},
         "geometry": {"type": "Point", "coordinates": [122.05 + i / 100, 37.45 + i / 200]}}
        for i, name in enumerate(["环翠区学校", "文登区医院", "荣成市公园"])]}
    upload = http.post(f"{a.base}/api/imports?wait=0", headers=headers,
                       files={"file": ("学校.geojson", json.dumps(source, ensure_ascii=False).encode(), "application/geo+json")})
    assert upload.status_code in (201, 202), upload.text
    location = upload.json()["url"]
    inspected = _poll(http, f"{b.base}{location}")
    assert inspected["state"] == "done" and inspected["inspection"]["count"] == 3, inspected
    # B has no copy of the file: it reads the database's
    committed = http.post(f"{b.base}{location}/commit?wait=30", json={"layer": "schools", "key": "code"},
                          headers=headers)
    assert committed.status_code == 200, committed.text
    assert committed.json()["added"] == 3
    schools = http.get(f"{a.base}/api/layers/schools").json()["features"]
    assert sorted(f["properties"]["name_zh"] for f in schools) == ["文登区医院", "环翠区学校", "荣成市公园"]
    assert http.get(f"{a.base}{location}").json()["committed"][0]["layer"] == "schools"

    # -- the login limit counts the attempts made through either server --------------------------------
    refused = []
    for server in [b, a] * LOGIN_RATE:
        answer = requests.post(f"{server.base}/api/session", json={"name": "无此用户", "password": "wrong-password-1"})
        logins += 1
        refused.append(answer.status_code)
        if answer.status_code == 429:
            break
    # each server alone has seen at most half the attempts; together they reach the limit
    assert refused == [401] * (LOGIN_RATE - 1) + [429], refused
    assert logins == LOGIN_RATE + 1
    assert requests.post(f"{a.base}/api/session", json={"name": ADMIN, "password": PASSWORD}).status_code == 429
