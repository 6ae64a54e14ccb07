"""The errors of accounts and permissions: each carries its HTTP meaning like every ``GeoError``,
and those that refuse a request name the ``role`` it needs (the JSON body's ``"role"``)."""
from __future__ import annotations

from geo.errors import Conflict, GeoError, InvalidParameter  # noqa: F401  (Conflict: one for all)


class AccessError(GeoError):
    """A refusal that names the least role that would be let through (None: no role would)."""

    def __init__(self, detail: str, *, role: str | None = None, **kwargs):
        super().__init__(detail, **kwargs)
        self.role = role

    @property
    def extra(self) -> dict:
        """Members of the JSON error body beyond error/detail/parameter."""
        return {"role": self.role}



class LoginRequired(AccessError):
    """Nobody is logged in and the request needs someone (HTTP 401)."""

    status = 401
    code = "login_required"


class InvalidToken(LoginRequired):
    """An ``Authorization: Bearer`` token that is unknown, revoked, or whose owner is disabled (401)."""

    code = "invalid_token"


class Forbidden(AccessError):
    """The user is known but their role or grants do not allow this (HTTP 403)."""

    status = 403
    code = "forbidden"


class LoginFailed(GeoError):
    """A wrong user name or password (HTTP 401); the two are never told apart."""

    status = 401
    code = "login_failed"


class AccountDisabled(GeoError):
    """The right password for an account an admin has disabled (HTTP 403)."""

    status = 403
    code = "account_disabled"


class Locked(GeoError):
    """Too many failed logins: the account is locked for a while (HTTP 423)."""

    status = 423
    code = "locked"


class WeakPassword(InvalidParameter):
    """A password below the minimum strength (HTTP 400); the detail states the rule."""

    code = "weak_password"

