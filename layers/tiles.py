"""Tiles of the atlas's layers, Flask-free: a large layer drawn by the server as raster PNG tiles
(what the page shows, chosen by measuring: bench/tiles.py and bench/RESULTS.md) or encoded as
Mapbox Vector Tiles (``.mvt``, for other clients and the comparison), with the same filters as
``/api/layers/<id>`` (``layers.api.params``), and the feature under a click (``at``).

Where a tile's features come from:
- a zoomed-in tile (``OVERVIEW_MAX_ZOOM`` and above, or any tile of a past time ``as_of``, or under
  a text, range or spatial filter): the store's bbox query for the tile, per request, through the
  store interface;
- any other tile of a layer over ``OVERVIEW_MIN`` features: the layer's *overview*, the whole
  layer read once per store revision (``Store.version()``) with its geometry simplified to half a
  pixel at ``OVERVIEW_MAX_ZOOM - 1``, held in memory in the store's order with a grid index over
  the features' boxes (``geo.tiles.index``): a tile's features are found and gathered in numpy,
  without a query to the store, and drawn as the store's would be (the same features in the same
  order; at ``OVERVIEW_MAX_ZOOM - 1`` simplified alike, so the same pixels; below it simplified
  finer than the store's path would, so within a pixel: tests/layers/test_tiles_overview.py); while
  it is rebuilt, tiles from ``STORE_WHILE_BUILDING`` up come from the store. Up to ``LEVEL_MAX_ZOOM``
  the PNG tiles are cut from one picture of the whole layer at their zoom, drawn once per revision
  and filters (the unfiltered ones ahead, by ``warm``). A store that can make tiles itself
  (PostGIS ``ST_AsMVT``) can take the ``mvt`` path over through ``Store.tile_mvt`` when it has one.

Finished tiles are kept in a least-recently-used cache bounded in bytes, keyed by the store's
revision, so an unchanged view costs what sending its bytes costs; the HTTP layer adds the ETag.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo import memory
from geo.errors import InvalidParameter
from geo.store import Query, Store
from geo.tiles import grid, mvt, pick, raster
from geo.tiles.index import BoxIndex

from . import catalog
from .api import features as core
from .api import http
from .api.params import layer_query, parse_int

log = logging.getLogger("layers.tiles")

FORMATS = {"png": "image/png", "mvt": "application/vnd.mapbox-vector-tile"}
#: The parameters of a tile and of ``at``: the page's filters and time, nothing else.
TILE_PARAMS = ("district", "category", "status", "as_of", "v")
AT_PARAMS = ("lon", "lat", "zoom", "district", "category", "status", "as_of")
#: Tiles below this zoom come from the overview (when the layer has one), simplified to half a
#: pixel of the zoom below it: up to that zoom the same drawing as the store's bbox query per tile
#: (the same features, simplified alike), above it within a fraction of a pixel.
OVERVIEW_MAX_ZOOM = 15
#: From this zoom on, a tile asked for while the overview is out of date (after an edit, at the
#: start) is the store's bbox query, the overview rebuilt in the background: no wait for it.
STORE_WHILE_BUILDING = 12
OVERVIEW_MIN = 50_000
#: Pixels around a tile whose features are drawn too (a line's width, a point's disc).
PAD_PX = 8
#: How near (pixels) a click must be to a feature to pick it.
PICK_PX = 6
#: Zoomed-out tiles are cut from one picture of the whole layer at their zoom (per revision and
#: filters), drawn once: at most this many pixels a picture (else each tile is drawn alone), and
#: at most LEVELS_BYTES of pictures kept, least recently used out first.
LEVEL_MAX_PIXELS = 40_000_000
LEVELS_BYTES = 256 << 20
#: Pictures for zooms up to this (above, a tile's own drawing is quicker than a picture's share).
LEVEL_MAX_ZOOM = 10
#: The zooms whose unfiltered pictures ``warm`` draws ahead (the city's views).
WARM_ZOOMS = (8, 9, 10)


@dataclass(frozen=True)
class Tile:
    body: bytes
    media_type: str


@dataclass
class Overview:
    """A layer in memory for zoomed-out tiles, in the store's order: each feature's box (and an
    index over them), the columns the filters and the style read, its colour and its simplified
    geometry, kept once as ``raster.Shapes`` (a vector tile's few features made shapely geometries
    again: ``select``). Built a chunk at a time, its memory handed back after: for 500,000 lines
    a worker grew 328 MB, where keeping GEOS geometries too had grown it 761 MB."""

    version: str
    frame: pd.DataFrame
    bounds: np.ndarray
    shapes: raster.Shapes
    colours: np.ndarray
    seconds: float
    index: BoxIndex

    def which(self, bbox, query: Query) -> np.ndarray:
        """The numbers (ascending: the store's order) of the features in ``bbox`` matching
        ``query``'s filters (equals, ids), found through the index, filters tested only on them."""
        found = self.index.query(bbox)
        keep = np.ones(len(found), dtype=bool)
        for name, values in query.equals.items():
            keep &= self.frame[name].iloc[found].isin(list(values)).to_numpy()
        if query.ids is not None:
            keep &= self.frame[catalog.KEY].iloc[found].isin(list(query.ids)).to_numpy()
        return found[keep]

    def mask(self, bbox, query: Query) -> np.ndarray:
        """Which features are in ``bbox`` and match ``query``'s filters (equals, ids)."""
        minx, miny, maxx, maxy = bbox
        b = self.bounds
        mask = (b[:, 0] <= maxx) & (b[:, 2] >= minx) & (b[:, 1] <= maxy) & (b[:, 3] >= miny)
        for name, values in query.equals.items():
            mask &= self.frame[name].isin(list(values)).to_numpy()
        if query.ids is not None:
            mask &= self.frame[catalog.KEY].isin(list(query.ids)).to_numpy()
        return mask

    def select(self, which: np.ndarray) -> gpd.GeoDataFrame:
        return gpd.GeoDataFrame(self.frame.iloc[which].reset_index(drop=True),
                                geometry=gpd.GeoSeries(self.shapes.geometries(which), crs="EPSG:4326"))


def kind_of(geometry_type: str) -> str:
    return "point" if "Point" in geometry_type else ("line" if "Line" in geometry_type else "polygon")


def _check(args: Mapping, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        raise InvalidParameter(f"unknown parameter {unknown[0]!r}; accepted: {', '.join(allowed)}",
                               parameter=unknown[0])


class Tiles:
    """The tiles of one store (the raw store: permissions are the caller's ``store`` argument's,
    the overview is shared by everyone who may read the layer)."""

    def __init__(self, store: Store, *, cache_bytes: int = 128 << 20):
        self.store = store
        self.cache = http.AnswerCache(cache_bytes) if cache_bytes else None
        self._overviews: dict[str, Overview] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._counts: dict[str, tuple[str, int]] = {}
        self._styles: dict[str, tuple[str, dict]] = {}
        self._levels: OrderedDict[tuple, tuple[tuple[int, int], np.ndarray]] = OrderedDict()
        self._levels_size = 0
        self._level_lock = threading.Lock()
        self._building: set[str] = set()

    # -- what a layer looks like ----------------------------------------------------------------
    def _style(self, store: Store, layer: str) -> tuple[dict, str | None]:
        """The layer's style (as ``/api/layers`` gives it) and the field it colours by, read once
        per revision (the summary counts the layer)."""
        version = self.store.version()
        have = self._styles.get(layer)
        if have is None or have[0] != version:
            st = core.layer_summary(store, layer)["style"]
            have = self._styles[layer] = (version, st)
        return have[1], have[1].get("by")

    def _columns(self, fields: list[str], by: str | None) -> tuple[str, ...]:
        wanted = [catalog.KEY, *(f for f in ("district", "functional_area", "category", "status") if f in fields)]
        if by and by in fields and by not in wanted:
            wanted.append(by)
        return tuple(f for f in wanted if f in fields or f == catalog.KEY)

    @staticmethod
    def _colours(frame: pd.DataFrame, st: dict, by: str | None, opacity: float = 0.9) -> np.ndarray:
        default = raster.colour(st.get("color") or "#555555", int(255 * opacity))
        out = np.tile(np.array([default], dtype=np.uint8), (len(frame), 1))
        cats = st.get("categories") or {}
        if by and by in frame.columns and cats:
            values = frame[by].astype(object).where(frame[by].notna(), None).map(lambda v: None if v is None else str(v))
            for key, entry in cats.items():
                hit = (values == key).to_numpy()
                if hit.any():
                    out[hit] = raster.colour(entry["color"], int(255 * opacity))
        return out

    # -- the features of a tile -------------------------------------------------------------------
    def _query(self, store: Store, layer: str, args: Mapping) -> tuple[Query, list[str]]:
        fields = [f.name for f in store.fields(layer)]  # NotFound for a layer the asker may not read
        params = {k: v for k, v in args.items() if k in ("district", "category", "status", "as_of")}
        query, _ = layer_query(layer, fields, params, default_limit=None, max_limit=10**9)
        return replace(query, limit=None), fields

    def overview(self, store: Store, layer: str, fields: list[str]) -> Overview:
        """The layer's overview for the store as it is now (built once per revision; readers of
        the same layer wait for one build)."""
        version = self.store.version()
        have = self._overviews.get(layer)
        if have is not None and have.version == version:
            return have
        with self._guard:
            lock = self._locks.setdefault(layer, threading.Lock())
        with lock:
            have = self._overviews.get(layer)
            if have is not None and have.version == version:
                return have
            started = time.perf_counter()
            st, by = self._style(store, layer)
            columns = self._columns(fields, by)
            tolerance, kind = grid.degrees_per_pixel(OVERVIEW_MAX_ZOOM - 1) / 2, kind_of(st["geometry"])
            frames, pieces, counts, bounds = [], [], [], []
            for chunk in self.store.stream(layer, Query(columns=columns), chunk_size=100_000):
                g = np.asarray(chunk.geometry.values, dtype=object)
                bounds.append(shapely.bounds(g))
                pieces.append(raster.shapes(shapely.simplify(g, tolerance, preserve_topology=True), kind))  # as features()
                counts.append(len(g))
                frames.append(pd.DataFrame(chunk.drop(columns=chunk.geometry.name)))
            frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(columns))
            boxes = np.concatenate(bounds) if bounds else np.zeros((0, 4))
            built = Overview(version, frame, boxes, raster.concat(pieces, counts, kind),
                             self._colours(frame, st, by), 0.0, BoxIndex(boxes))
            del frames, pieces, bounds
            memory.give_back()  # the chunks read and simplified: freed, handed back to the system
            built.seconds = time.perf_counter() - started
            if self.store.version() == version:  # a write during the read: serve it, keep nothing
                self._overviews[layer] = built
            log.info("overview of %s: %d features in %.1f s", layer, len(frame), built.seconds)
            return built

    def _count(self, layer: str) -> int:
        version = self.store.version()
        have = self._counts.get(layer)
        if have is None or have[0] != version:
            have = self._counts[layer] = (version, self.store.count(layer, Query()))
        return have[1]

    def _from_overview(self, z: int, query: Query, layer: str) -> bool:
        simple = not (query.text or query.ranges or query.contains or query.as_of)
        if not (simple and z < OVERVIEW_MAX_ZOOM and self._count(layer) > OVERVIEW_MIN):
            return False
        if z < STORE_WHILE_BUILDING:
            return True
        have = self._overviews.get(layer)
        if have is not None and have.version == self.store.version():
            return True
        self._build_later(layer)
        return False

    def _build_later(self, layer: str) -> None:  # in a background thread, one at a time
        with self._guard:
            if layer in self._building:
                return
            self._building.add(layer)

        def build():
            try:
                self.overview(self.store, layer, [f.name for f in self.store.fields(layer)])
            except Exception:  # a background thread: nothing above it would report it
                log.exception("the overview of %s could not be built; tiles will try again", layer)
            finally:
                with self._guard:
                    self._building.discard(layer)

        threading.Thread(target=build, name=f"atlas-overview-{layer}", daemon=True).start()

    def warm(self, above: int) -> None:
        """Build the overview of every layer of more than ``above`` features (and
        ``OVERVIEW_MIN``) now, so the first zoomed-out view does not wait for it (a server's
        start-up runs this in the background). A failure is logged: the next tile meets it again."""
        started, done = time.perf_counter(), []
        try:
            for layer in self.store.layers():
                if self._count(layer) > max(above, OVERVIEW_MIN):
                    fields = [f.name for f in self.store.fields(layer)]
                    found = self.overview(self.store, layer, fields)
                    for z in WARM_ZOOMS:
                        self._level(self.store, layer, found, z, Query())
                    done.append(layer)
            log.info("tiles ready in %.1f s: %s", time.perf_counter() - started, ", ".join(done) or "no large layer")
        except Exception:  # a background thread: nothing above it would report it
            log.exception("the tiles' overviews could not be built ahead; tiles will build them when asked")

    def features(self, store: Store, layer: str, z: int, bbox, query: Query, fields: list[str],
                 by: str | None) -> gpd.GeoDataFrame:
        """The features of ``layer`` in ``bbox`` matching ``query``, simplified for zoom ``z``:
        from the overview when zoomed out, else the store's bbox query."""
        if query.ids == ():
            return gpd.GeoDataFrame({catalog.KEY: []}, geometry=gpd.GeoSeries([], crs="EPSG:4326"))
        if self._from_overview(z, query, layer):
            found = self.overview(store, layer, fields)
            return found.select(found.which(bbox, query))
        frame = store.query(layer, replace(query, bbox=bbox, columns=self._columns(fields, by)))
        tolerance = grid.degrees_per_pixel(z) / 2
        if z < 16 and len(frame):
            frame = frame.set_geometry(shapely.simplify(frame.geometry.values, tolerance, preserve_topology=True))
        return frame

    # -- the answers ------------------------------------------------------------------------------
    def tile(self, store: Store, layer: str, z: int, x: int, y: int, fmt: str, args: Mapping) -> Tile:
        """Tile ``z/x/y`` of ``layer`` in ``fmt`` (png, mvt) under ``args``' filters."""
        _check(args, TILE_PARAMS)
        if fmt not in FORMATS:
            raise InvalidParameter(f"tile format must be png or mvt, got {fmt!r}", parameter="format")
        grid.check_tile(z, x, y)
        query, fields = self._query(store, layer, args)
        key = f"{self.store.version()}|{layer}|{z}/{x}/{y}.{fmt}|{query.equals!r}|{query.ids!r}|{query.as_of}"
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            return Tile(hit.body, hit.mimetype)
        own = getattr(self.store, "tile_mvt", None)  # a store that encodes tiles itself (ST_AsMVT)
        if fmt == "mvt" and callable(own):
            body = own(layer, z, x, y, query)
        else:
            body = self._make(store, layer, z, x, y, fmt, query, fields)
        if self.cache is not None:
            self.cache.put(key, http.Answer(body, FORMATS[fmt], None))
        return Tile(body, FORMATS[fmt])

    def _draw_style(self, st: dict, kind: str, z: int) -> dict:
        weight = max(1, min(int(st.get("weight") or 2), 1 + z // 6)) if kind != "point" else 1
        radius = max(1.5, min(float(st.get("radius") or 6), (z - 6) * 0.6))
        return {"weight": weight, "radius": radius,
                "fill_opacity": float((st.get("overrides") or {}).get("fillOpacity", 0.3))}

    def _level(self, store: Store, layer: str, found: Overview, z: int, query: Query):
        """The picture of the whole layer (the features matching ``query``) at zoom ``z`` and its
        origin in the world's pixels, drawn once per revision and filters; None when too large."""
        key = (found.version, layer, z, repr(sorted(query.equals.items())), repr(query.ids))
        with self._level_lock:
            have = self._levels.get(key)
            if have is not None:
                self._levels.move_to_end(key)
                return have
            mask = found.mask((-180.0, -90.0, 180.0, 90.0), query)
            b = found.bounds[mask]
            if not len(b):
                return None
            x0, y0 = grid.to_pixels(np.array([b[:, 0].min()]), np.array([b[:, 3].max()]), z)
            x1, y1 = grid.to_pixels(np.array([b[:, 2].max()]), np.array([b[:, 1].min()]), z)
            origin = (int(np.floor(x0[0])) - PAD_PX * 2, int(np.floor(y0[0])) - PAD_PX * 2)
            shape = (int(np.ceil(x1[0])) + PAD_PX * 2 - origin[0], int(np.ceil(y1[0])) + PAD_PX * 2 - origin[1])
            if shape[0] * shape[1] > LEVEL_MAX_PIXELS:
                return None
            st, _ = self._style(store, layer)
            started = time.perf_counter()
            image = raster.render_area(found.shapes.only(mask), found.colours, z, origin, shape,
                                       **self._draw_style(st, kind_of(st["geometry"]), z))
            log.info("picture of %s at zoom %d (%dx%d px) in %.2f s", layer, z, shape[0], shape[1],
                     time.perf_counter() - started)
            self._levels[key] = (origin, image)
            self._levels_size += image.nbytes
            while self._levels_size > LEVELS_BYTES and len(self._levels) > 1:
                _, (_, dropped) = self._levels.popitem(last=False)
                self._levels_size -= dropped.nbytes
            return origin, image

    def _make(self, store, layer, z, x, y, fmt, query, fields) -> bytes:
        st, by = self._style(store, layer)
        kind = kind_of(st["geometry"])
        bbox = grid.tile_bounds(z, x, y, pad_px=PAD_PX if fmt == "png" else mvt.BUFFER / 16)
        if fmt == "mvt":
            frame = self.features(store, layer, z, bbox, query, fields, by)
            columns = [c for c in frame.columns if c != frame.geometry.name]
            props = core.records(frame[columns]) if len(frame) else []
            return mvt.encode(layer, frame.geometry.values, props, z, x, y)
        if query.ids == ():
            return raster.empty_png()
        if self._from_overview(z, query, layer):
            found = self.overview(store, layer, fields)
            level = self._level(store, layer, found, z, query) if z <= LEVEL_MAX_ZOOM else None
            if level is not None:
                piece = raster.crop(level[1], level[0], x, y)
                return raster.png(piece) if piece[:, :, 3].any() else raster.empty_png()
            which = found.which(bbox, query)
            if not len(which):
                return raster.empty_png()
            drawn, colours = found.shapes.take(which), found.colours
        else:
            frame = self.features(store, layer, z, bbox, query, fields, by)
            if not len(frame):
                return raster.empty_png()
            drawn, colours = raster.shapes(frame.geometry.values, kind), self._colours(frame, st, by)
        image = raster.render_shapes(drawn, colours, z, x, y, **self._draw_style(st, kind, z))
        return raster.png(image)

    def at(self, store: Store, layer: str, args: Mapping) -> bytes:
        """The feature of ``layer`` nearest the place ``lon``/``lat`` within a few pixels at
        ``zoom``, under the same filters as the tiles, as a GeoJSON FeatureCollection of it alone
        (every property, as ``/api/features/<id>``) or of none."""
        _check(args, AT_PARAMS)
        lon, lat = _coordinate(args, "lon", 180), _coordinate(args, "lat", 85)
        z = parse_int(args, "zoom", -1, 0, grid.MAX_ZOOM)
        if z < 0:
            raise InvalidParameter("zoom is required: the map's zoom, a whole number from 0 to 22", parameter="zoom")
        query, fields = self._query(store, layer, {k: v for k, v in args.items() if k not in ("lon", "lat", "zoom")})
        if query.ids == ():
            return core.feature_collection(gpd.GeoDataFrame({catalog.KEY: []}, geometry=[], crs="EPSG:4326"))
        reach = grid.degrees_per_pixel(z) * (PICK_PX + 1)
        near = (lon - reach, max(-90.0, lat - reach), lon + reach, min(90.0, lat + reach))
        frame = store.query(layer, replace(query, bbox=near, columns=None, limit=5000))
        found = pick.nearest(frame.geometry.values, lon, lat, z, tolerance_px=PICK_PX) if len(frame) else None
        chosen = frame.iloc[[]] if found is None else frame.iloc[[found]]
        json_fields = tuple(f.name for f in store.fields(layer) if f.type == "json")
        return core.feature_collection(chosen, layer=layer, json_fields=json_fields)


def _coordinate(args: Mapping, name: str, limit: float) -> float:
    try:
        value = float(args.get(name))
    except (TypeError, ValueError):
        value = float("nan")  # fails the range below
    if not -limit <= value <= limit:
        raise InvalidParameter(f"{name} must be degrees from -{limit} to {limit} (WGS84), got {args.get(name)!r}",
                               parameter=name)
    return value


def tiled(count: int, above: int) -> bool:
    """Whether the page draws a layer of ``count`` features as tiles (over ``above``; 0: never)."""
    return bool(above) and count > above


