"""The words of the OGC API's HTML pages, Chinese and English (the templates escape what data
brings in; these are our own)."""
from __future__ import annotations

TEXT = {
    "zh": {
        "site": "精致威海规划图", "service": "OGC API – Features 服务", "home": "服务首页", "map": "返回地图",
        "collections": "图层", "conformance": "符合的标准", "api": "API 定义 (OpenAPI)", "feats": "要素",
        "queryables": "可查询属性", "json": "JSON", "next": "下一页", "prev": "上一页", "matched": "共",
        "returned": "本页", "features": "个要素", "crs": "坐标系", "storage": "存储坐标系", "extent": "范围",
        "filter": "筛选 (CQL2)", "bbox": "范围框", "limit": "每页", "apply": "查询", "name": "名称",
        "type": "类型", "property": "属性", "path": "路径", "summary": "说明",
        "howto": "在 QGIS 中:图层 → 添加图层 → 添加 WFS / OGC API – Features 图层,新建连接,网址填本页地址。"
                 "在 GDAL 中:ogrinfo OAPIF:本页地址",
        "other": "English",
    },
    "en": {
        "site": "Weihai Planning Atlas", "service": "OGC API – Features", "home": "Service home", "map": "Back to the map",
        "collections": "Collections", "conformance": "Conformance", "api": "API definition (OpenAPI)",
        "feats": "Features", "queryables": "Queryables", "json": "JSON", "next": "Next page", "prev": "Previous page",
        "matched": "Matched", "returned": "on this page", "features": "features", "crs": "Coordinate system",
        "storage": "Storage CRS", "extent": "Extent", "filter": "Filter (CQL2)", "bbox": "Bounding box",
        "limit": "Per page", "apply": "Query", "name": "Name", "type": "Type", "property": "Property",
        "path": "Path", "summary": "Summary",
        "howto": "In QGIS: Layer → Add Layer → Add WFS / OGC API – Features Layer, a new connection with this "
                 "page's address. In GDAL: ogrinfo OAPIF:<this page's address>",
        "other": "中文",
    },
}


def words(lang: str) -> dict[str, str]:
    return TEXT[lang]
