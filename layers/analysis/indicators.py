"""Planning indicators (指标模型) computed from the registry's declarations
(``indicator_registry``): per district (the polygons of the ``districts`` layer, in EPSG:4550, as
``stats`` splits by geometry) and for the city, with the base said in words, the warning level
against the declared bands, and ``as_of`` / ``compare`` (the same indicator at two times side by
side, with the change). No Flask here.

Kinds: ``buffer_coverage`` (park service radii by size class), ``tiered_coverage`` (5/10/15-minute
life circles, straight line with a detour factor) and ``land_figures`` (number, area in 亩 and
share of the district area by status, from ``stats.statistics``). ``compute(store, id, args)`` is
``GET /api/indicators/<id>`` and ``flask --app server indicator``; ``indicator_tables`` writes
its table (CSV, text).
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
import shapely

from geo.errors import InvalidParameter, NotFound
from geo.measure import BUFFER_QUAD_SEGS, M2_PER_MU, MEASURE_CRS, projected, repaired
from geo.store import Query, Store

from .. import catalog
from ..api.params import parse_time, split_list
from . import indicator_registry as registry
from .indicator_registry import Indicator
from .stats import DISTRICTS_LAYER, divisions, label, statistics

KINDS = ("buffer_coverage", "tiered_coverage", "land_figures")
QUAD_SEGS = BUFFER_QUAD_SEGS  # (geo.measure: one polygon of a circle for every analysis)
#: Parameters of every indicator besides its declared ones.
COMMON = ("as_of", "compare", "format", "lang")
FORMATS = ("json", "csv")
LANGS = ("zh", "en")
CITY = "371000"
TIERS = ("5", "10", "15")

MEASURES = {  # kind: (name, title, decimals)
    "buffer_coverage": (("covered_m2", {"zh": "覆盖面积(平方米)", "en": "Covered (m²)"}, 2),
                        ("base_m2", {"zh": "基数面积(平方米)", "en": "Base (m²)"}, 2),
                        ("parks", {"zh": "计入公园(个)", "en": "Parks counted"}, 0)),
    "tiered_coverage": (("tier_5_pct", {"zh": "5分钟覆盖率(%)", "en": "5-minute (%)"}, 2),
                        ("tier_10_pct", {"zh": "10分钟覆盖率(%)", "en": "10-minute (%)"}, 2),
                        ("tier_15_pct", {"zh": "15分钟覆盖率(%)", "en": "15-minute (%)"}, 2),
                        ("base_m2", {"zh": "基数面积(平方米)", "en": "Base (m²)"}, 2)),
    "land_figures": (("count", {"zh": "数量(个)", "en": "Count"}, 0),
                     ("area_m2", {"zh": "面积(平方米)", "en": "Area (m²)"}, 2),
                     ("area_mu", {"zh": "面积(亩)", "en": "Area (mu)"}, 2),
                     ("district_m2", {"zh": "行政区面积(平方米)", "en": "District area (m²)"}, 2)),
}
NO_BASE = {"zh": "无基数", "en": "no base"}
NO_LEVEL = {"zh": "未设门槛", "en": "no threshold declared"}


def _t(zh: str, en: str) -> dict:
    return {"zh": zh, "en": en}


# -- the registry ----------------------------------------------------------------------------------
def listing() -> dict:
    """``GET /api/indicators``: every declaration."""
    return {"indicators": [i.describe() for i in registry.INDICATORS], "crs": MEASURE_CRS,
            "districts_layer": DISTRICTS_LAYER}


def indicator(indicator_id: str) -> Indicator:
    found = registry.get(indicator_id)
    if found is None:
        raise NotFound(f"no indicator {indicator_id!r}; the indicators are {', '.join(registry.ids())} "
                       "(listed in /api/indicators)", parameter="indicator")
    return found


# -- parameters ------------------------------------------------------------------------------------
def parse_params(ind: Indicator, args: Mapping) -> dict:
    """The indicator's parameters from ``args`` (strings, as a query string gives them), each
    checked, the defaults filled in. Unknown names and bad values: InvalidParameter naming them."""
    names = [p.name for p in ind.params]
    unknown = sorted(set(args) - set(names) - set(COMMON))
    if unknown:
        raise InvalidParameter(f"unknown parameter {unknown[0]!r} for indicator {ind.id}; it takes "
                               f"{', '.join(names + list(COMMON))}", parameter=unknown[0])
    out: dict = {}
    for p in ind.params:
        raw = args.get(p.name)
        if raw is None or (str(raw).strip() == "" and p.kind != "list" and not p.optional):
            out[p.name] = p.default
            continue
        text = str(raw).strip()
        if p.kind == "number":
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            bounds = (f"{p.minimum:g}" if p.minimum is not None else "-inf",
                      f"{p.maximum:g}" if p.maximum is not None else "inf")
            if (not math.isfinite(value) or (p.minimum is not None and value < p.minimum)
                    or (p.maximum is not None and value > p.maximum)):
                raise InvalidParameter(f"{p.name} must be a number from {bounds[0]} to {bounds[1]}"
                                       f"{' ' + p.unit if p.unit else ''} ({p.title['en']}), got {raw!r}",
                                       parameter=p.name)
            out[p.name] = value
        elif p.kind == "choice":
            if text not in p.choices:
                raise InvalidParameter(f"{p.name} must be one of {', '.join(p.choices)}, got {raw!r}", parameter=p.name)
            out[p.name] = text
        elif p.kind == "list":
            out[p.name] = ",".join(split_list(text))
        else:  # layer
            out[p.name] = text
    if ind.kind == "buffer_coverage" and out["size_small"] > out["size_large"]:
        raise InvalidParameter(f"size_small ({out['size_small']:g} m²) must not exceed size_large "
                               f"({out['size_large']:g} m²)", parameter="size_small")
    if ind.kind == "tiered_coverage" and not out["walk_5"] <= out["walk_10"] <= out["walk_15"]:
        raise InvalidParameter("the walking distances must grow with the tier: walk_5 <= walk_10 <= walk_15, got "
                               f"{out['walk_5']:g}, {out['walk_10']:g}, {out['walk_15']:g}", parameter="walk_10")
    return out


def _fields(store: Store, layer: str, param: str) -> list[str]:
    """The layer's field names; NotFound naming ``param`` for a layer the asker may not read."""
    try:
        return [f.name for f in store.fields(layer)]
    except NotFound:
        raise NotFound(f"{param}={layer!r}: no such layer, or you may not read it; the layers are listed in "
                       "/api/layers", parameter=param) from None


def _divisions(store: Store, as_of: str | None):
    try:
        store.fields(DISTRICTS_LAYER)
    except NotFound:
        raise InvalidParameter(f"indicators are computed per district from the polygons of layer "
                               f"{DISTRICTS_LAYER!r}, which this atlas does not have or you may not read; ask an "
                               "administrator for read access to it") from None
    return divisions(store, as_of)


def _read(store: Store, layer: str, param: str, categories: str, as_of: str | None, columns=()) -> pd.DataFrame:
    names = _fields(store, layer, param)
    cats = tuple(split_list(categories))
    if cats and "category" not in names:
        raise InvalidParameter(f"layer {layer!r} has no category field to select {cats[0]!r} from",
                               parameter=param.replace("layer", "category"))
    cols = tuple(c for c in (catalog.KEY, *columns) if c in names)
    return store.query(layer, Query(equals={"category": cats} if cats else {}, columns=cols, as_of=as_of))


# -- geometry --------------------------------------------------------------------------------------
def _bases(store: Store, params: dict, div, as_of: str | None) -> tuple[np.ndarray, dict]:
    """The base of each district (a geometry in EPSG:4550) and the words that say what it is."""
    layer = params.get("base_layer") or ""
    if not layer:
        return div.polygons, _t("基数为行政区面积：尚未导入居住用地图层（可用 base_layer 参数指定），以“行政区划”图层的区、县级市多边形面积为基数。",
                                "The base is the district area: no residential-land layer is given (set base_layer), "
                                "so the area of the district polygons of the districts layer is the base.")
    frame = _read(store, layer, "base_layer", params.get("base_category", ""), as_of)
    geoms = projected(frame.geometry.values)
    geoms = repaired(geoms[shapely.get_dimensions(geoms) == 2])
    merged = shapely.union_all(geoms) if len(geoms) else shapely.Polygon()
    cats = params.get("base_category") or ""
    which = f"{layer}" + (f"（类别 {cats}）" if cats else "")
    return (shapely.intersection(div.polygons, merged),
            _t(f"基数为图层 {which} 的面状要素（合并后）与各行政区多边形相交的面积。",
               f"The base is the area of the polygons of layer {layer}" + (f" (categories {cats})" if cats else "")
               + ", merged, within each district polygon."))


def _covered(shapes: np.ndarray, bases: np.ndarray) -> np.ndarray:
    """Area (m²) of each base covered by the union of ``shapes``."""
    out = np.zeros(len(bases))
    if not len(shapes):
        return out
    tree = shapely.STRtree(shapes)
    for d, base in enumerate(bases):  # a loop over the few districts, each vectorised
        near = tree.query(base, predicate="intersects")
        if len(near):
            out[d] = shapely.area(shapely.intersection(shapely.union_all(shapes[near]), base))
    return out


def _pct(part: float, whole: float) -> float | None:
    return None if whole <= 0 else round(100.0 * float(part) / float(whole), 2) + 0.0


def _parks(store: Store, params: dict, as_of: str | None) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """(buffers of the parks that count, how many count, the notes saying how they were classed)."""
    names = _fields(store, params["layer"], "layer")
    area_field = params["area_field"] if params["area_field"] in names else None
    frame = _read(store, params["layer"], "layer", params["category"], as_of,
                  columns=((area_field,) if area_field else ()) + ("accuracy",))
    geoms = projected(frame.geometry.values)
    dims = shapely.get_dimensions(geoms)
    size = np.where(dims == 2, shapely.area(geoms), np.nan)
    if area_field:
        given = pd.to_numeric(frame[area_field], errors="coerce").to_numpy(dtype=float)
        size = np.where((dims < 2) & (given > 0), given, size)
    large, small = params["size_large"], params["size_small"]
    known = ~np.isnan(size)
    radius = np.full(len(geoms), np.nan)
    radius[known & (size >= large)] = params["radius_large"]
    radius[known & (size >= small) & (size < large)] = params["radius_small"]
    unsized = ~known & (dims >= 0)
    rule = params["unsized"]
    if rule != "exclude":
        radius[unsized] = params["radius_large" if rule == "large" else "radius_small"]
    use = ~np.isnan(radius)
    buffers = shapely.buffer(geoms[use], radius[use], quad_segs=QUAD_SEGS)
    n_large = int((use & (radius == params["radius_large"]) & known).sum())
    n_small = int((use & (radius == params["radius_small"]) & known & (size < large)).sum())
    n_below = int((known & (size < small)).sum())
    points = int((use & (dims == 0)).sum())
    rl, rs = f"{params['radius_large']:g}", f"{params['radius_small']:g}"
    notes = [_t(f"共 {len(geoms)} 个公园：{n_large} 个面积≥{large:g} m² 按 {rl} m，{n_small} 个 {small:g}~{large:g} m² 按 {rs} m，"
                f"{n_below} 个小于 {small:g} m² 不计。",
                f"{len(geoms)} parks: {n_large} of {large:g} m² or more with {rl} m, {n_small} of {small:g} to "
                f"{large:g} m² with {rs} m, {n_below} below {small:g} m² not counted.")]
    if points:
        notes.append(_t(f"{points} 个公园为点：以点为圆心、按其规模等级的半径作缓冲区（圆以 {4 * QUAD_SEGS} 边形近似）。",
                        f"{points} parks are points: each is buffered from the point by the radius of its size "
                        f"class (the circle drawn as a {4 * QUAD_SEGS}-gon)."))
    if "accuracy" in frame.columns:
        drawn = int((use & (dims == 2) & (frame["accuracy"].to_numpy() == "schematic")).sum())
        if drawn:
            notes.append(_t(f"{drawn} 个公园的范围为示意（accuracy=schematic，无公开轮廓）：其面积与缓冲区不是实测，结果只作参考。",
                            f"{drawn} parks have a schematic extent (accuracy=schematic, no public outline): their area "
                            "and buffer are not measured; take the result as indicative only."))
    n_unsized = int(unsized.sum())
    if n_unsized:
        how = {"large": (f"按大型公园 {rl} m 计", f"counted as large parks with {rl} m"),
               "small": (f"按小型公园 {rs} m 计", f"counted as small parks with {rs} m"),
               "exclude": ("不计", "not counted")}[rule]
        notes.append(_t(f"{n_unsized} 个公园面积未知（{area_field or '无面积字段'}），{how[0]}（unsized={rule}）：这是假设，不是数据。",
                        f"{n_unsized} parks have no known size ({area_field or 'no area field'}) and are {how[1]} "
                        f"(unsized={rule}): an assumption, not data."))
    return buffers, int(use.sum()), notes


# -- one computation at one time -------------------------------------------------------------------
def _level(ind: Indicator, value) -> tuple[str | None, dict]:
    if ind.thresholds is None:
        return None, dict(NO_LEVEL)
    if value is None:
        return None, dict(NO_BASE)
    for band in ind.thresholds.bands:
        if value >= band.at_least:
            return band.level, band.label
    return ind.thresholds.below, ind.thresholds.below_label


def _row(ind: Indicator, code: str, value, measures: dict, breakdown=None) -> dict:
    level, level_label = _level(ind, value)
    code = str(code)
    row = {"district": code, "label": label("district", code, {}) if code != CITY else dict(catalog.DISTRICTS[CITY]),
           "value": value, "level": level, "level_label": level_label, "measures": measures}
    if breakdown is not None:
        row["breakdown"] = breakdown
    return row


def _coverage_rows(ind, div, covered, bases_m2, extra):
    rows = []
    for d, code in enumerate(div.codes):
        rows.append(_row(ind, code, _pct(covered[d], bases_m2[d]),
                         {"covered_m2": round(float(covered[d]), 2), "base_m2": round(float(bases_m2[d]), 2), **extra}))
    city = _row(ind, CITY, _pct(float(covered.sum()), float(bases_m2.sum())),
                {"covered_m2": round(float(covered.sum()), 2), "base_m2": round(float(bases_m2.sum()), 2), **extra})
    return rows, city


def _at(store: Store, ind: Indicator, params: dict, as_of: str | None) -> dict:
    div = _divisions(store, as_of)
    notes: list[dict] = []
    if ind.kind == "buffer_coverage":
        bases, base_words = _bases(store, params, div, as_of)
        buffers, n, notes = _parks(store, params, as_of)
        covered, bases_m2 = _covered(buffers, bases), shapely.area(bases)
        rows, city = _coverage_rows(ind, div, covered, bases_m2, {})
        for r in (*rows, city):
            r["measures"]["parks"] = n
    elif ind.kind == "tiered_coverage":
        bases, base_words = _bases(store, params, div, as_of)
        frame = _read(store, params["layer"], "layer", params["category"], as_of)
        geoms = projected(frame.geometry.values)
        geoms = geoms[~shapely.is_empty(geoms) & ~shapely.is_missing(geoms)]
        bases_m2 = shapely.area(bases)
        tiers = {t: _covered(shapely.buffer(geoms, params[f"walk_{t}"] / params["detour"], quad_segs=QUAD_SEGS), bases)
                 for t in TIERS}
        rows, city = [], None
        for d, code in enumerate([*div.codes, CITY]):
            pick = (lambda a, d=d: float(a[d])) if code != CITY else (lambda a: float(a.sum()))
            base = pick(bases_m2)
            measures = {f"tier_{t}_pct": _pct(pick(tiers[t]), base) for t in TIERS}
            measures["base_m2"] = round(base, 2)
            row = _row(ind, code, measures["tier_15_pct"], measures)
            if code == CITY:
                city = row
            else:
                rows.append(row)
        notes = [_t(f"{len(geoms)} 个设施；直线距离：缓冲半径 = 步行距离 ÷ 绕行系数 {params['detour']:g}"
                    f"（5/10/15 分钟：{params['walk_5'] / params['detour']:g} / {params['walk_10'] / params['detour']:g} / "
                    f"{params['walk_15'] / params['detour']:g} m）；尚无路网图层。",
                    f"{len(geoms)} facilities; straight line: buffer radius = walking distance / detour factor "
                    f"{params['detour']:g} (5/10/15 minutes: {params['walk_5'] / params['detour']:g} / "
                    f"{params['walk_10'] / params['detour']:g} / {params['walk_15'] / params['detour']:g} m); no road "
                    "network layer yet.")]
    else:  # land_figures (compute() has checked the layer)
        stats = statistics(store, params["layer"], {"as_of": as_of} if as_of else {}, group=("district", "status"),
                           by="geometry", div=div)  # the same divisions, not built again
        district_m2 = shapely.area(div.polygons)
        per = {}
        for g in stats["groups"]:
            per.setdefault(g["key"]["district"], []).append(g)
        rows = []
        total = {"count": 0, "area_m2": 0.0}
        city_status: dict = {}
        for d, code in enumerate(div.codes):
            groups = per.get(code, [])
            area = sum(g["values"]["area_m2"] for g in groups)
            count = sum(g["values"]["count"] for g in groups)  # a feature in two statuses cannot be: distinct
            breakdown = []
            for g in groups:
                v, status = g["values"], g["key"]["status"]
                breakdown.append({"status": status, "label": g["label"]["status"], "count": v["count"],
                                  "area_m2": v["area_m2"], "area_mu": v["area_mu"],
                                  "share_pct": _pct(v["area_m2"], float(district_m2[d]))})
                acc = city_status.setdefault(status, {"label": g["label"]["status"], "count": 0, "area_m2": 0.0})
                acc["count"] += v["count"]
                acc["area_m2"] += v["area_m2"]
            total["count"] += count
            total["area_m2"] += area
            rows.append(_row(ind, code, _pct(area, float(district_m2[d])),
                             {"count": count, "area_m2": round(area, 2), "area_mu": round(area / M2_PER_MU, 2),
                              "district_m2": round(float(district_m2[d]), 2)}, breakdown))
        all_m2 = float(district_m2.sum())
        city = _row(ind, CITY, _pct(total["area_m2"], all_m2),
                    {"count": total["count"], "area_m2": round(total["area_m2"], 2),
                     "area_mu": round(total["area_m2"] / M2_PER_MU, 2), "district_m2": round(all_m2, 2)},
                    [{"status": s, "label": a["label"], "count": a["count"], "area_m2": round(a["area_m2"], 2),
                      "area_mu": round(a["area_m2"] / M2_PER_MU, 2), "share_pct": _pct(a["area_m2"], all_m2)}
                     for s, a in city_status.items()])
        base_words = _t("基数为行政区面积（“行政区划”图层的区、县级市多边形）；要素按行政区多边形切分，区外部分不计入任何行政区，"
                        "全市为各区之和（跨区要素在每个区各计一次）。",
                        "The base is the district area (the district polygons of the districts layer); features are "
                        "cut by them, what lies outside every district counts in none, and the city is the sum of the "
                        "districts (a feature split between districts counts once in each).")
        outside = [g for g in stats["groups"] if g["key"]["district"] == "outside"]
        if outside:
            n = sum(g["values"]["count"] for g in outside)
            notes.append(_t(f"{n} 个要素（或其部分）在所有行政区之外，未计入。",
                            f"{n} features (or parts of them) lie outside every district and are not counted."))
    return {"as_of": as_of, "base": base_words, "notes": notes, "districts": rows, "city": city}


def _merge(main: dict, other: dict) -> None:
    """``other`` (at ``compare``) beside ``main``: each row gets ``compare`` and ``change``."""
    by_code = {r["district"]: r for r in [*other["districts"], other["city"]]}
    for row in [*main["districts"], main["city"]]:
        then = by_code.get(row["district"])
        row["compare"] = None if then is None else {k: then[k] for k in ("value", "level", "level_label", "measures")}
        if then is not None and "breakdown" in then:
            row["compare"]["breakdown"] = then["breakdown"]
        if then is None or row["value"] is None or then["value"] is None:
            row["change"] = None
        else:
            row["change"] = round(row["value"] - then["value"], 2) + 0.0


def compute(store: Store, indicator_id: str, args: Mapping | None = None) -> dict:
    """The indicator ``indicator_id`` for the parameters in ``args`` (its declared ones, and
    as_of / compare): per district, the city, the base in words, warnings, the parameters used
    and the standard. NotFound for an unknown indicator or an input layer the asker may not read
    (naming the parameter); InvalidParameter naming the parameter for anything else."""
    ind = indicator(indicator_id)
    args = dict(args or {})
    params = parse_params(ind, args)
    as_of = parse_time(args.get("as_of"), "as_of")
    compare = parse_time(args.get("compare"), "compare")
    for p in ind.params:  # every input layer known before anything is computed
        if p.kind == "layer" and params[p.name]:
            _fields(store, params[p.name], p.name)
    main = _at(store, ind, params, as_of)
    if compare is not None:
        try:
            other = _at(store, ind, params, compare)
        except InvalidParameter as exc:  # the store's word on a time before the history names as_of
            if exc.parameter != "as_of":
                raise
            raise InvalidParameter(f"compare: {exc.detail}", parameter="compare") from None
        _merge(main, other)
    return {
        "indicator": ind.describe(),
        "params": params,
        "as_of": as_of,
        "compare": compare,
        "change_rule": _t("变化 = as_of 时的值 − compare 时的值（百分点）", "change = the value at as_of − the value at "
                          "compare (percentage points)") if compare else None,
        "base": main["base"],
        "crs": MEASURE_CRS,
        "notes": [*main["notes"], *ind.notes],
        "measures": [{"name": n, "title": t} for n, t, _ in MEASURES[ind.kind]],
        "districts": main["districts"],
        "city": main["city"],
    }
