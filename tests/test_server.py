"""Every endpoint and filter of the JSON API, and every bad-input case, over the small test atlas."""
from __future__ import annotations

import pytest

from server import create_app
from tests.auth_helpers import postgis_copy

LAYERS = ["districts", "zones", "parks", "roads", "projects"]


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def app(request, built_store, tmp_path_factory):
    """The read paths on both backends: the small store itself, or its copy in PostGIS."""
    if request.param == "gpkg":
        yield create_app({"STORE": str(built_store.path), "TESTING": True})
        return
    folder = tmp_path_factory.mktemp("pg-app")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)  # a server store's folders (exports, imports) are under var/ here
        yield create_app({"STORE": postgis_copy(built_store), "TESTING": True,
                          "ACCOUNTS": str(folder / "accounts.sqlite")})


def fc_ids(resp):
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == "application/geo+json"
    return [f["id"] for f in resp.get_json()["features"]]


def test_layers_lists_the_five_with_metadata(client):
    body = client.get("/api/layers").get_json()
    assert [layer["id"] for layer in body["layers"]] == LAYERS
    parks = body["layers"][2]
    assert parks["title"] == {"zh": "公园与景区", "en": "Parks and scenic areas"}
    assert parks["geometry_type"] == "MultiPolygon" and parks["count"] == 2
    assert parks["bbox"] == [122.0581, 37.4397, 122.122, 37.502]
    assert {"name_zh", "source", "accuracy", "area_mu"} <= {f["name"] for f in parks["fields"]}
    assert set(parks["style"]["categories"]) >= {"scenic_area", "urban_park"}


def test_layer_is_geojson_in_wgs84_with_all_properties(client):
    body = client.get("/api/layers/parks").get_json()
    assert body["type"] == "FeatureCollection" and body["numberMatched"] == 2
    hx = next(f for f in body["features"] if f["id"] == "parks-huaxiacheng")
    assert hx["geometry"] == {"type": "MultiPolygon", "coordinates": [[[[122.0581, 37.4397], [122.0681, 37.4397],
                                                                       [122.0681, 37.4477], [122.0581, 37.4477],
                                                                       [122.0581, 37.4397]]]]}
    assert hx["properties"]["figures"][0]["text"] == "3767亩"
    assert hx["properties"]["source"][0]["file"] == "test.txt"
    assert hx["properties"]["accuracy"] == "approximate"


def test_coordinates_are_rounded_to_7_decimals(client):
    body = client.get("/api/features/districts-huancui").get_json()
    xs = [c for ring in body["geometry"]["coordinates"][0] for pt in ring for c in pt]
    assert all(round(c, 7) == c for c in xs)
    assert any(len(repr(c).split(".")[1]) == 7 for c in xs)


def test_measures_are_served(client):
    road = client.get("/api/features/roads-wangdaohenan").get_json()["properties"]
    assert 2.0 < road["length_km"] < 2.6  # two segments of ~1.1 km across Weihai
    zone = client.get("/api/features/zones-likoushan").get_json()["properties"]
    # a 0.01 x 0.01 degree cell at 37.47N: ~0.885 km x ~1.11 km
    assert 0.95e6 < zone["area_m2"] < 1.0e6
    assert zone["area_mu"] == pytest.approx(zone["area_m2"] / (10000 / 15), rel=1e-3)


@pytest.mark.parametrize("query,expected", [
    ("bbox=122.0,37.4,122.1,37.45", ["parks-huaxiacheng"]),
    ("district=371002", ["parks-huaxiacheng", "parks-hostile"]),
    ("district=环翠区", ["parks-huaxiacheng", "parks-hostile"]),
    ("district=环翠", ["parks-huaxiacheng", "parks-hostile"]),
    ("district=Huancui", ["parks-huaxiacheng", "parks-hostile"]),
    ("district=371003", []),
    ("district=威海市", ["parks-huaxiacheng", "parks-hostile"]),
    ("category=scenic_area", ["parks-huaxiacheng"]),
    ("category=scenic_area,urban_park", ["parks-huaxiacheng", "parks-hostile"]),
    ("status=operating", ["parks-huaxiacheng"]),
    ("q=华夏", ["parks-huaxiacheng"]),
    ("q=huaxia", ["parks-huaxiacheng"]),
    ("ids=parks-hostile", ["parks-hostile"]),
    ("limit=1", ["parks-huaxiacheng"]),
    ("limit=1&offset=1", ["parks-hostile"]),
])
def test_layer_filters(client, query, expected):
    assert fc_ids(client.get(f"/api/layers/parks?{query}")) == expected


def test_functional_area_filter(client):
    assert fc_ids(client.get("/api/layers/districts?district=高区")) == ["districts-gaoqu"]


def test_paging_reports_matched_and_returned(client):
    body = client.get("/api/layers/parks?limit=1").get_json()
    assert (body["numberMatched"], body["numberReturned"], body["limit"]) == (2, 1, 1)


def test_simplify_reduces_vertices(client):
    full = client.get("/api/layers/districts?category=district").get_json()["features"][0]
    simple = client.get("/api/layers/districts?category=district&simplify=500").get_json()["features"][0]
    count = lambda g: sum(len(r) for p in g["coordinates"] for r in p)
    assert count(simple["geometry"]) < count(full["geometry"]) / 3


def test_feature_and_search(client):
    f = client.get("/api/features/projects-yuanyao").get_json()
    assert f["properties"]["layer"] == "projects" and f["properties"]["date"] == "2021-11-18"
    found = client.get("/api/search?q=远遥").get_json()
    assert [r["id"] for r in found["features"]] == ["projects-yuanyao"]
    assert found["features"][0]["bbox"] == [122.185, 37.535, 122.185, 37.535]
    both = client.get("/api/search?q=里口山").get_json()
    assert [r["properties"]["layer"] for r in both["features"]] == ["zones"]
    english = client.get("/api/search?q=HUAXIA").get_json()
    assert [r["id"] for r in english["features"]] == ["parks-huaxiacheng"]


@pytest.mark.parametrize("url,parameter,needle", [
    ("/api/layers/parks?bbox=abc", "bbox", "minx,miny,maxx,maxy"),
    ("/api/layers/parks?bbox=1,2,3", "bbox", "minx,miny,maxx,maxy"),
    ("/api/layers/parks?bbox=122.2,37.4,122.1,37.5", "bbox", "minx <= maxx"),
    ("/api/layers/parks?bbox=500000,4100000,510000,4200000", "bbox", "projected"),
    ("/api/layers/parks?bbox=nan,1,2,3", "bbox", "minx,miny,maxx,maxy"),
    ("/api/layers/parks?district=北京", "district", "371002 环翠区"),
    ("/api/layers/parks?category=bridge", "category", "scenic_area"),
    ("/api/layers/parks?status=done", "status", "under_construction"),
    ("/api/layers/parks?limit=0", "limit", "from 1 to 10000"),
    ("/api/layers/parks?limit=10001", "limit", "from 1 to 10000"),
    ("/api/layers/parks?limit=ten", "limit", "whole number"),
    ("/api/layers/parks?offset=-1", "offset", "whole number"),
    ("/api/layers/parks?simplify=x", "simplify", "whole number"),
    ("/api/layers/parks?distirct=371002", "distirct", "accepted: bbox"),
    ("/api/layers/parks?q=" + "长" * 101, "q", "at most 100"),
    ("/api/layers/parks?ids=" + ",".join(f"p{i}" for i in range(10_001)), "ids", "at most 10000"),
    ("/api/search", "q", "q=华夏城"),
    ("/api/search?q=a&limit=1000", "limit", "from 1 to 100"),
])
def test_bad_input_is_a_400_naming_the_parameter(client, url, parameter, needle):
    resp = client.get(url)
    assert resp.status_code == 400
    body = resp.get_json()
    assert set(body) == {"error", "detail", "parameter", "request_id"}
    assert body["error"] == "invalid_parameter" and body["parameter"] == parameter
    assert needle in body["detail"]


@pytest.mark.parametrize("url,needle", [
    ("/api/layers/rivers", "districts, zones, parks, roads, projects"),
    ("/api/features/parks-nope", "parks-nope"),
    ("/api/nothing", "/api/layers"),
])
def test_unknown_things_are_json_404s(client, url, needle):
    resp = client.get(url)
    assert resp.status_code == 404 and resp.is_json
    body = resp.get_json()
    assert body["error"] and needle in body["detail"]


def test_wrong_method_is_a_json_405(client):
    resp = client.post("/api/layers")
    assert resp.status_code == 405 and resp.get_json()["error"] == "method_not_allowed"
    # it says which methods the address takes, and so does its Allow header (RFC 9110)
    assert "it takes GET" in resp.get_json()["detail"] and "GET" in resp.headers["Allow"]


def test_missing_store_is_a_503_that_says_how_to_build(tmp_path):
    from server import create_app

    app = create_app({"STORE": str(tmp_path / "absent.gpkg"), "TESTING": True})
    resp = app.test_client().get("/api/layers")
    assert resp.status_code == 503 and "make build" in resp.get_json()["detail"]


def test_unexpected_errors_are_a_json_500_without_internals(uncached, monkeypatch):
    app = uncached
    import layers.api.features

    monkeypatch.setattr(layers.api.features, "list_layers", lambda store: 1 / 0)
    resp = app.test_client().get("/api/layers", headers={"X-Request-Id": "r-1"})
    assert resp.status_code == 500
    assert resp.get_json() == {"error": "internal_error", "request_id": "r-1",
                               "detail": "an unexpected error occurred; it has been logged with this request's id"}


def test_fields_selects_properties_and_always_keeps_id(client):
    body = client.get("/api/layers/parks?fields=name_zh,category").get_json()
    assert {tuple(f["properties"]) for f in body["features"]} == {("id", "name_zh", "category")}
    assert body["features"][0]["geometry"]["type"] == "MultiPolygon"
    bad = client.get("/api/layers/parks?fields=name_zh,secret")
    assert bad.status_code == 400 and bad.get_json()["parameter"] == "fields"
    assert "name_en" in bad.get_json()["detail"]


def test_large_json_is_gzipped_when_the_client_accepts_it(client):
    import gzip
    import json as _json

    plain = client.get("/api/layers/districts")
    zipped = client.get("/api/layers/districts", headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in zipped.headers["Vary"]
    assert len(zipped.data) < len(plain.data) / 2
    assert _json.loads(gzip.decompress(zipped.data)) == plain.get_json()
    assert "Content-Encoding" not in plain.headers
    small = client.get("/api/features/projects-weiqiao", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in small.headers  # not worth it under 1 KB


@pytest.mark.parametrize("layer,category,expected", [
    ("parks", "scenic_area,innovation", "scenic_area"),
    ("projects", "scenic_area,innovation", "innovation"),
    ("roads", "scenic_area,innovation", None),
    ("synthetic", "anything", "anything"),  # a layer the catalog does not know keeps the filter
])
def test_filters_for_layer_keeps_the_categories_each_layer_has(layer, category, expected):
    from layers.api.params import filters_for_layer
    from layers.catalog import FIELD_NAMES

    out = filters_for_layer(layer, FIELD_NAMES, {"category": category, "district": "371002", "status": None})
    if expected is None:
        assert out is None
    else:
        assert out == {"category": expected, "district": "371002"}


def test_search_puts_exact_names_first(client):
    found = client.get("/api/search?q=环翠区").get_json()["features"]
    assert [f["id"] for f in found] == ["districts-huancui", "zones-gongtongfuyu"]


# -- errors and logs an operator can use -----------------------------------------------------------
def test_a_5xx_body_is_the_public_message_and_the_log_line_with_its_id_has_the_detail(uncached, monkeypatch, caplog):
    app = uncached
    import layers.api.features
    from geo.errors import StoreError

    def broken(store):
        raise StoreError("the atlas's data store cannot be read just now",
                         internal="reading /srv/secret/atlas.gpkg: sqlite3.DatabaseError: file is not a database")

    monkeypatch.setattr(layers.api.features, "list_layers", broken)
    client = app.test_client()
    with caplog.at_level("INFO", logger="atlas"):
        resp = client.get("/api/layers", headers={"X-Request-Id": "req-12345"})
        page = client.get("/")
    body = resp.get_json()
    assert resp.status_code == 503 and resp.headers["X-Request-Id"] == "req-12345"
    assert body["request_id"] == "req-12345" and "secret" not in resp.get_data(as_text=True)
    assert "sqlite3" not in resp.get_data(as_text=True) and "/srv" not in page.get_data(as_text=True)
    logged = [r.getMessage() for r in caplog.records if "req-12345" in r.getMessage()]
    assert any("/srv/secret/atlas.gpkg" in m for m in logged)  # the detail, with the request's id
    assert any(m.startswith("GET /api/layers 503") for m in logged)  # the access line


def test_every_request_has_an_id_and_one_access_line(client, caplog):
    with caplog.at_level("INFO", logger="atlas.access"):
        resp = client.get("/api/layers/parks?limit=1", headers={"X-Request-Id": "bad id with spaces"})
    rid = resp.headers["X-Request-Id"]
    assert rid != "bad id with spaces" and len(rid) == 16  # an unusable id is replaced
    lines = [r.getMessage() for r in caplog.records if r.name == "atlas.access"]
    assert len(lines) == 1 and lines[0].startswith("GET /api/layers/parks?limit=1 200 ") and f"id={rid}" in lines[0]


def test_an_unexpected_error_logs_the_traceback_with_the_request_id(uncached, monkeypatch, caplog):
    app = uncached
    import layers.api.features

    monkeypatch.setattr(layers.api.features, "search", lambda store, args: {}["boom"])
    with caplog.at_level("ERROR", logger="atlas"):
        resp = app.test_client().get("/api/search?q=x", headers={"X-Request-Id": "r-boom"})
    assert resp.status_code == 500 and "KeyError" not in resp.get_data(as_text=True)
    record = next(r for r in caplog.records if "r-boom" in r.getMessage())
    assert record.exc_info and record.exc_info[0] is KeyError


def test_a_store_file_that_is_not_a_geopackage_is_a_503_naming_no_path(tmp_path):
    from server import create_app

    path = tmp_path / "atlas.gpkg"
    path.write_bytes(b"not a database " * 200)
    client = create_app({"STORE": str(path), "TESTING": True}).test_client()
    resp = client.get("/api/layers")
    assert resp.status_code == 503 and str(tmp_path) not in resp.get_data(as_text=True)
    assert resp.get_json()["error"] == "store_unavailable"


def test_the_app_under_a_sub_path_behind_a_proxy(built_store):
    """ATLAS_PROXY_FIX=1 and nginx's X-Forwarded-Prefix: every URL in the page starts with the prefix."""
    import re

    from server import create_app

    app = create_app({"STORE": str(built_store.path), "TESTING": True, "PROXY_FIX": 1})
    html = app.test_client().get("/", headers={"X-Forwarded-Prefix": "/atlas"}).get_data(as_text=True)
    urls = re.findall(r'(?:src|href)="(/[^"]*)"', html) + re.findall(r'"(?:api|standalone)": "([^"]*)"', html)
    assert urls and all(u.startswith("/atlas/") for u in urls), urls


# -- exports as jobs ------------------------------------------------------------------------------
def test_an_export_job_runs_and_its_file_downloads(built_store, tmp_path):
    import shutil
    import time

    from server import create_app

    store = tmp_path / "atlas.gpkg"
    shutil.copy(built_store.path, store)
    client = create_app({"STORE": str(store), "TESTING": True, "EXPORT_DIRECT_MAX": 1}).test_client()
    too_big = client.get("/api/export?layers=parks&format=gpkg")
    assert too_big.status_code == 413 and "POST /api/exports" in too_big.get_json()["detail"]
    started = client.post("/api/exports", json={"layers": "parks,roads", "format": "gpkg", "district": "371002"})
    assert started.status_code == 202, started.get_json()
    job = started.get_json()
    assert started.headers["Location"] == job["url"] == f"/api/exports/{job['id']}"
    deadline = time.time() + 30
    while job["state"] == "running" and time.time() < deadline:
        time.sleep(0.05)
        job = client.get(job["url"]).get_json()
    assert job["state"] == "done" and job["download"] == f"/api/exports/{job['id']}/file"
    assert job["counts"] == {"parks": 2, "roads": 1}
    with client.get(job["download"]) as resp:
        assert resp.status_code == 200 and resp.data[:16] == b"SQLite format 3\x00"
        assert "filename*=UTF-8''" in resp.headers["Content-Disposition"]
    assert (tmp_path / "exports" / job["id"]).is_dir()  # job files live beside the store


@pytest.mark.parametrize("kwargs,status", [
    ({"data": "layers=parks", "content_type": "application/x-www-form-urlencoded"}, 415),  # a cross-site form
    ({"json": ["parks"]}, 400),
    ({"json": {"layers": "lakes"}}, 400),
])
def test_a_job_needs_a_json_object_of_good_parameters(client, kwargs, status):
    resp = client.post("/api/exports", **kwargs)
    assert resp.status_code == status and resp.get_json()["detail"]


def test_unknown_jobs_are_404(client):
    assert client.get("/api/exports/..%2F..%2Fetc").status_code == 404
    assert client.get("/api/exports/AAAAAAAAAAAAAAAA/file").status_code == 404


# -- repeated views -----------------------------------------------------------------------------------
def test_a_repeated_view_is_a_304_and_a_changed_store_never_is(built_store, tmp_path):
    import shutil

    from layers import build as builder
    from server import create_app
    from tests.conftest import small_sources, write_sources

    store_path = tmp_path / "atlas.gpkg"
    shutil.copy(built_store.path, store_path)
    client = create_app({"STORE": str(store_path), "TESTING": True}).test_client()
    url = "/api/layers/parks?limit=5"
    first = client.get(url)
    tag = first.headers["ETag"]
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-cache"
    again = client.get(url, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == tag
    assert client.get(url).get_json() == first.get_json()  # from the cache, the same answer
    # the store changes (a rebuild with one park renamed): the old tag is stale and the new answer fresh
    sources = small_sources()
    sources["parks"][0]["properties"]["name_zh"] = "华夏城（新）"
    builder.build(builder.open_store(store_path, key="id"), write_sources(tmp_path / "src", sources))
    stale = client.get(url, headers={"If-None-Match": tag})
    assert stale.status_code == 200 and stale.headers["ETag"] != tag
    assert stale.get_json()["features"][0]["properties"]["name_zh"] == "华夏城（新）"


def test_answers_come_in_the_coding_the_client_prefers(client):
    import gzip

    import zstandard

    url = "/api/layers/projects"
    plain = client.get(url)
    z = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
    gz = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in plain.headers
    assert z.headers["Content-Encoding"] == "zstd" and gz.headers["Content-Encoding"] == "gzip"
    assert zstandard.ZstdDecompressor().decompress(z.data) == plain.data == gzip.decompress(gz.data)
    assert len({plain.headers["ETag"], z.headers["ETag"], gz.headers["ETag"]}) == 3
    assert "Accept-Encoding" in z.headers["Vary"]


def test_errors_are_never_tagged_or_cached(client):
    bad = client.get("/api/layers/parks?limit=0")
    assert bad.status_code == 400 and "ETag" not in bad.headers
    assert client.get("/api/layers/parks?limit=0", headers={"If-None-Match": "*"}).status_code == 400
