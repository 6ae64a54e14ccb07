"""The accounts API: the session (log in, out, who am I), users, API tokens, the security log and
layer settings. Each route parses its input, calls one method of ``layers.accounts`` and answers
JSON; permissions are checked first (``auth.require``)."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from flask_wtf.csrf import generate_csrf

from geo.errors import InvalidParameter, NotFound
from layers.accounts import Forbidden
from layers.accounts.db import parse_time
from layers.accounts.errors import Conflict

from . import auth

bp = Blueprint("auth", __name__, url_prefix="/api")


@bp.after_request
def no_store(response):
    response.headers["Cache-Control"] = "no-store"  # CSRF tokens, users, tokens: never cached
    return response


def body(*allowed: str) -> dict:
    """The request's JSON object, with no member beyond ``allowed``."""
    data = request.get_json(silent=True) if request.is_json else None
    if not isinstance(data, dict):
        raise InvalidParameter(f"{request.method} {request.path} takes a JSON object (Content-Type: "
                               f"application/json) with {', '.join(allowed)}", parameter="body",
                               status=400 if request.is_json else 415)
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InvalidParameter(f"unknown member {unknown[0]!r}; {request.path} takes {', '.join(allowed)}",
                               parameter=unknown[0])
    return data


def _text(data: dict, name: str, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidParameter(f"{name} is required, as a string", parameter=name)
    return value


def _grants(value) -> list[str]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise InvalidParameter("grants must be a list of layer names (or [\"*\"] for every layer), e.g. "
                               "[\"roads\", \"projects\"]", parameter="grants")
    layers = current_app.extensions["atlas_store"].layers()
    unknown = [v.strip() for v in items if v.strip() and v.strip() not in (*layers, "*")]
    if unknown:
        raise InvalidParameter(f"unknown layer {unknown[0]!r} in grants; the layers are {', '.join(layers)} "
                               "(or * for all)", parameter="grants")
    return [v.strip() for v in items if v.strip()]


def _who() -> dict:
    return {"by": auth.actor(), "address": auth.address()}


# -- the session ---------------------------------------------------------------------------------
def session_body() -> dict:
    found = auth.principal()
    by_token = found is not None and found.token is not None  # no session, no CSRF token (nor cookie)
    return {"user": None if found is None else found.public(), "csrf_token": None if by_token else generate_csrf(),
            "anonymous": current_app.config["ANONYMOUS"]}


@bp.get("/session")
def session():
    return jsonify(session_body())


@bp.post("/session")
def login():
    """Log in with {"name", "password"}: 401 wrong, 423 locked, 429 too many attempts."""
    data = body("name", "password")
    found = auth.accounts().authenticate(_text(data, "name"), _text(data, "password"), address=auth.address())
    auth.begin_session(found)
    return jsonify(session_body())


@bp.delete("/session")
def logout():
    found = auth.principal()
    if found is not None and found.token is None:
        auth.record("logout")
    auth.end_session()
    return jsonify(session_body())


# -- users (admin) -------------------------------------------------------------------------------
@bp.get("/users")
def users():
    auth.require("admin")
    return jsonify({"users": auth.accounts().users()})


@bp.post("/users")
def add_user():
    auth.require("admin")
    data = body("name", "role", "password", "grants")
    book = auth.accounts()
    user = book.add_user(_text(data, "name"), _text(data, "role"), _text(data, "password"), **_who())
    if data.get("grants"):
        user = book.set_grants(user["name"], _grants(data["grants"]), **_who())
    return jsonify(user), 201


@bp.patch("/users/<name>")
def change_user(name: str):
    """{"role"?, "grants"?, "disabled"?, "password"?}; the last enabled admin stays one."""
    me = auth.require("admin")
    data = body("role", "grants", "disabled", "password")
    book = auth.accounts()
    user = book.user(name)
    demoted = data.get("role") not in (None, "admin") or data.get("disabled") is True
    if user["role"] == "admin" and not user["disabled"] and demoted:
        admins = [u for u in book.users() if u["role"] == "admin" and not u["disabled"]]
        if len(admins) <= 1:
            raise Conflict(f"{name} is the only enabled admin; make another admin first, so someone can still "
                           "manage the atlas", parameter="role" if "role" in data else "disabled")
    if "disabled" in data and not isinstance(data["disabled"], bool):
        raise InvalidParameter("disabled must be true or false", parameter="disabled")
    if "password" in data:
        user = book.set_password(name, _text(data, "password"), **_who())
    if "role" in data:
        user = book.set_role(name, _text(data, "role"), **_who())
    if "grants" in data:
        user = book.set_grants(name, _grants(data["grants"]), **_who())
    if "disabled" in data:
        user = book.set_disabled(name, data["disabled"], **_who())
    if me.name == user["name"] and me.token is None and ("password" in data or "role" in data):
        still = book.current(user["name"])
        if still is not None:
            auth.begin_session(still)  # one's own change does not log one out
    return jsonify(user)


# -- API tokens ----------------------------------------------------------------------------------
@bp.get("/tokens")
def tokens():
    """Your tokens; an admin sees everyone's."""
    me = auth.require("token")
    book = auth.accounts()
    return jsonify({"tokens": book.tokens(None if me.role == "admin" else me.name)})


@bp.post("/tokens")
def create_token():
    me = auth.require("token")
    if me.token is not None:
        raise Forbidden("a token cannot make tokens; log in with your password to make one", role=me.role)
    data = body("name", "role")
    made = auth.accounts().create_token(me.name, _text(data, "name"), data.get("role") or me.role, **_who())
    return jsonify(made), 201


@bp.delete("/tokens/<int:token_id>")
def revoke_token(token_id: int):
    me = auth.require("token")
    book = auth.accounts()
    if me.role != "admin" and book.token(token_id)["owner"] != me.name:
        raise NotFound(f"no token {token_id} of yours; yours are listed by GET /api/tokens", parameter="id")
    return jsonify(book.revoke_token(token_id, **_who()))


# -- the security log and layer settings (admin) --------------------------------------------------
@bp.get("/audit")
def audit():
    auth.require("admin")
    args = request.args
    for name in ("since", "until"):
        if args.get(name):
            parse_time(args[name], name)
    try:
        limit = int(args.get("limit", 1000))
    except ValueError:
        raise InvalidParameter("limit must be a whole number from 1 to 10000", parameter="limit") from None
    if not 1 <= limit <= 10000:
        raise InvalidParameter("limit must be a whole number from 1 to 10000", parameter="limit")
    return jsonify({"events": auth.accounts().events(user=args.get("user") or None, action=args.get("action") or None,
                                                     since=args.get("since"), until=args.get("until"), limit=limit)})


@bp.get("/layer-settings")
def all_layer_settings():
    """Every layer's settings (admin): {"layers": {"roads": {"hidden": false}, …}, "dropped": [names
    that can be brought back]}."""
    auth.require("admin")
    hidden = auth.hidden_layers()
    store = current_app.extensions["atlas_store"]
    return jsonify({"layers": {name: {"hidden": name in hidden} for name in store.layers()},
                    "dropped": store.dropped_layers()})


@bp.patch("/layers/<layer>/settings")
def layer_settings(layer: str):
    auth.require("admin")
    data = body("hidden")
    if layer not in current_app.extensions["atlas_store"].layers():
        raise NotFound(f"no layer {layer!r}", parameter="layer")
    if not isinstance(data.get("hidden"), bool):
        raise InvalidParameter("hidden must be true or false", parameter="hidden")
    return jsonify(auth.accounts().set_hidden(layer, data["hidden"], **_who()))
