"""The encoding inspector on Shapefiles that the tests write with GDAL (pyogrio) in UTF-8 and in
GBK, with and without the .cpg GDAL writes, and on CSV bytes. Every guess is checked by reading the
file again with GDAL in the chosen encoding."""
from __future__ import annotations

import geopandas as gpd
import pyogrio
import pytest
import shapely

from geo.errors import EncodingError
from geo.inspect import detect_dbf, detect_text, normalise_encoding, read_header
from geo.inspect.encoding import GB18030, GBK, UTF8

NAMES = ["环翠楼公园", "威海国际海水浴场", "刘公岛", "华夏城", "里口山风景区", "幸福门", "金线顶公园"]
KINDS = ["公园", "浴场", "海岛", "景区", "风景区", "地标", "公园"]


def _write(folder, encoding: str, *, cpg: bool = True, names=NAMES, kinds=KINDS, stem="景点"):
    frame = gpd.GeoDataFrame({"名称": names, "类别": kinds[:len(names)], "编号": range(len(names))},
                             geometry=[shapely.Point(122.1 + i / 100, 37.5) for i in range(len(names))],
                             crs="EPSG:4326")
    path = folder / f"{stem}.shp"
    pyogrio.write_dataframe(frame, path, encoding=encoding)
    if not cpg:
        (folder / f"{stem}.cpg").unlink()
    return path.with_suffix(".dbf")


def _family(label):
    return GB18030 if label in (GBK, GB18030) else label


@pytest.mark.parametrize("cpg", [True, False], ids=["with-cpg", "without-cpg"])
@pytest.mark.parametrize("encoding", ["UTF-8", "GBK"])
def test_detects_the_encoding_gdal_wrote(tmp_path, encoding, cpg):
    dbf = _write(tmp_path, encoding, cpg=cpg)
    assert (tmp_path / "景点.cpg").exists() == cpg
    guess = detect_dbf(dbf)
    assert _family(guess.encoding) == _family(normalise_encoding(encoding))
    assert guess.evidence.cpg_encoding == (normalise_encoding(encoding) if cpg else None)
    chosen = guess.previews[0]
    assert chosen.encoding == guess.encoding and chosen.fields[:2] == ("名称", "类别")
    assert [row[0] for row in chosen.rows] == NAMES[:5]  # five preview rows by default
    assert len(guess.candidates) >= 2 and len(guess.previews) == len(guess.candidates)
    other = guess.previews[1]  # the runner-up shows what a wrong choice looks like
    assert [row[0] for row in other.rows] != NAMES[:5]
    back = pyogrio.read_dataframe(dbf.with_suffix(".shp"), encoding=guess.codec)
    assert list(back["名称"]) == NAMES


def test_gdal_alone_mangles_gbk_without_cpg(tmp_path):
    """Why the inspector exists: GDAL reads a .dbf without .cpg as ISO-8859-1 and says nothing."""
    dbf = _write(tmp_path, "GBK", cpg=False)
    frame = pyogrio.read_dataframe(dbf.with_suffix(".shp"))
    values = {str(v) for column in frame.columns if column != "geometry" for v in frame[column]}
    assert not values & set(NAMES)
    assert detect_dbf(dbf).encoding == GB18030


def test_the_language_driver_byte_is_read(tmp_path):
    dbf = _write(tmp_path, "GBK", cpg=False)
    data = bytearray(dbf.read_bytes())
    data[29] = 0x4D  # GB2312 / CP936
    dbf.write_bytes(bytes(data))
    assert read_header(dbf).ldid == 0x4D
    guess = detect_dbf(dbf)
    assert guess.evidence.ldid_encoding == GBK and guess.encoding == GBK


def test_ansi_language_driver_says_nothing(tmp_path):
    dbf = _write(tmp_path, "GBK", cpg=False)
    data = bytearray(dbf.read_bytes())
    data[29] = 0x57
    dbf.write_bytes(bytes(data))
    guess = detect_dbf(dbf)
    assert guess.evidence.ldid_encoding is None and "ANSI" in guess.evidence.ldid_note
    assert guess.encoding == GB18030


def test_a_wrong_cpg_is_overruled_and_said(tmp_path):
    dbf = _write(tmp_path, "GBK")
    (tmp_path / "景点.cpg").write_text("UTF-8")
    guess = detect_dbf(dbf)
    assert _family(guess.encoding) == GB18030
    assert "the .cpg says 'UTF-8'" in guess.reason_en and "声明的 'UTF-8' 与内容不符" in guess.reason_zh


def test_utf8_text_with_a_gbk_cpg_is_a_tie_or_utf8(tmp_path):
    dbf = _write(tmp_path, "UTF-8")
    (tmp_path / "景点.cpg").write_text("936")
    guess = detect_dbf(dbf)
    assert guess.encoding == UTF8
    assert guess.evidence.cpg_encoding == GBK


def test_a_real_tie_goes_to_charset_normalizer(tmp_path):
    """These names' UTF-8 bytes are valid GBK too (as mojibake), and the .cpg says GBK: a tie."""
    names = ["威海", "高区", "经区", "道路", "河流", "绿地", "商业用地"]
    dbf = _write(tmp_path, "UTF-8", names=names, kinds=["道路", "河流", "绿地", "居住用地", "商业用地", "工业用地", "高区"])
    (tmp_path / "景点.cpg").write_text("GBK")
    guess = detect_dbf(dbf)
    assert {s.encoding: s.ok for s in guess.evidence.strict}[GBK]
    assert guess.encoding == UTF8 and "charset-normalizer" in guess.evidence.tie_break
    assert guess.candidates == (UTF8, GBK) and [r[0] for r in guess.previews[0].rows] == names[:5]


@pytest.mark.parametrize("text,label", [("UTF-8", UTF8), ("utf8", UTF8), ("65001", UTF8), ("CP936", GBK),
                                        ("936", GBK), ("ANSI 936", GBK), ("gb2312", GBK), ("GB18030", GB18030),
                                        ("ISO-8859-1", "ISO-8859-1"), ("1252", "CP1252"), ("klingon", None)])
def test_cpg_spellings(text, label):
    assert normalise_encoding(text) == label


def test_mixed_encodings_are_reported_not_guessed(tmp_path):
    dbf = _write(tmp_path, "UTF-8", cpg=False, names=["环翠楼", "威海公园", "刘公岛", "华夏城"])
    header = read_header(dbf)
    name_field = next(f for f in header.fields if f.raw_name == "名称".encode())
    data = bytearray(dbf.read_bytes())
    for row in (2, 3):  # rows 2 and 3 rewritten in GBK
        start = header.header_length + row * header.record_length + name_field.offset
        value = NAMES[row].encode("gbk").ljust(name_field.length, b" ")
        data[start:start + name_field.length] = value
    dbf.write_bytes(bytes(data))
    guess = detect_dbf(dbf)
    assert guess.encoding is None and "mixes encodings" in guess.reason_en
    assert "row 2" in guess.reason_en
    with pytest.raises(EncodingError) as err:
        guess.require("景点.shp")
    assert err.value.status == 422 and "景点.shp" in err.value.detail and "encoding=" in err.value.detail


def test_ascii_only():
    guess = detect_text(b"name,x,y\nHuancui,122.1,37.5\n")
    assert guess.encoding == UTF8 and guess.evidence.ascii_only and "ASCII" in guess.reason_en


CSV = "名称,经度,纬度\n" + "".join(f"{n},{122.1 + i / 100},37.5\n" for i, n in enumerate(NAMES))


@pytest.mark.parametrize("encoding,expected", [("utf-8", UTF8), ("gbk", GB18030), ("gb18030", GB18030)])
def test_csv_text(encoding, expected):
    guess = detect_text(CSV.encode(encoding))
    assert guess.encoding == expected
    first = guess.previews[0]
    assert first.fields == ("名称,经度,纬度",) and first.rows[0] == ("环翠楼公园,122.1,37.5",)


def test_csv_with_bom_and_declared():
    assert detect_text(b"\xef\xbb\xbf" + CSV.encode()).encoding == UTF8
    guess = detect_text(CSV.encode("gbk"), declared="cp936")
    assert guess.encoding == GBK and guess.evidence.cpg_encoding == GBK


def test_result_is_json_ready(tmp_path):
    import json
    guess = detect_dbf(_write(tmp_path, "GBK", cpg=False))
    body = json.loads(json.dumps(guess.to_dict(), ensure_ascii=False))
    assert body["encoding"] == GB18030 and body["previews"][0]["rows"][0][0] == NAMES[0]


def test_a_broken_or_cut_dbf(tmp_path):
    from geo.errors import InvalidParameter
    bad = tmp_path / "坏.dbf"
    bad.write_bytes(b"\x03abc")
    with pytest.raises(InvalidParameter) as err:
        detect_dbf(bad)
    assert "坏.dbf" in err.value.detail and "export the layer again" in err.value.detail
    dbf = _write(tmp_path, "GBK", cpg=False)
    header = read_header(dbf)
    dbf.write_bytes(dbf.read_bytes()[:header.header_length + 3 * header.record_length + 7])  # cut in row 4
    guess = detect_dbf(dbf)
    assert guess.encoding == GB18030 and guess.evidence.rows_checked == 3
