"""Planning indicators (指标模型) in the core, on shapes drawn in EPSG:4550 whose answers are known
by hand (tests/layers/indicators_atlas.py): areas are written out here from the drawing, never
computed with the code under test. A circle is a 128-gon in the code (its area within 0.04% of
π r²), so point buffers are compared with π r² at that tolerance."""
from __future__ import annotations

import math
import time
from datetime import datetime, timezone

import pytest

from geo.errors import InvalidParameter, NotFound
from layers.accounts.visible import VisibleStore
from layers.analysis import indicator_registry as registry
from layers.analysis import indicator_tables, indicators

from geo.store import Field, open_store

from .indicators_atlas import GREENS, districts_frame, frame, make_store

MU = 10000 / 15
A, B, C = "371002", "371003", "371082"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("indicators") / "atlas.gpkg")


def values(result, key="value"):
    return {r["district"]: r[key] for r in result["districts"]}


def parks(store, category, **params):
    return indicators.compute(store, "park_coverage", {"layer": "greens", "category": category, **params})


# -- the registry ----------------------------------------------------------------------------------
def test_every_declaration_has_the_fields_of_the_issue():
    listed = indicators.listing()["indicators"]
    assert [i["id"] for i in listed] == ["park_coverage", "life_circle", "land_figures"]
    for i in listed:
        assert {"id", "title", "formula", "inputs", "params", "standards", "unit", "thresholds", "version"} <= set(i)
        assert i["title"]["zh"] and i["title"]["en"] and i["formula"]["zh"] and i["formula"]["en"]
        assert i["kind"] in indicators.KINDS and i["version"]
        for s in i["standards"]:
            assert isinstance(s["verified"], bool) and s["note"]["zh"] and s["clause"]["en"]
    park = registry.get("park_coverage")
    assert [s.code for s in park.standards] == ["GB/T 50563-2010", "300米见绿、500米见园"]
    # the figures that could not be read in the standard's text say so
    assert not park.standards[0].verified and not park.thresholds.verified
    assert park.param("radius_large").verified is False and park.param("radius_large").default == 500
    assert park.param("size_large").default == 5000 and park.param("size_small").default == 2000
    assert registry.get("life_circle").param("walk_15").default == 1000


# -- park service-radius coverage --------------------------------------------------------------------
def test_a_square_district_half_covered_by_one_buffer_is_50_percent(store):
    result = parks(store, "half")
    got = values(result)
    assert got[A] == 50.0                    # x 0-500 of the 1 km square
    assert got[C] == 50.0                    # the multipolygon: half of each piece
    assert got[B] == 0.0
    assert values(result, "measures")[A] == {"covered_m2": 500_000.0, "base_m2": 1_000_000.0, "parks": 1}
    # the city: (500 000 + 500 000) / (1 000 000 + 750 000 + 1 000 000)
    assert result["city"]["value"] == round(100 * 1_000_000 / 2_750_000, 2) == 36.36
    assert result["city"]["district"] == "371000"
    assert "行政区面积" in result["base"]["zh"] and "district area" in result["base"]["en"]
    assert values(result, "level")[A] == "warning" and result["crs"] == "EPSG:4550"
    assert result["params"]["radius_large"] == 500 and result["indicator"]["id"] == "park_coverage"


def test_a_buffer_crossing_boundaries_counts_in_each_district_and_the_hole_is_no_base(store):
    got = values(parks(store, "strip"))      # x 600-1700 across A, B and C
    assert got[A] == 40.0                    # x 600-1000 of A
    assert got[C] == 40.0                    # x 600-1000 of both pieces of C
    # B: x 1000-1700 is 700 000 m², less the hole's part x 1250-1700, y 250-750 (225 000 m²), of 750 000
    assert got[B] == round(100 * 475_000 / 750_000, 2) == 63.33


def test_a_point_park_gets_its_class_radius_and_the_result_says_so(store):
    result = parks(store, "point")           # 3000 m²: the small class, 300 m
    assert values(result)[A] == pytest.approx(100 * math.pi * 300 ** 2 / 1e6, abs=0.02)
    assert any("为点" in n["zh"] and "points" in n["en"] for n in result["notes"])
    larger = parks(store, "point", size_large="2500")  # now a large park: 500 m, a circle inside A
    assert values(larger)[A] == pytest.approx(100 * math.pi * 500 ** 2 / 1e6, abs=0.05)


@pytest.mark.parametrize("rule, radius", [("small", 300), ("large", 500), ("exclude", 0)])
def test_a_point_of_unknown_size_follows_the_unsized_rule_and_says_it_is_an_assumption(store, rule, radius):
    result = parks(store, "unsized", unsized=rule)
    assert values(result)[A] == pytest.approx(100 * math.pi * radius ** 2 / 1e6, abs=0.05)
    assert any("assumption" in n["en"] and f"unsized={rule}" in n["en"] for n in result["notes"])


def test_a_schematic_park_counts_and_the_result_says_its_extent_is_not_measured(store, tmp_path):
    """The atlas's parks without a public outline are schematic circles (issue 13): they count by
    their drawn shape, and the notes say how many are only schematic."""
    greens = frame([GREENS[0]])
    greens["accuracy"] = ["schematic"]
    sketch = open_store(tmp_path / "sketch.gpkg", key="id")
    sketch.replace({"districts": districts_frame(), "greens": greens}, {"greens": (Field("area_m2", "float"),)})
    result = parks(sketch, "half")
    assert values(result)[A] == 50.0
    assert any("1 parks have a schematic extent" in n["en"] and "示意" in n["zh"] for n in result["notes"])
    assert not any("schematic extent" in n["en"] for n in parks(store, "half")["notes"])  # no accuracy field: no word


def test_a_park_below_the_small_class_does_not_count(store):
    result = parks(store, "tiny")            # 100 m x 10 m = 1000 m²
    assert values(result)[A] == 0.0 and result["city"]["measures"]["parks"] == 0
    assert any("1 below 2000 m² not counted" in n["en"] for n in result["notes"])


def test_residential_land_as_the_base(store):
    result = parks(store, "half", base_layer="homes", base_category="居住用地")
    # the two 1000 m x 200 m strips of A, each covered on x 0-500
    assert values(result)[A] == 50.0 and values(result, "measures")[A]["base_m2"] == 400_000.0
    assert values(result)[C] is None and values(result, "level")[C] is None  # no residential land there
    assert result["city"]["value"] == 50.0
    assert "homes" in result["base"]["en"] and "居住用地" in result["base"]["zh"]


# -- 15-minute life circle ---------------------------------------------------------------------------
def test_life_circle_tiers_on_a_grid_of_facilities(store):
    # four shops at the centres of A's 500 m quarters; detour 2 halves the walking distances:
    # 5-minute r 100, 10-minute r 250 (each circle inscribed in its quarter), 15-minute r 400 (covers A)
    result = indicators.compute(store, "life_circle", {"layer": "shops", "category": "", "walk_5": "200",
                                                       "walk_10": "500", "walk_15": "800", "detour": "2"})
    a = values(result, "measures")[A]
    assert a["tier_15_pct"] == 100.0 and values(result)[A] == 100.0
    assert a["tier_10_pct"] == pytest.approx(100 * 4 * math.pi * 250 ** 2 / 1e6, abs=0.05)
    assert a["tier_5_pct"] == pytest.approx(100 * 4 * math.pi * 100 ** 2 / 1e6, abs=0.02)
    assert values(result, "measures")[B]["tier_5_pct"] == 0.0
    assert values(result, "level")[A] is None  # the standard gives no warning threshold
    assert any("detour factor 2" in n["en"] and "400" in n["en"] for n in result["notes"])


# -- land figures ------------------------------------------------------------------------------------
def test_land_figures_in_mu_exact_to_a_hundredth(store):
    result = indicators.compute(store, "land_figures", {"layer": "lots"})
    rows = {r["district"]: r for r in result["districts"]}
    a = {b["status"]: b for b in rows[A]["breakdown"]}
    # planned: l-1 (10 000 m²) and l-3's part in A (10 000 m²); completed: l-2 (30 000) and l-5 (12 345)
    assert a["planned"] == {"status": "planned", "label": {"zh": "规划", "en": "planned"}, "count": 2,
                            "area_m2": 20_000.0, "area_mu": 30.0, "share_pct": 2.0}
    assert a["completed"]["area_m2"] == pytest.approx(42_345.0, abs=0.01)
    assert a["completed"]["area_mu"] == round(42_345 / MU, 2) == 63.52
    assert rows[A]["measures"]["area_mu"] == round(62_345 / MU, 2) == 93.52 and rows[A]["value"] == 6.23
    b = {s["status"]: s for s in rows[B]["breakdown"]}
    # B: l-3's other half; l-4's half outside the hole (the hole is not B)
    assert (b["planned"]["area_mu"], b["under_construction"]["area_mu"]) == (15.0, 7.5)
    assert rows[B]["value"] == 2.0 and rows[B]["measures"]["district_m2"] == 750_000.0  # 15 000 / 750 000
    assert rows[C]["value"] == 0.0 and rows[C]["breakdown"] == []
    assert result["city"]["measures"]["area_mu"] == round(77_345 / MU, 2)
    assert any("outside every district" in n["en"] for n in result["notes"])


# -- as of, and two dates side by side -----------------------------------------------------------------
def test_two_dates_side_by_side_after_an_edit(tmp_path):
    store = make_store(tmp_path / "atlas.gpkg")
    time.sleep(0.01)
    before = datetime.now(timezone.utc).isoformat()
    time.sleep(0.01)
    store.delete("greens", ["g-half"], actor="测试", message="删除公园")
    now = parks(store, "half", compare=before)
    assert values(now)[A] == 0.0
    assert {r["district"]: r["compare"]["value"] for r in now["districts"]}[A] == 50.0
    assert values(now, "change")[A] == -50.0 and now["city"]["change"] == -36.36
    assert now["compare"].startswith(before[:19]) and "compare" in now["change_rule"]["en"]
    then = parks(store, "half", as_of=before)
    assert values(then)[A] == 50.0 and then["as_of"].startswith(before[:19])
    assert "change" not in then["districts"][0]


# -- refusals --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, parameter", [
    ({"radius": "500"}, "radius"),
    ({"radius_large": "far"}, "radius_large"),
    ({"radius_large": "-5"}, "radius_large"),
    ({"radius_large": "nan"}, "radius_large"),
    ({"unsized": "maybe"}, "unsized"),
    ({"size_small": "9000"}, "size_small"),
    ({"as_of": "yesterday"}, "as_of"),
    ({"compare": "last week"}, "compare"),
])
def test_bad_parameters_name_themselves(store, args, parameter):
    with pytest.raises(InvalidParameter) as caught:
        parks(store, "half", **args)
    assert caught.value.parameter == parameter and caught.value.status == 400


def test_unknown_indicator_and_hidden_layers(store):
    with pytest.raises(NotFound):
        indicators.compute(store, "nope", {})
    with pytest.raises(NotFound) as caught:
        parks(VisibleStore(store, hidden=frozenset({"greens"})), "half")
    assert caught.value.parameter == "layer"
    with pytest.raises(NotFound) as caught:
        parks(VisibleStore(store, hidden=frozenset({"homes"})), "half", base_layer="homes")
    assert caught.value.parameter == "base_layer"
    with pytest.raises(InvalidParameter) as caught:
        parks(VisibleStore(store, hidden=frozenset({"districts"})), "half")
    assert "districts" in caught.value.detail and "read access" in caught.value.detail


def test_a_comparison_before_the_history_names_compare(store):
    with pytest.raises(InvalidParameter) as caught:
        parks(store, "half", compare="2000-01-01")
    assert caught.value.parameter == "compare" and "compare" in caught.value.detail


def test_csv_has_a_bom_and_the_comparison_columns(store):
    body = indicator_tables.to_csv(parks(store, "half", compare=datetime.now(timezone.utc).isoformat()), "zh")
    assert body.startswith(b"\xef\xbb\xbf")
    lines = body.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("行政区,公园绿地服务半径覆盖率(%),预警") and "对比值" in lines[0] and lines[0].endswith("变化")
    assert lines[1].startswith("环翠区,50.0,") and lines[-1].startswith("威海市,36.36,")
