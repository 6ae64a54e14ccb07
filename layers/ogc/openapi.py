"""The OpenAPI 3.0 document of the OGC API (``/ogc/api``), made from the store as the asker sees it.

Self-contained: every ``$ref`` is local (``#/components/…``), since an intranet cannot reach
schemas.opengis.net. What clients read from it shaped it: GDAL's OAPIF driver takes its page size
from the ``limit`` parameter of ``paths["/collections/<id>/items"]`` only when it is a ``$ref``
(``schema.default``/``maximum``), and pushes filters down only when ``filter-lang`` lists
``cql-text``; QGIS reads ``components.parameters.limit`` and takes each ``in: query, style: form,
explode: false`` parameter of an items path as a queryable. So ``limit`` is a shared component,
each collection has its own paths, and every queryable is declared there as a form parameter.
"""
from __future__ import annotations

from urllib.parse import quote as url_quote

from geo.store import Store

from . import core
from . import crs as refs
from .items import FILTER_LANGS


def _param(name: str, schema: dict, description: str, *, required: bool = False, where: str = "query") -> dict:
    out = {"name": name, "in": where, "required": required, "description": description, "schema": schema}
    if where == "query":
        out.update(style="form", explode=False)
    return out


def parameters(ask: core.Ask) -> dict:
    crs_schema = {"type": "string", "format": "uri", "enum": list(refs.OFFERED), "default": refs.CRS84}
    return {
        "limit": _param("limit", {"type": "integer", "minimum": 1, "maximum": ask.max_limit,
                                  "default": ask.default_limit},
                        f"features a page, at most {ask.max_limit} (more is served as {ask.max_limit})"),
        "bbox": _param("bbox", {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
                       "minx,miny,maxx,maxy in bbox-crs (its axis order); features whose geometry meets the box"),
        "bbox-crs": _param("bbox-crs", crs_schema, "the CRS of bbox (default CRS84, lon/lat)"),
        "crs": _param("crs", crs_schema, "the CRS of the answer's coordinates, in its authority's axis order"),
        "filter": _param("filter", {"type": "string"}, "a CQL2 text filter (Basic CQL2, LIKE/IN/BETWEEN, CASEI, "
                         "S_INTERSECTS); a filter that cannot be evaluated is answered 400"),
        "filter-lang": _param("filter-lang", {"type": "string", "enum": list(FILTER_LANGS), "default": "cql2-text"},
                              "the language of filter (cql-text is an older name of cql2-text)"),
        "filter-crs": _param("filter-crs", crs_schema, "the CRS of the filter's geometries (default CRS84)"),
        "cursor": _param("cursor", {"type": "string"}, "where a page starts: follow the next/prev links"),
        "f": _param("f", {"type": "string", "enum": ["json", "html"]}, "the format, instead of the Accept header"),
        "lang": _param("lang", {"type": "string", "enum": ["zh", "en"]}, "the language (default Accept-Language, "
                       "else Chinese)"),
        "datetime": _param("datetime", {"type": "string"}, "not offered: the collections have no temporal property; "
                           "answered 400"),
        "featureId": _param("featureId", {"type": "string"}, "the feature's id", required=True, where="path"),
    }


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/parameters/{name}"}


def _response(description: str, media: dict[str, str]) -> dict:
    return {"description": description,
            "content": {m: {"schema": {"$ref": f"#/components/schemas/{s}"}} for m, s in media.items()}}


ERRORS = {"400": _response("a parameter that cannot be evaluated (named in the answer)", {core.JSON: "exception"}),
          "404": _response("no such collection or feature", {core.JSON: "exception"})}


def schemas() -> dict:
    link = {"type": "object", "required": ["href"], "properties": {
        "href": {"type": "string"}, "rel": {"type": "string"}, "type": {"type": "string"},
        "title": {"type": "string"}}}
    links = {"type": "array", "items": {"$ref": "#/components/schemas/link"}}
    feature = {"type": "object", "required": ["type", "geometry", "properties"], "properties": {
        "type": {"type": "string", "enum": ["Feature"]}, "id": {"type": "string"},
        "geometry": {"type": "object", "nullable": True}, "properties": {"type": "object", "nullable": True},
        "links": links}}
    return {
        "link": link,
        "exception": {"type": "object", "required": ["error", "detail"], "properties": {
            "error": {"type": "string"}, "detail": {"type": "string"}, "parameter": {"type": "string"},
            "request_id": {"type": "string"}}},
        "landingPage": {"type": "object", "required": ["links"], "properties": {
            "title": {"type": "string"}, "description": {"type": "string"}, "links": links}},
        "confClasses": {"type": "object", "required": ["conformsTo"], "properties": {
            "conformsTo": {"type": "array", "items": {"type": "string"}}, "links": links}},
        "collection": {"type": "object", "required": ["id", "links"], "properties": {
            "id": {"type": "string"}, "title": {"type": "string"}, "description": {"type": "string"},
            "itemType": {"type": "string"}, "extent": {"type": "object"},
            "crs": {"type": "array", "items": {"type": "string"}}, "storageCrs": {"type": "string"},
            "links": links}},
        "collections": {"type": "object", "required": ["links", "collections"], "properties": {
            "links": links, "collections": {"type": "array", "items": {"$ref": "#/components/schemas/collection"}},
            "crs": {"type": "array", "items": {"type": "string"}}}},
        "queryables": {"type": "object", "properties": {"properties": {"type": "object"}}},
        "featureGeoJSON": feature,
        "featureCollectionGeoJSON": {"type": "object", "required": ["type", "features"], "properties": {
            "type": {"type": "string", "enum": ["FeatureCollection"]},
            "features": {"type": "array", "items": {"$ref": "#/components/schemas/featureGeoJSON"}},
            "links": links, "numberMatched": {"type": "integer", "minimum": 0},
            "numberReturned": {"type": "integer", "minimum": 0}, "timeStamp": {"type": "string"}}},
    }


def _get(summary: str, params: list, responses: dict, op_id: str) -> dict:
    responses = {**responses, **ERRORS}
    if _ref("f") in params:  # f=html (or Accept: text/html) answers a page, an error too
        page = {"schema": {"type": "string"}}
        responses = {code: {**answer, "content": {**answer["content"], core.HTML: page}}
                     for code, answer in responses.items()}
    return {"get": {"summary": summary, "operationId": op_id, "parameters": params, "responses": responses}}


def document(store: Store, ask: core.Ask) -> dict:
    common = [_ref("f"), _ref("lang")]
    paths = {
        "/": _get("the landing page", common, {"200": _response("links to the API, conformance and the data",
                                                                {core.JSON: "landingPage"})}, "landing"),
        "/conformance": _get("the conformance classes", common, {"200": _response(
            "the standards implemented", {core.JSON: "confClasses"})}, "conformance"),
        "/api": _get("this document", [], {"200": {"description": "the OpenAPI 3.0 document",
                                                   "content": {core.OPENAPI: {"schema": {"type": "object"}}}}},
                     "api"),
        "/collections": _get("the collections", common, {"200": _response("every collection the asker may read",
                                                                          {core.JSON: "collections"})}, "collections"),
    }
    for layer in core._layers(store):
        fields = core.queryable_fields(store, layer)
        path = f"/collections/{url_quote(layer)}"
        ident = "".join(c if c.isalnum() else "_" for c in layer)
        forms = [_param(name, core.SCHEMA_TYPES[kind], f"features whose {name} equals this value")
                 for name, kind in fields.items()]
        item_params = [_ref(n) for n in ("limit", "bbox", "bbox-crs", "crs", "filter", "filter-lang", "filter-crs",
                                         "cursor", "datetime", "f", "lang")] + forms
        paths[path] = _get(f"collection {layer}", common, {"200": _response(
            "the collection", {core.JSON: "collection"})}, f"collection_{ident}")
        paths[f"{path}/items"] = _get(f"the features of {layer}", item_params, {"200": _response(
            "a page of features, with next/prev links", {core.GEOJSON: "featureCollectionGeoJSON"})}, f"items_{ident}")
        paths[f"{path}/items/{{featureId}}"] = _get(f"one feature of {layer}", [_ref("featureId"), _ref("crs"),
                                                                               *common], {"200": _response(
            "the feature", {core.GEOJSON: "featureGeoJSON"})}, f"item_{ident}")
        paths[f"{path}/queryables"] = _get(f"what a filter on {layer} may name", common, {"200": _response(
            "a JSON Schema", {core.JSON: "queryables", core.SCHEMA: "queryables"})}, f"queryables_{ident}")
    zh = ask.lang == "zh"
    return {
        "openapi": "3.0.3",
        "info": {"title": "精致威海规划图 OGC API – Features" if zh else "Weihai Planning Atlas OGC API – Features",
                 "version": "1.0.0",
                 "description": "威海规划图层 (OGC API – Features 第1、2、3部分)" if zh else
                 "The Weihai planning layers (OGC API – Features Parts 1, 2 and 3)"},
        "servers": [{"url": ask.base}],
        "paths": paths,
        "components": {"parameters": parameters(ask), "schemas": schemas()},
    }
