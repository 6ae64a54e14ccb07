"""One filter rule, four places: for every layer and every filter the page offers, the page (its
layer config, looked up by the page's own JavaScript in Chromium), the API, the command-line export
and the offline map select the same features."""
from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import pytest

from layers import cli
from layers.api.features import list_layers

#: Every kind of filter value the page offers: a district, a functional area, another district,
#: categories of two different layers, statuses present and absent in the test data.
FILTERS = [("district", "371002"), ("district", "高区"), ("district", "371003"), ("category", "scenic_area"),
           ("category", "innovation"), ("category", "functional_area"), ("status", "operating"),
           ("status", "under_construction"), ("status", "planned")]


def _offline_counts(client, name, value, layer):
    html = client.get("/export/map.html?" + urlencode({"layers": layer, name: value})).get_data(as_text=True)
    data = re.search(r'<script type="application/json" id="atlas-standalone-data">(.*?)</script>', html, re.S)
    config = json.loads(data.group(1).replace("\\/", "/"))
    return len(config["layers"][0]["data"]["features"])


def _cli_count(store_path, name, value, layer, tmp_path, capsys):
    target = tmp_path / f"{layer}-{name}.geojson"
    code = cli.export_main(["--store", str(store_path), "--layers", layer, f"--{name}", value, "-o", str(target),
                            "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return len(json.loads(target.read_text(encoding="utf-8"))["features"])


def test_page_api_cli_and_offline_map_agree_for_every_layer_and_filter(open_map, client, built_store, tmp_path, capsys):
    page = open_map()
    layers = [lay["id"] for lay in list_layers(built_store)["layers"]]
    seen_some, seen_none = False, False
    for name, value in FILTERS:
        # the page's decision: its own DataLayer code, reading the rule from its layer config
        decided = page.js("""([name, value]) => {
            Atlas.filters = {district: null, category: null, status: null};
            Atlas.filters[name] = value;
            var out = {};
            Object.keys(Atlas.layers).forEach(function (id) { out[id] = Atlas.layers[id]._filterParams(); });
            return out;
        }""", [name, value])
        for layer in layers:
            params = decided[layer]
            on_page = 0 if params is None else client.get(
                f"/api/layers/{layer}?" + urlencode(params)).get_json()["numberMatched"]
            api = client.get(f"/api/layers/{layer}?" + urlencode({name: value})).get_json()["numberMatched"]
            exported = _cli_count(built_store.path, name, value, layer, tmp_path, capsys)
            offline = _offline_counts(client, name, value, layer)
            assert on_page == api == exported == offline, (layer, name, value, on_page, api, exported, offline)
            seen_some |= api > 0
            seen_none |= params is None
    assert seen_some and seen_none  # the table holds both: filters that select and filters that exclude


@pytest.mark.parametrize("name,value", [("category", "bogus"), ("status", "demolished"), ("district", "北京")])
def test_a_value_no_layer_knows_is_refused_alike(client, built_store, tmp_path, capsys, name, value):
    api = client.get(f"/api/layers/parks?{urlencode({name: value})}")
    offline = client.get(f"/export/map.html?{urlencode({'layers': 'parks', name: value})}")
    code = cli.export_main(["--store", str(built_store.path), "--layers", "parks", f"--{name}", value,
                            "-o", str(tmp_path / "x.geojson"), "--quiet"])
    assert api.status_code == 400 and api.get_json()["parameter"] == name
    assert offline.status_code == 400 and code == 2 and name in capsys.readouterr().err
