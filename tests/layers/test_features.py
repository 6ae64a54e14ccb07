"""The GeoJSON serialiser writes exactly what the json.dumps-based writer of before wrote, byte for
byte, for the atlas's layers and for awkward values (nulls of every type, control characters,
U+2028, emoji, huge and tiny numbers)."""
from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.store import Field, Query, open_store
from layers.api.features import feature_collection, json_fields, round_geometries


def reference(frame, *, extra=None, layer=None, json_fields=()):
    """The serialiser this one replaces (json.dumps a value at a time), kept as the reference."""
    def clean(v):
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
            return None
        return v.item() if isinstance(v, np.generic) else v

    cols = [c for c in frame.columns if c != frame.geometry.name]
    geoms = shapely.to_geojson(round_geometries(frame.geometry.values))
    parts = []
    for geom, row in zip(geoms, frame[cols].itertuples(index=False, name=None)):
        props = {c: clean(v) for c, v in zip(cols, row)}
        for key in json_fields:
            if isinstance(props.get(key), str):
                props[key] = json.loads(props[key])
        if layer is not None:
            props["layer"] = layer
        fid = json.dumps(props.get("id"), ensure_ascii=False)
        body = json.dumps(props, ensure_ascii=False, separators=(",", ":"))
        parts.append(f'{{"type":"Feature","id":{fid},"geometry":{geom},"properties":{body}}}')
    head = json.dumps({"type": "FeatureCollection", **(extra or {})}, ensure_ascii=False, separators=(",", ":"))[:-1]
    return f'{head},"features":[{",".join(parts)}]}}'.encode()


def test_same_bytes_for_every_layer_of_the_atlas(built_store):
    for layer in built_store.layers():
        frame = built_store.query(layer, Query())
        fields = json_fields(built_store, layer)
        extra = {"layer": layer, "numberMatched": len(frame), "limit": None}
        assert feature_collection(frame, extra=extra, json_fields=fields) == reference(frame, extra=extra, json_fields=fields)
        assert feature_collection(frame, layer=layer, json_fields=fields) == reference(frame, layer=layer, json_fields=fields)


@pytest.fixture()
def awkward(tmp_path):
    names = ["普通", "控制\x01字符\n换行\t", "分隔\u2028符\u2029", "表情🏞️", '引号"与\\反斜杠', None, "</script>"]
    n = len(names)
    frame = gpd.GeoDataFrame({
        "id": [f"a-{i}" for i in range(n)],
        "name_zh": names,
        "year": pd.array([2018, None, 0, -1, 2**40, 7, None], dtype="Int64"),
        "area": [0.0, 1.5, float("nan"), 1e-7, 123456789.123, 1e15, -0.25],
        "open": [True, False, True, False, True, False, True],
        "figures": ['[{"value": 3767, "text": "3767亩"}]', None, "[]", '{"a": null}', '"文本"', "[1.5e-7]", "{}"],
    }, geometry=[shapely.Point(122.0 + i / 3, 37.5 + i / 7) if i % 2 else
                 shapely.LineString([(122, 37), (122.123456789, 37.987654321)]) for i in range(n)], crs="EPSG:4326")
    store = open_store(tmp_path / "a.gpkg", key="id")
    store.replace({"awkward": frame}, {"awkward": (Field("figures", "json"),)})
    return store


def test_same_bytes_for_awkward_values(awkward):
    frame = awkward.query("awkward", Query())
    out = feature_collection(frame, extra={"numberMatched": 7}, json_fields=("figures",))
    assert out == reference(frame, extra={"numberMatched": 7}, json_fields=("figures",))
    parsed = json.loads(out)
    assert parsed["features"][1]["properties"]["name_zh"] == "控制\x01字符\n换行\t"
    assert parsed["features"][2]["properties"]["area"] is None and parsed["features"][1]["properties"]["year"] is None


def test_number_matched_is_exact_when_cheap_and_a_lower_bound_otherwise(awkward):
    from layers.api.features import layer_features

    def page(**args):
        return json.loads(layer_features(awkward, "awkward", {k: str(v) for k, v in args.items()}, count_at_most=3))

    stopped = page(limit=2)  # 7 rows, no bbox: counting stops after 3
    assert "numberMatched" not in stopped and stopped["numberMatchedAtLeast"] == 4
    boxed = page(limit=2, bbox="121,36,124,39")  # the spatial index counts a bbox whole
    assert boxed["numberMatched"] == 7 and "numberMatchedAtLeast" not in boxed
    last = page(limit=2, offset=6)  # a page that is not full tells the total
    assert last["numberMatched"] == 7 and last["numberReturned"] == 1
    assert page(limit=10)["numberMatched"] == 7
    assert page(limit=2, offset=50)["numberMatchedAtLeast"] == 4  # past the end: counted (bounded) again
