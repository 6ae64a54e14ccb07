"""Planners' edits as plain functions over a store: no Flask here.

A feature's body is checked against its layer before anything is written: the fields the layer has,
their types, the catalog's vocabularies (category, district, functional area, status, accuracy),
the geometry's type, range and validity (a self-intersection is refused with its place). Measures
(m², ha, 亩, km) are recomputed from the geometry in EPSG:4550, never taken from the body. Each call
is one revision of the store, with the actor and the editor's reason; an update or delete names the
version it started from (``If-Match``), and a stale one is refused with the current feature.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Mapping

import geopandas as gpd
import shapely
import shapely.geometry
import shapely.validation

from geo.errors import GeoError, InvalidGeometry, InvalidParameter
from geo.measure import measure
from geo.store import Store
from geo.store.base import GEOMETRY_FAMILY

from .. import catalog
from .features import with_version
from .params import parse_time  # noqa: F401  (the API's one time form)

#: Filled from the geometry on every write; a body may not set them.
MEASURES = ("area_m2", "area_ha", "area_mu", "length_km")
MAX_TEXT = 4000
MAX_MESSAGE = 500
KEY_FORM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_MULTI = {"Polygon": "MultiPolygon", "LineString": "MultiLineString", "Point": "MultiPoint"}
_VOCABULARIES = {"district": catalog.DISTRICTS, "functional_area": catalog.FUNCTIONAL_AREAS,
                 "status": catalog.STATUSES, "accuracy": catalog.ACCURACY}
_WHERE = re.compile(r"\[\s*(-?[\d.eE+-]+)\s+(-?[\d.eE+-]+)\s*\]")


class PreconditionRequired(GeoError):
    """An update or delete without the version it started from (HTTP 428)."""

    status = 428
    code = "precondition_required"


def parse_version(if_match: str | None) -> int:
    """``If-Match: "12"`` (or ``W/"12"``, or a bare 12) -> 12."""
    if if_match is None or not if_match.strip():
        raise PreconditionRequired(
            "say which version of the feature you edited: send If-Match with its version (the ETag or "
            "\"version\" of GET /api/features/<id>), so that nobody's change is overwritten unseen",
            parameter="If-Match")
    text = if_match.strip()
    text = text[2:] if text.startswith("W/") else text
    text = text.strip('"')
    if not text.isdigit():
        raise InvalidParameter(f"If-Match must be the feature's version as a quoted number such as \"12\", "
                               f"got {if_match!r}", parameter="If-Match")
    return int(text)


def parse_message(body: Mapping) -> str:
    message = body.get("message", "")
    if message is None:
        return ""
    if not isinstance(message, str) or len(message) > MAX_MESSAGE:
        raise InvalidParameter(f"message (the reason for the change) must be text of at most {MAX_MESSAGE} "
                               "characters", parameter="message")
    return message.strip()


def _check_value(layer: str, name: str, kind: str, value):
    """One property's value, checked and in the form the store keeps (JSON as its text)."""
    if value is None:
        if name == "name_zh":
            raise InvalidParameter("name_zh (the Chinese name) must not be empty", parameter=name)
        return None
    spec = catalog.get(layer)
    vocabulary = spec.categories if name == "category" and spec is not None else _VOCABULARIES.get(name)
    if vocabulary is not None:
        if value not in vocabulary:
            raise InvalidParameter(f"{name} {value!r} is not one of {', '.join(vocabulary)}", parameter=name)
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidParameter(f"{name} must be a whole number, got {value!r}", parameter=name)
        if name == "year" and not 1800 < value < 2100:
            raise InvalidParameter(f"year must be a year such as 2022, got {value}", parameter=name)
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise InvalidParameter(f"{name} must be a number, got {value!r}", parameter=name)
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise InvalidParameter(f"{name} must be true or false, got {value!r}", parameter=name)
        return value
    if kind == "json":
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise InvalidParameter(f"{name} must be JSON (a list or an object)", parameter=name) from None
        if not isinstance(value, (list, dict)):
            raise InvalidParameter(f"{name} must be a list or an object", parameter=name)
        return json.dumps(value, ensure_ascii=False)
    if kind == "date" or name == "date":
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", value):
            raise InvalidParameter(f"{name} must be a date such as 2022-05-01 (or 2022-05, 2022), got {value!r}",
                                   parameter=name)
        return value
    if not isinstance(value, str):
        raise InvalidParameter(f"{name} must be text, got {value!r}", parameter=name)
    if len(value) > MAX_TEXT or "\x00" in value:
        raise InvalidParameter(f"{name} must be text of at most {MAX_TEXT} characters", parameter=name)
    if name == "name_zh" and not value.strip():
        raise InvalidParameter("name_zh (the Chinese name) must not be empty", parameter=name)
    return value


def check_properties(store: Store, layer: str, props, *, creating: bool) -> dict:
    """The body's properties, each checked against the layer's fields and vocabularies."""
    if not isinstance(props, Mapping):
        raise InvalidParameter("properties must be an object of field: value", parameter="properties")
    types = {f.name: f.type for f in store.fields(layer)}
    out = {}
    for name, value in props.items():
        if name in ("layer", "version"):
            continue  # what the API adds when it answers; sending a feature back is fine
        if name not in types:
            raise InvalidParameter(f"layer {layer!r} has no field {name!r}; its fields are: "
                                   f"{', '.join(types)}", parameter=name)
        if name in MEASURES:
            continue  # measured from the geometry
        if name == catalog.KEY and not creating:
            continue  # the id is the feature's address: it does not change
        out[name] = _check_value(layer, name, types[name], value)
    if creating:
        spec = catalog.get(layer)
        if spec is not None:
            missing = [f for f in ("name_zh", "category", "district") if out.get(f) in (None, "")]
            if missing:
                raise InvalidParameter(f"a new feature of {layer!r} needs {', '.join(missing)}", parameter=missing[0])
            out.setdefault("accuracy", "schematic")
    return out


def check_geometry(store: Store, layer: str, value):
    """A GeoJSON geometry (WGS84) as shapely, of the layer's type, valid; else the place of the fault."""
    if not isinstance(value, Mapping):
        raise InvalidGeometry("geometry must be a GeoJSON geometry object in WGS84 longitude/latitude",
                              parameter="geometry")
    try:
        geom = shapely.geometry.shape(value)
    except Exception:
        raise InvalidGeometry("geometry is not readable GeoJSON: give type and coordinates, e.g. "
                              "{\"type\": \"Point\", \"coordinates\": [122.12, 37.5]}", parameter="geometry") from None
    if geom.is_empty:
        raise InvalidGeometry("geometry is empty: draw at least one point", parameter="geometry")
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise InvalidGeometry("coordinates must be WGS84 longitude/latitude degrees (e.g. 122.12, 37.5); "
                              "projected coordinates are not accepted here", parameter="geometry")
    kind = store.info(layer).geometry_type
    if _MULTI.get(geom.geom_type) == kind:
        geom = {"MultiPolygon": shapely.multipolygons, "MultiLineString": shapely.multilinestrings,
                "MultiPoint": shapely.multipoints}[kind]([geom])
    if kind not in ("Geometry", geom.geom_type):
        raise InvalidGeometry(f"layer {layer!r} holds {kind} features; a {geom.geom_type} cannot go in it: "
                              f"draw a {GEOMETRY_FAMILY.get(kind, kind)} instead", parameter="geometry")
    if not shapely.is_valid(geom):
        reason = shapely.validation.explain_validity(geom)
        where = _WHERE.search(reason)
        location = (float(where[1]), float(where[2])) if where else None
        raise InvalidGeometry(f"the shape is not valid ({reason}); move the vertices so that the outline does "
                              "not cross itself", parameter="geometry", location=location)
    return geom


def _frame(props: dict, geom) -> gpd.GeoDataFrame:
    row = dict(props)
    row.update({k: float(v[0]) for k, v in measure([geom]).items()})
    return gpd.GeoDataFrame([row], geometry=[geom], crs="EPSG:4326")


def versioned(store: Store, layer: str, key: str) -> tuple[bytes, int]:
    """One feature as GeoJSON with its ``version`` member (and the version), the two read together."""
    return with_version(store, layer, key)


def create(store: Store, layer: str, body, *, actor: str) -> tuple[bytes, int]:
    if not isinstance(body, Mapping):
        raise InvalidParameter("the body must be a GeoJSON Feature object", parameter="body")
    props = check_properties(store, layer, body.get("properties") or {}, creating=True)
    geom = check_geometry(store, layer, body.get("geometry"))
    key = props.get(catalog.KEY) or f"{layer}-{uuid.uuid4().hex[:12]}"
    if not isinstance(key, str) or not KEY_FORM.match(key):
        raise InvalidParameter("id must be 1-100 letters, digits, '-', '_' or '.', starting with a letter or digit",
                               parameter=catalog.KEY)
    props[catalog.KEY] = key
    if "source" in {f.name for f in store.fields(layer)} and not props.get("source"):
        props["source"] = json.dumps([{"editor": actor, "time": now(), "note": parse_message(body)}],
                                     ensure_ascii=False)
    store.add(layer, _frame(props, geom), actor=actor, message=parse_message(body))
    return versioned(store, layer, key)


def update(store: Store, layer: str, key: str, body, *, if_match: str | None, actor: str) -> tuple[bytes, int]:
    version = parse_version(if_match)
    if not isinstance(body, Mapping):
        raise InvalidParameter("the body must be an object with properties and/or geometry", parameter="body")
    props = check_properties(store, layer, body.get("properties") or {}, creating=False)
    geom = check_geometry(store, layer, body["geometry"]) if body.get("geometry") is not None else None
    if geom is not None:
        props.update({k: float(v[0]) for k, v in measure([geom]).items()})
    if not props and geom is None:
        raise InvalidParameter("nothing to change: give properties and/or a geometry", parameter="body")
    store.update(layer, key, properties=props, geometry=geom, expected_version=version, actor=actor,
                 message=parse_message(body))
    return versioned(store, layer, key)


def delete(store: Store, layer: str, key: str, body, *, if_match: str | None, actor: str) -> dict:
    version = parse_version(if_match)
    revision = store.delete(layer, [key], expected_versions={key: version}, actor=actor,
                            message=parse_message(body or {}))
    return {"revision": revision.id, "deleted": key}


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
