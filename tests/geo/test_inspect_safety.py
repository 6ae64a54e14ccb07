"""Hostile uploads, each made by the test: zip slip, zip bombs, nested archives, links, encrypted and
duplicate members, too many members, and XML external entities and billion laughs in KML. Each is
refused with an UnsafeFile that names the file, the problem and what to do, and nothing is written."""
from __future__ import annotations

import gzip
import io
import os
import stat
import warnings
import zipfile

import pytest

from geo.errors import InvalidParameter, UnsafeFile
from geo.inspect import ArchiveLimits, check_xml, check_zip, extract_zip, parse_xml

LIMITS = ArchiveLimits()
SHAPEFILE = {"规划地块.shp": b"\x00\x00\x27\x0a" + b"\x00" * 96, "规划地块.dbf": b"\x03" + b" " * 64,
             "规划地块.cpg": b"UTF-8"}


def _zip(path, members: dict, *, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            if isinstance(name, zipfile.ZipInfo):
                zf.writestr(name, data)
            else:
                zf.writestr(name, data)
    return path


def _refused(tmp_path, archive, *, status=400, limits=LIMITS, words=()):
    dest = tmp_path / "out"
    with pytest.raises(UnsafeFile) as err:
        extract_zip(archive, dest, limits)
    e = err.value
    assert e.status == status and e.code == "unsafe_file"
    assert archive.name in e.detail and ";" in e.detail  # the file, the problem; what to do
    assert e.to_dict()["file"] == archive.name
    for word in words:
        assert word in e.detail
    assert not dest.exists() or not any(dest.rglob("*"))  # nothing extracted
    return e


def test_a_plain_zip_with_chinese_names_extracts(tmp_path):
    archive = _zip(tmp_path / "地块.zip", {f"数据/{k}": v for k, v in SHAPEFILE.items()})
    members = check_zip(archive, LIMITS)
    assert [m.name for m in members] == [f"数据/{k}" for k in SHAPEFILE]
    paths = extract_zip(archive, tmp_path / "out", LIMITS)
    assert [p.name for p in paths] == list(SHAPEFILE)
    assert (tmp_path / "out" / "数据" / "规划地块.cpg").read_bytes() == b"UTF-8"


class _GbkName(zipfile.ZipInfo):
    """A member named in GBK without the UTF-8 flag, as Chinese Windows zip tools write them."""

    def _encodeFilenameFlags(self):
        return self.filename.encode("cp437"), self.flag_bits & ~0x800


def test_gbk_member_names_from_windows_zips(tmp_path):
    archive = tmp_path / "windows.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(_GbkName("规划地块.dbf".encode("gbk").decode("cp437")), b"x")
    assert [m.name for m in check_zip(archive, LIMITS)] == ["规划地块.dbf"]
    assert extract_zip(archive, tmp_path / "out", LIMITS)[0].name == "规划地块.dbf"


@pytest.mark.parametrize("name", ["../逃逸.shp", "a/../../逃逸.shp", "/etc/逃逸.shp", "..\\逃逸.shp",
                                  "C:/Windows/逃逸.shp"])
def test_zip_slip(tmp_path, name):
    archive = _zip(tmp_path / "slip.zip", {name: b"x"})
    _refused(tmp_path, archive, words=("leaves the archive's folder", "relative paths"))
    assert not (tmp_path / "逃逸.shp").exists()


def test_control_characters_in_names(tmp_path):
    archive = _zip(tmp_path / "bell.zip", {"a\x07.shp": b"x"})
    _refused(tmp_path, archive, words=("control characters",))


def test_zip_bomb_by_ratio(tmp_path):
    archive = _zip(tmp_path / "bomb.zip", {"规划地块.dbf": b"\x00" * (20 << 20)})
    _refused(tmp_path, archive, status=413, words=("zip bomb", "times larger"))


def test_zip_bomb_by_total_size(tmp_path):
    archive = _zip(tmp_path / "big.zip", {"a.dbf": os.urandom(600_000), "b.dbf": os.urandom(600_000)},
                   compression=zipfile.ZIP_STORED)
    _refused(tmp_path, archive, status=413, limits=ArchiveLimits(max_total_bytes=1_000_000),
             words=("1,000,000 bytes",))


def test_a_header_that_lies_about_the_size(tmp_path):
    """A bomb that claims 1,000 bytes: no more than that is unpacked, and the damage is reported."""
    import struct
    archive = _zip(tmp_path / "liar.zip", {"规划地块.dbf": b"\x00" * (3 << 20)})
    data = bytearray(archive.read_bytes())
    for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.index(signature) + size_at
        data[at:at + 4] = struct.pack("<I", 1000)
    archive.write_bytes(bytes(data))
    assert check_zip(archive, LIMITS)[0].size == 1000
    with pytest.raises(InvalidParameter) as err:
        extract_zip(archive, tmp_path / "out", LIMITS)
    assert "liar.zip is damaged" in err.value.detail
    assert not any((tmp_path / "out").rglob("*.dbf"))


def test_too_many_members(tmp_path):
    archive = _zip(tmp_path / "many.zip", {f"{i}.txt": b"x" for i in range(11)})
    _refused(tmp_path, archive, status=413, limits=ArchiveLimits(max_members=10), words=("11 members",))


@pytest.mark.parametrize("name,data", [("内层.zip", None), ("数据.kmz", None), ("数据.bin", gzip.compress(b"x" * 100))])
def test_nested_archives(tmp_path, name, data):
    if data is None:
        inner = io.BytesIO()
        with zipfile.ZipFile(inner, "w") as zf:
            zf.writestr("规划地块.shp", b"x")
        data = inner.getvalue()
    archive = _zip(tmp_path / "nested.zip", {"规划地块.shp": b"x", name: data})
    _refused(tmp_path, archive, words=("archive inside the archive", name))


def test_symlink(tmp_path):
    link = zipfile.ZipInfo("规划地块.dbf")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = _zip(tmp_path / "link.zip", {link: b"/etc/passwd"})
    _refused(tmp_path, archive, words=("symbolic link",))


def test_encrypted_member(tmp_path):
    archive = _zip(tmp_path / "secret.zip", {"规划地块.dbf": b"x"})
    data = bytearray(archive.read_bytes())
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.index(signature) + flag_at
        data[at] |= 0x01
    archive.write_bytes(bytes(data))
    _refused(tmp_path, archive, words=("encrypted", "without a password"))


def test_duplicate_member(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns of the duplicate it writes
        archive = _zip(tmp_path / "twice.zip", {"a.dbf": b"1", zipfile.ZipInfo("a.dbf"): b"2"})
    _refused(tmp_path, archive, words=("twice",))


def test_not_a_zip(tmp_path):
    fake = tmp_path / "地块.zip"
    fake.write_bytes(b"not a zip at all")
    with pytest.raises(InvalidParameter) as err:
        check_zip(fake, LIMITS)
    assert "地块.zip" in err.value.detail and "not a readable zip" in err.value.detail


KML = """<?xml version="1.0" encoding="UTF-8"?>
{doctype}<kml xmlns="http://www.opengis.net/kml/2.2"><Document><Placemark><name>环翠楼{entity}</name>
<Point><coordinates>122.12,37.51</coordinates></Point></Placemark></Document></kml>"""
XXE = '<!DOCTYPE kml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
LAUGHS = ("<!DOCTYPE kml [<!ENTITY lol \"lol\">"
          + "".join(f"<!ENTITY lol{i} \"{('&lol%s;' % (i - 1 if i > 1 else '')) * 10}\">" for i in range(1, 10))
          + "]>\n")


def test_a_plain_kml_parses(tmp_path):
    root = parse_xml(KML.format(doctype="", entity="").encode(), name="外业.kml")
    assert root.find(".//{http://www.opengis.net/kml/2.2}name").text == "环翠楼"
    path = tmp_path / "外业.kml"
    path.write_text(KML.format(doctype="", entity=""), encoding="utf-8")
    check_xml(path)


@pytest.mark.parametrize("doctype,entity,words", [(XXE, "&xxe;", "DTD"), (LAUGHS, "&lol9;", "DTD"),
                                                  ("<!DOCTYPE kml>\n", "", "DTD")],
                         ids=["xxe", "billion-laughs", "doctype"])
def test_hostile_kml(tmp_path, doctype, entity, words):
    text = KML.format(doctype=doctype, entity=entity)
    path = tmp_path / "外业.kml"
    path.write_text(text, encoding="utf-8")
    for call in (lambda: parse_xml(text.encode(), name="外业.kml"), lambda: check_xml(path)):
        with pytest.raises(UnsafeFile) as err:
            call()
        assert err.value.status == 400 and "外业.kml" in err.value.detail and words in err.value.detail
        assert "without the DOCTYPE" in err.value.detail


def test_entities_are_named_when_dtds_pass(tmp_path):
    """Even with DTDs let through, defusedxml refuses the entity itself (the second wall)."""
    import defusedxml.ElementTree as SafeET
    import defusedxml
    with pytest.raises(defusedxml.EntitiesForbidden):
        SafeET.fromstring(KML.format(doctype=LAUGHS, entity="&lol9;").encode(), forbid_dtd=False)


def test_malformed_xml(tmp_path):
    with pytest.raises(InvalidParameter) as err:
        parse_xml(b"<kml><Document></kml>", name="坏.kml")
    assert "坏.kml" in err.value.detail and "well-formed" in err.value.detail
