"""API tokens for scripts: ``atl_`` and 43 random URL-safe characters, shown once; only their
SHA-256 (hex) is kept. A token has a name, an owner and a role no higher than the owner's; it acts
as its owner (actor ``token:<name>@<owner>``) with the lower of its role and the owner's current
one, and stops working when revoked or when the owner is disabled."""
from __future__ import annotations

import hashlib
import secrets

from geo.errors import InvalidParameter, NotFound

from .errors import Forbidden
from .policy import ROLES, Principal, check_role, rank

PREFIX = "atl_"
#: last_used is written at most this often per token (seconds), not on every request
TOUCH_EVERY = 60


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenMixin:
    """Token methods of ``Accounts`` (over its ``_db``, ``now`` and ``record``)."""

    def create_token(self, owner: str, name: str, role: str, *, by: str | None = None,
                     address: str | None = None) -> dict:
        """A new token; the answer holds the token itself, the only time it is ever shown."""
        check_role(role)
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= 64:
            raise InvalidParameter("a token needs a name of 1 to 64 characters saying what uses it, e.g. "
                                   "nightly-export", parameter="name")
        token = PREFIX + secrets.token_urlsafe(32)
        with self._db() as db:
            row = self._row(db, owner)
            if rank(role) > rank(row["role"]):
                raise Forbidden(f"a token's role cannot be above its owner's: {row['name']} is {row['role']}, "
                                f"asked for {role}; choose one of {', '.join(ROLES[:rank(row['role'])])}",
                                role=role)
            token_id = db.execute("INSERT INTO tokens (name, owner, role, hash, created) VALUES (?, ?, ?, ?, ?) "
                                  "RETURNING id", (name.strip(), row["name"], role, digest(token), self.now())).fetchone()[0]
            self.record("token_created", user=by or row["name"], address=address,
                        detail=f"token {token_id} {name.strip()!r} of {row['name']} as {role}", db=db)
            return {"id": token_id, "name": name.strip(), "owner": row["name"], "role": role, "token": token}

    def tokens(self, owner: str | None = None) -> list[dict]:
        """The tokens (never their secret), of one owner or all."""
        sql = "SELECT id, name, owner, role, created, last_used, revoked FROM tokens"
        with self._db(write=False) as db:
            rows = (db.execute(sql + " WHERE owner = ? ORDER BY id", (owner,)) if owner
                    else db.execute(sql + " ORDER BY id"))
            return [{**dict(r), "revoked": r["revoked"] is not None, "revoked_at": r["revoked"]} for r in rows]

    def token(self, token_id: int) -> dict:
        found = [t for t in self.tokens() if t["id"] == token_id]
        if not found:
            raise NotFound(f"no token {token_id}; the tokens are listed by GET /api/tokens", parameter="id")
        return found[0]

    def revoke_token(self, token_id: int, *, by: str | None = None, address: str | None = None) -> dict:
        with self._db() as db:
            cur = db.execute("UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL", (self.now(), token_id))
            if not cur.rowcount and not db.execute("SELECT 1 FROM tokens WHERE id = ?", (token_id,)).fetchone():
                raise NotFound(f"no token {token_id}; the tokens are listed by GET /api/tokens", parameter="id")
            self.record("token_revoked", user=by, address=address, detail=f"token {token_id}", db=db)
        return self.token(token_id)

    def resolve_token(self, token: str) -> Principal | None:
        """The principal a presented token acts as, or None (unknown, revoked, owner disabled)."""
        if not isinstance(token, str) or not token.startswith(PREFIX) or len(token) > 200:
            return None
        with self._db(write=False) as db:
            row = db.execute("SELECT t.id, t.name, t.role, t.last_used, u.name AS owner, u.role AS owner_role, "
                             "u.generation FROM tokens t JOIN users u ON u.name = t.owner "
                             "WHERE t.hash = ? AND t.revoked IS NULL AND u.disabled = 0", (digest(token),)).fetchone()
            if row is None:
                return None
            role = min(row["role"], row["owner_role"], key=rank)
            found = Principal(row["owner"], role, self._grants(db, row["owner"]), token=row["name"],
                              generation=row["generation"])
        now = self.now()
        if row["last_used"] is None or _seconds_between(row["last_used"], now) >= TOUCH_EVERY:
            with self._db() as db:  # a write lock only when there is something to write
                db.execute("UPDATE tokens SET last_used = ? WHERE id = ?", (now, row["id"]))
        return found


def _seconds_between(earlier: str, later: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(later.replace("Z", "+00:00"))
            - datetime.fromisoformat(earlier.replace("Z", "+00:00"))).total_seconds()
