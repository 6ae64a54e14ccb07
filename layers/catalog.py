"""The registry of the atlas's layers: declarative, one entry a layer.

Adding a layer is adding its source file under ``layers/data/`` and one ``LayerSpec`` here; every
route, the build, the page and the exports read this registry and nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from geo.store import Field as StoreField

DATA_DIR = Path(__file__).with_name("data")

#: County-level divisions of Weihai (adcodes of the national division code, GB/T 2260).
DISTRICTS: dict[str, dict[str, str]] = {
    "371000": {"zh": "威海市", "en": "Weihai City"},
    "371002": {"zh": "环翠区", "en": "Huancui District"},
    "371003": {"zh": "文登区", "en": "Wendeng District"},
    "371082": {"zh": "荣成市", "en": "Rongcheng City"},
    "371083": {"zh": "乳山市", "en": "Rushan City"},
}

#: Functional areas named in the articles; they have no official boundary.
FUNCTIONAL_AREAS: dict[str, dict[str, str]] = {
    "高区": {"zh": "高区", "en": "Torch Hi-tech Zone", "district": "371002"},
    "经区": {"zh": "经区", "en": "Economic and Technological Development Zone", "district": "371002"},
    "临港区": {"zh": "临港区", "en": "Lingang Economic and Technological Development Zone", "district": "371002"},
    "南海新区": {"zh": "南海新区", "en": "Nanhai New Area", "district": "371003"},
}

STATUSES: dict[str, dict[str, str]] = {
    "planned": {"zh": "规划", "en": "planned"},
    "under_construction": {"zh": "在建", "en": "under construction"},
    "completed": {"zh": "已建成", "en": "completed"},
    "operating": {"zh": "运营中", "en": "operating"},
}

ACCURACY: dict[str, dict[str, str]] = {
    "surveyed": {"zh": "实测(官方边界)", "en": "surveyed (official boundary)"},
    "approximate": {"zh": "近似位置", "en": "approximate"},
    "schematic": {"zh": "示意范围", "en": "schematic"},
}

#: What a feature's position comes from (``position_source.kind``), and the accuracy classes each
#: kind allows (layers/data/README.md): only an official boundary itself is surveyed.
POSITION_KINDS: dict[str, dict] = {
    "official_boundary": {"zh": "官方边界数据", "en": "official boundary data",
                          "accuracy": ("surveyed", "approximate")},
    # a POI marks a spot: a point made from it is approximate; an area merely drawn round it, schematic
    "public_poi": {"zh": "公开地图兴趣点", "en": "public map point of interest",
                   "accuracy": ("approximate", "schematic")},
    "gazetteer": {"zh": "地名录", "en": "gazetteer", "accuracy": ("approximate", "schematic")},
    "address": {"zh": "公开页面中的地址", "en": "address in a cited page", "accuracy": ("approximate",)},
    # an OpenStreetMap feature's outline, or a point made from it (way id, version and date in the ref; ODbL)
    "osm": {"zh": "OpenStreetMap 要素", "en": "OpenStreetMap feature", "accuracy": ("approximate",)},
    "none": {"zh": "未找到公开位置", "en": "no public position found", "accuracy": ("schematic",)},
}
#: The coordinate systems a position source may give its coordinates in.
POSITION_CRS = ("GCJ-02", "WGS84")


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # one of the store's field types: str, int, float, bool, date, json
    zh: str
    en: str

    def describe(self) -> dict:
        return {"name": self.name, "type": self.type, "title": {"zh": self.zh, "en": self.en}}


#: The fields every feature of every layer has, in this order (geometry apart).
FIELDS: tuple[Field, ...] = (
    Field("id", "str", "编号", "ID"),
    Field("name_zh", "str", "名称", "Name (Chinese)"),
    Field("name_en", "str", "英文名称", "Name (English)"),
    Field("category", "str", "类别", "Category"),
    Field("district", "str", "行政区代码", "District (adcode)"),
    Field("functional_area", "str", "功能区", "Functional area"),
    Field("status", "str", "状态", "Status"),
    Field("year", "int", "年份", "Year"),
    Field("date", "str", "日期", "Date"),
    Field("figures", "json", "数据", "Figures"),
    Field("description_zh", "str", "说明", "Description (Chinese)"),
    Field("description_en", "str", "英文说明", "Description (English)"),
    Field("source", "json", "来源", "Source"),
    Field("accuracy", "str", "精度", "Accuracy"),
    Field("accuracy_note_zh", "str", "精度说明", "Accuracy note (Chinese)"),
    Field("accuracy_note_en", "str", "英文精度说明", "Accuracy note (English)"),
    Field("area_m2", "float", "面积(平方米)", "Area (m²)"),
    Field("area_ha", "float", "面积(公顷)", "Area (ha)"),
    Field("area_mu", "float", "面积(亩)", "Area (mu)"),
    Field("length_km", "float", "长度(千米)", "Length (km)"),
    # where the position comes from (added later: last, so a store's remembered sources stay a prefix)
    Field("position_source", "json", "位置来源", "Position source"),
    Field("position_note_zh", "str", "位置说明", "Position note (Chinese)"),
    Field("position_note_en", "str", "英文位置说明", "Position note (English)"),
)
FIELD_NAMES = tuple(f.name for f in FIELDS)
#: The key of every feature (unique across the atlas), and the fields a name search looks in.
KEY = "id"
TEXT_FIELDS = ("name_zh", "name_en")
#: The fields as the store declares them.
STORE_FIELDS = tuple(StoreField(f.name, f.type) for f in FIELDS)


@dataclass(frozen=True)
class LayerSpec:
    id: str
    title_zh: str
    title_en: str
    geometry_type: str  # the one geometry type of the layer
    categories: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Draw order: higher is drawn on top.
    z: int = 0
    #: Its extent is the map's home view (the whole city).
    home: bool = False
    #: Features of these categories are the land of the offline basemap (the sea is the background).
    land: tuple[str, ...] = ()
    #: Fill opacity of its areas, where the accuracy's default would hide the basemap.
    fill_opacity: float | None = None

    @property
    def source(self) -> Path:
        return DATA_DIR / f"{self.id}.geojson"

    @property
    def title(self) -> dict[str, str]:
        return {"zh": self.title_zh, "en": self.title_en}


def _cats(**pairs: tuple[str, str]) -> dict[str, dict[str, str]]:
    return {key: {"zh": zh, "en": en} for key, (zh, en) in pairs.items()}


LAYERS: tuple[LayerSpec, ...] = (
    LayerSpec(
        "districts", "行政区划与功能区", "Districts and functional areas", "MultiPolygon",
        _cats(
            city=("地级市", "prefecture-level city"),
            district=("市辖区", "district"),
            county_city=("县级市", "county-level city"),
            functional_area=("功能区", "functional area"),
        ),
        z=0, home=True, land=("city", "district", "county_city"), fill_opacity=0.03,
    ),
    LayerSpec(
        "zones", "试点示范片区", "Pilot and demonstration zones", "MultiPolygon",
        _cats(
            rural_revitalization=("乡村振兴样板片区", "rural revitalization model zone"),
            common_prosperity=("共同富裕先行示范区", "common prosperity pilot zone"),
            eco_demonstration=("生态示范城市", "ecological demonstration city"),
            town_development=("镇域发展区域", "town development area"),
        ),
        z=1,
    ),
    LayerSpec(
        # areas: an outline where public data has one, else a schematic circle round the place's point
        "parks", "公园与景区", "Parks and scenic areas", "MultiPolygon",
        _cats(
            scenic_area=("景区", "scenic area"),
            urban_park=("城市公园", "urban park"),
            mountain=("山林郊野", "mountain and countryside"),
            island=("海岛", "island"),
            coast=("海湾海滨", "bay and coast"),
            heritage_site=("历史遗址", "heritage site"),
            village=("特色村落", "village"),
        ),
        z=3,
    ),
    LayerSpec(
        "roads", "道路与街区", "Roads and streets", "MultiLineString",
        _cats(
            bottleneck_road=("瓶颈路打通", "bottleneck road opened"),
            historic_street=("特色街区", "historic street"),
        ),
        z=2,
    ),
    LayerSpec(
        "projects", "重点项目", "Projects", "Point",
        _cats(
            industrial_park=("产业园区", "industrial park"),
            innovation=("科创平台", "innovation platform"),
            historic_block=("特色街区", "historic block"),
            commercial=("商业商圈", "commercial"),
            public_service=("公共服务", "public service"),
            culture=("文化场馆", "culture"),
            signed_project=("签约项目", "signed project"),
            enterprise=("企业", "enterprise"),
            community=("社区村居", "community"),
        ),
        z=4,
    ),
)

_BY_ID = {spec.id: spec for spec in LAYERS}


def layer_ids() -> list[str]:
    return [spec.id for spec in LAYERS]


def get(layer_id: str) -> LayerSpec | None:
    return _BY_ID.get(layer_id)


def with_flag(flag: str) -> list[LayerSpec]:
    """The layers with a flag set (``home``, ``land``), in catalog order."""
    return [spec for spec in LAYERS if getattr(spec, flag)]
