"""The CRS guesser on points around Huancui (122.1, 37.5) that the tests move into each candidate
system with pyproj directly, and into GCJ-02 / BD-09 with geo.crs; the reference area is a
hand-drawn outline of Weihai, the reference features hand-made "known points" and an outline."""
from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from geo import crs
from geo.errors import CRSError
from geo.inspect import CANDIDATES, guess_crs

#: a rough outline of Weihai (WGS84), drawn for the tests
WEIHAI = shapely.Polygon([(121.2, 36.85), (121.9, 36.8), (122.6, 37.0), (122.75, 37.4), (122.4, 37.6),
                          (121.9, 37.55), (121.35, 37.35), (121.2, 36.85)])
RNG = np.random.default_rng(7)
#: "known points" around Huancui: 环翠楼, 刘公岛码头 ... (made up around (122.1, 37.5))
HUANCUI = np.column_stack([122.1 + RNG.uniform(-0.04, 0.04, 300), 37.5 + RNG.uniform(-0.03, 0.02, 300)])


def _pyproj(xy, code):
    x, y = Transformer.from_crs("EPSG:4326", code, always_xy=True).transform(xy[:, 0], xy[:, 1])
    return np.column_stack([x, y])


@pytest.mark.parametrize("code,expected", [
    ("EPSG:4326", "EPSG:4326"), ("EPSG:4490", "EPSG:4326"),   # CGCS2000 degrees: the same numbers
    ("EPSG:4550", "EPSG:4550"), ("EPSG:4510", "EPSG:4550"),   # 6-degree CM 123E without prefix = 3-degree
    ("EPSG:4529", "EPSG:4529"), ("EPSG:4549", "EPSG:4549"), ("EPSG:4528", "EPSG:4528"),
    ("EPSG:4499", "EPSG:4499"), ("EPSG:3857", "EPSG:3857")])
@pytest.mark.parametrize("swap", [False, True], ids=["xy", "swapped"])
def test_each_candidate_ranks_first(code, expected, swap):
    xy = _pyproj(HUANCUI, code)
    guess = guess_crs(xy[:, ::-1] if swap else xy, WEIHAI)
    best = guess.best
    assert guess.usable and best is not None
    assert best.candidate.key == expected + ("/swapped" if swap else "")
    assert best.inside == 1.0 and best.score == 1.0
    assert code == expected or code in best.candidate.equivalents
    assert guess.runner_up is not None and guess.runner_up.candidate.key != best.candidate.key


def test_zone_prefix_versions_do_not_fit_each_other():
    guess = guess_crs(_pyproj(HUANCUI, "EPSG:4529"), WEIHAI)
    by_key = {s.candidate.key: s for s in guess.ranked}
    assert by_key["EPSG:4550"].inside == 0 and by_key["EPSG:4499"].inside == 0


def test_geometries_and_a_bbox_are_accepted():
    pts = shapely.points(_pyproj(HUANCUI, "EPSG:4529"))
    guess = guess_crs(pts, WEIHAI.bounds)
    assert guess.best.candidate.key == "EPSG:4529" and guess.sample_size == len(pts)


#: 30 points over Huancui and its coast, a kilometre or more apart
SPARSE = np.column_stack([121.95 + RNG.uniform(0, 0.3, 30), 37.38 + RNG.uniform(0, 0.15, 30)])
OUTLINE = shapely.Polygon([(122.05, 37.47), (122.15, 37.47), (122.17, 37.52), (122.08, 37.54), (122.05, 37.47)])


@pytest.mark.parametrize("offset,forward", [(crs.GCJ02, crs.wgs84_to_gcj02_xy), (crs.BD09, crs.wgs84_to_bd09_xy)])
@pytest.mark.parametrize("reference", ["points", "outline"])
def test_gcj02_and_bd09_against_reference_features(offset, forward, reference):
    if reference == "points":  # the data are known points, the reference their surveyed positions
        data, ref = forward(SPARSE), shapely.points(SPARSE)
    else:  # the data is a district outline as Amap/Baidu draw it; the reference the official one
        dense = shapely.get_coordinates(shapely.segmentize(OUTLINE, 0.001))
        data, ref = forward(dense), [OUTLINE]
    guess = guess_crs(data, WEIHAI, reference=ref)
    best = guess.best
    assert best.candidate.key == offset and best.offset_m < 1.0
    plain = next(s for s in guess.ranked if s.candidate.key == crs.WGS84)
    low, high = (300, 650) if offset == crs.GCJ02 else (900, 1600)
    if reference == "outline":  # a line is off by the part of the shift across it
        low /= 2
    assert low < plain.offset_m < high and plain.score < 0.2
    assert f"read as {offset}" in best.reason_en and "m off the reference" in best.reason_en


def test_gcj02_with_swapped_axes():
    guess = guess_crs(crs.wgs84_to_gcj02_xy(SPARSE)[:, ::-1], WEIHAI, reference=shapely.points(SPARSE))
    assert guess.best.candidate.key == "GCJ-02/swapped" and "read as GCJ-02/swapped" in guess.best.reason_en


def test_plain_degrees_fit_the_reference_best():
    guess = guess_crs(SPARSE, WEIHAI, reference=shapely.points(SPARSE))
    assert guess.best.candidate.key == crs.WGS84 and guess.best.offset_m == 0
    gcj = next(s for s in guess.ranked if s.candidate.key == crs.GCJ02)
    assert gcj.score < 0.2 and 300 < gcj.offset_m < 650


def test_without_reference_the_offsets_are_not_claimed():
    guess = guess_crs(crs.wgs84_to_gcj02_xy(HUANCUI), WEIHAI)
    assert guess.best.candidate.key == crs.WGS84
    assert guess.runner_up.candidate.key == crs.GCJ02  # as good by area: the page shows both
    assert guess.ambiguous and "not tested" in guess.best.reason_en


def test_a_reference_far_from_the_data_is_inconclusive():
    far = shapely.points([[121.5, 37.0], [121.6, 37.1]])
    guess = guess_crs(crs.wgs84_to_gcj02_xy(HUANCUI), WEIHAI, reference=far)
    assert guess.best.candidate.key == crs.WGS84 and "could not be told apart" in guess.best.reason_en


@pytest.mark.parametrize("garbage", [
    RNG.uniform(-1e7, 1e7, (500, 2)),                                   # noise
    np.column_stack([RNG.uniform(20, 21, 200), RNG.uniform(0, 1, 200)]),  # degrees, but in Africa
    np.column_stack([RNG.uniform(0, 100, 200), RNG.uniform(0, 100, 200)]),  # local CAD units
    np.empty((0, 2)),
])
def test_garbage_has_no_usable_crs(garbage):
    guess = guess_crs(garbage, WEIHAI)
    assert not guess.usable and guess.best is None
    assert guess.reason_en.startswith("no usable CRS") and "没有可用" in guess.reason_zh or not len(garbage)
    with pytest.raises(CRSError) as err:
        guess.require("规划地块.shp")
    assert err.value.status == 422 and "规划地块.shp" in err.value.detail and "crs=" in err.value.detail


def test_declared_degrees_on_gk_metres_look_wrong():
    guess = guess_crs(_pyproj(HUANCUI, "EPSG:4550"), WEIHAI, declared="EPSG:4326")
    check = guess.declared
    assert not check.plausible and "metres, not degrees" in check.reason_en and "EPSG:4550" in check.reason_en
    assert guess.best.candidate.key == "EPSG:4550"


def test_declared_without_prefix_on_prefixed_data_looks_wrong():
    check = guess_crs(_pyproj(HUANCUI, "EPSG:4529"), WEIHAI, declared=4550).declared
    assert not check.plausible and check.declared == "EPSG:4550" and "EPSG:4529" in check.reason_en


def test_a_shapefile_with_a_wrong_prj(tmp_path):
    """GK zone 41 metres written with a .prj that says WGS84, as a careless export does."""
    import geopandas as gpd
    import pyogrio
    xy = _pyproj(HUANCUI[:50], "EPSG:4529")
    frame = gpd.GeoDataFrame({"名称": [f"地块{i}" for i in range(50)]}, geometry=shapely.points(xy), crs="EPSG:4326")
    pyogrio.write_dataframe(frame, tmp_path / "地块.shp")
    back = pyogrio.read_dataframe(tmp_path / "地块.shp")
    guess = guess_crs(back.geometry, WEIHAI, declared=back.crs.to_wkt())
    assert guess.declared.declared == "EPSG:4326" and not guess.declared.plausible
    assert guess.best.candidate.key == "EPSG:4529" and "metres, not degrees" in guess.declared.reason_en


def test_a_right_prj_is_confirmed():
    wkt = crs.TARGETS[crs.GK_ZONE41].wkt()  # as a .prj holds it
    check = guess_crs(_pyproj(HUANCUI, "EPSG:4529"), WEIHAI, declared=wkt).declared
    assert check.plausible and check.declared == "EPSG:4529"


def test_a_declared_crs_outside_the_candidates_is_checked_too():
    xy = _pyproj(HUANCUI, "EPSG:32651")  # UTM 51N, not a candidate
    guess = guess_crs(xy, WEIHAI, declared="EPSG:32651")
    assert guess.declared.plausible and guess.declared.scored.inside == 1.0
    assert guess.best.candidate.key == "EPSG:4550"  # UTM 51N is GK CM 123E scaled by 0.9996


def test_unreadable_declared_crs():
    with pytest.raises(CRSError) as err:
        guess_crs(HUANCUI, WEIHAI, declared="not a crs")
    assert err.value.status == 400 and "EPSG:" in err.value.detail


def test_every_candidate_is_named_in_both_languages_and_json_ready():
    assert len({c.key for c in CANDIDATES}) == len(CANDIDATES) == 18
    assert all(c.zh and c.en for c in CANDIDATES)
    body = json.loads(json.dumps(guess_crs(HUANCUI, WEIHAI).to_dict(), ensure_ascii=False))
    assert body["ranked"][0]["candidate"]["key"] == "EPSG:4326" and body["usable"]


def test_bd09_round_trip_and_size_of_shift():
    bd = crs.wgs84_to_bd09_xy(HUANCUI)
    assert np.abs(crs.bd09_to_wgs84_xy(bd) - HUANCUI).max() < 1e-8
    (back,) = crs.reproject([shapely.Point(*bd[0])], crs.BD09, crs.WGS84)
    assert (back.x, back.y) == pytest.approx(tuple(HUANCUI[0]), abs=1e-8)
