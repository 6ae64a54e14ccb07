"""The Flask glue of accounts: sessions (Flask-Login), API tokens, CSRF (Flask-WTF), the login rate
limit (Flask-Limiter) and the read permissions every route gets, over the Flask-free
``layers.accounts``.

Who asks is settled once, before anything else of the request (and before the answer cache is
consulted): an ``Authorization: Bearer atl_…`` token, else the session's user, else nobody. Every
state-changing request that carries the session cookie must carry the CSRF token too (header
``X-CSRFToken``); one without the cookie has no ambient authority to abuse (a token, or nobody).
Routes read the store through ``readable_store``, in which the layers the asker may not see are
absent.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app, g, jsonify, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect

from geo.errors import NotFound
from layers import config
from layers.accounts import Accounts, InvalidToken, LoginRequired, Principal, policy
from layers.accounts.keyfile import secret_key, shared_secret_key
from layers.accounts.visible import VisibleStore
from layers.api import http

log = logging.getLogger(__name__)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")
COOKIE = "atlas_session"
#: what a visitor who is not logged in may reach under ATLAS_ANONYMOUS=NONE: the page shell (it
#: shows the login form), its scripts and styles, and the session API
PUBLIC_ENDPOINTS = frozenset({"page.index", "page.vendor", "static", "auth.session", "auth.login", "auth.logout"})
#: requests recorded as exports in the security log
EXPORTS = frozenset({"api.export", "api.start_export_job", "api.export_job_file", "page.standalone_map"})


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, the cookie marked Secure whenever the request came over HTTPS
    (or always, with ATLAS_COOKIE_SECURE=1)."""

    _signer: tuple | None = None

    def get_cookie_secure(self, app) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure

    def save_session(self, app, session, response) -> None:
        if not session and not session.modified:  # nothing to write or delete: Flask's answer, cheaper
            if session.accessed:
                http.vary(response, ("Cookie",))
            return
        super().save_session(app, session, response)

    def get_signing_serializer(self, app):
        """Flask's serializer, made once for the app's keys (Flask makes one every request)."""
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        made = self._signer
        if made is None or made[0] != keys:
            made = self._signer = (keys, super().get_signing_serializer(app))
        return made[1]


class HeaderCSRF(CSRFProtect):
    """CSRF protection that takes the token from the ``X-CSRFToken`` header only, where every script
    of the page sends it. Flask-WTF's own lookup also walks the form's field names, and a multipart
    part without a name (a field name of None) made it fail with a 500 before the route ran."""

    def _get_csrf_token(self):
        for header in current_app.config["WTF_CSRF_HEADERS"]:
            token = request.headers.get(header)
            if token:
                return token
        return None


def store_folder(app) -> Path:
    return config.store_folder(app.extensions["atlas_store"])


def init_app(app) -> None:
    """Accounts, sessions, CSRF, the login limit and the before-request check on ``app``. Call it
    after the store is opened and before any before-request hook that answers from a cache."""
    from . import routes

    cfg = app.config
    folder = store_folder(app)
    # a PostGIS store: the accounts, the session key and the login counters in its database, shared
    # by every app server (layers.shared); a GeoPackage store: files beside it (one machine)
    shared = app.extensions.get("atlas_shared")
    where = cfg["ACCOUNTS"] or (shared if shared is not None else folder / "accounts.sqlite")
    accounts = Accounts(where, lock_after=cfg["LOGIN_LOCK_AFTER"], lock_minutes=cfg["LOGIN_LOCK_MINUTES"],
                        audit_days=cfg["AUDIT_DAYS"])
    app.extensions["atlas_accounts"] = accounts
    app.secret_key = cfg["SECRET_KEY"] or (shared_secret_key(shared) if shared is not None
                                           else secret_key(folder / "secret_key"))
    cfg.update(SESSION_COOKIE_NAME=COOKIE, SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
               SESSION_COOKIE_SECURE=bool(cfg["COOKIE_SECURE"]), SESSION_REFRESH_EACH_REQUEST=True,
               PERMANENT_SESSION_LIFETIME=timedelta(minutes=cfg["SESSION_MINUTES"]),
               WTF_CSRF_CHECK_DEFAULT=False, WTF_CSRF_TIME_LIMIT=None)  # the session's idle limit bounds it
    app.session_interface = SessionInterface()
    logins = LoginManager()
    logins.init_app(app)
    logins.user_loader(accounts.principal)
    app.extensions["atlas_csrf"] = HeaderCSRF(app)
    app.before_request(authenticate)
    if shared is not None:
        from layers.shared.limits_pg import PostgresLimits  # noqa: F401 (registers its storage scheme)

        storage = {"storage_uri": "atlas-postgresql://", "storage_options": {"database": shared}}
    else:  # one machine: each process counts its own (the README says so)
        storage = {"storage_uri": "memory://"}
    limiter = Limiter(get_remote_address, app=app, default_limits=[], **storage)
    # No limit but the login's, and a decorated view checks its own limit: the extension's check
    # before every request would only find nothing to count (a tenth of a small read's time)
    hooks = app.before_request_funcs.get(None, [])
    hooks[:] = [f for f in hooks if f != limiter._check_request_limit]
    app.extensions["atlas_limiter"] = limiter
    app.register_blueprint(routes.bp)
    app.view_functions["auth.login"] = limiter.limit(
        lambda: current_app.config["LOGIN_RATE"], methods=["POST"],
        error_message="too many login attempts from this address; wait a minute and try again "
                      "(登录尝试过于频繁，请稍后再试)")(app.view_functions["auth.login"])
    app.register_error_handler(CSRFError, handle_csrf)
    app.after_request(record_exports)


def accounts() -> Accounts:
    return current_app.extensions["atlas_accounts"]


def address() -> str | None:
    return request.remote_addr


# -- who asks ------------------------------------------------------------------------------------
def principal() -> Principal | None:
    """Who makes this request: a token's or session's principal, or None (anonymous)."""
    return g.get("principal")


def bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def authenticate() -> None:
    """Before every request: settle who asks, check CSRF, refuse anonymous visitors when they may
    not read, and make layers they may not see absent from the URL's ``layer_id``/``layer``."""
    token = bearer()
    if token is not None:
        found = accounts().resolve_token(token)
        if found is None:
            raise InvalidToken("this API token is unknown, revoked, or its owner is disabled; create a new one "
                               "(POST /api/tokens, or flask --app server users token NAME --name script)",
                               role="viewer")
        g.principal = found
    elif COOKIE in request.cookies:
        g.principal = _session_principal()
    else:  # no session cookie: nobody is logged in (no need to ask Flask-Login)
        g.principal = None
    if request.method not in SAFE_METHODS and COOKIE in request.cookies:
        current_app.extensions["atlas_csrf"].protect()
    if (g.principal is None and current_app.config["ANONYMOUS"] == "NONE"
            and request.endpoint is not None and request.endpoint not in PUBLIC_ENDPOINTS):
        raise LoginRequired("this atlas is for logged-in users: log in first (POST /api/session, or send "
                            "Authorization: Bearer <token>) (请先登录)", role="viewer")
    for key in ("layer_id", "layer"):
        layer = (request.view_args or {}).get(key)
        if isinstance(layer, str) and not readable_store().may_read(layer):
            raise NotFound(f"no layer {layer!r}; the layers are: {', '.join(readable_store().layers()) or '(none)'}",
                           parameter="layer")


def _session_principal() -> Principal | None:
    """The session's user, unless the session has been idle longer than ATLAS_SESSION_MINUTES (then
    it ends, recorded); each request refreshes it."""
    user = current_user
    if not getattr(user, "is_authenticated", False):
        return None
    now = accounts().clock()
    seen = session.get("seen")
    limit = timedelta(minutes=current_app.config["SESSION_MINUTES"])
    if seen is None or now - datetime.fromisoformat(seen) > limit:
        accounts().record("session_expired", user=user.name, address=address(), detail=f"idle since {seen}")
        end_session()
        return None
    session["seen"] = now.isoformat()
    return user


def begin_session(found: Principal) -> None:
    session.clear()  # nothing of the anonymous session (a fixed id, an old CSRF token) carries over
    login_user(found)
    session.permanent = True
    session["seen"] = accounts().clock().isoformat()
    g.principal = found


def end_session() -> None:
    logout_user()
    session.clear()
    g.principal = None


def hidden_layers() -> frozenset[str]:
    """The layers hidden from those who may not see hidden layers, read once a request (beside a
    PostGIS store in the round trip of its version); a change is seen by the next request."""
    if "hidden_layers" not in g:
        g.hidden_layers = accounts().hidden_layers(current_app.extensions["atlas_store"])
    return g.hidden_layers


def require(action: str, layer: str | None = None) -> Principal | None:
    """Raise LoginRequired/Forbidden/NotFound unless the asker may do ``action`` (on ``layer``)."""
    policy.require(principal(), action, layer, hidden=hidden_layers(),
                   anonymous=current_app.config["ANONYMOUS"])
    return principal()


def actor() -> str:
    """The asker's name for the revision and security logs ('anonymous' for nobody)."""
    found = principal()
    return "anonymous" if found is None else found.actor


def record(action: str, outcome: str = "ok", detail: str | None = None) -> None:
    """A security event by the asker, from the request's address."""
    found = principal()
    accounts().record(action, outcome, user=None if found is None else found.actor, address=address(),
                      detail=detail)


# -- what they may read --------------------------------------------------------------------------
def readable_store(store=None) -> VisibleStore:
    """The store as the asker sees it (made once a request)."""
    if store is None and "readable_store" in g:
        return g.readable_store
    raw = store if store is not None else current_app.extensions["atlas_store"]
    found = principal()
    if found is None and current_app.config["ANONYMOUS"] == "NONE":
        view = VisibleStore(raw, everything_hidden=True)
    else:
        view = VisibleStore(raw, hidden=frozenset(h for h in hidden_layers() if not policy.may_see_hidden(found, h)))
    if store is None:
        g.readable_store = view
    return view


def readable_layers() -> list[str]:
    return readable_store().layers()


# -- hooks ---------------------------------------------------------------------------------------
def handle_csrf(exc: CSRFError):
    """A missing or wrong CSRF token: 400, nothing done."""
    detail = (f"{exc.description} Send the token of GET /api/session in the X-CSRFToken header with every "
              "change (缺少或错误的CSRF令牌，请刷新页面后重试)")
    if request.path.startswith("/api/"):
        return jsonify({"error": "csrf", "detail": detail, "request_id": g.get("request_id")}), 400
    return detail, 400, {"Content-Type": "text/plain; charset=utf-8"}


def record_exports(response):
    """Exports (direct, jobs, their files, offline maps) are security events: who, what, outcome."""
    if request.endpoint in EXPORTS and response.status_code != 304:
        what = request.query_string.decode("utf-8", "replace") or (request.get_data(as_text=True) or "")
        record("export", "ok" if response.status_code < 400 else f"refused_{response.status_code}",
               detail=f"{request.method} {request.path} {what}"[:500])
    return response
