"""Local PMTiles basemaps (``geo.tiles.pmtiles_reader``, ``layers.basemaps``): files written by
the ``pmtiles`` package's own writer, as ``pmtiles convert`` or tippecanoe would; a raster one is
served at /basemap/… and offered by the page, a vector one (gzip tiles) served uncompressed but
not offered (the page draws raster basemaps), and a broken file stops the start naming it."""
from __future__ import annotations

import gzip
import io
import json

import pytest
from PIL import Image
from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import write

from geo.errors import ConfigError
from geo.tiles import pmtiles_reader
from layers.config import load_config
from tests.auth_helpers import make_app

#: a tile over Huancui at zoom 10 (XYZ), and one at zoom 11 inside it
HUANCUI = (10, 859, 394)
INSIDE = (11, 1719, 789)


def _png(colour) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (256, 256), colour).save(out, format="PNG")
    return out.getvalue()


def _pmtiles(path, tiles: dict, *, tile_type=TileType.PNG, compression=Compression.NONE, meta=None):
    with write(str(path)) as w:
        for (z, x, y), data in sorted(tiles.items(), key=lambda kv: zxy_to_tileid(*kv[0])):
            w.write_tile(zxy_to_tileid(z, x, y), data)
        w.finalize({"tile_type": tile_type, "tile_compression": compression, "min_lon_e7": int(121.1e7),
                    "min_lat_e7": int(36.6e7), "max_lon_e7": int(122.8e7), "max_lat_e7": int(37.7e7),
                    "center_zoom": 10, "center_lon_e7": int(122.12e7), "center_lat_e7": int(37.5e7)},
                   meta or {"name": "威海离线底图", "attribution": "© OpenStreetMap contributors"})


def test_reader_gives_what_the_writer_wrote(tmp_path):
    first, second = _png((240, 230, 200)), _png((200, 220, 240))
    path = tmp_path / "weihai.pmtiles"
    _pmtiles(path, {HUANCUI: first, INSIDE: second})
    meta = pmtiles_reader.metadata(path)
    assert meta["format"] == "png" and meta["name"] == "威海离线底图"
    assert (meta["minzoom"], meta["maxzoom"]) == ("10", "11")
    assert [round(float(v), 1) for v in meta["bounds"].split(",")] == [121.1, 36.6, 122.8, 37.7]
    assert pmtiles_reader.read_tile(path, *HUANCUI) == first
    assert pmtiles_reader.read_tile(path, *INSIDE) == second
    assert pmtiles_reader.read_tile(path, 10, 0, 0) is None  # no tile there
    assert pmtiles_reader.read_tile(path, 14, 0, 0) is None  # beyond its zooms


def test_local_pmtiles_basemap_is_served_and_offered(built_store, tmp_path):
    folder = tmp_path / "basemaps"
    folder.mkdir()
    tile = _png((240, 230, 200))
    _pmtiles(folder / "weihai.pmtiles", {HUANCUI: tile})
    app = make_app(built_store, tmp_path / "atlas", BASEMAP_DIR=str(folder), INTERNET_BASEMAPS=0)
    client = app.test_client()
    got = client.get("/basemap/weihai/10/859/394.png")
    assert got.status_code == 200 and got.data == tile and got.mimetype == "image/png"
    assert client.get("/basemap/weihai/10/859/394.png", headers={"If-None-Match": got.headers["ETag"]}).status_code == 304
    assert client.get("/basemap/weihai/10/0/0.png").status_code == 204
    assert client.get("/basemap/weihai/10/859/394.jpg").status_code == 404
    page = client.get("/?basemap=local-weihai").get_data(as_text=True)
    assert '"url": "/basemap/weihai/{z}/{x}/{y}.png"' in page
    assert json.dumps("威海离线底图（本地）")[1:-1] in page


def test_vector_pmtiles_are_served_uncompressed_but_not_offered_to_the_page(built_store, tmp_path):
    folder = tmp_path / "basemaps"
    folder.mkdir()
    raw = "矢量瓦片 青岛路".encode() * 20  # the server passes the tile's bytes on; it does not read them
    _pmtiles(folder / "vector.pmtiles", {HUANCUI: gzip.compress(raw)}, tile_type=TileType.MVT,
             compression=Compression.GZIP, meta={"name": "矢量底图"})
    app = make_app(built_store, tmp_path / "atlas", BASEMAP_DIR=str(folder))
    client = app.test_client()
    got = client.get("/basemap/vector/10/859/394.pbf")
    assert got.status_code == 200 and got.mimetype == "application/vnd.mapbox-vector-tile"
    assert got.data == raw  # the file's gzip undone (a client may still ask the answer gzipped)
    assert "/basemap/vector/" not in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("content,says", [
    (b"not a pmtiles file at all, only text" * 10, "not a PMTiles file"),
    (b"", "could not be opened"),
])
def test_a_broken_basemap_file_stops_the_start_naming_it(tmp_path, content, says):
    folder = tmp_path / "basemaps"
    folder.mkdir()
    (folder / "broken.pmtiles").write_bytes(content)
    with pytest.raises(ConfigError) as err:
        load_config({"ATLAS_BASEMAP_DIR": str(folder)})
    assert "broken.pmtiles" in err.value.detail and says in err.value.detail


def test_two_basemaps_of_one_name_stop_the_start(tmp_path):
    folder = tmp_path / "basemaps"
    folder.mkdir()
    _pmtiles(folder / "weihai.pmtiles", {HUANCUI: _png((1, 2, 3))})
    (folder / "weihai.mbtiles").write_bytes(b"")
    with pytest.raises(ConfigError) as err:
        load_config({"ATLAS_BASEMAP_DIR": str(folder)})
    assert "two basemaps named 'weihai'" in err.value.detail


def test_the_readmes_conversion_of_an_mbtiles_is_served(built_store, tmp_path):
    """The README's recipe: an MBTiles made by QGIS, turned into a PMTiles by pmtiles-convert."""
    import sqlite3
    import subprocess
    import sys
    from pathlib import Path

    from tests.test_tiles_api import _mbtiles

    folder = tmp_path / "basemaps"
    folder.mkdir()
    tile = _png((240, 230, 200))
    _mbtiles(tmp_path / "weihai.mbtiles", tile)
    with sqlite3.connect(tmp_path / "weihai.mbtiles") as con:  # as QGIS writes them too
        con.executemany("INSERT INTO metadata VALUES (?, ?)", [("minzoom", "10"), ("bounds", "121.1,36.6,122.8,37.7")])
    convert = Path(sys.executable).parent / "pmtiles-convert"
    done = subprocess.run([str(convert), str(tmp_path / "weihai.mbtiles"), str(folder / "weihai.pmtiles")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    client = make_app(built_store, tmp_path / "atlas", BASEMAP_DIR=str(folder)).test_client()
    got = client.get("/basemap/weihai/10/859/394.png")
    assert got.status_code == 200 and got.data == tile
    assert json.dumps("威海离线底图（本地）")[1:-1] in client.get("/?basemap=local-weihai").get_data(as_text=True)
