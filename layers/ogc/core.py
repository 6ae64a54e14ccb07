"""OGC API – Features over the store, Flask-free: each function takes the store (as the asker sees
it), the request's parameters and an ``Ask`` (the service's URL, the format and language chosen,
the limits) and returns an ``Answer``: JSON (a dict, or bytes already written) or a template and its
context for the page, with the status and headers. The blueprint (``layers.web.ogc``) only
serialises.

The landing page, conformance, collections, one collection, its queryables and one feature are
here; the items (paging, filters, CRS) are ``layers.ogc.items``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote as url_quote
from urllib.parse import urlencode

import orjson

from geo.errors import InvalidParameter, NotFound
from geo.store import Query, Store

from .. import catalog, layermeta
from ..api import features as api_features
from . import crs as refs

JSON = "application/json"
GEOJSON = "application/geo+json"
HTML = "text/html"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
SCHEMA = "application/schema+json"
CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    # the name of Basic Spatial in the CQL2 drafts, which QGIS looks for before it sends S_INTERSECTS
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-operators",
)
#: JSON Schema types of the store's field types (json fields are not queryable)
SCHEMA_TYPES = {"str": {"type": "string"}, "int": {"type": "integer"}, "float": {"type": "number"},
                "bool": {"type": "boolean"}, "date": {"type": "string", "format": "date"}}
GEOJSON_SCHEMA = "https://geojson.org/schema/{}.json"  # an identifier QGIS recognises; never fetched


@dataclass(frozen=True)
class Ask:
    base: str           # the absolute URL of the service (…/ogc), no trailing slash
    fmt: str = "json"   # "json" | "html"
    lang: str = "zh"
    default_limit: int = 100
    max_limit: int = 10_000
    count_at_most: int = 20_000


@dataclass
class Answer:
    data: object = None          # JSON-ready (dict), or
    body: bytes | None = None    # JSON already written
    media_type: str = JSON
    template: str | None = None  # the page: templates/ogc/<template>, with ``data`` as its context
    headers: dict = field(default_factory=dict)
    status: int = 200


def link(href: str, rel: str, media_type: str, title: str | None = None) -> dict:
    out = {"href": href, "rel": rel, "type": media_type}
    if title:
        out["title"] = title
    return out


def url(ask: Ask, path: str, **params) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{ask.base}{path}" + (f"?{query}" if query else "")


def self_links(ask: Ask, path: str, json_type: str = JSON, params: Mapping | None = None) -> list[dict]:
    """self and alternate: the JSON and the page of the same resource."""
    kept = {k: v for k, v in (params or {}).items() if k != "f"}
    as_json = link(url(ask, path, **kept, f="json"), "self" if ask.fmt == "json" else "alternate", json_type,
                   "此文档 JSON" if ask.lang == "zh" else "this document as JSON")
    as_html = link(url(ask, path, **kept, f="html"), "self" if ask.fmt == "html" else "alternate", HTML,
                   "此文档 HTML" if ask.lang == "zh" else "this document as HTML")
    return [as_json, as_html] if ask.fmt == "json" else [as_html, as_json]


def only(args: Mapping, allowed: tuple[str, ...]) -> None:
    """Unknown query parameters are refused (OGC API – Features: 400), naming the accepted ones."""
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        raise InvalidParameter(f"unknown parameter {unknown[0]!r}; accepted here: {', '.join(allowed)}",
                               parameter=unknown[0])


def title(store: Store, layer: str, lang: str) -> str:
    spec = catalog.get(layer)
    if spec is not None:
        return spec.title[lang]
    meta = layermeta.get(store, layer) or {}
    return (meta.get("title") or {}).get(lang) or layer


def _layers(store: Store) -> list[str]:
    return api_features.ordered_layers(store)


# -- the landing page, conformance -------------------------------------------------------------------
def landing(store: Store, args: Mapping, ask: Ask) -> Answer:
    only(args, ("f", "lang"))
    zh = ask.lang == "zh"
    links = [
        *self_links(ask, "/", params=args),
        link(url(ask, "/api"), "service-desc", OPENAPI, "API 定义 (OpenAPI 3.0)" if zh else "the API definition"),
        link(url(ask, "/api", f="html"), "service-doc", HTML, "API 说明" if zh else "the API documentation"),
        link(url(ask, "/conformance"), "conformance", JSON, "符合的标准" if zh else "conformance classes"),
        link(url(ask, "/conformance"), "http://www.opengis.net/def/rel/ogc/1.0/conformance", JSON),
        link(url(ask, "/collections"), "data", JSON, "图层" if zh else "the collections"),
        link(url(ask, "/collections"), "http://www.opengis.net/def/rel/ogc/1.0/data", JSON),
    ]
    data = {"title": "精致威海规划图" if zh else "Weihai Planning Atlas",
            "description": ("威海规划图层的 OGC API – Features 服务:在 QGIS、ArcGIS 或 GDAL 中作为实时图层添加"
                            if zh else "The Weihai planning layers as OGC API – Features: add them as live "
                            "layers in QGIS, ArcGIS or GDAL"),
            "links": links}
    return Answer(data, template="landing.html")


def conformance(args: Mapping, ask: Ask) -> Answer:
    only(args, ("f", "lang"))
    return Answer({"conformsTo": list(CONFORMANCE), "links": self_links(ask, "/conformance", params=args)},
                  template="conformance.html")


# -- collections -----------------------------------------------------------------------------------
def collection_body(store: Store, layer: str, ask: Ask) -> dict:
    info = store.info(layer)
    zh = ask.lang == "zh"
    path = f"/collections/{url_quote(layer)}"
    extent = {"spatial": {"bbox": [[round(v, 7) for v in info.bbox]] if info.bbox else [[-180, -90, 180, 90]],
                          "crs": refs.CRS84}}
    return {
        "id": layer,
        "title": title(store, layer, ask.lang),
        "description": (f"{info.count} 个要素,{info.geometry_type}" if zh
                        else f"{info.count} features, {info.geometry_type}"),
        "itemType": "feature",
        "extent": extent,
        "crs": list(refs.OFFERED),
        "storageCrs": refs.STORAGE,
        "links": [
            link(url(ask, path, f="json"), "self", JSON),
            link(url(ask, path, f="html"), "alternate", HTML),
            link(url(ask, f"{path}/items"), "items", GEOJSON, "要素" if zh else "the features"),
            link(url(ask, f"{path}/items", f="html"), "items", HTML, "要素表" if zh else "the features as a table"),
            link(url(ask, f"{path}/queryables"), "queryables", JSON, "可查询属性" if zh else "queryables"),
            link(url(ask, f"{path}/queryables"), "http://www.opengis.net/def/rel/ogc/1.0/queryables", SCHEMA),
        ],
    }


def collections(store: Store, args: Mapping, ask: Ask) -> Answer:
    only(args, ("f", "lang"))
    return Answer({"links": self_links(ask, "/collections", params=args),
                   "collections": [collection_body(store, n, ask) for n in _layers(store)],
                   "crs": list(refs.OFFERED)}, template="collections.html")


def collection(store: Store, layer: str, args: Mapping, ask: Ask) -> Answer:
    only(args, ("f", "lang"))
    store.fields(layer)  # NotFound for a layer the asker may not read, before anything else
    body = collection_body(store, layer, ask)
    return Answer(body, template="collection.html")


# -- queryables ------------------------------------------------------------------------------------
def queryable_fields(store: Store, layer: str) -> dict[str, str]:
    """name -> store type of the properties a filter may name (JSON fields cannot be compared)."""
    return {f.name: f.type for f in store.fields(layer) if f.type in SCHEMA_TYPES}


def _field_titles(store: Store, layer: str, lang: str) -> dict[str, str]:
    summary = api_features.layer_summary(store, layer)
    return {f["name"]: (f.get("title") or {}).get(lang) or f["name"] for f in summary["fields"]}


def queryables(store: Store, layer: str, args: Mapping, ask: Ask, *, schema_json: bool) -> Answer:
    """The JSON Schema of what a filter may name (Part 3), in the form QGIS reads (``properties``,
    the geometry as a GeoJSON schema reference) and with the older ``queryables`` list GDAL's OAPIF
    driver reads, in one document."""
    only(args, ("f", "lang"))
    fields = queryable_fields(store, layer)
    titles = _field_titles(store, layer, ask.lang)
    geometry_type = store.info(layer).geometry_type
    kind = geometry_type if geometry_type in ("Point", "LineString", "Polygon", "MultiPoint", "MultiLineString",
                                              "MultiPolygon") else "Geometry"
    properties = {"geometry": {"title": "几何" if ask.lang == "zh" else "geometry",
                               "$ref": GEOJSON_SCHEMA.format(kind), "x-ogc-role": "primary-geometry"}}
    for name, kind_ in fields.items():
        properties[name] = {"title": titles.get(name, name), **SCHEMA_TYPES[kind_]}
        if name == catalog.KEY:
            properties[name]["x-ogc-role"] = "id"
    data = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": url(ask, f"/collections/{url_quote(layer)}/queryables"),
        "type": "object",
        "title": title(store, layer, ask.lang),
        "properties": properties,
        "additionalProperties": False,
        "queryables": [{"id": name, "title": titles.get(name, name), **SCHEMA_TYPES[k]} for name, k in fields.items()],
        "links": self_links(ask, f"/collections/{url_quote(layer)}/queryables", params=args),
    }
    return Answer(data, media_type=SCHEMA if schema_json else JSON, template="queryables.html")


# -- one feature -----------------------------------------------------------------------------------
def item_query(feature_id: str) -> Query:
    """What ``item`` reads of its layer (the web says it to the store ahead: ``Store.read_ahead``)."""
    return Query(ids=(feature_id,), limit=1)


def item(store: Store, layer: str, feature_id: str, args: Mapping, ask: Ask) -> Answer:
    from .items import encode, page_context  # the items module writes features for both

    only(args, ("f", "lang", "crs"))
    target = refs.parse(args.get("crs"), "crs")
    fields = store.fields(layer)
    frame = store.records(layer, item_query(feature_id))
    if not len(frame):
        raise NotFound(f"no feature {feature_id!r} in collection {layer!r}; its features are listed at "
                       f"{ask.base}/collections/{layer}/items", parameter="featureId")
    path = f"/collections/{url_quote(layer)}/items/{url_quote(feature_id, safe='')}"
    links = [*self_links(ask, path, GEOJSON, params=args),
             link(url(ask, f"/collections/{url_quote(layer)}", f="json"), "collection", JSON)]
    headers = {"Content-Crs": refs.header(target)}
    if ask.fmt == "html":
        context = page_context(store, layer, frame, fields, ask, links)
        return Answer(context, template="item.html", headers=headers)
    feature = encode(frame, fields, target)[0]
    links_json = orjson.dumps(links)
    body = feature[:-1] + b',"links":' + links_json + b"}"
    return Answer(body=body, media_type=GEOJSON, headers=headers)
