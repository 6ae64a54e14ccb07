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
