"""The accounts database: one SQLite file beside a GeoPackage store (``ATLAS_ACCOUNTS``), or the
app's schema of a PostGIS store's PostgreSQL, shared by every app server (``books``: the SQL is
written once for both). Users, grants, layer settings and the security log live here; API tokens in
``tokens.py`` over the same database.

Passwords are kept only as argon2id hashes (argon2-cffi's ``PasswordHasher``). Repeated failed
logins lock an account for a while; every login, logout and change of permissions is an event in
the security log, kept ``audit_days`` and pruned as new events are written.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from functools import cached_property
from datetime import datetime, timedelta, timezone
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from geo.errors import InvalidParameter, NotFound

from .books import PostgresBook, SQLiteBook
from .errors import AccountDisabled, Conflict, Locked, LoginFailed
from .tokens import TokenMixin
from .policy import Principal, check_name, check_password, check_role

WRONG = "wrong user name or password; try again (用户名或密码错误)"
USER_COLUMNS = "name, role, disabled, failed_logins, locked_until, created, last_login"


def iso(moment: datetime) -> str:
    # isoformat, not strftime: strftime's %Y does not pad years before 1000
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def parse_time(text: str, parameter: str = "since") -> str:
    """An ISO 8601 date or time (no zone: UTC) as the log's own form, for comparisons."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise InvalidParameter(f"{parameter} must be an ISO 8601 date or time, e.g. 2026-12-01 or "
                               f"2026-12-01T08:00:00Z; got {text!r}", parameter=parameter) from None
    try:
        return iso(moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc))
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
        raise InvalidParameter(f"{parameter} must be a time from year 1 to 9999 in UTC, got {text!r}",
                               parameter=parameter) from None


class Accounts(TokenMixin):
    """Users, grants, layer settings, tokens and the security log in one SQLite file.

    ``clock`` (a callable returning an aware datetime) is the time of every decision, so tests can
    move it; ``hasher`` an argon2 ``PasswordHasher`` (default: argon2-cffi's argon2id defaults)."""

    def __init__(self, path, *, lock_after: int = 5, lock_minutes: int = 15, audit_days: int = 180,
                 clock: Callable[[], datetime] | None = None, hasher: PasswordHasher | None = None):
        """``path``: the SQLite file (str or Path), or the app's PostgreSQL database
        (``layers.shared.pg.AppDatabase``)."""
        self._book = SQLiteBook(path) if isinstance(path, (str, Path)) else PostgresBook(path)
        self.path = self._book.path
        self.lock_after = lock_after
        self.lock_minutes = lock_minutes
        self.audit_days = audit_days
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.hasher = hasher or PasswordHasher()

    @cached_property
    def _dummy(self) -> str:
        """A hash to verify against for unknown names: they cost as much time as known ones."""
        return self.hasher.hash("no such user, same work")

    @contextmanager
    def _db(self, write: bool = True):
        """One transaction: committed on success, rolled back on any error; a reading one
        (``write=False``) takes no lock, so the check on every request stays cheap."""
        with self._book.transaction(write) as db:
            yield db

    def now(self) -> str:
        return iso(self.clock())

    # -- the security log ------------------------------------------------------------------------
    def record(self, action: str, outcome: str = "ok", *, user: str | None = None, address: str | None = None,
               detail: str | None = None, db: sqlite3.Connection | None = None) -> None:
        """One security event; events older than ``audit_days`` go as it is written."""
        if db is None:
            with self._db() as own:
                return self.record(action, outcome, user=user, address=address, detail=detail, db=own)
        db.execute('INSERT INTO events (time, "user", address, action, outcome, detail) VALUES (?, ?, ?, ?, ?, ?)',
                   (self.now(), user, address, action, outcome, detail))
        db.execute("DELETE FROM events WHERE time < ?", (iso(self.clock() - timedelta(days=self.audit_days)),))

    def events(self, *, user: str | None = None, action: str | None = None, since: str | None = None,
               until: str | None = None, limit: int = 1000) -> list[dict]:
        """Security events, newest first, filtered by user, action and time (ISO 8601, UTC)."""
        sql, args = 'SELECT id, time, "user", address, action, outcome, detail FROM events WHERE 1=1', []
        for clause, value in (('"user" = ?', user), ("action = ?", action),
                              ("time >= ?", since and parse_time(since, "since")),
                              ("time <= ?", until and parse_time(until, "until"))):
            if value:
                sql += f" AND {clause}"
                args.append(value)
        with self._db(write=False) as db:
            rows = db.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [dict(r) for r in rows]

    # -- users -----------------------------------------------------------------------------------
    def _row(self, db, name: str) -> sqlite3.Row:
        row = db.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"no user {name!r}; the users are listed by GET /api/users or "
                           "flask --app server users list", parameter="name")
        return row

    def _grants(self, db, name: str) -> frozenset[str]:
        return frozenset(r[0] for r in db.execute('SELECT layer FROM grants WHERE "user" = ?', (name,)))

    def _user(self, db, row: sqlite3.Row) -> dict:
        return {**{k: row[k] for k in USER_COLUMNS.split(", ")}, "disabled": bool(row["disabled"]),
                "grants": sorted(self._grants(db, row["name"]))}

    def add_user(self, name: str, role: str, password: str, *, by: str | None = None,
                 address: str | None = None) -> dict:
        check_name(name)
        check_role(role)
        check_password(password, name)
        digest = self.hasher.hash(password)
        with self._db() as db:
            if db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise Conflict(f"a user {name!r} exists already; change it with PATCH /api/users/{name} "
                               "or flask --app server users passwd/grant", parameter="name")
            db.execute("INSERT INTO users (name, role, hash, created) VALUES (?, ?, ?, ?)",
                       (name, role, digest, self.now()))
            self.record("user_added", user=by, address=address, detail=f"{name} as {role}", db=db)
            return self._user(db, self._row(db, name))

    def user(self, name: str) -> dict:
        with self._db(write=False) as db:
            return self._user(db, self._row(db, name))

    def users(self) -> list[dict]:
        with self._db(write=False) as db:
            return [self._user(db, r) for r in db.execute("SELECT * FROM users ORDER BY name")]

    def has_admin(self) -> bool:
        with self._db(write=False) as db:
            return db.execute("SELECT 1 FROM users WHERE role = 'admin' AND disabled = 0").fetchone() is not None

    def _change(self, name: str, sql: str, args: tuple, action: str, detail: str, by, address,
                new_generation: bool = True) -> dict:
        with self._db() as db:
            self._row(db, name)
            db.execute(sql, (*args, name))
            if new_generation:  # sessions begun before this end (Principal.get_id)
                db.execute("UPDATE users SET generation = generation + 1 WHERE name = ?", (name,))
            self.record(action, user=by, address=address, detail=detail, db=db)
            return self._user(db, self._row(db, name))

    def set_password(self, name: str, password: str, *, by=None, address=None) -> dict:
        check_password(password, name)
        return self._change(name, "UPDATE users SET hash = ? WHERE name = ?", (self.hasher.hash(password),),
                            "password_changed", name, by, address)

    def set_role(self, name: str, role: str, *, by=None, address=None) -> dict:
        check_role(role)  # a token acts with the lower of its role and its owner's (tokens.py)
        return self._change(name, "UPDATE users SET role = ? WHERE name = ?", (role,), "role_changed",
                            f"{name} to {role}", by, address)

    def set_disabled(self, name: str, disabled: bool, *, by=None, address=None) -> dict:
        """Disable (sessions and tokens stop working) or enable (which also lifts a lockout)."""
        if disabled:
            return self._change(name, "UPDATE users SET disabled = 1 WHERE name = ?", (), "disabled", name,
                                by, address)
        return self._change(name, "UPDATE users SET disabled = 0, failed_logins = 0, locked_until = NULL "
                            "WHERE name = ?", (), "enabled", name, by, address, new_generation=False)

    def set_grants(self, name: str, layers: Iterable[str], *, by=None, address=None, add: bool | None = None) -> dict:
        """Replace the user's grants by ``layers`` (``add`` True: add them; False: remove them)."""
        layers = tuple(dict.fromkeys(v.strip() for v in layers if v and v.strip()))
        with self._db() as db:
            self._row(db, name)
            if add is None:
                db.execute('DELETE FROM grants WHERE "user" = ?', (name,))
            if add is False:
                db.executemany('DELETE FROM grants WHERE "user" = ? AND layer = ?', [(name, v) for v in layers])
            else:
                db.executemany('INSERT INTO grants ("user", layer) VALUES (?, ?) ON CONFLICT DO NOTHING', [(name, v) for v in layers])
            verb = {None: "set to", True: "added", False: "removed"}[add]
            self.record("grant" if add is not False else "revoke", user=by, address=address,
                        detail=f"{name}: {verb} {','.join(layers) or '(none)'}", db=db)
            return self._user(db, self._row(db, name))

    # -- logging in ------------------------------------------------------------------------------
    def authenticate(self, name: str, password: str, *, address: str | None = None) -> Principal:
        """The principal for a right name and password; LoginFailed (401), Locked (423) or
        AccountDisabled (403) otherwise, each recorded. ``lock_after`` failures in a row lock the
        account for ``lock_minutes``."""
        now = self.clock()
        refusal: Exception | None = None
        with self._db() as db:  # the failure count is committed, then the refusal raised
            row = db.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone() if isinstance(name, str) else None
            if row is None:
                self._verify(self._dummy, password)
                self.record("login_failed", "unknown_user", user=str(name)[:64], address=address, db=db)
                refusal = LoginFailed(WRONG)
            elif row["locked_until"] and row["locked_until"] > iso(now):
                self.record("login_failed", "locked", user=row["name"], address=address, db=db)
                refusal = Locked(self._locked_message(row["locked_until"]))
            elif not self._verify(row["hash"], password):
                refusal = self._failed(db, row, now, address)
            elif row["disabled"]:
                self.record("login_failed", "disabled", user=row["name"], address=address, db=db)
                refusal = AccountDisabled("this account has been disabled; ask an admin to enable it "
                                          f"(flask --app server users enable {row['name']}) (账户已停用)")
            else:
                name = row["name"]
                if self.hasher.check_needs_rehash(row["hash"]):
                    db.execute("UPDATE users SET hash = ? WHERE name = ?", (self.hasher.hash(password), name))
                db.execute("UPDATE users SET failed_logins = 0, locked_until = NULL, last_login = ? WHERE name = ?",
                           (iso(now), name))
                self.record("login", user=name, address=address, db=db)
                principal = Principal(name, row["role"], self._grants(db, name), generation=row["generation"])
        if refusal is not None:
            raise refusal
        return principal

    def _failed(self, db, row: sqlite3.Row, now: datetime, address: str | None) -> Exception:
        name, failed = row["name"], row["failed_logins"] + 1
        self.record("login_failed", "wrong_password", user=name, address=address, db=db)
        if failed < self.lock_after:
            db.execute("UPDATE users SET failed_logins = ? WHERE name = ?", (failed, name))
            return LoginFailed(WRONG)
        until = iso(now + timedelta(minutes=self.lock_minutes))
        db.execute("UPDATE users SET failed_logins = 0, locked_until = ? WHERE name = ?", (until, name))
        self.record("locked", user=name, address=address, db=db,
                    detail=f"{failed} failed logins in a row; locked until {until}")
        return Locked(self._locked_message(until))

    def _verify(self, digest: str, password) -> bool:
        try:
            return self.hasher.verify(digest, password if isinstance(password, str) else "")
        except (VerificationError, InvalidHashError):
            return False

    def _locked_message(self, until: str) -> str:
        return (f"too many failed logins: this account is locked until {until} (UTC); try again then, or ask an "
                "admin to unlock it (flask --app server users enable NAME) (登录失败次数过多，账户已临时锁定)")

    def principal(self, user_id: str) -> Principal | None:
        """The principal of a session (``Principal.get_id``), or None once the user is disabled
        or their password or role has changed since."""
        generation, _, name = str(user_id).partition(":")
        with self._db(write=False) as db:
            row = db.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
            if row is None or row["disabled"] or str(row["generation"]) != generation:
                return None
            return Principal(row["name"], row["role"], self._grants(db, row["name"]), generation=row["generation"])

    def current(self, name: str) -> Principal | None:
        """The principal of ``name`` as it is now (None: disabled or unknown)."""
        with self._db(write=False) as db:
            row = db.execute("SELECT generation FROM users WHERE name = ?", (name,)).fetchone()
        return None if row is None else self.principal(f"{row[0]}:{name}")

    # -- layer settings --------------------------------------------------------------------------
    def hidden_layers(self, store=None) -> frozenset[str]:
        """The layers hidden from those who may not see hidden layers. ``store``: the store asked
        on the same request; when it lives in the accounts' own database (PostGIS), they are read in
        the round trip of its version."""
        if store is not None:
            found = self._book.hidden_with_version(store)
            if found is not None:
                return found
        with self._db(write=False) as db:
            return frozenset(r[0] for r in db.execute("SELECT layer FROM layer_settings WHERE hidden <> 0"))

    def set_hidden(self, layer: str, hidden: bool, *, by=None, address=None) -> dict:
        with self._db() as db:
            db.execute("INSERT INTO layer_settings (layer, hidden) VALUES (?, ?) "
                       "ON CONFLICT (layer) DO UPDATE SET hidden = excluded.hidden", (layer, int(bool(hidden))))
            self.record("layer_settings", user=by, address=address, detail=f"{layer}: hidden={bool(hidden)}", db=db)
        return {"layer": layer, "hidden": bool(hidden)}
