"""QGIS's own OGC API – Features provider (``OAPIF``, Debian's python3-qgis) reading the atlas:
run by Debian's ``/usr/bin/python3`` (QGIS's Python bindings are built for it, not for the project's
venv), headless, from tests/test_ogc_clients.py. ``python3 tests/qgis_read.py REQUEST``: REQUEST is
JSON {"url", "reads": [{"layer", "subset"?, "rect"?}]}; prints JSON: QGIS's version and, for each
read, the layer's validity, CRS, feature count and features (id, name_zh, category, WKT)."""
import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import Qgis, QgsApplication, QgsFeatureRequest, QgsRectangle, QgsVectorLayer  # noqa: E402

# the application lives as long as the process (a local one is collected under the providers' feet)
APP = QgsApplication([], False)
APP.initQgis()


def read(url: str, spec: dict) -> dict:
    # a rect: as a planner's view with "only request features overlapping the view extent" on
    restrict = " restrictToRequestBBOX='1'" if spec.get("rect") else ""
    layer = QgsVectorLayer(f"url='{url}' typename='{spec['layer']}'{restrict}", spec["layer"], "OAPIF")
    out = {"valid": layer.isValid()}  # (layer.error() crashes QGIS 3.22's Python here)
    if not layer.isValid():
        return out
    if spec.get("subset") and not layer.setSubsetString(spec["subset"]):
        out["subset_refused"] = True
        return out
    request = QgsFeatureRequest()
    if spec.get("rect"):
        request.setFilterRect(QgsRectangle(*spec["rect"]))
    names = [f.name() for f in layer.fields()]
    out.update(crs=layer.crs().authid(), fields=names, count=layer.featureCount(), features=[
        {"id": f["id"], "name_zh": f["name_zh"], "category": f["category"] if "category" in names else None,
         "wkt": f.geometry().asWkt(12)} for f in layer.getFeatures(request)])
    return out


def main() -> None:
    asked = json.loads(sys.argv[1])
    print(json.dumps({"qgis": Qgis.version(), "reads": [read(asked["url"], r) for r in asked["reads"]]},
                     ensure_ascii=False), flush=True)
    APP.exitQgis()


if __name__ == "__main__":
    main()
