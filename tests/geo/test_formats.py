"""The export format registry and its writers, on small hand-made layers with Chinese text.

Every file is read back by a reader other than the one that wrote it: GDAL (pyogrio) for the GDAL
formats, CSV and Shapefile, openpyxl for XLSX and geopandas for GeoParquet. The readers here are
shared with tests/layers/test_export.py.
"""
from __future__ import annotations

import csv
import io
import json
import math
import tempfile
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import pytest
import shapely

from geo import crs as crs_targets
from geo.errors import InvalidParameter
from geo.export import About, Chunk, Column, LayerSchema, formats, write
from geo.export.gdal import dbf_names

ALL = list(formats.FORMATS)
#: formats that cannot tell an empty text from no value
LOSSY_EMPTY = ("shp", "kml", "csv", "xlsx")


# -- independent readers ---------------------------------------------------------------------------
def _xlsx_layers(path: Path) -> dict[str, pd.DataFrame]:
    book = openpyxl.load_workbook(path, read_only=True)
    out = {}
    for sheet in book.worksheets:
        if sheet.title in ("字段 fields", "说明 README"):
            continue
        rows = list(sheet.iter_rows(values_only=True))
        head = list(rows[0])
        n = head.index("WKT")
        records = []
        for row in rows[1:]:
            rec = dict(zip(head[:n], row[:n]))
            rec["geometry"] = shapely.from_wkt("".join(v for v in row[n:] if v))  # WKT may span cells
            records.append(rec)
        out[sheet.title] = pd.DataFrame(records, columns=head[:n] + ["geometry"])
    book.close()
    return out


def _one(path: Path, fmt: str, name: str | None = None) -> dict[str, pd.DataFrame]:
    if fmt == "xlsx":
        return _xlsx_layers(path)
    if fmt == "parquet":
        return {name or path.stem: gpd.read_parquet(path)}
    if fmt == "csv":
        return {name or path.stem: pyogrio.read_dataframe(path)}  # GDAL takes the WKT column as geometry
    # GeoJSON has no date type: GDAL would guess one from text such as "2021-11-18"
    options = {"DATE_AS_STRING": "YES"} if fmt == "geojson" else {}
    return {name: pyogrio.read_dataframe(path, layer=name, **options) for name, _ in pyogrio.list_layers(path)}


def _shapefile_mapping(folder: Path) -> dict[str, dict[str, str]]:
    with open(folder / "fields.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    mapping: dict[str, dict[str, str]] = {}
    for row in rows:
        mapping.setdefault(row["layer"], {})[row["shapefile_field"]] = row["field"]
    return mapping


def read_back(path: Path, fmt: str, folder: Path, layer: str | None = None) -> dict[str, pd.DataFrame]:
    """Every layer of an export, with the original field names (Shapefile: through fields.csv;
    long text joined back from <layer>_long_text.csv). ``layer`` names the layer of a lone CSV or
    GeoParquet file, which do not hold a layer name."""
    path = Path(path)
    if path.suffix != ".zip":
        return _one(path, fmt, layer)
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        zf.extractall(folder)
    ext = formats.FORMATS[fmt].extension
    layers: dict[str, pd.DataFrame] = {}
    for item in sorted(folder.glob(f"*{ext}")):
        layers.update(_one(item, fmt))
    if fmt == "shp":
        mapping = _shapefile_mapping(folder)
        for name, frame in layers.items():
            frame = frame.rename(columns=mapping[name])
            long_file = folder / f"{name}_long_text.csv"
            if long_file.exists():
                with open(long_file, encoding="utf-8-sig", newline="") as fh:
                    for row in csv.DictReader(fh):
                        assert frame.loc[frame["id"] == row["id"], row["field"]].iloc[0] in row["value"]
                        frame.loc[frame["id"] == row["id"], row["field"]] = row["value"]
            layers[name] = frame
    return layers


def normalise(value, kind: str, empty_is_null: bool = False):
    """A value as comparable across formats: JSON decoded, numbers as float, nulls as None (and
    empty text too where the format cannot tell them apart)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if value == "" and (empty_is_null or kind != "str"):
        return None
    if kind == "json":
        return json.loads(value) if isinstance(value, str) else value
    if kind in ("int", "int64", "float"):
        return float(value)
    return str(value)


def aligned(got, expected):
    """Both geometries in normal form, 2D, ``got`` made Multi* like ``expected`` (a one-part Multi*
    may be read back as its part; Shapefile also fixes ring orientation)."""
    got = shapely.force_2d(got)
    if expected.geom_type.startswith("Multi") and not got.geom_type.startswith("Multi"):
        got = {"Point": shapely.MultiPoint, "LineString": shapely.MultiLineString,
               "Polygon": shapely.MultiPolygon}[got.geom_type]([got])
    return shapely.normalize(got), shapely.normalize(expected)


def same_geometry(got, expected, tolerance: float) -> bool:
    """Equal vertices within ``tolerance``, in normal form (see ``aligned``)."""
    return bool(shapely.equals_exact(*aligned(got, expected), tolerance=tolerance))


def assert_same_attributes(got: pd.DataFrame, source: pd.DataFrame, columns, *, lossy_empty: bool = False):
    """Every source column present with the same values (by id). ``lossy_empty``: the format cannot
    tell an empty string from a null (Shapefile, KML, CSV, XLSX), so they are compared alike."""
    assert len(got) == len(source)
    got = got.set_index("id")
    for _, row in source.iterrows():
        back = got.loc[row["id"]]
        for col in columns:
            if col.name == "id":
                continue
            want = normalise(row[col.name], col.kind, lossy_empty)
            have = normalise(back[col.name], col.kind, lossy_empty)
            if isinstance(want, float) and have is not None:
                assert have == pytest.approx(want, rel=1e-12, abs=1e-12), (row["id"], col.name)
            else:
                assert have == want, (row["id"], col.name, have, want)


# -- small layers written by hand ----------------------------------------------------------------
COLUMNS = (Column("id", "str", "编号", "ID"), Column("name_zh", "str", "名称", "Name (Chinese)"),
           Column("description_zh", "str", "说明", "Description"), Column("functional_area", "str", "功能区", "Area"),
           Column("year", "int", "年份", "Year"), Column("area_m2", "float", "面积", "Area (m²)"),
           Column("figures", "json", "数据", "Figures"))
LONG = "刘公岛国家森林公园" * 40  # 1080 bytes of UTF-8: more than a dBase field holds
BIG_POLYGON = shapely.Polygon([(122.0 + 0.05 * math.cos(t), 37.5 + 0.05 * math.sin(t))
                               for t in np.linspace(0, 2 * math.pi, 2500)[:-1]])


def _frame(rows):
    return pd.DataFrame(rows, columns=[c.name for c in COLUMNS])


def parks_chunks():
    """Two chunks of points; names in Chinese, a name that looks like a spreadsheet formula, nulls."""
    first = _frame([["p-1", "华夏城", "威海华夏城景区", "高区", 2018, 1234.5, json.dumps([{"text": "3767亩"}], ensure_ascii=False)],
                    ["p-2", "=1+1", LONG, None, None, None, "[]"]])
    second = _frame([["p-3", "刘公岛", "", "经区", 2021, 0.1, "[]"]])
    return [Chunk(first, np.array([shapely.Point(122.0631, 37.4437), shapely.Point(122.12, 37.5)], dtype=object)),
            Chunk(second, np.array([shapely.Point(122.18, 37.50)], dtype=object))]


def zones_chunks():
    frame = _frame([["z-1", "里口山片区", "示范片区", None, 2020, 9.9e5, "[]"]])
    return [Chunk(frame, np.array([shapely.MultiPolygon([BIG_POLYGON])], dtype=object))]


PARKS = LayerSchema("parks", "Point", COLUMNS, "公园与景区", "Parks", key="id", label="name_zh")
ZONES = LayerSchema("zones", "MultiPolygon", COLUMNS, "试点示范片区", "Zones", key="id", label="name_zh")


def source(chunks) -> tuple[pd.DataFrame, list]:
    return pd.concat([c.frame for c in chunks], ignore_index=True), [g for c in chunks for g in c.geometry]


def about(crs="EPSG:4326"):
    return About(crs_targets.target(crs), "district=371002", "2026-01-01T00:00:00Z")


# -- the registry --------------------------------------------------------------------------------
def test_registry_has_every_format_of_the_issue():
    assert set(formats.FORMATS) == {"geojson", "gpkg", "shp", "kml", "csv", "xlsx", "fgb", "parquet"}
    for fmt in formats.FORMATS.values():
        assert fmt.extension.startswith(".") and "/" in fmt.media_type and fmt.writer
        assert formats.get(fmt.name) is fmt
        assert formats.get(fmt.name.upper()) is fmt
    assert formats.get("GeoPackage").name == "gpkg" and formats.get("shapefile").name == "shp"
    assert formats.FORMATS["gpkg"].multi_layer and formats.FORMATS["xlsx"].multi_layer
    assert formats.FORMATS["shp"].zipped and not formats.FORMATS["geojson"].multi_layer


def test_unknown_format_lists_the_accepted_ones():
    with pytest.raises(InvalidParameter) as err:
        formats.get("dwg")
    assert err.value.parameter == "format" and err.value.status == 400
    for name in formats.FORMATS:
        assert name in err.value.detail


@pytest.mark.parametrize("given,canonical", [
    (None, "EPSG:4326"), ("", "EPSG:4326"), ("EPSG:4550", "EPSG:4550"), ("epsg:4529", "EPSG:4529"),
    ("4490", "EPSG:4490"), ("EPSG3857", "EPSG:3857"), ("gcj02", "GCJ-02"), ("GCJ-02", "GCJ-02"), ("WGS84", "EPSG:4326"),
])
def test_coordinate_systems(given, canonical):
    assert crs_targets.target(given).name == canonical


def test_gcj02_is_declared_as_wgs84_but_named_gcj02():
    t = crs_targets.target("GCJ-02")
    assert t.file_crs == "EPSG:4326" and t.label == "GCJ-02" and not t.is_epsg
    assert "not an EPSG code" in t.note() and "不是 EPSG" in t.note()


@pytest.mark.parametrize("bad", ["EPSG:2000", "GCJ", "BD-09", "abc"])
def test_unknown_crs_lists_the_accepted_ones(bad):
    with pytest.raises(InvalidParameter) as err:
        crs_targets.target(bad)
    assert err.value.parameter == "crs" and err.value.status == 400
    for name in ("EPSG:4326", "EPSG:4490", "EPSG:4550", "EPSG:4529", "EPSG:3857", "GCJ-02"):
        assert name in err.value.detail


@pytest.mark.parametrize("crs", ["EPSG:4550", "EPSG:4529", "EPSG:3857"])
def test_kml_refuses_projected_systems_and_says_what_to_use(crs):
    with pytest.raises(InvalidParameter) as err:
        formats.get("kml").target(crs)
    assert "EPSG:4326" in err.value.detail and "gpkg" in err.value.detail


def test_from_filename():
    assert formats.from_filename("out.gpkg").name == "gpkg"
    assert formats.from_filename("roads.shp.zip").name == "shp"
    assert formats.from_filename("a.GEOJSON").name == "geojson"
    assert formats.from_filename("roads.fgb.zip").name == "fgb"
    assert formats.from_filename("notes.txt") is None


def test_describe_for_the_panel_is_json():
    body = json.loads(json.dumps(formats.describe(), ensure_ascii=False))
    assert [f["id"] for f in body["formats"]] == list(formats.FORMATS)
    kml = next(f for f in body["formats"] if f["id"] == "kml")
    assert kml["crs"] == ["EPSG:4326", "EPSG:4490", "GCJ-02"]
    assert body["default_crs"] == "EPSG:4326"


def test_dbf_names_are_short_unique_and_readable():
    names = ["id", "name_zh", "functional_area", "description_zh", "description_en", "accuracy_note_zh",
             "accuracy_note_en", "length_km", "very_long_field_one", "very_long_field_two", "建设年份统计数据"]
    short = dbf_names(names)
    assert short["id"] == "id" and short["name_zh"] == "name_zh" and short["length_km"] == "length_km"
    assert short["functional_area"] == "func_area" and short["description_zh"] == "desc_zh"
    assert short["accuracy_note_zh"] == "acc_nt_zh"
    assert all(len(s.encode("utf-8")) <= 10 for s in short.values())
    assert len({s.lower() for s in short.values()}) == len(names)
    assert short["建设年份统计数据"] == "建设年"  # 9 bytes: never half a character
    assert dbf_names(names) == short  # deterministic


# -- writers: round trips through independent readers --------------------------------------------
@pytest.mark.parametrize("fmt", ALL)
def test_writer_round_trip_two_layers(fmt, tmp_path):
    layers = [(PARKS, parks_chunks()), (ZONES, zones_chunks())]
    written = write(formats.get(fmt), about(), iter(layers), tmp_path, "export", several=True)
    assert written.counts == {"parks": 3, "zones": 1}
    back = read_back(written.path, fmt, tmp_path / "unzipped")
    assert set(back) == {"parks", "zones"}
    lossy = fmt in LOSSY_EMPTY
    for schema, chunks in layers:
        frame, geoms = source(chunks)
        got = back[schema.name]
        assert_same_attributes(got, frame, schema.columns, lossy_empty=lossy)
        by_id = dict(zip(got["id"], got.geometry if isinstance(got, gpd.GeoDataFrame) else got["geometry"]))
        for fid, geom in zip(frame["id"], geoms):
            assert same_geometry(by_id[fid], geom, 1e-9), (fmt, fid)


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "fgb", "kml", "xlsx", "csv", "parquet", "shp"])
def test_empty_layer_is_written_with_its_fields(fmt, tmp_path):
    written = write(formats.get(fmt), about(), iter([(PARKS, [])]), tmp_path, "empty", several=False)
    assert written.counts == {"parks": 0}
    back = read_back(written.path, fmt, tmp_path / "unzipped", "parks")
    assert len(back["parks"]) == 0


def test_shapefile_zip_has_cpg_prj_mapping_readme_and_long_text(tmp_path):
    written = write(formats.get("shp"), about("EPSG:4550"), iter([(PARKS, parks_chunks())]), tmp_path, "x", several=False)
    assert written.path.name == "x.shp.zip"
    with zipfile.ZipFile(written.path) as zf:
        names = set(zf.namelist())
        assert {"parks.shp", "parks.shx", "parks.dbf", "parks.prj", "parks.cpg", "fields.csv", "README.txt",
                "parks_long_text.csv"} <= names
        assert zf.read("parks.cpg").decode().strip() == "UTF-8"
        assert '"Central_Meridian",123.0' in zf.read("parks.prj").decode()
        readme = zf.read("README.txt").decode("utf-8")
        assert "desc_zh = description_zh" in readme and "fields.csv" in readme and "EPSG:4550" in readme
        mapping = list(csv.DictReader(io.StringIO(zf.read("fields.csv").decode("utf-8-sig"))))
        assert {"layer": "parks", "shapefile_field": "func_area", "field": "functional_area", "title_zh": "功能区",
                "title_en": "Area", "type": "str"} in mapping
    assert pyogrio.read_info(written.path, layer="parks")["crs"] == "EPSG:4550"  # GDAL identifies the .prj
    dbf = pyogrio.read_dataframe(written.path, layer="parks")  # GDAL reads .shp.zip directly
    assert {len(n) for n in dbf.columns} <= set(range(1, 11))
    cut = dbf.loc[dbf["id"] == "p-2", "desc_zh"].iloc[0]
    assert LONG.startswith(cut) and 250 <= len(cut.encode("utf-8")) <= 254  # cut at a character


def test_csv_has_a_bom_and_wkt_first(tmp_path):
    written = write(formats.get("csv"), about(), iter([(PARKS, parks_chunks())]), tmp_path, "x", several=False)
    raw = written.path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:3] == ["WKT", "id", "name_zh"] and rows[1][2] == "华夏城"
    assert rows[1][0] == "POINT (122.0631 37.4437)"


def test_xlsx_sheets_text_cells_long_wkt_and_field_titles(tmp_path):
    written = write(formats.get("xlsx"), about("GCJ-02"), iter([(PARKS, parks_chunks()), (ZONES, zones_chunks())]),
                    tmp_path, "x", several=True)
    assert written.path.name == "x.xlsx"
    book = openpyxl.load_workbook(written.path)  # full mode: checks cell types too
    assert book.sheetnames == ["parks", "zones", "字段 fields", "说明 README"]
    formula_like = book["parks"]["B3"]
    assert formula_like.value == "=1+1" and formula_like.data_type == "s"
    zone_row = [c.value for c in book["zones"][2]]
    assert len(shapely.to_wkt(BIG_POLYGON, rounding_precision=-1)) > 32_767  # needs continuation cells
    assert all(len(v) <= 32_767 for v in zone_row if isinstance(v, str))
    fields = [[c.value for c in row] for row in book["字段 fields"].iter_rows()]
    assert ["parks", "name_zh", "名称", "Name (Chinese)", "str"] in fields
    readme = "\n".join(str(r[0].value) for r in book["说明 README"].iter_rows())
    assert "GCJ-02" in readme and "not an EPSG code" in readme
    # GDAL's XLSX reader agrees on the sheets and the Chinese text
    gdal = pyogrio.read_dataframe(written.path, layer="parks", read_geometry=False)
    assert list(gdal["name_zh"]) == ["华夏城", "=1+1", "刘公岛"]


def test_xlsx_refuses_a_cell_excel_cannot_hold(tmp_path):
    frame = _frame([["p-9", "长" * 40_000, "", None, None, None, "[]"]])
    chunk = Chunk(frame, np.array([shapely.Point(122, 37.5)], dtype=object))
    with pytest.raises(InvalidParameter, match="p-9.*csv or gpkg"):
        write(formats.get("xlsx"), about(), iter([(PARKS, [chunk])]), tmp_path, "x", several=False)


@pytest.mark.parametrize("fmt", ALL)
def test_gcj02_is_said_in_the_metadata(fmt, tmp_path):
    written = write(formats.get(fmt), about("GCJ-02"), iter([(PARKS, parks_chunks())]), tmp_path, "x", several=False)
    path = written.path
    if fmt in ("geojson", "gpkg", "fgb"):
        text = pyogrio.read_info(path)["layer_metadata"]["DESCRIPTION"]
    elif fmt == "kml":
        text = path.read_text(encoding="utf-8")
    elif fmt == "parquet":
        meta = pq.read_schema(path).metadata
        text = meta[b"description"].decode()
        assert json.loads(meta[b"geo"])["columns"]["geometry"]["crs"]["id"] == {"authority": "EPSG", "code": 4326}
    elif fmt == "xlsx":
        text = "\n".join(str(r[0]) for r in openpyxl.load_workbook(path, read_only=True)["说明 README"].iter_rows(values_only=True))
    elif fmt == "shp":
        text = zipfile.ZipFile(path).read("README.txt").decode()
    else:  # csv: a bare table; the download name says GCJ-02 (tests/layers/test_export.py)
        return
    assert "GCJ-02" in text and "not an EPSG code" in text


class Boom(RuntimeError):
    pass


def failing_chunks():
    yield parks_chunks()[0]
    raise Boom("the store went away")


def _openpyxl_temporary_files():
    return set(Path(tempfile.gettempdir()).glob("openpyxl.*"))


@pytest.mark.parametrize("fmt", ALL)
def test_an_error_of_the_source_surfaces_as_itself(fmt, tmp_path):
    """GDAL consumes the chunks through an Arrow stream; the error that stopped them is not
    replaced by a generic stream error, and the writer lets go of its files (openpyxl's own
    temporary files included)."""
    before = _openpyxl_temporary_files()
    with pytest.raises(Boom):
        write(formats.get(fmt), about(), iter([(PARKS, failing_chunks())]), tmp_path, "x", several=False)
    assert _openpyxl_temporary_files() == before


def test_kml_is_well_formed_xml_with_a_document_a_layer(tmp_path):
    import xml.etree.ElementTree as ET

    written = write(formats.get("kml"), about("GCJ-02"), iter([(PARKS, parks_chunks()), (ZONES, zones_chunks())]),
                    tmp_path, "x", several=True)
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    root = ET.parse(written.path).getroot()  # Python's own XML parser, not GDAL's
    docs = root.findall("k:Document/k:Document", ns)
    assert [d.get("id") for d in docs] == ["parks", "zones"]
    marks = docs[0].findall("k:Placemark", ns)
    assert [m.get("id") for m in marks] == ["p-1", "p-2", "p-3"]
    assert marks[0].find("k:name", ns).text == "华夏城"
    assert marks[0].find("k:Point/k:coordinates", ns).text == "122.0631,37.4437"
    assert "GCJ-02" in root.find("k:Document/k:description", ns).text


@pytest.mark.parametrize("fmt", ["kml", "xlsx"])
def test_control_characters_that_xml_cannot_hold_are_refused(fmt, tmp_path):
    frame = _frame([["p-7", "铃\x07声", "", None, None, None, "[]"]])
    chunk = Chunk(frame, np.array([shapely.Point(122, 37.5)], dtype=object))
    with pytest.raises(InvalidParameter, match="p-7.*control character.*(csv|gpkg)"):
        write(formats.get(fmt), about(), iter([(PARKS, [chunk])]), tmp_path, "x", several=False)
