"""Raster tiles drawn on the server: features in WGS84 and a colour each, to an RGBA array and a
PNG, with numpy doing the work for all features at once (lines and outlines sampled along their
segments, points stamped as discs) and Pillow filling polygons and writing the PNG.

Lines are ``weight`` pixels wide, points discs of ``radius`` pixels (a solid ring, the inside at
``point_fill``), polygons filled at ``fill_opacity`` with their outline solid. A feature later in
the input is drawn over an earlier one. No anti-aliasing: tiles are fast and small, and the
page's own canvas draws the smaller layers smoothly."""
from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np
import shapely
from PIL import Image, ImageDraw

from .grid import SIZE, to_lonlat, to_world

#: Pixels beyond the tile's edge that still count (a line's width, a point's disc reach over).
MARGIN = 16


def colour(hex_colour: str, alpha: int = 255) -> tuple[int, int, int, int]:
    """'#1f77b4' -> (31, 119, 180, alpha)."""
    text = hex_colour.lstrip("#")
    if len(text) == 3:
        text = "".join(c * 2 for c in text)
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16), alpha


def _offsets(width: int) -> np.ndarray:
    lo = -(width // 2)
    r = np.arange(lo, lo + max(1, width))
    return np.array([(dx, dy) for dy in r for dx in r])


@lru_cache(maxsize=32)
def _disc(radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Offsets of a disc's pixels, and whether each is on its rim."""
    r = int(np.ceil(radius))
    dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
    d = np.hypot(dx, dy)
    inside = d <= radius + 0.25
    return np.column_stack([dx[inside], dy[inside]]), d[inside] > radius - 1.25


def _stamp(image: np.ndarray, px: np.ndarray, py: np.ndarray, rgba: np.ndarray, offsets: np.ndarray) -> None:
    """``rgba[i]`` (RGBA bytes, or the same as one uint32 each) at pixel (px[i], py[i]) moved by
    each offset (later pixels over earlier)."""
    h, w = image.shape[:2]
    if not len(px) or not len(offsets):
        return
    values = rgba if rgba.dtype == np.uint32 else np.ascontiguousarray(rgba, dtype=np.uint8).view(np.uint32).ravel()
    # one offset at a time, each over all features in order (later over earlier; where two
    # features touch, an offset pixel of an earlier one may show at the edge of a later one).
    # On a canvas 2r wider each side (r: the offsets' reach) every offset of a pixel within r of
    # the image lands on it, so a pass is one addition and one assignment, with no test.
    r = int(np.abs(offsets).max())
    pad, wide = 2 * r, w + 4 * r
    ix, iy = np.floor(px).astype(np.int64), np.floor(py).astype(np.int64)
    near = (ix >= -r) & (ix < w + r) & (iy >= -r) & (iy < h + r)
    base = (iy[near] + pad) * wide + (ix[near] + pad)
    values = values[near]
    canvas = np.zeros((h + 4 * r, wide), dtype=np.uint32)
    canvas[pad:pad + h, pad:pad + w] = image.reshape(h, w, 4).view(np.uint32)[:, :, 0]
    flat = canvas.ravel()
    for shift in (offsets[:, 1] * wide + offsets[:, 0]).tolist():
        flat[base + shift] = values
    image[:] = canvas[pad:pad + h, pad:pad + w].copy().view(np.uint8).reshape(h, w, 4)


def _clip_segments(a: np.ndarray, b: np.ndarray, lo: float, hi):
    """Liang–Barsky for many segments at once: the parts of a→b inside the box from (lo, lo) to
    ``hi`` ((x, y)), and which segments have any."""
    hi = np.broadcast_to(np.asarray(hi, dtype="float64"), (2,))
    d = b - a
    t0 = np.zeros(len(a))
    t1 = np.ones(len(a))
    keep = np.ones(len(a), dtype=bool)
    for axis in (0, 1):
        for p, q in ((-d[:, axis], a[:, axis] - lo), (d[:, axis], hi[axis] - a[:, axis])):
            parallel = p == 0
            keep &= ~(parallel & (q < 0))
            with np.errstate(divide="ignore", invalid="ignore"):
                r = np.where(parallel, 0.0, q / np.where(parallel, 1.0, p))
            entering = (p < 0) & ~parallel
            leaving = (p > 0) & ~parallel
            t0 = np.where(entering, np.maximum(t0, r), t0)
            t1 = np.where(leaving, np.minimum(t1, r), t1)
    keep &= t0 <= t1
    return a + d * t0[:, None], a + d * t1[:, None], keep


def _lines(image: np.ndarray, coords: np.ndarray, part: np.ndarray, rgba: np.ndarray, width: int) -> None:
    """Linestrings drawn ``width`` pixels wide: their vertices ``coords`` (pixels), the line of each
    vertex ``part`` (vertices of a line together) and ``rgba`` by line number."""
    if len(coords) < 2:
        return
    same = part[1:] == part[:-1]
    a, b, owner = coords[:-1][same], coords[1:][same], part[:-1][same]
    lo, hi = -MARGIN, np.array([image.shape[1] + MARGIN, image.shape[0] + MARGIN], dtype="float64")
    inside = ((a >= lo) & (a <= hi) & (b >= lo) & (b <= hi)).all(axis=1)
    if not inside.all():  # only segments that cross the edge are clipped
        ca, cb, keep = _clip_segments(a[~inside], b[~inside], lo, hi)
        a = np.concatenate([a[inside], ca[keep]])
        b = np.concatenate([b[inside], cb[keep]])
        owner = np.concatenate([owner[inside], owner[~inside][keep]])
    if not len(a):
        return
    d = (b - a).astype(np.float32)
    # a sample every 0.9 pixel from each segment's start (its end is the next segment's start)
    steps = np.maximum(1, np.ceil(np.hypot(d[:, 0], d[:, 1]) / 0.9)).astype(np.int64)
    seg = np.repeat(np.arange(len(a)), steps)
    t = ((np.arange(len(seg)) - np.repeat(np.cumsum(steps) - steps, steps)) / steps[seg]).astype(np.float32)
    px = a[seg, 0] + d[seg, 0] * t
    py = a[seg, 1] + d[seg, 1] * t
    _stamp(image, px, py, np.ascontiguousarray(rgba, dtype=np.uint8).view(np.uint32).ravel()[owner[seg]], _offsets(width))


def _polygon_fill(image: np.ndarray, coords: np.ndarray, ring: np.ndarray, exterior: np.ndarray,
                  rgba: np.ndarray) -> None:
    """Polygons filled, their holes left empty, later ones over earlier: ring vertices ``coords``
    (pixels), the ring of each vertex ``ring``, and per ring whether it is an ``exterior`` and its
    ``rgba``. Rings under a pixel across are left to the outline."""
    hi_x, hi_y = image.shape[1] + MARGIN, image.shape[0] + MARGIN
    starts = np.flatnonzero(np.r_[True, ring[1:] != ring[:-1]])
    ends = np.r_[starts[1:], len(ring)]
    lo = np.minimum.reduceat(coords, starts, axis=0)
    hi = np.maximum.reduceat(coords, starts, axis=0)
    ids = ring[starts]
    big = (((hi - lo) >= 1).any(axis=1) & (hi >= -MARGIN).all(axis=1) & (lo[:, 0] <= hi_x) & (lo[:, 1] <= hi_y)
           & (ends - starts >= 3))
    if not big.any():
        return
    canvas = Image.fromarray(image, "RGBA")
    draw = ImageDraw.Draw(canvas)
    for s, e, r in zip(starts[big].tolist(), ends[big].tolist(), ids[big].tolist()):
        draw.polygon(coords[s:e].ravel().tolist(), fill=tuple(rgba[r].tolist()) if exterior[r] else (0, 0, 0, 0))
    image[:] = np.asarray(canvas)


@dataclass(frozen=True)
class Shapes:
    """Features as flat arrays, ready to draw at any tile: every vertex in world coordinates
    (``grid.to_world``, 0..1) with the part (line, ring, point) it belongs to, parts contiguous;
    per part the feature it belongs to and, for polygons, whether it is an exterior ring."""

    kind: str
    coords: np.ndarray      # (V, 2) float64
    part: np.ndarray        # (V,) part of each vertex
    owner: np.ndarray       # (P,) feature of each part
    exterior: np.ndarray    # (P,) bool
    vertex_owner: np.ndarray  # (V,) feature of each vertex

    def only(self, features: np.ndarray) -> Shapes:
        """The vertices of the features where ``features`` (a mask over features) is true; part
        and feature numbers are kept, so per-part and per-feature arrays still apply."""
        keep = features[self.vertex_owner]
        return Shapes(self.kind, self.coords[keep], self.part[keep], self.owner, self.exterior, self.vertex_owner[keep])

    @cached_property
    def _feature_starts(self) -> np.ndarray:
        """Where each feature's vertices begin (vertices are in feature order), and the end."""
        n = int(self.owner.max()) + 1 if len(self.owner) else 0
        return np.searchsorted(self.vertex_owner, np.arange(n + 1))

    def take(self, features: np.ndarray) -> Shapes:
        """The features numbered ``features`` (ascending), gathered without looking at the others:
        their vertices in order, their parts numbered anew from 0 (``owner`` and ``exterior`` cut to
        them), their feature numbers kept (per-feature arrays still apply)."""
        starts = self._feature_starts
        features = np.asarray(features, dtype=np.int64)
        features = features[features < len(starts) - 1]
        lo, hi = starts[features], starts[features + 1]
        counts = hi - lo
        vertices = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        old = self.part[vertices]
        first = np.r_[True, old[1:] != old[:-1]] if len(old) else np.zeros(0, dtype=bool)
        kept = old[first]
        return Shapes(self.kind, self.coords[vertices], np.cumsum(first) - 1, self.owner[kept], self.exterior[kept],
                      self.vertex_owner[vertices])

    def geometries(self, features: np.ndarray) -> np.ndarray:
        """The features numbered ``features`` (ascending) as shapely geometries in longitude and
        latitude (the vertices kept here, made anew: no geometry is held beside these arrays): a
        MultiPoint, MultiLineString or MultiPolygon each, None for one without vertices."""
        features = np.asarray(features, dtype=np.int64)
        out = np.full(len(features), None, dtype=object)
        got = self.take(features)
        if not len(got.coords):
            return out
        lon, lat = to_lonlat(got.coords[:, 0], got.coords[:, 1])
        xy = np.column_stack([lon, lat])
        present = np.unique(got.vertex_owner)  # the features with vertices, numbered 0.. among them
        part_owner = np.searchsorted(present, got.owner)
        if self.kind == "point":
            parts = shapely.points(xy)
            made = shapely.multipoints(parts, indices=np.searchsorted(present, got.vertex_owner))
        elif self.kind == "line":
            parts = shapely.linestrings(xy, indices=got.part)
            made = shapely.multilinestrings(parts, indices=part_owner)
        else:
            rings = shapely.linearrings(xy, indices=got.part)
            polygon_of_ring = np.cumsum(got.exterior) - 1  # a polygon begins at each exterior ring
            polygons = shapely.polygons(rings, indices=polygon_of_ring)
            first = np.r_[True, polygon_of_ring[1:] != polygon_of_ring[:-1]]
            made = shapely.multipolygons(polygons, indices=part_owner[first])
        out[np.searchsorted(features, present)] = made
        return out


def shapes(geoms, kind: str) -> Shapes:
    """``geoms`` (WGS84) of one ``kind`` ('point', 'line', 'polygon') as ``Shapes``; missing and
    empty geometries have no vertices."""
    geoms = np.asarray(geoms, dtype=object)
    if kind == "point":
        parts, owner = shapely.get_parts(geoms, return_index=True)
        exterior = np.zeros(len(parts), dtype=bool)
    else:
        parts, owner = shapely.get_parts(geoms, return_index=True)
        if kind == "polygon":
            polygon = shapely.get_type_id(parts) == 3
            parts, owner = parts[polygon], owner[polygon]
            rings, ring_of = shapely.get_rings(parts, return_index=True)
            exterior = np.r_[True, ring_of[1:] != ring_of[:-1]] if len(rings) else np.zeros(0, dtype=bool)
            parts, owner = rings, owner[ring_of]
        else:
            exterior = np.zeros(len(parts), dtype=bool)
    coords, part = shapely.get_coordinates(parts, return_index=True)
    wx, wy = to_world(coords[:, 0], coords[:, 1]) if len(coords) else (np.zeros(0), np.zeros(0))
    return Shapes(kind, np.column_stack([wx, wy]), part, owner, exterior, owner[part] if len(part) else part)


def concat(pieces: list[Shapes], counts: list[int], kind: str) -> Shapes:
    """The ``Shapes`` of consecutive runs of features as one (``counts``: the features of each run,
    so its feature numbers follow the runs before it)."""
    if not pieces:
        return shapes(np.array([], dtype=object), kind)
    feature_at = np.cumsum([0, *counts[:-1]])
    part_at = np.cumsum([0, *(len(p.owner) for p in pieces[:-1])])
    return Shapes(kind, np.concatenate([p.coords for p in pieces]).reshape(-1, 2),
                  np.concatenate([p.part + k for p, k in zip(pieces, part_at)]),
                  np.concatenate([p.owner + f for p, f in zip(pieces, feature_at)]),
                  np.concatenate([p.exterior for p in pieces]),
                  np.concatenate([p.vertex_owner + f for p, f in zip(pieces, feature_at)]))


def render_shapes(found: Shapes, colours: np.ndarray, z: int, x: int, y: int, *, size: int = SIZE,
                  **style) -> np.ndarray:
    """The tile ``z/x/y`` (``size`` pixels square, RGBA) of ``found`` in ``colours`` ((n, 4)
    uint8, one a feature, by feature number); ``style`` as for ``render_area``."""
    return render_area(found, colours, z, (x * size, y * size), (size, size), tile_size=size, **style)


def render_area(found: Shapes, colours: np.ndarray, z: int, origin: tuple[int, int], shape: tuple[int, int], *,
                weight: int = 2, radius: float = 5, fill_opacity: float = 0.3, point_fill: float = 0.85,
                tile_size: int = SIZE) -> np.ndarray:
    """A ``shape`` (width, height) piece of the world's pixels at zoom ``z`` (``tile_size`` a
    tile) from pixel ``origin`` (x, y): RGBA, ``found`` drawn in ``colours``."""
    image = np.zeros((shape[1], shape[0], 4), dtype=np.uint8)
    if not len(found.coords):
        return image
    colours = np.asarray(colours, dtype=np.uint8).reshape(-1, 4)
    scale = float(1 << z) * tile_size
    coords = found.coords * scale - np.array(origin, dtype="float64")
    if found.kind == "point":
        offsets, rim = _disc(radius)
        solid = colours[found.vertex_owner]
        inner = solid.copy()
        inner[:, 3] = (inner[:, 3] * point_fill).astype(np.uint8)
        _stamp(image, coords[:, 0], coords[:, 1], inner, offsets[~rim])
        _stamp(image, coords[:, 0], coords[:, 1], solid, offsets[rim])
        return image
    part_colour = colours[found.owner]
    if found.kind == "polygon":
        fill = part_colour.copy()
        fill[:, 3] = (fill[:, 3] * fill_opacity).astype(np.uint8)
        _polygon_fill(image, coords, found.part, found.exterior, fill)
        _lines(image, coords, found.part, part_colour, max(1, weight // 2))
        return image
    _lines(image, coords, found.part, part_colour, weight)
    return image


def render(geoms, colours: np.ndarray, z: int, x: int, y: int, *, kind: str, **style) -> np.ndarray:
    """The tile ``z/x/y`` of ``geoms`` (WGS84) in ``colours`` ((n, 4) uint8, one a feature):
    ``kind`` 'point', 'line' or 'polygon'; ``style`` as for ``render_shapes``."""
    return render_shapes(shapes(geoms, kind), colours, z, x, y, **style)


def crop(image: np.ndarray, origin: tuple[int, int], x: int, y: int, size: int = SIZE) -> np.ndarray:
    """The tile whose top-left world pixel is (x * size, y * size) cut from ``image``, a piece of
    the world's pixels starting at ``origin``; transparent where the piece does not reach."""
    out = np.zeros((size, size, 4), dtype=np.uint8)
    left, top = x * size - origin[0], y * size - origin[1]
    h, w = image.shape[:2]
    x0, y0, x1, y1 = max(0, left), max(0, top), min(w, left + size), min(h, top + size)
    if x0 < x1 and y0 < y1:
        out[y0 - top:y1 - top, x0 - left:x1 - left] = image[y0:y1, x0:x1]
    return out


def png(image: np.ndarray) -> bytes:
    """An RGBA array as PNG bytes (fast compression: tiles are made per request)."""
    out = io.BytesIO()
    Image.fromarray(image, "RGBA").save(out, format="PNG", compress_level=1)
    return out.getvalue()


@lru_cache(maxsize=1)
def empty_png() -> bytes:
    return png(np.zeros((SIZE, SIZE, 4), dtype=np.uint8))
