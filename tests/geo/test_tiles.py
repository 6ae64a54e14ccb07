"""Tile math, drawing, vector encoding, picking and MBTiles reading, each against values worked
out by hand or read back by another reader (Pillow, the MVT decoder, sqlite3)."""
from __future__ import annotations

import io
import math
import sqlite3

import numpy as np
import pytest
import shapely
from PIL import Image

from geo.errors import InvalidParameter
from geo.tiles import grid, mbtiles, mvt, pick, raster


def test_tile_bounds_of_the_world_and_a_quarter():
    assert grid.tile_bounds(0, 0, 0) == pytest.approx((-180, -grid.MAX_LAT, 180, grid.MAX_LAT))
    west, south, east, north = grid.tile_bounds(1, 1, 0)  # the north-east quarter
    assert (west, south, east) == pytest.approx((0, 0, 180), abs=1e-9)
    assert north == pytest.approx(grid.MAX_LAT)


def test_tile_of_weihai_at_zoom_10():
    # 122.1E: floor((122.1 + 180) / 360 * 1024) = 859; 37.5N: floor((1 - ln(tan + sec) / pi) / 2 * 1024) = 394
    lat = math.radians(37.5)
    row = int((1 - math.log(math.tan(lat) + 1 / math.cos(lat)) / math.pi) / 2 * 1024)
    assert grid.tile_of(122.1, 37.5, 10) == (859, row)
    w, s, e, n = grid.tile_bounds(10, 859, row)
    assert w <= 122.1 < e and s <= 37.5 < n


def test_pixels_and_metres_per_pixel():
    px, py = grid.to_pixels(np.array([0.0]), np.array([0.0]), 0)
    assert (px[0], py[0]) == pytest.approx((128, 128))
    assert grid.metres_per_pixel(0, 0) == pytest.approx(156543.03, rel=1e-6)
    assert grid.metres_per_pixel(60, 1) == pytest.approx(156543.03 / 4, rel=1e-6)


@pytest.mark.parametrize("z,x,y,bad", [(23, 0, 0, "z"), (2, 4, 0, "x"), (2, 0, -1, "y")])
def test_tiles_off_the_grid_are_refused(z, x, y, bad):
    with pytest.raises(InvalidParameter) as err:
        grid.check_tile(z, x, y)
    assert err.value.parameter == bad


def _centre(z, x, y):
    w, s, e, n = grid.tile_bounds(z, x, y)
    return (w + e) / 2, (s + n) / 2


def test_a_point_is_drawn_as_a_disc_at_its_place():
    z, x, y = 12, 3437, 1587
    w, s, e, n = grid.tile_bounds(z, x, y)
    lon, lat = w + (e - w) * 0.25, n - (n - s) * 0.75  # a quarter across, three quarters down: pixel (64, 192)
    image = raster.render([shapely.Point(lon, lat)], [[255, 0, 0, 255]], z, x, y, kind="point", radius=4)
    png = Image.open(io.BytesIO(raster.png(image)))
    assert png.size == (256, 256) and png.mode == "RGBA"
    assert png.getpixel((64, 192 - 4))[:3] == (255, 0, 0)  # on the rim
    assert png.getpixel((64, 192))[3] > 0
    assert png.getpixel((64 + 8, 192))[3] == 0 and png.getpixel((10, 10))[3] == 0


def test_a_line_across_the_tile_is_drawn_along_its_whole_length():
    z, x, y = 14, 13748, 6348
    w, s, e, n = grid.tile_bounds(z, x, y)
    mid = (s + n) / 2
    line = shapely.LineString([(w - 1, mid), (e + 1, mid)])  # far beyond both edges: clipped
    image = raster.render([line], [[0, 0, 255, 255]], z, x, y, kind="line", weight=2)
    row = np.flatnonzero(image[:, 128, 3])
    assert len(row) == 2  # two pixels wide
    assert image[row[0], :, 3].all()  # every column of that row


def test_a_polygon_is_filled_with_its_hole_empty_and_outlined():
    z, x, y = 14, 13748, 6348
    w, s, e, n = grid.tile_bounds(z, x, y)
    dx, dy = (e - w) / 256, (n - s) / 256
    box = lambda a, b: [(w + a * dx, n - a * dy), (w + b * dx, n - a * dy), (w + b * dx, n - b * dy), (w + a * dx, n - b * dy)]
    polygon = shapely.Polygon(box(32, 224), [box(100, 156)])
    image = raster.render([polygon], [[0, 160, 0, 255]], z, x, y, kind="polygon", fill_opacity=0.5, weight=2)
    assert image[64, 64, 3] == 127  # filled at half opacity
    assert image[128, 128, 3] == 0  # the hole
    assert image[32, 128, 3] == 255  # the outline, solid


def test_a_later_feature_is_drawn_over_an_earlier_one():
    z, x, y = 14, 13748, 6348
    lon, lat = _centre(z, x, y)
    image = raster.render([shapely.Point(lon, lat)] * 2, [[255, 0, 0, 255], [0, 0, 255, 255]], z, x, y, kind="point")
    assert tuple(image[128, 128 - 5][:3]) == (0, 0, 255)


@pytest.mark.parametrize("kind, geoms", [
    ("point", [shapely.Point(122.12, 37.50), None, shapely.MultiPoint([(122.0, 37.4), (122.3, 37.6)])]),
    ("line", [shapely.MultiLineString([[(122.0, 37.5), (122.1, 37.52)], [(122.2, 37.4), (122.25, 37.45), (122.3, 37.41)]]),
              shapely.LineString(), shapely.LineString([(121.9, 37.0), (122.0, 37.1)])]),
    ("polygon", [shapely.Polygon([(122.0, 37.4), (122.2, 37.4), (122.2, 37.6), (122.0, 37.6)],
                                 [[(122.05, 37.45), (122.1, 37.45), (122.1, 37.5), (122.05, 37.45)]]),
                 None, shapely.MultiPolygon([shapely.box(121.9, 37.0, 122.0, 37.1), shapely.box(122.4, 37.2, 122.5, 37.3)])]),
])
def test_shapes_give_back_the_geometries_they_were_made_of(kind, geoms):
    """The features asked for, made from the flat arrays again (a MultiPoint, MultiLineString or
    MultiPolygon each, holes kept), equal to what they were made of within 1e-9 degrees; one
    without vertices is None; features not asked for are left out."""
    shapes = raster.shapes(np.array(geoms, dtype=object), kind)
    multi = {"point": shapely.multipoints, "line": shapely.multilinestrings, "polygon": shapely.multipolygons}[kind]
    got = shapes.geometries(np.array([0, 1, 2]))
    assert got[1] is None
    for made, given in ((got[0], geoms[0]), (got[2], geoms[2])):
        expected = given if given.geom_type.startswith("Multi") else multi([given])
        assert made.geom_type == expected.geom_type and shapely.equals_exact(made, expected, 1e-9)
    only_last = shapes.geometries(np.array([2]))
    assert len(only_last) == 1 and shapely.equals_exact(only_last[0], got[2], 0)


def test_vector_tile_round_trip():
    z, x, y = 14, 13748, 6348
    w, s, e, n = grid.tile_bounds(z, x, y)
    lon, lat = w + (e - w) / 4, n - (n - s) / 2
    data = mvt.encode("sites", [shapely.Point(lon, lat), shapely.Point(w - 1, s - 1)],
                      [{"name_zh": "威海公园", "year": 2020}, {"name_zh": "远处"}], z, x, y, ids=[7, 8])
    layers = mvt.decode(data)
    features = layers["sites"]["features"]
    assert [f["id"] for f in features] == [7]  # the far point is not in the tile
    assert features[0]["properties"] == {"name_zh": "威海公园", "year": 2020}
    assert features[0]["geometry"]["coordinates"] == [1024, 2048]  # a quarter across, half down, of 4096
    assert layers["sites"]["extent"] == 4096


def test_pick_takes_the_nearest_within_the_tolerance_at_the_zoom():
    lon, lat = 122.1, 37.5
    step = grid.degrees_per_pixel(16)
    near, nearer = shapely.Point(lon + 4 * step, lat), shapely.Point(lon + 2 * step, lat)
    area = shapely.box(lon - 10 * step, lat - 10 * step, lon + 10 * step, lat + 10 * step)
    assert pick.nearest([near, nearer], lon, lat, 16) == 1
    assert pick.nearest([near], lon, lat, 16, tolerance_px=3) is None
    assert pick.nearest([near], lon, lat, 17, tolerance_px=5) is None  # 8 pixels apart at zoom 17
    assert pick.nearest([near, area], lon, lat, 16) == 1  # inside the polygon: distance 0


def test_mbtiles_tiles_by_xyz_rows(tmp_path):
    path = tmp_path / "weihai.mbtiles"
    con = sqlite3.connect(path)
    con.executescript("CREATE TABLE metadata (name TEXT, value TEXT);"
                      "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);")
    con.executemany("INSERT INTO metadata VALUES (?, ?)", [("name", "威海底图"), ("format", "png")])
    con.execute("INSERT INTO tiles VALUES (1, 1, 1, ?)", (b"north-east",))  # TMS row 1 of 2 = XYZ row 0
    con.commit()
    con.close()
    assert mbtiles.metadata(path)["name"] == "威海底图"
    assert mbtiles.read_tile(path, 1, 1, 0) == b"north-east"
    assert mbtiles.read_tile(path, 1, 1, 1) is None
