"""The import API: a planner's file uploaded, inspected, committed as one revision (or nothing),
over the Flask-free ``layers.imports``.

    POST   /api/imports              multipart, field ``file`` -> the upload, its inspection started
    GET    /api/imports/<id>         the upload: its state, the task's progress, inspection, plan, result
    POST   /api/imports/<id>/inspect JSON {"layer"?, "encoding"?, "crs"?} -> inspected again with these choices
    POST   /api/imports/<id>/commit  JSON {"layer", "mode", "key"?, "encoding"?, "crs"?, "repair"?,
                                     "message"?, "title_zh"?, "title_en"?, "style_field"?, "dry_run"?}
                                     -> {"revision", "added", "updated", "unchanged", ...}
    POST   /api/imports/<id>/undo    the last import of the upload taken back, as a new revision
    DELETE /api/imports/<id>         the upload removed

**Outside the request.** The inspection, a plan (``dry_run``) and the commit each run as a task in
a background thread (``Uploads.run``): its state and progress are on disk, so the page that started
it can be reloaded, and any worker answers ``GET``. A request that starts a task waits for it up to
``?wait=`` seconds (0–60, default 10): a small file's answer comes at once — 201 (upload) or 200 with
the inspection, plan or result, or the task's own 4xx when the file is refused — and a longer one is
a 202 whose ``Location`` is polled (``state`` running → done or failed, ``progress`` {phase, done,
total, percent}). A refused upload keeps nothing of the file (its error stays readable at
``GET`` until it expires when the answer was a 202). One task at a time per upload (409), at most
``ATLAS_IMPORT_JOBS`` over the server (429). A server stopped or killed mid-task leaves the store as
it was (the commit is one transaction) and the task reported "interrupted".

Who may: uploading needs an editor with at least one grant, or an admin (an editor without any
grant could commit nothing). Committing into an existing layer (``append``/``upsert``) is editing
it: ``auth.require("edit", layer)`` (an editor granted the layer, or an admin). A **new** layer is
made by an admin or an editor granted ``*`` (all layers): an editor granted some layers may not add
layers to the atlas. An upload is seen, committed and removed only by its owner (the user, by
session or by any of their tokens) or an admin; for anyone else it does not exist (404). Every
state change carries the CSRF token when it carries the session cookie (``layers.web.auth``).

The upload is written to ``imports/`` beside the store (as export jobs' ``exports/``) while it is
received, and refused with 413 — nothing kept — past ``ATLAS_IMPORT_MAX_MB`` (the request body
itself is bounded by ``MAX_CONTENT_LENGTH``, set from the same setting by the app factory). The
commit inspects the kept file again with the planner's choices (nothing of an earlier inspection is
trusted) and writes it whole. Uploads are removed ``ATLAS_EXPORT_TTL`` seconds after their last
use. Every upload, inspection, commit and removal, allowed or refused, is an ``import`` security
event (a task's when it ends).
"""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from geo.errors import Conflict, GeoError, InvalidParameter, NotFound, TooLarge
from layers import imports as core
from layers.config import store_folder
from layers.accounts import Forbidden, LoginRequired
from layers.imports.undo import undo as undo_import
from layers.imports.uploads import Uploads
from layers.imports.uploads_pg import PgUploads

from . import auth

bp = Blueprint("imports", __name__, url_prefix="/api")
#: what a multipart body may carry beyond the file (boundaries, headers, other fields)
MULTIPART_SLACK = 1 << 20
EXTENSION = "atlas_uploads"


@bp.record_once
def _setup(state) -> None:
    """The uploads' folder beside a GeoPackage store (one machine), or the PostGIS store's database
    (any app server takes any upload, ``PgUploads``); cleaned at start-up."""
    app = state.app
    store, shared = app.extensions["atlas_store"], app.extensions.get("atlas_shared")
    if shared is not None:
        uploads = PgUploads(shared, shared.scratch / "imports", ttl=app.config["EXPORT_TTL"])
    else:
        folder = store_folder(store) / "imports"
        uploads = Uploads(folder, ttl=app.config["EXPORT_TTL"])
    uploads.cleanup()
    app.extensions[EXTENSION] = uploads


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


def _started(kind: str, upload_id: str, work, *, what: str) -> tuple[dict, int]:
    """Start ``work`` as the upload's task and wait for it up to ``?wait=``; (the state, the
    status of a finished task's answer or 202). Its end is a security event by the asker."""
    wait = _wait()
    recorder = current_app.extensions["atlas_accounts"].record
    found = auth.principal()
    who, where = (None if found is None else found.actor), auth.address()

    def on_end(state):
        error = state.get("error") or {}
        outcome = "ok" if state["state"] == "done" else f"refused_{error.get('status', 500)}"
        recorder("import", outcome, user=who, address=where, detail=what[:500])

    box, first = uploads(), kind == "inspect" and not uploads().state(upload_id).get("inspection")

    def guarded(progress):
        try:
            return work(progress)
        except BaseException:
            if first:
                box.discard_file(upload_id)  # a refused file is not kept (before its error is told)
            raise

    state = _refused_recorded(what, lambda: uploads().run(upload_id, kind, guarded, on_end=on_end,
                                                          max_running=current_app.config["IMPORT_JOBS"]))
    state = uploads().wait(upload_id, wait)
    if state["state"] == "running":
        return state, 202
    if state["state"] == "failed":
        return state, int((state.get("error") or {}).get("status", 500))
    return state, 200


_REFERENCE: dict = {}  # (store, its version) -> the districts' outlines (the newest per store)


def _reference(store):
    """The inspector's reference area, the districts' outlines, read and unioned once per store
    version (not again for every inspection, plan and commit)."""
    where, version = str(getattr(store, "path", id(store))), store.version()
    cached = _REFERENCE.get(where)
    if cached is None or cached[0] != version:
        cached = _REFERENCE[where] = (version, core.reference_from_store(store))
    return cached[1]


def _wait() -> float:
    raw = request.args.get("wait", "10")
    try:
        value = float(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= 60:
        raise InvalidParameter(f"wait is the seconds to wait for the task, 0 to 60, got {raw!r}", parameter="wait")
    return value


def _inspector(upload_id: str, *, layer=None, encoding=None, crs=None):
    """The work of an inspection, with the app's settings and store taken now (it runs in a thread)."""
    cfg, store, box = current_app.config, _raw_store(), uploads()
    max_mb, max_features = cfg["IMPORT_MAX_MB"], cfg["IMPORT_MAX_FEATURES"]

    def work(progress):
        with core.inspect(box.path(upload_id), reference=_reference(store), max_mb=max_mb,
                          max_features=max_features, layer=layer, encoding=encoding, crs=crs,
                          scratch=box.scratch(upload_id), progress=progress) as inspection:
            return {"inspection": inspection.to_dict(), "choices": {"layer": layer, "encoding": encoding, "crs": crs}}

    return work


def _answer(state: dict) -> dict:
    return {**Uploads.public(state), "inspection": state.get("inspection"),
            "url": url_for("imports.upload", upload_id=state["id"])}


def _failed(state: dict, status: int):
    """A finished task's refusal as the API's error body, naming the upload."""
    error = {k: v for k, v in (state.get("error") or {}).items() if k != "status"}
    return jsonify({**error, "id": state["id"], "request_id": g.get("request_id")}), status


# -- routes --------------------------------------------------------------------------------------
@bp.post("/imports")
def start():
    found = _refused_recorded("upload", _importer)
    _refused_recorded("upload", _wait)  # a bad ?wait= refused before the body is kept
    sent = request.files.getlist("file")  # a body over MAX_CONTENT_LENGTH: 413 (too_large above)
    if not sent:
        auth.record("import", "refused_400", detail="POST /api/imports without a file")
        raise InvalidParameter("POST /api/imports takes the file as multipart/form-data in the field 'file' (or a "
                               "Shapefile's loose parts, each in a field 'file')",
                               parameter="file", status=400 if request.files or request.form else 415)
    names = ", ".join(str(f.filename) for f in sent)[:300]
    state = _recorded(f"upload {names}", lambda: uploads().save_many(
        [(f.stream, f.filename) for f in sent], owner=found.name,
        max_bytes=current_app.config["IMPORT_MAX_MB"] << 20))
    upload_id = state["id"]
    try:
        state, status = _started("inspect", upload_id, _inspector(upload_id), what=f"inspect {state['file']}")
    except BaseException:
        uploads().remove(upload_id)
        raise
    if status >= 400:
        uploads().remove(upload_id)  # refused while the client waited: nothing kept
        return _failed(state, status)
    location = url_for("imports.upload", upload_id=upload_id)
    return jsonify(_answer(state)), 201 if status == 200 else 202, {"Location": location}


@bp.get("/imports/<upload_id>")
def upload(upload_id: str):
    return jsonify(_answer(_owned(upload_id)))


def _body(what: str) -> dict:
    data = request.get_json(silent=True) if request.is_json else None
    if not isinstance(data, dict):
        raise InvalidParameter(f"POST /api/imports/<id>/{what} takes a JSON object with Content-Type: "
                               "application/json, e.g. {\"layer\": \"parcels\", \"mode\": \"new\"}",
                               parameter="body", status=400 if request.is_json else 415)
    return data


def _texts(data: dict, names, out: dict) -> dict:
    for name in names:
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidParameter(f"{name} must be text, got {value!r}", parameter=name)
        out[name] = value or None
    return out


@bp.post("/imports/<upload_id>/inspect")
def reinspect(upload_id: str):
    """The kept file inspected again with the planner's choices (another GeoPackage or CAD layer,
    an encoding, a coordinate system): what the preview shows before the commit."""
    _refused_recorded(f"inspect {upload_id}", _importer)
    choices = _texts(_body("inspect"), ("layer", "encoding", "crs"), {})
    state = _refused_recorded(f"inspect {upload_id}", lambda: _owned(upload_id))
    uploads().path(upload_id)  # a refused file is gone: 404
    state, status = _started("inspect", upload_id, _inspector(upload_id, **choices),
                             what=f"inspect {state['file']} {choices}")
    if status >= 400:
        return _failed(state, status)
    return jsonify(_answer(state)), status


def _choices() -> dict:
    data = _body("commit")
    layer = data.get("layer")
    if not isinstance(layer, str) or not layer:
        raise InvalidParameter("give the layer to import into: {\"layer\": \"parcels\"}", parameter="layer")
    mode = data.get("mode", "new")
    if mode not in core.MODES:
        raise InvalidParameter(f"mode must be one of {', '.join(core.MODES)}, got {mode!r}", parameter="mode")
    out = _texts(data, ("key", "encoding", "crs", "message", "source_layer", "title_zh", "title_en",
                        "style_field"), {"layer": layer, "mode": mode})
    for name in ("repair", "dry_run"):
        value = data.get(name, False)
        if not isinstance(value, bool):
            raise InvalidParameter(f"{name} must be true or false, got {value!r}", parameter=name)
        out[name] = value
    out["message"] = (out["message"] or "")[:500]
    given = [k for k in NEW_LAYER_ONLY if out[k] is not None]
    if mode != "new" and given:
        raise InvalidParameter(f"{given[0]} describes a new layer; {mode} keeps the layer's own titles and style: "
                               "leave it out, or import with mode new", parameter=given[0])
    return out


#: what only a new layer takes (an existing layer keeps its titles and style)
NEW_LAYER_ONLY = ("title_zh", "title_en", "style_field")


@bp.post("/imports/<upload_id>/commit")
def commit(upload_id: str):
    found = _refused_recorded(f"commit {upload_id}", _importer)
    choices = _choices()
    layer, mode = choices["layer"], choices["mode"]
    dry = choices["dry_run"]
    what = f"{'plan' if dry else 'commit'} {upload_id} into {layer} ({mode})"

    def allowed():
        if mode == "new" and layer not in _raw_store().layers():
            _may_create(found)
        else:
            auth.require("edit", layer)  # an existing layer (a new one by that name is refused by commit)
        return _owned(upload_id)

    state = _refused_recorded(what, allowed)
    uploads().path(upload_id)  # a refused file is gone: 404
    cfg, store, box, actor = current_app.config, _raw_store(), uploads(), auth.actor()
    committed = list(state.get("committed") or [])
    extra = {k: choices[k] for k in NEW_LAYER_ONLY}

    def work(progress):
        with core.inspect(box.path(upload_id), reference=_reference(store),
                          max_mb=cfg["IMPORT_MAX_MB"], max_features=cfg["IMPORT_MAX_FEATURES"],
                          layer=choices["source_layer"], encoding=choices["encoding"], crs=choices["crs"],
                          scratch=box.scratch(upload_id), progress=progress, preview=False) as inspection:
            result = core.commit(store, inspection, layer=layer, mode=mode, key=choices["key"],
                                 encoding=choices["encoding"], crs=choices["crs"], repair=choices["repair"],
                                 actor=actor, message=choices["message"], dry_run=dry, **extra,
                                 progress=progress)
        body = {"revision": result.revision, "added": result.added, "updated": result.updated,
                "unchanged": result.unchanged, "repaired": result.repaired, "dropped_z": result.dropped_z,
                "layer": result.layer, "mode": result.mode, "dry_run": dry}
        if dry:
            return {"plan": body}
        return {"result": body, "committed": [*committed, {"layer": layer, "mode": mode,
                                                           "revision": result.revision}]}

    state, status = _started("plan" if dry else "commit", upload_id, work, what=what)
    if status >= 400:
        return _failed(state, status)
    if status == 202:
        return jsonify(_answer(state)), 202, {"Location": url_for("imports.upload", upload_id=upload_id)}
    return jsonify(state["plan"] if dry else state["result"])


@bp.post("/imports/<upload_id>/undo")
def undo(upload_id: str):
    """The upload's last import taken back as a new revision (``layers.imports.undo``): by whoever
    may commit it again (its owner or an admin, with the grant for the layer; a new layer's drop
    needs what making it needed)."""
    found = _refused_recorded(f"undo {upload_id}", _importer)
    data = request.get_json(silent=True) if request.is_json else {}
    message = (data.get("message") if isinstance(data, dict) and isinstance(data.get("message"), str) else "")[:500]

    def allowed():
        state = _owned(upload_id)
        done = (state.get("committed") or [None])[-1]
        if done is None:
            raise InvalidParameter(f"the upload {upload_id} was not imported; nothing to undo", parameter="id")
        if done["mode"] == "new":
            _may_create(found)
        else:
            auth.require("edit", done["layer"])
        return state, done

    state, done = _refused_recorded(f"undo {upload_id}", allowed)
    if state["state"] == "running":
        raise Conflict(f"the upload {upload_id} is busy ({state.get('task')} running); wait for it to end",
                       parameter="id")
    what = f"undo {upload_id}: {done['mode']} into {done['layer']} (revision {done['revision']})"
    revision = _recorded(what, lambda: undo_import(_raw_store(), done, actor=auth.actor(), file=state["file"],
                                                   message=message))
    committed = [*state["committed"][:-1], {**done, "undone": revision.id}]
    uploads().update(upload_id, committed=committed)
    return jsonify({"revision": revision.id, "undone": done["revision"], "layer": done["layer"], "mode": done["mode"]})


@bp.delete("/imports/<upload_id>")
def remove(upload_id: str):
    _refused_recorded(f"remove {upload_id}", lambda: _owned(upload_id))
    _recorded(f"remove {upload_id}", lambda: uploads().remove(upload_id))
    return jsonify({"removed": upload_id})
