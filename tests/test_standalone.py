"""The standalone map file (layers/standalone.py and GET /export/map.html) over the small test atlas."""
from __future__ import annotations

import json
import re
from urllib.parse import unquote

import pytest

from geo.errors import InvalidParameter
from layers.map import assets, standalone
from server import create_app

DATA = re.compile(r'<script type="application/json" id="atlas-standalone-data">(.*?)</script>', re.S)


def embedded(html: str) -> dict:
    found = DATA.findall(html)
    assert len(found) == 1
    return json.loads(found[0])


def ids(config: dict, layer: str) -> list[str]:
    found = [lay for lay in config["layers"] if lay["id"] == layer]
    return sorted(f["id"] for f in found[0]["data"]["features"]) if found else []


def api_ids(client, layer: str, query: str = "") -> list[str]:
    body = client.get(f"/api/layers/{layer}?limit=1000{query}").get_json()
    return sorted(f["id"] for f in body["features"])


def test_route_returns_one_self_contained_attachment(client):
    resp = client.get("/export/map.html?layers=parks,roads,projects&district=371002")
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="weihai-atlas_parks-roads-projects_map_')
    assert unquote(disposition.split("filename*=UTF-8''")[1]).startswith("精致威海规划图_离线地图_")
    html = resp.get_data(as_text=True)
    assert assets.outside_hosts(html) == []
    # nothing is loaded from anywhere: no src=, no stylesheet links, no url() but data: URIs
    assert not re.search(r"<script[^>]*\bsrc=", html, re.I)
    assert not re.search(r"<link[^>]*stylesheet", html, re.I)
    assert all(u.startswith(("data:", "#")) for u in re.findall(r"url\(['\"]?([^)'\"]*)", html))
    assert "sourceMappingURL" not in html
    assert "L.version" in html or 'version="1.9' in html  # Leaflet itself is inside
    config = embedded(html)
    assert [lay["id"] for lay in config["layers"]] == ["parks", "roads", "projects"]
    for layer in ("parks", "roads", "projects"):
        assert ids(config, layer) == api_ids(client, layer, "&district=371002")
    assert config["land"]["features"]  # the land of the offline look


def test_same_filters_as_the_page(client):
    html = client.get("/export/map.html?layers=parks,projects,zones&status=operating").get_data(as_text=True)
    config = embedded(html)
    assert ids(config, "parks") == api_ids(client, "parks", "&status=operating") == ["parks-huaxiacheng"]
    assert ids(config, "projects") == api_ids(client, "projects", "&status=operating")
    # a category only some layers have: the others show nothing, as on the page
    config = embedded(client.get("/export/map.html?layers=parks,projects&category=urban_park").get_data(as_text=True))
    assert ids(config, "parks") == ["parks-hostile"] and ids(config, "projects") == []
    # selected features and the view's box
    config = embedded(client.get("/export/map.html?layers=parks,projects&ids=parks-hostile,projects-yuanyao")
                      .get_data(as_text=True))
    assert ids(config, "parks") == ["parks-hostile"] and ids(config, "projects") == ["projects-yuanyao"]
    config = embedded(client.get("/export/map.html?layers=parks&bbox=122.0,37.4,122.1,37.46").get_data(as_text=True))
    assert ids(config, "parks") == ["parks-huaxiacheng"]


def test_hostile_names_are_escaped(client):
    html = client.get("/export/map.html?layers=parks&title=</title><script>alert(1)</script>").get_data(as_text=True)
    # one script element of data, two of code: nothing from the data or the title opens another
    assert len(re.findall(r"<script\b", html, re.I)) == 3
    assert "<img src=x" not in html
    assert "\\u003cimg src=x onerror=" in html  # the hostile name is there, as JSON text
    assert "<title>&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt; · " in html
    assert embedded(html)["title"] == "</title><script>alert(1)</script>"
    names = [f["properties"]["name_zh"] for f in embedded(html)["layers"][0]["data"]["features"]]
    assert '<img src=x onerror="document.title=\'pwned\'">' in names


def test_script_end_tags_inside_data_cannot_close_the_element():
    text = standalone.script_json({"name": "</script><script>alert(1)</script>", "url": "https://example.com/x"})
    assert "</" not in text and "<" not in text and "://" not in text
    assert json.loads(str(text)) == {"name": "</script><script>alert(1)</script>", "url": "https://example.com/x"}
    js = standalone._inline_js('var a = "</script>"; var b = "<!-- x"; var c = "http://www.w3.org/2000/svg";\n'
                               "//# sourceMappingURL=leaflet.js.map\n")
    assert "</script" not in js.lower() and "<!--" not in js and "://" not in js and "sourceMappingURL" not in js


def test_too_many_features_are_refused_with_a_400(built_store, app):
    with pytest.raises(InvalidParameter, match="filter first"):
        standalone.build(built_store, {"layers": "parks,projects"}, max_features=3)
    assert standalone.build(built_store, {"layers": "parks,projects", "status": "operating"}, max_features=3).counts \
        == {"parks": 1, "projects": 1}
    small = create_app({"STORE": str(built_store.path), "TESTING": True, "STANDALONE_MAX_FEATURES": 3})
    resp = small.test_client().get("/export/map.html?layers=parks,projects")
    assert resp.status_code == 400
    assert "filter first" in resp.get_data(as_text=True)


@pytest.mark.parametrize("query, parameter", [
    ("layers=nope", "layers"),
    ("layers=parks&status=built", "status"),
    ("layers=parks&bbox=abc", "bbox"),
    ("layers=parks&format=gpkg", "format"),
])
def test_bad_parameters_are_400s_that_say_what_to_give(client, query, parameter):
    resp = client.get(f"/export/map.html?{query}")
    assert resp.status_code == 400
    assert parameter in resp.get_data(as_text=True)
