"""Edits through layers.api.edits and the log through layers.api.history, over a real store built
from the tests' own small sources: every check before a write, versions, measures, the history."""
from __future__ import annotations

import json

import pytest

from geo.errors import InvalidGeometry, InvalidParameter, Stale
from geo.store import Query, open_store
from layers import build as builder
from layers.api import edits, history
from tests.conftest import write_sources

PARK = {"type": "Feature", "properties": {"name_zh": "海滨新公园", "category": "urban_park", "district": "371002"},
        "geometry": {"type": "Polygon", "coordinates": [[[122.13, 37.51], [122.131, 37.51], [122.131, 37.511],
                                                         [122.13, 37.51]]]}, "message": "新建公园"}
SQUARE = {"type": "Polygon", "coordinates": [[[122.0, 37.5], [122.01, 37.5], [122.01, 37.51], [122.0, 37.51], [122.0, 37.5]]]}
BOWTIE = {"type": "Polygon", "coordinates": [[[122.0, 37.5], [122.1, 37.6], [122.1, 37.5], [122.0, 37.6], [122.0, 37.5]]]}


@pytest.fixture()
def store(tmp_path):
    store = open_store(tmp_path / "atlas.gpkg", key="id")
    builder.build(store, write_sources(tmp_path / "sources"))
    return store


def test_a_new_feature_is_checked_measured_and_recorded(store):
    body, version = edits.create(store, "zones", {
        "properties": {"name_zh": "温泉镇规划片区", "category": "town_development", "district": "371002",
                       "area_mu": 1, "status": "planned"},
        "geometry": SQUARE, "message": "按规划绘制"}, actor="规划员甲")
    feature = json.loads(body)
    assert feature["version"] == version and feature["geometry"]["type"] == "MultiPolygon"
    props = feature["properties"]
    # measured in EPSG:4550, not taken from the body: ~0.01° x 0.01° at 37.5°N is ~982,000 m²
    assert 970_000 < props["area_m2"] < 995_000 and props["area_mu"] == pytest.approx(props["area_m2"] / 666.6667, rel=1e-3)
    assert props["accuracy"] == "schematic" and props["source"][0]["editor"] == "规划员甲"
    (revision,) = store.history(limit=1)
    assert (revision.actor, revision.message, revision.changes[0].op) == ("规划员甲", "按规划绘制", "add")


@pytest.mark.parametrize("props, parameter", [
    ({"name_zh": "", "category": "urban_park", "district": "371002"}, "name_zh"),
    ({"name_zh": "甲", "category": "no_such", "district": "371002"}, "category"),
    ({"name_zh": "甲", "category": "urban_park", "district": "999999"}, "district"),
    ({"name_zh": "甲", "category": "urban_park", "district": "371002", "status": "done"}, "status"),
    ({"name_zh": "甲", "category": "urban_park", "district": "371002", "year": "2020"}, "year"),
    ({"name_zh": "甲", "category": "urban_park", "district": "371002", "year": 3000}, "year"),
    ({"name_zh": "甲", "category": "urban_park", "district": "371002", "date": "去年"}, "date"),
    ({"name_zh": "甲", "category": "urban_park", "district": "371002", "colour": "red"}, "colour"),
    ({"name_zh": "甲", "category": "urban_park", "district": "371002", "figures": "not json"}, "figures"),
])
def test_bad_properties_are_refused_naming_the_field_and_nothing_is_written(store, props, parameter):
    before = store.history(limit=1)[0].id
    with pytest.raises(InvalidParameter) as err:
        edits.create(store, "parks", {**PARK, "properties": props}, actor="甲")
    assert err.value.parameter == parameter
    assert store.history(limit=1)[0].id == before and store.count("parks", Query()) == 2


def test_bad_geometry_is_refused_with_the_place_marked(store):
    with pytest.raises(InvalidGeometry) as err:
        edits.create(store, "zones", {"properties": {"name_zh": "坏形", "category": "town_development",
                                                     "district": "371002"}, "geometry": BOWTIE}, actor="甲")
    assert err.value.status == 400 and err.value.location == pytest.approx((122.05, 37.55))
    assert "Self-intersection" in err.value.detail
    projected = [[[500000, 4150000], [500100, 4150000], [500100, 4150100], [500000, 4150000]]]
    for geometry, words in (({"type": "LineString", "coordinates": [[122, 37.5], [122.1, 37.5]]}, "holds MultiPolygon"),
                            ({"type": "Point", "coordinates": [122.1, 37.5]}, "a Point cannot go in it: draw a polygon instead"),
                            ({"type": "Polygon", "coordinates": projected}, "longitude/latitude"),
                            ({"type": "Polygon"}, "not readable")):
        with pytest.raises(InvalidGeometry, match=words):
            edits.create(store, "parks", {**PARK, "geometry": geometry}, actor="甲")


def test_an_update_needs_the_version_and_a_stale_one_is_refused(store):
    _, version = edits.versioned(store, "parks", "parks-huaxiacheng")
    with pytest.raises(edits.PreconditionRequired):
        edits.update(store, "parks", "parks-huaxiacheng", {"properties": {"status": "completed"}}, if_match=None, actor="甲")
    _, new = edits.update(store, "parks", "parks-huaxiacheng", {"properties": {"status": "completed"}, "message": "竣工"},
                          if_match=f'"{version}"', actor="甲")
    assert new > version
    with pytest.raises(Stale) as err:
        edits.update(store, "parks", "parks-huaxiacheng", {"properties": {"status": "planned"}},
                     if_match=f'W/"{version}"', actor="乙")
    assert err.value.current == new
    row = store.query("parks", Query(ids=("parks-huaxiacheng",))).iloc[0]
    assert row["status"] == "completed"
    assert store.query("parks", Query(ids=("parks-huaxiacheng",), as_of=store.history(limit=2)[1].time)).iloc[0]["status"] == "operating"


def test_the_history_shows_who_when_why_and_what_changed(store):
    body, version = edits.create(store, "parks", PARK, actor="甲")
    key = json.loads(body)["id"]
    edits.update(store, "parks", key, {"properties": {"name_en": "Seaside Park"},
                                       "geometry": {"type": "Polygon", "coordinates": [[[122.14, 37.52], [122.141, 37.52],
                                                                                        [122.141, 37.521], [122.14, 37.52]]]},
                                       "message": "改名并移位"},
                 if_match=str(version), actor="乙")
    shown = history.feature_history(store, "parks", key)["revisions"]
    assert [r["actor"] for r in shown] == ["乙", "甲"]
    latest = shown[0]["changes"][0]
    # the measures follow the moved shape (its area in EPSG:4550 differs a little further north)
    assert set(latest["fields"]) - {"area_m2", "area_ha", "area_mu"} == {"name_en"} and latest["geometry_changed"] is True
    assert latest["before"]["geometry"]["coordinates"][0][0][0] == [122.13, 37.51]
    assert latest["after"]["properties"]["name_en"] == "Seaside Park"
    log = history.change_log(store, {"actor": "甲"})
    assert [r["actor"] for r in log["revisions"]] == ["甲"]
    with pytest.raises(InvalidParameter):
        history.change_log(store, {"who": "甲"})


def test_delete_and_restore_round_trip(store):
    _, version = edits.versioned(store, "roads", "roads-wangdaohenan")
    before = store.query("roads", Query())
    edits.delete(store, "roads", "roads-wangdaohenan", {"message": "误删"}, if_match=str(version), actor="甲")
    assert store.count("roads", Query()) == 0
    add = next(r for r in store.history(layer="roads") if r.changes and r.changes[0].op == "delete")
    history.restore_feature(store, "roads", "roads-wangdaohenan", {"revision": add.id - 1, "message": "恢复"}, actor="乙")
    after = store.query("roads", Query())
    assert after.drop(columns="geometry").equals(before.drop(columns="geometry"))
    assert after.geometry.iloc[0].equals(before.geometry.iloc[0])
