"""The metadata of layers the catalog does not describe (layers.layermeta): titles, the planner's
own field names as titles, a style by a text field whose categories take the palette's colours in
order; written by an import of a new layer (or not at all when it fails) and served by /api/layers
and the page. The data is written here, with Chinese and emoji names."""
from __future__ import annotations

import shutil

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from geo.errors import InvalidParameter, StoreError
from geo.store import Field, open_store
from layers import imports, layermeta
from layers.style import PALETTE
from server import create_app
from tests.test_page import page_config

LON, LAT = 122.05, 37.50  # Huancui
#: A planner's file: a key, a name, a kind, an area and an emoji column, all named in Chinese.
GREEN = {
    "code": ["G1", "G2", "G3", "G4", "G5", "G6"],
    "名称": ["环翠楼绿地", "威海公园", "刘公岛林场", "幸福门广场", "里口山林地", "海滨绿带"],
    "类型": ["林地", "公园", "林地", "广场", "林地", "公园"],   # 林地 3, 公园 2, 广场 1
    "面积（亩）": [12.5, 30.0, 8.25, 4.0, 55.5, 7.0],
    "🌳": ["是", "否", "是", "否", "是", "是"],
}


@pytest.fixture()
def store(built_store, tmp_path):
    path = tmp_path / "atlas.gpkg"
    shutil.copy(built_store.path, path)
    return open_store(path, key="id")


def green_gpkg(folder, columns=None):
    columns = GREEN if columns is None else columns
    n = len(columns["code"])
    frame = gpd.GeoDataFrame(columns, geometry=[shapely.Point(LON + i * 2e-3, LAT) for i in range(n)], crs="EPSG:4326")
    path = folder / "绿地.gpkg"
    folder.mkdir(parents=True, exist_ok=True)
    pyogrio.write_dataframe(frame, path, layer="green")
    return path


def imported(store, tmp_path, **choices):
    """The green file imported as the new layer ``green`` (or as ``choices`` say); the result and
    the store name of each of the file's fields."""
    path = green_gpkg(tmp_path / "src")
    with imports.inspect(path, reference=imports.reference_from_store(store)) as found:
        stores = {f["name"]: f["store"] for f in found.fields}
        result = imports.commit(store, found, **{"layer": "green", "key": "code", "actor": "test", **choices})
    return result, stores


def _head(store):
    return store.history(limit=1)[0].id, store.layers(), store.document(layermeta.DOCUMENT)


# -- categories --------------------------------------------------------------------------------
def test_categories_most_frequent_first_ties_as_they_come_nulls_and_blanks_none():
    cats = layermeta.categories(["乙", "甲", "乙", "丙", None, "甲", "", "丁", "乙", "  "])
    assert list(cats) == ["乙", "甲", "丙", "丁"]
    assert cats == {"乙": {"color": PALETTE[0], "label": {"zh": "乙", "en": "乙"}},
                    "甲": {"color": PALETTE[1], "label": {"zh": "甲", "en": "甲"}},
                    "丙": {"color": PALETTE[2], "label": {"zh": "丙", "en": "丙"}},
                    "丁": {"color": PALETTE[3], "label": {"zh": "丁", "en": "丁"}}}


def test_at_most_ten_categories_the_rest_is_other():
    # value k (1..12) appears 13 - k times: v1 the most frequent, v11 and v12 left for "other"
    values = [f"类{k}" for k in range(1, 13) for _ in range(13 - k)]
    cats = layermeta.categories(values)
    assert list(cats) == [f"类{k}" for k in range(1, 11)]
    assert [c["color"] for c in cats.values()] == list(PALETTE[:10])
    # fifty different values are still categories (the ten most frequent coloured)
    assert len(layermeta.categories([f"v{i}" for i in range(50)] * 2)) == 10


def test_chunks_count_as_one_column():
    chunks = iter([["b", "a"], ["b", "c", "a", "b"]])
    assert list(layermeta.categories(chunks)) == ["b", "a", "c"]
    # a column of pandas' text type, with its missing values
    assert list(layermeta.categories(pd.Series(["乙", pd.NA, "甲", "乙"], dtype="string"))) == ["乙", "甲"]


def test_a_label_loses_its_control_characters_the_value_stays():
    cats = layermeta.categories(["林\n地", "林\n地", "公园"])
    assert cats["林\n地"]["label"] == {"zh": "林 地", "en": "林 地"}


@pytest.mark.parametrize("values,words", [
    ([None, "", None], ("no values",)),
    ([f"v{i}" for i in range(51)] * 2, ("51 different values", "more than the 50")),
    ([f"名{i}" for i in range(11)], ("its own value", "like a name")),
])
def test_values_that_are_no_categories_are_refused(values, words):
    with pytest.raises(InvalidParameter) as err:
        layermeta.categories(values, field="'类型'")
    assert "'类型'" in err.value.detail and "choose a field" in err.value.detail
    for word in words:
        assert word in err.value.detail


# -- entries: put, get, checks -------------------------------------------------------------------
PLOT_FIELDS = [Field("id", "str"), Field("kind", "str"), Field("n", "int"), Field("area_m2", "float")]


def plots(store):
    frame = gpd.GeoDataFrame({"id": ["p1", "p2", "p3", "p4"], "kind": ["住宅", "工业", "住宅", None],
                              "n": [1, 2, 3, 4], "area_m2": [1.0, 2.0, 3.0, 4.0]},
                             geometry=[shapely.Point(LON, LAT + i * 1e-3) for i in range(4)], crs="EPSG:4326")
    store.create_layer("plots", "Point", PLOT_FIELDS, features=frame, actor="test", message="plots")


def test_put_and_get_with_the_categories_read_from_the_store(store):
    plots(store)
    assert layermeta.get(store, "plots") is None
    written = layermeta.put(store, "plots", title_zh="规划地块", title_en="Plots",
                            field_titles={"kind": "用地类型", "n": {"zh": "序号", "en": "No."}}, style_field="kind")
    expected = {"title": {"zh": "规划地块", "en": "Plots"},
                "fields": {"kind": {"zh": "用地类型", "en": "用地类型"}, "n": {"zh": "序号", "en": "No."}},
                "style": {"by": "kind", "categories": {
                    "住宅": {"color": PALETTE[0], "label": {"zh": "住宅", "en": "住宅"}},
                    "工业": {"color": PALETTE[1], "label": {"zh": "工业", "en": "工业"}}},
                    "order": ["住宅", "工业"]}}
    assert written == expected and layermeta.get(store, "plots") == expected
    assert open_store(store.path, key="id").document(layermeta.DOCUMENT) == {"plots": expected}  # kept in the file
    # put replaces the entry: a title alone is both titles, no style
    assert layermeta.put(store, "plots", title_en="Plots") == {"title": {"zh": "Plots", "en": "Plots"},
                                                                "fields": {}, "style": None}
    assert layermeta.put(store, "plots")["title"] == {"zh": "plots", "en": "plots"}  # no title: the layer's id


@pytest.mark.parametrize("choices,parameter,words", [
    ({"title_zh": 12}, "title_zh", ("must be text",)),
    ({"title_zh": "地块\n一"}, "title_zh", ("control characters",)),
    ({"title_en": "plots\x00"}, "title_en", ("control characters",)),
    ({"title_en": "x" * 101}, "title_en", ("at most 100 characters", "101")),
    ({"field_titles": {"名称": "名称"}}, "field_titles", ("'名称'", "not a field", "kind")),
    ({"field_titles": {"kind": "类\t型"}}, "field_titles", ("control characters",)),
    ({"field_titles": {"kind": {"zh": "类型", "fr": "type"}}}, "field_titles", ("'fr'",)),
    ({"style_field": "类型"}, "style_field", ("'类型'", "not a field", "'kind'", "no style field")),
    ({"style_field": "n"}, "style_field", ("'n'", "number field", "'kind'")),
    ({"style_field": "area_m2"}, "style_field", ("number field",)),
    ({"style_field": "id"}, "style_field", ("key",)),
])
def test_bad_entries_are_refused_and_nothing_is_written(store, choices, parameter, words):
    plots(store)
    layermeta.put(store, "plots", title_zh="原来的")
    with pytest.raises(InvalidParameter) as err:
        layermeta.put(store, "plots", **choices)
    assert err.value.parameter == parameter, err.value.detail
    for word in words:
        assert word in err.value.detail, (word, err.value.detail)
    assert layermeta.get(store, "plots")["title"]["zh"] == "原来的"


def test_the_catalog_layers_and_unknown_layers_have_no_entry(store):
    with pytest.raises(InvalidParameter, match="catalog"):
        layermeta.put(store, "parks", title_zh="公园")
    from geo.errors import NotFound

    with pytest.raises(NotFound):
        layermeta.put(store, "nowhere", title_zh="无")
    assert store.document(layermeta.DOCUMENT) is None


# -- the import --------------------------------------------------------------------------------
def test_a_new_layer_keeps_the_files_names_as_titles_and_its_style(store, tmp_path):
    result, stores = imported(store, tmp_path, title_zh="城市绿地", title_en="Urban green space",
                              style_field="类型")
    assert result.added == 6
    # the store's names are ASCII; the planner's own are the titles
    assert all(stores[name].isascii() for name in GREEN) and stores["名称"] != "名称"
    entry = layermeta.get(store, "green")
    assert entry["title"] == {"zh": "城市绿地", "en": "Urban green space"}
    for name in ("名称", "类型", "面积（亩）", "🌳", "code"):
        assert entry["fields"][stores[name]] == {"zh": name, "en": name}
    assert entry["style"] == {"by": stores["类型"], "categories": {
        "林地": {"color": PALETTE[0], "label": {"zh": "林地", "en": "林地"}},
        "公园": {"color": PALETTE[1], "label": {"zh": "公园", "en": "公园"}},
        "广场": {"color": PALETTE[2], "label": {"zh": "广场", "en": "广场"}}},
        "order": ["林地", "公园", "广场"]}


def test_without_choices_the_titles_are_the_layer_id_and_the_files_names(store, tmp_path):
    _, stores = imported(store, tmp_path)
    entry = layermeta.get(store, "green")
    assert entry["title"] == {"zh": "green", "en": "green"} and entry["style"] is None
    assert entry["fields"][stores["🌳"]] == {"zh": "🌳", "en": "🌳"}


def test_the_style_field_may_be_named_by_its_store_name(store, tmp_path):
    path = green_gpkg(tmp_path / "src")
    with imports.inspect(path, reference=imports.reference_from_store(store)) as found:
        kind = next(f["store"] for f in found.fields if f["name"] == "类型")
        imports.commit(store, found, layer="green", key="code", actor="test", style_field=kind)
    assert layermeta.get(store, "green")["style"]["by"] == kind


@pytest.mark.parametrize("style_field,words", [
    ("面积（亩）", ("'面积（亩）'", "number field", "'类型'")),
    ("名称", ("'名称'", "its own value")),
    ("颜色", ("'颜色'", "not a field", "'类型'")),
])
def test_a_refused_style_field_writes_nothing(store, tmp_path, style_field, words):
    before = _head(store)
    for dry_run in (True, False):
        with pytest.raises(InvalidParameter) as err:
            # 名称: six names, each its own; with ten more to pass the ten categories
            columns = {k: v * 2 for k, v in GREEN.items()}
            columns["code"] = [f"G{i}" for i in range(12)]
            columns["名称"] = [f"绿地{i}" for i in range(12)]
            path = green_gpkg(tmp_path / f"src-{dry_run}", columns)
            with imports.inspect(path, reference=imports.reference_from_store(store)) as found:
                imports.commit(store, found, layer="green", key="code", actor="test", style_field=style_field,
                               dry_run=dry_run)
        assert err.value.parameter == "style_field"
        for word in words:
            assert word in err.value.detail, (word, err.value.detail)
        assert _head(store) == before


def test_a_bad_title_is_refused_before_anything_is_written(store, tmp_path):
    before = _head(store)
    with pytest.raises(InvalidParameter, match="control characters"):
        imported(store, tmp_path, title_zh="绿\r\n地")
    assert _head(store) == before


def test_a_failed_import_leaves_no_entry(store, tmp_path, monkeypatch):
    """The entry is written in the new layer's own transaction: a failure after it was written, in
    that transaction, takes it back with the layer."""
    from geo.store import gpkg_edit

    real = gpkg_edit.update_documents

    def then_fail(con, updates):
        real(con, updates)
        assert con.execute("SELECT body FROM gpkg_atlas_documents WHERE name = ?", (layermeta.DOCUMENT,)).fetchone()
        raise StoreError("the store could not be written; nothing was changed, try again")

    before = _head(store)
    monkeypatch.setattr(gpkg_edit, "update_documents", then_fail)
    with pytest.raises(StoreError):
        imported(store, tmp_path, title_zh="城市绿地", style_field="类型")
    assert layermeta.get(store, "green") is None and _head(store)[:2] == before[:2]
    assert "green" not in store.layers()
    # the entry another layer of that name had (dropped, to be brought back) stays as it was
    layermeta._write(store, "green", {"title": {"zh": "旧绿地", "en": "old"}, "fields": {}, "style": None})
    with pytest.raises(StoreError):
        imported(store, tmp_path, title_zh="城市绿地", style_field="类型")
    assert layermeta.get(store, "green")["title"] == {"zh": "旧绿地", "en": "old"}


# -- served --------------------------------------------------------------------------------------
def test_api_layers_and_the_page_show_the_titles_and_the_style(store, tmp_path):
    _, stores = imported(store, tmp_path, title_zh="城市绿地", title_en="Urban green space", style_field="类型")
    client = create_app({"STORE": str(store.path), "TESTING": True}).test_client()
    listed = {lay["id"]: lay for lay in client.get("/api/layers").get_json()["layers"]}
    green = listed["green"]
    assert green["title"] == {"zh": "城市绿地", "en": "Urban green space"}
    titles = {f["name"]: f["title"] for f in green["fields"]}
    assert titles[stores["名称"]] == {"zh": "名称", "en": "名称"}
    assert titles[stores["面积（亩）"]] == {"zh": "面积（亩）", "en": "面积（亩）"}
    assert titles["area_mu"] == {"zh": "面积(亩)", "en": "Area (mu)"}  # a measure: the catalog's title
    st = green["style"]
    assert st["by"] == stores["类型"] and list(st["categories"]) == ["林地", "公园", "广场"]  # as often as they come
    assert st["categories"]["林地"] == {"color": PALETTE[0], "label": {"zh": "林地", "en": "林地"}}
    assert st["categories"]["广场"]["color"] == PALETTE[2]
    assert st["other"]["label"] == {"zh": "其他", "en": "other"} and st["color"] == st["other"]["color"]
    assert st["other"]["color"] not in PALETTE
    assert listed["parks"]["style"]["by"] == "category"  # the catalog's layers as they were
    assert listed["parks"]["title"] == {"zh": "公园与景区", "en": "Parks and scenic areas"}
    config = {lay["id"]: lay for lay in page_config(client.get("/").get_data(as_text=True))["layers"]}
    assert config["green"]["style"] == st
    assert config["green"]["fieldTitles"][stores["🌳"]] == {"zh": "🌳", "en": "🌳"}
