"""A rebuild of an edited store never loses a planner's edit: the sources' changes come in as
revisions by ``sources``, a conflict is reported and left as the planner made it (layers.sources)."""
from __future__ import annotations

import pytest

from geo.store import Query, open_store
from layers import build as builder
from layers.api import edits
from layers.sources import remember as remember_sources
from tests import pg
from tests.conftest import small_sources, write_sources


@pytest.fixture()
def store(tmp_path):
    store = open_store(tmp_path / "atlas.gpkg", key="id")
    builder.build(store, write_sources(tmp_path / "v1"))
    return store


def _props(store, layer, key):
    return store.query(layer, Query(ids=(key,))).iloc[0]


def test_unchanged_sources_apply_nothing(store, tmp_path):
    head = store.history(limit=1)[0].id
    counts, report = builder.build(store, write_sources(tmp_path / "again"))
    assert report is not None and not (report.added or report.updated or report.deleted or report.conflicts)
    assert store.history(limit=1)[0].id == head and counts["parks"] == 2


def test_source_changes_come_in_and_planners_edits_stay(store, tmp_path):
    _, v = edits.versioned(store, "parks", "parks-huaxiacheng")
    edits.update(store, "parks", "parks-huaxiacheng", {"properties": {"status": "completed"}, "message": "竣工"},
                 if_match=str(v), actor="规划员甲")
    _, v = edits.versioned(store, "roads", "roads-wangdaohenan")
    edits.update(store, "roads", "roads-wangdaohenan", {"properties": {"name_en": "Planner's name"}},
                 if_match=str(v), actor="规划员乙")
    sources = small_sources()
    sources["parks"][0]["properties"]["name_en"] = "Huaxia City (sources v2)"      # other fields: merged
    sources["roads"][0]["properties"]["name_en"] = "Wangdaohe S. Rd (v2)"           # the same field: conflict
    sources["projects"][1]["properties"]["status"] = "completed"                    # only the sources
    sources["projects"].append(dict(sources["projects"][0], properties={**sources["projects"][0]["properties"],
                                                                        "id": "projects-new", "name_zh": "新项目"}))
    del sources["zones"][1]                                                         # removed from the sources
    counts, report = builder.build(store, write_sources(tmp_path / "v2", sources))
    assert report.updated == ["parks-huaxiacheng", "projects-weiqiao"] and report.added == ["projects-new"]
    assert report.deleted == ["zones-likoushan"]
    assert report.conflicts == [("roads-wangdaohenan", "changed by the sources and by a planner: name_en")]
    assert _props(store, "parks", "parks-huaxiacheng")["status"] == "completed"            # the planner's edit
    assert _props(store, "parks", "parks-huaxiacheng")["name_en"] == "Huaxia City (sources v2)"  # and the sources'
    assert _props(store, "roads", "roads-wangdaohenan")["name_en"] == "Planner's name"      # not overwritten
    assert _props(store, "projects", "projects-weiqiao")["status"] == "completed"
    assert {c.key for r in store.history(actor="sources") for c in r.changes} == {
        "parks-huaxiacheng", "projects-weiqiao", "projects-new", "zones-likoushan"}
    assert store.verify().ok
    # the conflict stays reported until resolved; --take-sources takes the sources' version
    _, again = builder.build(store, write_sources(tmp_path / "v2b", sources))
    assert again.conflicts == report.conflicts and not again.updated
    _, taken = builder.build(store, write_sources(tmp_path / "v2c", sources), take_sources=True)
    assert taken.updated == ["roads-wangdaohenan"]
    assert _props(store, "roads", "roads-wangdaohenan")["name_en"] == "Wangdaohe S. Rd (v2)"
    # taking the sources' is a revision like any other: the planner's version can be restored


def test_replace_writes_a_fresh_store(store, tmp_path):
    _, v = edits.versioned(store, "parks", "parks-huaxiacheng")
    edits.update(store, "parks", "parks-huaxiacheng", {"properties": {"status": "completed"}}, if_match=str(v), actor="甲")
    _, report = builder.build(store, write_sources(tmp_path / "v1b"), replace=True)
    assert report is None and _props(store, "parks", "parks-huaxiacheng")["status"] == "operating"


def test_a_store_built_before_the_position_fields_gets_them(tmp_path):
    """A store (and its remembered sources) from before the catalog had position_source and its
    notes: the rebuild adds the fields and brings the sources' positions in, keeping an edit."""
    import json

    from layers import catalog, sources as applier

    old = [f for f in catalog.STORE_FIELDS if not f.name.startswith("position_")]
    layers = builder.build_all(write_sources(tmp_path / "v1"))
    frames = {k: v.drop(columns=["position_source", "position_note_zh", "position_note_en"]) for k, v in layers.items()}
    store = open_store(tmp_path / "old.gpkg", key="id")
    store.replace(frames, {name: old for name in frames})
    applier.remember(store, layers)
    document = store.document(applier.DOCUMENT)
    for rows in document.values():  # remembered as the old catalog did: without the last three fields
        for row in rows.values():
            row["fields"] = row["fields"][:len(old)]
    store.put_document(applier.DOCUMENT, document)
    _, v = edits.versioned(store, "parks", "parks-huaxiacheng")
    edits.update(store, "parks", "parks-huaxiacheng", {"properties": {"status": "completed"}, "message": "竣工"},
                 if_match=str(v), actor="规划员甲")

    counts, report = builder.build(store, write_sources(tmp_path / "v2"))
    assert report.conflicts == [] and "parks-huaxiacheng" in report.updated
    assert {"position_source", "position_note_zh", "position_note_en"} <= {f.name for f in store.fields("parks")}
    park = _props(store, "parks", "parks-huaxiacheng")
    position = park["position_source"]
    assert (json.loads(position) if isinstance(position, str) else position)["kind"] == "public_poi"
    assert park["position_note_zh"] == "测试位置：兴趣点换算而来，偏差约300米" and park["status"] == "completed"


@pytest.mark.parametrize("backend", ["gpkg", "postgis"])
def test_a_layer_whose_geometry_type_changed_is_made_anew_and_the_old_one_kept(tmp_path, backend):
    """A store built when the parks were points (before issue 13): a rebuild cannot merge areas into
    a point layer feature by feature, so the old layer is set aside as a dropped layer (revisions:
    restorable, with the planner's edit) and the parks are made anew from the sources."""
    store = open_store(tmp_path / "atlas.gpkg" if backend == "gpkg" else pg.fresh_url(), key="id")
    layers = builder.build_all(write_sources(tmp_path / "v1"))
    points = layers["parks"].copy()
    points["geometry"] = points.geometry.representative_point()  # each park a dot, as it was
    points[["area_m2", "area_ha", "area_mu"]] = 0.0
    old = {**layers, "parks": points}
    builder.write(store, old)
    remember_sources(store, old)
    assert store.info("parks").geometry_type == "Point"
    _, v = edits.versioned(store, "parks", "parks-huaxiacheng")
    edits.update(store, "parks", "parks-huaxiacheng", {"properties": {"status": "completed"}, "message": "竣工"},
                 if_match=str(v), actor="规划员甲")

    counts, report = builder.build(store, write_sources(tmp_path / "v2"))
    assert report.retyped == [("parks", "Point", "MultiPolygon", "parks_point_before", ["parks-huaxiacheng"])]
    assert report.layers_created == ["parks"] and sorted(report.added) == ["parks-hostile", "parks-huaxiacheng"]
    assert not (report.updated or report.deleted or report.conflicts)
    summary = report.summary()
    assert "layer parks changed from Point to MultiPolygon" in summary and "parks_point_before" in summary
    assert "a planner had changed parks-huaxiacheng there" in summary
    assert store.info("parks").geometry_type == "MultiPolygon"
    parks = store.query("parks", Query()).set_index("id")
    assert set(parks.geom_type) == {"MultiPolygon"} and (parks["area_mu"] > 0).all()
    assert _props(store, "roads", "roads-wangdaohenan")["name_zh"] == "望岛河南路"  # the other layers as they were
    assert "parks_point_before" in store.dropped_layers() and "parks_point_before" not in store.layers()
    assert store.verify().ok
    # the next build finds nothing to do
    _, again = builder.build(store, write_sources(tmp_path / "v3"))
    assert not (again.retyped or again.added or again.updated or again.deleted or again.conflicts)
    # the old layer, with the planner's edit, comes back under its own name
    drop = next(r for r in store.history(actor="sources") if "parks_point_before dropped" in r.message)
    store.restore_layer("parks_point_before", revision_id=drop.id - 1, actor="管理员", message="看旧的点")
    kept = store.query("parks_point_before", Query()).set_index("id")
    assert set(kept.geom_type) == {"Point"} and kept.loc["parks-huaxiacheng", "status"] == "completed"
