"""Areas and lengths come from EPSG:4550, in m², ha, 亩 and km."""
from __future__ import annotations

import pytest
import shapely
import shapely.affinity
from pyproj import Transformer

from geo.measure import measure

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


@pytest.mark.parametrize("make, m2, ha, mu", [
    # a 1 km square turned by 30° (not along the grid), and a right triangle with legs of 3 km and 1 km;
    # the expected figures are written out here: 1 ha = 10,000 m², 1 亩 = 1/15 ha
    (lambda x, y: shapely.affinity.rotate(shapely.box(x, y, x + 1000, y + 1000), 30, origin=(x, y)),
     1_000_000, 100, 1500),
    (lambda x, y: shapely.Polygon([(x, y), (x + 3000, y), (x, y + 1000)]), 1_500_000, 150, 2250),
], ids=["turned-square", "triangle"])
def test_known_areas_in_square_metres_hectares_and_mu(make, m2, ha, mu):
    # drawn in EPSG:4550 coordinates near Wendeng, reprojected to WGS84 by pyproj here, not by geo
    shape = make(416_000.0, 4_119_000.0)
    assert shape.area == pytest.approx(m2)
    m = measure([_to_wgs(shape)])
    assert m["area_m2"][0] == pytest.approx(m2, rel=1e-6)
    assert m["area_ha"][0] == pytest.approx(ha, rel=1e-6)
    assert m["area_mu"][0] == pytest.approx(mu, abs=0.1)
    assert m["length_km"][0] == 0


def test_repaired_makes_invalid_shapes_valid_and_leaves_the_rest():
    from geo.measure import repaired

    bow_tie = shapely.Polygon([(0, 0), (2, 2), (2, 0), (0, 2), (0, 0)])  # crosses itself: invalid
    square = shapely.box(0, 0, 1, 1)
    out = repaired([bow_tie, square, None])
    assert not shapely.is_valid(bow_tie) and shapely.is_valid(out[0])
    assert shapely.area(out[0]) == pytest.approx(2.0)  # its two triangles of 1 m² each
    assert out[1] is square and out[2] is None


def test_points_beside_areas_and_lines_measure_nothing_and_leave_the_others_as_they_were():
    square = shapely.box(122.10, 37.50, 122.11, 37.51)
    line = shapely.LineString([(122.10, 37.50), (122.11, 37.50)])
    alone = measure([square, line])
    mixed = measure([shapely.Point(122.1, 37.5), square, None, line])
    assert list(mixed["area_m2"]) == [0.0, alone["area_m2"][0], 0.0, 0.0]
    assert list(mixed["length_km"]) == [0.0, 0.0, 0.0, alone["length_km"][1]]
    assert alone["area_m2"][0] > 800_000  # about 0.89 km² at 37.5°N: measured in EPSG:4550, not degrees
