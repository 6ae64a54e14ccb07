"""GET /api/indicators[/<id>] and ``flask --app server indicator``: the same numbers as the core,
CSV with its BOM, hidden input layers, refusals naming the parameter."""
from __future__ import annotations

import json

import pytest

from layers.analysis import indicators
from tests.auth_helpers import make_app
from tests.layers.indicators_atlas import make_store

CASES = [
    ("park_coverage", {"layer": "greens", "category": "half"}),
    ("park_coverage", {"layer": "greens", "category": "strip", "radius_large": "400"}),
    ("park_coverage", {"layer": "greens", "category": "point", "base_layer": "homes", "base_category": "居住用地"}),
    ("life_circle", {"layer": "shops", "category": "", "detour": "1.3"}),
    ("land_figures", {"layer": "lots"}),
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("indicators-api")
    store = make_store(folder / "atlas.gpkg")
    return make_app(None, folder), store


@pytest.fixture()
def api(setup):
    return setup[0].test_client()


def numbers(result):
    return [(r["district"], r["value"], r["level"], r["measures"]) for r in [*result["districts"], result["city"]]]


def test_the_registry(api):
    body = api.get("/api/indicators").get_json()
    assert [i["id"] for i in body["indicators"]] == ["park_coverage", "life_circle", "land_figures"]
    assert body["indicators"][0]["standards"][0]["code"] == "GB/T 50563-2010"


@pytest.mark.parametrize("indicator_id, args", CASES, ids=[f"{i}-{n}" for n, (i, _) in enumerate(CASES)])
def test_api_and_cli_give_the_core_numbers(setup, indicator_id, args):
    app, store = setup
    core = indicators.compute(store, indicator_id, args)
    response = app.test_client().get(f"/api/indicators/{indicator_id}", query_string=args)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert numbers(body) == numbers(core) and body["params"] == core["params"] and body["base"] == core["base"]
    argv = ["indicator", indicator_id, "--format", "json"]
    for key, value in args.items():
        argv += ["--param", f"{key}={value}"]
    done = app.test_cli_runner().invoke(args=argv)
    assert done.exit_code == 0, done.output
    assert numbers(json.loads(done.stdout)) == numbers(core)


def test_the_known_answer_through_the_api(api):
    body = api.get("/api/indicators/park_coverage", query_string={"layer": "greens", "category": "half"}).get_json()
    assert {r["district"]: r["value"] for r in body["districts"]}["371002"] == 50.0
    assert body["city"]["value"] == 36.36


def test_csv_export_has_a_bom_and_a_filename(api):
    response = api.get("/api/indicators/park_coverage",
                       query_string={"layer": "greens", "category": "half", "format": "csv", "lang": "en"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.data.startswith(b"\xef\xbb\xbf")
    text = response.data.decode("utf-8-sig").splitlines()
    assert text[0].startswith("District,Park green-space service-radius coverage(%),Level")
    assert text[1].startswith("Huancui District,50.0,")
    assert "weihai-atlas_indicator_park_coverage.csv" in response.headers["Content-Disposition"]


def test_cli_table_and_bad_param(setup):
    app, _ = setup
    done = app.test_cli_runner().invoke(args=["indicator", "park_coverage", "--param", "layer=greens",
                                              "--param", "category=half"])
    assert done.exit_code == 0 and "环翠区" in done.stdout and "50.0" in done.stdout
    bad = app.test_cli_runner().invoke(args=["indicator", "park_coverage", "--param", "radius_large=far"])
    assert bad.exit_code == 2 and "radius_large" in bad.output
    assert app.test_cli_runner().invoke(args=["indicator", "park_coverage", "--param", "oops"]).exit_code == 2


@pytest.mark.parametrize("query, parameter", [
    ({"radius_large": "far"}, "radius_large"),
    ({"radius": "500"}, "radius"),
    ({"format": "xlsx"}, "format"),
    ({"lang": "fr"}, "lang"),
    ({"as_of": "yesterday"}, "as_of"),
])
def test_bad_parameters_are_400_naming_them(api, query, parameter):
    response = api.get("/api/indicators/park_coverage", query_string={"layer": "greens", **query})
    assert response.status_code == 400 and response.get_json()["parameter"] == parameter


def test_unknown_indicator_is_404(api):
    assert api.get("/api/indicators/nope").status_code == 404


def test_hidden_input_layers(tmp_path):
    make_store(tmp_path / "atlas.gpkg")
    app = make_app(None, tmp_path)
    book = app.extensions["atlas_accounts"]
    client = app.test_client()
    book.set_hidden("greens", True, by="test")
    hidden = client.get("/api/indicators/park_coverage", query_string={"layer": "greens"})
    assert hidden.status_code == 404 and hidden.get_json()["parameter"] == "layer"
    book.set_hidden("greens", False, by="test")
    book.set_hidden("districts", True, by="test")
    refused = client.get("/api/indicators/park_coverage", query_string={"layer": "greens"})
    assert refused.status_code == 400 and "districts" in refused.get_json()["detail"]
