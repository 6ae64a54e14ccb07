"""POST /api/query and GET /api/overlay, and flask query/overlay: the core's numbers on the test atlas
of tests/layers/spatial_atlas.py, GeoJSON and CSV (with its BOM), hidden layers 404, bad input 400
naming the parameter, CSRF with the session cookie."""
from __future__ import annotations

import csv
import io
import json

import pytest

from layers.analysis.overlay import overlay
from layers.analysis.spatial import region, within
from tests.auth_helpers import add_users, bearer, csrf, login, make_app, tokens
from tests.layers.spatial_atlas import make_store

QUERY = {"layers": ["works", "ways"], "feature": {"layer": "zoning", "id": "Z1"}, "distance_m": 0}


@pytest.fixture(scope="module")
def spatial_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spatial-api")
    store = make_store(folder / "atlas.gpkg")
    return make_app(None, folder), store


@pytest.fixture()
def api(spatial_app):
    return spatial_app[0].test_client()


def test_query_answers_the_core_numbers(spatial_app, api):
    app, store = spatial_app
    expected = within(store, ["works", "ways"], region(store, feature=("zoning", "Z1")))
    got = api.post("/api/query", json=QUERY)
    assert got.status_code == 200, got.get_data(as_text=True)
    assert got.get_json() == json.loads(json.dumps(expected))
    works = got.get_json()["layers"]["works"]
    assert {f["id"]: f["inside"]["area_mu"] for f in works["features"]} == {
        "W1": 750.0, "W2": 750.0, "W4": 30.0}  # W3 only touches Z1
    assert got.get_json()["region"]["properties"]["area_m2"] == 1_000_000.0


def test_overlay_answers_the_core_numbers(spatial_app, api):
    app, store = spatial_app
    got = api.get("/api/overlay", query_string={"left": "works", "right": "zoning"})
    assert got.status_code == 200
    assert got.get_json() == json.loads(json.dumps(overlay(store, "works", "zoning")))
    covered = {c["right"]["id"]: c["share"] for c in got.get_json()["covered"]}
    assert covered["Z2"] == 0.5 and covered["Z1"] == 0.77
    only = api.get("/api/overlay", query_string={"left": "works", "right": "zoning", "left_ids": "W4"}).get_json()
    assert [(p["right"]["id"], p["area_mu"]) for p in only["pairs"]] == [("Z1", 30.0), ("Z2", 45.0)]


def test_csv_has_a_bom_and_geojson_the_region(api):
    out = api.get("/api/overlay", query_string={"left": "works", "right": "zoning", "format": "csv", "table": "covered"})
    assert out.status_code == 200 and out.mimetype == "text/csv" and out.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(out.data.decode("utf-8-sig"))))
    assert rows[0][0] == "编号" and rows[1][:2] == ["Z1", "一号区"] and rows[1][-1] == "77.00"
    assert "overlay_works_zoning_covered.csv" in out.headers["Content-Disposition"]
    pairs = api.get("/api/overlay", query_string={"left": "works", "right": "zoning", "format": "csv", "lang": "en"})
    table = list(csv.reader(io.StringIO(pairs.data.decode("utf-8-sig"))))
    assert table[0][0] == "ID" and ["W4", "W4", "Z2", "Z2", "30000.00", "45.00", "0.000", "60.00"] in table  # name_en
    found = api.post("/api/query", json={**QUERY, "format": "csv"})
    assert found.data.startswith(b"\xef\xbb\xbf") and "区内面积(亩)" in found.data.decode("utf-8-sig")
    shapes = api.post("/api/query", json={**QUERY, "format": "geojson"})
    body = json.loads(shapes.data)
    assert shapes.mimetype == "application/geo+json" and body["type"] == "FeatureCollection"
    assert body["features"][0]["properties"]["kind"] == "region"
    assert {f["id"] for f in body["features"][1:]} == {"W1", "W2", "W4", "L1"}
    crossed = api.get("/api/overlay", query_string={"left": "works", "right": "zoning", "format": "geojson"})
    kinds = [f["properties"]["kind"] for f in json.loads(crossed.data)["features"]]
    assert kinds.count("pair") == 7 and kinds.count("outside") == 2


def test_hidden_layers_are_404(tmp_path):
    make_store(tmp_path / "atlas.gpkg")
    app = make_app(None, tmp_path)
    add_users(app)
    keys = tokens(app)
    app.extensions["atlas_accounts"].set_hidden("zoning", True, by="test")
    client = app.test_client()
    for who in (bearer(keys["viewer"]), {}):
        assert client.get("/api/overlay?left=works&right=zoning", headers=who).status_code == 404
        refused = client.post("/api/query", json=QUERY, headers=who)  # the region's feature is in zoning
        assert refused.status_code == 404 and refused.get_json()["parameter"] == "layer"
        listed = client.post("/api/query", json={"layers": ["zoning"], "feature": {"layer": "spots", "id": "P1"},
                                                 "distance_m": 100}, headers=who)
        assert listed.status_code == 404 and listed.get_json()["parameter"] == "layers"
    assert client.get("/api/overlay?left=works&right=zoning", headers=bearer(keys["admin"])).status_code == 200


def test_a_post_with_the_session_cookie_needs_the_csrf_token(tmp_path):
    make_store(tmp_path / "atlas.gpkg")
    app = make_app(None, tmp_path)
    add_users(app)
    client = app.test_client()
    assert login(client, "viewer").status_code == 200
    assert client.post("/api/query", json=QUERY).status_code == 400  # no X-CSRFToken: refused
    assert client.post("/api/query", json=QUERY, headers={"X-CSRFToken": csrf(client)}).status_code == 200


@pytest.mark.parametrize("body, parameter", [
    ({**QUERY, "feature": None, "polygon": {"type": "LineString", "coordinates": [[122.1, 37.5], [122.2, 37.5]]}},
     "polygon"),
    ({"layers": ["works"], "polygon": {"type": "Polygon", "coordinates": [[[200, 37], [201, 37], [201, 38]]]}},
     "polygon"),
    ({"layers": ["works"], "polygon": {"type": "Polygon",
                                       "coordinates": [[[122.1 + i * 1e-6, 37.5] for i in range(10_001)]]}}, "polygon"),
    ({**QUERY, "distance_m": -5}, "distance_m"),
    ({**QUERY, "distance_m": 60_000}, "distance_m"),
    ({**QUERY, "predicate": "touches"}, "predicate"),
    ({**QUERY, "layers": []}, "layers"),
    ({**QUERY, "bbox": "1,2,3,4"}, "bbox"),
    ({**QUERY, "format": "pdf"}, "format"),
    ({**QUERY, "feature": {"layer": "zoning"}}, "feature"),
])
def test_bad_query_input_is_400_naming_it(api, body, parameter):
    response = api.post("/api/query", json=body)
    assert response.status_code == 400 and response.get_json()["parameter"] == parameter, response.get_json()


@pytest.mark.parametrize("query, status, parameter", [
    ({"right": "zoning"}, 400, "left"),
    ({"left": "works", "right": "spots"}, 400, "right"),
    ({"left": "works", "right": "zoning", "table": "all"}, 400, "table"),
    ({"left": "works", "right": "zoning", "limit": "5"}, 400, "limit"),
    ({"left": "nope", "right": "zoning"}, 404, "left"),
])
def test_bad_overlay_input_names_it(api, query, status, parameter):
    response = api.get("/api/overlay", query_string=query)
    assert response.status_code == status and response.get_json()["parameter"] == parameter


def test_query_needs_a_json_body(api):
    assert api.post("/api/query", data="layers=works").status_code == 415


def test_commands(spatial_app):
    app, store = spatial_app
    runner = app.test_cli_runner()
    table = runner.invoke(args=["overlay", "--left", "works", "--right", "zoning"])
    assert table.exit_code == 0 and "77.00" in table.stdout and "洞里" in table.stdout
    data = json.loads(runner.invoke(args=["overlay", "--left", "works", "--right", "zoning", "--format", "json"]).stdout)
    assert data == json.loads(json.dumps(overlay(store, "works", "zoning")))
    found = runner.invoke(args=["query", "--layers", "works", "--feature", "spots:P1", "--distance", "100",
                                "--format", "json"])
    assert found.exit_code == 0, found.output
    expected = within(store, ["works"], region(store, feature=("spots", "P1"), distance_m=100))
    assert json.loads(found.stdout) == json.loads(json.dumps(expected))
    bad = runner.invoke(args=["query", "--layers", "works", "--feature", "spots:P1", "--distance", "-1"])
    assert bad.exit_code == 2 and "distance_m" in bad.output


def test_an_overlay_too_big_for_the_web_is_refused_before_anything_is_read(spatial_app, tmp_path):
    """ATLAS_OVERLAY_MAX: a side selecting more features is a 400 naming that side and how to
    narrow it (its filters) or where to run it whole (the command line, which has no limit)."""
    import shutil

    _, store = spatial_app
    (tmp_path / "small-limit").mkdir()
    shutil.copy(store.path, tmp_path / "small-limit" / "atlas.gpkg")
    app = make_app(None, tmp_path / "small-limit", OVERLAY_MAX=5)
    client = app.test_client()
    refused = client.get("/api/overlay", query_string={"left": "works", "right": "zoning"})
    body = refused.get_json()
    assert refused.status_code == 400 and body["parameter"] == "left"
    assert "more than 5 features" in body["detail"] and "left_district" in body["detail"]
    assert "flask --app server overlay" in body["detail"]
    assert client.get("/api/overlay", query_string={"left": "zoning", "right": "zoning"}).status_code == 200
    from layers.analysis import spatial_answer

    whole = spatial_answer.overlay_request(store, {"left": "works", "right": "zoning"}, at_most=None)[3]
    assert whole["totals"]["left_count"] == 8


def test_a_json_query_with_geometry_carries_each_part_inside(spatial_app, api):
    """geometry: true (the page's one request): the JSON answer's features carry the part inside,
    the same shapes as format=geojson gives; without it, none."""
    body = {"layers": ["works"], "feature": {"layer": "zoning", "id": "Z1"}}
    plain = api.post("/api/query", json=body).get_json()
    assert all("geometry" not in f for f in plain["layers"]["works"]["features"])
    shaped = api.post("/api/query", json={**body, "geometry": True}).get_json()
    fc = api.post("/api/query", json={**body, "format": "geojson"}).get_json()
    by_id = {f["id"]: f["geometry"] for f in fc["features"] if f["properties"]["kind"] == "inside"}
    assert {f["id"]: f["geometry"] for f in shaped["layers"]["works"]["features"]} == by_id and by_id
    bad = api.post("/api/query", json={**body, "geometry": "yes"})
    assert bad.status_code == 400 and bad.get_json()["parameter"] == "geometry"
