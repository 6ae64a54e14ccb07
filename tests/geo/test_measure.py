"""Areas and lengths come from EPSG:4550, in m², ha, 亩 and km."""
from __future__ import annotations

import pytest
import shapely
from pyproj import Transformer

from geo.measure import M2_PER_MU, measure

TO_WGS = Transformer.from_crs(4550, 4326, always_xy=True)


def _to_wgs(geom):
    return shapely.transform(geom, lambda xy: __import__("numpy").column_stack(TO_WGS.transform(xy[:, 0], xy[:, 1])))


def test_square_kilometre_near_weihai():
    # a 1000 m x 1000 m square drawn in EPSG:4550 itself, handed over in WGS84
    x0, y0 = 509_000.0, 4_152_000.0
    square = shapely.box(x0, y0, x0 + 1000, y0 + 1000)
    m = measure([_to_wgs(square)])
    assert m["area_m2"][0] == pytest.approx(1_000_000, rel=1e-6)
    assert m["area_ha"][0] == pytest.approx(100, rel=1e-6)
    assert m["area_mu"][0] == pytest.approx(1500, rel=1e-6)
    assert m["length_km"][0] == 0


def test_line_length_in_km_and_points_are_zero():
    line = shapely.LineString([(509_000, 4_152_000), (509_000, 4_154_500)])
    m = measure([_to_wgs(line), shapely.Point(122.1, 37.5)])
    assert m["length_km"][0] == pytest.approx(2.5, abs=1e-3)
    assert m["area_m2"][0] == 0 and m["area_m2"][1] == 0 and m["length_km"][1] == 0


def test_mu_is_a_fifteenth_of_a_hectare():
    assert M2_PER_MU * 15 == pytest.approx(10_000)
