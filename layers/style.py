"""One palette for the atlas: category -> colour, accuracy -> line pattern, and the legend.

The page, the exports' print layout and the API's ``style`` member all read this module, so a colour
is changed in one place.
"""
from __future__ import annotations

from .catalog import ACCURACY, LayerSpec

#: Colour-blind-safe qualitative palette (Okabe-Ito, extended), cycled per layer's categories.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#8C564B", "#7F7F7F",
           "#B8860B", "#4B0082")

#: How accuracy is drawn: surveyed solid, approximate dashed, schematic dotted and paler.
#: ``dashArray`` is for lines and outlines, ``pointDashArray`` for the ring of a point (shorter: a
#: point is small), ``pattern`` the legend's symbol (CSS class ``atlas-pat-<pattern>``). Every map
#: the atlas draws (the page, the print layout and its PNG, the offline map) reads this table.
ACCURACY_STYLE = {
    "surveyed": {"dashArray": None, "pointDashArray": None, "pattern": "solid",
                 "fillOpacity": 0.12, "opacity": 0.9},
    "approximate": {"dashArray": "8 5", "pointDashArray": "5 3", "pattern": "dashed",
                    "fillOpacity": 0.10, "opacity": 0.85},
    "schematic": {"dashArray": "2 6", "pointDashArray": "2 3", "pattern": "dotted",
                  "fillOpacity": 0.06, "opacity": 0.8},
}

#: How status reads on the map (fill of points and areas, opacity of lines); the legend shows it.
STATUS_STYLE = {
    "planned": {"fill": "hollow", "fillOpacityScale": 0.35, "opacityScale": 0.75},
    "under_construction": {"fill": "half", "fillOpacityScale": 0.7, "opacityScale": 0.9},
    "completed": {"fill": "solid", "fillOpacityScale": 1.0, "opacityScale": 1.0},
    "operating": {"fill": "solid", "fillOpacityScale": 1.0, "opacityScale": 1.0},
}

#: Line weights by geometry kind.
WEIGHT = {"MultiPolygon": 2, "Polygon": 2, "MultiLineString": 4, "LineString": 4, "Point": 1}

def accuracy_styles() -> dict[str, dict]:
    """Accuracy class -> how it is drawn, with its zh/en label (the legend's keys)."""
    return {key: {**ACCURACY_STYLE[key], "label": ACCURACY[key]} for key in ACCURACY}


def category_colours(spec: LayerSpec) -> dict[str, str]:
    return {cat: PALETTE[i % len(PALETTE)] for i, cat in enumerate(spec.categories)}


def layer_style(spec: LayerSpec) -> dict:
    """The style description served with the layer (``/api/layers``) and used by the page."""
    colours = category_colours(spec)
    return {
        "by": "category",
        "geometry": spec.geometry_type,
        "weight": WEIGHT.get(spec.geometry_type, 2),
        "radius": 7 if spec.geometry_type == "Point" else None,
        "categories": {
            cat: {"color": colours[cat], "label": labels} for cat, labels in spec.categories.items()
        },
        "accuracy": accuracy_styles(),
        "overrides": {} if spec.fill_opacity is None else {"fillOpacity": spec.fill_opacity},
        "z": spec.z,
    }


def generic_style(geometry_type: str) -> dict:
    """The style of a stored layer the catalog does not describe (e.g. an uploaded layer)."""
    return {
        "by": None,
        "geometry": geometry_type,
        "weight": WEIGHT.get(geometry_type, 2),
        "radius": 6 if geometry_type == "Point" else None,
        "color": PALETTE[-1],
        "categories": {},
        "accuracy": accuracy_styles(),
        "overrides": {},
        "z": 5,
    }


#: The colour of the features a style by field gives no colour of its own ("other": a value beyond
#: the categories, or none), apart from every colour of the palette.
OTHER_COLOR = "#BBBBBB"
OTHER_LABEL = {"zh": "其他", "en": "other"}


def field_style(geometry_type: str, by: str, categories: dict[str, dict]) -> dict:
    """The style of a stored layer the catalog does not describe, coloured by its field ``by``:
    ``categories`` {value: {"color", "label": {zh, en}}} (see layers.layermeta), in the shape of
    ``layer_style``; features of any other value are drawn in ``color``, which the legend names
    ``other``."""
    return {
        **generic_style(geometry_type),
        "by": by,
        "color": OTHER_COLOR,
        "categories": {value: {"color": c["color"], "label": dict(c["label"])} for value, c in categories.items()},
        "other": {"color": OTHER_COLOR, "label": dict(OTHER_LABEL)},
    }
