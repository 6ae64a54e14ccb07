"""geo.readers on files the tests write themselves (Chinese layer and field names): every GDAL
format and GeoParquet read back with the right fields, types, geometry type and counts; Shapefile
encodings, parts and mapping files; DXF CAD layers; broken files as typed errors; reprojection.
"""
from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, Point, Polygon

from geo import crs as crs_targets
from geo.errors import (
    CRSError,
    EmptyFile,
    InvalidParameter,
    MissingPart,
    UnreadableFile,
)
from geo.export import About, Chunk, Column, LayerSchema, formats, write
from geo.export.gdal import dbf_names
from geo.readers import open_source, read, to_wgs84


def _square(x, y, d=0.01):
    return Polygon([(x, y), (x + d, y), (x + d, y + d), (x, y + d)])


def parcels(crs="EPSG:4490") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"名称": ["环翠区共同富裕片区", "高区绿地", "里口山近郊休闲片区"], "编号": [1, 2, 3], "面积": [1.5, 2.25, 3.0]},
        geometry=[_square(122.10, 37.50), _square(122.02, 37.48), _square(122.05, 37.47)], crs=crs)


EXPECTED_TYPES = {"名称": "str", "编号": "int", "面积": "float"}
#: format -> (file name, how to write it)
WRITERS = {
    "gpkg": ("规划.gpkg", lambda f, p: f.to_file(p, layer="规划地块", driver="GPKG", engine="pyogrio")),
    "geojson": ("规划.geojson", lambda f, p: f.to_file(p, driver="GeoJSON", engine="pyogrio")),
    "fgb": ("规划.fgb", lambda f, p: f.to_file(p, driver="FlatGeobuf", engine="pyogrio")),
    "shapefile": ("规划.shp", lambda f, p: f.to_file(p, driver="ESRI Shapefile", engine="pyogrio")),
    "kml": ("规划.kml", lambda f, p: f.to_crs(4326).to_file(p, layer="规划地块", driver="KML", engine="pyogrio")),
    "parquet": ("规划.parquet", lambda f, p: f.to_parquet(p)),
}


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_every_format_reads_back_with_its_fields_types_and_counts(tmp_path, fmt):
    name, writer = WRITERS[fmt]
    frame = parcels()
    writer(frame, tmp_path / name)
    source = open_source(tmp_path / name)
    assert source.format == fmt
    layer = source.layer()
    assert (layer.count, layer.geometry_type, layer.has_z) == (3, "Polygon", False)
    assert layer.crs == ("EPSG:4326" if fmt == "kml" else "EPSG:4490")
    fields = {f.name: f.type for f in layer.fields}
    if fmt == "kml":  # KML keeps names; its types are its own
        assert "名称" in fields
    else:
        assert {k: fields[k] for k in EXPECTED_TYPES} == EXPECTED_TYPES
    got = read(source)
    assert len(got) == 3 and list(got["名称"]) == list(frame["名称"])
    if fmt != "kml":
        assert [int(v) for v in got["编号"]] == [1, 2, 3] and list(got["面积"]) == [1.5, 2.25, 3.0]
    assert all(shapely.equals_exact(shapely.normalize(a), shapely.normalize(b), 1e-9)
               for a, b in zip(got.geometry, frame.to_crs(got.crs).geometry))


def test_kmz_and_kml_folders(tmp_path):
    kml = tmp_path / "doc.kml"
    parks = gpd.GeoDataFrame({"Name": ["华夏城", "刘公岛"]}, geometry=[Point(122.063, 37.444), Point(122.19, 37.50)],
                             crs=4326)
    parks.to_file(kml, layer="公园", driver="KML", engine="pyogrio")
    parcels().to_crs(4326).to_file(kml, layer="规划地块", driver="KML", engine="pyogrio", append=True)
    kmz = tmp_path / "外业.kmz"
    with zipfile.ZipFile(kmz, "w") as zf:
        zf.write(kml, "doc.kml")
    for path in (kml, kmz):
        source = open_source(path)
        layers = {layer.name: (layer.count, layer.geometry_type) for layer in source.layers}
        assert layers == {"公园": (2, "Point"), "规划地块": (3, "Polygon")}, path.name
        assert list(read(source, "公园")["Name"]) == ["华夏城", "刘公岛"]


def test_geopackage_layers_and_choosing_one(tmp_path):
    path = tmp_path / "规划.gpkg"
    parcels().to_file(path, layer="规划地块", engine="pyogrio")
    gpd.GeoDataFrame({"名称": ["望岛河南路"]}, geometry=[LineString([(122.09, 37.5), (122.11, 37.51)])],
                     crs=4490).to_file(path, layer="道路", engine="pyogrio")
    source = open_source(path)
    assert [(l.name, l.count, l.geometry_type) for l in source.layers] == [("规划地块", 3, "Polygon"),
                                                                         ("道路", 1, "LineString")]
    with pytest.raises(InvalidParameter, match="choose the one"):
        read(source)
    with pytest.raises(InvalidParameter, match="no layer '绿地'"):
        read(source, "绿地")
    assert list(read(source, "道路", columns=["名称"]).columns) == ["名称", "geometry"]


def test_geojson_dates_and_json_arrive_as_neutral_text(tmp_path):
    path = tmp_path / "项目.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"名称": "远遥浅海科技湾区", "日期": "2021-11-18", "指标": {"面积": 3767}},
         "geometry": {"type": "Point", "coordinates": [122.185, 37.535]}}]}, ensure_ascii=False), encoding="utf-8")
    source = open_source(path)
    assert {f.name: f.type for f in source.layer().fields} == {"名称": "str", "日期": "date", "指标": "json"}
    row = read(source).iloc[0]
    assert row["日期"] == "2021-11-18" and json.loads(row["指标"]) == {"面积": 3767}


# -- Shapefiles ---------------------------------------------------------------------------------
def _shapefile(folder: Path, encoding="UTF-8", cpg=True, stem="地块") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shp = folder / f"{stem}.shp"
    parcels().to_file(shp, driver="ESRI Shapefile", engine="pyogrio", encoding=encoding)
    if not cpg:
        shp.with_suffix(".cpg").unlink()
    return shp


def test_gbk_shapefile_without_cpg_reads_with_the_encoding_given(tmp_path):
    shp = _shapefile(tmp_path, encoding="GBK", cpg=False)
    assert b"\xbb\xb7\xb4\xe4" in shp.with_suffix(".dbf").read_bytes()  # 环翠 in GBK
    source = open_source(shp, encoding="GB18030")
    assert source.encoding is None  # nothing declared: the inspector's to find
    assert [f.name for f in source.layer().fields] == ["名称", "编号", "面积"]
    assert list(read(source, encoding="GB18030")["名称"]) == list(parcels()["名称"])
    assert list(read(source)["名称"]) == list(parcels()["名称"])  # the encoding it was opened with
    assert open_source(_shapefile(tmp_path / "utf8")).encoding == "UTF-8"


def test_a_loose_part_opens_its_shapefile_and_a_folder_its_shapefiles(tmp_path):
    _shapefile(tmp_path, stem="地块")
    _shapefile(tmp_path, stem="绿地")
    assert open_source(tmp_path / "地块.dbf").layer().name == "地块"
    source = open_source(tmp_path)
    assert [l.name for l in source.layers] == ["地块", "绿地"]
    assert len(read(source, "绿地")) == 3


@pytest.mark.parametrize("part, words", [(".dbf", "add the .dbf from the same export"),
                                         (".shx", "add the .shx from the same export")])
def test_a_shapefile_without_a_part_names_it(tmp_path, part, words):
    shp = _shapefile(tmp_path)
    shp.with_suffix(part).unlink()
    with pytest.raises(MissingPart, match=words) as err:
        open_source(shp)
    assert err.value.status == 422 and err.value.to_dict()["file"] == "地块.shp"


def test_a_dbf_without_its_shp(tmp_path):
    shp = _shapefile(tmp_path)
    shp.unlink()
    with pytest.raises(MissingPart, match=r"地块\.shp \(the shapes\) is missing"):
        open_source(tmp_path / "地块.dbf")


@pytest.mark.parametrize("part", [".shp", ".dbf"])
def test_a_truncated_part_is_refused_not_half_read(tmp_path, part):
    shp = _shapefile(tmp_path)
    target = shp.with_suffix(part)
    target.write_bytes(target.read_bytes()[:-30])
    with pytest.raises(UnreadableFile, match="is cut short") as err:
        open_source(shp)
    assert err.value.file == target.name


def test_parts_of_two_exports_are_refused(tmp_path):
    shp = _shapefile(tmp_path / "a")
    gpd.GeoDataFrame({"名称": ["一"]}, geometry=[_square(122, 37)], crs=4490).to_file(
        tmp_path / "b.shp", engine="pyogrio")
    shutil.copy(tmp_path / "b.dbf", shp.with_suffix(".dbf"))
    with pytest.raises(UnreadableFile, match="different exports"):
        open_source(shp)


def test_our_exports_fields_csv_gives_back_full_names_titles_and_types(tmp_path):
    layer = LayerSchema("parks", "Point", (Column("id", "str"), Column("name_zh", "str", "名称", "name"),
                                          Column("description_zh", "str", "说明", "description"),
                                          Column("figures", "json", "指标", "figures")))
    frame = gpd.pd.DataFrame({"id": ["parks-1"], "name_zh": ["华夏城"], "description_zh": ["威海华夏城景区"],
                              "figures": ['[{"value": 3767, "unit_zh": "亩"}]']})
    about = About(crs_targets.target(None), "全部", "2026-12-01T00:00:00Z")
    written = write(formats.get("shp"), about, iter([(layer, [Chunk(frame, np.array([Point(122.06, 37.44)]))])]),
                    tmp_path, "export", several=False)
    folder = tmp_path / "unpacked"
    with zipfile.ZipFile(written.path) as zf:
        zf.extractall(folder)
    source = open_source(folder)
    got = source.layer("parks")
    assert {f.name: f.type for f in got.fields} == {"id": "str", "name_zh": "str", "description_zh": "str",
                                                    "figures": "json"}
    assert got.names[dbf_names(["description_zh"])["description_zh"]] == "description_zh"
    assert got.titles["name_zh"] == "名称 name"
    row = read(source, "parks").iloc[0]
    assert row["description_zh"] == "威海华夏城景区" and json.loads(row["figures"])[0]["value"] == 3767


def test_an_arcgis_shp_xml_gives_back_aliases(tmp_path):
    shp = tmp_path / "用地.shp"
    gpd.GeoDataFrame({"YDXZ": ["商业"], "GHMJ": [12.5]}, geometry=[_square(122, 37)], crs=4490).to_file(
        shp, engine="pyogrio")
    (tmp_path / "用地.shp.xml").write_text(
        "<?xml version='1.0' encoding='UTF-8'?><metadata><eainfo><detailed>"
        "<attr><attrlabl>YDXZ</attrlabl><attalias>用地性质</attalias></attr>"
        "<attr><attrlabl>GHMJ</attrlabl><attalias>规划面积</attalias></attr></detailed></eainfo></metadata>",
        encoding="utf-8")
    source = open_source(shp)
    assert [f.name for f in source.layer().fields] == ["用地性质", "规划面积"]
    assert read(source, columns=["规划面积"])["规划面积"].tolist() == [12.5]


# -- DXF ----------------------------------------------------------------------------------------
def _dxf(path: Path, codepage="ANSI_936", encoding="gbk") -> Path:
    """A minimal DXF written by hand (GDAL's writer makes polygons hatches, not closed polylines)."""
    def polyline(layer, points, closed):
        out = ["0", "LWPOLYLINE", "8", layer, "90", str(len(points)), "70", "1" if closed else "0"]
        for x, y in points:
            out += ["10", str(x), "20", str(y)]
        return out

    lines = ["0", "SECTION", "2", "HEADER", "9", "$ACADVER", "1", "AC1015", "9", "$DWGCODEPAGE", "3", codepage,
             "0", "ENDSEC", "0", "SECTION", "2", "ENTITIES"]
    lines += polyline("规划红线", [(500000, 4150000), (500100, 4150000), (500100, 4150100), (500000, 4150100)], True)
    lines += polyline("规划红线", [(500200, 4150000), (500300, 4150000), (500300, 4150100)], True)
    lines += polyline("道路中线", [(500000, 4150000), (500500, 4150500)], False)
    lines += ["0", "POINT", "8", "控制点", "10", "500050", "20", "4150050", "30", "0"]
    lines += ["0", "ENDSEC", "0", "EOF"]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def test_dxf_cad_layers_closed_polylines_as_polygons(tmp_path):
    source = open_source(_dxf(tmp_path / "设计院.dxf"))
    assert source.format == "dxf" and source.encoding == "ANSI_936"
    assert {l.name: (l.count, l.geometry_type) for l in source.layers} == {
        "规划红线": (2, "Polygon"), "道路中线": (1, "LineString"), "控制点": (1, "Point")}
    red = read(source, "规划红线", crs="EPSG:4550")
    assert len(red) == 2 and set(red.geom_type) == {"Polygon"} and red.crs.to_epsg() == 4550
    assert red.geometry.iloc[0].area == pytest.approx(100 * 100)
    assert len(read(source, ["规划红线", "道路中线"])) == 3 and len(read(source)) == 4
    with pytest.raises(InvalidParameter, match="no CAD layer '绿地'"):
        read(source, "绿地")


def test_dxf_encoding_override(tmp_path):
    path = _dxf(tmp_path / "无代码页.dxf", codepage="ANSI_1252")
    assert "规划红线" not in {l.name for l in open_source(path).layers}
    source = open_source(path, encoding="CP936")
    assert "规划红线" in {l.name for l in source.layers}
    assert len(read(source, "规划红线", encoding="CP936")) == 2


# -- broken files -------------------------------------------------------------------------------
def test_a_corrupt_geopackage(tmp_path):
    path = tmp_path / "损坏.gpkg"
    path.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 20)
    with pytest.raises(UnreadableFile, match="损坏.gpkg could not be read as a GeoPackage") as err:
        open_source(path)
    assert err.value.to_dict() == {"error": "unreadable_file", "detail": err.value.detail, "parameter": "file",
                                   "file": "损坏.gpkg"}


def test_a_truncated_dxf_flatgeobuf_or_workbook(tmp_path):
    dxf = _dxf(tmp_path / "断.dxf")
    dxf.write_bytes(dxf.read_bytes()[:-12])
    with pytest.raises(UnreadableFile, match="cut short.*ends with EOF"):
        open_source(dxf)
    fgb = tmp_path / "断.fgb"
    parcels().to_file(fgb, driver="FlatGeobuf", engine="pyogrio")
    data = fgb.read_bytes()
    fgb.write_bytes(data[:200])
    with pytest.raises(UnreadableFile, match="shorter than its own header"):
        open_source(fgb)
    fgb.write_bytes(data[:-7])
    with pytest.raises(UnreadableFile, match="could not be read as FlatGeobuf"):
        read(open_source(fgb))
    from tests.geo.test_readers_tabular import _xlsx

    book = _xlsx(tmp_path / "断.xlsx")
    with zipfile.ZipFile(book) as zf:
        items = {i.filename: zf.read(i) for i in zf.infolist()}
    with zipfile.ZipFile(book, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, blob in items.items():
            zf.writestr(name, blob[: len(blob) // 2] if name.startswith("xl/worksheets/") else blob)
    with pytest.raises(UnreadableFile, match="could not be read as an Excel workbook"):
        open_source(book)


@pytest.mark.parametrize("name", ["空.geojson", "空.gpkg", "空.shp", "空.csv", "空.xlsx", "空.dxf"])
def test_an_empty_file(tmp_path, name):
    (tmp_path / name).write_bytes(b"")
    with pytest.raises(EmptyFile, match="is empty"):
        open_source(tmp_path / name)


def test_no_features(tmp_path):
    path = tmp_path / "无要素.geojson"
    path.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    with pytest.raises(EmptyFile, match="holds no features"):
        open_source(path)


def test_kml_with_entities_is_refused_before_gdal_sees_it(tmp_path):
    path = tmp_path / "炸弹.kml"
    path.write_text('<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY a "哈哈哈哈">]><kml><Placemark><name>&a;</name>'
                    "<Point><coordinates>122,37</coordinates></Point></Placemark></kml>", encoding="utf-8")
    with pytest.raises(UnreadableFile, match="declares XML entities"):
        open_source(path)


def test_plain_parquet_and_unknown_kinds(tmp_path):
    pq.write_table(pa.table({"名称": ["华夏城"]}), tmp_path / "表.parquet")
    with pytest.raises(UnreadableFile, match="without GeoParquet metadata"):
        open_source(tmp_path / "表.parquet")
    (tmp_path / "旧.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(UnreadableFile, match="save it as .xlsx"):
        open_source(tmp_path / "旧.xls")
    (tmp_path / "图.dwg").write_bytes(b"AC1032")
    with pytest.raises(UnreadableFile, match="cannot be imported"):
        open_source(tmp_path / "图.dwg")


def test_encoding_only_where_it_means_something(tmp_path):
    path = tmp_path / "规划.gpkg"
    parcels().to_file(path, engine="pyogrio")
    with pytest.raises(InvalidParameter, match="always UTF-8"):
        open_source(path, encoding="GBK")
    with pytest.raises(InvalidParameter, match="always UTF-8"):
        read(open_source(path), encoding="GBK")


# -- coordinate systems -------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_crs_assigned_then_to_wgs84_matches_pyproj(tmp_path):
    xy = [(40_500_000.0 + 1000 * i, 4_150_000.0 + 500 * i) for i in range(3)]
    frame = gpd.GeoDataFrame({"名称": ["一", "二", "三"]}, geometry=[Point(p) for p in xy])
    frame.to_file(tmp_path / "无坐标系.shp", engine="pyogrio")
    source = open_source(tmp_path / "无坐标系.shp")
    assert source.layer().crs is None
    got = read(source)
    with pytest.raises(CRSError, match="no coordinate system"):
        to_wgs84(got)
    wgs = to_wgs84(read(source, crs="EPSG:4529"))  # GK zone 41, with the zone prefix
    tr = Transformer.from_crs("EPSG:4529", "EPSG:4326", always_xy=True)
    expected = np.array([tr.transform(*p) for p in xy])
    assert np.allclose(shapely.get_coordinates(wgs.geometry.array), expected, atol=1e-9)
    assert wgs.crs.to_epsg() == 4326


def test_gcj02_undone_and_unknown_crs_refused():
    wgs = np.array([[122.12, 37.50], [122.06, 37.44]])
    gcj = crs_targets.wgs84_to_gcj02_xy(wgs)
    frame = gpd.GeoDataFrame(geometry=shapely.points(gcj))
    back = to_wgs84(frame, "GCJ-02")
    assert np.allclose(shapely.get_coordinates(back.geometry.array), wgs, atol=1e-8)
    with pytest.raises(CRSError, match="unknown coordinate system"):
        to_wgs84(frame, "EPSG:999999")


def test_swapped_axes():
    frame = gpd.GeoDataFrame(geometry=[Point(4_150_000.0, 500_000.0)])  # northing first
    got = to_wgs84(frame, "EPSG:4550", swapped=True).geometry.iloc[0]
    lon, lat = Transformer.from_crs("EPSG:4550", "EPSG:4326", always_xy=True).transform(500_000.0, 4_150_000.0)
    assert (got.x, got.y) == pytest.approx((lon, lat), abs=1e-9)
