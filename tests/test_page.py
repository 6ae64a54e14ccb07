"""The map page without a browser: local assets only, no layer data in the page, the URL's view
checked, the outside-host guard, the vendored packages, and folium left as it was."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import folium
import pytest

from geo.errors import ConfigError
from layers.map import assets
from layers.map import page as mapview
from server import create_app

STATIC = Path(__file__).resolve().parent.parent / "static"


class Links(HTMLParser):
    """Every URL the page would load or follow: src, href, and CSS url() in style blocks."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []
        self._style = False

    def handle_starttag(self, tag, attrs):
        self._style = tag == "style"
        self.urls += [v for k, v in attrs if k in ("src", "href", "srcset", "poster", "action") and v]

    def handle_data(self, data):
        if self._style:
            self.urls += re.findall(r"url\(\s*['\"]?([^'\")]+)", data)


def page_config(html: str) -> dict:
    """The configuration the page hands to Atlas.setup (JSON, as the browser reads it)."""
    text = re.search(r"Atlas\.setup\(map_\w+, (.*)\);\n", html).group(1)
    return json.loads(text)


def test_page_loads_only_local_assets(client):
    resp = client.get("/")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    html = resp.get_data(as_text=True)
    parser = Links()
    parser.feed(html)
    assert parser.urls, "the page links nothing?"
    for url in parser.urls:
        assert url.startswith("/") and not url.startswith("//") or url.startswith("data:"), url
    assert "/vendor/leaflet/leaflet.js?v=" in html and "/static/atlas.js?v=" in html
    # only the online basemaps' tile URL templates name other hosts, and only inside the script
    hosts = assets.outside_hosts(html)
    assert hosts == ["server.arcgisonline.com", "tile.openstreetmap.org", "{s}.basemaps.cartocdn.com"]
    tiles = tuple(t["url"] for b in mapview.basemaps().values() for t in b.tiles)
    assert assets.outside_hosts(html, allowed_urls=tiles) == []


def test_page_embeds_no_layer_data(client):
    html = client.get("/").get_data(as_text=True)
    # (the figure with its unit: folium names elements with random hex, which may hold any digits)
    for text in ("华夏城", "望岛河南路", "onerror", "alert(1)", "coordinates", "3767亩"):
        assert text not in html, text
    # the shell, the config and a tag a script (no feature in it): 29.9 KB before the statistics panel's
    # and the attribute table's scripts and stylesheets; 33.2 KB with the three position fields of
    # every layer (their names, titles and types in each layer's config) and their vocabulary
    assert len(html.encode()) < 34_000
    config = page_config(html)
    assert [lay["id"] for lay in config["layers"]] == ["districts", "zones", "parks", "roads", "projects"]
    assert all(lay["mode"] == "whole" and lay["visible"] for lay in config["layers"])


def test_the_guard_refuses_a_page_with_an_outside_link(client, monkeypatch, caplog):
    real = assets.vendor_url

    def cdn(name, filename, prefix="/vendor/"):
        if filename.endswith(".js"):
            return "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"
        return real(name, filename, prefix)

    monkeypatch.setattr(assets, "vendor_url", cdn)
    with caplog.at_level("ERROR", logger="atlas"):
        resp = client.get("/", headers={"X-Request-Id": "guard-1"})
    assert resp.status_code == 500
    body = resp.get_data(as_text=True)
    assert "the map page could not be made" in body and "guard-1" in body
    assert "jsdelivr" not in body  # the page neither links nor names the host: the operator's log does
    assert any("guard-1" in r.getMessage() and "cdn.jsdelivr.net" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("snippet,hosts", [
    ('<script src="https://cdn.jsdelivr.net/npm/x.js"></script>', ["cdn.jsdelivr.net"]),
    ('<link rel="stylesheet" href="//fonts.googleapis.com/css">', ["fonts.googleapis.com"]),
    ("<style>body { background: url('https://x.example/a.png') }</style>", ["x.example"]),
    ("<style>@import '//x.example/a.css';</style>", ["x.example"]),
    ('<img srcset="http://img.example/a.png 2x">', ["img.example"]),
    ('<script>fetch("https://api.example/v1")</script>', ["api.example"]),
    ('<script src="/static/atlas.js"></script><a href="/api/layers">', []),
    ('<script src="http://127.0.0.1:5000/static/a.js"></script>', []),
    ("<script>// a comment, //not a link</script>", []),
])
def test_outside_hosts(snippet, hosts):
    assert assets.outside_hosts(snippet) == hosts


def test_allowed_tile_urls_pass_the_guard_even_json_escaped():
    url = "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&LAYER=vec&tk=" + "a" * 32
    page = '<script>L.tileLayer("%s")</script>' % url.replace("&", "\\u0026")
    assert assets.outside_hosts(page) == ["t{s}.tianditu.gov.cn"]
    assert assets.outside_hosts(page, allowed_urls=(url,)) == []


def test_folium_class_state_is_not_mutated(client):
    before_js, before_css = list(folium.Map.default_js), list(folium.Map.default_css)
    client.get("/")
    client.get("/?lang=en")
    assert folium.Map.default_js == before_js and folium.Map.default_css == before_css
    assert any("cdn.jsdelivr.net" in url for _, url in folium.Map.default_js)  # folium's own, untouched
    plain = folium.Map(tiles=None).get_root().render()
    assert "cdn.jsdelivr.net/npm/leaflet" in plain and "/vendor/leaflet" not in plain


def test_vendor_serves_the_whitelisted_package_only(client):
    resp = client.get("/vendor/leaflet/leaflet.js?v=1.9.3")
    assert resp.status_code == 200 and b"Leaflet" in resp.data[:2000]
    assert "max-age" in resp.headers.get("Cache-Control", "")
    resp.close()
    css = client.get("/vendor/leaflet/leaflet.css")
    assert css.status_code == 200 and b"url(images/layers.png)" in css.data
    css.close()
    img = client.get("/vendor/leaflet/images/layers.png")
    assert img.status_code == 200 and img.mimetype == "image/png"
    img.close()
    for path in ("/vendor/jquery/jquery.js", "/vendor/leaflet/../__init__.py", "/vendor/leaflet/%2e%2e/__init__.py",
                 "/vendor/leaflet/nope.js"):
        assert client.get(path).status_code == 404, path


def test_our_static_files_link_no_outside_host():
    for path in STATIC.iterdir():
        text = path.read_text(encoding="utf-8")
        assert assets.outside_hosts(text) == [], path.name
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text and "eval(" not in text, path.name


@pytest.mark.parametrize("query,parameter", [
    ("zoom=abc&center=37.5,122.1", "zoom"),
    ("zoom=30&center=37.5,122.1", "zoom"),
    ("center=122.1,37.5&zoom=10", "center"),
    ("center=37.5&zoom=10", "center"),
    ("zoom=10", "center"),
    ("lang=fr", "lang"),
    ("layers=parks,nope", "layers"),
    ("basemap=amap", "basemap"),
    ("basemap=tianditu-vec", "basemap"),
    ("category=nope", "category"),
    ("status=done", "status"),
    ("district=北京", "district"),
    ("lng=en", "lng"),
    ("as_of=yesterday", "as_of"),
    ("as_of=2026-12-01T12", "as_of"),
])
def test_a_bad_view_parameter_is_a_400_that_says_what_to_give(client, query, parameter):
    resp = client.get(f"/?{query}")
    assert resp.status_code == 400
    body = resp.get_data(as_text=True)
    assert parameter in body and "返回地图" in body


def test_the_url_view_reaches_the_page(client):
    html = client.get("/?lang=en&center=37.5,122.1&zoom=12&layers=parks,roads&category=scenic_area"
                      "&status=operating&district=高区&basemap=osm").get_data(as_text=True)
    config = page_config(html)
    assert config["lang"] == "en" and config["basemap"] == "osm"
    assert config["view"] == {"center": [37.5, 122.1], "zoom": 12}
    assert [lay["id"] for lay in config["layers"] if lay["visible"]] == ["parks", "roads"]
    assert config["filters"] == {"district": "高区", "category": "scenic_area", "status": "operating"}
    assert '<html lang="en">' in html and "<title>Weihai Planning Atlas" in html
    # the layer control's labels in the page's language
    assert '"Parks and scenic areas"' in html and '"No basemap (offline)"' in html
    # the category order is the catalog's, not sorted
    parks = next(lay for lay in config["layers"] if lay["id"] == "parks")
    assert list(parks["style"]["categories"])[:3] == ["scenic_area", "urban_park", "mountain"]


def test_no_basemap_is_the_default_and_tianditu_needs_a_key(built_store):
    plain = create_app({"STORE": str(built_store.path), "TESTING": True}).test_client()
    config = page_config(plain.get("/").get_data(as_text=True))
    assert config["basemap"] == "none" and "tianditu-vec" not in config["basemaps"]
    key = "0123456789abcdef0123456789abcdef"
    keyed = create_app({"STORE": str(built_store.path), "TESTING": True, "TIANDITU_KEY": key}).test_client()
    resp = keyed.get("/?basemap=tianditu-img&lang=en")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    html = resp.get_data(as_text=True)
    config = page_config(html)
    assert config["basemaps"]["tianditu-img"] == {"zh": "天地图影像", "en": "Tianditu imagery"}
    assert "/img_w/wmts?" in html and "LAYER=eia" in html and f"tk={key}" in html
    with pytest.raises(ConfigError, match="ATLAS_TIANDITU_KEY"):  # a bad key stops the app at start-up
        create_app({"STORE": str(built_store.path), "TESTING": True, "TIANDITU_KEY": "x'); alert(1); //"})


def test_large_layers_are_fetched_by_view_and_start_hidden():
    layers = [{"id": "big", "title": {"zh": "大", "en": "big"}, "geometry_type": "MultiLineString",
               "count": 100_000, "bbox": [121.2, 36.7, 122.7, 37.57], "fields": [{"name": "id"}],
               "style": {"z": 5}}]
    config = page_config(mapview.build_page(layers, {}).html)
    assert config["layers"][0]["mode"] == "view" and not config["layers"][0]["visible"]
    shown = page_config(mapview.build_page(layers, {"layers": "big"}).html)
    assert shown["layers"][0]["visible"]
    assert shown["limits"]["page"] <= 10_000


def test_the_page_config_carries_the_session_url_and_the_time_shown(client):
    """``session``: the URL of /api/session; ``asOf``: the time of ``as_of`` in the URL, checked, or null."""
    config = page_config(client.get("/?as_of=2026-12-01T12:00:00Z").get_data(as_text=True))
    assert config["asOf"] == "2026-12-01T12:00:00Z"
    assert config["session"] == "/api/session" and client.get("/api/session").status_code == 200
    assert page_config(client.get("/").get_data(as_text=True))["asOf"] is None
    # an offline map of a past state is the atlas as it was then, and says so; a bad time is a 400
    built = client.application.extensions["atlas_store"].history(limit=1)[0].time
    past = client.get(f"/export/map.html?layers=parks&as_of={built}")
    assert past.status_code == 200 and "时的状态" in past.get_data(as_text=True)
    bad = client.get("/export/map.html?as_of=yesterday")
    assert bad.status_code == 400 and "ISO 8601" in bad.get_data(as_text=True)
