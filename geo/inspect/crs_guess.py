"""Which coordinate system data with no (or a doubtful) CRS is in, scored against a reference area.

Each candidate — degrees (WGS84/CGCS2000), CGCS2000 Gauss-Krüger 3° zones 40 and 41 with and
without the zone prefix, 6° zone 21, Web Mercator, the GCJ-02 and BD-09 offsets, and each of those
with the axes swapped — turns a sample of the data's vertices into WGS84; its score is the share
that falls in the reference area (the caller's outline or bbox, widened by ``margin_m``).

The offsets move data by only ~450 m (GCJ-02) or ~1.2 km (BD-09), so the area alone cannot tell
them from plain degrees. Given reference features (official boundaries, known points), the median
distance from the data to them settles it: the candidate that brings the data onto them wins, and
the others' scores are scaled down by how much farther off they sit. Without a conclusive reference,
plain degrees rank first and the reason says the offsets were not tested. Nothing here guesses in
silence: when no candidate scores ``min_share``, the answer is "no usable CRS".
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import shapely
from pyproj import CRS, Transformer

from .. import crs as named
from ..errors import CRSError


@dataclass(frozen=True)
class Candidate:
    key: str                        # "EPSG:4529", "EPSG:4529/swapped", "GCJ-02"
    crs: str                        # for geo.crs / pyproj: "EPSG:4529", "GCJ-02", "BD-09" or a WKT
    zh: str
    en: str
    swapped: bool = False           # the file's x holds northing/latitude
    equivalents: tuple[str, ...] = ()   # codes that give the same coordinates
    offset: bool = False            # GCJ-02 or BD-09
    degrees: bool = False


def _base() -> list[Candidate]:
    return [
        Candidate(named.WGS84, named.WGS84, "WGS84 / CGCS2000 经纬度", "WGS84 / CGCS2000 degrees",
                  equivalents=(named.CGCS2000,), degrees=True),
        Candidate("EPSG:4550", "EPSG:4550", "CGCS2000 3度带高斯-克吕格 中央经线123°E(无带号)",
                  "CGCS2000 3-degree GK CM 123E (no zone prefix)", equivalents=("EPSG:4510",)),
        Candidate("EPSG:4529", "EPSG:4529", "CGCS2000 3度带高斯-克吕格 41带(带号41)",
                  "CGCS2000 3-degree GK zone 41 (prefix 41)"),
        Candidate("EPSG:4549", "EPSG:4549", "CGCS2000 3度带高斯-克吕格 中央经线120°E(无带号)",
                  "CGCS2000 3-degree GK CM 120E (no zone prefix)"),
        Candidate("EPSG:4528", "EPSG:4528", "CGCS2000 3度带高斯-克吕格 40带(带号40)",
                  "CGCS2000 3-degree GK zone 40 (prefix 40)"),
        Candidate("EPSG:4499", "EPSG:4499", "CGCS2000 6度带高斯-克吕格 21带(带号21)",
                  "CGCS2000 6-degree GK zone 21 (prefix 21)"),
        Candidate(named.WEB_MERCATOR, named.WEB_MERCATOR, "Web 墨卡托", "Web Mercator"),
        Candidate(named.GCJ02, named.GCJ02, "GCJ-02 火星坐标(高德、腾讯)", "GCJ-02 (Amap/Gaode, Tencent)",
                  offset=True, degrees=True),
        Candidate(named.BD09, named.BD09, "BD-09 百度坐标", "BD-09 (Baidu)", offset=True, degrees=True),
    ]


def _swapped(c: Candidate) -> Candidate:
    return replace(c, key=f"{c.key}/swapped", zh=f"{c.zh},X/Y 颠倒", en=f"{c.en}, axes swapped", swapped=True)


#: every candidate, in the order ties are broken
CANDIDATES: tuple[Candidate, ...] = (*_base(), *(_swapped(c) for c in _base()))


@dataclass(frozen=True)
class Scored:
    candidate: Candidate
    score: float            # what the ranking uses, 0..1
    inside: float           # share of sampled points inside the reference area
    offset_m: float | None  # median distance to the reference features, metres (None: not measured)
    reason_zh: str
    reason_en: str


@dataclass(frozen=True)
class DeclaredCheck:
    declared: str
    scored: Scored
    plausible: bool
    reason_zh: str
    reason_en: str


@dataclass(frozen=True)
class CRSGuess:
    ranked: tuple[Scored, ...]      # every candidate, best first
    usable: bool                    # the first scores at least min_share
    ambiguous: bool                 # the runner-up, a different system, scores almost as well
    sample_size: int
    reason_zh: str
    reason_en: str
    declared: DeclaredCheck | None = None

    @property
    def best(self) -> Scored | None:
        return self.ranked[0] if self.usable else None

    @property
    def runner_up(self) -> Scored | None:
        return self.ranked[1] if len(self.ranked) > 1 else None

    def require(self, file: str) -> Candidate:
        """The best candidate, or a CRSError that says what to do."""
        if self.best is not None:
            return self.best.candidate
        raise CRSError(f"{file}: {self.reason_en}; give the coordinate system by hand (crs=EPSG:...), "
                       "or export the layer again with its .prj", parameter="crs")

    def to_dict(self) -> dict:
        return asdict(self)


# -- geometry helpers --------------------------------------------------------------------------
def _coords(data) -> np.ndarray:
    if isinstance(data, np.ndarray) and data.dtype.kind == "f":
        xy = data.reshape(-1, data.shape[-1])[:, :2]
    else:
        geoms = np.asarray(getattr(data, "values", data), dtype=object)
        xy = shapely.get_coordinates(geoms)
    return xy[np.isfinite(xy).all(axis=1)]


def _sample(xy: np.ndarray, size: int) -> np.ndarray:
    if len(xy) <= size:
        return xy
    pick = np.random.default_rng(0).choice(len(xy), size, replace=False)
    return xy[np.sort(pick)]


class _Frame:
    """A local azimuthal equidistant frame (metres) around the reference area."""

    def __init__(self, area, margin_m: float, reference):
        if isinstance(area, (tuple, list)) and len(area) == 4:
            area = shapely.box(*area)
        lon, lat = area.centroid.x, area.centroid.y
        local = CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m")
        self._to = Transformer.from_crs("EPSG:4326", local, always_xy=True)
        self.zone = self.local(area)
        if margin_m > 0:
            self.zone = self.zone.buffer(margin_m)
        shapely.prepare(self.zone)
        self.tree = None
        if reference is not None:
            pieces = _pieces(self.local(np.asarray(getattr(reference, "values", reference), dtype=object)))
            if len(pieces):
                self.tree = shapely.STRtree(pieces)

    def local(self, geoms):
        return shapely.transform(geoms, lambda xy: np.column_stack(self._to.transform(xy[:, 0], xy[:, 1])))

    def local_xy(self, lonlat: np.ndarray) -> np.ndarray:
        x, y = self._to.transform(lonlat[:, 0], lonlat[:, 1])
        return np.column_stack([x, y])


def _pieces(geoms) -> np.ndarray:
    """Reference features as points and two-point segments (polygons by their rings), so the
    nearest one is found through an index, not by walking every vertex."""
    geoms = np.atleast_1d(geoms)
    geoms = geoms[~shapely.is_empty(geoms) & ~shapely.is_missing(geoms)]
    kinds = shapely.get_type_id(geoms)
    points = shapely.get_parts(geoms[np.isin(kinds, (0, 4))])
    lines = geoms[~np.isin(kinds, (0, 4))]
    lines = shapely.get_parts(np.where(np.isin(shapely.get_type_id(lines), (3, 6)), shapely.boundary(lines), lines))
    lines = shapely.get_parts(lines)
    xy, index = shapely.get_coordinates(lines, return_index=True)
    same = index[1:] == index[:-1]
    segments = shapely.linestrings(np.stack([xy[:-1][same], xy[1:][same]], axis=1))
    return np.concatenate([points, segments])


def _to_wgs84(c: Candidate, xy: np.ndarray) -> np.ndarray:
    xy = xy[:, ::-1] if c.swapped else xy
    if c.degrees:
        ok = (np.abs(xy[:, 0]) <= 180) & (np.abs(xy[:, 1]) <= 90)
        xy = np.where(ok[:, None], xy, np.nan)
        if c.crs == named.GCJ02:
            return named.gcj02_to_wgs84_xy(xy)
        if c.crs == named.BD09:
            return named.bd09_to_wgs84_xy(xy)
        if c.crs in (named.WGS84, named.CGCS2000):
            return xy
    with np.errstate(all="ignore"):
        x, y = named.transformer(c.crs, named.WGS84).transform(xy[:, 0], xy[:, 1], errcheck=False)
    out = np.column_stack([x, y])
    out[~np.isfinite(out).all(axis=1) | (np.abs(out[:, 1]) > 90)] = np.nan
    return out


def _measure(c: Candidate, xy: np.ndarray, frame: _Frame) -> tuple[float, float | None]:
    lonlat = _to_wgs84(c, xy)
    good = np.isfinite(lonlat).all(axis=1)
    if not good.any():
        return 0.0, None
    local = frame.local_xy(lonlat[good])
    inside = shapely.contains_xy(frame.zone, local[:, 0], local[:, 1])
    share = float(inside.sum()) / len(xy)
    if frame.tree is None or not inside.any():
        return share, None
    _, dist = frame.tree.query_nearest(shapely.points(local[inside]), return_distance=True, all_matches=False)
    return share, float(np.median(dist))


def _reason(c: Candidate, inside: float, offset: float | None, n: int) -> tuple[str, str]:
    zh = f"抽样 {n} 点中 {inside:.0%} 落在参考范围内"
    en = f"{inside:.0%} of {n} sampled points fall in the reference area"
    if offset is not None:
        zh += f",距参考要素中位 {offset:,.0f} 米"
        en += f", median {offset:,.0f} m from the reference features"
    if c.equivalents:
        zh += f"(与 {', '.join(c.equivalents)} 坐标相同)"
        en += f" (same coordinates as {', '.join(c.equivalents)})"
    return zh, en


# -- the guess -----------------------------------------------------------------------------------
def guess_crs(data, area, *, reference=None, declared=None, sample: int = 2000, margin_m: float = 1000.0,
              min_share: float = 0.6, align_m: float = 150.0) -> CRSGuess:
    """Rank the candidate coordinate systems of ``data`` (a GeoSeries, an array of shapely
    geometries, or an (N, 2) array of x, y) against ``area``, a WGS84 polygon or (minx, miny, maxx,
    maxy). ``reference``: WGS84 features the data should line up with (boundaries, known points),
    which tell the GCJ-02/BD-09 offsets from plain degrees when some candidate brings the data
    within ``align_m`` metres of them. ``declared``: the CRS a .prj or the user gave, checked too."""
    xy = _sample(_coords(data), sample)
    n = len(xy)
    frame = _Frame(area, margin_m, reference)
    measured = {c.key: _measure(c, xy, frame) for c in CANDIDATES} if n else {}
    scores = _scores(measured, align_m, min_share)
    top_degrees = max((c for c in CANDIDATES if c.degrees), key=lambda c: scores.get(c.key, 0.0))
    offsets_note = _offsets_note(measured, scores, align_m, frame.tree is not None, top_degrees.swapped)
    ranked = []
    for i, c in enumerate(CANDIDATES):
        inside, offset = measured.get(c.key, (0.0, None))
        zh, en = _reason(c, inside, offset, n)
        if offsets_note and c is top_degrees:
            zh, en = f"{zh};{offsets_note[0]}", f"{en}; {offsets_note[1]}"
        ranked.append((-round(scores.get(c.key, 0.0), 3), i, Scored(c, scores.get(c.key, 0.0), inside, offset, zh, en)))
    ordered = tuple(s for *_, s in sorted(ranked, key=lambda t: t[:2]))
    best = ordered[0]
    usable = n > 0 and best.score >= min_share
    ambiguous = usable and ordered[1].score >= best.score - 0.05
    if not n:
        zh, en = "数据没有可用的坐标", "no usable CRS: the data has no finite coordinates"
    elif usable:
        zh, en = f"最可能是 {best.candidate.key}({best.candidate.zh})", f"most likely {best.candidate.key} ({best.candidate.en})"
        if ambiguous:
            zh += f",但 {ordered[1].candidate.key} 几乎一样好:请在预览图上选择"
            en += f", but {ordered[1].candidate.key} fits almost as well: choose on the preview map"
    else:
        zh = (f"没有可用的坐标系:最好的 {best.candidate.key} 也只有 {best.inside:.0%} 的点落在参考范围内")
        en = (f"no usable CRS: even the best candidate, {best.candidate.key} ({best.candidate.en}), puts only "
              f"{best.inside:.0%} of the points in the reference area (needs {min_share:.0%})")
    guess = CRSGuess(ordered, usable, ambiguous, n, zh, en)
    if declared is not None:
        guess = replace(guess, declared=_check_declared(declared, xy, frame, guess, min_share))
    return guess


def _scores(measured: dict, align_m: float, min_share: float) -> dict[str, float]:
    """Inside shares, with the degree candidates (plain, GCJ-02, BD-09; each axis order) scaled by
    their fit to the reference when that fit is conclusive, else the offsets capped at plain's."""
    scores = {k: v[0] for k, v in measured.items()}
    for swapped in (False, True):
        family = [c for c in CANDIDATES if c.degrees and c.swapped == swapped and c.key in measured]
        plain = next((c for c in family if not c.offset), None)
        if plain is None:
            continue
        fits = {c.key: measured[c.key][1] for c in family
                if measured[c.key][1] is not None and measured[c.key][0] >= min_share}
        if fits and min(fits.values()) <= align_m:
            d_best = min(fits.values())
            for c in family:
                d = fits.get(c.key)
                scores[c.key] *= 0.0 if d is None else (d_best + 25.0) / (d + 25.0)
        else:
            for c in family:
                if c.offset:
                    scores[c.key] = min(scores[c.key], scores[plain.key])
    return scores


def _offsets_note(measured, scores, align_m, have_reference, swapped) -> tuple[str, str] | None:
    family = [c.key for c in CANDIDATES if c.degrees and c.swapped == swapped]  # plain, GCJ-02, BD-09
    plain = measured.get(family[0])
    if plain is None or plain[0] == 0:
        return None
    if not have_reference:
        return ("未提供参考要素,无法区分 GCJ-02/BD-09 偏移",
                "no reference features were given, so GCJ-02/BD-09 offsets were not tested")
    fits = [measured[k][1] for k in family if measured[k][1] is not None]
    if not fits or min(fits) > align_m:
        return ("数据与参考要素在任何偏移下都不重合,无法判断 GCJ-02/BD-09",
                "the data lines up with the reference features under no offset, so GCJ-02/BD-09 could not be told apart")
    best = max(family, key=lambda k: scores[k])
    if best == family[0]:
        return None
    away = plain[1]
    return (f"按 WGS84 读,数据偏离参考要素约 {away:,.0f} 米,按 {best} 读则重合",
            f"read as WGS84 the data sits {away:,.0f} m off the reference features; read as {best} it lines up")


def _declared_candidate(declared) -> Candidate:
    text = str(declared).strip()
    try:
        name = named.normalise(text)
    except CRSError:
        name = None
    if name in (named.GCJ02, named.BD09):
        return next(c for c in CANDIDATES if c.key == name)
    try:
        crs = CRS.from_user_input(declared)
    except Exception as err:  # pyproj raises CRSError of its own for any unreadable text
        raise CRSError(f"the declared coordinate system cannot be read ({str(err)[:120]}); give it as EPSG:<code> "
                       "or a WKT", parameter="crs", status=400) from None
    code = crs.to_epsg()
    key = f"EPSG:{code}" if code else crs.name
    for c in CANDIDATES:
        if not c.swapped and (c.key == key or key in c.equivalents):
            return c
    return Candidate(key, key if code else crs.to_wkt(), crs.name, crs.name, degrees=crs.is_geographic)


def _check_declared(declared, xy, frame, guess: CRSGuess, min_share: float) -> DeclaredCheck:
    c = _declared_candidate(declared)
    scored = next((s for s in guess.ranked if s.candidate.key == c.key), None)
    if scored is None:
        inside, offset = _measure(c, xy, frame)
        scored = Scored(c, inside, inside, offset, *_reason(c, inside, offset, len(xy)))
    best = guess.best
    plausible = scored.score >= min_share and (best is None or scored.score >= best.score - 0.05)
    if plausible:
        return DeclaredCheck(c.key, scored, True, f"声明的 {c.key} 与数据相符", f"the declared {c.key} fits the data")
    zh = f"声明的坐标系 {c.key} 看来不对:按它只有 {scored.inside:.0%} 的点落在参考范围内"
    en = f"the declared {c.key} looks wrong: under it only {scored.inside:.0%} of the points fall in the reference area"
    if c.degrees and len(xy) and np.abs(xy).max() > 360:
        zh += f"(坐标大到 {np.abs(xy).max():,.0f},像是米而不是度)"
        en += f" (coordinates up to {np.abs(xy).max():,.0f}: metres, not degrees)"
    if scored.score >= min_share and best is not None:
        en = f"the declared {c.key} puts the data in the area, but {best.candidate.key} fits better: {best.reason_en}"
        zh = f"声明的 {c.key} 能落在范围内,但 {best.candidate.key} 更吻合:{best.reason_zh}"
    elif best is not None:
        zh += f";{best.candidate.key} 更吻合({best.inside:.0%})"
        en += f"; {best.candidate.key} ({best.candidate.en}) fits, with {best.inside:.0%}"
    return DeclaredCheck(c.key, scored, False, zh, en)
