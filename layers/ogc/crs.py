"""Coordinate systems of OGC API – Features Part 2 (CRS by reference): the URIs the server offers,
their authority axis order, and coordinates to and from the store's WGS84 (lon/lat).

Axis order is the authority's: CRS84 is lon/lat; EPSG:4326 and 4490 are lat/lon; the CGCS2000
Gauss-Krüger systems (EPSG:4549, 4550, 4528, 4529) are northing/easting; EPSG:3857 easting/northing.
GDAL's OAPIF driver and QGIS read coordinates in that order (they swap them back), so a server that
wrote lon/lat for EPSG:4326 would put Weihai in the Indian Ocean. The order is read from pyproj's
axis information, not listed by hand. Transformations are ``geo.crs.transformer`` (cached,
always_xy).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import shapely
from pyproj import CRS

from geo.crs import transformer
from geo.errors import InvalidParameter

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
_EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
#: what the server offers, the storage CRS first; titles for the HTML pages
OFFERED = {
    CRS84: ("OGC:CRS84", "WGS84 经度/纬度", "WGS84 longitude/latitude"),
    _EPSG + "4326": ("EPSG:4326", "WGS84 纬度/经度", "WGS84 latitude/longitude"),
    _EPSG + "4490": ("EPSG:4490", "CGCS2000 纬度/经度", "CGCS2000 latitude/longitude"),
    _EPSG + "4549": ("EPSG:4549", "CGCS2000 3度带 中央经线120°E", "CGCS2000 3-degree GK CM 120E"),
    _EPSG + "4550": ("EPSG:4550", "CGCS2000 3度带 中央经线123°E", "CGCS2000 3-degree GK CM 123E"),
    _EPSG + "4528": ("EPSG:4528", "CGCS2000 3度带 40带", "CGCS2000 3-degree GK zone 40"),
    _EPSG + "4529": ("EPSG:4529", "CGCS2000 3度带 41带", "CGCS2000 3-degree GK zone 41"),
    _EPSG + "3857": ("EPSG:3857", "Web 墨卡托", "Web Mercator"),
}
STORAGE = CRS84
_ALIASES = {"CRS84": CRS84, "OGC:CRS84": CRS84, "[OGC:CRS84]": CRS84, "URN:OGC:DEF:CRS:OGC:1.3:CRS84": CRS84}


@dataclass(frozen=True)
class RefSystem:
    uri: str
    code: str           # what pyproj takes: "OGC:CRS84", "EPSG:4550"
    swap: bool          # the authority's first axis is north (lat/lon, northing/easting)
    geographic: bool

    @property
    def decimals(self) -> int:
        """Digits written: 8 of a degree (about 1 mm), 3 of a metre (1 mm)."""
        return 8 if self.geographic else 3


@cache
def _system(uri: str) -> RefSystem:
    code = OFFERED[uri][0]
    crs = CRS.from_user_input(code)
    first = crs.axis_info[0].direction.lower()
    return RefSystem(uri, code, first in ("north", "south"), crs.is_geographic)


def parse(value: str | None, parameter: str) -> RefSystem:
    """The offered system a ``crs``/``bbox-crs``/``filter-crs`` value names (a URI, also in ``<…>``,
    or ``EPSG:4550``/``CRS84``); the storage CRS (CRS84) when absent."""
    if value is None or not str(value).strip():
        return _system(STORAGE)
    text = str(value).strip().strip("<>").strip()
    upper = text.upper()
    uri = _ALIASES.get(upper)
    if uri is None and upper.startswith("EPSG:") and upper[5:].isdigit():
        uri = _EPSG + upper[5:]
    if uri is None and text.replace("https://", "http://", 1) in OFFERED:
        uri = text.replace("https://", "http://", 1)
    if uri not in OFFERED:
        raise InvalidParameter(f"{parameter}: {text!r} is not offered; use one of {', '.join(OFFERED)}",
                               parameter=parameter)
    return _system(uri)


def _xy_transform(src: str, dst: str):
    tr = transformer(src, dst)

    def apply(xy: np.ndarray) -> np.ndarray:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])
    return apply


def from_wgs84(geoms, target: RefSystem):
    """Store geometries (WGS84 lon/lat) in ``target``, in its authority axis order, rounded."""
    geoms = np.asarray(geoms, dtype=object)
    if target.uri != CRS84:
        geoms = shapely.transform(geoms, _xy_transform("EPSG:4326", target.code))
    if target.swap:
        geoms = shapely.transform(geoms, lambda xy: xy[:, ::-1])
    return geoms


def to_wgs84(geom, source: RefSystem):
    """A geometry given in ``source`` (its authority axis order) as WGS84 lon/lat."""
    if source.swap:
        geom = shapely.transform(geom, lambda xy: xy[:, ::-1])
    if source.uri == CRS84 or source.code in ("EPSG:4326",):
        return geom
    return shapely.transform(geom, _xy_transform(source.code, "EPSG:4326"))


def bbox_to_wgs84(bbox: tuple[float, float, float, float], source: RefSystem):
    """A bbox given in ``source`` as a WGS84 polygon (its edges densified, so a projected box stays
    the same area) and that polygon's bounds."""
    minx, miny, maxx, maxy = bbox
    box = shapely.box(minx, miny, maxx, maxy)
    if source.uri == CRS84:
        return box, box.bounds
    side = max(maxx - minx, maxy - miny) / 32 or 1.0
    poly = to_wgs84(shapely.segmentize(box, side), source)
    return poly, poly.bounds


def header(target: RefSystem) -> str:
    """The Content-Crs header: the URI in angle brackets (GDAL compares it exactly)."""
    return f"<{target.uri}>"
