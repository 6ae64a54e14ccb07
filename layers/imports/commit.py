"""``commit`` and ``plan``: the inspected file read again with the planner's choices and written
whole, or not at all (see the package's docstring)."""
from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo import readers
from geo.errors import Conflict, EmptyFile, InvalidGeometry, InvalidParameter
from geo.inspect import normalise_encoding
from geo.measure import measure
from geo.store import Field, Store, check_layer_name

from .. import catalog, layermeta

MODES = ("new", "append", "upsert")
_MULTI = {"Polygon": "MultiPolygon", "LineString": "MultiLineString", "Point": "MultiPoint"}


from .inspection import MEASURES, Inspection, _read
from .preview import crs_of
from .kept import take_read
from .progress import progress_of

#: the steps of the "check" phase that ``progress`` is told of
_CHECKS = 6


# -- commit ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Result:
    layer: str
    mode: str
    revisions: tuple[int, ...]     # the revision(s) written, the last one holds the features
    added: int
    updated: int
    unchanged: int
    repaired: int
    dropped_z: int

    @property
    def revision(self) -> int | None:
        return self.revisions[-1] if self.revisions else None

    def to_dict(self) -> dict:
        return {**asdict(self), "revision": self.revision}


_TYPE_NAMES = ("Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon",
               "GeometryCollection")


def _geometry_type(frame: gpd.GeoDataFrame) -> str:
    ids = shapely.get_type_id(np.asarray(frame.geometry.array, dtype=object))
    kinds = {_TYPE_NAMES[i] for i in np.unique(ids).tolist() if 0 <= i < len(_TYPE_NAMES)}
    bases = {k.removeprefix("Multi") for k in kinds}
    if len(bases) != 1 or "GeometryCollection" in bases:
        raise InvalidGeometry(f"the shapes are of mixed types ({', '.join(sorted(kinds))}); a layer holds one kind: "
                              "split the file by type and import each part", parameter="geometry")
    base = bases.pop()
    if base == "Point" and kinds == {"Point"}:
        return "Point"
    return _MULTI.get(base, base) if base != "Point" else "MultiPoint"


def _measured(geoms: np.ndarray, chunk: int = 25_000) -> dict[str, np.ndarray]:
    """``measure`` of the shapes a chunk at a time (the same values; the shapes projected to
    EPSG:4550 are held for one chunk, not for all)."""
    parts = [measure(geoms[i:i + chunk]) for i in range(0, len(geoms), chunk)] or [measure(geoms)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _keys(frame, inspection: Inspection, layer: str, mode: str, key: str | None) -> list[str]:
    names = {f["name"] for f in inspection.fields}
    if key is not None:
        if key not in names:
            raise InvalidParameter(f"{inspection.file} has no field {key!r} to use as the key; its fields are "
                                   f"{', '.join(sorted(names))}", parameter="key")
        values = frame[key]
        if values.isna().any():
            row = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise InvalidParameter(f"{inspection.file}: row {row + 1} has no {key!r}; every feature needs its key",
                                   parameter="key")
        keys = [str(v) for v in values]
    elif mode == "upsert":
        raise InvalidParameter("an upsert needs the key field that matches features (--key FIELD)", parameter="key")
    elif catalog.KEY in names and frame[catalog.KEY].notna().all():
        keys = [str(v) for v in frame[catalog.KEY]]
    else:
        stem = uuid.uuid4().hex[:8]
        keys = [f"{layer}-{stem}-{i + 1}" for i in range(len(frame))]
    seen, dup = set(), None
    if len(set(keys)) != len(keys):
        for k in keys:
            if k in seen:
                dup = k
                break
            seen.add(k)
    if dup is not None:
        raise Conflict(f"{inspection.file}: the key {dup!r} is given twice; keys must be unique", parameter="key")
    return keys


def commit(store: Store, inspection: Inspection, *, layer: str, mode: str = "new", key: str | None = None,
           encoding: str | None = None, crs: str | None = None, repair: bool = False, actor: str,
           message: str = "", title_zh: str | None = None, title_en: str | None = None,
           geometry_type: str | None = None, dry_run: bool = False, style_field: str | None = None,
           progress=None) -> Result:
    """Write the inspected file with the planner's choices, whole, or nothing. The features are
    those ``inspect`` read when they still match (same files, unchanged, same encoding: see
    ``kept.take_read``), else the file is read again. ``progress``: see the package's
    docstring (phases "read", "check", "write"; no "write" for a dry run). A new layer (not the
    catalog's) gets its entry in ``layers.layermeta``: ``title_zh``/``title_en`` (default: each
    other, or the layer's id), its fields titled with their names in the file, and a style by
    ``style_field`` (a text field, named as in the file) when given."""
    report = progress_of(progress)
    if mode not in MODES:
        raise InvalidParameter(f"mode must be one of {', '.join(MODES)}, got {mode!r}", parameter="mode")
    check_layer_name(layer)
    exists = layer in store.layers()
    if mode == "new" and exists:
        raise Conflict(f"a layer {layer!r} exists; choose another name, or import with mode append or upsert",
                       parameter="layer")
    if mode != "new" and not exists:
        raise InvalidParameter(f"there is no layer {layer!r} to {mode} to; import with mode new to create it",
                               parameter="layer")
    label = encoding or inspection.encoding
    if encoding is not None and normalise_encoding(encoding) is None:
        raise InvalidParameter(f"unknown encoding {encoding!r}; give UTF-8, GBK or GB18030", parameter="encoding")
    report("read", 0, inspection.count)
    held = take_read(inspection, label, keep=dry_run)
    if held is not None:  # what inspect read, unchanged since: not read and decoded again
        frame, rep = held
    else:
        source = readers.open_source(inspection.path, encoding=label) \
            if label and inspection.format in ("shapefile", "csv") else readers.open_source(inspection.path)
        frame, rep = _read(source, inspection.layer, label, inspection.columns), None
        del source
    del held
    if not len(frame):
        raise EmptyFile(f"{inspection.file} holds no features", file=inspection.file, parameter="file")
    report("read", inspection.count, inspection.count)
    choice = crs or inspection.crs
    if choice is None:
        raise readers_crs_error(inspection)
    report("check", 0, _CHECKS)
    frame, dropped_z = readers.force_2d(frame)
    if rep is None or dropped_z:  # the inspection's report holds for the same shapes without heights
        rep = readers.report(frame)
    report("check", 1, _CHECKS)
    if rep.empty:
        rows = np.flatnonzero(shapely.is_missing(frame.geometry.array) | shapely.is_empty(frame.geometry.array))
        raise InvalidGeometry(f"{inspection.file}: {rep.empty} rows have no shape (the first is row {int(rows[0]) + 1}); "
                              "give them a shape or remove them", parameter="geometry")
    repaired = 0
    if rep.invalid_count:
        if not repair:
            first = rep.invalid[0]
            raise InvalidGeometry(f"{inspection.file}: {rep.invalid_count} shapes are invalid (the first, row "
                                  f"{first.row + 1}: {first.reason}); accept the repair (--repair) or fix them",
                                  parameter="repair", location=first.lonlat)
        frame, repaired = readers.repair(frame)
    report("check", 2, _CHECKS)
    crs_name, swapped = crs_of(choice)
    frame = readers.to_wgs84(frame, crs_name, swapped=swapped)
    report("check", 3, _CHECKS)
    keys = _keys(frame, inspection, layer, mode, key)
    geometry_columns = set((inspection.columns or {}).values()) - {None, "lonlat", "xy", "wkt"}
    rename = {f["name"]: f["store"] for f in inspection.fields
              if f["name"] in frame.columns and f["name"] not in geometry_columns}
    attrs = frame.drop(columns=[c for c in frame.columns if c != frame.geometry.name and c not in rename])
    del frame
    attrs = attrs.rename(columns=rename)
    types = {f["store"]: f["type"] for f in inspection.fields}
    kind = geometry_type or (_geometry_type(attrs) if mode == "new" else store.info(layer).geometry_type)
    # (mode new: single parts become the layer's multi type as the store writes them, a chunk at a time)
    report("check", 4, _CHECKS)
    measured = _measured(np.asarray(attrs.geometry.array, dtype=object))
    attrs = attrs.assign(**{catalog.KEY: keys}, **{k: v.astype(float) for k, v in measured.items()})
    del keys, measured
    report("check", 5, _CHECKS)
    count = len(attrs)
    if mode == "new":
        fields = [Field(catalog.KEY, "str")] + [Field(n, types.get(n, "str")) for n in attrs.columns
                                                 if n not in (catalog.KEY, attrs.geometry.name, *MEASURES)]
        fields += [Field(m, "float") for m in MEASURES]
        attrs = attrs[[f.name for f in fields] + [attrs.geometry.name]]
        _check_shapes(attrs, inspection.file)
        meta = layermeta.for_import(layer, fields, inspection.fields, attrs, title_zh=title_zh, title_en=title_en,
                                    style_field=style_field)
        report("check", _CHECKS, _CHECKS)
        if dry_run:
            return Result(layer, mode, (), count, 0, 0, repaired, dropped_z)
        report("write", 0, count)
        rev = store.create_layer(layer, kind, fields, features=attrs, actor=actor,
                                 message=message or f"import {inspection.file}: new layer {layer}",
                                 progress=report.within("write", count),
                                 documents=layermeta.with_entry(layer, meta))  # in the layer's transaction
        report("write", count, count)
        return Result(layer, mode, (rev.id,), count, 0, 0, repaired, dropped_z)
    schema = {f.name: f.type for f in store.fields(layer)}
    known = set(schema)
    unknown = [c for c in attrs.columns if c != attrs.geometry.name and c not in known]
    if unknown:
        raise InvalidParameter(f"layer {layer!r} has no field {', '.join(map(repr, unknown))} that {inspection.file} "
                               f"brings; its fields are {', '.join(sorted(known))}: rename the columns or import as "
                               "a new layer", parameter="fields")
    attrs = _cast(attrs, schema)
    _check_catalog(layer, attrs, inspection.file, adding=mode == "append")
    if mode == "append":
        present = store.versions(layer, list(attrs[catalog.KEY]))
        if present:
            raise Conflict(f"{inspection.file}: {len(present)} keys are already in layer {layer!r} (the first "
                           f"{min(present)!r}); import with mode upsert to update them", parameter="key")
        report("check", _CHECKS, _CHECKS)
        if dry_run:
            return Result(layer, mode, (), count, 0, 0, repaired, dropped_z)
        report("write", 0, count)
        rev = store.add(layer, attrs, actor=actor, message=message or f"import {inspection.file}",
                        progress=report.within("write", count))
        report("write", count, count)
        return Result(layer, mode, (rev.id,), count, 0, 0, repaired, dropped_z)
    plan = store.plan_upsert(layer, attrs)
    report("check", _CHECKS, _CHECKS)
    if dry_run:
        return Result(layer, mode, (), len(plan["added"]), len(plan["updated"]), len(plan["unchanged"]),
                      repaired, dropped_z)
    report("write", 0, count)
    rev = store.upsert(layer, attrs, actor=actor, message=message or f"import {inspection.file} (upsert by {key})")
    report("write", count, count)
    return Result(layer, mode, (rev.id,), len(plan["added"]), len(plan["updated"]), len(plan["unchanged"]),
                  repaired, dropped_z)


def plan(store: Store, inspection: Inspection, **choices) -> Result:
    """What ``commit`` with these choices would write (its counts; ``revisions`` empty), checked as
    ``commit`` checks, without writing: the preview's numbers."""
    return commit(store, inspection, **choices, dry_run=True)


def _cast(frame: gpd.GeoDataFrame, types: dict[str, str]) -> gpd.GeoDataFrame:
    """Numbers read from a file into the layer's text fields as text (a CSV's 371002 is the adcode
    "371002"): the layer's schema decides, not the inference of one file."""
    changed = {}
    for name in frame.columns:
        if name == frame.geometry.name or types.get(name) != "str" or frame[name].dtype == object:
            continue
        values = frame[name]
        if pd.api.types.is_string_dtype(values.dtype):
            changed[name] = values.astype(object).where(values.notna(), None)
            continue
        if pd.api.types.is_float_dtype(values.dtype) and (values.dropna() % 1 == 0).all():
            text = values.map(lambda v: None if pd.isna(v) else str(int(v)))
        else:
            text = values.map(lambda v: None if pd.isna(v) else str(v))
        changed[name] = text.astype(object)
    return frame.assign(**changed) if changed else frame


def _check_catalog(layer: str, frame: gpd.GeoDataFrame, file: str, *, adding: bool) -> None:
    """The catalog's rules for its layers, as the editor applies them (layers.api.edits): the
    vocabularies of category, district, functional area, status and accuracy; new features need a
    Chinese name, a category and a district."""
    spec = catalog.get(layer)
    if spec is None:
        return
    vocabularies = {"category": spec.categories, "district": catalog.DISTRICTS,
                    "functional_area": catalog.FUNCTIONAL_AREAS, "status": catalog.STATUSES,
                    "accuracy": catalog.ACCURACY}
    for name, allowed in vocabularies.items():
        if name not in frame.columns:
            continue
        values = frame[name]
        bad = values.notna() & ~values.astype(object).isin(list(allowed))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InvalidParameter(f"{file}: row {row + 1}: {name} {values.iloc[row]!r} is not one of "
                                   f"{', '.join(allowed)}", parameter=name)
    if adding:
        for name in ("name_zh", "category", "district"):
            missing = ~frame[name].notna() if name in frame.columns else np.ones(len(frame), bool)
            missing = np.asarray(missing)
            if missing.any():
                raise InvalidParameter(f"{file}: row {int(np.flatnonzero(missing)[0]) + 1} has no {name}; a new "
                                       f"feature of {layer!r} needs name_zh, category and district", parameter=name)


def _check_shapes(frame: gpd.GeoDataFrame, file: str) -> None:
    geoms = np.asarray(frame.geometry.array, dtype=object)
    b = shapely.bounds(geoms)
    if not ((b[:, 0] >= -180) & (b[:, 2] <= 180) & (b[:, 1] >= -90) & (b[:, 3] <= 90)).all():
        raise InvalidGeometry(f"{file}: some shapes fall outside longitude/latitude after reprojection; check the "
                              "coordinate system", parameter="crs")


def readers_crs_error(inspection: Inspection):
    from geo.errors import CRSError

    return CRSError(f"{inspection.file}: {inspection.crs_reason}; give the coordinate system by hand "
                    "(crs=EPSG:...)", parameter="crs")
