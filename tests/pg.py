"""A throwaway PostgreSQL + PostGIS cluster for the tests: ``initdb`` into a temporary folder owned
by an unprivileged user (``atlas-test``, made when the tests run as root: PostgreSQL refuses to run
as root), listening only on a Unix socket in that folder (no TCP), on a port no other server here
uses; one database with PostGIS; a fresh schema (a store) for each ``fresh_url()``. Started on first
use, stopped and removed at the end of the session (``stop``, from tests/conftest.py).

When PostgreSQL or PostGIS is not installed the test that asked fails (never skips) with what to
install: ``bash .ci/postgres`` as root does it (``make pg-deps``)."""
from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

USER = "atlas-test"
DATABASE = "atlas"
_INSTALL = ("PostgreSQL with PostGIS is needed for the PostGIS store tests: run 'make pg-deps' (bash .ci/postgres) "
            "as root, or install the Debian packages postgresql and postgresql-15-postgis-3")
_state: dict = {}
_names = itertools.count(1)


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        pytest.fail(f"{_INSTALL} (no initdb under /usr/lib/postgresql)", pytrace=False)
    bindir = Path(found[-1]).parent
    version = bindir.parts[-2]
    if not Path(f"/usr/share/postgresql/{version}/extension/postgis.control").is_file():
        pytest.fail(f"{_INSTALL} (PostgreSQL {version} has no PostGIS: install postgresql-{version}-postgis-3)",
                    pytrace=False)
    return bindir


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_user(args: list[str], uid: int | None) -> list[str]:
    return args if uid is None else ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *args]


def _start() -> dict:
    bindir = _binaries()
    uid = None
    if os.geteuid() == 0:
        try:
            uid = pwd.getpwnam(USER).pw_uid
        except KeyError:
            subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin",
                            USER], check=True, capture_output=True)
            uid = pwd.getpwnam(USER).pw_uid
    folder = Path(tempfile.mkdtemp(prefix="atlas-pg-"))
    if uid is not None:
        os.chown(folder, uid, uid)
    folder.chmod(0o700)
    data, log = folder / "data", folder / "server.log"
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    run = lambda args: subprocess.run(_as_user(args, uid), check=True, capture_output=True, text=True, env=env,
                                      cwd=folder)
    try:
        run([str(bindir / "initdb"), "-D", str(data), "-U", "atlas", "--auth=trust", "--encoding=UTF8",
             "--locale=C.UTF-8", "--no-sync"])
        port = _free_port()
        options = (f"-p {port} -k {folder} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off -c max_connections=200 -c shared_buffers=64MB")
        run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"])
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or "") + (log.read_text() if log.exists() else "")
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"the test PostgreSQL cluster did not start: {detail[-2000:]}", pytrace=False)
    state = {"folder": folder, "bindir": bindir, "uid": uid, "port": port, "data": data, "env": env}
    _state.update(state)
    admin = url(database="postgres")
    import psycopg

    with psycopg.connect(admin, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {DATABASE}")
    with psycopg.connect(url(), autocommit=True) as con:
        con.execute("CREATE EXTENSION postgis")
    return _state


def url(*, database: str = DATABASE, **params) -> str:
    """The libpq URL of the test cluster (its socket folder as host), with store options."""
    state = _state or _start()
    query = "&".join([f"host={state['folder']}", f"port={state['port']}", *(f"{k}={v}" for k, v in params.items())])
    return f"postgresql://atlas@/{database}?{query}"


def fresh_url(**params) -> str:
    """A store URL of a schema no test has used yet."""
    return url(schema=f"t{os.getpid()}_{next(_names)}", **params)


def log_path() -> Path:
    """The test cluster's server log (what auto_explain writes, for tests that check a plan)."""
    url()
    return _state["folder"] / "server.log"


def explained_points(n: int, *, seed: int, ids: str, names: str):
    """(frame, store): ``n`` random points around Weihai (ids ``ids.format(i)``, Chinese names
    ``names.format(i)``) as layer ``big`` of a fresh PostGIS store whose every statement's plan goes
    to the cluster's log (auto_explain: ``log_path``), for tests that check how a query is run."""
    import geopandas as gpd
    import numpy as np
    import shapely

    from geo.store import open_store

    rng = np.random.default_rng(seed)
    big = gpd.GeoDataFrame({"id": [ids.format(i) for i in range(n)], "name_zh": [names.format(i) for i in range(n)]},
                           geometry=shapely.points(rng.uniform(122.0, 122.5, n), rng.uniform(37.3, 37.6, n)),
                           crs="EPSG:4326")
    explain = "-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0"
    store = open_store(fresh_url(options=explain.replace(" ", "%20").replace("=", "%3D")), key="id")
    store.replace({"big": big})
    return big, store


def connect():
    """A plain psycopg connection to the test database, as another program (QGIS, psql) would open."""
    import psycopg

    url()
    return psycopg.connect(host=str(_state["folder"]), port=_state["port"], user="atlas", dbname=DATABASE,
                           autocommit=True)


def stop() -> None:
    if not _state:
        return
    from geo.store import pg as pgstore

    pgstore.close_pools()
    subprocess.run(_as_user([str(_state["bindir"] / "pg_ctl"), "-D", str(_state["data"]), "-m", "immediate", "-w",
                             "stop"], _state["uid"]), capture_output=True, env=_state["env"], cwd=_state["folder"])
    shutil.rmtree(_state["folder"], ignore_errors=True)
    _state.clear()
