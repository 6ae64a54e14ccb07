"""The OGC API – Features at /ogc over the small atlas: what GDAL, QGIS and OWSLib need from the
landing page, the OpenAPI document, the collections and queryables; content negotiation; CRSs in
the authority's axis order (checked against pyproj); filters answered or refused with 400; tags;
permissions (hidden layers, Bearer tokens); the zh/en pages, escaped. Every test runs on both
backends: the small store itself, and its copy in PostGIS."""
from __future__ import annotations

import json

import pytest
from pyproj import Transformer

from server import create_app
from tests.auth_helpers import add_users, bearer, make_app, postgis_copy, tokens

GEO = {"Accept": "application/geo+json, application/json"}  # what GDAL sends
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
URI = "http://www.opengis.net/def/crs/EPSG/0/"


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def backend(request):
    return request.param


@pytest.fixture(scope="module")
def app(backend, built_store, tmp_path_factory):
    """The service over the small store (``client`` of tests/conftest.py uses this app)."""
    if backend == "gpkg":
        yield create_app({"STORE": str(built_store.path), "TESTING": True})
        return
    folder = tmp_path_factory.mktemp("ogc-pg")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)  # a server store's folders (exports, imports) are under var/ here
        yield create_app({"STORE": postgis_copy(built_store), "TESTING": True,
                          "ACCOUNTS": str(folder / "accounts.sqlite")})


def get_json(client, path, **headers):
    r = client.get(path, headers={**GEO, **headers})
    assert r.status_code == 200, r.get_data(as_text=True)
    return r, json.loads(r.data)


def test_landing_page_links_what_clients_follow(client):
    for path in ("/ogc", "/ogc/"):
        r, body = get_json(client, path)
        assert r.content_type == "application/json"
        rels = {link["rel"]: link for link in body["links"]}
        assert rels["service-desc"]["type"] == "application/vnd.oai.openapi+json;version=3.0"
        assert rels["service-desc"]["href"].endswith("/ogc/api")
        assert {"self", "alternate", "service-doc", "conformance", "data"} <= set(rels)


def test_openapi_is_self_contained_and_declares_the_parameters(client):
    r = client.get("/ogc/api", headers={"Accept": "application/vnd.oai.openapi+json;version=3.0"})
    assert r.content_type == "application/vnd.oai.openapi+json;version=3.0"
    text = r.get_data(as_text=True)
    doc = json.loads(text)
    refs = [v for v in _walk(doc) if isinstance(v, dict) and "$ref" in v]
    assert refs and all(v["$ref"].startswith("#/") for v in refs)
    assert "schemas.opengis.net" not in text
    limit = doc["components"]["parameters"]["limit"]["schema"]
    assert limit["default"] == 1000 and limit["maximum"] == 10000  # the app's DEFAULT_LIMIT / MAX_LIMIT
    items = doc["paths"]["/collections/parks/items"]["get"]["parameters"]
    names = {p["$ref"].rsplit("/", 1)[-1] for p in items if "$ref" in p}
    assert {"limit", "bbox", "crs", "bbox-crs", "filter", "filter-lang"} <= names
    assert "cql-text" in doc["components"]["parameters"]["filter-lang"]["schema"]["enum"]  # GDAL pushes down
    forms = {p["name"] for p in items if "name" in p}
    assert {"name_zh", "category", "year"} <= forms and "figures" not in forms  # JSON is not queryable
    assert all(p["style"] == "form" and p["explode"] is False for p in items if "name" in p)
    for ref in refs:  # every local reference resolves
        node = doc
        for part in ref["$ref"][2:].split("/"):
            node = node[part]


def _walk(node):
    yield node
    if isinstance(node, dict):
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def test_conformance_declares_crs_and_cql2(client):
    _, body = get_json(client, "/ogc/conformance")
    got = set(body["conformsTo"])
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in got
    assert "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text" in got
    assert "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter" in got


def test_collections_with_crs_lists(client):
    _, body = get_json(client, "/ogc/collections")
    ids = [c["id"] for c in body["collections"]]
    assert ids == ["districts", "zones", "parks", "roads", "projects"]
    parks = body["collections"][2]
    assert parks["title"] == "公园与景区" and parks["itemType"] == "feature"
    assert parks["storageCrs"] == "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
    assert {URI + c for c in ("4326", "4490", "4549", "4550", "4528", "4529", "3857")} <= set(parks["crs"])
    items = [link for link in parks["links"] if link["rel"] == "items" and link["type"] == "application/geo+json"]
    assert items[0]["href"].endswith("/ogc/collections/parks/items")  # no query: GDAL finds its path in /api
    _, en = get_json(client, "/ogc/collections/parks?lang=en")
    assert en["title"] == "Parks and scenic areas"


def test_queryables_for_gdal_and_qgis(client):
    r = client.get("/ogc/collections/parks/queryables", headers={"Accept": "application/schema+json"})
    assert r.content_type == "application/schema+json"
    body = json.loads(r.data)
    assert body["properties"]["geometry"]["$ref"] == "https://geojson.org/schema/MultiPolygon.json"  # QGIS
    assert body["properties"]["name_zh"] == {"title": "名称", "type": "string"}
    assert body["properties"]["year"]["type"] == "integer"
    assert {"id": "name_zh", "title": "名称", "type": "string"} in body["queryables"]  # GDAL's older form
    assert "figures" not in body["properties"]
    r, _ = get_json(client, "/ogc/collections/parks/queryables")  # GDAL asks for JSON
    assert r.content_type == "application/json"


@pytest.mark.parametrize("headers, f, want", [
    (GEO, None, "application/geo+json"),
    ({"Accept": "*/*"}, None, "application/geo+json"),  # OWSLib
    (BROWSER, None, "text/html"),
    (BROWSER, "json", "application/geo+json"),
    (GEO, "html", "text/html"),
])
def test_content_negotiation(client, headers, f, want):
    r = client.get("/ogc/collections/parks/items" + (f"?f={f}" if f else ""), headers=headers)
    assert r.status_code == 200 and r.mimetype == want


def test_items_page_members_and_links(client):
    r, body = get_json(client, "/ogc/collections/parks/items?limit=1")
    assert body["numberMatched"] == 2 and body["numberReturned"] == 1 and body["timeStamp"].endswith("Z")
    nxt = [link for link in body["links"] if link["rel"] == "next"]
    assert len(nxt) == 1 and nxt[0]["type"] == "application/geo+json" and "cursor=" in nxt[0]["href"]
    _, second = get_json(client, nxt[0]["href"].split("localhost", 1)[1])
    assert second["numberReturned"] == 1 and not [link for link in second["links"] if link["rel"] == "next"]
    assert {body["features"][0]["id"], second["features"][0]["id"]} == {"parks-huaxiacheng", "parks-hostile"}
    prev = [link for link in second["links"] if link["rel"] == "prev"]
    _, back = get_json(client, prev[0]["href"].split("localhost", 1)[1])
    assert [f["id"] for f in back["features"]] == [body["features"][0]["id"]]
    assert r.headers["Content-Crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"


def test_limit_above_the_maximum_is_the_maximum(client):
    _, body = get_json(client, "/ogc/collections/parks/items?limit=999999")
    assert body["numberReturned"] == 2
    r = client.get("/ogc/collections/parks/items?limit=0", headers=GEO)
    assert r.status_code == 400 and r.get_json()["parameter"] == "limit"


@pytest.mark.parametrize("code, swap", [("4326", True), ("4490", True), ("4549", True), ("4550", True),
                                         ("4528", True), ("4529", True), ("3857", False)])
def test_crs_in_the_authority_axis_order(client, code, swap):
    r, body = get_json(client, f"/ogc/collections/projects/items/projects-yuanyao?crs={URI}{code}")
    assert r.headers["Content-Crs"] == f"<{URI}{code}>"
    x, y = Transformer.from_crs("EPSG:4326", f"EPSG:{code}", always_xy=True).transform(122.185, 37.535)
    want = (y, x) if swap else (x, y)
    got = body["geometry"]["coordinates"]
    tolerance = 1e-7 if code in ("4326", "4490") else 0.005
    assert got == pytest.approx(list(want), abs=tolerance)


def test_bbox_in_another_crs(client):
    to_gk = Transformer.from_crs("EPSG:4326", "EPSG:4550", always_xy=True)
    e, n = to_gk.transform(122.0631, 37.4437)
    box = f"{n - 100},{e - 100},{n + 100},{e + 100}"  # northing first, as EPSG:4550 orders its axes
    _, body = get_json(client, f"/ogc/collections/parks/items?bbox={box}&bbox-crs={URI}4550")
    assert [f["id"] for f in body["features"]] == ["parks-huaxiacheng"]
    _, latlon = get_json(client, f"/ogc/collections/parks/items?bbox=37.44,122.06,37.45,122.07&bbox-crs={URI}4326")
    assert [f["id"] for f in latlon["features"]] == ["parks-huaxiacheng"]
    _, lonlat = get_json(client, "/ogc/collections/parks/items?bbox=122.06,37.44,122.07,37.45")
    assert [f["id"] for f in lonlat["features"]] == ["parks-huaxiacheng"]


def test_filters(client):
    _, body = get_json(client, "/ogc/collections/parks/items?filter=name_zh%20%3D%20%27%E5%8D%8E%E5%A4%8F%E5%9F%8E%27")
    assert [f["id"] for f in body["features"]] == ["parks-huaxiacheng"] and body["numberMatched"] == 1
    _, body = get_json(client, "/ogc/collections/projects/items?filter-lang=cql-text&filter=year%20%3E%202020")
    assert [f["id"] for f in body["features"]] == ["projects-yuanyao"]
    _, body = get_json(client, "/ogc/collections/projects/items?status=under_construction")  # a form parameter
    assert [f["id"] for f in body["features"]] == ["projects-weiqiao"]
    q = "S_INTERSECTS(geometry,POINT(37.4437 122.0631))"  # lat/lon, as filter-crs EPSG:4326 orders them
    _, body = get_json(client, f"/ogc/collections/parks/items?filter={q}&filter-crs={URI}4326")
    assert [f["id"] for f in body["features"]] == ["parks-huaxiacheng"]


@pytest.mark.parametrize("query, parameter, words", [
    ("filter=nope%20%3D%201", "filter", "unknown property 'nope'"),
    ("filter=year%20%3D%20%27x%27", "filter", "is a number"),
    ("filter=buffer(geometry,1)%20%3D%201", "filter", "not supported"),
    ("filter-lang=cql2-json&filter=%7B%7D", "filter-lang", "cql2-text"),
    ("year=abc", "year", "whole number"),
    ("bbox=1,2,3", "bbox", "four numbers"),
    ("crs=EPSG:2000", "crs", "not offered"),
    ("datetime=2020-01-01", "datetime", "temporal"),
    ("cursor=garbage", "cursor", "next or prev link"),
    ("colour=red", "colour", "unknown parameter"),
])
def test_what_cannot_be_evaluated_is_a_400_naming_it(client, query, parameter, words):
    r = client.get(f"/ogc/collections/parks/items?{query}", headers=GEO)
    assert r.status_code == 400, r.get_data(as_text=True)
    body = r.get_json()
    assert body["parameter"] == parameter and words in body["detail"]


def test_unknown_collection_and_feature_are_404(client):
    assert client.get("/ogc/collections/nope/items", headers=GEO).status_code == 404
    r = client.get("/ogc/collections/parks/items/nope", headers=GEO)
    assert r.status_code == 404 and r.get_json()["parameter"] == "featureId"


def test_etag_and_304(client):
    r = client.get("/ogc/collections/parks/items", headers=GEO)
    tag = r.headers["ETag"]
    assert client.get("/ogc/collections/parks/items", headers={**GEO, "If-None-Match": tag}).status_code == 304
    page = client.get("/ogc/collections/parks/items", headers={**BROWSER, "If-None-Match": tag})
    assert page.status_code == 200 and page.mimetype == "text/html"  # another representation, another tag
    assert "Accept" in r.headers["Vary"]


def test_pages_in_both_languages_escape_the_data(client):
    zh = client.get("/ogc/collections/parks/items", headers=BROWSER)
    text = zh.get_data(as_text=True)
    assert '<html lang="zh-CN">' in text and "公园与景区" in text and "下一页" not in text
    assert "<img src=x" not in text and "&lt;img src=x" in text
    en = client.get("/ogc/collections?f=html", headers={"Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"})
    assert '<html lang="en">' in en.get_data(as_text=True) and "Parks and scenic areas" in en.get_data(as_text=True)
    landing = client.get("/ogc/?f=html&lang=zh").get_data(as_text=True)
    assert "ogrinfo OAPIF:" in landing and "https://" not in landing.replace("https://json-schema", "")


def test_hidden_layers_are_absent_and_tokens_work(built_store, backend, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = make_app(built_store, tmp_path / "hidden", backend=backend, ANONYMOUS="NONE")
    add_users(app)
    app.extensions["atlas_accounts"].set_hidden("parks", True, by="test")
    keys = tokens(app)
    client = app.test_client()
    assert client.get("/ogc/collections", headers=GEO).status_code == 401  # nobody, where login is required
    _, body = get_json(client, "/ogc/collections", **bearer(keys["viewer"]))
    assert "parks" not in [c["id"] for c in body["collections"]]
    for path in ("/ogc/collections/parks", "/ogc/collections/parks/items", "/ogc/collections/parks/queryables",
                 "/ogc/collections/parks/items/parks-huaxiacheng"):
        assert client.get(path, headers={**GEO, **bearer(keys["viewer"])}).status_code == 404, path
    doc = client.get("/ogc/api", headers=bearer(keys["viewer"])).get_json(force=True)
    assert not any("parks" in p for p in doc["paths"])
    _, admin = get_json(client, "/ogc/collections/parks/items", **bearer(keys["admin"]))
    assert admin["numberMatched"] == 2


def test_the_map_page_links_the_service(client):
    page = client.get("/?lang=zh").get_data(as_text=True)
    assert '"ogc": "/ogc/"' in page  # the export panel's link (static/atlas-export.js)
