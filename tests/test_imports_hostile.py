"""The hostile corpus of issue 10 ("Bad and hostile files get a clear message and change nothing"),
each case a file generated here and uploaded through POST /api/imports (and committed where the
refusal can only come at commit) by an admin: the right 4xx, a message naming the file and saying
what to do, the store byte-identical afterwards (SHA-256 of the GeoPackage and its -wal, and the
revision head), and nothing left in the uploads folder when the upload is refused. Also: Chinese
and emoji field names import, and formula cells stay text through import and CSV/XLSX export."""
from __future__ import annotations

import csv
import hashlib
import io
import os
import stat
import zipfile

import geopandas as gpd
import openpyxl
import pyogrio
import pytest
import shapely

from tests.auth_helpers import add_users, csrf, login, make_app
from tests.layers.test_imports import gbk_shapefile_zip
from tests.test_imports_api import _upload

LON, LAT = 122.05, 37.50  # Huancui


def _make(built_store, tmp_path, **config):
    app = make_app(built_store, tmp_path / "atlas", **config)
    add_users(app)
    client = app.test_client()
    assert login(client, "admin").status_code == 200
    return app, client, {"X-CSRFToken": csrf(client)}


@pytest.fixture()
def admin(built_store, tmp_path):
    return _make(built_store, tmp_path)


def _digest(app) -> dict:
    store = app.extensions["atlas_store"]
    path = store.path
    files = {}
    for suffix in ("", "-wal"):
        p = path.parent / (path.name + suffix)
        # a -wal not yet made is as an empty one (opening the store for reading makes it empty)
        files[suffix or "gpkg"] = hashlib.sha256(p.read_bytes() if p.exists() else b"").hexdigest()
    return {"files": files, "head": store.history(limit=1)[0].id, "layers": sorted(store.layers())}


def _kept(app) -> list[str]:
    """The uploads kept (their folders; the lock file that serialises task starts is not one)."""
    return sorted(p.name for p in app.extensions["atlas_uploads"].folder.iterdir() if not p.name.startswith("."))


def _refused_at_upload(app, client, headers, data: bytes, name: str, status: int, *words: str,
                       names: str | None = None) -> str:
    """``names``: the file the message names when not the upload (a zip's member at fault)."""
    before = _digest(app)
    answer = _upload(client, headers, data, name)
    body = answer.get_json()
    assert answer.status_code == status, body
    detail = body["detail"]
    assert (names or name) in detail, detail
    for word in words:
        assert word.lower() in detail.lower(), (word, detail)
    assert _digest(app) == before and _kept(app) == []
    return detail


def _zip(members: dict, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in members.items():
            if isinstance(data, zipfile.ZipInfo):
                zf.writestr(data, data.comment or b"")
            else:
                zf.writestr(name, data)
    return buffer.getvalue()


def _points_gpkg(tmp_path, n: int, name="points.gpkg", **columns) -> bytes:
    frame = gpd.GeoDataFrame({"code": [f"C{i}" for i in range(n)], **columns},
                             geometry=[shapely.Point(LON + i * 1e-4, LAT) for i in range(n)], crs="EPSG:4326")
    path = tmp_path / "src" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pyogrio.write_dataframe(frame, path, layer="points")
    return path.read_bytes()


# -- archives ----------------------------------------------------------------------------------
def test_zip_slip(admin):
    app, client, h = admin
    _refused_at_upload(app, client, h, _zip({"../x.shp": b"x" * 100}), "slip.zip", 400, "leaves", "zip the files again")


def test_absolute_path_member(admin):
    app, client, h = admin
    _refused_at_upload(app, client, h, _zip({"/etc/x.shp": b"x" * 100}), "absolute.zip", 400, "absolute",
                       "relative paths")


def test_zip_bomb_by_ratio(admin):
    app, client, h = admin
    _refused_at_upload(app, client, h, _zip({"bomb.shp": b"\0" * (20 << 20)}), "bomb.zip", 413, "zip bomb",
                       "upload the real files")


def test_zip_bomb_by_total_size(built_store, tmp_path):
    app, client, h = _make(built_store, tmp_path, IMPORT_MAX_MB=1)
    # each member under the ratio's floor, together past the 1 MB limit
    members = {f"part{i}.shp": b"\0" * (900 << 10) for i in range(3)}
    _refused_at_upload(app, client, h, _zip(members), "total.zip", 413, "unpack to more than", "smaller extract")


def test_nested_zip(admin, tmp_path):
    app, client, h = admin
    inner = gbk_shapefile_zip(tmp_path / "src").read_bytes()
    _refused_at_upload(app, client, h, _zip({"inner.zip": inner}), "nested.zip", 400, "archive inside the archive",
                       "unpack it")
    # a nested archive named otherwise is found by its first bytes
    _refused_at_upload(app, client, h, _zip({"inner.dat": inner}), "nested2.zip", 400, "archive inside")


def test_symlink_member(admin):
    app, client, h = admin
    link = zipfile.ZipInfo("parcels.dbf")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    link.comment = b""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(link, "/etc/passwd")
    _refused_at_upload(app, client, h, buffer.getvalue(), "link.zip", 400, "symbolic link", "real files")


# -- XML ---------------------------------------------------------------------------------------
KML = """<?xml version="1.0" encoding="UTF-8"?>
{doctype}<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>{name}</name>
<Point><coordinates>122.05,37.5</coordinates></Point></Placemark></Document></kml>"""


def test_kml_external_entity(admin):
    app, client, h = admin
    data = KML.format(doctype='<!DOCTYPE kml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n', name="&xxe;")
    detail = _refused_at_upload(app, client, h, data.encode(), "xxe.kml", 422, "entit", "export the kml again")
    assert "root:" not in detail


def test_kml_billion_laughs(admin):
    app, client, h = admin
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10))
    data = KML.format(doctype=f"<!DOCTYPE kml [{entities}]>\n", name="&lol9;")
    _refused_at_upload(app, client, h, data.encode(), "laughs.kml", 422, "entit", "export the kml again")


# -- truncated and corrupt ---------------------------------------------------------------------
def test_truncated_shp(admin, tmp_path):
    app, client, h = admin
    archive = gbk_shapefile_zip(tmp_path / "src")
    shp = tmp_path / "src" / "parcels.shp"
    data = shp.read_bytes()
    members = {p.name: p.read_bytes() for p in sorted((tmp_path / "src").glob("parcels.*")) if p.suffix != ".zip"}
    members["parcels.shp"] = data[: len(data) // 2]
    assert archive.exists()
    _refused_at_upload(app, client, h, _zip(members), "truncated.zip", 422, "cut short", "upload it again",
                       names="parcels.shp")


def test_corrupt_geopackage(admin):
    app, client, h = admin
    _refused_at_upload(app, client, h, os.urandom(64 << 10), "corrupt.gpkg", 422, "again")


def test_shp_without_dbf(admin, tmp_path):
    app, client, h = admin
    data = gbk_shapefile_zip(tmp_path / "src", dbf=False).read_bytes()
    _refused_at_upload(app, client, h, data, "nodbf.zip", 422, "without parcels.dbf", "upload them together",
                       names="parcels.shp")


# -- counts ------------------------------------------------------------------------------------
def test_zero_features(admin, tmp_path):
    app, client, h = admin
    data = _points_gpkg(tmp_path, 0, "empty.gpkg")
    _refused_at_upload(app, client, h, data, "empty.gpkg", 422, "no features", "export the layer again")


def test_too_many_features(built_store, tmp_path):
    app, client, h = _make(built_store, tmp_path, IMPORT_MAX_FEATURES=5)
    data = _points_gpkg(tmp_path, 6, "many.gpkg")
    _refused_at_upload(app, client, h, data, "many.gpkg", 413, "ATLAS_IMPORT_MAX_FEATURES", "split")


# -- at commit ---------------------------------------------------------------------------------
def _uploaded(client, h, data: bytes, name: str) -> str:
    answer = _upload(client, h, data, name)
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["id"]


def test_duplicate_keys_on_upsert(admin, tmp_path):
    app, client, h = admin
    first = _uploaded(client, h, _points_gpkg(tmp_path, 3, "points.gpkg"), "points.gpkg")
    made = client.post(f"/api/imports/{first}/commit", json={"layer": "points", "key": "code"}, headers=h)
    assert made.status_code == 200, made.get_json()
    frame = gpd.GeoDataFrame({"code": ["C0", "C0", "C1"]},
                             geometry=[shapely.Point(LON, LAT + i * 1e-4) for i in range(3)], crs="EPSG:4326")
    path = tmp_path / "dup" / "dupes.gpkg"
    path.parent.mkdir()
    pyogrio.write_dataframe(frame, path, layer="points")
    second = _uploaded(client, h, path.read_bytes(), "dupes.gpkg")
    before = _digest(app)
    for dry in (True, False):
        answer = client.post(f"/api/imports/{second}/commit",
                             json={"layer": "points", "mode": "upsert", "key": "code", "dry_run": dry}, headers=h)
        body = answer.get_json()
        assert answer.status_code == 409, body
        assert all(w in body["detail"] for w in ("dupes.gpkg", "'C0'", "twice", "unique")), body
        assert _digest(app) == before


# -- names and formulas ------------------------------------------------------------------------
def test_chinese_and_emoji_field_names_import(admin, tmp_path):
    _app, client, h = admin
    data = _points_gpkg(tmp_path, 2, "names.gpkg", **{"名称": ["甲", "乙"], "🌳绿地": ["是", "否"]})
    answer = _upload(client, h, data, "names.gpkg")
    assert answer.status_code == 201, answer.get_json()
    # what the code does: the names are read whole and shown with the store's (ASCII) names they map to
    mapped = {f["name"]: f["store"] for f in answer.get_json()["inspection"]["fields"]}
    assert mapped == {"code": "code", "名称": "field", "🌳绿地": "field_2"}
    upload_id = answer.get_json()["id"]
    done = client.post(f"/api/imports/{upload_id}/commit", json={"layer": "names", "key": "code"}, headers=h)
    assert done.status_code == 200, done.get_json()
    features = {f["id"]: f["properties"] for f in client.get("/api/layers/names").get_json()["features"]}
    assert {k: (v["field"], v["field_2"]) for k, v in features.items()} == {"C0": ("甲", "是"), "C1": ("乙", "否")}


FORMULA = '=HYPERLINK("http://x","y")'


def test_formula_cells_stay_text_on_import_and_export(admin):
    _app, client, h = admin
    text = f'lon,lat,code,note\n{LON},{LAT},F1,"{FORMULA.replace(chr(34), chr(34) * 2)}"\n{LON + 0.001},{LAT},F2,+1+2\n'
    upload_id = _uploaded(client, h, text.encode(), "formulas.csv")
    done = client.post(f"/api/imports/{upload_id}/commit", json={"layer": "formulas", "key": "code"}, headers=h)
    assert done.status_code == 200, done.get_json()
    features = {f["id"]: f["properties"] for f in client.get("/api/layers/formulas").get_json()["features"]}
    assert features["F1"]["note"] == FORMULA and features["F2"]["note"] == "+1+2"
    exported = client.get("/api/export?layers=formulas&format=csv")
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    exported.close()
    assert sorted(r["note"] for r in rows) == sorted([FORMULA, "+1+2"])
    exported = client.get("/api/export?layers=formulas&format=xlsx")
    assert exported.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(exported.get_data()))
    exported.close()
    cells = [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row if c.value in (FORMULA, "+1+2")]
    assert {c.value for c in cells} == {FORMULA, "+1+2"}
    assert all(c.data_type == "s" for c in cells), [(c.value, c.data_type) for c in cells]


ODD_ZIPS = [({}, 422, "upload one of"), ({"readme.txt": b"hello"}, 422, "upload one of"),
            ({"a.geojson": b"{}", "b.geojson": b"{}"}, 400, "import them one at a time")]


@pytest.mark.parametrize("members,status,todo", ODD_ZIPS, ids=["empty", "nothing-importable", "two-data-files"])
def test_a_zip_without_one_importable_file_is_named_as_uploaded(admin, members, status, todo):
    app, client, h = admin
    detail = _refused_at_upload(app, client, h, _zip(members), "odd.zip", status, todo)
    assert "atlas-import-" not in detail  # the scratch folder it was unpacked into is not named


def test_a_formula_in_an_xlsx_upload_is_read_as_its_text_and_exported_as_text(admin):
    _app, client, h = admin
    book = openpyxl.Workbook()
    book.active.append(["lon", "lat", "code", "note"])
    book.active.append([LON, LAT, "X1", FORMULA])  # written by openpyxl as a formula cell
    buffer = io.BytesIO()
    book.save(buffer)
    upload_id = _uploaded(client, h, buffer.getvalue(), "formulas.xlsx")
    done = client.post(f"/api/imports/{upload_id}/commit", json={"layer": "sheetf", "key": "code"}, headers=h)
    assert done.status_code == 200, done.get_json()
    (feature,) = client.get("/api/layers/sheetf").get_json()["features"]
    assert feature["properties"]["note"] == FORMULA
    exported = client.get("/api/export?layers=sheetf&format=xlsx")
    assert exported.status_code == 200
    again = openpyxl.load_workbook(io.BytesIO(exported.get_data()))
    exported.close()
    cells = [c for sheet in again.worksheets for row in sheet.iter_rows() for c in row if c.value == FORMULA]
    assert cells and all(c.data_type == "s" for c in cells)
