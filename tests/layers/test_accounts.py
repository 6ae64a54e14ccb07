"""The accounts core without Flask: argon2id hashes and never a password in the file, the strength
rule, lockout and its end (a clock the test moves), tokens hashed at rest and refused once revoked,
the security log kept and pruned by age, grants, hidden layers and the permission checks."""
from __future__ import annotations

import hashlib
import sqlite3

import pytest
from argon2 import PasswordHasher

from geo.errors import NotFound
from layers.accounts import (
    AccountDisabled,
    Accounts,
    Forbidden,
    Locked,
    LoginFailed,
    LoginRequired,
    Principal,
    require,
    visible_layers,
)
from layers.accounts.errors import Conflict, WeakPassword
from layers.accounts.visible import VisibleStore
from tests.auth_helpers import (  # PASSWORD: 12 characters, letters, digits and other
    PASSWORD,
    Clock,
)


@pytest.fixture()
def clock():
    return Clock()


@pytest.fixture()
def book(tmp_path, clock):
    # argon2id with small costs: the same algorithm, quicker tests
    return Accounts(tmp_path / "accounts.sqlite", clock=clock, lock_after=3, lock_minutes=15, audit_days=180,
                    hasher=PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1))


def test_passwords_are_argon2id_and_never_stored_in_the_clear(book):
    book.add_user("张三", "editor", PASSWORD)
    raw = book.path.read_bytes() + b"".join(p.read_bytes() for p in book.path.parent.glob("accounts.sqlite-*"))
    assert PASSWORD.encode() not in raw
    with sqlite3.connect(book.path) as db:
        (digest,), = db.execute("SELECT hash FROM users WHERE name = '张三'")
        (mode,), = db.execute("PRAGMA journal_mode")
    assert digest.startswith("$argon2id$") and mode == "wal"
    assert book.path.stat().st_mode & 0o077 == 0  # the server's user only
    principal = book.authenticate("张三", PASSWORD, address="10.0.0.1")
    assert principal == Principal("张三", "editor", frozenset(), generation=0)
    assert principal.actor == "张三"


@pytest.mark.parametrize("password,why", [
    ("Ab1!", "too short"),
    ("abcdefghijkl", "only one kind"),
    ("1234567890123", "only one kind"),
    ("lisi-2026-plan", "contains the user name"),
])
def test_the_strength_rule_is_explained(book, password, why):
    with pytest.raises(WeakPassword) as caught:
        book.add_user("lisi", "viewer", password)
    assert why in caught.value.detail and "at least 10 characters" in caught.value.detail
    assert caught.value.status == 400 and caught.value.parameter == "password"
    assert book.users() == []


def test_names_roles_and_duplicates_are_checked(book):
    book.add_user("wang.wu", "viewer", PASSWORD)
    with pytest.raises(Conflict):
        book.add_user("WANG.WU", "viewer", PASSWORD)  # names are unique regardless of case
    with pytest.raises(Exception, match="role must be one of viewer, editor, admin"):
        book.add_user("zhao", "owner", PASSWORD)
    with pytest.raises(Exception, match="a user name is 1 to 64"):
        book.add_user("a b", "viewer", PASSWORD)


def test_lockout_after_failed_logins_then_unlocked_by_time(book, clock):
    book.add_user("李四", "viewer", PASSWORD)
    for _ in range(2):
        with pytest.raises(LoginFailed):
            book.authenticate("李四", "wrong-password-1", address="10.0.0.2")
    with pytest.raises(Locked) as caught:  # the third failure locks
        book.authenticate("李四", "wrong-password-1", address="10.0.0.2")
    assert caught.value.status == 423 and "2026-12-01T08:15:00Z" in caught.value.detail
    with pytest.raises(Locked):  # even the right password, while locked
        book.authenticate("李四", PASSWORD)
    clock.advance(minutes=14)
    with pytest.raises(Locked):
        book.authenticate("李四", PASSWORD)
    clock.advance(minutes=2)
    assert book.authenticate("李四", PASSWORD).name == "李四"
    actions = [(e["action"], e["outcome"]) for e in book.events(user="李四")][::-1]
    assert actions == [("login_failed", "wrong_password")] * 3 + [("locked", "ok")] + \
        [("login_failed", "locked")] * 2 + [("login", "ok")]
    assert {e["address"] for e in book.events(action="locked")} == {"10.0.0.2"}


def test_an_admin_enabling_lifts_a_lockout_and_disabling_refuses_login(book):
    book.add_user("李四", "viewer", PASSWORD)
    for _ in range(3):
        with pytest.raises((LoginFailed, Locked)):
            book.authenticate("李四", "wrong-password-1")
    book.set_disabled("李四", False, by="admin")
    assert book.authenticate("李四", PASSWORD).role == "viewer"
    book.set_disabled("李四", True, by="admin")
    with pytest.raises(AccountDisabled):
        book.authenticate("李四", PASSWORD)
    with pytest.raises(LoginFailed):  # an unknown name looks like a wrong password
        book.authenticate("nobody", PASSWORD)


def test_sessions_end_when_the_password_changes_or_the_user_is_disabled(book):
    book.add_user("张三", "editor", PASSWORD)
    session_id = book.authenticate("张三", PASSWORD).get_id()
    assert book.principal(session_id).name == "张三"
    book.set_password("张三", "新的密码password9")
    assert book.principal(session_id) is None
    fresh = book.authenticate("张三", "新的密码password9").get_id()
    book.set_disabled("张三", True)
    assert book.principal(fresh) is None


def test_tokens_are_hashed_at_rest_scoped_and_revocable(book):
    book.add_user("张三", "editor", PASSWORD)
    made = book.create_token("张三", "nightly-export", "viewer", by="张三")
    token = made["token"]
    assert token.startswith("atl_") and len(token) > 40
    with sqlite3.connect(book.path) as db:
        (stored,), = db.execute("SELECT hash FROM tokens")
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert token.encode() not in book.path.read_bytes()
    found = book.resolve_token(token)
    assert (found.name, found.role, found.token, found.actor) == ("张三", "viewer", "nightly-export",
                                                                  "token:nightly-export@张三")
    assert "token" not in book.tokens("张三")[0]
    assert book.tokens("张三")[0]["last_used"] == "2026-12-01T08:00:00Z"
    with pytest.raises(Forbidden):  # never above the owner
        book.create_token("张三", "too-much", "admin")
    book.revoke_token(made["id"], by="admin")
    assert book.resolve_token(token) is None
    assert book.resolve_token("atl_made-up") is None and book.resolve_token("Bearer x") is None
    assert [e["action"] for e in book.events()][:2] == ["token_revoked", "token_created"]


def test_a_token_acts_with_the_lower_of_its_and_its_owners_role(book):
    book.add_user("王五", "admin", PASSWORD)
    token = book.create_token("王五", "script", "editor")["token"]
    assert book.resolve_token(token).role == "editor"
    book.set_role("王五", "viewer")
    assert book.resolve_token(token).role == "viewer"
    book.set_disabled("王五", True)
    assert book.resolve_token(token) is None


def test_events_are_kept_then_pruned_by_age(book, clock):
    book.record("export", user="张三", address="10.0.0.3", detail="layers=roads")
    clock.advance(days=179)
    book.record("login", user="张三")
    assert len(book.events()) == 2
    clock.advance(days=2)  # the first is now 181 days old: gone when the next event is written
    book.record("logout", user="张三")
    assert [e["action"] for e in book.events()] == ["logout", "login"]
    assert [e["action"] for e in book.events(since="2027-05-29", action="login")] == ["login"]
    assert book.events(until="2026-12-02") == []


def test_grants(book):
    book.add_user("张三", "editor", PASSWORD)
    assert book.set_grants("张三", ["roads", "projects"], add=True)["grants"] == ["projects", "roads"]
    assert book.set_grants("张三", ["roads"], add=False)["grants"] == ["projects"]
    assert book.set_grants("张三", ["*"])["grants"] == ["*"]
    assert book.authenticate("张三", PASSWORD).grants == frozenset({"*"})


EDITOR = Principal("张三", "editor", frozenset({"roads"}))
VIEWER = Principal("李四", "viewer")
ADMIN = Principal("王五", "admin")


def test_permission_checks_name_the_role_needed():
    require(None, "read")  # anonymous may read by default
    with pytest.raises(LoginRequired) as caught:
        require(None, "read", anonymous="NONE")
    assert caught.value.role == "viewer" and caught.value.to_dict()["role"] == "viewer"
    with pytest.raises(LoginRequired) as caught:
        require(None, "edit", "roads")
    assert caught.value.status == 401 and caught.value.role == "editor"
    with pytest.raises(Forbidden) as caught:
        require(VIEWER, "edit", "roads")
    assert caught.value.status == 403 and caught.value.role == "editor"
    assert "needs role editor with a grant for layer roads" in caught.value.detail
    require(EDITOR, "edit", "roads")
    with pytest.raises(Forbidden, match="grant for layer parks"):
        require(EDITOR, "edit", "parks")
    require(ADMIN, "edit", "parks")
    with pytest.raises(Forbidden) as caught:
        require(EDITOR, "admin")
    assert caught.value.role == "admin"
    require(ADMIN, "admin")


def test_hidden_layers_are_absent_for_those_who_may_not_see_them():
    layers = ["districts", "roads", "projects"]
    hidden = {"projects", "roads"}
    assert visible_layers(None, layers, hidden=hidden) == ["districts"]
    assert visible_layers(VIEWER, layers, hidden=hidden) == ["districts"]
    assert visible_layers(EDITOR, layers, hidden=hidden) == ["districts", "roads"]  # granted roads
    assert visible_layers(ADMIN, layers, hidden=hidden) == layers
    assert visible_layers(None, layers, anonymous="NONE") == []
    with pytest.raises(NotFound):
        require(VIEWER, "read", "projects", hidden=hidden)
    with pytest.raises(NotFound):  # not even a 403 that would tell it exists
        require(VIEWER, "edit", "projects", hidden=hidden)


def test_the_store_view_hides_layers_and_tags_its_version(built_store):
    full = VisibleStore(built_store)
    view = VisibleStore(built_store, hidden=frozenset({"parks"}))
    assert "parks" in full.layers() and "parks" not in view.layers()
    assert full.version() == built_store.version() != view.version()
    with pytest.raises(NotFound, match="no layer 'parks'"):
        view.info("parks")
    assert full.find("parks-huaxiacheng") is not None and view.find("parks-huaxiacheng") is None
    assert VisibleStore(built_store, everything_hidden=True).layers() == []
