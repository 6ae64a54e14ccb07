"""Spatial queries and overlays in the core: known answers on shapes drawn in EPSG:4550
(tests/layers/spatial_atlas.py), worked out by hand in the comments; the buffer's area against π·r²
and the region measured again here with pyproj and shapely, not with geo."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from geo.errors import InvalidGeometry, InvalidParameter, NotFound
from layers.accounts.visible import VisibleStore
from layers.analysis.overlay import overlay
from layers.analysis.spatial import region, within

from .spatial_atlas import X0, Y0, make_store
from .stats_atlas import box, to_wgs

MU = 10000 / 15
TO_4550 = Transformer.from_crs(4326, 4550, always_xy=True)


def drawn(geom) -> dict:
    """A shape in EPSG:4550 as the page would send it: GeoJSON in WGS84."""
    return json.loads(shapely.to_geojson(to_wgs(geom)))


def area_4550(geojson: dict) -> float:
    shape = shapely.from_geojson(json.dumps(geojson))
    return shapely.transform(shape, lambda xy: np.column_stack(TO_4550.transform(xy[:, 0], xy[:, 1]))).area


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("spatial") / "atlas.gpkg")


@pytest.fixture(scope="module")
def result(store):
    return overlay(store, "works", "zoning")


def pairs(result):
    return {(p["left"]["id"], p["right"]["id"]): p for p in result["pairs"]}


# -- overlay -------------------------------------------------------------------------------------
def test_a_zone_half_covered_is_50_percent(result):
    covered = {c["right"]["id"]: c for c in result["covered"]}
    # Z2 (1 km²): W3 covers its west half; W4's part in Z2 lies inside W3
    assert covered["Z2"]["share"] == 0.5 and covered["Z2"]["covered"]["area_m2"] == 500_000.0
    assert covered["Z2"]["count"] == 2


def test_overlapping_left_features_count_once_in_covered(result):
    z1 = {c["right"]["id"]: c for c in result["covered"]}["Z1"]
    # W1 (y 0-500) ∪ W2 (y 250-750) = 750,000 m², not 1,000,000; W4's 200 x 100 m part adds 20,000
    assert z1["covered"]["area_m2"] == 770_000.0 and z1["covered"]["area_mu"] == 1155.0
    assert z1["share"] == 0.77 and z1["count"] == 3
    assert z1["area"]["area_m2"] == 1_000_000.0


def test_a_feature_crossing_a_boundary_is_split_exactly(result):
    got = pairs(result)
    assert got[("W4", "Z1")]["area_mu"] == pytest.approx(20_000 / MU, abs=0.01)  # 30.00 亩
    assert got[("W4", "Z2")]["area_mu"] == pytest.approx(30_000 / MU, abs=0.01)  # 45.00 亩
    assert got[("W4", "Z1")]["share"] == 0.4 and got[("W4", "Z2")]["share"] == 0.6


def test_touching_is_no_pair_and_whole_features_share_one(result):
    got = pairs(result)
    assert ("W1", "Z2") not in got and ("W3", "Z1") not in got  # an edge in common, no area
    assert got[("W1", "Z1")]["share"] == 1.0 and got[("W1", "Z1")]["area_m2"] == 500_000.0


def test_hole_and_multipolygon(result):
    got = pairs(result)
    assert not any(left == "W5" for left, _ in got)  # in the hole of Z3
    assert got[("W7", "Z3")]["area_m2"] == 10_000.0 and got[("W7", "Z3")]["share"] == 0.5
    # W8 over both parts of Z4: 100 x 50 m in each, of its 500 x 50 m
    assert got[("W8", "Z4")]["area_m2"] == 10_000.0 and got[("W8", "Z4")]["share"] == 0.4
    z3 = {c["right"]["id"]: c for c in result["covered"]}["Z3"]
    assert z3["area"]["area_m2"] == 750_000.0  # 1 km² less the 500 m hole


def test_features_outside_every_zone_are_listed(result):
    assert [o["id"] for o in result["outside"]] == ["W5", "W6"]
    assert [o["area_m2"] for o in result["outside"]] == [40_000.0, 10_000.0]
    totals = result["totals"]
    assert totals["outside_count"] == 2 and totals["left_inside_count"] == 6 and totals["pairs"] == 7
    # outside parts: W5 40,000 + W6 10,000 + half of W7 10,000 + W8's 15,000 between and beside Z4
    assert totals["left_outside"]["area_m2"] == 75_000.0
    # per left feature, inside some zone: W1, W2, W3 500,000 each + W4 50,000 + W7 10,000 + W8 10,000
    assert totals["left_inside"]["area_m2"] == 1_570_000.0
    assert totals["left"]["area_m2"] == 1_645_000.0  # inside + outside
    # summed over the zones, each zone's union: 770,000 + 500,000 + 10,000 + 10,000
    assert totals["covered"]["area_m2"] == 1_290_000.0 and totals["right"]["area_m2"] == 2_830_000.0


def test_right_must_be_areas_and_layers_known(store):
    with pytest.raises(InvalidParameter) as refused:
        overlay(store, "works", "spots")
    assert refused.value.parameter == "right" and "polygons" in refused.value.detail
    with pytest.raises(NotFound) as missing:
        overlay(store, "nope", "zoning")
    assert missing.value.parameter == "left"
    with pytest.raises(NotFound):
        overlay(VisibleStore(store, hidden=frozenset({"zoning"})), "works", "zoning")


def test_points_and_filters_on_the_left(store):
    got = overlay(store, "spots", "zoning", left_filters={"ids": "P1,P2"})
    assert [(p["left"]["id"], p["right"]["id"], p["share"]) for p in got["pairs"]] == [("P1", "Z1", 1.0)]
    assert [o["id"] for o in got["outside"]] == ["P2"]
    assert overlay(store, "works", "zoning", left_filters={"ids": "W6"})["totals"]["pairs"] == 0


# -- the region ----------------------------------------------------------------------------------
def test_a_point_buffered_by_100_m_is_a_circle(store):
    where = region(store, feature=("spots", "P1"), distance_m=100)
    assert where.feature()["geometry"]["type"] == "Polygon"
    assert area_4550(where.feature()["geometry"]) == pytest.approx(math.pi * 100 ** 2, rel=0.005)
    assert where.measures()["area_m2"] == pytest.approx(math.pi * 100 ** 2, rel=0.005)
    assert where.feature()["properties"]["feature"] == {"layer": "spots", "id": "P1"}


def test_a_drawn_polygon_with_a_hole(store):
    # a 1 km square with a 500 m hole over W5 (wholly in the hole) and W7 (half in it)
    ring = box(3000, 0, 4000, 1000, hole=(3250, 250, 3750, 750))
    where = region(store, polygon=drawn(ring))
    assert where.measures()["area_m2"] == pytest.approx(750_000.0, abs=0.5)
    got = within(store, ["works"], where)["layers"]["works"]
    assert [f["id"] for f in got["features"]] == ["W7"]
    assert got["features"][0]["share"] == 0.5 and got["features"][0]["inside"]["area_mu"] == 15.0


def test_a_drawn_multipolygon_and_within(store):
    parts = shapely.MultiPolygon([box(-10, -10, 1010, 510), box(2950, 350, 3850, 650)])
    where = region(store, polygon=drawn(parts))
    hits = within(store, "works", where)["layers"]["works"]
    inside = {f["id"]: f["inside"]["area_m2"] for f in hits["features"]}
    # W1 whole; W2 y 250-510 (1000 x 260); W3's strip x 1000-1010, y 0-510; W5 whole; W7 whole
    assert inside == pytest.approx({"W1": 500_000.0, "W2": 260_000.0, "W3": 5_100.0, "W5": 40_000.0,
                                    "W7": 20_000.0}, abs=0.5)
    assert hits["stats"]["count"] == 5
    assert hits["stats"]["inside"]["area_m2"] == pytest.approx(825_100.0, abs=1)
    wholly = within(store, "works", where, predicate="within")["layers"]["works"]
    assert [f["id"] for f in wholly["features"]] == ["W1", "W5", "W7"]


def test_a_line_inside_is_measured_by_length(store):
    where = region(store, feature=("zoning", "Z1"))
    found = within(store, ["ways", "spots"], where)["layers"]
    assert found["ways"]["features"][0]["inside"]["length_km"] == 0.5 and found["ways"]["features"][0]["share"] == 0.5
    assert [f["id"] for f in found["spots"]["features"]] == ["P1"]


def test_an_invalid_polygon_is_refused_unless_repaired(store):
    x, y = X0 + 100, Y0 + 100
    bowtie = shapely.Polygon([(x, y), (x + 200, y + 200), (x + 200, y), (x, y + 200)])
    with pytest.raises(InvalidGeometry) as refused:
        region(store, polygon=drawn(bowtie))
    assert refused.value.parameter == "polygon" and "repair" in refused.value.detail
    assert refused.value.location is not None
    repaired = region(store, polygon=drawn(bowtie), repair=True)
    assert repaired.measures()["area_m2"] == pytest.approx(20_000.0, rel=1e-3)  # two triangles of 10,000 m²


@pytest.mark.parametrize("kwargs, parameter", [
    ({"polygon": {"type": "Point", "coordinates": [122.1, 37.5]}}, "polygon"),
    ({"polygon": {"type": "Polygon", "coordinates": [[[509000, 4152000], [510000, 4152000], [510000, 4153000]]]}},
     "polygon"),
    ({"polygon": {"type": "Polygon", "coordinates": [[[122.1 + i * 1e-6, 37.5 + (i % 2) * 1e-6]
                                                      for i in range(10_001)]]}}, "polygon"),
    ({"feature": ("spots", "P1"), "distance_m": -1}, "distance_m"),
    ({"feature": ("spots", "P1"), "distance_m": 50_001}, "distance_m"),
    ({"feature": ("spots", "P1"), "distance_m": "far"}, "distance_m"),
    ({}, "polygon"),
])
def test_bad_regions_name_the_parameter(store, kwargs, parameter):
    with pytest.raises(InvalidParameter) as refused:
        region(store, **kwargs)
    assert refused.value.parameter == parameter


def test_an_unknown_feature_or_layer(store):
    with pytest.raises(NotFound) as missing:
        region(store, feature=("spots", "P9"))
    assert missing.value.parameter == "feature"
    where = region(store, feature=("spots", "P1"), distance_m=10)
    with pytest.raises(NotFound) as unknown:
        within(store, ["nope"], where)
    assert unknown.value.parameter == "layers"
    with pytest.raises(InvalidParameter) as bbox:
        within(store, ["works"], where, filters={"bbox": "1,2,3,4"})
    assert bbox.value.parameter == "bbox"
