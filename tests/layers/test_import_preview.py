"""What the import preview draws (layers.imports.preview), from an inspection of files written here:
the chosen coordinate system's shapes where the truth is (pyproj, independently), the runner-up
drawn elsewhere — or left undrawn when it would not lie on the Earth —, a large file sampled, and an
invalid shape's marker at its place in WGS84."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from pyproj import Transformer

from layers import imports
from layers.imports import preview
from tests.layers.test_imports import CENTRES, NAMES, gbk_shapefile_zip

TO_4550 = Transformer.from_crs("EPSG:4326", "EPSG:4550", always_xy=True)


def _centres(collection) -> list[tuple[float, float]]:
    shapes = [shapely.geometry.shape(f["geometry"]) for f in collection["features"]]
    return [(s.centroid.x, s.centroid.y) for s in shapes]


def test_the_chosen_system_is_drawn_where_the_data_is_and_the_runner_up_elsewhere(reference, tmp_path):
    with imports.inspect(gbk_shapefile_zip(tmp_path / "src"), reference=reference, scratch=tmp_path) as found:
        drawn = found.to_dict()["preview"]
    chosen, *others = drawn["candidates"]
    assert chosen["chosen"] and chosen["key"] == "EPSG:4529" and drawn["count"] == len(NAMES)
    for (lon, lat), (x, y) in zip(CENTRES, _centres(chosen["features"])):
        assert abs(lon - x) < 1e-5 and abs(lat - y) < 1e-5  # ~1 m
    assert [f["properties"]["row"] for f in chosen["features"]["features"]] == list(range(1, len(NAMES) + 1))
    assert len(others) == 1 and not others[0]["chosen"]
    runner = others[0]
    if runner["features"] is not None:  # drawn: then not where the data is
        x, y = _centres(runner["features"])[0]
        assert abs(x - CENTRES[0][0]) > 0.01 or abs(y - CENTRES[0][1]) > 0.01


def test_a_large_file_is_sampled_and_an_invalid_shape_is_marked_where_it_is(reference, tmp_path):
    n = 1500
    lon, lat = np.full(n, 122.05), 37.45 + np.arange(n) * 1e-5
    x, y = TO_4550.transform(lon, lat)
    squares = [shapely.box(a - 3, b - 3, a + 3, b + 3) for a, b in zip(x, y)]
    bow = 700  # a self-crossing "bow tie" at this row
    a, b = x[bow], y[bow]
    squares[bow] = shapely.Polygon([(a - 5, b - 5), (a + 5, b + 5), (a + 5, b - 5), (a - 5, b + 5)])
    frame = gpd.GeoDataFrame({"名称": [f"地块{i}" for i in range(n)]}, geometry=squares, crs="EPSG:4550")
    path = tmp_path / "地块.gpkg"
    pyogrio.write_dataframe(frame, path)
    with imports.inspect(path, reference=reference, scratch=tmp_path) as found:
        drawn = found.to_dict()["preview"]
    assert drawn["count"] == n and drawn["sampled"] <= preview.SAMPLE
    assert len(drawn["candidates"][0]["features"]["features"]) == drawn["sampled"]
    (marker,) = drawn["invalid"]
    assert marker["row"] == bow + 1 and "self" in marker["reason"].lower()
    assert abs(marker["lon"] - 122.05) < 1e-4 and abs(marker["lat"] - lat[bow]) < 1e-4
