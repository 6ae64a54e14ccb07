"""The parts of the API's OpenAPI document (``layers.api.openapi``): small builders of schemas,
parameters and operations, the shared schemas of the answers (``schemas``), the one error body, and
the filters of ``/api/layers/{layer}``. No Flask here."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from geo.crs import TARGETS
from geo.export import FORMATS as EXPORT_FORMATS

from .. import catalog
from ..accounts.policy import ROLES
from ..analysis import stats
from ..analysis import spatial
from ..analysis.tables import LANGS
from . import params

VERSION = "1.0.0"
JSON = "application/json"
GEOJSON = "application/geo+json"
#: the session cookie and the CSRF header of ``layers.web.auth`` (passed in by the route)
COOKIE = "atlas_session"
CSRF_HEADER = "X-CSRFToken"


def ref(name: str, kind: str = "schemas") -> dict:
    return {"$ref": f"#/components/{kind}/{name}"}


def param(name: str, schema: dict, description: str, *, required: bool = False, where: str = "query",
       example=None) -> dict:
    out = {"name": name, "in": where, "required": required or where == "path", "description": description,
           "schema": schema}
    if example is not None:
        out["example"] = example
    return out


def string(max_length: int | None = None, **extra) -> dict:
    out = {"type": "string", **extra}
    if max_length is not None:
        out["maxLength"] = max_length
    return out


def integer(lo: int, hi: int, default: int | None = None) -> dict:
    out = {"type": "integer", "minimum": lo, "maximum": hi}
    if default is not None:
        out["default"] = default
    return out


def enum(values: Sequence[str], default: str | None = None) -> dict:
    out = {"type": "string", "enum": list(values)}
    if default is not None:
        out["default"] = default
    return out


def obj(properties: Mapping[str, dict] | None = None, required: Sequence[str] = (), **extra) -> dict:
    out: dict = {"type": "object", "properties": dict(properties or {})}
    if required:
        out["required"] = list(required)
    out.update(extra)
    return out


def content(schema: dict, media: str = JSON) -> dict:
    return {media: {"schema": schema}}


def binary(*medias: str) -> dict:
    return {m: {"schema": {"type": "string", "format": "binary"}} for m in medias}


def ok(description: str, schema: dict | None = None, media: str = JSON, *, also: dict | None = None,
        headers: dict | None = None) -> dict:
    out: dict = {"description": description}
    if schema is not None:
        out["content"] = {**content(schema, media), **(also or {})}
    if headers:
        out["headers"] = headers
    return out


def error_refs(*codes: int) -> dict:
    return {str(c): ref(f"E{c}", "responses") for c in codes}


ERROR_TEXT = {
    400: "A parameter (named in `parameter`) or the body is wrong, or the CSRF token is missing (`error`: csrf)",
    401: "Not logged in, a wrong password or an unknown API token",
    403: "Logged in, but the role or the layer grants do not allow this (`role` says what is needed)",
    404: "No such layer, feature, job or upload (or one the asker may not read)",
    409: "Not ready yet, or a clash with what is stored",
    412: "An edit made from an older version (`current_version`, `current`: the stored feature)",
    413: "More than may be answered at once, or a body over the size limit",
    415: "The body is not of the media type the operation takes",
    428: "An update or delete without the version it started from (send If-Match or `version`)",
    422: "Data that cannot be used as it is (a file, an encoding, a coordinate system)",
    423: "The account is locked after too many failed logins",
    429: "Too many requests or jobs at once; try again later",
    503: "The store is unavailable just now",
}


def error_schema() -> dict:
    """The one error body of ``server._error`` (and of the CSRF refusal and failed import tasks)."""
    return obj({
        "error": string(description="a short machine code, e.g. invalid_parameter, not_found, csrf"),
        "detail": string(description="what was wrong and what to do, for people"),
        "parameter": string(description="the parameter, body member or header at fault"),
        "request_id": {"type": "string", "nullable": True, "description": "the id of the request in the log"},
        "role": string(description="the role a 401/403 needs or the asker has"),
        "location": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2,
                     "description": "(lon, lat) of an invalid geometry's fault"},
        "current_version": {"type": "integer", "description": "the stored version (412)"},
        "current": {"type": "object", "nullable": True, "description": "the stored feature (412)"},
        "file": string(description="the name of the file at fault (imports)"),
        "id": string(description="the upload a failed import task belongs to"),
    }, ["error", "detail"])


# -- schemas -------------------------------------------------------------------------------------
def schemas(layers: Sequence[str]) -> dict:
    bbox = {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4}
    title = obj({"zh": string(), "en": string()}, ["zh", "en"])
    geometry = obj({"type": string(), "coordinates": {}, "geometries": {"type": "array"}}, ["type"])
    feature = obj({"type": enum(["Feature"]), "id": {"nullable": True},
                    "geometry": {"allOf": [ref("Geometry")], "nullable": True},
                    "properties": {"type": "object", "nullable": True},
                    "version": {"type": "integer"}, "bbox": bbox}, ["type", "geometry", "properties"])
    collection = obj({"type": enum(["FeatureCollection"]),
                       "features": {"type": "array", "items": ref("Feature")}}, ["type", "features"])
    counted = {"numberMatched": {"type": "integer", "minimum": 0},
               "numberMatchedAtLeast": {"type": "integer", "minimum": 0},
               "numberReturned": {"type": "integer", "minimum": 0}}
    job = obj({k: {"nullable": True} for k in ("layer", "format", "crs", "filename", "filename_utf8", "media_type",
                                                 "size", "detail", "download")}
               | {"id": string(), "state": enum(["running", "done", "failed"]), "created": string(),
                  "updated": string(), "expires": string(), "done": {"type": "integer"}, "total": {"type": "integer"},
                  "percent": integer(0, 100), "counts": {"type": "object"}, "url": string(),
                  "download": {"oneOf": [{"type": "string"}, {"type": "boolean"}]}},
               ["id", "state", "url", "download"])
    revision = obj({"id": {"type": "integer"}, "time": string(), "actor": {"type": "string", "nullable": True},
                     "message": {"type": "string", "nullable": True}, "changes": {"type": "array"}},
                    ["id", "time", "changes"])
    upload = obj({"id": string(), "file": {"nullable": True}, "state": {"type": "string", "nullable": True},
                   "url": string(), "inspection": {"type": "object", "nullable": True}}, ["id", "url"])
    user = obj({"name": string(), "role": enum(ROLES)}, ["name", "role"])
    return {
        "Error": error_schema(),
        "Title": title,
        "Geometry": geometry,
        "Feature": feature,
        "FeatureCollection": collection,
        "Layers": obj({"layers": {"type": "array", "items": obj({
            "id": string(), "title": ref("Title"), "geometry_type": {"type": "string", "nullable": True},
            "count": {"type": "integer", "minimum": 0}, "bbox": {**bbox, "nullable": True},
            "fields": {"type": "array", "items": obj({"name": string(), "type": string()}, ["name"])},
            "style": {"type": "object"}}, ["id", "title", "geometry_type", "count", "bbox", "fields", "style"])}},
            ["layers"]),
        "LayerPage": {"allOf": [ref("FeatureCollection"), obj({
            "layer": enum(layers) if layers else string(), **counted, "offset": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer", "nullable": True}}, ["layer", "numberReturned", "offset"])]},
        "Rows": obj({"layer": string(), "sort": string(), "rows": {"type": "array", "items": obj({
            "id": {"nullable": True}, "bbox": {**bbox, "nullable": True}, "properties": {"type": "object"}},
            ["id", "bbox", "properties"])}, **counted, "totals": {"type": "object"},
            "limit": {"type": "integer"}, "offset": {"type": "integer"}, "next": {"type": "string", "nullable": True}},
            ["layer", "sort", "rows", "numberReturned", "numberMatched", "totals", "limit", "offset", "next"]),
        "Search": {"allOf": [ref("FeatureCollection"), obj({"query": string(), "numberReturned": {"type": "integer"}},
                                                             ["query", "numberReturned"])]},
        "Stats": obj({"layer": string(), "title": ref("Title"), "group": {"type": "array", "items": string()},
                       "by": enum(stats.BY)}, ["layer", "group", "by"]),
        "ExportOptions": obj({"formats": {"type": "array", "items": obj({"id": enum(list(EXPORT_FORMATS))}, ["id"])},
                               "crs": {"type": "array", "items": obj({"id": enum(list(TARGETS))}, ["id"])},
                               "default_crs": enum(list(TARGETS)), "layers": {"type": "array", "items": string()},
                               "parameters": {"type": "array", "items": string()},
                               "default_format": enum(list(EXPORT_FORMATS)), "direct_max": {"type": "integer"}},
                              ["formats", "crs", "layers", "parameters", "default_format", "direct_max"]),
        "ExportJob": job,
        "Query": obj({"region": ref("Feature"), "predicate": enum(spatial.PREDICATES), "layers": {"type": "object"}},
                      ["region", "predicate", "layers"]),
        "Overlay": obj({"left": obj({"layer": string()}, ["layer"]), "right": obj({"layer": string()}, ["layer"])},
                        ["left", "right"]),
        "Indicators": obj({"indicators": {"type": "array", "items": obj({"id": string()}, ["id"])},
                            "crs": string()}, ["indicators"]),
        "Indicator": obj({"indicator": obj({"id": string()}, ["id"]), "as_of": {"type": "string", "nullable": True}},
                          ["indicator", "as_of"]),
        "Revision": revision,
        "RevisionRef": obj({"revision": {"type": "integer"}}, ["revision"]),
        "ChangeLog": obj({"revisions": {"type": "array", "items": ref("Revision")},
                           "next": {"type": "integer", "nullable": True}}, ["revisions", "next"]),
        "FeatureHistory": obj({"layer": string(), "id": string(), "revisions": {"type": "array",
                                                                               "items": ref("Revision")}},
                               ["layer", "id", "revisions"]),
        "Session": obj({"user": {"type": "object", "nullable": True},
                         "csrf_token": {"type": "string", "nullable": True},
                         "anonymous": enum(["VIEW", "NONE"])}, ["user", "csrf_token", "anonymous"]),
        "User": user,
        "Upload": upload,
    }


# -- parameters ----------------------------------------------------------------------------------
def filter_params(layers: Sequence[str]) -> dict[str, dict]:
    """The filters of ``/api/layers/{layer}`` (``layers.api.params``), each by name."""
    districts = ", ".join(f"{c} {n['zh']}" for c, n in catalog.DISTRICTS.items())
    return {
        "bbox": param("bbox", string(), "minx,miny,maxx,maxy in WGS84 degrees", example="122.0,37.4,122.2,37.6"),
        "district": param("district", string(), f"districts, comma-separated: adcodes or names ({districts}) or "
                                           f"functional areas ({', '.join(catalog.FUNCTIONAL_AREAS)})", example="371002"),
        "category": param("category", string(), "categories of the layer, comma-separated"),
        "status": param("status", string(), f"statuses, comma-separated, of: {', '.join(catalog.STATUSES)}",
                     example=",".join(list(catalog.STATUSES)[:2])),
        "q": param("q", string(params.MAX_TEXT), "a part of a name in Chinese or English"),
        "ids": param("ids", string(), f"feature ids, comma-separated (at most {params.MAX_IDS})"),
        "offset": param("offset", integer(0, 10**9, 0), "features to skip"),
        "simplify": param("simplify", integer(0, 10_000, 0), "simplification tolerance in metres"),
        "fields": param("fields", string(), f"the properties to return, comma-separated, of: {', '.join(catalog.FIELD_NAMES)}"),
        "lang": param("lang", enum(LANGS), "the language of titles"),
        "as_of": param("as_of", string(format="date-time"), "the time to read at (ISO 8601; UTC unless a zone is given)",
                    example="2026-12-01T12:00:00Z"),
    }


def layer_path(layers: Sequence[str]) -> dict:
    schema = enum(layers) if layers else string()
    return param("layer", schema, "a layer id (GET /api/layers lists them)", where="path")


def json_body(schema: dict, *, required: bool = True) -> dict:
    return {"required": required, "content": content(schema)}


# -- operations ----------------------------------------------------------------------------------
READ = [{}, {"session": []}, {"bearer": []}]
WRITE = [{"session": [], "csrf": []}, {"bearer": []}]
ANYONE_WRITES = [{}, {"session": [], "csrf": []}, {"bearer": []}]


def operation(summary: str, tag: str, responses: dict, *, parameters: Sequence[dict] = (), body: dict | None = None,
        security=None, errors: Sequence[int] = (400,), op_id: str) -> dict:
    security = security or READ
    if any("csrf" in s for s in security):  # a change by session: 400 when its CSRF token is missing
        errors = (400, *errors)
    out: dict = {"operationId": op_id, "summary": summary, "tags": [tag],
                 "responses": {**responses, **error_refs(*sorted(set(errors)))}, "security": security}
    if parameters:
        out["parameters"] = list(parameters)
    if body is not None:
        out["requestBody"] = body
    return out
