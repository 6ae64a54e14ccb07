"""geo.readers.report / repair / force_2d on frames and files the tests make: invalid shapes with
their row, reason and place; empty shapes, mixed types and heights counted; repairs only on request."""
from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon

from geo.readers import force_2d, open_source, read, repair, report

#: a bow-tie: its edges cross at (122.105, 37.505)
BOWTIE = Polygon([(122.10, 37.50), (122.11, 37.51), (122.11, 37.50), (122.10, 37.51)])
SQUARE = Polygon([(122.0, 37.4), (122.01, 37.4), (122.01, 37.41), (122.0, 37.41)])


def _frame(geoms, crs="EPSG:4490"):
    return gpd.GeoDataFrame({"名称": [f"地块{i}" for i in range(len(geoms))]}, geometry=geoms, crs=crs)


def test_invalid_shapes_listed_with_row_reason_and_place():
    got = report(_frame([SQUARE, BOWTIE, SQUARE]))
    assert got.count == 3 and got.invalid_count == 1 and not got.ok
    (problem,) = got.invalid
    assert problem.row == 1 and "Self-intersection" in problem.reason
    assert problem.location == pytest.approx((122.105, 37.505))
    assert problem.lonlat == pytest.approx((122.105, 37.505), abs=1e-6)  # CGCS2000 ~ WGS84
    assert any("invalid" in note for note in got.notes())


def test_a_projected_frame_gives_the_place_in_lon_lat():
    projected = _frame([BOWTIE]).to_crs("EPSG:4550")
    (problem,) = report(projected).invalid
    assert problem.location[0] > 100_000 and problem.lonlat == pytest.approx((122.105, 37.505), abs=1e-6)


def test_empty_mixed_and_clean():
    got = report(_frame([SQUARE, None, Polygon(), Point(122, 37), LineString([(122, 37), (122.1, 37.1)])]))
    assert got.empty == 2 and got.mixed and got.types == {"Polygon": 1, "Point": 1, "LineString": 1}
    clean = report(_frame([SQUARE, shapely.MultiPolygon([SQUARE])]))
    assert clean.ok and not clean.mixed and clean.notes() == []


def test_repair_only_the_invalid_and_keeps_polygons():
    frame = _frame([SQUARE, BOWTIE, None])
    fixed, count = repair(frame)
    assert count == 1
    assert shapely.is_valid(fixed.geometry.iloc[1]) and fixed.geometry.iloc[1].geom_type == "MultiPolygon"
    assert len(fixed.geometry.iloc[1].geoms) == 2 and fixed.geometry.iloc[1].area > 0  # two triangles
    assert fixed.geometry.iloc[0].equals(SQUARE) and fixed.geometry.iloc[2] is None
    assert not shapely.is_valid(frame.geometry.iloc[1])  # the caller's frame is untouched
    assert report(fixed).invalid_count == 0 and repair(fixed)[1] == 0


def test_z_from_a_file_reported_and_dropped(tmp_path):
    path = tmp_path / "三维.gpkg"
    lifted = shapely.force_3d(SQUARE, 12.5)
    _frame([lifted, lifted]).to_file(path, layer="建筑", engine="pyogrio")
    source = open_source(path)
    assert source.layer().has_z and source.layer().geometry_type == "Polygon"
    frame = read(source)
    got = report(frame)
    assert got.has_z == 2 and any("Z (heights)" in note for note in got.notes())
    flat, count = force_2d(frame)
    assert count == 2 and not shapely.has_z(flat.geometry.array).any() and shapely.has_z(frame.geometry.array).all()
    assert force_2d(flat)[1] == 0
