"""Named coordinate systems, the ones an export may target, cached transformers and the GCJ-02
("Mars") conversion.

All conversions are vectorised over every vertex of every geometry (``shapely.transform`` hands the
whole coordinate array to numpy). GCJ-02 is not an EPSG system: it is WGS84 with a deliberate,
published non-linear offset (about 420 m near Weihai) used by Amap/Gaode and other Chinese maps.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Transformer

from .errors import CRSError, InvalidParameter

WGS84 = "EPSG:4326"
CGCS2000 = "EPSG:4490"
#: CGCS2000 / 3-degree Gauss-Kruger CM 123E: the atlas measures areas and lengths here.
GK_CM123E = "EPSG:4550"
#: CGCS2000 / 3-degree Gauss-Kruger zone 41 (false easting with the zone prefix 41).
GK_ZONE41 = "EPSG:4529"
WEB_MERCATOR = "EPSG:3857"
#: Not an EPSG code: the Chinese offset system of Amap/Gaode, handled by the functions below.
GCJ02 = "GCJ-02"
#: Not an EPSG code either: Baidu's offset of GCJ-02 (about 1.2 km from WGS84 near Weihai).
BD09 = "BD-09"

NAMED = {
    WGS84: {"zh": "WGS84 经纬度", "en": "WGS84 longitude/latitude"},
    CGCS2000: {"zh": "CGCS2000 经纬度", "en": "CGCS2000 longitude/latitude"},
    GK_CM123E: {"zh": "CGCS2000 3度带高斯-克吕格 中央经线123°E", "en": "CGCS2000 3-degree GK CM 123E"},
    GK_ZONE41: {"zh": "CGCS2000 3度带高斯-克吕格 41带(带号)", "en": "CGCS2000 3-degree GK zone 41"},
    WEB_MERCATOR: {"zh": "Web 墨卡托", "en": "Web Mercator"},
    GCJ02: {"zh": "GCJ-02 火星坐标(高德等,非 EPSG)", "en": "GCJ-02 (Amap/Gaode offset, not an EPSG code)"},
    BD09: {"zh": "BD-09 百度坐标(非 EPSG)", "en": "BD-09 (Baidu offset, not an EPSG code)"},
}

# -- the coordinate systems of exports ---------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """The coordinate system of an export. GCJ-02 has no EPSG code: its files declare WGS84
    (``file_crs``) and say GCJ-02 in their name and metadata."""

    name: str       # canonical: "EPSG:4550" or "GCJ-02"
    label: str      # for file names: "EPSG4550", "GCJ-02"
    file_crs: str   # what the file declares
    geographic: bool
    zh: str
    en: str

    @property
    def is_epsg(self) -> bool:
        return self.name.startswith("EPSG:")

    def wkt(self) -> str:
        return CRS.from_user_input(self.file_crs).to_wkt()

    def note(self) -> str:
        text = f"坐标系 Coordinate system: {self.name} {self.zh} / {self.en}."
        if not self.is_epsg:
            text += (" GCJ-02 不是 EPSG 坐标系:坐标已按 GCJ-02(火星坐标,高德等使用)偏移,文件按 WGS84 (EPSG:4326)"
                     "声明只因 GCJ-02 没有代码,请勿当作 WGS84 使用。 / GCJ-02 is not an EPSG code: the "
                     "coordinates carry the GCJ-02 offset used by Amap/Gaode; the file declares WGS84 "
                     "(EPSG:4326) only because GCJ-02 has no code, so do not use them as WGS84.")
        return text



def _target(name: str) -> Target:
    title = NAMED[name]
    if name == GCJ02:
        return Target(name, "GCJ-02", WGS84, True, title["zh"], title["en"])
    geographic = name in (WGS84, CGCS2000)
    return Target(name, name.replace(":", ""), name, geographic, title["zh"], title["en"])


#: Every coordinate system an export may use, the default first.
TARGETS: dict[str, Target] = {name: _target(name) for name in
                              (WGS84, CGCS2000, GK_CM123E, GK_ZONE41,
                               WEB_MERCATOR, GCJ02)}
DEFAULT_TARGET = WGS84
_CRS_ALIASES = {"WGS84": WGS84, "CRS84": WGS84, "CGCS2000": CGCS2000,
                "WEBMERCATOR": WEB_MERCATOR, "MARS": GCJ02}


def target(name: str | None, *, geographic_only: str | None = None) -> Target:
    """The export coordinate system called ``name`` (default WGS84). ``geographic_only`` names a
    format that holds longitude/latitude only: a projected system is then refused."""
    text = DEFAULT_TARGET if name is None or str(name).strip() == "" else str(name).strip()
    key = text.upper().replace(" ", "")
    key = _CRS_ALIASES.get(key, key)
    if key.startswith("EPSG") and key[4:].isdigit():  # EPSG4550, as in our file names
        key = f"EPSG:{key[4:]}"
    try:
        canonical = normalise(key)
    except CRSError:
        canonical = None
    if canonical not in TARGETS:
        accepted = "; ".join(f"{n} ({t.en})" for n, t in TARGETS.items())
        raise InvalidParameter(f"unknown coordinate system {text!r}; use one of: {accepted}", parameter="crs")
    chosen = TARGETS[canonical]
    if geographic_only and not chosen.geographic:
        accepted = ", ".join(n for n, t in TARGETS.items() if t.geographic)
        raise InvalidParameter(f"{geographic_only} holds longitude/latitude only, not {chosen.name} ({chosen.en}); "
                               f"use crs={accepted}, or another format such as gpkg", parameter="crs")
    return chosen


# -- GCJ-02 --------------------------------------------------------------------------------------
# Krasovsky 1940 ellipsoid, as used by the published GCJ-02 algorithm.
_A = 6378245.0
_EE = 0.00669342162296594323


def normalise(name: str) -> str:
    """The canonical name of a coordinate system we accept, or a CRSError listing them."""
    text = str(name).strip()
    upper = text.upper().replace("_", "-")
    if upper in ("GCJ-02", "GCJ02"):
        return GCJ02
    if upper in ("BD-09", "BD09"):
        return BD09
    if upper.isdigit():
        upper = f"EPSG:{upper}"
    if upper in NAMED:
        return upper
    raise CRSError(
        f"unknown coordinate system {text!r}; use one of {', '.join(NAMED)}",
        parameter="crs",
        status=400,
    )


@lru_cache(maxsize=64)
def transformer(src: str, dst: str) -> Transformer:
    """A cached, thread-safe-enough pyproj transformer (lon/lat axis order always)."""
    return Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)


def _out_of_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GCJ-02 offset (dlon, dlat) in degrees at WGS84 positions (published algorithm)."""
    x = lon - 105.0
    y = lat - 35.0
    sx = np.sqrt(np.abs(x))
    t1 = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx + t1
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx + t1
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad) ** 2
    smagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * smagic) * np.pi)
    dlon = (dlon * 180.0) / (_A / smagic * np.cos(rad) * np.pi)
    outside = _out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def wgs84_to_gcj02_xy(xy: np.ndarray) -> np.ndarray:
    """(N, 2) lon/lat WGS84 -> GCJ-02, vectorised."""
    xy = np.asarray(xy, dtype="float64")
    dlon, dlat = _offset(xy[:, 0], xy[:, 1])
    return np.column_stack([xy[:, 0] + dlon, xy[:, 1] + dlat])


def gcj02_to_wgs84_xy(xy: np.ndarray, *, tolerance: float = 1e-9, max_iter: int = 30) -> np.ndarray:
    """(N, 2) lon/lat GCJ-02 -> WGS84, vectorised.

    The forward offset has no closed inverse; this is a fixed-point iteration (the offset varies
    slowly, so each step gains about three orders of magnitude). It stops when every vertex moves
    less than ``tolerance`` degrees (1e-9 deg is about 0.1 mm).
    """
    gcj = np.asarray(xy, dtype="float64")
    wgs = gcj.copy()
    for _ in range(max_iter):
        err = wgs84_to_gcj02_xy(wgs) - gcj
        wgs -= err
        if not np.isfinite(err).all() or np.abs(err).max(initial=0.0) < tolerance:
            break
    return wgs


# -- BD-09 (Baidu): a further published offset of GCJ-02 ---------------------------------------
_X_PI = np.pi * 3000.0 / 180.0


def gcj02_to_bd09_xy(xy: np.ndarray) -> np.ndarray:
    """(N, 2) lon/lat GCJ-02 -> BD-09, vectorised (Baidu's published formula)."""
    xy = np.asarray(xy, dtype="float64")
    x, y = xy[:, 0], xy[:, 1]
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return np.column_stack([z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006])


def bd09_to_gcj02_xy(xy: np.ndarray, *, tolerance: float = 1e-9, max_iter: int = 10) -> np.ndarray:
    """(N, 2) lon/lat BD-09 -> GCJ-02: the usual closed form, refined by fixed-point steps on the
    forward formula until it is exact to ``tolerance`` degrees (the closed form alone is off by up
    to a metre)."""
    bd = np.asarray(xy, dtype="float64")
    x, y = bd[:, 0] - 0.0065, bd[:, 1] - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    gcj = np.column_stack([z * np.cos(theta), z * np.sin(theta)])
    for _ in range(max_iter):
        err = gcj02_to_bd09_xy(gcj) - bd
        gcj -= err
        if not np.isfinite(err).all() or np.abs(err).max(initial=0.0) < tolerance:
            break
    return gcj


def wgs84_to_bd09_xy(xy: np.ndarray) -> np.ndarray:
    """(N, 2) lon/lat WGS84 -> BD-09."""
    return gcj02_to_bd09_xy(wgs84_to_gcj02_xy(xy))


def bd09_to_wgs84_xy(xy: np.ndarray) -> np.ndarray:
    """(N, 2) lon/lat BD-09 -> WGS84."""
    return gcj02_to_wgs84_xy(bd09_to_gcj02_xy(xy))


def _apply(geoms, func):
    return shapely.transform(np.asarray(geoms, dtype=object), func)


def gcj02_to_wgs84(geoms):
    """Shapely geometries (array-like) in GCJ-02 -> WGS84."""
    return _apply(geoms, gcj02_to_wgs84_xy)


def wgs84_to_gcj02(geoms):
    """Shapely geometries (array-like) in WGS84 -> GCJ-02."""
    return _apply(geoms, wgs84_to_gcj02_xy)


def reproject(geoms, src: str, dst: str):
    """Reproject shapely geometries between any two named systems, GCJ-02 included."""
    src, dst = normalise(src), normalise(dst)
    geoms = np.asarray(geoms, dtype=object)
    if src == dst:
        return geoms
    if src == GCJ02:
        return reproject(gcj02_to_wgs84(geoms), WGS84, dst)
    if dst == GCJ02:
        return wgs84_to_gcj02(reproject(geoms, src, WGS84))
    if src == BD09:
        return reproject(_apply(geoms, bd09_to_wgs84_xy), WGS84, dst)
    if dst == BD09:
        return _apply(reproject(geoms, src, WGS84), wgs84_to_bd09_xy)
    tr = transformer(src, dst)

    def _xy(xy):
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return _apply(geoms, _xy)
