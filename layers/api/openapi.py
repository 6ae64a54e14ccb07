"""The OpenAPI 3.0 document of the atlas's own JSON API (``GET /api/openapi.json``), built from the
code that defines the API so it cannot drift: layer ids from the store as the asker sees it, export
formats and coordinate systems from ``geo.export`` and ``geo.crs``, limits from the settings, the
accepted parameters and their vocabularies from the modules that check them, the indicators from
their registry. Self-contained: every ``$ref`` is local (``#/components/...``), no URL points off
this server. No Flask here: ``document`` is a function of plain values.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from geo.crs import DEFAULT_TARGET, TARGETS
from geo.export import FORMATS as EXPORT_FORMATS

from .. import catalog
from ..accounts.policy import ROLES
from ..analysis import answer as stats_answer
from ..analysis import indicator_registry, stats
from ..analysis import indicators as indicator_core
from ..analysis import spatial, spatial_answer
from ..analysis.tables import LANGS
from ..imports.commit import MODES
from . import edits, export, history, params, table

VERSION = "1.0.0"
JSON = "application/json"
GEOJSON = "application/geo+json"
#: the session cookie and the CSRF header of ``layers.web.auth`` (passed in by the route)
COOKIE = "atlas_session"
CSRF_HEADER = "X-CSRFToken"


def _ref(name: str, kind: str = "schemas") -> dict:
    return {"$ref": f"#/components/{kind}/{name}"}


def _q(name: str, schema: dict, description: str, *, required: bool = False, where: str = "query",
       example=None) -> dict:
    out = {"name": name, "in": where, "required": required or where == "path", "description": description,
           "schema": schema}
    if example is not None:
        out["example"] = example
    return out


def _text(max_length: int | None = None, **extra) -> dict:
    out = {"type": "string", **extra}
    if max_length is not None:
        out["maxLength"] = max_length
    return out


def _int(lo: int, hi: int, default: int | None = None) -> dict:
    out = {"type": "integer", "minimum": lo, "maximum": hi}
    if default is not None:
        out["default"] = default
    return out


def _enum(values: Sequence[str], default: str | None = None) -> dict:
    out = {"type": "string", "enum": list(values)}
    if default is not None:
        out["default"] = default
    return out


def _obj(properties: Mapping[str, dict] | None = None, required: Sequence[str] = (), **extra) -> dict:
    out: dict = {"type": "object", "properties": dict(properties or {})}
    if required:
        out["required"] = list(required)
    out.update(extra)
    return out


def _content(schema: dict, media: str = JSON) -> dict:
    return {media: {"schema": schema}}


def _file(*medias: str) -> dict:
    return {m: {"schema": {"type": "string", "format": "binary"}} for m in medias}


def _ok(description: str, schema: dict | None = None, media: str = JSON, *, also: dict | None = None,
        headers: dict | None = None) -> dict:
    out: dict = {"description": description}
    if schema is not None:
        out["content"] = {**_content(schema, media), **(also or {})}
    if headers:
        out["headers"] = headers
    return out


def _errors(*codes: int) -> dict:
    return {str(c): _ref(f"E{c}", "responses") for c in codes}


ERROR_TEXT = {
    400: "A parameter (named in `parameter`) or the body is wrong, or the CSRF token is missing (`error`: csrf)",
    401: "Not logged in, a wrong password or an unknown API token",
    403: "Logged in, but the role or the layer grants do not allow this (`role` says what is needed)",
    404: "No such layer, feature, job or upload (or one the asker may not read)",
    409: "Not ready yet, or a clash with what is stored",
    412: "An edit made from an older version (`current_version`, `current`: the stored feature)",
    413: "More than may be answered at once, or a body over the size limit",
    415: "The body is not of the media type the operation takes",
    422: "Data that cannot be used as it is (a file, an encoding, a coordinate system)",
    423: "The account is locked after too many failed logins",
    429: "Too many requests or jobs at once; try again later",
    503: "The store is unavailable just now",
}


def _error_schema() -> dict:
    """The one error body of ``server._error`` (and of the CSRF refusal and failed import tasks)."""
    return _obj({
        "error": _text(description="a short machine code, e.g. invalid_parameter, not_found, csrf"),
        "detail": _text(description="what was wrong and what to do, for people"),
        "parameter": _text(description="the parameter, body member or header at fault"),
        "request_id": {"type": "string", "nullable": True, "description": "the id of the request in the log"},
        "role": _text(description="the role a 401/403 needs or the asker has"),
        "location": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2,
                     "description": "(lon, lat) of an invalid geometry's fault"},
        "current_version": {"type": "integer", "description": "the stored version (412)"},
        "current": {"type": "object", "nullable": True, "description": "the stored feature (412)"},
        "file": _text(description="the name of the file at fault (imports)"),
        "id": _text(description="the upload a failed import task belongs to"),
    }, ["error", "detail"])


# -- schemas -------------------------------------------------------------------------------------
def _schemas(layers: Sequence[str]) -> dict:
    bbox = {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4}
    title = _obj({"zh": _text(), "en": _text()}, ["zh", "en"])
    geometry = _obj({"type": _text(), "coordinates": {}, "geometries": {"type": "array"}}, ["type"])
    feature = _obj({"type": _enum(["Feature"]), "id": {"nullable": True},
                    "geometry": {"allOf": [_ref("Geometry")], "nullable": True},
                    "properties": {"type": "object", "nullable": True},
                    "version": {"type": "integer"}, "bbox": bbox}, ["type", "geometry", "properties"])
    collection = _obj({"type": _enum(["FeatureCollection"]),
                       "features": {"type": "array", "items": _ref("Feature")}}, ["type", "features"])
    counted = {"numberMatched": {"type": "integer", "minimum": 0},
               "numberMatchedAtLeast": {"type": "integer", "minimum": 0},
               "numberReturned": {"type": "integer", "minimum": 0}}
    job = _obj({k: {"nullable": True} for k in ("layer", "format", "crs", "filename", "filename_utf8", "media_type",
                                                 "size", "detail", "download")}
               | {"id": _text(), "state": _enum(["running", "done", "failed"]), "created": _text(),
                  "updated": _text(), "expires": _text(), "done": {"type": "integer"}, "total": {"type": "integer"},
                  "percent": _int(0, 100), "counts": {"type": "object"}, "url": _text(),
                  "download": {"oneOf": [{"type": "string"}, {"type": "boolean"}]}},
               ["id", "state", "url", "download"])
    revision = _obj({"id": {"type": "integer"}, "time": _text(), "actor": {"type": "string", "nullable": True},
                     "message": {"type": "string", "nullable": True}, "changes": {"type": "array"}},
                    ["id", "time", "changes"])
    upload = _obj({"id": _text(), "file": {"nullable": True}, "state": {"type": "string", "nullable": True},
                   "url": _text(), "inspection": {"type": "object", "nullable": True}}, ["id", "url"])
    user = _obj({"name": _text(), "role": _enum(ROLES)}, ["name", "role"])
    return {
        "Error": _error_schema(),
        "Title": title,
        "Geometry": geometry,
        "Feature": feature,
        "FeatureCollection": collection,
        "Layers": _obj({"layers": {"type": "array", "items": _obj({
            "id": _text(), "title": _ref("Title"), "geometry_type": {"type": "string", "nullable": True},
            "count": {"type": "integer", "minimum": 0}, "bbox": {**bbox, "nullable": True},
            "fields": {"type": "array", "items": _obj({"name": _text(), "type": _text()}, ["name"])},
            "style": {"type": "object"}}, ["id", "title", "geometry_type", "count", "bbox", "fields", "style"])}},
            ["layers"]),
        "LayerPage": {"allOf": [_ref("FeatureCollection"), _obj({
            "layer": _enum(layers) if layers else _text(), **counted, "offset": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer", "nullable": True}}, ["layer", "numberReturned", "offset"])]},
        "Rows": _obj({"layer": _text(), "sort": _text(), "rows": {"type": "array", "items": _obj({
            "id": {"nullable": True}, "bbox": {**bbox, "nullable": True}, "properties": {"type": "object"}},
            ["id", "bbox", "properties"])}, **counted, "totals": {"type": "object"},
            "limit": {"type": "integer"}, "offset": {"type": "integer"}, "next": {"type": "string", "nullable": True}},
            ["layer", "sort", "rows", "numberReturned", "numberMatched", "totals", "limit", "offset", "next"]),
        "Search": {"allOf": [_ref("FeatureCollection"), _obj({"query": _text(), "numberReturned": {"type": "integer"}},
                                                             ["query", "numberReturned"])]},
        "Stats": _obj({"layer": _text(), "title": _ref("Title"), "group": {"type": "array", "items": _text()},
                       "by": _enum(stats.BY)}, ["layer", "group", "by"]),
        "ExportOptions": _obj({"formats": {"type": "array", "items": _obj({"id": _enum(list(EXPORT_FORMATS))}, ["id"])},
                               "crs": {"type": "array", "items": _obj({"id": _enum(list(TARGETS))}, ["id"])},
                               "default_crs": _enum(list(TARGETS)), "layers": {"type": "array", "items": _text()},
                               "parameters": {"type": "array", "items": _text()},
                               "default_format": _enum(list(EXPORT_FORMATS)), "direct_max": {"type": "integer"}},
                              ["formats", "crs", "layers", "parameters", "default_format", "direct_max"]),
        "ExportJob": job,
        "Query": _obj({"region": _ref("Feature"), "predicate": _enum(spatial.PREDICATES), "layers": {"type": "array"}},
                      ["region", "predicate", "layers"]),
        "Overlay": _obj({"left": _obj({"layer": _text()}, ["layer"]), "right": _obj({"layer": _text()}, ["layer"])},
                        ["left", "right"]),
        "Indicators": _obj({"indicators": {"type": "array", "items": _obj({"id": _text()}, ["id"])},
                            "crs": _text()}, ["indicators"]),
        "Indicator": _obj({"indicator": _obj({"id": _text()}, ["id"]), "as_of": {"type": "string", "nullable": True}},
                          ["indicator", "as_of"]),
        "Revision": revision,
        "RevisionRef": _obj({"revision": {"type": "integer"}}, ["revision"]),
        "ChangeLog": _obj({"revisions": {"type": "array", "items": _ref("Revision")},
                           "next": {"type": "integer", "nullable": True}}, ["revisions", "next"]),
        "FeatureHistory": _obj({"layer": _text(), "id": _text(), "revisions": {"type": "array",
                                                                               "items": _ref("Revision")}},
                               ["layer", "id", "revisions"]),
        "Session": _obj({"user": {"type": "object", "nullable": True},
                         "csrf_token": {"type": "string", "nullable": True},
                         "anonymous": _enum(["VIEW", "NONE"])}, ["user", "csrf_token", "anonymous"]),
        "User": user,
        "Upload": upload,
    }


# -- parameters ----------------------------------------------------------------------------------
def _filters(layers: Sequence[str]) -> dict[str, dict]:
    """The filters of ``/api/layers/{layer}`` (``layers.api.params``), each by name."""
    districts = ", ".join(f"{c} {n['zh']}" for c, n in catalog.DISTRICTS.items())
    return {
        "bbox": _q("bbox", _text(), "minx,miny,maxx,maxy in WGS84 degrees", example="122.0,37.4,122.2,37.6"),
        "district": _q("district", _text(), f"districts, comma-separated: adcodes or names ({districts}) or "
                                           f"functional areas ({', '.join(catalog.FUNCTIONAL_AREAS)})", example="371002"),
        "category": _q("category", _text(), "categories of the layer, comma-separated"),
        "status": _q("status", _text(), f"statuses, comma-separated, of: {', '.join(catalog.STATUSES)}",
                     example=",".join(list(catalog.STATUSES)[:2])),
        "q": _q("q", _text(params.MAX_TEXT), "a part of a name in Chinese or English"),
        "ids": _q("ids", _text(), f"feature ids, comma-separated (at most {params.MAX_IDS})"),
        "offset": _q("offset", _int(0, 10**9, 0), "features to skip"),
        "simplify": _q("simplify", _int(0, 10_000, 0), "simplification tolerance in metres"),
        "fields": _q("fields", _text(), f"the properties to return, comma-separated, of: {', '.join(catalog.FIELD_NAMES)}"),
        "lang": _q("lang", _enum(LANGS), "the language of titles"),
        "as_of": _q("as_of", _text(format="date-time"), "the time to read at (ISO 8601; UTC unless a zone is given)",
                    example="2026-12-01T12:00:00Z"),
    }


def _layer_path(layers: Sequence[str]) -> dict:
    schema = _enum(layers) if layers else _text()
    return _q("layer", schema, "a layer id (GET /api/layers lists them)", where="path")


def _csrf_body(schema: dict, *, required: bool = True) -> dict:
    return {"required": required, "content": _content(schema)}


# -- operations ----------------------------------------------------------------------------------
READ = [{}, {"session": []}, {"bearer": []}]
WRITE = [{"session": [], "csrf": []}, {"bearer": []}]
ANYONE_WRITES = [{}, {"session": [], "csrf": []}, {"bearer": []}]


def _op(summary: str, tag: str, responses: dict, *, parameters: Sequence[dict] = (), body: dict | None = None,
        security=None, errors: Sequence[int] = (400,), op_id: str) -> dict:
    security = security or READ
    if any("csrf" in s for s in security):  # a change by session: 400 when its CSRF token is missing
        errors = (400, *errors)
    out: dict = {"operationId": op_id, "summary": summary, "tags": [tag],
                 "responses": {**responses, **_errors(*sorted(set(errors)))}, "security": security}
    if parameters:
        out["parameters"] = list(parameters)
    if body is not None:
        out["requestBody"] = body
    return out


def _paths(layers: Sequence[str], settings: Mapping) -> dict:
    f = _filters(layers)
    layer = _layer_path(layers)
    feature_id = _q("id", _text(), "a feature id", where="path")
    max_limit, default_limit = int(settings["MAX_LIMIT"]), int(settings["DEFAULT_LIMIT"])
    direct_max = int(settings["EXPORT_DIRECT_MAX"])
    feature_filters = [f[n] for n in params.FEATURE_PARAMS if n in f]
    limit = _q("limit", _int(1, max_limit, default_limit), "features a page holds")
    rows_limit = _q("limit", _int(1, min(max_limit, table.MAX_LIMIT), table.DEFAULT_LIMIT), "rows a page holds")
    export_filters = [f[n] for n in export.FILTER_PARAMS if n in f] + [
        _q("limit", _int(1, export.MAX_LIMIT), "the most features of each layer"),
        _q("sort", _text(), "fields to sort by, comma-separated, - for descending")]
    export_params = [
        _q("layers", _text(), "layer ids, comma-separated, or all", required=True,
           example=",".join(layers[:2]) or "all"),
        _q("format", _enum(list(EXPORT_FORMATS), export.DEFAULT_FORMAT),
           "; ".join(f"{x.name}: {x.title}" for x in EXPORT_FORMATS.values())),
        _q("crs", _enum(list(TARGETS), DEFAULT_TARGET), "the coordinate system of the file"),
        *export_filters]
    export_body = _obj({**{p["name"]: {"oneOf": [_text(), {"type": "number"}]} for p in export_params},
                        "layers": _text(minLength=1), "format": _enum(list(EXPORT_FORMATS)),
                        "crs": _enum(list(TARGETS))}, ["layers"])
    stats_filters = [f[n] for n in stats.FILTER_PARAMS]
    geo_or_json = _file(GEOJSON)
    csv = "text/csv; charset=utf-8"
    spatial_filters = {n: _text() for n in spatial.FILTER_PARAMS}
    overlay_params = [
        _q("left", _enum(layers) if layers else _text(), "the layer whose features are placed", required=True),
        _q("right", _enum(layers) if layers else _text(), "the layer of areas", required=True),
        _q("format", _enum(list(spatial_answer.FORMATS), "json"), "the answer's format"),
        _q("lang", _enum(LANGS, "zh"), "the language of a CSV's headers"),
        _q("table", _enum(spatial_answer.TABLES, "pairs"), "the table of a CSV"),
        f["as_of"],
        *[_q(f"{side}_{n}", f[n]["schema"], f"{f[n]['description']} ({side} layer)")
          for side in ("left", "right") for n in spatial.FILTER_PARAMS if n != "as_of"]]
    history_params = [
        _q("layer", _enum(layers) if layers else _text(), "only this layer's revisions"),
        _q("actor", _text(), "only this actor's revisions"),
        _q("since", _text(format="date-time"), "revisions at or after this time"),
        _q("until", _text(format="date-time"), "revisions at or before this time"),
        _q("limit", _int(1, 500, 50), "revisions a page holds"),
        _q("before", _int(0, 2**62), "the `next` of the page before")]
    if_match = _q("If-Match", _text(), "the feature's version as read (its ETag, or the version)", where="header",
                  required=True)
    message = {"message": _text(edits.MAX_MESSAGE)}
    edit_body = _obj({"type": _enum(["Feature"]), "properties": {"type": "object"},
                      "geometry": _ref("Geometry"), **message}, ["properties", "geometry"])
    upload_id = _q("id", _text(), "the upload's id", where="path")
    wait = _q("wait", {"type": "number", "minimum": 0, "maximum": 60, "default": 10},
              "seconds to wait for the task before answering 202")
    feature_json = _ok("The feature", _ref("Feature"), GEOJSON)
    paths: dict[str, dict] = {
        "/api/openapi.json": {"get": _op("This document", "meta", {"200": _ok("OpenAPI 3.0", {"type": "object"})},
                                         errors=(), op_id="openapi")},
        "/api/layers": {"get": _op("The layers the asker may read", "layers", {"200": _ok("The layers",
                                                                                          _ref("Layers"))},
                                   errors=(), op_id="layers")},
        "/api/layers/{layer}": {
            "get": _op("A page of a layer's features", "layers",
                       {"200": _ok("GeoJSON of the page", _ref("LayerPage"), GEOJSON)},
                       parameters=[layer, *[p for p in feature_filters], limit], errors=(400, 404),
                       op_id="layer_features"),
            "delete": _op("Drop a layer (admin; undone by undelete)", "edits",
                          {"200": _ok("Dropped", _obj({"revision": {"type": "integer"}, "dropped": _text(),
                                                        "undo": _text()}, ["revision", "dropped", "undo"]))},
                          parameters=[layer], body=_csrf_body(_obj(message), required=False),
                          security=WRITE, errors=(400, 401, 403, 404), op_id="drop_layer")},
        "/api/layers/{layer}/rows": {"get": _op(
            "The attribute table: rows without geometry, sorted, filtered, paged by cursor", "layers",
            {"200": _ok("A page of rows", _ref("Rows"))},
            parameters=[layer, *[f[n] for n in table.ROW_PARAMS if n in f], rows_limit,
                        _q("sort", _text(), f"at most {table.MAX_SORT} fields, comma-separated, - for descending"),
                        _q("after", _text(table.MAX_CURSOR), "the `next` of the page before")],
            errors=(400, 404), op_id="layer_rows")},
        "/api/layers/{layer}/compare": {"get": _op(
            "What changed in a layer between two times", "history",
            {"200": _ok("Added, removed and changed features", _ref("FeatureCollection"), GEOJSON)},
            parameters=[layer, _q("from", _text(format="date-time"), "the earlier time", required=True),
                        _q("to", _text(format="date-time"), "the later time", required=True)],
            errors=(400, 401, 403, 404), op_id="compare")},
        "/api/layers/{layer}/features": {"post": _op(
            "Create a feature (editor with the layer's grant)", "edits",
            {"201": _ok("The created feature", _ref("Feature"), GEOJSON)}, parameters=[layer],
            body=_csrf_body(edit_body), security=WRITE, errors=(400, 401, 403, 404, 409, 415),
            op_id="create_feature")},
        "/api/layers/{layer}/features/{id}": {
            "patch": _op("Change a feature's properties and/or geometry", "edits", {"200": feature_json},
                         parameters=[layer, feature_id, if_match],
                         body=_csrf_body(_obj({"properties": {"type": "object"}, "geometry": _ref("Geometry"),
                                               **message})),
                         security=WRITE, errors=(400, 401, 403, 404, 412, 415), op_id="update_feature"),
            "delete": _op("Delete a feature", "edits",
                          {"200": _ok("Deleted", _obj({"revision": {"type": "integer"}, "deleted": _text()},
                                                      ["revision", "deleted"]))},
                          parameters=[layer, feature_id, if_match], body=_csrf_body(_obj(message), required=False),
                          security=WRITE, errors=(400, 401, 403, 404, 412), op_id="delete_feature")},
        "/api/layers/{layer}/features/{id}/restore": {"post": _op(
            "Bring a feature back to a revision", "edits", {"200": _ok("Restored", _ref("RevisionRef"))},
            parameters=[layer, feature_id],
            body=_csrf_body(_obj({"revision": {"type": "integer", "minimum": 1}, **message}, ["revision"])),
            security=WRITE, errors=(400, 401, 403, 404, 415), op_id="restore_feature")},
        "/api/layers/{layer}/restore": {"post": _op(
            "Bring a layer back to a revision or a time (admin)", "edits", {"200": _ok("Restored", _ref("RevisionRef"))},
            parameters=[layer],
            body=_csrf_body(_obj({"revision": {"type": "integer", "minimum": 1},
                                  "as_of": _text(format="date-time"), **message})),
            security=WRITE, errors=(400, 401, 403, 404, 415), op_id="restore_layer")},
        "/api/layers/{layer}/undelete": {"post": _op(
            "Bring a dropped layer back (admin)", "edits",
            {"200": _ok("Restored", _obj({"revision": {"type": "integer"}, "restored": _text()},
                                         ["revision", "restored"]))},
            parameters=[_q("layer", _text(), "the id of a dropped layer", where="path")],
            body=_csrf_body(_obj(message), required=False), security=WRITE, errors=(400, 401, 403, 404),
            op_id="undelete_layer")},
        "/api/layers/{layer}/settings": {"patch": _op(
            "Hide or show a layer (admin)", "accounts", {"200": _ok("The layer's settings", {"type": "object"})},
            parameters=[layer], body=_csrf_body(_obj({"hidden": {"type": "boolean"}}, ["hidden"],
                                                     additionalProperties=False)),
            security=WRITE, errors=(400, 401, 403, 404, 415), op_id="layer_settings")},
        "/api/layer-settings": {"get": _op(
            "Every layer's settings (admin)", "accounts",
            {"200": _ok("Settings", _obj({"layers": {"type": "object"}, "dropped": {"type": "array"}},
                                         ["layers", "dropped"]))},
            errors=(401, 403), op_id="all_layer_settings")},
        "/api/features/{id}": {"get": _op(
            "One feature with every property and its version", "layers", {"200": feature_json},
            parameters=[feature_id, f["as_of"]], errors=(400, 404), op_id="feature")},
        "/api/features/{id}/history": {"get": _op(
            "Every revision that touched a feature", "history", {"200": _ok("The history", _ref("FeatureHistory"))},
            parameters=[feature_id, _q("layer", _enum(layers) if layers else _text(), "the feature's layer")],
            errors=(400, 401, 403, 404), op_id="feature_history")},
        "/api/revisions": {"get": _op("The change log, newest first", "history",
                                      {"200": _ok("Revisions", _ref("ChangeLog"))}, parameters=history_params,
                                      errors=(400, 401, 403, 404), op_id="revisions")},
        "/api/search": {"get": _op(
            "Features whose name holds the text, in every layer", "layers", {"200": _ok("Matches", _ref("Search"))},
            parameters=[{**f["q"], "required": True}, _q("limit", _int(1, 100, 20), "matches at most"), f["as_of"]],
            op_id="search")},
        "/api/stats": {"get": _op(
            "Statistics of a layer that follow the filters: JSON, CSV or XLSX", "analysis",
            {"200": _ok("The statistics", _ref("Stats"),
                        also=_file(*[m for k, m in stats_answer.FORMATS.items() if k != "json"]))},
            parameters=[_q("layer", _enum(layers) if layers else _text(), "the layer", required=True),
                        _q("group", _text(), f"one or two of {', '.join(stats.GROUPS)}, comma-separated"),
                        _q("by", _enum(stats.BY, "field"), "districts by field, or by geometry"),
                        _q("format", _enum(list(stats_answer.FORMATS), "json"), "the answer's format"),
                        _q("lang", _enum(LANGS, "zh"), "the language of a file's headers"), *stats_filters],
            errors=(400, 404), op_id="stats")},
        "/api/export": {"get": _op(
            f"Layers as one file (at most {direct_max:,} features; more: POST /api/exports)", "export",
            {"200": {"description": "The file",
                     "content": _file(*dict.fromkeys(x.media_type for x in EXPORT_FORMATS.values()), "application/zip")}},
            parameters=export_params, errors=(400, 401, 403, 413), op_id="export")},
        "/api/export/options": {"get": _op("What an export offers", "export",
                                           {"200": _ok("Formats, coordinate systems, layers", _ref("ExportOptions"))},
                                           errors=(), op_id="export_options")},
        "/api/exports": {"post": _op(
            "Start an export job (the parameters of GET /api/export as a JSON object)", "export",
            {"202": _ok("The job", _ref("ExportJob"))}, body=_csrf_body(export_body),
            security=ANYONE_WRITES, errors=(400, 401, 403, 415, 429), op_id="start_export_job")},
        "/api/exports/{id}": {"get": _op(
            "An export job's progress", "export", {"200": _ok("The job", _ref("ExportJob"))},
            parameters=[_q("id", _text(), "the job's id", where="path")], errors=(404,), op_id="export_job")},
        "/api/exports/{id}/file": {"get": _op(
            "A finished export job's file", "export",
            {"200": {"description": "The file", "content": _file("application/octet-stream")}},
            parameters=[_q("id", _text(), "the job's id", where="path")], errors=(404, 409), op_id="export_job_file")},
        "/api/query": {"post": _op(
            "Features of layers in a polygon, or within a distance of a feature", "analysis",
            {"200": _ok("The features inside", _ref("Query"), also={**geo_or_json, **_file(csv)})},
            body=_csrf_body(_obj({
                "layers": {"oneOf": [{"type": "array", "items": _enum(layers) if layers else _text(),
                                      "minItems": 1, "maxItems": spatial.MAX_LAYERS}, _text(minLength=1)]},
                "polygon": {"type": "object"},
                "feature": _obj({"layer": _text(), "id": _text()}, ["layer", "id"]),
                "distance_m": {"type": "number", "minimum": 0, "maximum": spatial.MAX_DISTANCE_M},
                "predicate": _enum(spatial.PREDICATES, "intersects"), "repair": {"type": "boolean"},
                "format": _enum(list(spatial_answer.FORMATS), "json"), "lang": _enum(LANGS, "zh"),
                **spatial_filters}, ["layers"])),
            security=ANYONE_WRITES, errors=(400, 401, 403, 404, 415), op_id="query")},
        "/api/overlay": {"get": _op(
            "Which features of one layer lie in which areas of another", "analysis",
            {"200": _ok("Pairs, covered areas and the features outside", _ref("Overlay"),
                        also={**geo_or_json, **_file(csv)})},
            parameters=overlay_params, errors=(400, 404), op_id="overlay")},
        "/api/indicators": {"get": _op("The planning indicators", "analysis",
                                       {"200": _ok("Their declarations", _ref("Indicators"))},
                                       errors=(), op_id="indicators")},
        **_indicator_paths(),
        "/api/imports": {"post": _op(
            "Upload a file to import (it is inspected; nothing is written yet)", "imports",
            {"201": _ok("The upload and its inspection", _ref("Upload")),
             "202": _ok("The upload, its inspection still running", _ref("Upload"))},
            parameters=[wait],
            body={"required": True, "content": {"multipart/form-data": {"schema": _obj(
                {"file": {"type": "string", "format": "binary"}}, ["file"])}}},
            security=WRITE, errors=(400, 401, 403, 413, 415, 422, 429), op_id="import_start")},
        "/api/imports/{id}": {
            "get": _op("An upload and its inspection", "imports", {"200": _ok("The upload", _ref("Upload"))},
                       parameters=[upload_id], errors=(401, 403, 404), op_id="import_upload"),
            "delete": _op("Remove an upload", "imports", {"200": _ok("Removed", _obj({"removed": _text()},
                                                                                       ["removed"]))},
                          parameters=[upload_id], security=WRITE, errors=(401, 403, 404, 409),
                          op_id="import_remove")},
        "/api/imports/{id}/inspect": {"post": _op(
            "Inspect the upload again with other choices", "imports",
            {"200": _ok("The upload", _ref("Upload")), "202": _ok("Still running", _ref("Upload"))},
            parameters=[upload_id, wait],
            body=_csrf_body(_obj({"layer": _text(), "encoding": _text(), "crs": _text()})),
            security=WRITE, errors=(400, 401, 403, 404, 409, 415, 422, 429), op_id="import_inspect")},
        "/api/imports/{id}/commit": {"post": _op(
            "Import the upload into a layer (or plan it: dry_run)", "imports",
            {"200": _ok("What was written (or would be)", {"type": "object"}),
             "202": _ok("Still running", _ref("Upload"))},
            parameters=[upload_id, wait],
            body=_csrf_body(_obj({"layer": _text(minLength=1), "mode": _enum(MODES, "new"),
                                  **{n: _text() for n in ("key", "encoding", "crs", "message", "source_layer",
                                                          "title_zh", "title_en", "style_field")},
                                  "repair": {"type": "boolean"}, "dry_run": {"type": "boolean"}}, ["layer"])),
            security=WRITE, errors=(400, 401, 403, 404, 409, 415, 422, 429), op_id="import_commit")},
        "/api/imports/{id}/undo": {"post": _op(
            "Take the upload's last import back", "imports",
            {"200": _ok("The revision that undid it", _obj({"revision": {"type": "integer"},
                                                            "undone": {"type": "integer"}}, ["revision", "undone"]))},
            parameters=[upload_id], body=_csrf_body(_obj(message), required=False),
            security=WRITE, errors=(400, 401, 403, 404, 409), op_id="import_undo")},
        "/api/session": {
            "get": _op("Who is logged in, and the CSRF token", "accounts", {"200": _ok("The session", _ref("Session"))},
                       errors=(), op_id="session"),
            "post": _op("Log in", "accounts", {"200": _ok("The new session", _ref("Session"))},
                        body=_csrf_body(_obj({"name": _text(minLength=1), "password": _text(minLength=1)},
                                             ["name", "password"], additionalProperties=False)),
                        security=[{}, {"session": [], "csrf": []}],
                        errors=(400, 401, 403, 415, 423, 429), op_id="login"),
            "delete": _op("Log out", "accounts", {"200": _ok("The session after", _ref("Session"))},
                          security=ANYONE_WRITES, errors=(400,), op_id="logout")},
        "/api/users": {
            "get": _op("The users (admin)", "accounts",
                       {"200": _ok("Users", _obj({"users": {"type": "array", "items": _ref("User")}}, ["users"]))},
                       errors=(401, 403), op_id="users"),
            "post": _op("Add a user (admin)", "accounts", {"201": _ok("The user", _ref("User"))},
                        body=_csrf_body(_obj({"name": _text(minLength=1), "role": _enum(ROLES),
                                              "password": _text(minLength=1),
                                              "grants": {"type": "array", "items": _text()}},
                                             ["name", "role", "password"], additionalProperties=False)),
                        security=WRITE, errors=(400, 401, 403, 409, 415), op_id="add_user")},
        "/api/users/{name}": {"patch": _op(
            "Change a user's role, grants, password or whether disabled (admin)", "accounts",
            {"200": _ok("The user", _ref("User"))},
            parameters=[_q("name", _text(), "the user's name", where="path")],
            body=_csrf_body(_obj({"role": _enum(ROLES), "grants": {"type": "array", "items": _text()},
                                  "disabled": {"type": "boolean"}, "password": _text(minLength=1)},
                                 additionalProperties=False)),
            security=WRITE, errors=(400, 401, 403, 404, 409, 415), op_id="change_user")},
        "/api/tokens": {
            "get": _op("Your API tokens (an admin: everyone's)", "accounts",
                       {"200": _ok("Tokens", _obj({"tokens": {"type": "array", "items": {"type": "object"}}},
                                                  ["tokens"]))},
                       errors=(401, 403), op_id="tokens"),
            "post": _op("Make an API token (its secret is shown once)", "accounts",
                        {"201": _ok("The token", _obj({"token": _text()}, ["token"]))},
                        body=_csrf_body(_obj({"name": _text(minLength=1), "role": _enum(ROLES)}, ["name"],
                                             additionalProperties=False)),
                        security=WRITE, errors=(400, 401, 403, 409, 415), op_id="create_token")},
        "/api/tokens/{id}": {"delete": _op(
            "Revoke an API token", "accounts", {"200": _ok("The revoked token", {"type": "object"})},
            parameters=[_q("id", {"type": "integer", "minimum": 0, "maximum": 2**62}, "the token's id", where="path")],
            security=WRITE, errors=(400, 401, 403, 404), op_id="revoke_token")},
        "/api/audit": {"get": _op(
            "The security log (admin)", "accounts",
            {"200": _ok("Events", _obj({"events": {"type": "array", "items": {"type": "object"}}}, ["events"]))},
            parameters=[_q("user", _text(), "only this user's events"), _q("action", _text(), "only this action"),
                        _q("since", _text(format="date-time"), "events at or after this time"),
                        _q("until", _text(format="date-time"), "events at or before this time"),
                        _q("limit", _int(1, 10_000, 1000), "events at most")],
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
        schema = _enum(p.choices, p.default)
    else:
        schema = {"type": "string", "default": "" if p.default is None else str(p.default)}
    unit = f" ({p.unit})" if p.unit else ""
    return _q(p.name, schema, f"{p.title['zh']} {p.title['en']}{unit}")


def _indicator_paths() -> dict:
    """One path an indicator of the registry: each takes its own parameters."""
    common = [_q("as_of", _text(format="date-time"), "the time to compute at (default: now)"),
              _q("compare", _text(format="date-time"), "a second time: its values beside, and the change"),
              _q("format", _enum(indicator_core.FORMATS, "json"), "the answer's format"),
              _q("lang", _enum(indicator_core.LANGS, "zh"), "the language of a CSV's headers")]
    return {f"/api/indicators/{ind.id}": {"get": _op(
        f"{ind.title['zh']} {ind.title['en']}", "analysis",
        {"200": _ok("Per district and for the city", _ref("Indicator"), also=_file("text/csv; charset=utf-8"))},
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
            "schemas": _schemas(layers),
            "responses": {f"E{c}": {"description": text, "content": _content(_ref("Error"))}
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
