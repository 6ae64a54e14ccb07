"""Exports of the atlas over the small test atlas (conftest): every format in every coordinate
system read back by an independent reader and compared with the store read directly and
transformed with pyproj; filtered and selected exports against the API's answer; bad input;
failures that leave nothing behind; the command line; and the route as the app will wire it."""
from __future__ import annotations

import json
import zipfile
from urllib.parse import unquote

import numpy as np
import pyarrow.parquet as pq
import pyogrio
import pytest
import shapely
from pyproj import CRS, Geod, Transformer

from geo import crs as geo_crs
from geo.errors import InvalidParameter, StoreError
from geo.export import formats
from layers import cli
from layers.api import export, params
from layers.catalog import FIELDS
from tests.geo.test_formats import (
    LOSSY_EMPTY,
    aligned,
    assert_same_attributes,
    read_back,
    same_geometry,
)

LAYERS = ["districts", "zones", "parks", "roads", "projects"]
CRSS = ["EPSG:4326", "EPSG:4490", "EPSG:4550", "EPSG:4529", "EPSG:3857", "GCJ-02"]
COLUMNS = {f.name: f.type for f in FIELDS}
GEOD = Geod(ellps="WGS84")


def source(store, layer):
    """The layer as stored, read straight from the GeoPackage by GDAL (not through our store)."""
    return pyogrio.read_dataframe(store.path, layer=layer)


def expected_geometries(geoms, crs):
    """``geoms`` (WGS84) in ``crs``, transformed by pyproj directly."""
    tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    return shapely.transform(np.asarray(geoms, dtype=object), lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


def max_metres(a, b):
    """The largest distance between corresponding vertices (after putting both in normal form)."""
    a, b = aligned(a, b)
    ca, cb = shapely.get_coordinates(a), shapely.get_coordinates(b)
    return GEOD.inv(ca[:, 0], ca[:, 1], cb[:, 0], cb[:, 1])[2].max()


def exported(store, tmp_path, **args):
    result = export.export(store, args, tmp_dir=tmp_path)
    back = read_back(result.path, result.format, tmp_path / "unzipped",
                     args["layers"] if "," not in args["layers"] and args["layers"] != "all" else None)
    return result, back


def declared_crs(result, layer, unzipped):
    """The coordinate system the file declares, read by GDAL (geopandas for GeoParquet)."""
    if result.format in ("csv", "xlsx"):
        return None  # bare tables: the file name says it
    path = result.path
    if result.format == "parquet":
        path = unzipped / f"{layer}.parquet" if path.suffix == ".zip" else path
        geo = json.loads(pq.read_schema(path).metadata[b"geo"])
        return CRS.from_json_dict(geo["columns"]["geometry"]["crs"])
    if path.suffix == ".zip" and result.format != "shp":
        path = unzipped / f"{layer}{formats.FORMATS[result.format].extension}"
    return CRS(pyogrio.read_info(path, layer=layer)["crs"])


# -- acceptance 1: every format x coordinate system ----------------------------------------------
@pytest.mark.parametrize("crs", CRSS)
@pytest.mark.parametrize("fmt", list(formats.FORMATS))
def test_round_trip_every_layer(built_store, tmp_path, fmt, crs):
    if fmt == "kml" and crs in ("EPSG:4550", "EPSG:4529", "EPSG:3857"):
        with pytest.raises(InvalidParameter, match="longitude/latitude only"):
            export.export(built_store, {"layers": "all", "format": fmt, "crs": crs}, tmp_dir=tmp_path)
        assert list(tmp_path.iterdir()) == []
        return
    result, back = exported(built_store, tmp_path, layers="all", format=fmt, crs=crs)
    label = crs.replace(":", "")
    assert result.filename.startswith("weihai-atlas_all_") and label in result.filename
    assert label in result.filename_utf8 and result.filename_utf8.startswith("精致威海规划图_全部图层_")
    assert set(back) == set(LAYERS) and result.counts == {layer: len(source(built_store, layer)) for layer in LAYERS}
    for layer in LAYERS:
        src = source(built_store, layer)
        got = back[layer]
        assert_same_attributes(got, src, [c for c in export.layer_schema(built_store, layer).columns],
                               lossy_empty=fmt in LOSSY_EMPTY)
        assert set(COLUMNS) <= set(got.columns)
        if fmt == "kml":  # the placemark label is the Chinese name
            assert list(got["Name"]) == list(got["name_zh"])
        declared = declared_crs(result, layer, tmp_path / "unzipped")
        if declared is not None:
            file_crs = "EPSG:4326" if crs == "GCJ-02" else crs
            assert declared.equals(CRS(file_crs), ignore_axis_order=True) or declared.to_epsg() == 4326 == CRS(file_crs).to_epsg() or (
                fmt == "kml" and crs == "EPSG:4490")  # KML declares WGS84 always
        geoms = dict(zip(got["id"], got.geometry if hasattr(got, "geometry") and got.geometry is not None else got["geometry"]))
        for fid, geom in zip(src["id"], src.geometry):
            have = geoms[fid]
            # a Multi* of one part may come back as the part (Shapefile, KML)
            assert have.geom_type.replace("Multi", "") == geom.geom_type.replace("Multi", ""), (layer, fid)
            assert have.geom_type == geom.geom_type or fmt in ("shp", "kml")
            if crs == "GCJ-02":
                back_wgs = geo_crs.gcj02_to_wgs84([shapely.force_2d(have)])[0]
                assert same_geometry(back_wgs, geom, 1e-4)
                assert max_metres(shapely.force_2d(back_wgs), geom) < 1.0
                assert max_metres(shapely.force_2d(have), geom) > 100  # the offset was applied
            else:
                want = expected_geometries([geom], crs)[0]
                tolerance = 1e-9 if crs in ("EPSG:4326", "EPSG:4490") else 1e-5
                assert same_geometry(have, want, tolerance), (layer, fid)
            if crs == "EPSG:4529":
                x = shapely.get_coordinates(have)[:, 0]
                assert ((41_000_000 < x) & (x < 42_000_000)).all()  # the zone prefix 41
    result.cleanup()
    assert not result.folder.exists()


@pytest.mark.parametrize("fmt", list(formats.FORMATS))
def test_one_layer_in_each_format_and_its_name(built_store, tmp_path, fmt):
    crs = "EPSG:4490" if fmt == "kml" else "EPSG:4550"
    result = export.export(built_store, {"layers": "parks", "format": fmt, "crs": crs}, tmp_dir=tmp_path)
    fmt_ = formats.FORMATS[fmt]
    ext = ".shp.zip" if fmt == "shp" else fmt_.extension
    assert result.filename == f"weihai-atlas_parks_{crs.replace(':', '')}{ext}"
    assert result.filename_utf8 == f"精致威海规划图_公园与景区_{crs.replace(':', '')}{ext}"
    assert result.path.name.endswith(ext) and result.counts == {"parks": 2}
    assert result.media_type == ("application/zip" if fmt == "shp" else fmt_.media_type)
    disposition = result.content_disposition
    assert f'filename="{result.filename}"' in disposition
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == result.filename_utf8
    result.cleanup()


def test_gcj02_says_so_in_the_name_and_the_readme(built_store, tmp_path):
    result = export.export(built_store, {"layers": "parks,roads", "format": "csv", "crs": "gcj02"}, tmp_dir=tmp_path)
    assert result.filename == "weihai-atlas_parks-roads_GCJ-02.csv.zip"
    readme = zipfile.ZipFile(result.path).read("README.txt").decode("utf-8")
    assert "GCJ-02" in readme and "not an EPSG code" in readme and "parks" in readme and "roads" in readme
    result.cleanup()


def test_gpkg_holds_several_layers_in_one_file(built_store, tmp_path):
    result, back = exported(built_store, tmp_path, layers="parks,roads,projects", format="gpkg", crs="EPSG:4550")
    assert result.path.suffix == ".gpkg" and result.filename == "weihai-atlas_parks-roads-projects_EPSG4550.gpkg"
    assert [name for name, _ in pyogrio.list_layers(result.path)] == ["parks", "roads", "projects"]
    info = pyogrio.read_info(result.path, layer="parks")
    assert info["layer_metadata"]["IDENTIFIER"].startswith("公园与景区")
    result.cleanup()


def test_chunked_reading_gives_the_same_file(built_store, tmp_path):
    args = {"layers": "parks,projects,districts", "format": "csv", "crs": "EPSG:4529"}
    one = export.export(built_store, args, tmp_dir=tmp_path, chunk_size=1)
    many = export.export(built_store, args, tmp_dir=tmp_path)
    a, b = zipfile.ZipFile(one.path), zipfile.ZipFile(many.path)
    for name in ("parks.csv", "projects.csv", "districts.csv"):
        assert a.read(name) == b.read(name)
    one.cleanup(), many.cleanup()


# -- acceptance 2: filtered and selected exports are the API's answer -----------------------------
def api_ids(client, layer, query):
    resp = client.get(f"/api/layers/{layer}?{query}")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return [f["id"] for f in resp.get_json()["features"]]


def export_ids(store, tmp_path, layer, query, fmt="geojson"):
    args = dict(p.split("=", 1) for p in query.split("&") if p)
    result = export.export(store, {**args, "layers": layer, "format": fmt}, tmp_dir=tmp_path)
    back = read_back(result.path, fmt, tmp_path / "unzipped", layer)[layer]
    result.cleanup()
    if fmt == "geojson" and len(back) == 0:
        return []  # GeoJSON has no schema: an empty file has no fields to read back
    return list(back["id"])


@pytest.mark.parametrize("layer,query", [
    ("parks", "bbox=122.0,37.4,122.1,37.45"),
    ("parks", "district=371002"), ("parks", "district=环翠"), ("parks", "district=Huancui"),
    ("parks", "district=371003"),
    ("parks", "category=scenic_area"), ("parks", "category=scenic_area,urban_park"),
    ("parks", "status=operating"), ("parks", "q=华夏"), ("parks", "q=huaxia"),
    ("parks", "ids=parks-hostile"), ("parks", "ids=parks-hostile,parks-huaxiacheng"),
    ("parks", "limit=1"), ("parks", "limit=1&offset=1"),
    ("parks", "district=371002&status=operating&bbox=122.0,37.4,122.2,37.6"),
    ("districts", "district=高区"),
    ("projects", "status=under_construction,operating&q=园"),
    ("roads", "bbox=122.095,37.5,122.2,37.6"),
    ("zones", "category=rural_revitalization"),
])
@pytest.mark.parametrize("fmt", ["geojson", "csv"])
def test_filtered_export_is_what_the_api_returns(client, built_store, tmp_path, layer, query, fmt):
    assert export_ids(built_store, tmp_path, layer, query, fmt) == api_ids(client, layer, query)


def test_selection_across_layers_is_what_the_api_returns_per_layer(client, built_store, tmp_path):
    ids = "parks-huaxiacheng,roads-wangdaohenan,projects-weiqiao"
    result = export.export(built_store, {"layers": "all", "ids": ids, "format": "gpkg"}, tmp_dir=tmp_path)
    assert "_selection_" in result.filename and "_选中要素_" in result.filename_utf8
    assert result.counts == {"parks": 1, "roads": 1, "projects": 1}  # "all": the layers the selection touches
    for layer in result.counts:
        got = list(pyogrio.read_dataframe(result.path, layer=layer)["id"])
        assert got == api_ids(client, layer, f"ids={ids}")
    result.cleanup()


def test_named_layers_stay_even_when_empty(built_store, tmp_path):
    result = export.export(built_store, {"layers": "parks,roads", "ids": "parks-hostile", "format": "gpkg"},
                           tmp_dir=tmp_path)
    assert result.counts == {"parks": 1, "roads": 0}
    result.cleanup()


def test_a_category_of_several_layers_applies_to_the_layers_that_have_it(client, built_store, tmp_path):
    result = export.export(built_store, {"layers": "parks,projects", "category": "scenic_area,innovation",
                                         "format": "gpkg"}, tmp_dir=tmp_path)
    for layer, cat in (("parks", "scenic_area"), ("projects", "innovation")):
        got = list(pyogrio.read_dataframe(result.path, layer=layer)["id"])
        assert got == api_ids(client, layer, f"category={cat}")
    result.cleanup()
    result = export.export(built_store, {"layers": "parks,projects", "category": "scenic_area", "format": "gpkg"},
                           tmp_dir=tmp_path)
    assert result.counts == {"parks": 1, "projects": 0}
    result.cleanup()


def test_simplify_is_applied_like_the_api(client, built_store, tmp_path):
    result = export.export(built_store, {"layers": "districts", "simplify": "200", "format": "geojson"}, tmp_dir=tmp_path)
    got = pyogrio.read_dataframe(result.path)
    api = client.get("/api/layers/districts?simplify=200").get_json()["features"]
    for geom, feature in zip(got.geometry, api):
        assert len(shapely.get_coordinates(geom)) == len(shapely.get_coordinates(shapely.geometry.shape(feature["geometry"])))
    assert len(shapely.get_coordinates(got.geometry.iloc[0])) < len(shapely.get_coordinates(source(built_store, "districts").geometry.iloc[0]))
    result.cleanup()


def test_fields_chooses_the_attributes_like_the_api(client, built_store, tmp_path):
    result, back = exported(built_store, tmp_path, layers="parks", format="csv", fields="name_zh,area_mu")
    assert list(back["parks"].columns) == ["WKT", "id", "name_zh", "area_mu", "geometry"]
    api = client.get("/api/layers/parks?fields=name_zh,area_mu").get_json()["features"]
    assert list(back["parks"]["name_zh"]) == [f["properties"]["name_zh"] for f in api]
    result.cleanup()


def test_every_filter_of_the_api_is_an_export_parameter():
    """A parameter added to /api/layers/<id> must be decided on here (taken, or refused on purpose)."""
    assert set(params.FEATURE_PARAMS) - set(export.PARAMS) == {"lang"}


# -- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("args,parameter,listed", [
    ({"layers": "parks", "format": "dwg"}, "format", ["geojson", "gpkg", "shp", "kml", "csv", "xlsx", "fgb", "parquet"]),
    ({"layers": "parks", "crs": "EPSG:32651"}, "crs", CRSS),
    ({"layers": "parks,lakes"}, "layers", LAYERS + ["all"]),
    ({"layers": ""}, "layers", LAYERS),
    ({}, "layers", LAYERS),
    ({"layers": "parks", "fromat": "gpkg"}, "fromat", ["layers", "format", "crs", "bbox", "district", "ids"]),
    ({"layers": "parks", "lang": "en"}, "lang", ["layers", "format", "crs"]),
    ({"layers": "parks", "bbox": "abc"}, "bbox", ["minx,miny,maxx,maxy"]),
    ({"layers": "parks", "district": "青岛"}, "district", ["371002"]),
    ({"layers": "parks", "category": "mall"}, "category", ["scenic_area", "urban_park"]),
    ({"layers": "parks,roads", "category": "mall"}, "category", ["scenic_area", "bottleneck_road"]),
    ({"layers": "parks", "status": "done"}, "status", ["planned", "completed"]),
    ({"layers": "parks", "limit": "0"}, "limit", ["whole number"]),
    ({"layers": "parks", "format": "kml", "crs": "EPSG:4550"}, "crs", ["EPSG:4326", "GCJ-02", "gpkg"]),
])
def test_bad_parameters_are_400_and_list_what_is_accepted(built_store, tmp_path, args, parameter, listed):
    with pytest.raises(InvalidParameter) as err:
        export.export(built_store, args, tmp_dir=tmp_path)
    assert err.value.status == 400 and err.value.parameter == parameter
    for item in listed:
        assert item in err.value.detail, (item, err.value.detail)
    assert list(tmp_path.iterdir()) == []  # checked before anything is written


# -- failures leave nothing behind ---------------------------------------------------------------
class FailingStore:
    """The test store, failing on the ``fail_at``-th chunk of features it streams."""

    def __init__(self, store, fail_at=3, error=OSError("disk went away")):
        self._store, self.calls, self.fail_at, self.error = store, 0, fail_at, error

    def __getattr__(self, name):
        return getattr(self._store, name)

    def stream(self, layer, query, *, chunk_size=5000):
        for frame in self._store.stream(layer, query, chunk_size=chunk_size):
            self.calls += 1
            if self.calls >= self.fail_at:
                raise self.error
            yield frame


@pytest.mark.parametrize("fmt", list(formats.FORMATS))
def test_a_failure_mid_export_removes_the_partial_file(built_store, tmp_path, fmt):
    store = FailingStore(built_store)
    with pytest.raises(OSError, match="disk went away"):
        export.export(store, {"layers": "parks,projects", "format": fmt}, tmp_dir=tmp_path, chunk_size=1)
    assert store.calls == 3  # it failed in the middle, after writing
    assert list(tmp_path.iterdir()) == []


# -- the command line ----------------------------------------------------------------------------
def test_cli_writes_the_file_with_progress(built_store, tmp_path, capsys):
    target = tmp_path / "out" / "parks.gpkg"
    code = cli.export_main(["--store", str(built_store.path), "--layers", "parks,roads", "--crs", "EPSG:4550",
                        "--district", "371002", "-o", str(target), "--chunk-size", "1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert sorted(p.name for p in target.parent.iterdir()) == ["parks.gpkg"]  # nothing else left beside it
    assert [n for n, _ in pyogrio.list_layers(target)] == ["parks", "roads"]  # format from the extension
    assert "parks" in err and "[" in err and "100%" in err  # the progress bar
    assert "wrote" in out and "parks 2" in out


def test_cli_into_a_folder_uses_the_download_name(built_store, tmp_path, capsys):
    code = cli.export_main(["--store", str(built_store.path), "--layers", "parks", "--format", "shp", "--crs", "4529",
                        "-o", str(tmp_path), "--quiet"])
    assert code == 0
    assert [p.name for p in tmp_path.iterdir()] == ["weihai-atlas_parks_EPSG4529.shp.zip"]


def test_cli_bad_input_says_why_and_writes_nothing(built_store, tmp_path, capsys):
    code = cli.export_main(["--store", str(built_store.path), "--layers", "lakes", "-o", str(tmp_path / "x.gpkg")])
    assert code == 2
    assert "unknown layer 'lakes'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cli_failure_keeps_the_previous_file_and_leaves_no_temporary(built_store, tmp_path, monkeypatch, capsys):
    target = tmp_path / "roads.csv"
    target.write_text("previous export", encoding="utf-8")
    monkeypatch.setattr(cli, "open_store", lambda url, key: FailingStore(built_store, fail_at=2,
                                                                          error=StoreError("store unreadable")))
    code = cli.export_main(["--store", "x.gpkg", "--layers", "parks", "-o", str(target), "--chunk-size", "1"])
    assert code == 1 and "store unreadable" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["roads.csv"]
    assert target.read_text(encoding="utf-8") == "previous export"


# -- the route, wired as server.py will wire it --------------------------------------------------
@pytest.fixture()
def export_client(built_store, tmp_path, monkeypatch):
    """The real app's /api/export, with temporary files under tmp_path to see what is left behind."""
    from server import create_app

    monkeypatch.setattr(export.tempfile, "tempdir", str(tmp_path))
    return create_app({"STORE": str(built_store.path), "TESTING": True}).test_client()


def test_route_sends_the_file_and_leaves_nothing(export_client, tmp_path):
    resp = export_client.get("/api/export?layers=parks,roads&format=gpkg&crs=EPSG:4550&district=371002")
    assert resp.status_code == 200
    assert resp.mimetype == "application/geopackage+sqlite3"
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert 'filename="weihai-atlas_parks-roads_filtered_EPSG4550.gpkg"' in disposition
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "精致威海规划图_公园与景区、道路与街区_筛选结果_EPSG4550.gpkg"
    data = resp.get_data()
    assert int(resp.headers["Content-Length"]) == len(data)
    resp.close()
    assert list(tmp_path.iterdir()) == []  # the temporary folder went as soon as the file was open
    path = tmp_path / "download.gpkg"
    path.write_bytes(data)
    assert [n for n, _ in pyogrio.list_layers(path)] == ["parks", "roads"]


def test_route_bad_format_is_400_listing_formats(export_client):
    resp = export_client.get("/api/export?layers=parks&format=dwg")
    assert resp.status_code == 400
    body = resp.get_json()
    assert body["error"] == "invalid_parameter" and body["parameter"] == "format"
    assert all(name in body["detail"] for name in formats.FORMATS)


def test_options_for_the_panel(built_store):
    body = json.loads(json.dumps(export.options(built_store), ensure_ascii=False))
    assert body["layers"] == LAYERS and body["default_crs"] == "EPSG:4326" and body["default_format"] == "geojson"
    assert {f["id"] for f in body["formats"]} == set(formats.FORMATS)
    assert [c["id"] for c in body["crs"]] == CRSS
    assert {"layers", "format", "crs", "bbox", "district", "category", "status", "q", "ids"} <= set(body["parameters"])


def test_route_options_and_filtered_geojson_match_the_api(export_client):
    options = export_client.get("/api/export/options").get_json()
    assert "gpkg" in {f["id"] for f in options["formats"]}
    resp = export_client.get("/api/export?layers=parks&format=geojson&district=环翠&q=华夏")
    assert resp.status_code == 200 and resp.headers["Content-Disposition"].startswith("attachment;")
    exported = json.loads(resp.get_data())
    api = export_client.get("/api/layers/parks?district=环翠&q=华夏").get_json()
    assert [f["properties"]["id"] for f in exported["features"]] == [f["id"] for f in api["features"]]
    resp.close()


def test_an_export_reads_every_row_once_through_the_stream(tmp_path):
    """25,000 features exported: the rows come from Store.stream, each once; nothing reads pages
    with OFFSET or recounts per chunk (one count a layer, before writing)."""
    import geopandas as gpd

    from geo.store import open_store

    n = 25_000
    store = open_store(tmp_path / "big.gpkg", key="id")
    store.replace({"lines": gpd.GeoDataFrame(
        {"id": [f"l{i:05d}" for i in range(n)], "name_zh": [f"测试线{i}" for i in range(n)]},
        geometry=[shapely.LineString([(122 + i / 1e6, 37.5), (122.001 + i / 1e6, 37.501)]) for i in range(n)],
        crs="EPSG:4326")})

    class Counting:
        def __init__(self, inner):
            self.inner, self.streamed, self.pages, self.counts = inner, [], 0, 0

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def query(self, layer, query):
            self.pages += 1
            return self.inner.query(layer, query)

        def count(self, layer, query):
            self.counts += 1
            return self.inner.count(layer, query)

        def stream(self, layer, query, *, chunk_size=5000):
            for frame in self.inner.stream(layer, query, chunk_size=chunk_size):
                self.streamed += list(frame["id"])
                yield frame

    counting = Counting(store)
    with export.export(counting, {"layers": "lines", "format": "gpkg"}, tmp_dir=tmp_path) as result:
        assert result.counts == {"lines": n}
        written = pyogrio.read_dataframe(result.path, layer="lines", columns=["id"], read_geometry=False)
    assert len(counting.streamed) == n and len(set(counting.streamed)) == n  # each row once
    assert counting.streamed == sorted(counting.streamed)  # in key order
    assert counting.pages == 0 and counting.counts == 1
    assert sorted(written["id"]) == counting.streamed
