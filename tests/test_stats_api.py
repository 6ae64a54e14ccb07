"""GET /api/stats and ``flask --app server stats``: the same numbers as the core for the same
filters (one test over a table of cases and surfaces, acceptance 2 of issue 11), the JSON answer,
CSV with its BOM, XLSX that keeps formulas as text, permissions and refusals."""
from __future__ import annotations

import csv
import io
import json
import zipfile

import openpyxl
import pytest

from layers.analysis.stats import statistics
from tests.auth_helpers import add_users, bearer, make_app, tokens
from tests.layers.stats_atlas import HYPERLINK, box, make_store, to_wgs

BBOX = ",".join(f"{v:.7f}" for v in to_wgs(box(0, 0, 1400, 1500)).bounds)
CLI_OPTIONS = {"as_of": "--as-of"}


@pytest.fixture(scope="module")
def stats_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stats-api")
    store = make_store(folder / "atlas.gpkg")
    app = make_app(None, folder)
    return app, store


@pytest.fixture()
def api(stats_app):
    return stats_app[0].test_client()


# -- one table of cases, every surface -----------------------------------------------------------
def core_numbers(app, store, case):
    filters = {k: v for k, v in case.items() if k not in ("layer", "group", "by")}
    return statistics(store, case["layer"], filters, group=case.get("group", "district,status"),
                      by=case.get("by", "field"))


def api_numbers(app, store, case):
    response = app.test_client().get("/api/stats", query_string=case)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def cli_numbers(app, store, case):
    argv = ["stats", "--format", "json"]
    for key, value in case.items():
        argv += [CLI_OPTIONS.get(key, f"--{key}"), value]
    done = app.test_cli_runner().invoke(args=argv)
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


#: Each surface answers a case with the answer as JSON. The page's statistics panel is the third
#: surface: tests/browser/test_stats_panel.py walks these CASES through the panel in Chromium (the
#: case's filters set with the page's own controls, its selection, its view) and compares the numbers
#: the panel shows with the core and with every surface here.
SURFACES = {"api": api_numbers, "cli": cli_numbers}

CASES = [
    {"layer": "plots", "group": "district,status", "by": "geometry"},
    {"layer": "plots", "group": "district", "by": "field", "status": "planned"},
    {"layer": "plots", "group": "category,year", "district": "环翠区"},
    {"layer": "plots", "group": "district", "by": "geometry", "category": "工业用地",
     "status": "under_construction,operating"},
    {"layer": "lines", "group": "district,status", "by": "geometry", "bbox": BBOX},
    {"layer": "spots", "group": "status", "ids": "spot-1,spot-4"},
    {"layer": "spots", "group": "district", "by": "geometry", "q": "点"},
    {"layer": "lines", "group": "status,district", "by": "geometry", "district": "371002"},
    {"layer": "spots", "group": "district,status", "by": "geometry", "status": "planned"},
]
COMPARED = ("layer", "group", "by", "rule", "filters", "dimensions", "groups", "subtotals", "totals")


@pytest.mark.parametrize("case", CASES, ids=lambda c: "&".join(f"{k}={v}" for k, v in c.items())[:60])
def test_api_cli_and_core_give_the_same_numbers(stats_app, case):
    app, store = stats_app
    expected = core_numbers(app, store, case)
    assert expected["totals"]["count"] > 0  # every case selects something
    for name, surface in SURFACES.items():
        got = surface(app, store, case)
        assert {k: got[k] for k in COMPARED} == {k: expected[k] for k in COMPARED}, name


# -- the JSON answer -----------------------------------------------------------------------------
def test_json_answer(api):
    body = api.get("/api/stats", query_string={"layer": "plots", "group": "district,status", "by": "geometry",
                                                "status": "planned,completed"}).get_json()
    assert body["group"] == ["district", "status"] and body["by"] == "geometry"
    assert set(body["rule"]) == {"id", "zh", "en"}
    assert body["filters"] == {"status": ["planned", "completed"]}
    first = body["groups"][0]
    assert first["key"] == {"district": "371002", "status": "planned"}
    assert first["label"] == {"district": {"zh": "环翠区", "en": "Huancui District"},
                              "status": {"zh": "规划", "en": "planned"}}
    assert first["values"] == {"count": 2, "area_m2": 115_000.0, "area_ha": 11.5, "area_mu": 172.5,
                               "area_km2": 0.115, "length_km": 0.0}
    assert [m["name"] for m in body["measures"]] == ["count", "area_m2", "area_ha", "area_mu", "area_km2", "length_km"]
    assert body["totals"]["count"] == 3 and body["totals"]["area_mu"] == 562.5  # plots 1, 2, 3 whole
    assert set(body["subtotals"]) == {"district", "status"}


# -- files ---------------------------------------------------------------------------------------
def test_csv_has_a_bom_and_the_json_numbers(api):
    query = {"layer": "plots", "group": "district", "by": "geometry"}
    numbers = api.get("/api/stats", query_string=query).get_json()
    for lang, header in (("zh", ["行政区", "数量(个)", "面积(平方米)", "面积(公顷)", "面积(亩)", "面积(平方千米)", "长度(千米)"]),
                         ("en", ["District", "Count", "Area (m²)", "Area (ha)", "Area (mu)", "Area (km²)", "Length (km)"])):
        response = api.get("/api/stats", query_string={**query, "format": "csv", "lang": lang})
        assert response.status_code == 200 and response.mimetype == "text/csv"
        assert response.data.startswith(b"\xef\xbb\xbf")
        assert 'filename="weihai-atlas_stats_plots_district_by-geometry.csv"' in response.headers["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
        assert rows[0] == header
        table = [[float(v) for v in row[1:]] for row in rows[1:]]
        wanted = [list(g["values"].values()) for g in numbers["groups"]] + [list(numbers["totals"].values())]
        assert table == wanted
    assert rows[-2][0] == "outside every district" and rows[-1][0] == "Total"


def test_xlsx_keeps_a_formula_as_text(api):
    response = api.get("/api/stats", query_string={"layer": "plots", "group": "category", "format": "xlsx"})
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    sheet = book["统计 statistics"]
    cells = [c for row in sheet.iter_rows() for c in row]
    link = [c for c in cells if c.value == HYPERLINK]
    assert len(link) == 1 and link[0].data_type == "s"
    assert not any(c.data_type == "f" for c in cells)
    with zipfile.ZipFile(io.BytesIO(response.data)) as z:
        assert not any("<f>" in z.read(n).decode("utf-8") for n in z.namelist() if n.startswith("xl/worksheets/"))
    header = [c.value for c in sheet[1]]
    assert header[0] == "类别" and header[4] == "面积(亩)"
    totals = [c.value for c in sheet[sheet.max_row]]
    assert totals[0] == "合计" and totals[1] == 6 and totals[4] == 622.5  # numbers stay numbers
    readme = [r[0].value for r in book["说明 README"].iter_rows()]
    assert readme[0] == "plots (plots)" and readme[2].startswith("不按行政区分组") and "10000/15" in readme[-1]


# -- permissions and refusals --------------------------------------------------------------------
def test_a_hidden_layer_is_404_for_a_viewer(tmp_path):
    make_store(tmp_path / "atlas.gpkg")
    app = make_app(None, tmp_path)
    add_users(app)
    keys = tokens(app)
    app.extensions["atlas_accounts"].set_hidden("plots", True, by="test")
    client = app.test_client()
    query = {"layer": "plots", "group": "district"}
    for who in (bearer(keys["viewer"]), {}):
        response = client.get("/api/stats", query_string=query, headers=who)
        assert response.status_code == 404 and response.get_json()["parameter"] == "layer"
        assert "plots" not in response.get_json()["detail"].split(";")[1]  # not among the layers listed
        assert client.get("/api/layers/plots", headers=who).status_code == 404  # as for the features
    assert client.get("/api/stats", query_string=query, headers=bearer(keys["admin"])).status_code == 200
    # the district polygons hidden: by=geometry is refused, by=field still answers
    app.extensions["atlas_accounts"].set_hidden("districts", True, by="test")
    refused = client.get("/api/stats", query_string={"layer": "lines", "group": "district", "by": "geometry"},
                         headers=bearer(keys["viewer"]))
    assert refused.status_code == 400 and refused.get_json()["parameter"] == "by"
    assert client.get("/api/stats", query_string={"layer": "lines", "group": "district"},
                      headers=bearer(keys["viewer"])).status_code == 200


@pytest.mark.parametrize("query, parameter, says", [
    ({"group": "district"}, "layer", "layer is required"),
    ({"layer": "plots", "group": "owner"}, "group", "district, category, status, year"),
    ({"layer": "plots", "group": "district,status,year"}, "group", "one or two"),
    ({"layer": "plots", "by": "area"}, "by", "field"),
    ({"layer": "plots", "format": "pdf"}, "format", "json, csv, xlsx"),
    ({"layer": "plots", "lang": "fr"}, "lang", "zh, en"),
    ({"layer": "plots", "limit": "10"}, "limit", "accepted: layer, group, by"),
    ({"layer": "plots", "district": "北京"}, "district", "371002"),
])
def test_bad_parameters_are_400_naming_them(api, query, parameter, says):
    response = api.get("/api/stats", query_string=query)
    body = response.get_json()
    assert response.status_code == 400 and body["parameter"] == parameter and says in body["detail"]


def test_unknown_layer_is_404(api):
    assert api.get("/api/stats?layer=nope").status_code == 404


# -- the command line ----------------------------------------------------------------------------
def test_cli_table_csv_and_xlsx(stats_app, tmp_path):
    app, _ = stats_app
    runner = app.test_cli_runner()
    table = runner.invoke(args=["stats", "--layer", "plots", "--group", "district", "--by", "geometry"])
    assert table.exit_code == 0 and "区外" in table.stdout and "622.50" in table.stdout
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["行政区", "数量(个)", "面积(平方米)", "面积(公顷)", "面积(亩)", "面积(平方千米)", "长度(千米)"]
    assert lines[2].split() == ["环翠区", "3", "265000.00", "26.5000", "397.50", "0.265000", "0.000"]
    out = tmp_path / "统计.csv"
    done = runner.invoke(args=["stats", "--layer", "plots", "--group", "district", "--format", "csv", "-o", str(out)])
    assert done.exit_code == 0 and out.read_bytes().startswith(b"\xef\xbb\xbf")
    assert out.read_bytes() == app.test_client().get(
        "/api/stats", query_string={"layer": "plots", "group": "district", "format": "csv"}).data
    sheet = tmp_path / "统计.xlsx"
    assert runner.invoke(args=["stats", "--layer", "plots", "--format", "xlsx", "-o", str(sheet)]).exit_code == 0
    assert openpyxl.load_workbook(sheet)["统计 statistics"]["A1"].value == "行政区"
    bad = runner.invoke(args=["stats", "--layer", "plots", "--group", "owner"])
    assert bad.exit_code == 2 and "group takes one or two" in bad.output
    assert runner.invoke(args=["stats", "--layer", "plots", "--format", "html"]).exit_code == 2


def test_a_table_cell_a_spreadsheet_would_run_stays_text():
    """Names from planners' data reach the analyses' CSVs: a cell starting with = + - @ is
    prefixed with ' (a number such as -40.0 is left as it is)."""
    from layers.analysis.tables import csv_bytes

    text = csv_bytes(["名称", "变化"], [['=HYPERLINK("http://x","点")', "-40.0"], ["@SUM(A1)", -3.5]]).decode("utf-8-sig")
    assert text.splitlines() == ["名称,变化", "\"'=HYPERLINK(\"\"http://x\"\",\"\"点\"\")\",-40.0", "'@SUM(A1),-3.5"]
