"""Many planners at once, on loopback against each server `make serve` runs: granian (2 workers x
4 threads, its default) and gunicorn (2 workers x 8 threads, SERVER=gunicorn). 8 writers increment
a counter in one feature through PATCH with If-Match (a 412 means: read again, try again) while 32
readers read the layer, the feature and search, for 20 s. No error, no lost update (the counter
equals the successful writes) and the log complete (one revision per success)."""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from geo.store import Query, open_store
from layers import build as builder
from server import create_app
from tests.conftest import write_sources

ROOT = Path(__file__).resolve().parents[1]
SECONDS = 12
#: the servers as the Makefile's ``serve`` starts them (its defaults), on a port
SERVERS = {
    "granian": lambda port: [sys.executable, "-m", "granian", "--interface", "wsgi", "--factory", "--workers", "2",
                             "--blocking-threads", "4", "--host", "127.0.0.1", "--port", str(port), "server:create_app"],
    "gunicorn": lambda port: [sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", "2", "--threads", "8",
                              "--worker-connections", "12", "--no-control-socket", "-b", f"127.0.0.1:{port}",
                              "server:create_app()"],
}
KEY = "parks-huaxiacheng"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(port, method, path, body=None, headers=None):
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        con.request(method, path, body=None if body is None else json.dumps(body).encode(),
                    headers={"Content-Type": "application/json", **(headers or {})})
        resp = con.getresponse()
        return resp.status, resp.read()
    finally:
        con.close()


@pytest.mark.parametrize("server_name", list(SERVERS))
def test_eight_writers_and_thirty_two_readers(server_name, tmp_path):
    store = open_store(tmp_path / "atlas.gpkg", key="id")
    builder.build(store, write_sources(tmp_path / "sources"))
    book = create_app({"STORE": str(store.path), "TESTING": True}).extensions["atlas_accounts"]
    book.add_user("编辑甲", "editor", "威海市规划2026-v1", by="test")
    book.set_grants("编辑甲", ["parks"], by="test")
    tokens = [book.create_token("编辑甲", f"writer-{i}", "editor")["token"] for i in range(8)]
    port = _port()
    env = {**os.environ, "ATLAS_STORE": str(store.path), "ATLAS_LOG_LEVEL": "WARNING"}
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(SERVERS[server_name](port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while True:
            try:
                if _request(port, "GET", "/api/layers")[0] == 200:
                    break
            except OSError:
                pass
            assert time.time() < deadline and server.poll() is None, (tmp_path / "server.log").read_text()
            time.sleep(0.2)

        stop = time.time() + SECONDS
        errors, successes, stale, reads = [], [], [], []
        lock = threading.Lock()

        def writer(token):
            auth = {"Authorization": f"Bearer {token}"}
            while time.time() < stop:
                try:
                    status, body = _request(port, "GET", f"/api/features/{KEY}")
                    feature = json.loads(body)
                    text = feature["properties"]["description_zh"]
                    count = int(text) if text.isdigit() else 0
                    status, body = _request(port, "PATCH", f"/api/layers/parks/features/{KEY}",
                                            {"properties": {"description_zh": str(count + 1)}, "message": "计数"},
                                            {**auth, "If-Match": f'"{feature["version"]}"'})
                except Exception as exc:  # noqa: BLE001 - every failure is counted, none hidden
                    with lock:
                        errors.append(f"writer: {type(exc).__name__}: {exc}")
                    continue
                with lock:
                    if status == 200:
                        successes.append(count + 1)
                    elif status == 412:
                        stale.append(1)
                    else:
                        errors.append(f"PATCH {status}: {body[:200]!r}")

        def reader(i):
            paths = ["/api/layers/parks", f"/api/features/{KEY}", "/api/search?q=%E5%8D%8E%E5%A4%8F"]
            n = 0
            while time.time() < stop:
                path = paths[(i + n) % len(paths)]
                n += 1
                try:
                    status, body = _request(port, "GET", path)
                    ok = status == 200 and json.loads(body)
                except Exception as exc:  # noqa: BLE001
                    ok, status = False, f"{type(exc).__name__}: {exc}"
                with lock:
                    (reads if ok else errors).append(f"GET {path} {status}")

        threads = [threading.Thread(target=writer, args=(t,)) for t in tokens]
        threads += [threading.Thread(target=reader, args=(i,)) for i in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        server.terminate()
        server.wait(30)
        log.close()

    assert not errors, errors[:10]
    assert successes and reads, "nothing was written or read"
    # no lost update: every success raised the counter by one, from the value it read
    final = open_store(store.path, key="id")
    (row,) = final.query("parks", Query(ids=(KEY,))).itertuples()
    assert int(row.description_zh) == len(successes)
    assert sorted(successes) == list(range(1, len(successes) + 1))
    # the log complete: one revision per successful write, each by its token
    revisions = [r for r in final.history(layer="parks", key=KEY, limit=100_000) if r.actor.startswith("token:writer-")]
    assert len(revisions) == len(successes)
    assert final.verify().ok
    print(f"\n{len(successes)} writes, {len(stale)} stale retries, {len(reads)} reads in {SECONDS} s on {server_name}, 0 errors")
