"""The registry of planning indicators (指标模型): declarations, not code. No Flask here.

Each ``Indicator`` says what it is (id, titles, formula in words, unit, version), what it reads
(input layers and fields), what can be set (parameters with defaults, bounds and units), the
standard and clause it follows (with ``verified`` saying whether the figure was read in the
standard's text or only in secondary sources), and the bands that give a warning level. How a
kind is computed lives in ``indicators.py``; adding an indicator of an existing kind is adding
an entry here.

What was checked, and how (2026, with the sources this project can read): the standards' own
texts were not readable in full. GB/T 50563-2010 was confirmed as 《城市园林绿化评价标准》 (MOHURD
announcement No. 619 of 2010-05-31, in force 2010-12-01; five chapters: 总则, 术语, 基本规定,
评价内容与计算方法, 等级评价; four grades 城市园林绿化Ⅰ级…Ⅳ级), but its clause on 公园绿地服务半径
覆盖率 — the size classes, the radii and the grade thresholds — was not found in a readable
text; those figures are the commonly cited ones and are marked ``verified=False``. The phrase
"300米见绿、500米见园" was found as the name of the traditional 公园绿地服务半径覆盖率 indicator in
the CAUPD 《中国主要城市公园评估报告》 (2021) as reported on a news page, not in a standard. For
GB 50180-2018 《城市居住区规划设计标准》, the 10-minute tier's "步行十分钟(约500米)" and its 15 000–
25 000 residents were read in the 中国大百科全书 entry for 十分钟生活圈居住区, and the 15-minute tier's
50 000–100 000 residents in the CCPR journal's glossary; the 15-minute 800–1000 m and the
5-minute 300 m walking distances (the standard's table 3.0.4, as commonly cited) were not read
in a primary text and are marked ``verified=False``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

Text = dict  # {"zh": ..., "en": ...}


@dataclass(frozen=True)
class Source:
    """A standard (or practice) an indicator follows, and the clause, as found."""

    code: str                  # e.g. "GB/T 50563-2010"
    title: Text
    clause: Text               # the clause or table, and what it gives
    verified: bool             # read in the standard's own text?
    note: Text                 # what was and was not confirmed, and where
    references: tuple[str, ...] = ()  # addresses where it was read

    def describe(self) -> dict:
        return {"code": self.code, "title": self.title, "clause": self.clause, "verified": self.verified,
                "note": self.note, "references": list(self.references)}


@dataclass(frozen=True)
class Param:
    """A parameter: ``kind`` is number, layer (a layer id, ``""`` for none when ``optional``),
    list (comma-separated values, ``""`` for all) or choice (one of ``choices``)."""

    name: str
    kind: str
    default: object
    title: Text
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    optional: bool = False
    verified: bool | None = None   # for a figure taken from a standard: was it read there?

    def describe(self) -> dict:
        out = {"name": self.name, "kind": self.kind, "default": self.default, "title": self.title}
        for key in ("unit", "minimum", "maximum", "choices", "verified"):
            value = getattr(self, key)
            if value not in ("", None, ()):
                out[key] = list(value) if isinstance(value, tuple) else value
        if self.optional:
            out["optional"] = True
        return out


@dataclass(frozen=True)
class Band:
    """The level of a value at least ``at_least`` (bands are declared from the highest)."""

    at_least: float
    level: str                 # ok | notice | warning
    label: Text


@dataclass(frozen=True)
class Thresholds:
    bands: tuple[Band, ...]    # from the highest at_least down
    below: str                 # the level of a value below every band
    below_label: Text
    verified: bool
    note: Text

    def describe(self) -> dict:
        return {"bands": [{"at_least": b.at_least, "level": b.level, "label": b.label} for b in self.bands],
                "below": {"level": self.below, "label": self.below_label},
                "verified": self.verified, "note": self.note}


@dataclass(frozen=True)
class Input:
    """A layer the indicator reads: ``param`` names the parameter that chooses it (its default
    is the atlas's layer), ``fields`` the fields read, ``role`` what it is for."""

    param: str
    role: Text
    fields: tuple[str, ...] = ()

    def describe(self) -> dict:
        return {"param": self.param, "role": self.role, "fields": list(self.fields)}


@dataclass(frozen=True)
class Indicator:
    id: str
    kind: str                  # buffer_coverage | tiered_coverage | land_figures (indicators.KINDS)
    title: Text
    formula: Text
    unit: str
    version: str
    inputs: tuple[Input, ...]
    params: tuple[Param, ...]
    standards: tuple[Source, ...]
    thresholds: Thresholds | None = None
    notes: tuple[Text, ...] = field(default_factory=tuple)

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)

    def describe(self) -> dict:
        return {"id": self.id, "kind": self.kind, "title": self.title, "formula": self.formula, "unit": self.unit,
                "version": self.version, "inputs": [i.describe() for i in self.inputs],
                "params": [p.describe() for p in self.params],
                "standards": [s.describe() for s in self.standards],
                "thresholds": self.thresholds.describe() if self.thresholds else None,
                "notes": list(self.notes)}


def _t(zh: str, en: str) -> Text:
    return {"zh": zh, "en": en}


# -- sources ---------------------------------------------------------------------------------------
GBT_50563 = Source(
    "GB/T 50563-2010",
    _t("城市园林绿化评价标准", "Evaluation standard for urban landscaping and greening"),
    _t("第4章“评价内容与计算方法”中的公园绿地服务半径覆盖率（条文号未能核实）：5000 m²(含)以上的公园绿地按 500 m "
       "服务半径、2000(含)~5000 m² 的按 300 m 服务半径计算其覆盖的居住用地；第5章“等级评价”的分级。",
       "Chapter 4 (evaluation contents and calculation) on the park green-space service-radius coverage "
       "(clause number not verified): parks of 5000 m² or more with a 500 m service radius, of 2000 to "
       "5000 m² with 300 m, over the residential land they cover; chapter 5 (grading)."),
    False,
    _t("已核实：标准名称、住房和城乡建设部公告第619号（2010-05-31发布，2010-12-01实施）、五章结构、城市园林绿化Ⅰ~Ⅳ级。"
       "未能从可读的标准原文核实：规模分级（5000 m²、2000 m²）、服务半径（500 m、300 m）、条文号和各级的覆盖率门槛；"
       "这些是常被引用的数值，使用前请以标准原文为准。",
       "Verified: the title, MOHURD announcement No. 619 (issued 2010-05-31, in force 2010-12-01), its five "
       "chapters and grades I to IV. Not verified from a readable text of the standard: the size classes "
       "(5000 m², 2000 m²), the radii (500 m, 300 m), the clause number and the grade thresholds; these are "
       "the commonly cited figures: check them against the standard before relying on them."),
    ("https://yuanlin8.com/guifan/guihua/8bfe9b2a.html", "http://f.csres.com/notice/38888.html",
     "https://farahhall.com/htm/2011/0105/71975.html"),
)
GREEN_300_500 = Source(
    "300米见绿、500米见园",
    _t("“300米见绿、500米见园”（公园绿地服务半径覆盖率的通行说法）",
       "\"green within 300 m, a park within 500 m\" (the usual name of the service-radius coverage)"),
    _t("居民出行 300 米内有绿地、500 米内有公园；对应上条 300 m / 500 m 两级服务半径。",
       "a green space within 300 m and a park within 500 m of home; the two radii of the entry above."),
    False,
    _t("这一说法见于中国城市规划设计研究院《中国主要城市公园评估报告》（2021）的转载报道，称其为“传统的公园绿地服务半径覆盖率"
       "评价指标”；是实践中的说法，不是标准条文，其与面积分级的对应未能核实。",
       "Found in a report on the CAUPD 'Evaluation report of parks in major Chinese cities' (2021), which calls "
       "it the traditional service-radius coverage indicator; a practice, not a clause of a standard; how it "
       "maps to the size classes was not verified."),
    ("http://jwzcgl.com/xinwen/83444.html",),
)
GB_50180 = Source(
    "GB 50180-2018",
    _t("城市居住区规划设计标准", "Standard for urban residential area planning and design"),
    _t("第2章术语（十五分钟、十分钟、五分钟生活圈居住区）与表3.0.4“居住区分级控制规模”的步行距离：十五分钟 800~1000 m、"
       "十分钟 500 m、五分钟 300 m（如常被引用）。",
       "Chapter 2 terms (15-, 10- and 5-minute life-circle residential areas) and table 3.0.4 (scale of the "
       "residential-area tiers), walking distances: 15-minute 800-1000 m, 10-minute 500 m, 5-minute 300 m "
       "(as commonly cited)."),
    False,
    _t("已核实（二手来源）：十分钟生活圈“步行十分钟(约500米)”、居住人口 15000~25000 人（中国大百科全书词条）；十五分钟生活圈"
       "居住人口 50000~100000 人（《国际城市规划》CCPR 术语）。未能从可读的标准原文核实：十五分钟 800~1000 m 与五分钟 300 m 的"
       "步行距离和表号；使用前请以标准原文为准。",
       "Verified in secondary sources: the 10-minute tier's 'a ten-minute walk (about 500 m)' and 15 000-25 000 "
       "residents (Encyclopedia of China entry); the 15-minute tier's 50 000-100 000 residents (CCPR journal "
       "glossary). Not verified from a readable text of the standard: the 15-minute 800-1000 m and 5-minute "
       "300 m walking distances and the table number; check them against the standard."),
    ("https://zgbk.com/ecph/words?ID=491601&SiteID=1&SubID=217393", "http://ccprjournal.com.cn/news/9923.htm"),
)

# -- shared parameters -----------------------------------------------------------------------------
BASE_LAYER = Param("base_layer", "layer", "", _t("基数图层（居住用地；空则用行政区面积）",
                                               "base layer (residential land; empty: the district area)"),
                   optional=True)
BASE_CATEGORY = Param("base_category", "list", "", _t("基数图层的类别（空则全部）", "categories of the base layer (empty: all)"))
DETOUR = Param("detour", "number", 1.0, _t("绕行系数（步行距离 = 直线距离 × 系数）",
                                         "detour factor (walking distance = straight-line distance x factor)"),
               minimum=1.0, maximum=3.0)

INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        "park_coverage", "buffer_coverage",
        _t("公园绿地服务半径覆盖率", "Park green-space service-radius coverage"),
        _t("公园绿地按其规模等级的服务半径作缓冲区（面状公园自边界外扩，点状公园自点外扩），缓冲区合并后与基数（居住用地；"
           "未导入时为行政区面积）相交：覆盖率 = 被覆盖的基数面积 ÷ 基数总面积 × 100%；按行政区多边形分别计算，全市为各区之和之比。"
           "面积小于小型门槛的公园不计。直线距离，不考虑路网。",
           "Each park is buffered by the service radius of its size class (a polygon from its boundary, a point "
           "from the point); the union of the buffers is intersected with the base (residential land; the district "
           "area until it is imported): coverage = covered base area / base area x 100%, per district polygon, "
           "and for the city the ratio of the sums. Parks below the small class's size do not count. Straight-line "
           "distance, no road network."),
        "%", "1.0",
        (Input("layer", _t("公园绿地", "parks"), ("category", "area_m2")),
         Input("base_layer", _t("基数（居住用地）", "base (residential land)"), ("category",)),
         Input("districts", _t("行政区多边形（固定为 districts 图层）", "district polygons (always the districts layer)"),
               ("category", "district"))),
        (Param("layer", "layer", "parks", _t("公园图层", "park layer")),
         Param("category", "list", "", _t("计为公园绿地的类别（空则全部）", "categories that count as parks (empty: all)")),
         Param("size_large", "number", 5000.0, _t("大型公园面积下限", "size of a large park, at least"), "m²",
               minimum=0, verified=False),
         Param("radius_large", "number", 500.0, _t("大型公园服务半径", "service radius of a large park"), "m",
               minimum=0, maximum=5000, verified=False),
         Param("size_small", "number", 2000.0, _t("小型公园面积下限（以下不计）", "size of a small park, at least (smaller: not counted)"),
               "m²", minimum=0, verified=False),
         Param("radius_small", "number", 300.0, _t("小型公园服务半径", "service radius of a small park"), "m",
               minimum=0, maximum=5000, verified=False),
         Param("area_field", "choice", "area_m2", _t("点状公园的面积字段（平方米）", "area field of point parks (m²)"),
               choices=("area_m2", "none")),
         Param("unsized", "choice", "small", _t("面积未知的点状公园按", "a point park of unknown size counts as"),
               choices=("large", "small", "exclude")),
         BASE_LAYER, BASE_CATEGORY),
        (GBT_50563, GREEN_300_500),
        Thresholds(
            (Band(90.0, "ok", _t("≥90%（城市园林绿化Ⅰ级，未核实）", "≥90% (grade I, not verified)")),
             Band(80.0, "notice", _t("≥80%（Ⅱ级，未核实）", "≥80% (grade II, not verified)"))),
            "warning", _t("<80%：低于Ⅱ级（未核实）", "<80%: below grade II (not verified)"),
            False,
            _t("90%/80% 为常被引用的分级门槛，未能从可读的 GB/T 50563-2010 原文核实；更低等级的门槛未列出。",
               "90% and 80% are the commonly cited grade thresholds, not verified from a readable text of "
               "GB/T 50563-2010; the thresholds of the lower grades are not declared.")),
        (_t("公园为面：按轮廓面积分级，自轮廓按其等级的半径缓冲；范围为示意（accuracy=schematic）的公园，结果中说明其个数。"
            "点状公园（如导入的点图层）以点为中心缓冲，面积取 area_field 字段，未知时按 unsized 参数处理，结果中说明。",
            "The parks are areas: each is classed by its outline's area and buffered from the outline by its class's "
            "radius; parks whose extent is schematic (accuracy=schematic) are counted in the result's notes. A point "
            "park (an imported point layer, say) is buffered from the point; its size comes from area_field, and when "
            "unknown it is treated as the unsized parameter says, stated in the result."),),
    ),
    Indicator(
        "life_circle", "tiered_coverage",
        _t("15分钟社区生活圈覆盖率", "15-minute community life-circle coverage"),
        _t("所选设施图层的每个设施按 5、10、15 分钟生活圈的步行距离 ÷ 绕行系数 作直线缓冲区，各层级缓冲区合并后与基数（居住用地；"
           "未导入时为行政区面积）相交：覆盖率 = 被覆盖的基数面积 ÷ 基数总面积 × 100%，按行政区和全市；主值为15分钟层级。"
           "在路网图层建立之前为直线距离。",
           "Each facility of the chosen layer is buffered, for the 5-, 10- and 15-minute tiers, by the walking "
           "distance / the detour factor (straight line); the union of each tier's buffers is intersected with the "
           "base (residential land; the district area until it is imported): coverage = covered base area / base "
           "area x 100%, per district and for the city; the main value is the 15-minute tier's. Straight-line "
           "until a road network layer exists."),
        "%", "1.0",
        (Input("layer", _t("设施（规划师选择）", "facilities (the planner's choice)"), ("category",)),
         Input("base_layer", _t("基数（居住用地）", "base (residential land)"), ("category",)),
         Input("districts", _t("行政区多边形（固定为 districts 图层）", "district polygons (always the districts layer)"),
               ("category", "district"))),
        (Param("layer", "layer", "projects", _t("设施图层", "facility layer")),
         Param("category", "list", "public_service", _t("设施类别（空则全部）", "facility categories (empty: all)")),
         Param("walk_5", "number", 300.0, _t("5分钟生活圈步行距离", "5-minute walking distance"), "m", minimum=0,
               maximum=5000, verified=False),
         Param("walk_10", "number", 500.0, _t("10分钟生活圈步行距离", "10-minute walking distance"), "m", minimum=0,
               maximum=5000, verified=True),
         Param("walk_15", "number", 1000.0, _t("15分钟生活圈步行距离（标准：800~1000）",
                                              "15-minute walking distance (the standard: 800-1000)"), "m",
               minimum=0, maximum=5000, verified=False),
         DETOUR, BASE_LAYER, BASE_CATEGORY),
        (GB_50180,),
        None,
        (_t("GB 50180-2018 未规定生活圈覆盖率的预警门槛（在可读来源中未见），故不设预警等级。",
            "GB 50180-2018 sets no warning threshold for life-circle coverage (none found in the sources read), "
            "so no warning level is given."),
         _t("绕行系数默认 1.0（即不绕行）：这是未加假设的直线距离，不是标准的数值；有路网之前可按当地情况设定。",
            "The detour factor defaults to 1.0 (no detour): the plain straight line, not a figure of the standard; "
            "set it for the place until a road network exists.")),
    ),
    Indicator(
        "land_figures", "land_figures",
        _t("片区与项目用地统计", "Land and project figures"),
        _t("所选图层（片区或项目）的要素按行政区多边形切分，按状态统计：数量、面积（平方米、亩，1 亩 = 10000/15 平方米）、"
           "占行政区面积的比例 = 面积 ÷ 行政区面积 × 100%；主值为全部状态合计的占比。点只计数量。",
           "The features of the chosen layer (zones or projects) are cut by the district polygons and counted by "
           "status: number, area (m², mu; 1 mu = 10000/15 m²) and share of the district area = area / district area "
           "x 100%; the main value is the share of all statuses together. Points only count."),
        "%", "1.0",
        (Input("layer", _t("片区或项目", "zones or projects"), ("status",)),
         Input("districts", _t("行政区多边形（固定为 districts 图层）", "district polygons (always the districts layer)"),
               ("category", "district"))),
        (Param("layer", "layer", "zones", _t("图层", "layer")),),
        (),
        None,
        (_t("面积统计，不依据标准条文；重叠要素的面积各自计入（不去重叠）。",
            "A tally, not a standard's clause; the areas of overlapping features each count (overlaps are not merged)."),),
    ),
)

_BY_ID = {i.id: i for i in INDICATORS}


def get(indicator_id: str) -> Indicator | None:
    return _BY_ID.get(indicator_id)


def ids() -> list[str]:
    return [i.id for i in INDICATORS]
