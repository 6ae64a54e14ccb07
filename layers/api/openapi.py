"""The OpenAPI 3.0 document of the atlas's own JSON API (``GET /api/openapi.json``), built from the
code that defines the API so it cannot drift: layer ids from the store as the asker sees it, export
formats and coordinate systems from ``geo.export`` and ``geo.crs``, limits from the settings, the
accepted parameters and their vocabularies from the modules that check them, the indicators from
their registry. Self-contained: every ``$ref`` is local (``#/components/...``), no URL points off
this server. No Flask here: ``document`` is a function of plain values; the builders and shared
schemas are in ``layers.api.openapi_parts``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from geo.crs import DEFAULT_TARGET, TARGETS
from geo.export import FORMATS as EXPORT_FORMATS

from ..accounts.policy import ROLES
from ..analysis import answer as stats_answer
from ..analysis import indicator_registry, stats
from ..analysis import indicators as indicator_core
from ..analysis import spatial, spatial_answer
from ..analysis.tables import LANGS
from ..imports.commit import MODES
from . import edits, export, params, table
from .openapi_parts import (ANYONE_WRITES, COOKIE, CSRF_HEADER, ERROR_TEXT, GEOJSON, VERSION, WRITE, binary, content,
                            enum, filter_params, integer, json_body, layer_path, obj, ok, operation, param, ref,
                            schemas, string)


def _paths(layers: Sequence[str], settings: Mapping) -> dict:
    f = filter_params(layers)
    layer = layer_path(layers)
    feature_id = param("id", string(), "a feature id", where="path")
    max_limit, default_limit = int(settings["MAX_LIMIT"]), int(settings["DEFAULT_LIMIT"])
    direct_max = int(settings["EXPORT_DIRECT_MAX"])
    feature_filters = [f[n] for n in params.FEATURE_PARAMS if n in f]
    limit = param("limit", integer(1, max_limit, default_limit), "features a page holds")
    rows_limit = param("limit", integer(1, min(max_limit, table.MAX_LIMIT), table.DEFAULT_LIMIT), "rows a page holds")
    export_filters = [f[n] for n in export.FILTER_PARAMS if n in f] + [
        param("limit", integer(1, export.MAX_LIMIT), "the most features of each layer"),
        param("sort", string(), "fields to sort by, comma-separated, - for descending")]
    export_params = [
        param("layers", string(), "layer ids, comma-separated, or all", required=True,
           example=",".join(layers[:2]) or "all"),
        param("format", enum(list(EXPORT_FORMATS), export.DEFAULT_FORMAT),
           "; ".join(f"{x.name}: {x.title}" for x in EXPORT_FORMATS.values())),
        param("crs", enum(list(TARGETS), DEFAULT_TARGET), "the coordinate system of the file"),
        *export_filters]
    export_body = obj({**{p["name"]: {"oneOf": [string(), {"type": "number"}]} for p in export_params},
                        "layers": string(minLength=1), "format": enum(list(EXPORT_FORMATS)),
                        "crs": enum(list(TARGETS))}, ["layers"])
    stats_filters = [f[n] for n in stats.FILTER_PARAMS]
    geo_or_json = binary(GEOJSON)
    csv = "text/csv; charset=utf-8"
    spatial_filters = {n: string() for n in spatial.FILTER_PARAMS}
    overlay_params = [
        param("left", enum(layers) if layers else string(), "the layer whose features are placed", required=True),
        param("right", enum(layers) if layers else string(), "the layer of areas", required=True),
        param("format", enum(list(spatial_answer.FORMATS), "json"), "the answer's format"),
        param("lang", enum(LANGS, "zh"), "the language of a CSV's headers"),
        param("table", enum(spatial_answer.TABLES, "pairs"), "the table of a CSV"),
        f["as_of"],
        *[param(f"{side}_{n}", f[n]["schema"], f"{f[n]['description']} ({side} layer)")
          for side in ("left", "right") for n in spatial.FILTER_PARAMS if n != "as_of"]]
    history_params = [
        param("layer", enum(layers) if layers else string(), "only this layer's revisions"),
        param("actor", string(), "only this actor's revisions"),
        param("since", string(format="date-time"), "revisions at or after this time"),
        param("until", string(format="date-time"), "revisions at or before this time"),
        param("limit", integer(1, 500, 50), "revisions a page holds"),
        param("before", integer(0, 2**62), "the `next` of the page before")]
    if_match = param("If-Match", string(), "the feature's version as read (its ETag, or the version)", where="header",
                  required=True)
    message = {"message": string(edits.MAX_MESSAGE)}
    edit_body = obj({"type": enum(["Feature"]), "properties": {"type": "object"},
                      "geometry": ref("Geometry"), **message}, ["properties", "geometry"])
    upload_id = param("id", string(), "the upload's id", where="path")
    wait = param("wait", {"type": "number", "minimum": 0, "maximum": 60, "default": 10},
              "seconds to wait for the task before answering 202")
    feature_json = ok("The feature", ref("Feature"), GEOJSON)
    paths: dict[str, dict] = {
        "/api/openapi.json": {"get": operation("This document", "meta", {"200": ok("OpenAPI 3.0", {"type": "object"})},
                                         errors=(), op_id="openapi")},
        "/api/layers": {"get": operation("The layers the asker may read", "layers", {"200": ok("The layers",
                                                                                          ref("Layers"))},
                                   errors=(), op_id="layers")},
        "/api/layers/{layer}/at": {"get": operation(
            "The feature under a click on a layer drawn as tiles (the nearest within a few pixels)", "layers",
            {"200": ok("A FeatureCollection of that feature alone, or of none",
                       obj({"type": enum(["FeatureCollection"]), "features": {"type": "array"}}, ["type", "features"]),
                       GEOJSON)},
            parameters=[layer,
                        param("lon", {"type": "number", "minimum": -180, "maximum": 180}, "longitude (WGS84)",
                              required=True),
                        param("lat", {"type": "number", "minimum": -85, "maximum": 85}, "latitude (WGS84)",
                              required=True),
                        param("zoom", integer(0, 22), "the map's zoom", required=True),
                        f["district"], f["category"], f["status"], f["as_of"]],
            errors=(400, 404), op_id="feature_at")},
        "/api/layers/{layer}": {
            "get": operation("A page of a layer's features", "layers",
                       {"200": ok("GeoJSON of the page", ref("LayerPage"), GEOJSON)},
                       parameters=[layer, *[p for p in feature_filters], limit], errors=(400, 404),
                       op_id="layer_features"),
            "delete": operation("Drop a layer (admin; undone by undelete)", "edits",
                          {"200": ok("Dropped", obj({"revision": {"type": "integer"}, "dropped": string(),
                                                        "undo": string()}, ["revision", "dropped", "undo"]))},
                          parameters=[layer], body=json_body(obj(message), required=False),
                          security=WRITE, errors=(400, 401, 403, 404), op_id="drop_layer")},
        "/api/layers/{layer}/rows": {"get": operation(
            "The attribute table: rows without geometry, sorted, filtered, paged by cursor", "layers",
            {"200": ok("A page of rows", ref("Rows"))},
            parameters=[layer, *[f[n] for n in table.ROW_PARAMS if n in f], rows_limit,
                        param("sort", string(), f"at most {table.MAX_SORT} fields, comma-separated, - for descending"),
                        param("after", string(table.MAX_CURSOR), "the `next` of the page before")],
            errors=(400, 404), op_id="layer_rows")},
        "/api/layers/{layer}/compare": {"get": operation(
            "What changed in a layer between two times", "history",
            {"200": ok("Added, removed and changed features", ref("FeatureCollection"), GEOJSON)},
            parameters=[layer, param("from", string(format="date-time"), "the earlier time", required=True),
                        param("to", string(format="date-time"), "the later time", required=True)],
            errors=(400, 401, 403, 404), op_id="compare")},
        "/api/layers/{layer}/features": {"post": operation(
            "Create a feature (editor with the layer's grant)", "edits",
            {"201": ok("The created feature", ref("Feature"), GEOJSON)}, parameters=[layer],
            body=json_body(edit_body), security=WRITE, errors=(400, 401, 403, 404, 409, 415),
            op_id="create_feature")},
        "/api/layers/{layer}/features/{id}": {
            "patch": operation("Change a feature's properties and/or geometry", "edits", {"200": feature_json},
                         parameters=[layer, feature_id, if_match],
                         body=json_body(obj({"properties": {"type": "object"}, "geometry": ref("Geometry"),
                                               **message})),
                         security=WRITE, errors=(400, 401, 403, 404, 412, 415, 428), op_id="update_feature"),
            "delete": operation("Delete a feature", "edits",
                          {"200": ok("Deleted", obj({"revision": {"type": "integer"}, "deleted": string()},
                                                      ["revision", "deleted"]))},
                          parameters=[layer, feature_id, if_match], body=json_body(obj(message), required=False),
                          security=WRITE, errors=(400, 401, 403, 404, 412, 428), op_id="delete_feature")},
        "/api/layers/{layer}/features/{id}/restore": {"post": operation(
            "Bring a feature back to a revision", "edits", {"200": ok("Restored", ref("RevisionRef"))},
            parameters=[layer, feature_id],
            body=json_body(obj({"revision": {"type": "integer", "minimum": 1}, **message}, ["revision"])),
            security=WRITE, errors=(400, 401, 403, 404, 415), op_id="restore_feature")},
        "/api/layers/{layer}/restore": {"post": operation(
            "Bring a layer back to a revision or a time (admin)", "edits", {"200": ok("Restored", ref("RevisionRef"))},
            parameters=[layer],
            body=json_body(obj({"revision": {"type": "integer", "minimum": 1},
                                  "as_of": string(format="date-time"), **message})),
            security=WRITE, errors=(400, 401, 403, 404, 415), op_id="restore_layer")},
        "/api/layers/{layer}/undelete": {"post": operation(
            "Bring a dropped layer back (admin)", "edits",
            {"200": ok("Restored", obj({"revision": {"type": "integer"}, "restored": string()},
                                         ["revision", "restored"]))},
            parameters=[param("layer", string(), "the id of a dropped layer", where="path")],
            body=json_body(obj(message), required=False), security=WRITE, errors=(400, 401, 403, 404),
            op_id="undelete_layer")},
        "/api/layers/{layer}/settings": {"patch": operation(
            "Hide or show a layer (admin)", "accounts", {"200": ok("The layer's settings", {"type": "object"})},
            parameters=[layer], body=json_body(obj({"hidden": {"type": "boolean"}}, ["hidden"],
                                                     additionalProperties=False)),
            security=WRITE, errors=(400, 401, 403, 404, 415), op_id="layer_settings")},
        "/api/layer-settings": {"get": operation(
            "Every layer's settings (admin)", "accounts",
            {"200": ok("Settings", obj({"layers": {"type": "object"}, "dropped": {"type": "array"}},
                                         ["layers", "dropped"]))},
            errors=(401, 403), op_id="all_layer_settings")},
        "/api/features/{id}": {"get": operation(
            "One feature with every property and its version", "layers", {"200": feature_json},
            parameters=[feature_id, f["as_of"]], errors=(400, 404), op_id="feature")},
        "/api/features/{id}/history": {"get": operation(
            "Every revision that touched a feature", "history", {"200": ok("The history", ref("FeatureHistory"))},
            parameters=[feature_id, param("layer", enum(layers) if layers else string(), "the feature's layer")],
            errors=(400, 401, 403, 404), op_id="feature_history")},
        "/api/revisions": {"get": operation("The change log, newest first", "history",
                                      {"200": ok("Revisions", ref("ChangeLog"))}, parameters=history_params,
                                      errors=(400, 401, 403, 404), op_id="revisions")},
        "/api/search": {"get": operation(
            "Features whose name holds the text, in every layer", "layers", {"200": ok("Matches", ref("Search"))},
            parameters=[{**f["q"], "required": True}, param("limit", integer(1, 100, 20), "matches at most"), f["as_of"]],
            op_id="search")},
        "/api/stats": {"get": operation(
            "Statistics of a layer that follow the filters: JSON, CSV or XLSX", "analysis",
            {"200": ok("The statistics", ref("Stats"),
                        also=binary(*[m for k, m in stats_answer.FORMATS.items() if k != "json"]))},
            parameters=[param("layer", enum(layers) if layers else string(), "the layer", required=True),
                        param("group", string(), f"one or two of {', '.join(stats.GROUPS)}, comma-separated"),
                        param("by", enum(stats.BY, "field"), "districts by field, or by geometry"),
                        param("format", enum(list(stats_answer.FORMATS), "json"), "the answer's format"),
                        param("lang", enum(LANGS, "zh"), "the language of a file's headers"), *stats_filters],
            errors=(400, 404), op_id="stats")},
        "/api/export": {"get": operation(
            f"Layers as one file (at most {direct_max:,} features; more: POST /api/exports)", "export",
            {"200": {"description": "The file",
                     "content": binary(*dict.fromkeys(x.media_type for x in EXPORT_FORMATS.values()), "application/zip")}},
            parameters=export_params, errors=(400, 401, 403, 413), op_id="export")},
        "/api/export/options": {"get": operation("What an export offers", "export",
                                           {"200": ok("Formats, coordinate systems, layers", ref("ExportOptions"))},
                                           errors=(), op_id="export_options")},
        "/api/exports": {"post": operation(
            "Start an export job (the parameters of GET /api/export as a JSON object)", "export",
            {"202": ok("The job", ref("ExportJob"))}, body=json_body(export_body),
            security=ANYONE_WRITES, errors=(400, 401, 403, 415, 429), op_id="start_export_job")},
        "/api/exports/{id}": {"get": operation(
            "An export job's progress", "export", {"200": ok("The job", ref("ExportJob"))},
            parameters=[param("id", string(), "the job's id", where="path")], errors=(404,), op_id="export_job")},
        "/api/exports/{id}/file": {"get": operation(
            "A finished export job's file", "export",
            {"200": {"description": "The file", "content": binary("application/octet-stream")}},
            parameters=[param("id", string(), "the job's id", where="path")], errors=(404, 409), op_id="export_job_file")},
        "/api/query": {"post": operation(
            "Features of layers in a polygon, or within a distance of a feature", "analysis",
            {"200": ok("The features inside", ref("Query"), also={**geo_or_json, **binary(csv)})},
            body=json_body(obj({
                "layers": {"oneOf": [{"type": "array", "items": enum(layers) if layers else string(),
                                      "minItems": 1, "maxItems": spatial.MAX_LAYERS}, string(minLength=1)]},
                "polygon": {"type": "object"},
                "feature": obj({"layer": string(), "id": string()}, ["layer", "id"]),
                "distance_m": {"type": "number", "minimum": 0, "maximum": spatial.MAX_DISTANCE_M},
                "predicate": enum(spatial.PREDICATES, "intersects"), "repair": {"type": "boolean"},
                "geometry": {"type": "boolean", "description": "each feature with its part inside (GeoJSON)"},
                "format": enum(list(spatial_answer.FORMATS), "json"), "lang": enum(LANGS, "zh"),
                **spatial_filters}, ["layers"])),
            security=ANYONE_WRITES, errors=(400, 401, 403, 404, 415), op_id="query")},
        "/api/overlay": {"get": operation(
            "Which features of one layer lie in which areas of another", "analysis",
            {"200": ok("Pairs, covered areas and the features outside", ref("Overlay"),
                        also={**geo_or_json, **binary(csv)})},
            parameters=overlay_params, errors=(400, 404), op_id="overlay")},
        "/api/indicators": {"get": operation("The planning indicators", "analysis",
                                       {"200": ok("Their declarations", ref("Indicators"))},
                                       errors=(), op_id="indicators")},
        **_indicator_paths(),
        "/api/imports": {"post": operation(
            "Upload a file to import (it is inspected; nothing is written yet)", "imports",
            {"201": ok("The upload and its inspection", ref("Upload")),
             "202": ok("The upload, its inspection still running", ref("Upload"))},
            parameters=[wait],
            body={"required": True, "content": {"multipart/form-data": {"schema": obj(
                {"file": {"type": "string", "format": "binary"}}, ["file"])}}},
            security=WRITE, errors=(400, 401, 403, 413, 415, 422, 429), op_id="import_start")},
        "/api/imports/{id}": {
            "get": operation("An upload and its inspection", "imports", {"200": ok("The upload", ref("Upload"))},
                       parameters=[upload_id], errors=(401, 403, 404), op_id="import_upload"),
            "delete": operation("Remove an upload", "imports", {"200": ok("Removed", obj({"removed": string()},
                                                                                       ["removed"]))},
                          parameters=[upload_id], security=WRITE, errors=(401, 403, 404, 409),
                          op_id="import_remove")},
        "/api/imports/{id}/inspect": {"post": operation(
            "Inspect the upload again with other choices", "imports",
            {"200": ok("The upload", ref("Upload")), "202": ok("Still running", ref("Upload"))},
            parameters=[upload_id, wait],
            body=json_body(obj({"layer": string(), "encoding": string(), "crs": string()})),
            security=WRITE, errors=(400, 401, 403, 404, 409, 415, 422, 429), op_id="import_inspect")},
        "/api/imports/{id}/commit": {"post": operation(
            "Import the upload into a layer (or plan it: dry_run)", "imports",
            {"200": ok("What was written (or would be)", {"type": "object"}),
             "202": ok("Still running", ref("Upload"))},
            parameters=[upload_id, wait],
            body=json_body(obj({"layer": string(minLength=1), "mode": enum(MODES, "new"),
                                  **{n: string() for n in ("key", "encoding", "crs", "message", "source_layer",
                                                          "title_zh", "title_en", "style_field")},
                                  "repair": {"type": "boolean"}, "dry_run": {"type": "boolean"}}, ["layer"])),
            security=WRITE, errors=(400, 401, 403, 404, 409, 415, 422, 429), op_id="import_commit")},
        "/api/imports/{id}/undo": {"post": operation(
            "Take the upload's last import back", "imports",
            {"200": ok("The revision that undid it", obj({"revision": {"type": "integer"},
                                                            "undone": {"type": "integer"}}, ["revision", "undone"]))},
            parameters=[upload_id], body=json_body(obj(message), required=False),
            security=WRITE, errors=(400, 401, 403, 404, 409), op_id="import_undo")},
        "/api/session": {
            "get": operation("Who is logged in, and the CSRF token", "accounts", {"200": ok("The session", ref("Session"))},
                       errors=(), op_id="session"),
            "post": operation("Log in", "accounts", {"200": ok("The new session", ref("Session"))},
                        body=json_body(obj({"name": string(minLength=1), "password": string(minLength=1)},
                                             ["name", "password"], additionalProperties=False)),
                        security=[{}, {"session": [], "csrf": []}],
                        errors=(400, 401, 403, 415, 423, 429), op_id="login"),
            "delete": operation("Log out", "accounts", {"200": ok("The session after", ref("Session"))},
                          security=ANYONE_WRITES, errors=(400,), op_id="logout")},
        "/api/users": {
            "get": operation("The users (admin)", "accounts",
                       {"200": ok("Users", obj({"users": {"type": "array", "items": ref("User")}}, ["users"]))},
                       errors=(401, 403), op_id="users"),
            "post": operation("Add a user (admin)", "accounts", {"201": ok("The user", ref("User"))},
                        body=json_body(obj({"name": string(minLength=1), "role": enum(ROLES),
                                              "password": string(minLength=1),
                                              "grants": {"type": "array", "items": string()}},
                                             ["name", "role", "password"], additionalProperties=False)),
                        security=WRITE, errors=(400, 401, 403, 409, 415), op_id="add_user")},
        "/api/users/{name}": {"patch": operation(
            "Change a user's role, grants, password or whether disabled (admin)", "accounts",
            {"200": ok("The user", ref("User"))},
            parameters=[param("name", string(), "the user's name", where="path")],
            body=json_body(obj({"role": enum(ROLES), "grants": {"type": "array", "items": string()},
                                  "disabled": {"type": "boolean"}, "password": string(minLength=1)},
                                 additionalProperties=False)),
            security=WRITE, errors=(400, 401, 403, 404, 409, 415), op_id="change_user")},
        "/api/tokens": {
            "get": operation("Your API tokens (an admin: everyone's)", "accounts",
                       {"200": ok("Tokens", obj({"tokens": {"type": "array", "items": {"type": "object"}}},
                                                  ["tokens"]))},
                       errors=(401, 403), op_id="tokens"),
            "post": operation("Make an API token (its secret is shown once)", "accounts",
                        {"201": ok("The token", obj({"token": string()}, ["token"]))},
                        body=json_body(obj({"name": string(minLength=1), "role": enum(ROLES)}, ["name"],
                                             additionalProperties=False)),
                        security=WRITE, errors=(400, 401, 403, 409, 415), op_id="create_token")},
        "/api/tokens/{id}": {"delete": operation(
            "Revoke an API token", "accounts", {"200": ok("The revoked token", {"type": "object"})},
            parameters=[param("id", {"type": "integer", "minimum": 0, "maximum": 2**62}, "the token's id", where="path")],
            security=WRITE, errors=(400, 401, 403, 404), op_id="revoke_token")},
        "/api/audit": {"get": operation(
            "The security log (admin)", "accounts",
            {"200": ok("Events", obj({"events": {"type": "array", "items": {"type": "object"}}}, ["events"]))},
            parameters=[param("user", string(), "only this user's events"), param("action", string(), "only this action"),
                        param("since", string(format="date-time"), "events at or after this time"),
                        param("until", string(format="date-time"), "events at or before this time"),
                        param("limit", integer(1, 10_000, 1000), "events at most")],
            errors=(400, 401, 403), op_id="audit")},
    }
    return paths


def _indicator_param(p) -> dict:
    if p.kind == "number":
        schema = {"type": "number", "default": p.default}
        if p.minimum is not None:
            schema["minimum"] = p.minimum
        if p.maximum is not None:
            schema["maximum"] = p.maximum
    elif p.kind == "choice":
        schema = enum(p.choices, p.default)
    else:
        schema = {"type": "string", "default": "" if p.default is None else str(p.default)}
    unit = f" ({p.unit})" if p.unit else ""
    return param(p.name, schema, f"{p.title['zh']} {p.title['en']}{unit}")


def _indicator_paths() -> dict:
    """One path an indicator of the registry: each takes its own parameters."""
    common = [param("as_of", string(format="date-time"), "the time to compute at (default: now)"),
              param("compare", string(format="date-time"), "a second time: its values beside, and the change"),
              param("format", enum(indicator_core.FORMATS, "json"), "the answer's format"),
              param("lang", enum(indicator_core.LANGS, "zh"), "the language of a CSV's headers")]
    return {f"/api/indicators/{ind.id}": {"get": operation(
        f"{ind.title['zh']} {ind.title['en']}", "analysis",
        {"200": ok("Per district and for the city", ref("Indicator"), also=binary("text/csv; charset=utf-8"))},
        parameters=[*[_indicator_param(p) for p in ind.params], *common], errors=(400, 404),
        op_id=f"indicator_{ind.id}")} for ind in indicator_registry.INDICATORS}


def document(*, layers: Sequence[str], settings: Mapping, server: str = "/", cookie: str = COOKIE,
             csrf_header: str = CSRF_HEADER) -> dict:
    """The OpenAPI 3.0.3 document of the API for an asker who may read ``layers``, with the limits of
    ``settings`` (the app's ``ATLAS_*`` settings: MAX_LIMIT, DEFAULT_LIMIT, EXPORT_DIRECT_MAX)."""
    layers = list(layers)
    return {
        "openapi": "3.0.3",
        "info": {"title": "精致威海规划图 Weihai Planning Atlas API", "version": VERSION,
                 "description": "The atlas's JSON API: layers, features, the attribute table, search, statistics, "
                                "exports, spatial queries, indicators, edits and their history, imports and "
                                "accounts. Every error has one body (components/schemas/Error); a 400 of "
                                "invalid_parameter names the parameter. Changes made with the session cookie "
                                f"carry the CSRF token of GET /api/session in the {csrf_header} header; "
                                "API tokens go in Authorization: Bearer."},
        "servers": [{"url": server}],
        "tags": [{"name": t} for t in ("layers", "analysis", "export", "edits", "history", "imports", "accounts",
                                       "meta")],
        "paths": _paths(layers, settings),
        "components": {
            "schemas": schemas(layers),
            "responses": {f"E{c}": {"description": text, "content": content(ref("Error"))}
                          for c, text in ERROR_TEXT.items()},
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": cookie,
                            "description": "the login session (POST /api/session)"},
                "csrf": {"type": "apiKey", "in": "header", "name": csrf_header,
                         "description": "the csrf_token of GET /api/session, with every change made by session"},
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "an API token (POST /api/tokens, or flask --app server users token)"},
            },
        },
    }
