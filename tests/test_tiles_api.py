"""The tile routes over the small atlas: PNG and MVT tiles with strong ETags (304 when unchanged,
a new tag after an edit), Cache-Control for a reverse proxy, the page's filters changing the tile,
hidden layers' tiles absent (404) for anonymous visitors, the click-to-query route, and basemaps
from the settings and from a local MBTiles file the test writes."""
from __future__ import annotations

import io
import json
import sqlite3

import numpy as np
import pytest
from PIL import Image

from geo.errors import ConfigError
from geo.tiles import grid, mvt
from layers.config import load_config
from tests.auth_helpers import add_users, bearer, make_app, tokens

Z = 15


@pytest.fixture()
def project(client):
    """A project point of the small atlas (from the API): its id, category, status and place."""
    feature = client.get("/api/layers/projects?limit=1").get_json()["features"][0]
    lon, lat = feature["geometry"]["coordinates"][:2]
    return {"id": feature["id"], "category": feature["properties"]["category"],
            "status": feature["properties"]["status"], "lon": lon, "lat": lat,
            "tile": "/tiles/projects/%d/%d/%d" % (Z, *grid.tile_of(lon, lat, Z))}


def _alpha(body: bytes) -> int:
    image = Image.open(io.BytesIO(body))
    assert image.size == (256, 256)
    return int(np.asarray(image.convert("RGBA"))[:, :, 3].astype(bool).sum())


def test_png_tile_is_drawn_tagged_and_revalidated(client, project):
    answer = client.get(project["tile"] + ".png")
    assert answer.status_code == 200 and answer.mimetype == "image/png"
    assert _alpha(answer.data) > 20  # the point's disc
    tag = answer.headers["ETag"]
    assert tag.startswith('"') and not tag.startswith("W/")
    assert answer.headers["Cache-Control"] == "public, max-age=0, must-revalidate"
    again = client.get(project["tile"] + ".png", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.headers["ETag"] == tag and not again.data
    other = client.get(project["tile"] + ".png?status=" + project["status"])
    assert other.headers["ETag"] != tag  # another URL, another tag


def test_a_tile_naming_the_revision_is_kept_a_day(client, app, project):
    version = app.extensions["atlas_store"].version()
    pinned = client.get(project["tile"] + f".png?v={version}")
    assert pinned.headers["Cache-Control"] == "public, max-age=86400, immutable"
    stale = client.get(project["tile"] + ".png?v=old")
    assert stale.headers["Cache-Control"] == "public, max-age=0, must-revalidate"


def test_filters_change_the_tile(client, project):
    same = client.get(project["tile"] + f".png?status={project['status']}")
    other_status = next(s for s in ("planned", "completed", "operating") if s != project["status"])
    others = client.get(project["tile"] + f".png?status={other_status}&category={project['category']}")
    assert _alpha(same.data) > 20
    x, y = grid.to_pixels(np.array([project["lon"]]), np.array([project["lat"]]), Z, *grid.tile_of(project["lon"], project["lat"], Z))
    px, py = int(x[0]), int(y[0])
    assert Image.open(io.BytesIO(same.data)).convert("RGBA").getpixel((px, py))[3] > 0
    # under another status the point is not drawn (no other project of the small atlas is there)
    assert Image.open(io.BytesIO(others.data)).convert("RGBA").getpixel((px, py))[3] == 0
    assert client.get(project["tile"] + ".png?district=nowhere").status_code == 400


def test_mvt_tile_holds_the_feature_with_its_properties(client, project):
    answer = client.get(project["tile"] + ".mvt")
    assert answer.status_code == 200 and answer.mimetype == "application/vnd.mapbox-vector-tile"
    features = mvt.decode(answer.data)["projects"]["features"]
    assert project["id"] in [f["properties"]["id"] for f in features]


def test_bad_tile_requests_name_the_parameter(client):
    assert client.get("/tiles/projects/30/0/0.png").status_code == 400
    assert client.get("/tiles/projects/2/9/0.png").status_code == 400
    assert client.get("/tiles/projects/2/0/0.gif").status_code == 400
    assert client.get("/tiles/projects/2/0/0.png?limit=5").status_code == 400
    assert client.get("/tiles/nosuchlayer/2/0/0.png").status_code == 404


def test_click_query_finds_the_feature_under_the_click(client, project):
    near = client.get(f"/api/layers/projects/at?lon={project['lon'] + grid.degrees_per_pixel(Z) * 2}"
                      f"&lat={project['lat']}&zoom={Z}")
    assert near.status_code == 200
    found = near.get_json()["features"]
    assert [f["id"] for f in found] == [project["id"]]
    assert found[0]["properties"]["layer"] == "projects" and found[0]["properties"]["name_zh"]
    far = client.get(f"/api/layers/projects/at?lon={project['lon'] + grid.degrees_per_pixel(Z) * 40}"
                     f"&lat={project['lat']}&zoom={Z}").get_json()
    assert far["features"] == [] or far["features"][0]["id"] != project["id"]
    other_status = next(s for s in ("planned", "completed", "operating") if s != project["status"])
    filtered = client.get(f"/api/layers/projects/at?lon={project['lon']}&lat={project['lat']}&zoom={Z}"
                          f"&status={other_status}").get_json()
    assert project["id"] not in [f["id"] for f in filtered["features"]]
    bad = client.get("/api/layers/projects/at?lon=500&lat=37&zoom=10")
    assert bad.status_code == 400 and bad.get_json()["parameter"] == "lon"
    assert client.get("/api/layers/projects/at?lon=122&lat=37").get_json()["parameter"] == "zoom"


def test_hidden_layers_tiles_are_absent_for_anonymous(built_store, tmp_path, project):
    app = make_app(built_store, tmp_path / "atlas")
    add_users(app)
    keys = tokens(app)
    client = app.test_client()
    assert client.get(project["tile"] + ".png").status_code == 200
    assert client.patch("/api/layers/projects/settings", json={"hidden": True},
                        headers=bearer(keys["admin"])).status_code == 200
    assert client.get(project["tile"] + ".png").status_code == 404
    assert client.get(project["tile"] + ".mvt").status_code == 404
    assert client.get(f"/api/layers/projects/at?lon={project['lon']}&lat={project['lat']}&zoom=15").status_code == 404
    seen = client.get(project["tile"] + ".png", headers=bearer(keys["admin"]))
    assert seen.status_code == 200 and seen.headers["Cache-Control"].startswith("private")


def test_an_edit_changes_the_tag(built_store, tmp_path, project):
    app = make_app(built_store, tmp_path / "atlas")
    client = app.test_client()
    before = client.get(project["tile"] + ".png")
    store = app.extensions["atlas_store"]
    store.update("projects", project["id"], properties={"name_zh": "改名项目"}, actor="test", message="rename")
    after = client.get(project["tile"] + ".png", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and after.headers["ETag"] != before.headers["ETag"]


# -- basemaps --------------------------------------------------------------------------------------
def _mbtiles(path, tile: bytes):
    con = sqlite3.connect(path)
    con.executescript("CREATE TABLE metadata (name TEXT, value TEXT);"
                      "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB);")
    con.executemany("INSERT INTO metadata VALUES (?, ?)", [("name", "威海离线底图"), ("format", "png"),
                                                          ("maxzoom", "14"), ("attribution", "© OpenStreetMap contributors")])
    con.execute("INSERT INTO tiles VALUES (10, 859, 629, ?)", (tile,))  # TMS row 629 = XYZ row 1023 - 629 = 394
    con.commit()
    con.close()


def test_local_mbtiles_basemap_is_served_and_offered(built_store, tmp_path):
    folder = tmp_path / "basemaps"
    folder.mkdir()
    out = io.BytesIO()
    Image.new("RGB", (256, 256), (240, 230, 200)).save(out, format="PNG")
    _mbtiles(folder / "weihai.mbtiles", out.getvalue())
    app = make_app(built_store, tmp_path / "atlas", BASEMAP_DIR=str(folder), INTERNET_BASEMAPS=0)
    client = app.test_client()
    tile = client.get("/basemap/weihai/10/859/394.png")
    assert tile.status_code == 200 and tile.data == out.getvalue() and tile.mimetype == "image/png"
    assert client.get("/basemap/weihai/10/859/394.png", headers={"If-None-Match": tile.headers["ETag"]}).status_code == 304
    assert client.get("/basemap/weihai/10/0/0.png").status_code == 204  # no tile there: nothing drawn
    assert client.get("/basemap/weihai/10/859/394.jpg").status_code == 404
    assert client.get("/basemap/elsewhere/10/859/394.png").status_code == 404
    page = client.get("/?basemap=local-weihai").get_data(as_text=True)
    assert '"url": "/basemap/weihai/{z}/{x}/{y}.png"' in page
    assert json.dumps("威海离线底图（本地）")[1:-1] in page  # its title, as the page's JSON writes it
    assert "tile.openstreetmap.org" not in page  # internet basemaps turned off


def test_configured_basemaps_reach_the_page_and_its_policy(built_store, tmp_path):
    listed = [{"id": "intranet", "title": {"zh": "内网天地图", "en": "Intranet Tianditu"},
               "url": "http://tdt.gis.intranet/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=vec&TILEMATRIXSET=w"
                      "&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}", "attribution": "© 天地图"}]
    app = make_app(built_store, tmp_path / "atlas", BASEMAPS=json.dumps(listed))
    answer = app.test_client().get("/?basemap=intranet")
    assert answer.status_code == 200
    assert "tdt.gis.intranet" in answer.get_data(as_text=True)
    assert "http://tdt.gis.intranet" in answer.headers["Content-Security-Policy"]


@pytest.mark.parametrize("value,says", [
    ("not json", "not JSON"),
    ('[{"id": "a", "url": "http://x/{z}/{x}.png"}]', "{z}, {x} and {y}"),
    ('[{"id": "osm", "url": "http://x/{z}/{x}/{y}.png"}]', "taken"),
    ('[{"id": "Bad Id", "url": "http://x/{z}/{x}/{y}.png"}]', "id of lower-case"),
])
def test_bad_basemap_settings_stop_the_start_naming_the_variable(value, says):
    with pytest.raises(ConfigError) as err:
        load_config({"ATLAS_BASEMAPS": value})
    assert "ATLAS_BASEMAPS" in err.value.detail and says in err.value.detail
