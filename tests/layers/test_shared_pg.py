"""The app's shared state in PostgreSQL (``layers.shared``): the accounts over the PostgreSQL book
behave as over SQLite (names without case, grants, lockout, tokens, hidden layers, the security
log), the session key is made once, and the login counters count across storages."""
from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from geo.store.pg_conn import parse_url
from layers.accounts import Accounts, Locked, LoginFailed
from layers.accounts.keyfile import shared_secret_key
from layers.shared.limits_pg import PostgresLimits
from layers.shared.pg import AppDatabase
from tests import pg

PASSWORD = "威海市规划2026-v1"


@pytest.fixture()
def database():
    conninfo, options = parse_url(pg.fresh_url())
    return AppDatabase(conninfo, options, options["schema"])


def _book(database):
    return Accounts(database, lock_after=3, hasher=PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))


def test_accounts_in_postgresql(database):
    book = _book(database)
    book.add_user("Zhang三", "editor", PASSWORD, by="test")
    book.set_grants("zhang三", ["roads", "parks"], by="test")
    book.set_grants("ZHANG三", ["parks"], by="test", add=True)  # again: no duplicate
    assert book.user("zhang三")["grants"] == ["parks", "roads"]
    assert book.authenticate("ZHANG三", PASSWORD).name == "Zhang三"
    for _ in range(2):
        with pytest.raises(LoginFailed):
            book.authenticate("zhang三", "wrong-password-1")
    with pytest.raises(Locked):
        book.authenticate("zhang三", "wrong-password-1")
    token = book.create_token("Zhang三", "nightly", "viewer")
    other = _book(AppDatabase(database.conninfo, database.options, database.schema[:-4]))  # another server
    assert other.resolve_token(token["token"]).name == "Zhang三" and token["id"] == other.tokens()[0]["id"]
    other.set_hidden("parks", True, by="test")
    assert book.hidden_layers() == {"parks"}
    assert [e["action"] for e in book.events(user="Zhang三", action="login")] == ["login"]
    assert [e["outcome"] for e in book.events(action="login_failed")] == ["wrong_password"] * 3
    assert len(book.events(action="locked")) == 1
    with pytest.raises(Locked):  # locked now, even with the right password
        book.authenticate("zhang三", PASSWORD)


def test_session_key_made_once_for_every_server(database):
    first = shared_secret_key(database)
    again = shared_secret_key(AppDatabase(database.conninfo, database.options, database.schema[:-4]))
    assert len(first) == 64 and first == again


def test_login_counters_are_shared(database):
    one, two = PostgresLimits(database=database), PostgresLimits(database=database)
    assert [one.incr("login/127.0.0.1", 60), two.incr("login/127.0.0.1", 60), one.incr("login/127.0.0.1", 60)] == [1, 2, 3]
    assert two.get("login/127.0.0.1") == 3 and two.get("login/10.0.0.1") == 0
    assert 0 < one.get_expiry("login/127.0.0.1") - two.get_expiry("login/10.0.0.1") <= 60
    two.clear("login/127.0.0.1")
    assert one.get("login/127.0.0.1") == 0 and one.check()


def _statements(log, start: int) -> list[str]:
    """The statements the cluster logged since ``start`` (bytes): those of the sessions opened with
    ``log_statement=all`` (only this test's)."""
    text = log.read_bytes()[start:].decode(errors="replace")
    return [line.split("statement: ", 1)[1] for line in text.splitlines() if "statement: " in line]


def test_hidden_layers_are_read_with_the_version_in_one_statement():
    """On every request the accounts' hidden layers and the store's version are asked; beside a
    PostGIS store they come in one statement, and a layer hidden through another server is seen at
    once."""
    import time

    import geopandas as gpd
    import shapely

    from geo.store import open_store

    store = open_store(pg.fresh_url(options="-c%20log_statement%3Dall"), key="id")
    store.replace({"roads": gpd.GeoDataFrame({"id": ["路1"], "name_zh": ["青岛路"]},
                                             geometry=[shapely.LineString([(122.1, 37.5), (122.12, 37.51)])],
                                             crs="EPSG:4326")})
    database = AppDatabase.of_store(store)
    book, other = _book(database), _book(AppDatabase.of_store(store))
    other.set_hidden("parks", True, by="test")
    log = pg.log_path()
    time.sleep(0.2)
    start = log.stat().st_size
    with store.pin_version():
        hidden = book.hidden_layers(store)
        version = store.version()
    time.sleep(0.3)  # the server's log is written a moment after
    asked = _statements(log, start)
    assert hidden == {"parks"} and version.startswith("pg-")
    assert len(asked) == 1, asked
    assert "atlas_head" in asked[0] and "layer_settings" in asked[0]
    other.set_hidden("roads", True, by="test")
    with store.pin_version():
        assert book.hidden_layers(store) == {"parks", "roads"}


def test_hidden_layers_beside_a_geopackage_store_are_read_on_their_own(database, tmp_path):
    from geo.store import open_store

    book = _book(database)
    book.set_hidden("parks", True, by="test")
    assert book.hidden_layers(open_store(tmp_path / "atlas.gpkg", key="id")) == {"parks"}


def test_two_app_schemas_on_one_connection_keep_apart():
    """Two atlases in one database and process share the pool; with one connection, each read of
    one runs on the connection the other used last (its search path set over again, none of the
    statements prepared for the other's tables reused): each sees its own hidden layers, however
    often (psycopg prepares a statement run five times)."""
    books = []
    for _ in range(2):
        conninfo, options = parse_url(pg.fresh_url(pool_max=1))
        books.append(_book(AppDatabase(conninfo, options, options["schema"])))
    books[0].set_hidden("parks", True, by="test")
    books[1].set_hidden("roads", True, by="test")
    for _ in range(8):
        assert books[0].hidden_layers() == {"parks"}
        assert books[1].hidden_layers() == {"roads"}
        assert books[0].tokens() == [] and books[1].tokens() == []
