"""The editing and history API: features written on the map, a feature's history, the change log,
two times compared, restores, and dropping a layer (kept in the log, undoable). Thin routes: the
permission first (``auth.require``: editors need a grant for the layer, admins for whole layers),
then one function of ``layers.api.edits`` / ``layers.api.history``; each write is one revision by
the asker (``auth.actor()``) and a security event."""
from __future__ import annotations

import orjson
from flask import Blueprint, Response, jsonify, request

from geo.errors import InvalidParameter, NotFound, Stale
from layers.api import edits, history

from . import auth

bp = Blueprint("edits", __name__, url_prefix="/api")


@bp.after_request
def no_store(response):
    if request.method != "GET":
        response.headers["Cache-Control"] = "no-store"
    return response


def store():
    return auth.readable_store()


def _body() -> dict:
    data = request.get_json(silent=True) if request.is_json else None
    if not isinstance(data, dict):
        raise InvalidParameter(f"{request.method} {request.path} takes a JSON object with Content-Type: "
                               "application/json", parameter="body", status=400 if request.is_json else 415)
    return data


def _feature(body: bytes, version: int, status: int = 200) -> Response:
    response = Response(body, status=status, mimetype="application/geo+json")
    response.headers["ETag"] = f'"{version}"'
    response.headers["X-Atlas-Version"] = str(version)
    return response


def _write(what: str, layer: str, key: str | None, fn):
    """Run a write; a stale one answers 412 with the feature as it is now. Every outcome is logged."""
    target = f"{layer}/{key}" if key else layer
    try:
        result = fn()
    except Stale as exc:
        try:
            exc.feature = orjson.loads(edits.versioned(store(), layer, key)[0]) if key else None
        except NotFound:
            exc.feature = None  # deleted meanwhile
        auth.record("edit", "stale", detail=f"{what} {target}")
        raise
    except Exception as exc:
        auth.record("edit", f"refused_{getattr(exc, 'status', 500)}", detail=f"{what} {target}")
        raise
    auth.record("edit", "ok", detail=f"{what} {target}")
    return result


# -- features ------------------------------------------------------------------------------------
@bp.post("/layers/<layer>/features")
def create_feature(layer: str):
    auth.require("edit", layer)
    body, version = _write("create", layer, None, lambda: edits.create(store(), layer, _body(), actor=auth.actor()))
    response = _feature(body, version, 201)
    response.headers["Location"] = f"{request.script_root}/api/features/{orjson.loads(body)['id']}"
    return response


@bp.patch("/layers/<layer>/features/<key>")
def update_feature(layer: str, key: str):
    auth.require("edit", layer)
    body, version = _write("update", layer, key, lambda: edits.update(
        store(), layer, key, _body(), if_match=request.headers.get("If-Match"), actor=auth.actor()))
    return _feature(body, version)


@bp.delete("/layers/<layer>/features/<key>")
def delete_feature(layer: str, key: str):
    auth.require("edit", layer)
    data = request.get_json(silent=True) if request.is_json else {}
    return jsonify(_write("delete", layer, key, lambda: edits.delete(
        store(), layer, key, data if isinstance(data, dict) else {}, if_match=request.headers.get("If-Match"),
        actor=auth.actor())))


@bp.post("/layers/<layer>/features/<key>/restore")
def restore_feature(layer: str, key: str):
    auth.require("edit", layer)
    return jsonify(_write("restore", layer, key, lambda: history.restore_feature(
        store(), layer, key, _body(), actor=auth.actor())))


# -- whole layers (admin) ------------------------------------------------------------------------
@bp.post("/layers/<layer>/restore")
def restore_layer(layer: str):
    auth.require("admin")
    return jsonify(_write("restore layer", layer, None, lambda: history.restore_layer(
        store(), layer, _body(), actor=auth.actor())))


@bp.delete("/layers/<layer>")
def drop_layer(layer: str):
    auth.require("admin")
    store().fields(layer)  # NotFound for an unknown layer
    data = request.get_json(silent=True) if request.is_json else {}
    message = edits.parse_message(data if isinstance(data, dict) else {})
    revision = _write("drop layer", layer, None, lambda: store().drop_layer(layer, actor=auth.actor(), message=message))
    return jsonify({"revision": revision.id, "dropped": layer,
                    "undo": f"{request.script_root}/api/layers/{layer}/undelete"})


@bp.post("/layers/<layer>/undelete")
def undelete_layer(layer: str):
    auth.require("admin")
    if layer in store().layers():
        raise InvalidParameter(f"layer {layer!r} exists; only a dropped layer can be brought back", parameter="layer")
    last = store().history(layer=layer, limit=1)
    if not last:
        raise NotFound(f"no dropped layer {layer!r} in the log", parameter="layer")
    data = request.get_json(silent=True) if request.is_json else {}
    message = edits.parse_message(data if isinstance(data, dict) else {}) or "undelete"
    revision = _write("undelete layer", layer, None, lambda: store().restore_layer(
        layer, revision_id=last[0].id - 1, actor=auth.actor(), message=message))
    return jsonify({"revision": revision.id, "restored": layer})


# -- reading the log -----------------------------------------------------------------------------
@bp.get("/features/<key>/history")
def feature_history(key: str):
    auth.require("read")
    layer = request.args.get("layer")
    if not layer:  # the layer it is (or was) in: from the log, so a deleted feature has a history too
        touched = store().history(key=key, limit=1)
        layer = next((c.layer for r in touched for c in r.changes if c.key == key), None)
        if layer is None:
            found = store().find(key)
            if found is None:
                raise NotFound(f"no feature {key!r} now or in the log", parameter="id")
            layer = found[0]
    if not store().may_read(layer):  # a hidden layer (live or dropped): 404, as if absent
        raise NotFound(f"no feature {key!r} now or in the log", parameter="id")
    return jsonify(history.feature_history(store(), layer, key))


@bp.get("/revisions")
def revisions():
    auth.require("read")
    log = history.change_log(store(), request.args)
    # the layers the asker may read, live or dropped (a drop stays in the log for whoever saw the layer)
    readable = set(store().layers()) | {n for n in store().dropped_layers() if store().may_read(n)}
    shown = []
    for revision in log["revisions"]:  # what the asker may not read is not shown
        mine = [c for c in revision["changes"] if c["layer"] in readable]
        if mine or not revision["changes"]:
            shown.append({**revision, "changes": mine})
    log["revisions"] = shown
    return jsonify(log)


@bp.get("/layers/<layer>/compare")
def compare(layer: str):
    auth.require("read", layer)
    store().fields(layer)
    return Response(history.compare(store(), layer, request.args), mimetype="application/geo+json")
