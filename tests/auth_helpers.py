"""Shared by the accounts tests over the app: an app on a copy of the small store, users of each
role, logins and tokens."""
from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher

from server import create_app

PASSWORD = "威海市规划2026-v1"
USERS = {"viewer": "李四", "editor": "张三", "admin": "王五"}


class Clock:
    def __init__(self):
        self.now = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)

    def __call__(self):
        return self.now

    def advance(self, **delta):
        self.now += timedelta(**delta)


def make_app(built_store, folder, *, backend: str = "gpkg", **config):
    """The app over a copy of the small store in ``folder`` (its accounts and key beside it), with a
    clock the test moves and argon2id at small costs (same algorithm, quicker tests). ``backend``
    "postgis": the copy is a fresh PostGIS schema (``store copy``), the accounts in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    if backend == "postgis":
        store = postgis_copy(built_store)
        config = {"ACCOUNTS": str(folder / "accounts.sqlite"), **config}
    else:
        path = folder / "atlas.gpkg"
        if not path.exists():
            shutil.copy(built_store.path, path)
        store = str(path)
    app = create_app({"STORE": store, "TESTING": True, **config})
    book = app.extensions["atlas_accounts"]
    book.clock = Clock()
    book.hasher = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    return app


def postgis_copy(built_store) -> str:
    """The small store copied into a fresh schema of the test PostgreSQL (its log and all): its URL."""
    from geo.store.copy import copy_store
    from tests import pg

    url = pg.fresh_url()
    copy_store(built_store, url)
    return url


def add_users(app, grants=("roads",)):
    book = app.extensions["atlas_accounts"]
    for role, name in USERS.items():
        book.add_user(name, role, PASSWORD, by="test")
    book.set_grants(USERS["editor"], list(grants), by="test")
    return book


def csrf(client) -> str:
    return client.get("/api/session").get_json()["csrf_token"]


def login(client, role_or_name: str, password: str = PASSWORD):
    name = USERS.get(role_or_name, role_or_name)
    return client.post("/api/session", json={"name": name, "password": password},
                       headers={"X-CSRFToken": csrf(client)})


def tokens(app) -> dict[str, str]:
    """A bearer token for each role (each owned by the user of that role)."""
    book = app.extensions["atlas_accounts"]
    return {role: book.create_token(name, f"test-{role}", role)["token"] for role, name in USERS.items()}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}
