"""What the page's import preview draws, Flask-free: a sample of the file's shapes in WGS84 under the
chosen coordinate system and under the runner-up (so the planner sees which one lies over Weihai
and which one is in the sea, or 450 m off), and a marker for each invalid shape listed.

``build(frame, guess, chosen, invalid)`` returns::

    {"candidates": [{"key", "zh", "en", "chosen": bool, "score", "inside",
                     "features": GeoJSON FeatureCollection (≤ SAMPLE shapes, simplified), or None
                                 when the shapes would not lie on the Earth under that system}],
     "invalid": [{"row", "reason", "lon", "lat"}], "sampled": n, "count": N}

The shapes are a sample spread over the file (every k-th row), simplified to about a metre in
degrees and rounded to 6 decimals (~0.1 m): a preview, not the data. A candidate whose transform
fails (coordinates outside its domain) is left out of the list.
"""
from __future__ import annotations

import logging

import numpy as np
import orjson
import shapely

from geo import readers
from geo.inspect import CANDIDATES

log = logging.getLogger(__name__)
#: at most this many shapes are drawn per candidate
SAMPLE = 400
#: simplification tolerance (degrees, ~1 m)
TOLERANCE = 1e-5


def crs_of(key: str) -> tuple[str, bool]:
    """A candidate key ("EPSG:4529/swapped", "GCJ-02") as (the CRS to read it in, swapped axes)."""
    for c in CANDIDATES:
        if c.key == key:
            return c.crs, c.swapped
    return key, False


def _titles(key: str) -> tuple[str, str]:
    for c in CANDIDATES:
        if c.key == key:
            return c.zh, c.en
    return key, key


def _collection(geoms: np.ndarray, rows: np.ndarray) -> dict:
    geoms = geoms.copy()
    valid = shapely.is_valid(geoms)  # an invalid shape is drawn as it is (GEOS cannot simplify it)
    geoms[valid] = shapely.set_precision(shapely.simplify(geoms[valid], TOLERANCE, preserve_topology=True), 1e-6)
    features = []
    for row, geojson in zip(rows.tolist(), shapely.to_geojson(geoms).tolist()):
        if geojson is None:
            continue
        features.append({"type": "Feature", "properties": {"row": int(row) + 1}, "geometry": orjson.loads(geojson)})
    return {"type": "FeatureCollection", "features": features}


def build(frame, guess, chosen: str | None, invalid=()) -> dict:
    """The preview of ``frame`` (the file's shapes, in its own coordinates) for the chosen key and
    the best other candidate of ``guess`` (a ``geo.inspect.CRSGuess``)."""
    count = len(frame)
    step = max(1, -(-count // SAMPLE))
    rows = np.arange(0, count, step)[:SAMPLE]
    sample = frame.iloc[rows]
    geoms = np.asarray(sample.geometry.array, dtype=object)
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    sample, rows = sample[keep], rows[keep]
    scores = {s.candidate.key: s for s in guess.ranked} if guess is not None else {}
    keys = [k for k in (chosen,) if k]
    for scored in getattr(guess, "ranked", ()):
        if scored.candidate.key not in keys:
            keys.append(scored.candidate.key)
            break
    out = []
    for key in keys:
        crs, swapped = crs_of(key)
        try:
            moved = readers.to_wgs84(sample, crs, swapped=swapped)
            wgs = np.asarray(moved.geometry.array, dtype=object)
            bounds = shapely.total_bounds(wgs) if len(wgs) else None
            if bounds is None or not np.isfinite(bounds).all():
                continue
            on_earth = bool(-180 <= bounds[0] and bounds[2] <= 180 and -90 <= bounds[1] and bounds[3] <= 90)
            features = _collection(wgs, rows) if on_earth else None
        except Exception as exc:  # noqa: BLE001 - a candidate that cannot be drawn is left out, never a failure
            log.debug("preview: %s not drawn: %s", key, exc)
            continue
        zh, en = _titles(key)
        scored = scores.get(key)
        out.append({"key": key, "zh": zh, "en": en, "chosen": key == chosen,
                    "score": None if scored is None else round(float(scored.score), 3),
                    "inside": None if scored is None else round(float(scored.inside), 3),
                    "features": features})
    return {"candidates": out, "invalid": _markers(frame, chosen, invalid), "sampled": int(len(rows)),
            "count": int(count)}


def _markers(frame, chosen: str | None, invalid) -> list[dict]:
    """Where each listed invalid shape is, in WGS84 under the chosen system (the place GEOS names,
    else a point on the shape)."""
    if not chosen or not invalid:
        return []
    crs, swapped = crs_of(chosen)
    geoms = np.asarray(frame.geometry.array, dtype=object)
    points, kept = [], []
    for problem in invalid:
        row = int(problem["row"])
        if not 0 <= row < len(geoms) or geoms[row] is None:
            continue
        location = problem.get("location")
        point = shapely.Point(location) if location else shapely.point_on_surface(shapely.make_valid(geoms[row]))
        points.append(point)
        kept.append(problem)
    if not points:
        return []
    import geopandas as gpd

    try:
        moved = readers.to_wgs84(gpd.GeoDataFrame(geometry=points, crs=frame.crs), crs, swapped=swapped)
    except Exception as exc:  # noqa: BLE001 - markers are a help, never a failure of the inspection
        log.debug("preview: invalid markers not placed: %s", exc)
        return []
    xy = shapely.get_coordinates(np.asarray(moved.geometry.array, dtype=object))
    return [{"row": int(p["row"]) + 1, "reason": str(p["reason"]), "lon": round(float(x), 6), "lat": round(float(y), 6)}
            for p, (x, y) in zip(kept, xy)]
