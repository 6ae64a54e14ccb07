"""Issue 10, acceptance point 1: the import matrix. Every format ``geo.readers.open_source`` reads,
written here (never a third-party file) with Chinese names, in each text encoding the format can
carry, in each candidate coordinate system of ``geo.inspect.CANDIDATES``, undeclared and (where the
format can say it) declared; then ``layers.imports.inspect`` and ``commit`` (a new layer) into a
scratch copy of the small atlas's store.

Each case asserts: the encoding found (GBK/GB18030 family or UTF-8, and the .cpg read as evidence)
for the formats whose encoding is found (Shapefile, CSV); the Chinese names and categories exactly
as written; the CRS key the inspector chose equal to the one written, and what the file declares;
and every stored vertex within 1 m of the truth. The truth is the WGS84 shapes below: a file's
coordinates are those shapes moved into its system by pyproj (never by the code under test) or, for
GCJ-02 and BD-09, by geo.crs's published forward formulas, so that the import's iterative inverse is
what is measured. Distances are discrete Hausdorff distances in EPSG:4550 metres (pyproj).

The axes
--------
Formats: Shapefile zipped and as loose files in a folder, GeoPackage, GeoJSON, KML, KMZ, CSV with
经度/纬度 (or X/Y) columns, CSV with a WKT column, XLSX, DXF, FlatGeobuf, GeoParquet. Polygons, but
points where a table's columns hold them; a DXF's closed polylines and, on a second CAD layer, the
names as TEXT (a polyline has no name), both imported.

Encodings: a .dbf in UTF-8 and in GBK, each with and without its .cpg (GDAL writes language driver
byte 0, so without a .cpg only the bytes tell); CSV in UTF-8 and in GBK; DXF in GBK (R2000,
``$DWGCODEPAGE`` ANSI_936) and in UTF-8 (R2018: UTF-8 by its version, while its ``$DWGCODEPAGE``
stays ANSI_936, as Chinese AutoCAD writes it). GeoPackage, GeoJSON, KML/KMZ, XLSX, FlatGeobuf and
GeoParquet are UTF-8 by their specifications: UTF-8 only, with Chinese names.

Coordinate systems: the 18 candidates (WGS84; GK 3-degree CM 123E and CM 120E without zone prefix,
zones 41 and 40 with it; 6-degree zone 21; Web Mercator; GCJ-02; BD-09; each of those with the axes
swapped: x the northing or latitude, as Chinese surveyors' X is) and the two systems whose numbers
are a candidate's (CGCS2000 degrees: WGS84's; 6-degree CM 123E without prefix: 3-degree CM 123E's),
20 in all, each to be found as its candidate.

Which combinations
------------------
Undeclared: every format in every one of the 20 systems, crossed with each of its encodings. CAD
drawings and tables carry no CRS at all, and GeoJSON and KML, though WGS84 by their specifications
(GDAL reads both as EPSG:4326 when nothing is written), hold Gauss-Krüger metres from careless
converters and Amap's GCJ-02 degrees often enough: for them the inspector must overrule that
implicit WGS84. The second packagings (Shapefile as loose files, CSV with WKT) have their
encodings dealt round the 20 systems in turn instead (every system and every encoding met, not
every pair), as the format's first packaging already crosses them.

Declared: the formats that can carry a CRS (.prj, GeoPackage, GeoJSON's ``crs`` member, FlatGeobuf,
GeoParquet), written again with each of the 9 EPSG systems declared rightly, and with the three
declarations that are wrong in practice: WGS84 over GCJ-02 and over BD-09 (how offset exports label
themselves, the offsets having no EPSG code) and zone 41 over zone-41 numbers with the axes swapped.
The offsets and swapped axes have no right declaration, so there is none. Encodings dealt.

GCJ-02 and BD-09 shift data by 0.5-1.2 km, inside any area check: only reference features tell them
from WGS84 (geo/inspect/crs_guess.py). The reference is the store's (``imports.reference_from_store``:
Huancui's outline, the Torch Hi-tech Zone square) with the surveyed WGS84 shapes of the very features
the files hold added as known features, as a planner's parcels would be checked against the cadastre.
"""
from __future__ import annotations

import shutil
import warnings
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Transformer

from geo import crs as named
from geo import readers
from geo.inspect import CANDIDATES
from geo.store import Query, open_store
from layers import imports

NAMES = ["环翠楼公园", "威海公园", "刘公岛码头", "幸福门广场", "里口山风景区"]
KINDS = ["公园", "绿地", "码头", "广场", "景区"]
#: the features' centres, spread over Huancui (lon 122.03-122.15, lat 37.43-37.52)
CENTRES = [(122.035, 37.515), (122.062, 37.445), (122.095, 37.488), (122.121, 37.462), (122.146, 37.506)]


def _outline(lon: float, lat: float, i: int) -> shapely.Polygon:
    """An irregular pentagon of about 300 m around (lon, lat), different for each feature."""
    angles = np.deg2rad(np.array([10, 80, 150, 230, 300]) + 7 * i)
    radius = 0.0015 * (1 + 0.15 * np.array([1, -1, 0.5, -0.5, 0.8]))
    ring = np.column_stack([lon + radius * np.cos(angles) / 0.79, lat + radius * np.sin(angles)])
    return shapely.Polygon(ring)


#: the truth, WGS84
POLYGONS = [_outline(lon, lat, i) for i, (lon, lat) in enumerate(CENTRES)]
POINTS = [shapely.Point(lon, lat) for lon, lat in CENTRES]
TO_METRES = Transformer.from_crs("EPSG:4326", "EPSG:4550", always_xy=True)


@cache
def _from_wgs84(code: str) -> Transformer:
    return Transformer.from_crs("EPSG:4326", code, always_xy=True)


@dataclass(frozen=True)
class System:
    """A coordinate system a file is written in: ``code`` for pyproj (or GCJ-02/BD-09, moved by
    geo.crs's forward formulas), ``expected`` the candidate key the inspector must choose."""

    id: str
    code: str
    swapped: bool = False

    @property
    def expected(self) -> str:
        base = {"EPSG:4490": named.WGS84, "EPSG:4510": "EPSG:4550"}.get(self.code, self.code)
        return f"{base}/swapped" if self.swapped else base

    @property
    def degrees(self) -> bool:
        return self.code in (named.WGS84, named.CGCS2000, named.GCJ02, named.BD09)

    def forward(self, xy: np.ndarray) -> np.ndarray:
        """(N, 2) WGS84 lon/lat -> this system's file coordinates (x, y as the file holds them)."""
        if self.code == named.GCJ02:
            out = named.wgs84_to_gcj02_xy(xy)
        elif self.code == named.BD09:
            out = named.wgs84_to_bd09_xy(xy)
        else:
            out = np.column_stack(_from_wgs84(self.code).transform(xy[:, 0], xy[:, 1]))
        return out[:, ::-1] if self.swapped else out

    def shapes(self, geoms) -> list:
        return list(shapely.transform(np.asarray(geoms, dtype=object), self.forward))


_BASE = [("wgs84", "EPSG:4326"), ("gk3_cm123", "EPSG:4550"), ("gk3_z41", "EPSG:4529"), ("gk3_cm120", "EPSG:4549"),
         ("gk3_z40", "EPSG:4528"), ("gk6_z21", "EPSG:4499"), ("webmerc", "EPSG:3857"), ("gcj02", named.GCJ02),
         ("bd09", named.BD09)]
SYSTEMS = ([System(i, c) for i, c in _BASE] + [System("cgcs2000", "EPSG:4490"), System("gk6_cm123", "EPSG:4510")]
           + [System(f"{i}_swapped", c, True) for i, c in _BASE])
BY_ID = {s.id: s for s in SYSTEMS}


# -- writers: (folder, system, encoding, declared) -> the path given to inspect -------------------
def _frame(system: System, declared: str | None) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"名称": NAMES, "类别": KINDS}, geometry=system.shapes(POLYGONS), crs=declared)


def _gdal(frame, path: Path, **kwargs) -> Path:
    with warnings.catch_warnings():  # no CRS, no .prj / srs: what the undeclared cases want
        warnings.filterwarnings("ignore", message="'crs' was not provided")
        pyogrio.write_dataframe(frame, path, **kwargs)
    return path


def write_shapefile(folder: Path, system, encoding, declared, *, zipped: bool) -> Path:
    text, cpg = encoding.rsplit("-", 1)  # "GBK-nocpg": GBK text, GDAL's .cpg removed
    src = folder / "src"
    src.mkdir()
    shp = _gdal(_frame(system, declared), src / "规划地块.shp", encoding=text)
    if cpg == "nocpg":
        shp.with_suffix(".cpg").unlink()
    assert shp.with_suffix(".prj").exists() == (declared is not None)
    if not zipped:
        return src
    archive = folder / "规划地块.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in sorted(src.iterdir()):
            zf.write(part, part.name)
    return archive


def write_gpkg(folder, system, encoding, declared) -> Path:
    return _gdal(_frame(system, declared), folder / "规划.gpkg", driver="GPKG", layer="规划地块")


def write_fgb(folder, system, encoding, declared) -> Path:
    return _gdal(_frame(system, declared), folder / "规划.fgb", driver="FlatGeobuf")


def write_geojson(folder, system, encoding, declared) -> Path:
    return _gdal(_frame(system, declared), folder / "规划.geojson", driver="GeoJSON")


def write_parquet(folder, system, encoding, declared) -> Path:
    path = folder / "规划.parquet"
    _frame(system, declared).to_parquet(path)
    return path


def _num(value) -> str:
    """A coordinate as text, every digit kept (the shortest repr that reads back exactly)."""
    return repr(float(value))


def _kml_text(system) -> str:
    """KML as a converter that does not reproject writes it (GDAL's KML writer would clamp
    projected numbers into [-180, 180]): names in <name>, categories in untyped ExtendedData."""
    marks = []
    for name, kind, shape in zip(NAMES, KINDS, system.shapes(POLYGONS)):
        coords = " ".join(f"{_num(x)},{_num(y)}" for x, y in shapely.get_coordinates(shape.exterior))
        marks.append(f"<Placemark><name>{name}</name><ExtendedData><Data name=\"类别\"><value>{kind}</value></Data>"
                     f"</ExtendedData><Polygon><outerBoundaryIs><LinearRing><coordinates>{coords}</coordinates>"
                     "</LinearRing></outerBoundaryIs></Polygon></Placemark>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
            f"<name>规划</name><Folder><name>规划地块</name>{''.join(marks)}</Folder></Document></kml>\n")


def write_kml(folder, system, encoding, declared) -> Path:
    path = folder / "规划.kml"
    path.write_text(_kml_text(system), encoding="utf-8")
    return path


def write_kmz(folder, system, encoding, declared) -> Path:
    path = folder / "外业.kmz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("doc.kml", _kml_text(system).encode("utf-8"))
    return path


def _columns(system) -> tuple[str, str]:
    """Degrees under 经度/纬度, metres under X/Y; swapped, the first holds the northing (the
    Chinese surveyors' X)."""
    return ("经度", "纬度") if system.degrees else ("X", "Y")


def write_csv_xy(folder, system, encoding, declared) -> Path:
    x, y = _columns(system)
    rows = [f"名称,类别,{x},{y}"]
    rows += [f"{n},{k},{_num(p.x)},{_num(p.y)}" for n, k, p in zip(NAMES, KINDS, system.shapes(POINTS))]
    path = folder / "控制点.csv"
    path.write_bytes(("\r\n".join(rows) + "\r\n").encode(encoding))
    return path


def write_csv_wkt(folder, system, encoding, declared) -> Path:
    rows = ["名称,类别,WKT"]
    rows += [f'{n},{k},"{shapely.to_wkt(s, rounding_precision=-1)}"' for n, k, s in zip(NAMES, KINDS, system.shapes(POLYGONS))]
    path = folder / "地块.csv"
    path.write_bytes(("\n".join(rows) + "\n").encode(encoding))
    return path


def write_xlsx(folder, system, encoding, declared) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "控制点"
    sheet.append(["名称", "类别", *_columns(system)])
    for n, k, p in zip(NAMES, KINDS, system.shapes(POINTS)):
        sheet.append([n, k, p.x, p.y])
    path = folder / "控制点.xlsx"
    book.save(path)
    return path


def write_dxf(folder, system, encoding, declared) -> Path:
    """A DXF by hand (GDAL writes polygons as hatches): the parcels as closed LWPOLYLINEs on the CAD
    layer 规划地块, their names as TEXT on the CAD layer 地块名称. GBK: R2000 with $DWGCODEPAGE
    ANSI_936; UTF-8: R2018, whose text is UTF-8 by its version (the code page stays ANSI_936)."""
    version = "AC1015" if encoding == "gbk" else "AC1032"
    lines = ["0", "SECTION", "2", "HEADER", "9", "$ACADVER", "1", version, "9", "$DWGCODEPAGE", "3", "ANSI_936",
             "0", "ENDSEC", "0", "SECTION", "2", "ENTITIES"]
    for shape in system.shapes(POLYGONS):
        ring = shapely.get_coordinates(shape.exterior)[:-1]
        lines += ["0", "LWPOLYLINE", "8", "规划地块", "90", str(len(ring)), "70", "1"]
        for x, y in ring:
            lines += ["10", _num(x), "20", _num(y)]
    for name, point in zip(NAMES, system.shapes(POINTS)):
        lines += ["0", "TEXT", "8", "地块名称", "10", _num(point.x), "20", _num(point.y), "30", "0.0", "40", "5.0",
                  "1", name]
    lines += ["0", "ENDSEC", "0", "EOF"]
    path = folder / "设计院.dxf"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


@dataclass(frozen=True)
class Format:
    id: str
    reader: str                         # its key in geo.readers.FORMATS
    write: object
    encodings: tuple[str, ...]          # its encoding variants
    detects: bool = False               # the inspector finds its encoding (Shapefile, CSV)
    points: bool = False                # the truth is POINTS, not POLYGONS
    declares: bool = False              # can carry a CRS
    implicit: str | None = None         # the CRS GDAL reads when none is written (GeoJSON, KML)
    dealt: bool = False                 # a second packaging of a format: encodings dealt, not crossed


SHP_ENCODINGS = ("UTF-8-cpg", "GBK-cpg", "UTF-8-nocpg", "GBK-nocpg")
FORMATS = {f.id: f for f in [
    Format("shp_zip", "shapefile", lambda *a: write_shapefile(*a, zipped=True), SHP_ENCODINGS, detects=True,
           declares=True),
    Format("shp_folder", "shapefile", lambda *a: write_shapefile(*a, zipped=False), SHP_ENCODINGS[::-1],
           detects=True, declares=True, dealt=True),
    Format("gpkg", "gpkg", write_gpkg, ("utf-8",), declares=True),
    Format("geojson", "geojson", write_geojson, ("utf-8",), declares=True, implicit="EPSG:4326"),
    Format("kml", "kml", write_kml, ("utf-8",), implicit="EPSG:4326"),
    Format("kmz", "kmz", write_kmz, ("utf-8",), implicit="EPSG:4326"),
    Format("csv_xy", "csv", write_csv_xy, ("utf-8", "gbk"), detects=True, points=True),
    Format("csv_wkt", "csv", write_csv_wkt, ("gbk", "utf-8"), detects=True, dealt=True),
    Format("xlsx", "xlsx", write_xlsx, ("utf-8",), points=True),
    Format("dxf", "dxf", write_dxf, ("gbk", "utf-8")),
    Format("fgb", "fgb", write_fgb, ("utf-8",), declares=True),
    Format("parquet", "parquet", write_parquet, ("utf-8",), declares=True),
]}


def _cases():
    for fmt in FORMATS.values():
        undeclared = [(e, s) for s in SYSTEMS for e in fmt.encodings]
        if fmt.dealt:
            undeclared = [(fmt.encodings[i % len(fmt.encodings)], s) for i, s in enumerate(SYSTEMS)]
        for encoding, system in undeclared:
            yield pytest.param(fmt.id, encoding, system.id, None, id=f"{fmt.id}-{encoding}-{system.id}-undeclared")
        if not fmt.declares:
            continue
        declared = [(s, s.code) for s in SYSTEMS if not s.swapped and s.code.startswith("EPSG:")]
        declared += [(BY_ID["gcj02"], named.WGS84), (BY_ID["bd09"], named.WGS84), (BY_ID["gk3_z41_swapped"], "EPSG:4529")]
        for i, (system, code) in enumerate(declared):
            encoding = fmt.encodings[i % len(fmt.encodings)]
            label = "declared" if code == system.code and not system.swapped else f"declared_{code.replace(':', '')}"
            yield pytest.param(fmt.id, encoding, system.id, code, id=f"{fmt.id}-{encoding}-{system.id}-{label}")


CASES = list(_cases())


# -- the store and the reference -------------------------------------------------------------------
@pytest.fixture(scope="module")
def reference(built_store):
    base = imports.reference_from_store(built_store)
    known = np.asarray([*POLYGONS, *POINTS], dtype=object)
    return imports.Reference(base.area, np.concatenate([np.asarray(base.features, dtype=object), known]))


@pytest.fixture()
def store(built_store, tmp_path):
    """A scratch copy of the small atlas's store (one store for all cases would slow each commit:
    the store's schema reads grow with its layers)."""
    path = tmp_path / "atlas.gpkg"
    shutil.copy(built_store.path, path)
    return open_store(path, key="id")


# -- checks ----------------------------------------------------------------------------------------
def _metres(geoms):
    return shapely.transform(np.asarray(geoms, dtype=object),
                             lambda xy: np.column_stack(TO_METRES.transform(xy[:, 0], xy[:, 1])))


def _assert_within_a_metre(stored: gpd.GeoDataFrame, truth: list) -> list[int]:
    """Each stored shape's nearest truth shape, every vertex of either within 1 m of the other's
    (discrete Hausdorff distance, in metres); returns, per stored row, the truth index."""
    got, want = _metres(stored.geometry.array), _metres(truth)
    gaps = np.array([[shapely.hausdorff_distance(g, w) for w in want] for g in got])
    match = gaps.argmin(axis=1)
    assert sorted(match) == list(range(len(truth))), gaps.round(1)
    worst = gaps[np.arange(len(got)), match]
    assert worst.max() < 1.0, f"stored shapes are {worst.round(3)} m from the truth"
    counts = shapely.get_num_coordinates(got)
    assert list(counts) == list(shapely.get_num_coordinates(want)[match])
    return list(match)


def _family(label: str | None) -> str | None:
    return "GB18030" if label in ("GBK", "GB18030") else label


def _written_encoding(encoding: str) -> str:
    return "GB18030" if encoding.lower().startswith("gbk") else "UTF-8"


# -- the matrix ------------------------------------------------------------------------------------
def _import(store, reference, path, tmp_path, layer, *, cad_layer=None):
    """inspect + commit as a new layer; (the inspection, the store's field names, the stored rows)."""
    with imports.inspect(path, reference=reference, scratch=tmp_path, layer=cad_layer) as found:
        result = imports.commit(store, found, layer=layer, mode="new", actor="matrix")
    assert result.added == len(NAMES) and found.folder is None
    return found, {f["name"]: f["store"] for f in found.fields}, store.query(layer, Query())


@pytest.mark.parametrize(("fmt_id", "encoding", "system_id", "declared"), CASES)
def test_import_matrix(fmt_id, encoding, system_id, declared, store, reference, tmp_path):
    fmt, system = FORMATS[fmt_id], BY_ID[system_id]
    path = fmt.write(tmp_path, system, encoding, declared)
    found, fields, stored = _import(store, reference, path, tmp_path, "imported",
                                    cad_layer="规划地块" if fmt_id == "dxf" else None)
    assert found.format == fmt.reader
    assert found.crs == system.expected, found.crs_reason
    assert found.declared_crs == (declared if declared is not None else fmt.implicit)
    if fmt.detects:
        assert _family(found.encoding) == _written_encoding(encoding), found.encoding_guess["reason_en"]
        # the .cpg GDAL wrote, read as evidence; none for a CSV (no byte-order mark) or without it
        said = {"GBK-cpg": "GBK", "UTF-8-cpg": "UTF-8"}.get(encoding)
        assert found.encoding_guess["evidence"]["cpg_encoding"] == said
    else:
        assert found.encoding is None  # UTF-8 by the format, or (DXF) by its header, read by GDAL
    order = _assert_within_a_metre(stored, POINTS if fmt.points else POLYGONS)
    if fmt_id == "dxf":
        assert found.source["encoding"] == ("UTF-8" if encoding == "utf-8" else "ANSI_936")
        assert set(stored[fields["Layer"]]) == {"规划地块"}
        # the names: the TEXT entities of the other CAD layer, imported as points
        found, fields, stored = _import(store, reference, path, tmp_path, "imported_names", cad_layer="地块名称")
        assert found.crs == system.expected, found.crs_reason
        order = _assert_within_a_metre(stored, POINTS)
        assert list(stored[fields["Text"]]) == [NAMES[i] for i in order]
        assert set(stored[fields["Layer"]]) == {"地块名称"}
        return
    name_field = fields["Name" if fmt_id in ("kml", "kmz") else "名称"]
    assert list(stored[name_field]) == [NAMES[i] for i in order]
    assert list(stored[fields["类别"]]) == [KINDS[i] for i in order]


def test_the_matrix_covers_every_candidate_in_every_format():
    assert {f.reader for f in FORMATS.values()} == set(readers.FORMATS)
    assert {s.expected for s in SYSTEMS} == {c.key for c in CANDIDATES}
    for fmt in FORMATS.values():
        ids = {p.values[2] for p in CASES if p.values[0] == fmt.id and p.values[3] is None}
        assert ids == set(BY_ID), fmt.id
        encodings = {p.values[1] for p in CASES if p.values[0] == fmt.id}
        assert encodings == set(fmt.encodings), fmt.id
