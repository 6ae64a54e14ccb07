"""Spatial queries (分析评价): the query region — a drawn polygon, or a feature, grown by a distance —
and every feature of the chosen layers inside it, with the part inside and its statistics. No Flask.

``region(store, polygon=…)`` or ``region(store, feature=(layer, id), distance_m=500)`` gives a
``Region``: its shape in EPSG:4550 (where the buffer is made and everything is measured) and in
WGS84 (to draw and export). ``within(store, layers, region, predicate=…)`` selects per layer with
the filters of ``/api/layers/<id>`` (``params.layer_query``), the region's bounding box for the
spatial index, then an STRtree of each chunk queried with the region; the parts inside are cut by
``shapely.intersection`` of the candidates only. The overlay of two layers is in ``overlay.py``.

A drawn polygon that is not valid (a bow-tie, a ring crossing itself) is refused, naming the place
of the fault, unless ``repair=True`` asks for ``shapely.make_valid`` (a bow-tie becomes its two
triangles): a query over a region the user did not mean is worse than asking them to redraw it.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import shapely

from geo.crs import WGS84, reproject
from geo.errors import InvalidGeometry, InvalidParameter, NotFound
from geo.measure import BUFFER_QUAD_SEGS, MEASURE_CRS, projected, projected_valid, raw_measures
from geo.store import Query, Store

from .. import catalog
from ..api.params import layer_query, parse_time
from .stats import _title, values

PREDICATES = ("intersects", "within")
#: Filters of /api/layers/<id> a query follows; the region takes the place of bbox.
FILTER_PARAMS = ("district", "category", "status", "q", "ids", "as_of")
MAX_VERTICES = 10_000
MAX_DISTANCE_M = 50_000.0
MAX_LAYERS = 20
#: Features listed per layer (the statistics count them all).
MAX_LISTED = 10_000
#: Where a region may lie: EPSG:4550 (CM 123E) measures truthfully only near Weihai.
EXTENT = (118.0, 33.0, 128.0, 42.0)
#: Segments a quarter circle of a buffer (128 a circle: its area is within 0.04% of π·r²).
QUAD_SEGS = BUFFER_QUAD_SEGS  # (geo.measure: the same circle as the indicators' buffers)
#: Attributes listed with each feature, when the layer has them.
ATTRIBUTES = ("name_zh", "name_en", "category", "district", "status", "year")
CHUNK_SIZE = 20_000


# -- the region ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Region:
    shape: shapely.Geometry   # EPSG:4550
    wgs84: shapely.Geometry   # the same, in longitude/latitude
    source: dict              # {"polygon": True} or {"feature": {"layer", "id"}}
    distance_m: float

    def measures(self) -> dict:
        area, length = raw_measures(np.array([self.shape], dtype=object))
        return {k: v for k, v in values(1, float(area[0]), float(length[0])).items() if k != "count"}

    def feature(self) -> dict:
        """The region as a GeoJSON Feature (WGS84, 7 decimals), its measures in its properties."""
        geometry = json.loads(shapely.to_geojson(_rounded(self.wgs84)))
        return {"type": "Feature", "id": "region", "geometry": geometry,
                "properties": {"kind": "region", **self.source, "distance_m": self.distance_m,
                               "crs": MEASURE_CRS, **self.measures()}}


def _rounded(geom, decimals: int = 7):
    return shapely.transform(geom, lambda xy: np.round(xy, decimals))


POLYGON_FORM = ('polygon must be a GeoJSON Polygon or MultiPolygon (or a Feature of one) in WGS84 longitude/latitude, '
                'e.g. {"type": "Polygon", "coordinates": [[[122.10, 37.50], [122.12, 37.50], [122.12, 37.52], '
                '[122.10, 37.50]]]}')


def _ring(ring, where: str) -> np.ndarray:
    try:
        xy = np.asarray(ring, dtype=float)
    except (TypeError, ValueError):
        raise InvalidParameter(f"{POLYGON_FORM}; {where} is not a list of [longitude, latitude] numbers",
                               parameter="polygon") from None
    if xy.ndim != 2 or xy.shape[1] not in (2, 3) or len(xy) < 3:
        raise InvalidParameter(f"{POLYGON_FORM}; {where} must list at least 3 [longitude, latitude] positions",
                               parameter="polygon")
    xy = xy[:, :2]
    if not np.isfinite(xy).all() or (np.abs(xy[:, 0]) > 180).any() or (np.abs(xy[:, 1]) > 90).any():
        raise InvalidParameter(f"{POLYGON_FORM}; {where} has a position out of range: longitudes are within ±180 "
                               "and latitudes within ±90 (longitude first; projected metres are not accepted)",
                               parameter="polygon")
    lo_x, lo_y, hi_x, hi_y = EXTENT
    if (xy[:, 0] < lo_x).any() or (xy[:, 0] > hi_x).any() or (xy[:, 1] < lo_y).any() or (xy[:, 1] > hi_y).any():
        raise InvalidParameter(f"{where} of polygon lies outside the atlas's area (longitude {lo_x}–{hi_x}, latitude "
                               f"{lo_y}–{hi_y}): areas are measured in EPSG:4550 (CM 123E), true only near Weihai; "
                               "is the longitude first?", parameter="polygon")
    return xy


def parse_polygon(value, *, repair: bool = False) -> shapely.Geometry:
    """A drawn polygon (GeoJSON, WGS84; a hole or several parts allowed) as a valid shapely
    (Multi)Polygon; InvalidParameter/InvalidGeometry naming ``polygon`` for anything else."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise InvalidParameter(f"{POLYGON_FORM}; the text given is not JSON", parameter="polygon") from None
    if isinstance(value, Mapping) and value.get("type") == "Feature":
        value = value.get("geometry")
    kind = value.get("type") if isinstance(value, Mapping) else None
    coords = value.get("coordinates") if isinstance(value, Mapping) else None
    if kind not in ("Polygon", "MultiPolygon") or not isinstance(coords, list) or not coords:
        raise InvalidParameter(f"{POLYGON_FORM}; got {str(kind or type(value).__name__)[:40]!r}", parameter="polygon")
    polygons = [coords] if kind == "Polygon" else coords
    count, shapes = 0, []
    for p, rings in enumerate(polygons):
        if not isinstance(rings, list) or not rings:
            raise InvalidParameter(f"{POLYGON_FORM}; part {p + 1} has no rings", parameter="polygon")
        count += sum(len(r) if isinstance(r, list) else 0 for r in rings)
        if count > MAX_VERTICES:
            raise InvalidParameter(f"polygon has more than {MAX_VERTICES:,} vertices; simplify it (or draw it "
                                   "with fewer points) and ask again", parameter="polygon")
        xy = [_ring(r, f"ring {i + 1} of part {p + 1}") for i, r in enumerate(rings)]
        shapes.append(shapely.Polygon(xy[0], xy[1:]))
    geom = shapes[0] if kind == "Polygon" else shapely.MultiPolygon(shapes)
    if not shapely.is_valid(geom):
        reason = shapely.is_valid_reason(geom)
        if not repair:
            found = re.search(r"\[(-?[\d.]+) (-?[\d.]+)\]", reason)
            where = (float(found.group(1)), float(found.group(2))) if found else None
            raise InvalidGeometry(f"polygon is not a valid polygon ({reason}): draw it again without edges that cross "
                                  "or touch, or send repair=true to have it repaired (make_valid: a bow-tie becomes "
                                  "its two triangles)", location=where, parameter="polygon")
        parts = shapely.get_parts(shapely.make_valid(geom))
        geom = shapely.union_all(parts[shapely.get_dimensions(parts) == 2])
    if shapely.is_empty(geom) or shapely.area(geom) == 0:
        raise InvalidParameter("polygon has no area (all its points on one line?); draw an area", parameter="polygon")
    return geom


def parse_distance(value) -> float:
    form = f"distance_m must be a number of metres from 0 to {MAX_DISTANCE_M:,.0f} (50 km)"
    try:
        distance = float(0 if value is None or value == "" else value)
    except (TypeError, ValueError):
        raise InvalidParameter(f"{form}, got {value!r}", parameter="distance_m") from None
    if isinstance(value, bool) or not math.isfinite(distance) or not 0 <= distance <= MAX_DISTANCE_M:
        raise InvalidParameter(f"{form}, got {value!r}", parameter="distance_m")
    return distance


def _feature_shape(store: Store, layer: str, feature_id: str, as_of: str | None) -> shapely.Geometry:
    frame = store.query(layer, Query(ids=(feature_id,), columns=(catalog.KEY,), as_of=as_of))  # NotFound: layer
    if not len(frame) or shapely.is_missing(frame.geometry.values[0]) or frame.geometry.values[0].is_empty:
        raise NotFound(f"layer {layer!r} has no feature {feature_id!r} with a geometry; pick a feature on the map "
                       "(its id is in its popup and in /api/layers/<id>)", parameter="feature")
    return frame.geometry.values[0]


def region(store: Store, *, polygon=None, feature: tuple[str, str] | None = None, distance_m=0,
           repair: bool = False, as_of: str | None = None) -> Region:
    """The query region: a drawn ``polygon`` (GeoJSON, WGS84) or a ``feature`` (layer, id), grown
    by ``distance_m`` metres (0–50,000) in EPSG:4550, then back to WGS84 to be shown."""
    distance = parse_distance(distance_m)
    if (polygon is None) == (feature is None):
        raise InvalidParameter("give the region as polygon (a drawn GeoJSON polygon) or as feature ({\"layer\", "
                               "\"id\"}: a feature and distance_m around it), one of the two", parameter="polygon")
    if polygon is not None:
        wgs84, source = parse_polygon(polygon, repair=repair), {"polygon": True}
    else:
        if (not isinstance(feature, (tuple, list)) or len(feature) != 2
                or not all(isinstance(v, str) and v.strip() for v in feature)):
            raise InvalidParameter('feature must be {"layer": "<layer id>", "id": "<feature id>"}', parameter="feature")
        layer, key = feature[0].strip(), feature[1].strip()
        wgs84, source = _feature_shape(store, layer, key, as_of), {"feature": {"layer": layer, "id": key}}
    shape = projected(np.array([wgs84], dtype=object))[0]
    if not shapely.is_valid(shape):
        shape = shapely.make_valid(shape)
    if distance > 0:
        shape = shapely.buffer(shape, distance, quad_segs=QUAD_SEGS)
        wgs84 = reproject(np.array([shape], dtype=object), MEASURE_CRS, WGS84)[0]
    shapely.prepare(shape)
    return Region(shape, wgs84, source, distance)


# -- what lies in it -------------------------------------------------------------------------------
def parse_layers(store: Store, layers, parameter: str = "layers") -> list[str]:
    items = [v.strip() for v in layers.split(",")] if isinstance(layers, str) else layers
    if (not isinstance(items, (list, tuple)) or not items or len(items) > MAX_LAYERS
            or not all(isinstance(v, str) and v.strip() for v in items)):
        raise InvalidParameter(f"{parameter} must list 1 to {MAX_LAYERS} layer ids, e.g. [\"projects\", \"zones\"] "
                               "(the ids are in /api/layers)", parameter=parameter)
    items = list(dict.fromkeys(v.strip() for v in items))
    for layer in items:
        try:
            store.fields(layer)
        except NotFound as exc:
            raise NotFound(exc.detail, parameter=parameter) from None
    return items


def check_filters(filters: Mapping | None) -> dict:
    filters = {k: v for k, v in dict(filters or {}).items() if v not in (None, "")}
    unknown = sorted(set(filters) - set(FILTER_PARAMS))
    if unknown:
        hint = "; the region takes the place of bbox" if "bbox" in unknown else ""
        raise InvalidParameter(f"unknown filter {unknown[0]!r}; a query follows {', '.join(FILTER_PARAMS)}{hint}",
                               parameter=unknown[0])
    for key, value in filters.items():
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            filters[key] = ",".join(value)
        elif not isinstance(value, str):
            raise InvalidParameter(f"{key} must be text (a comma list), got {value!r}", parameter=key)
    if "as_of" in filters:
        parse_time(filters["as_of"])
    return filters


def read(store: Store, layer: str, filters: Mapping, bbox=None, chunk_size: int = CHUNK_SIZE):
    """The features of ``layer`` the filters select (in the bounding box ``bbox``), chunk by chunk:
    (frame, shapes in EPSG:4550, valid)."""
    query = _selection(store, layer, filters)
    columns = tuple(c for c in (catalog.KEY, *ATTRIBUTES) if c in {f.name for f in store.fields(layer)})
    for chunk in store.stream(layer, replace(query, columns=columns, bbox=bbox), chunk_size=chunk_size):
        yield chunk, projected_valid(chunk.geometry.values)


def _selection(store: Store, layer: str, filters: Mapping) -> Query:
    """The query of every feature of ``layer`` the filters select (no page)."""
    query, _ = layer_query(layer, [f.name for f in store.fields(layer)], filters, default_limit=None, max_limit=1)
    return replace(query, limit=None, offset=0)


def count(store: Store, layer: str, filters: Mapping, *, at_most: int | None = None) -> int:
    """How many features of ``layer`` the filters select (those ``read`` reads); with ``at_most``,
    an answer above it may stand for "more than ``at_most``" (``Store.count``)."""
    return store.count(layer, _selection(store, layer, filters), at_most=at_most)


def measured(area_m2: float, length_m: float) -> dict:
    return {k: v for k, v in values(0, area_m2, length_m).items() if k not in ("count", "area_km2")}


def attributes(frame, rows) -> list[dict]:
    """The listed attributes of ``rows`` of ``frame``: id first, NaN/NA as None."""
    cols = [c for c in (catalog.KEY, *ATTRIBUTES) if c in frame.columns]
    out = []
    for values_ in zip(*[frame[c].astype(object).to_numpy()[rows] for c in cols]):
        out.append({c: None if pd.isna(v) else (int(v) if isinstance(v, np.integer) else v)
                    for c, v in zip(cols, values_)})
    return out


def cut(geoms: np.ndarray, dims: np.ndarray, against: np.ndarray):
    """Parts of ``geoms`` inside ``against`` (pairwise, EPSG:4550): (parts, area m², length m, kept).
    A geometry covered whole is its own part (no cut); a polygon's area, a line's length count; a
    part of nothing (a touch on the edge) is not kept, a point that meets is."""
    whole = shapely.covers(against, geoms)
    parts = geoms.copy()
    rest = np.flatnonzero(~whole)
    parts[rest] = shapely.intersection(geoms[rest], against[rest])
    area = np.where(dims == 2, shapely.area(parts), 0.0)
    length = np.where(dims == 1, shapely.length(parts), 0.0)
    kept = (area > 0) | (length > 0) | ((dims == 0) & ~shapely.is_empty(parts))
    return parts, area, length, kept


def share(dims, area_in, length_in, area, length) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(dims == 2, area_in / area, np.where(dims == 1, length_in / length, 1.0))
    return np.round(np.nan_to_num(out, nan=1.0), 6)


def within(store: Store, layers: Sequence[str] | str, where: Region, *, predicate: str = "intersects",
           filters: Mapping | None = None, geometry: bool = False, limit: int = MAX_LISTED) -> dict:
    """Per layer the features in the region ``where``: ``intersects`` (any part inside; the part
    inside measured) or ``within`` (wholly inside, its edge included), selected by ``filters``.
    ``geometry``: each listed feature carries its part inside as GeoJSON (WGS84)."""
    layers = parse_layers(store, layers)
    if predicate not in PREDICATES:
        raise InvalidParameter(f"predicate must be intersects (every feature with a part inside, that part measured) "
                               f"or within (features wholly inside), got {predicate!r}", parameter="predicate")
    filters = check_filters(filters)
    x1, y1, x2, y2 = shapely.bounds(where.wgs84)
    bbox = (x1 - 1e-6, y1 - 1e-6, x2 + 1e-6, y2 + 1e-6)
    region_of = np.array([where.shape], dtype=object)
    out = {}
    for layer in layers:
        listed, totals = [], np.zeros(5)  # count, area, length, area inside, length inside
        for chunk, geoms in read(store, layer, filters, bbox):
            tree = shapely.STRtree(geoms)
            hit = np.sort(tree.query(where.shape, predicate="covers" if predicate == "within" else "intersects"))
            dims = shapely.get_dimensions(geoms[hit])
            parts, area_in, length_in, kept = cut(geoms[hit], dims, np.repeat(region_of, len(hit)))
            hit, dims, parts, area_in, length_in = hit[kept], dims[kept], parts[kept], area_in[kept], length_in[kept]
            area, length = raw_measures(geoms[hit])
            totals += [len(hit), area.sum(), length.sum(), area_in.sum(), length_in.sum()]
            room = max(0, limit - len(listed))
            shown = slice(0, room)
            shares = share(dims, area_in, length_in, area, length)
            shapes = (shapely.to_geojson(_rounded(reproject(parts[shown], MEASURE_CRS, WGS84)))
                      if geometry and room else [None] * len(hit[shown]))
            for k, record in enumerate(attributes(chunk, hit[shown])):
                record.update(measured(area[k], length[k]))
                record["inside"] = measured(area_in[k], length_in[k])
                record["share"] = float(shares[k])
                if geometry:
                    record["geometry"] = json.loads(shapes[k])
                listed.append(record)
        count = int(totals[0])
        out[layer] = {"title": _title(store, layer), "numberMatched": count, "numberListed": len(listed),
                      "features": listed,
                      "stats": {"count": count, "inside": values(count, totals[3], totals[4]),
                                "whole": values(count, totals[1], totals[2])}}
    return {"region": where.feature(), "predicate": predicate, "filters": filters, "crs": MEASURE_CRS,
            "layers": out}
