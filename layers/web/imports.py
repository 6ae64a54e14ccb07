"""The import API: a planner's file uploaded, inspected, committed as one revision (or nothing),
over the Flask-free ``layers.imports``.

    POST   /api/imports              multipart, field ``file`` -> 201 {"id", "inspection", "url", ...}
    GET    /api/imports/<id>         the upload and its inspection again (its owner or an admin)
    POST   /api/imports/<id>/commit  JSON {"layer", "mode", "key"?, "encoding"?, "crs"?, "repair"?,
                                     "message"?, "dry_run"?} -> {"revision", "added", "updated", "unchanged"}
    DELETE /api/imports/<id>         the upload removed

Who may: uploading needs an editor with at least one grant, or an admin (an editor without any
grant could commit nothing). Committing into an existing layer (``append``/``upsert``) is editing
it: ``auth.require("edit", layer)`` (an editor granted the layer, or an admin). A **new** layer is
made by an admin or an editor granted ``*`` (all layers): an editor granted some layers may not add
layers to the atlas. An upload is seen, committed and removed only by its owner (the user, by
session or by any of their tokens) or an admin; for anyone else it does not exist (404). Every
state change carries the CSRF token when it carries the session cookie (``layers.web.auth``).

The upload is written to ``imports/`` beside the store (as export jobs' ``exports/``) while it is
received, and refused with 413 — nothing kept — past ``ATLAS_IMPORT_MAX_MB`` (the request body
itself is bounded by ``MAX_CONTENT_LENGTH``, set from the same setting when the blueprint is
registered). It is inspected in the request: quick for the small files planners upload by hand
(a few seconds for tens of thousands of features); large files wait for a background job. The
commit inspects the kept file again with the planner's choices (nothing of the first inspection
is trusted) and writes it whole. Uploads are removed ``ATLAS_EXPORT_TTL`` seconds after their last
use. Every upload, commit and removal, allowed or refused, is an ``import`` security event.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, g, jsonify, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from geo.errors import GeoError, InvalidParameter, NotFound, TooLarge
from layers import imports as core
from layers.accounts import Forbidden, LoginRequired
from layers.imports.uploads import Uploads

from . import auth

bp = Blueprint("imports", __name__, url_prefix="/api")
#: what a multipart body may carry beyond the file (boundaries, headers, other fields)
MULTIPART_SLACK = 1 << 20
EXTENSION = "atlas_uploads"


@bp.record_once
def _setup(state) -> None:
    """The uploads' folder beside the store, cleaned at start-up, and the request body's bound."""
    app = state.app
    store = app.extensions["atlas_store"]
    folder = Path(getattr(store, "path", Path("var") / "store")).parent / "imports"
    uploads = Uploads(folder, ttl=app.config["EXPORT_TTL"])
    uploads.cleanup()
    app.extensions[EXTENSION] = uploads
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = (app.config["IMPORT_MAX_MB"] << 20) + MULTIPART_SLACK


@bp.after_request
def no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(RequestEntityTooLarge)
def too_large(exc):
    """The body was over MAX_CONTENT_LENGTH (refused while it was received, or by its length)."""
    auth.record("import", "refused_413", detail=f"{request.method} {request.path}: the body is too large")
    detail = (f"the upload is larger than the {current_app.config['IMPORT_MAX_MB']} MB an import accepts "
              "(ATLAS_IMPORT_MAX_MB); split the data or import an extract; nothing was stored")
    return jsonify({"error": TooLarge.code, "detail": detail, "parameter": "file",
                    "request_id": g.get("request_id")}), 413


def uploads() -> Uploads:
    return current_app.extensions[EXTENSION]


def _raw_store():
    return current_app.extensions["atlas_store"]


# -- who may -------------------------------------------------------------------------------------
def _importer():
    """An admin, or an editor with at least one grant; else 401/403 naming the role."""
    found = auth.principal()
    if found is None:
        raise LoginRequired("importing needs a login with role editor or higher; log in first (POST /api/session, "
                            "or send Authorization: Bearer <token>) (请先登录)", role="editor")
    if found.role == "admin" or (found.role == "editor" and found.grants):
        return found
    raise Forbidden(f"importing needs role editor with a grant for a layer (or admin); {found.name} is {found.role}"
                    f"{' without grants' if found.role == 'editor' else ''}; ask an admin "
                    "(导入需要编辑权限)", role="editor")


def _may_create(found) -> None:
    if found.role == "admin" or "*" in found.grants:
        return
    raise Forbidden(f"a new layer is made by an admin or an editor granted all layers ('*'); {found.name} is "
                    f"{found.role} with grants {', '.join(sorted(found.grants)) or '(none)'}; import into a layer "
                    "you are granted (mode append or upsert), or ask an admin (新建图层需要管理员权限)", role="admin")


def _owned(upload_id: str) -> dict:
    """The upload's state if the asker owns it or is an admin; NotFound otherwise (as if absent)."""
    found = _importer()
    state = uploads().state(upload_id)
    if found.role != "admin" and state.get("owner") != found.name:
        raise NotFound(f"no upload {upload_id}; upload the file again", parameter="id")
    return state


def _refused_recorded(what: str, check):
    """A permission check whose refusal is a security event too."""
    try:
        return check()
    except GeoError as exc:
        auth.record("import", f"refused_{exc.status}", detail=what[:500])
        raise


def _recorded(what: str, fn):
    try:
        result = fn()
    except Exception as exc:
        auth.record("import", f"refused_{getattr(exc, 'status', 500)}", detail=what[:500])
        raise
    auth.record("import", "ok", detail=what[:500])
    return result


def _inspect(path: Path, upload_id: str, *, encoding=None, crs=None):
    cfg = current_app.config
    return core.inspect(path, reference=core.reference_from_store(_raw_store()), max_mb=cfg["IMPORT_MAX_MB"],
                        max_features=cfg["IMPORT_MAX_FEATURES"], encoding=encoding, crs=crs,
                        scratch=uploads().scratch(upload_id))


def _answer(state: dict) -> dict:
    return {**Uploads.public(state), "inspection": state.get("inspection"),
            "url": url_for("imports.upload", upload_id=state["id"])}


# -- routes --------------------------------------------------------------------------------------
@bp.post("/imports")
def start():
    found = _refused_recorded("upload", _importer)
    upload = request.files.get("file")  # a body over MAX_CONTENT_LENGTH: 413 (too_large above)
    if upload is None:
        auth.record("import", "refused_400", detail="POST /api/imports without a file")
        raise InvalidParameter("POST /api/imports takes the file as multipart/form-data in the field 'file'",
                               parameter="file", status=400 if request.files or request.form else 415)

    def receive():
        state = uploads().save(upload.stream, upload.filename, owner=found.name,
                               max_bytes=current_app.config["IMPORT_MAX_MB"] << 20)
        try:
            with _inspect(uploads().path(state["id"]), state["id"]) as inspection:
                return uploads().update(state["id"], inspection=inspection.to_dict())
        except BaseException:
            uploads().remove(state["id"])
            raise

    state = _recorded(f"upload {upload.filename}", receive)
    return jsonify(_answer(state)), 201, {"Location": url_for("imports.upload", upload_id=state["id"])}


@bp.get("/imports/<upload_id>")
def upload(upload_id: str):
    return jsonify(_answer(_owned(upload_id)))


def _choices() -> dict:
    data = request.get_json(silent=True) if request.is_json else None
    if not isinstance(data, dict):
        raise InvalidParameter("POST /api/imports/<id>/commit takes a JSON object with Content-Type: "
                               "application/json, e.g. {\"layer\": \"parcels\", \"mode\": \"new\"}",
                               parameter="body", status=400 if request.is_json else 415)
    layer = data.get("layer")
    if not isinstance(layer, str) or not layer:
        raise InvalidParameter("give the layer to import into: {\"layer\": \"parcels\"}", parameter="layer")
    mode = data.get("mode", "new")
    if mode not in core.MODES:
        raise InvalidParameter(f"mode must be one of {', '.join(core.MODES)}, got {mode!r}", parameter="mode")
    out = {"layer": layer, "mode": mode}
    for name in ("key", "encoding", "crs", "message"):
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidParameter(f"{name} must be text, got {value!r}", parameter=name)
        out[name] = value
    for name in ("repair", "dry_run"):
        value = data.get(name, False)
        if not isinstance(value, bool):
            raise InvalidParameter(f"{name} must be true or false, got {value!r}", parameter=name)
        out[name] = value
    out["message"] = (out["message"] or "")[:500]
    return out


@bp.post("/imports/<upload_id>/commit")
def commit(upload_id: str):
    found = _refused_recorded(f"commit {upload_id}", _importer)
    choices = _choices()
    layer, mode = choices["layer"], choices["mode"]
    what = f"{'plan' if choices['dry_run'] else 'commit'} {upload_id} into {layer} ({mode})"

    def allowed():
        if mode == "new" and layer not in _raw_store().layers():
            _may_create(found)
        else:
            auth.require("edit", layer)  # an existing layer (a new one by that name is refused by commit)
        return _owned(upload_id)

    state = _refused_recorded(what, allowed)

    def run():
        with _inspect(uploads().path(upload_id), upload_id, encoding=choices["encoding"],
                      crs=choices["crs"]) as inspection:
            return core.commit(_raw_store(), inspection, layer=layer, mode=mode, key=choices["key"],
                               encoding=choices["encoding"], crs=choices["crs"], repair=choices["repair"],
                               actor=auth.actor(), message=choices["message"],
                               dry_run=choices["dry_run"])

    result = _recorded(what, run)
    body = {"revision": result.revision, "added": result.added, "updated": result.updated,
            "unchanged": result.unchanged, "repaired": result.repaired, "dropped_z": result.dropped_z,
            "layer": result.layer, "mode": result.mode, "dry_run": choices["dry_run"]}
    if not choices["dry_run"]:
        uploads().update(upload_id, committed=[*state.get("committed", []), {"layer": layer, "mode": mode,
                                                                             "revision": result.revision}])
    return jsonify(body)


@bp.delete("/imports/<upload_id>")
def remove(upload_id: str):
    _refused_recorded(f"remove {upload_id}", lambda: _owned(upload_id))
    _recorded(f"remove {upload_id}", lambda: uploads().remove(upload_id))
    return jsonify({"removed": upload_id})
