"""GET /api/layers/<id>/rows over HTTP (the Flask test client, a real store): keyset paging that
never repeats or drops a row while rows are edited between pages, the per-field filters and totals
against pandas, the opaque cursor, bad parameters naming themselves, hidden layers, and the export
taking the table's filters and order."""
from __future__ import annotations

import base64
import io
import json
import shutil

import geopandas as gpd
import pytest
import shapely

from bench.synthetic import zone_polygons
from geo.store import open_store
from layers import build as builder
from server import create_app
from tests.auth_helpers import add_users, bearer, tokens
from tests.conftest import write_sources

N = 300
LAYER = "synthetic_zones"


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    folder = tmp_path_factory.mktemp("table-api")
    layers = builder.build_all(write_sources(folder / "sources"))
    store = open_store(folder / "atlas.gpkg", key="id")
    builder.write(store, {**layers, LAYER: zone_polygons(N, seed=5)})
    return store.path


@pytest.fixture()
def app(source, tmp_path):
    path = tmp_path / "atlas.gpkg"
    shutil.copy(source, path)
    return create_app({"STORE": str(path), "TESTING": True})


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def store(app):
    return app.extensions["atlas_store"]


def get(client, query: str, status: int = 200, layer: str = LAYER):
    answer = client.get(f"/api/layers/{layer}/rows?{query}")
    assert answer.status_code == status, answer.get_json()
    return answer.get_json()


def frame():
    return zone_polygons(N, seed=5)


def sorted_ids(f, field, descending):
    """pandas' order with the API's rule: NULL the smallest, ties by the key in the same direction."""
    f = f.assign(_null=f[field].notna().astype(int), _v=f[field].astype(object).where(f[field].notna(), 0).astype(float))
    return list(f.sort_values(["_null", "_v", "id"], ascending=not descending, kind="mergesort")["id"])


def test_rows_are_sorted_filtered_and_totalled_like_pandas(client):
    page = get(client, "sort=-year&limit=1000&category=common_prosperity,eco_demonstration&area_mu_min=1&area_mu_max=200"
                       "&date_min=2015&name_zh_contains=1")
    f = frame()
    f = f[f.category.isin(["common_prosperity", "eco_demonstration"]) & (f.area_mu >= 1) & (f.area_mu <= 200)
          & f.date.notna() & (f.date.astype(object).fillna("") >= "2015-01-01") & f.name_zh.str.contains("1")]
    assert [r["id"] for r in page["rows"]] == sorted_ids(f, "year", True) and len(f) > 10
    assert page["numberMatched"] == len(f) and page["next"] is None and page["sort"] == "-year,-id"
    assert page["totals"]["area_mu"] == pytest.approx(f.area_mu.sum())
    assert page["totals"]["area_ha"] == pytest.approx(f.area_ha.sum())
    assert set(page["totals"]) == {"area_m2", "area_ha", "area_mu", "length_km"}
    row = page["rows"][0]
    assert "geometry" not in row and set(row) == {"id", "bbox", "properties"}
    geom = f.set_index("id").geometry[row["id"]]
    assert row["bbox"] == pytest.approx(list(geom.bounds), abs=2e-5)


def test_the_view_the_pick_lists_and_the_atlas_filters_narrow_the_table(client):
    bbox = "121.6,36.8,122.4,37.4"
    page = get(client, f"bbox={bbox}&district=文登区&status=planned&limit=1000")
    f = frame()
    box = shapely.box(121.6, 36.8, 122.4, 37.4)
    f = f[f.geometry.intersects(box) & (f.district == "371003") & (f.status == "planned")]
    assert sorted(r["id"] for r in page["rows"]) == sorted(f.id) and len(f) > 0
    assert get(client, "fields=name_zh,area_mu&limit=2")["rows"][0]["properties"].keys() == {"id", "name_zh", "area_mu"}


def walk(client, query, limit, between=None):
    seen, after, n = [], None, 0
    while True:
        page = get(client, f"{query}&limit={limit}" + (f"&after={after}" if after else ""))
        seen += [r["id"] for r in page["rows"]]
        after, n = page["next"], n + 1
        if after is None:
            return seen
        if between:
            between(n, seen)


def test_keyset_pages_never_repeat_or_drop_a_row_while_rows_are_edited(client, store):
    f = frame()
    expected = sorted_ids(f, "area_mu", True)
    big = f.set_index("id").loc[expected[0]]

    def edit(n, seen):
        if n == 1:  # a row already seen renamed and shrunk, but still before the cursor
            store.update(LAYER, seen[0], properties={"name_zh": "改名", "area_mu": float(big.area_mu) - 0.01},
                         actor="test", message="edited between pages")
        if n == 2:  # a row seen deleted, a new one added before the cursor
            store.delete(LAYER, [seen[3]], actor="test", message="deleted between pages")
            new = f.iloc[[0]].assign(id="zone-new", area_mu=float(big.area_mu) + 1)
            store.add(LAYER, gpd.GeoDataFrame(new, geometry="geometry", crs="EPSG:4326"), actor="test", message="added")
        if n == 3:  # a row not yet seen edited in a field that is not sorted
            store.update(LAYER, expected[len(seen) + 5], properties={"status": "completed"}, actor="test", message="x")
    seen = walk(client, "sort=-area_mu", 20, edit)
    assert seen == expected  # every row once, in order, though the store changed under the pages


def test_offset_paging_under_the_same_edits_drops_a_row(client, store):
    """What the keyset avoids: a deletion before the page shifts every later row by one."""
    expected = sorted_ids(frame(), "area_mu", True)
    first = get(client, "sort=-area_mu&limit=20")
    store.delete(LAYER, [first["rows"][3]["id"]], actor="test", message="deleted between pages")
    by_offset = get(client, "sort=-area_mu&limit=20&offset=20")["rows"]
    assert by_offset[0]["id"] == expected[21]  # expected[20] is never shown
    by_keyset = get(client, f"sort=-area_mu&limit=20&after={first['next']}")["rows"]
    assert by_keyset[0]["id"] == expected[20]


def test_nulls_sort_as_the_smallest_value(client):
    asc = [r["properties"]["year"] for r in get(client, "sort=year&limit=1000&fields=year")["rows"]]
    desc = [r["properties"]["year"] for r in get(client, "sort=-year&limit=1000&fields=year")["rows"]]
    nulls = asc.count(None)
    assert nulls and asc[:nulls] == [None] * nulls and desc[-nulls:] == [None] * nulls and None not in desc[:-nulls]
    assert walk(client, "sort=year", 7) == sorted_ids(frame(), "year", False)


def _token(body) -> str:
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


@pytest.mark.parametrize("after", [
    "not-base64!", "abc", _token([1, 2]), _token({"s": "-area_mu,-id", "v": [1.0]}),
    _token({"s": "area_mu,id", "v": [1.0, "zone-1"]}),  # another sort's cursor
    _token({"s": "-area_mu,-id", "v": [1.0, None]}), _token({"s": "-area_mu,-id", "v": [{"a": 1}, "zone-1"]}),
    _token({"s": "-area_mu,-id", "v": [True, "zone-1"]}), "A" * 5000,
])
def test_a_bad_cursor_is_a_400_naming_after(client, after):
    body = get(client, f"sort=-area_mu&after={after}", 400)
    assert body["parameter"] == "after" and "next" in body["detail"]


def test_a_forged_cursor_only_starts_the_page_elsewhere(client):
    token = _token({"s": "-area_mu,-id", "v": ["'); DROP TABLE synthetic_zones; --", "x"]})
    forged = get(client, f"sort=-area_mu&after={token}&limit=5")["rows"]
    assert forged == get(client, "sort=-area_mu&limit=5")["rows"]  # text sorts above numbers: from the top
    assert get(client, "limit=1")["numberMatched"] == N


@pytest.mark.parametrize("query, parameter", [
    ("sort=geometry", "sort"), ("sort=figures", "sort"), ("sort=a,b,c,d,e", "sort"), ("area_mu_min=lots", "area_mu_min"),
    ("year_max=inf", "year_max"), ("date_max=2021-02-30", "date_max"), ("name_zh_max=x", "name_zh_max"),
    ("colour=red", "colour"), ("simplify=10", "simplify"), ("limit=1001", "limit"), ("limit=0", "limit"),
    ("bbox=1,2", "bbox"), ("district=火星", "district"), ("after=x&offset=5&sort=area_mu", "after"),
    ("name_zh_contains=" + "长" * 101, "name_zh_contains"), ("figures=1", "figures"),
])
def test_bad_parameters_are_400s_naming_them(client, query, parameter):
    assert get(client, query, 400)["parameter"] == parameter


def test_unknown_and_hidden_layers_are_404(app, client):
    assert client.get("/api/layers/nope/rows").status_code == 404
    book = add_users(app)
    keys = tokens(app)
    assert client.patch(f"/api/layers/{LAYER}/settings", json={"hidden": True},
                        headers=bearer(keys["admin"])).status_code == 200
    assert client.get(f"/api/layers/{LAYER}/rows", headers=bearer(keys["admin"])).status_code == 200
    for headers in ({}, bearer(keys["viewer"])):
        answer = client.get(f"/api/layers/{LAYER}/rows?sort=-area_mu", headers=headers)
        assert answer.status_code == 404 and LAYER not in answer.get_json()["detail"].split("layers are:")[1]
    assert book.hidden_layers() == frozenset({LAYER})


def test_as_of_reads_the_table_as_it_was(client, store):
    when = store.history(limit=1)[0].time
    top = get(client, "sort=-area_mu&limit=1")["rows"][0]["id"]
    store.delete(LAYER, [top], actor="test", message="gone")
    assert get(client, "sort=-area_mu&limit=1")["rows"][0]["id"] != top
    past = get(client, f"sort=-area_mu&limit=5&as_of={when}")
    assert past["rows"][0]["id"] == top and past["numberMatched"] == N
    assert walk(client, f"sort=-area_mu&as_of={when}", 60) == sorted_ids(frame(), "area_mu", True)


def test_the_export_takes_the_tables_filters_order_and_columns(client):
    query = "sort=-area_mu&category=common_prosperity&area_mu_min=5&fields=name_zh,area_mu"
    rows = [r["id"] for r in get(client, query + "&limit=1000")["rows"]]
    with client.get(f"/api/export?layers={LAYER}&format=geojson&{query}") as answer:
        assert answer.status_code == 200
        exported = json.load(io.BytesIO(answer.get_data()))
    assert [f["properties"]["id"] for f in exported["features"]] == rows and rows
    assert set(exported["features"][0]["properties"]) == {"id", "name_zh", "area_mu"}
    # a field filter of one layer: the others hold nothing; a field of none: refused
    with client.get(f"/api/export?layers={LAYER},parks&format=geojson&area_mu_min=5&name_en_contains=zone") as both:
        assert both.status_code == 200
    refused = client.get("/api/export?layers=parks&format=geojson&colour_min=1")
    assert refused.status_code == 400 and refused.get_json()["parameter"] == "colour_min"
    bad = client.get(f"/api/export?layers={LAYER}&area_mu_min=lots")
    assert bad.status_code == 400 and bad.get_json()["parameter"] == "area_mu_min"
    job = client.post("/api/exports", json={"layers": LAYER, "format": "csv", "area_mu_min": "5", "sort": "-area_mu"})
    assert job.status_code == 202, job.get_json()
