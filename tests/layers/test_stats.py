"""Statistics that follow the filters (查询统计), in the core: known answers on shapes drawn in
EPSG:4550 (tests/layers/stats_atlas.py), and the filters checked against a brute-force computation
written here with shapely alone (a loop over features and districts, no code of the atlas)."""
from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
import shapely

from geo.errors import InvalidParameter, NotFound
from layers.accounts.visible import VisibleStore
from layers.analysis import tables
from layers.analysis.stats import statistics

from .stats_atlas import DISTRICT_SHAPES, HYPERLINK, ROWS, box, make_store, to_wgs

MU = 10000 / 15  # m² in one 亩, written out here


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("stats") / "atlas.gpkg")


def by_key(result, dims=None):
    dims = dims or result["group"]
    return {tuple(g["key"][d] for d in dims): g["values"] for g in result["groups"]}


# -- known answers ---------------------------------------------------------------------------------
def test_plots_split_by_district_polygons(store):
    result = statistics(store, "plots", {}, group="district", by="geometry")
    got = by_key(result)
    assert list(got) == [("371002",), ("371003",), ("371082",), ("outside",)]
    # A: plot-1's 250 m x 300 m, plot-2's 400 m square less its 100 m hole, plot-3's 200 m square
    assert got[("371002",)] == {"count": 3, "area_m2": 265_000.0, "area_ha": 26.5, "area_mu": 397.5,
                                "area_km2": 0.265, "length_km": 0.0}
    # B: plot-1's 300 m x 300 m, plot-5's 100 m square inside, plot-6
    assert got[("371003",)] == {"count": 3, "area_m2": 110_000.0, "area_ha": 11.0, "area_mu": 165.0,
                                "area_km2": 0.11, "length_km": 0.0}
    assert got[("371082",)]["count"] == 1 and got[("371082",)]["area_mu"] == 30.0  # plot-3's second part
    assert got[("outside",)]["count"] == 2 and got[("outside",)]["area_m2"] == 20_000.0  # plot-4, half of plot-5
    assert result["totals"] == {"count": 6, "area_m2": 415_000.0, "area_ha": 41.5, "area_mu": 622.5,
                                "area_km2": 0.415, "length_km": 0.0}
    labels = {g["key"]["district"]: g["label"]["district"] for g in result["groups"]}
    assert labels["371002"] == {"zh": "环翠区", "en": "Huancui District"}
    assert labels["outside"]["zh"] == "区外"
    assert result["rule"]["id"] == "geometry" and "区外" in result["rule"]["zh"] and "split" in result["rule"]["en"]
    assert result["crs"] == "EPSG:4550" and result["by"] == "geometry"


@pytest.mark.parametrize("ids, expected", [
    # the straddling plot: 250 m x 300 m in 环翠区, 300 m x 300 m in 文登区
    ("plot-1", {"371002": (75_000.0, 112.5), "371003": (90_000.0, 135.0)}),
    # a 400 m square with a 100 m square hole
    ("plot-2", {"371002": (150_000.0, 225.0)}),
    # a multipolygon: a 200 m square in 环翠区, 100 m x 200 m in 荣成市
    ("plot-3", {"371002": (40_000.0, 60.0), "371082": (20_000.0, 30.0)}),
    # outside every district, though its field says 文登区
    ("plot-4", {"outside": (10_000.0, 15.0)}),
    # half in 文登区, half outside
    ("plot-5", {"371003": (10_000.0, 15.0), "outside": (10_000.0, 15.0)}),
], ids=["straddling", "hole", "multipolygon", "outside", "half-outside"])
def test_each_shape_split_exactly(store, ids, expected):
    result = statistics(store, "plots", {"ids": ids}, group=("district",), by="geometry")
    got = {k[0]: (v["area_m2"], v["area_mu"]) for k, v in by_key(result).items()}
    assert got.keys() == expected.keys()
    for key, (m2, mu) in expected.items():
        assert got[key][0] == pytest.approx(m2, abs=0.01) and got[key][1] == pytest.approx(mu, abs=0.01)
    assert result["totals"]["count"] == 1  # counted once in the totals however it is split
    assert result["totals"]["area_m2"] == pytest.approx(sum(m2 for m2, _ in expected.values()), abs=0.01)
    assert result["filters"] == {"ids": [ids]}


def test_by_field_counts_each_feature_whole_in_its_district_field(store):
    result = statistics(store, "plots", {}, group="district", by="field")
    got = by_key(result)
    assert got[("371002",)]["count"] == 3 and got[("371002",)]["area_m2"] == 375_000.0  # plots 1-3 whole
    assert got[("371003",)]["count"] == 3 and got[("371003",)]["area_m2"] == 40_000.0   # plots 4-6 whole
    assert result["rule"]["id"] == "field" and "district" in result["rule"]["en"]


def test_a_line_crossing_boundaries_is_split_in_km(store):
    got = by_key(statistics(store, "lines", {}, group="district", by="geometry"))
    assert {k[0]: (v["count"], v["length_km"]) for k, v in got.items()} == {
        "371002": (2, 0.9),    # 800 m of line-1 and 100 m of line-3
        "371003": (1, 0.7),    # 700 m of line-1
        "371082": (1, 0.3),    # 300 m of line-3
        "outside": (1, 0.5),   # line-2
    }
    assert all(v["area_m2"] == 0 for v in got.values())


def test_points_count_once_and_have_no_area(store):
    result = statistics(store, "spots", {}, group="district", by="geometry")
    got = {k[0]: v["count"] for k, v in by_key(result).items()}
    # spot-4 is the corner of all three districts: it goes to the lowest adcode only
    assert got == {"371002": 2, "371003": 1, "outside": 1}
    assert result["totals"]["count"] == 4 and result["totals"]["area_m2"] == 0


def test_cross_table_with_subtotals(store):
    result = statistics(store, "plots", {}, group="district,status", by="geometry")
    got = by_key(result)
    assert got[("371002", "planned")]["area_m2"] == 115_000.0 and got[("371002", "planned")]["count"] == 2
    assert got[("371002", "completed")]["area_mu"] == 225.0
    assert got[("outside", None)]["area_m2"] == 10_000.0
    assert got[("outside", "under_construction")]["area_m2"] == 10_000.0
    planned = {g["key"]["status"]: g["values"] for g in result["subtotals"]["status"]}["planned"]
    assert planned["count"] == 2 and planned["area_m2"] == 225_000.0  # plots 1 and 3, whole
    district = {g["key"]["district"]: g["values"] for g in result["subtotals"]["district"]}
    assert district["371003"]["count"] == 3 and district["371003"]["area_m2"] == 110_000.0
    status_values = [v["key"] for v in result["dimensions"][1]["values"]]
    assert status_values == ["planned", "under_construction", "completed", "operating", None]
    assert result["dimensions"][1]["values"][-1]["label"] == {"zh": "未注明", "en": "not given"}


def test_year_and_category_groups(store):
    years = statistics(store, "plots", {}, group="year")
    assert [g["key"]["year"] for g in years["groups"]] == [2021, 2023, 2024, None]
    assert years["groups"][0]["label"]["year"] == {"zh": "2021年", "en": "2021"}
    assert years["rule"]["id"] == "whole"
    cats = statistics(store, "plots", {}, group="category")
    assert {g["key"]["category"] for g in cats["groups"]} == {"居住用地", "工业用地", HYPERLINK}


def test_catalog_labels_for_categories(built_store):
    result = statistics(built_store, "projects", {}, group="category,status")
    labels = {g["key"]["category"]: g["label"]["category"] for g in result["groups"]}
    assert labels["innovation"] == {"zh": "科创平台", "en": "innovation platform"}
    assert result["title"] == {"zh": "重点项目", "en": "Projects"}
    # the official Huancui outline of the test atlas: a zone well inside it is not cut
    inside = {"ids": "zones-likoushan"}
    by_geometry = statistics(built_store, "zones", inside, group="district", by="geometry")
    assert by_key(by_geometry) == by_key(statistics(built_store, "zones", inside, group="district", by="field"))
    assert list(by_key(by_geometry)) == [("371002",)] and by_geometry["totals"]["area_m2"] > 900_000


# -- the filters against a brute force -----------------------------------------------------------
BBOX = ",".join(f"{v:.7f}" for v in to_wgs(box(0, 0, 1400, 1500)).bounds)


def brute_force(layer, *, status=None, category=None, bbox=None, district=None, by_geometry=False):
    """{district key: (count, m², m)} and the totals, computed feature by feature with shapely."""
    chosen = []
    for fid, _, cat, dist, stat, _, shape in ROWS[layer]:
        if status is not None and stat not in status or category is not None and cat not in category:
            continue
        if district is not None and dist not in district:
            continue
        if bbox is not None and not shapely.box(*bbox).intersects(shapely.box(*to_wgs(shape).bounds)):
            continue
        chosen.append((fid, dist, shape))
    dim = lambda s: shapely.get_dimensions(s)
    size = lambda s, d: (s.area, 0.0) if d == 2 else ((0.0, s.length) if d == 1 else (0.0, 0.0))
    groups: dict = {}

    def add(key, fid, m2, m):
        count, a, l, seen = groups.get(key, (0, 0.0, 0.0, set()))
        groups[key] = (count + (fid not in seen), a + m2, l + m, seen | {fid})

    everything = shapely.union_all(list(DISTRICT_SHAPES.values()))
    for fid, dist, shape in chosen:
        d = dim(shape)
        if not by_geometry:
            add(dist, fid, *size(shape, d))
        elif d == 0:
            inside = [code for code, poly in sorted(DISTRICT_SHAPES.items()) if poly.covers(shape)]
            add(inside[0] if inside else "outside", fid, 0.0, 0.0)
        else:
            for code, poly in DISTRICT_SHAPES.items():
                a, l = size(shape.intersection(poly), d)
                if a > 0 or l > 0:
                    add(code, fid, a, l)
            a, l = size(shape.difference(everything), d)
            if a > 1e-3 or l > 1e-3:
                add("outside", fid, a, l)
    totals = (len(chosen), sum(size(s, dim(s))[0] for _, _, s in chosen), sum(size(s, dim(s))[1] for _, _, s in chosen))
    return {k: v[:3] for k, v in groups.items()}, totals


CASES = [
    ("plots", {"status": "planned"}, {"status": ["planned"]}),
    ("plots", {"status": "planned,completed"}, {"status": ["planned", "completed"]}),
    ("plots", {"category": "工业用地"}, {"category": ["工业用地"]}),
    ("plots", {"bbox": BBOX}, {"bbox": [float(v) for v in BBOX.split(",")]}),
    ("plots", {"bbox": BBOX, "category": "居住用地"}, {"bbox": [float(v) for v in BBOX.split(",")], "category": ["居住用地"]}),
    ("plots", {"district": "文登区"}, {"district": ["371003"]}),
    ("lines", {"status": "planned"}, {"status": ["planned"]}),
    ("lines", {"bbox": BBOX}, {"bbox": [float(v) for v in BBOX.split(",")]}),
    ("spots", {"status": "planned,operating"}, {"status": ["planned", "operating"]}),
]


@pytest.mark.parametrize("by", ["geometry", "field"])
@pytest.mark.parametrize("layer, args, brute", CASES)
def test_filters_give_the_numbers_of_a_brute_force(store, layer, args, brute, by):
    result = statistics(store, layer, args, group="district", by=by)
    expected, (count, m2, m) = brute_force(layer, by_geometry=by == "geometry", **{
        k: (tuple(v) if k != "bbox" else v) for k, v in brute.items()})
    got = by_key(result)
    assert {k[0] for k in got} == set(expected)
    for key, (n, a, l) in expected.items():
        values = got[(key,)]
        assert values["count"] == n, key
        assert values["area_mu"] == pytest.approx(a / MU, abs=0.01), key
        assert values["area_m2"] == pytest.approx(a, abs=0.01), key
        assert values["length_km"] == pytest.approx(l / 1000, abs=0.001), key
    assert result["totals"]["count"] == count
    assert result["totals"]["area_mu"] == pytest.approx(m2 / MU, abs=0.01)
    assert result["totals"]["length_km"] == pytest.approx(m / 1000, abs=0.001)
    assert {k: v for k, v in result["filters"].items()} == (
        brute if "bbox" not in brute else {**brute, "bbox": pytest.approx(brute["bbox"])})


def test_nothing_matched_is_an_empty_table(store):
    result = statistics(store, "plots", {"status": "operating", "category": "居住用地"}, group="district,status")
    assert result["groups"] == [] and result["totals"]["count"] == 0 and result["totals"]["area_m2"] == 0


def test_as_of_counts_the_layer_as_it_was(tmp_path):
    store = make_store(tmp_path / "atlas.gpkg")
    time.sleep(0.01)
    before = datetime.now(timezone.utc).isoformat()
    time.sleep(0.01)
    store.delete("plots", ["plot-2"], actor="测试", message="删除带洞地块")
    now = statistics(store, "plots", {}, group="district", by="geometry")
    then = statistics(store, "plots", {"as_of": before}, group="district", by="geometry")
    assert now["totals"]["count"] == 5 and then["totals"]["count"] == 6
    assert by_key(then)[("371002",)]["area_m2"] - by_key(now)[("371002",)]["area_m2"] == pytest.approx(150_000)
    assert then["filters"]["as_of"].startswith(before[:19])


# -- refusals ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, parameter", [
    ({"group": "district,owner"}, "group"),
    ({"group": "district,status,year"}, "group"),
    ({"group": "status,status"}, "group"),
    ({"group": ""}, "group"),
    ({"by": "area"}, "by"),
    ({"args": {"limit": "5"}}, "limit"),
    ({"args": {"status": "demolished"}}, "status"),
    ({"args": {"bbox": "1,2,3"}}, "bbox"),
    ({"args": {"as_of": "yesterday"}}, "as_of"),
])
def test_bad_parameters_name_themselves(store, kwargs, parameter):
    with pytest.raises(InvalidParameter) as caught:
        statistics(store, "plots", kwargs.pop("args", {}), **kwargs)
    assert caught.value.parameter == parameter and caught.value.status == 400


def test_hidden_layers_are_unknown_and_the_districts_must_be_readable(store):
    with pytest.raises(NotFound):
        statistics(VisibleStore(store, hidden=frozenset({"plots"})), "plots", {})
    no_districts = VisibleStore(store, hidden=frozenset({"districts"}))
    assert statistics(no_districts, "plots", {}, group="district", by="field")["totals"]["count"] == 6
    with pytest.raises(InvalidParameter) as caught:
        statistics(no_districts, "plots", {}, group="district", by="geometry")
    assert caught.value.parameter == "by" and "by=field" in caught.value.detail


def test_csv_and_text_tables(store):
    result = statistics(store, "plots", {}, group="district", by="geometry")
    body = tables.to_csv(result, "zh")
    assert body.startswith(b"\xef\xbb\xbf")
    lines = body.decode("utf-8-sig").splitlines()
    assert lines[0] == "行政区,数量(个),面积(平方米),面积(公顷),面积(亩),面积(平方千米),长度(千米)"
    assert lines[1] == "环翠区,3,265000.00,26.5000,397.50,0.265000,0.000"
    assert lines[-1] == "合计,6,415000.00,41.5000,622.50,0.415000,0.000"
    assert tables.to_csv(result, "en").decode("utf-8-sig").splitlines()[4].startswith("outside every district,2,")
    text = tables.to_text(result, "zh")
    assert "区外" in text and "622.50" in text
