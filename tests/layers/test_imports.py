"""Imports of planners' files (layers.imports and ``flask --app server import``): fixtures written
here — a zipped GBK Shapefile without .cpg in CGCS2000 GK zone 41 with the zone prefix, a UTF-8 CSV
with a BOM — imported as a new layer, appended, upserted by key; and files that must change nothing."""
from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Transformer

from geo.errors import (
    Conflict,
    EmptyFile,
    InvalidGeometry,
    InvalidParameter,
    MissingPart,
    TooLarge,
    UnsafeFile,
)
from geo.store import Query
from layers import imports
from server import create_app

NAMES = ["环翠楼公园", "威海公园", "刘公岛", "幸福门", "里口山"]
#: lon/lat of the features' centres: in Huancui (the test districts' Torch Hi-tech Zone square)
CENTRES = [(122.03 + 0.008 * i, 37.49 + 0.006 * i) for i in range(len(NAMES))]
TO_4529 = Transformer.from_crs("EPSG:4326", "EPSG:4529", always_xy=True)


def _head(store) -> tuple:
    revs = store.history(limit=1)
    return (revs[0].id if revs else None, hashlib.sha256(Path(store.path).read_bytes()).hexdigest())


def _squares_4529() -> list:
    out = []
    for lon, lat in CENTRES:
        x, y = TO_4529.transform(lon, lat)
        out.append(shapely.box(x - 100, y - 80, x + 100, y + 80))
    return out


def gbk_shapefile_zip(folder: Path, *, cpg: bool = False, dbf: bool = True) -> Path:
    """A zipped Shapefile in EPSG:4529 (x with the zone prefix 41), text in GBK, no .cpg and no
    .prj, the .dbf's language driver byte 0x57 ("ANSI": says nothing), as ArcGIS on Chinese Windows."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = gpd.GeoDataFrame({"code": [f"P{i:03d}" for i in range(len(NAMES))], "name_zh": NAMES,
                              "note": [f"{n}的说明" for n in NAMES]}, geometry=_squares_4529(), crs="EPSG:4529")
    shp = folder / "parcels.shp"
    pyogrio.write_dataframe(frame, shp, encoding="GBK")
    for suffix in ([] if cpg else [".cpg"]) + [".prj"] + ([] if dbf else [".dbf"]):
        shp.with_suffix(suffix).unlink(missing_ok=True)
    if dbf:
        data = bytearray(shp.with_suffix(".dbf").read_bytes())
        data[29] = 0x57
        shp.with_suffix(".dbf").write_bytes(bytes(data))
    archive = folder / "parcels.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in sorted(folder.glob("parcels.*")):
            if part.suffix != ".zip":
                zf.write(part, part.name)
    return archive


def test_gbk_shapefile_in_gk_zone_41_becomes_a_new_layer(store, reference, tmp_path):
    archive = gbk_shapefile_zip(tmp_path / "src")
    with imports.inspect(archive, reference=reference, scratch=tmp_path) as found:
        assert found.encoding in ("GBK", "GB18030")
        assert found.crs == "EPSG:4529", found.crs_reason
        assert found.count == len(NAMES)
        body = found.to_dict()
        assert body["crs_guess"]["ranked"][0]["candidate"]["key"] == "EPSG:4529"
        import json
        json.dumps(body)  # JSON-ready
        result = imports.commit(store, found, layer="parcels", actor="test", message="import parcels")
    assert found.folder is None  # the scratch folder is gone
    assert result.added == len(NAMES) and len(result.revisions) == 1  # the layer and its features: one revision
    rev = store.history(limit=1)[0]
    assert rev.id == result.revision and [c.op for c in rev.changes] == ["add"] * len(NAMES)
    stored = store.query("parcels", Query())
    assert sorted(stored["name_zh"]) == sorted(NAMES)
    assert set(stored["note"]) == {f"{n}的说明" for n in NAMES}
    assert store.info("parcels").geometry_type == "MultiPolygon"
    # every vertex within 1 m of pyproj's own transform of the source coordinates
    back = Transformer.from_crs("EPSG:4529", "EPSG:4326", always_xy=True)
    to_m = Transformer.from_crs("EPSG:4326", "EPSG:4550", always_xy=True)
    by_name = dict(zip(stored["name_zh"], stored.geometry))
    for name, square in zip(NAMES, _squares_4529()):
        src = shapely.get_coordinates(square)
        lon, lat = back.transform(src[:, 0], src[:, 1])
        got = shapely.get_coordinates(by_name[name])
        ex, ey = to_m.transform(lon, lat)
        gx, gy = to_m.transform(got[:, 0], got[:, 1])
        # each source vertex has a stored one within 1 m (the writer may turn a ring's direction)
        gaps = np.hypot(ex[:, None] - gx[None, :], ey[:, None] - gy[None, :]).min(axis=1)
        assert len(got) == len(src) and gaps.max() < 1.0
    assert stored["area_m2"].iloc[0] == pytest.approx(200 * 160, rel=0.01)
    assert store.history(limit=1)[0].actor == "test"


def test_utf8_bom_csv_is_appended_to_an_existing_layer(store, reference, tmp_path):
    csv = tmp_path / "projects.csv"
    rows = ["id,name_zh,category,district,lon,lat"]
    rows += [f"projects-new-{i},{n},enterprise,371002,{lon:.6f},{lat:.6f}" for i, (n, (lon, lat))
             in enumerate(zip(NAMES, CENTRES))]
    csv.write_bytes(b"\xef\xbb\xbf" + "\n".join(rows).encode("utf-8"))
    before = len(store.query("projects", Query()))
    found = imports.inspect(csv, reference=reference)
    assert found.encoding == "UTF-8" and "byte-order mark" in found.encoding_guess["reason_en"]
    assert found.crs in ("EPSG:4326", "EPSG:4490"), found.crs_reason
    result = imports.commit(store, found, layer="projects", mode="append", actor="test", message="")
    stored = store.query("projects", Query())
    assert len(stored) == before + len(NAMES) and result.added == len(NAMES)
    new = stored[stored["id"] == "projects-new-0"].iloc[0]
    assert new["name_zh"] == NAMES[0]
    assert (new.geometry.x, new.geometry.y) == pytest.approx(CENTRES[0], abs=1e-6)
    # the same rows again: the keys are there, nothing is written
    head = _head(store)
    with pytest.raises(Conflict, match="already in layer"):
        imports.commit(store, found, layer="projects", mode="append", actor="test", message="")
    assert _head(store) == head


def test_upsert_counts_match_what_is_committed(store, reference, tmp_path):
    archive = gbk_shapefile_zip(tmp_path / "v1")
    with imports.inspect(archive, reference=reference, scratch=tmp_path) as found:
        imports.commit(store, found, layer="parcels", key="code", actor="test", message="v1")
    # v2: P000 renamed, P001 unchanged ... P004 unchanged, P005 new
    v2 = tmp_path / "v2"
    v2.mkdir()
    frame = gpd.GeoDataFrame({"code": [f"P{i:03d}" for i in range(len(NAMES) + 1)],
                              "name_zh": ["环翠楼"] + NAMES[1:] + ["新地块"],
                              "note": [f"{n}的说明" for n in NAMES] + ["新的"]},
                             geometry=_squares_4529() + [shapely.box(*_squares_4529()[0].buffer(300).bounds)],
                             crs="EPSG:4529")
    pyogrio.write_dataframe(frame, v2 / "parcels.shp", encoding="UTF-8")
    with imports.inspect(v2 / "parcels.shp", reference=reference) as found:
        head = _head(store)
        planned = imports.plan(store, found, layer="parcels", mode="upsert", key="code", actor="test")
        assert (planned.added, planned.updated, planned.unchanged) == (1, 1, len(NAMES) - 1)
        assert _head(store) == head and planned.revisions == ()  # planning writes nothing
        result = imports.commit(store, found, layer="parcels", mode="upsert", key="code", actor="test",
                                message="v2")
    assert (result.added, result.updated, result.unchanged) == (planned.added, planned.updated, planned.unchanged)
    rev = store.history(limit=1)[0]
    assert rev.id == result.revision
    assert sorted((c.op, c.key) for c in rev.changes) == [("add", "P005"), ("update", "P000")]
    stored = store.query("parcels", Query(ids=("P000",)))
    assert stored["name_zh"].iloc[0] == "环翠楼"
    # undo: the layer as it was before the upsert
    store.restore_layer("parcels", revision_id=result.revision - 1, actor="test", message="undo")
    back = store.query("parcels", Query())
    assert sorted(back["id"]) == [f"P{i:03d}" for i in range(len(NAMES))]
    assert back.set_index("id").loc["P000", "name_zh"] == NAMES[0]


def _zip_slip(folder: Path) -> Path:
    path = folder / "slip.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("../../evil.shp", b"x" * 100)
    return path


def _no_dbf(folder: Path) -> Path:
    return gbk_shapefile_zip(folder / "nodbf", dbf=False)


def _empty(folder: Path) -> Path:
    path = folder / "empty.csv"
    path.write_text("id,name_zh,lon,lat\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("make", "error"), [(_zip_slip, UnsafeFile), (_no_dbf, MissingPart), (_empty, EmptyFile)])
def test_bad_files_are_refused_and_change_nothing(store, reference, tmp_path, make, error):
    head = _head(store)
    path = make(tmp_path)
    with pytest.raises(error) as caught:
        found = imports.inspect(path, reference=reference, scratch=tmp_path)
        imports.commit(store, found, layer="bad", actor="test", message="")
    assert caught.value.status in (400, 413, 422)
    assert path.name in caught.value.detail or "parcels" in caught.value.detail
    assert _head(store) == head
    assert not (tmp_path.parent / "evil.shp").exists()
    assert not list(tmp_path.glob("atlas-import-*"))  # the scratch folder removed


def test_cli_import_prints_the_inspection_and_the_revision(store, tmp_path):
    archive = gbk_shapefile_zip(tmp_path / "src")
    app = create_app({"STORE": str(store.path), "TESTING": True})
    runner = app.test_cli_runner()
    head = _head(store)
    refused = runner.invoke(args=["import", str(archive), "--layer", "parcels"], input="n\n")
    assert refused.exit_code != 0 and _head(store) == head
    result = runner.invoke(args=["import", str(archive), "--layer", "parcels", "--yes"])
    assert result.exit_code == 0, result.output
    assert "GB" in result.output and "EPSG:4529" in result.output
    rev = store.history(limit=1)[0]
    assert f"revision {rev.id}" in result.output and rev.actor.startswith("cli:")
    assert sorted(store.query("parcels", Query())["name_zh"]) == sorted(NAMES)


def test_cli_import_titles_and_colours_a_new_layer_and_refuses_that_for_an_existing_one(store, tmp_path):
    from layers import layermeta

    archive = gbk_shapefile_zip(tmp_path / "src")
    runner = create_app({"STORE": str(store.path), "TESTING": True}).test_cli_runner()
    made = runner.invoke(args=["import", str(archive), "--layer", "dikuai", "--title-zh", "规划地块",
                               "--title-en", "Planned parcels", "--style-field", "name_zh", "--yes"])
    assert made.exit_code == 0, made.output
    entry = layermeta.get(store, "dikuai")
    assert entry["title"] == {"zh": "规划地块", "en": "Planned parcels"} and entry["style"]["by"] == "name_zh"
    assert sorted(entry["style"]["categories"]) == sorted(NAMES)
    head = _head(store)
    refused = runner.invoke(args=["import", str(archive), "--layer", "dikuai", "--mode", "upsert", "--key", "code",
                                  "--title-zh", "别的名字", "--yes"])
    assert refused.exit_code == 2 and "--title-zh describes a new layer" in refused.output
    assert _head(store) == head and layermeta.get(store, "dikuai")["title"]["zh"] == "规划地块"


def test_invalid_shapes_are_refused_unless_the_repair_is_accepted(store, reference, tmp_path):
    x, y = TO_4529.transform(*CENTRES[0])
    bowtie = shapely.Polygon([(x, y), (x + 200, y + 200), (x + 200, y), (x, y + 200), (x, y)])
    frame = gpd.GeoDataFrame({"name_zh": ["蝴蝶结", "正常"]}, geometry=[bowtie, _squares_4529()[1]], crs="EPSG:4529")
    pyogrio.write_dataframe(frame, tmp_path / "bow.shp", encoding="UTF-8")
    head = _head(store)
    with imports.inspect(tmp_path / "bow.shp", reference=reference) as found:
        assert found.geometry["invalid_count"] == 1 and found.geometry["invalid"][0]["row"] == 0
        with pytest.raises(InvalidGeometry, match="--repair"):
            imports.commit(store, found, layer="bow", actor="test")
        assert _head(store) == head
        result = imports.commit(store, found, layer="bow", repair=True, actor="test")
    assert result.repaired == 1
    assert shapely.is_valid(store.query("bow", Query()).geometry.array).all()


def test_an_upsert_needs_its_key_and_writes_nothing_without_it(store, reference, tmp_path):
    archive = gbk_shapefile_zip(tmp_path / "src")
    with imports.inspect(archive, reference=reference, scratch=tmp_path) as found:
        imports.commit(store, found, layer="parcels", key="code", actor="test")
        head = _head(store)
        with pytest.raises(InvalidParameter, match="key"):
            imports.commit(store, found, layer="parcels", mode="upsert", actor="test")
        with pytest.raises(Conflict, match="exists"):
            imports.commit(store, found, layer="parcels", mode="new", actor="test")
        assert _head(store) == head


def test_a_crs_chosen_by_hand_is_judged_and_limits_are_kept(store, reference, tmp_path):
    archive = gbk_shapefile_zip(tmp_path / "src")
    with imports.inspect(archive, reference=reference, scratch=tmp_path, crs="EPSG:4550") as found:
        assert found.crs == "EPSG:4550" and "chosen by hand: 0% of" in found.crs_reason
    head = _head(store)
    with pytest.raises(TooLarge, match="ATLAS_IMPORT_MAX_FEATURES"):
        imports.inspect(archive, reference=reference, scratch=tmp_path, max_features=2)
    assert _head(store) == head and not list(tmp_path.glob("atlas-import-*"))
