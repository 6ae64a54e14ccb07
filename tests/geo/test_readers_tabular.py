"""geo.readers on CSV and XLSX tables the tests write (Chinese headers): types from values, the
geometry columns suggested and built, formula-like cells kept as text and flagged, broken tables
refused with a message."""
from __future__ import annotations

import datetime as dt

import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely

from geo.errors import InvalidParameter, UnreadableFile
from geo.readers import (
    Columns,
    formula_cells,
    open_source,
    points_from_columns,
    read,
    suggest_columns,
)

HYPERLINK = '=HYPERLINK("http://evil.example/","点我")'
CSV = ("名称,经度,纬度,编号,数量,链接,日期\n"
       "华夏城,122.0631,37.4437,0012,-5,普通文本,2021-11-18\n"
       f'刘公岛,122.19,37.50,0013,7,"{HYPERLINK.replace(chr(34), chr(34) * 2)}",2022-01-02\n'
       "环翠楼,122.12,37.51,0014,,@SUM(A1),\n")


def _csv(tmp_path, text=CSV, encoding="utf-8-sig", name="景点.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_types_suggestion_and_points(tmp_path):
    source = open_source(_csv(tmp_path))
    layer = source.layer()
    assert source.format == "csv" and layer.count == 3 and layer.geometry_type is None and layer.crs is None
    assert {f.name: f.type for f in layer.fields} == {"名称": "str", "经度": "float", "纬度": "float", "编号": "str",
                                                      "数量": "int", "链接": "str", "日期": "date"}
    assert layer.suggestion == Columns(x="经度", y="纬度", kind="lonlat")
    frame = read(source)
    assert list(frame["编号"]) == ["0012", "0013", "0014"]  # codes keep their zeros
    assert frame["数量"].tolist()[:2] == [-5, 7] and frame["数量"].isna().tolist()[2]
    points = points_from_columns(frame, "经度", "纬度", crs="EPSG:4326")
    assert points.crs.to_epsg() == 4326 and points.geometry.iloc[0].equals(shapely.Point(122.0631, 37.4437))
    assert list(points["名称"]) == ["华夏城", "刘公岛", "环翠楼"]


def test_formula_cells_stay_text_and_are_flagged(tmp_path):
    frame = read(open_source(_csv(tmp_path)))
    flagged = frame.attrs["formula_cells"]
    assert [(c.row, c.column, c.value) for c in flagged] == [(1, "链接", HYPERLINK), (2, "链接", "@SUM(A1)")]
    assert frame["链接"].iloc[1] == HYPERLINK  # the text itself, never evaluated
    assert formula_cells(frame) == flagged
    points = points_from_columns(frame, "经度", "纬度")
    assert points.attrs["formula_cells"] == flagged


def test_gbk_csv_needs_its_encoding(tmp_path):
    path = _csv(tmp_path, encoding="gbk", name="国标.csv")
    with pytest.raises(InvalidParameter, match="choose its encoding") as err:
        open_source(path)
    assert err.value.parameter == "encoding"
    source = open_source(path, encoding="GB18030")
    assert read(source, encoding="GB18030")["名称"].tolist() == ["华夏城", "刘公岛", "环翠楼"]


def test_projected_xy_wkt_and_value_based_suggestions(tmp_path):
    xy = read(open_source(_csv(tmp_path, "名称;X;Y\n一号地块;40512345.6;4150000.5\n二号地块;40513000;4151000\n",
                               name="xy.csv")))
    assert suggest_columns(xy) == Columns(x="X", y="Y", kind="xy")
    wkt = read(open_source(_csv(tmp_path, 'wkt,名称\n"POLYGON ((122 37, 122.1 37, 122.1 37.1, 122 37))",绿地\n',
                                name="wkt.csv")))
    assert suggest_columns(wkt) == Columns(wkt="wkt", kind="wkt")
    shapes = points_from_columns(wkt, wkt="wkt")
    assert list(shapes.columns) == ["名称", "geometry"] and shapes.geom_type.tolist() == ["Polygon"]
    unnamed = read(open_source(_csv(tmp_path, "甲,乙,丙\n华夏城,122.06,37.44\n刘公岛,122.19,37.5\n", name="u.csv")))
    assert suggest_columns(unnamed) == Columns(x="乙", y="丙", kind="lonlat")
    assert suggest_columns(read(open_source(_csv(tmp_path, "名称\n一\n", name="n.csv")))) is None


def test_bad_cells_and_empty_cells(tmp_path):
    frame = read(open_source(_csv(tmp_path, "名称,经度,纬度\n一,122.1,37.5\n二,东经122度,37.5\n三,,\n", name="b.csv")))
    with pytest.raises(InvalidParameter, match=r"column '经度' is not a number in 1 rows \(row 2: '东经122度'\)"):
        points_from_columns(frame, "经度", "纬度")
    ok = points_from_columns(frame.iloc[[0, 2]], "经度", "纬度")
    assert ok.geometry.iloc[1] is None
    with pytest.raises(InvalidParameter, match="no column '经'"):
        points_from_columns(frame, "经", "纬度")


def test_a_ragged_csv_is_refused(tmp_path):
    with pytest.raises(UnreadableFile, match="not a readable CSV"):
        open_source(_csv(tmp_path, "名称,经度\n一,122.1,37.5,多余\n", name="r.csv"))


def _xlsx(path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "公园"
    sheet.append(["名称", "lng", "lat", "开放日期", "链接", "免费"])
    sheet.append(["华夏城", 122.0631, 37.4437, dt.datetime(2021, 11, 18), HYPERLINK, True])
    sheet.append(["刘公岛", 122.19, 37.5, dt.datetime(2022, 1, 2), "官网", False])
    roads = book.create_sheet("道路")
    roads.append(["名称", "WKT"])
    roads.append(["望岛河南路", "LINESTRING (122.09 37.5, 122.11 37.51)"])
    book.create_sheet("空表")
    book.save(path)
    return path


def test_xlsx_sheets_types_formulas_and_wkt(tmp_path):
    path = _xlsx(tmp_path / "外业.xlsx")
    assert openpyxl.load_workbook(path)["公园"]["E2"].data_type == "f"  # a real formula in the file
    source = open_source(path)
    assert [(l.name, l.count) for l in source.layers] == [("公园", 2), ("道路", 1)]
    parks = source.layer("公园")
    assert {f.name: f.type for f in parks.fields} == {"名称": "str", "lng": "float", "lat": "float",
                                                      "开放日期": "date", "链接": "str", "免费": "bool"}
    assert parks.suggestion == Columns(x="lng", y="lat", kind="lonlat")
    frame = read(source, "公园")
    assert frame["开放日期"].tolist() == ["2021-11-18", "2022-01-02"] and frame["链接"].iloc[0] == HYPERLINK
    assert [(c.row, c.column) for c in frame.attrs["formula_cells"]] == [(0, "链接")]
    assert source.layer("道路").suggestion == Columns(wkt="WKT", kind="wkt")
    roads = points_from_columns(read(source, "道路"), wkt="WKT", crs=4326)
    assert roads.geom_type.tolist() == ["LineString"]
    with pytest.raises(InvalidParameter, match="no layer '绿地'"):
        read(source, "绿地")


def test_our_own_xlsx_export_reads_back(tmp_path):
    from geo import crs as crs_targets
    from geo.export import About, Chunk, Column, LayerSchema, formats, write

    layer = LayerSchema("parks", "Point", (Column("id", "str"), Column("name_zh", "str")))
    chunk = Chunk(pd.DataFrame({"id": ["parks-1"], "name_zh": [HYPERLINK]}), np.array([shapely.Point(122.06, 37.44)]))
    about = About(crs_targets.target(None), "全部", "2026-12-01T00:00:00Z")
    written = write(formats.get("xlsx"), about, iter([(layer, [chunk])]), tmp_path, "export", several=False)
    source = open_source(written.path)
    assert [l.name for l in source.layers] == ["parks"]  # the fields and README sheets are not layers
    frame = read(source)
    assert frame["name_zh"].iloc[0] == HYPERLINK and frame.attrs["formula_cells"][0].column == "name_zh"
    assert points_from_columns(frame, wkt="WKT").geometry.iloc[0].equals(shapely.Point(122.06, 37.44))


def test_a_damaged_workbook(tmp_path):
    path = tmp_path / "坏.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(UnreadableFile, match="could not be read as an Excel workbook"):
        open_source(path)
