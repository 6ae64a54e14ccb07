"""The writes both store backends do the same way, written once over each one's own primitives:
the checks of what is to be written (a frame, a new layer, a field, a build) and the feature
writes made of reading rows and applying a target (update, delete, restore, upsert).

A backend gives: ``_schema()``, ``_run(what, fn)``, ``_transact(actor, message, work)``
(``work(tx)`` inside one transaction and its revision; ``tx.con``, ``tx.schema``), ``_add_rows(tx,
layer, frame, progress=)``, ``_current(con, layer, meta, keys)`` ({key: (fid, props, WKB)}),
``_apply(tx, layer, meta, current, target)`` (the rows made into the target, the layer in
``tx.layers``), and the log's ``_point``, ``_check_since``, ``_check_version`` and
``_changes_after`` (``common.CommonStore``).
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import Conflict, CRSError, InvalidParameter, NotFound, StoreError
from .base import Field, Revision, check_layer_name
from .gpkg_bulk import db_column
from .gpkg_geom import fit
from .gpkg_rows import field_types
from .gpkg_write import _FIELD_NAME, db_value, logical


_TYPE_NAMES = {0: "Point", 1: "LineString", 3: "Polygon", 4: "MultiPoint", 5: "MultiLineString", 6: "MultiPolygon"}


_SINGLE = {"MultiPoint": (0, shapely.multipoints), "MultiLineString": (1, shapely.multilinestrings),
           "MultiPolygon": (3, shapely.multipolygons)}


def _fitted(layer: str, layer_type: str, geoms) -> tuple[np.ndarray, list[bytes]]:
    """Each geometry checked for the layer (vectorised where it is cheap): the shapes as they go
    into the layer (a single part promoted to the layer's multi type) and their WKB."""
    arr = np.asarray(geoms.values if hasattr(geoms, "values") else geoms, dtype=object)
    kinds = shapely.get_type_id(arr)
    if layer_type in _SINGLE:  # single parts promoted to the layer's multi type, all at once (as ``fit``)
        single_id, make = _SINGLE[layer_type]
        single = kinds == single_id
        if single.any():
            arr = arr.copy()
            arr[single] = make(arr[single], indices=np.arange(int(single.sum())))
            kinds = shapely.get_type_id(arr)
    valid = shapely.is_valid(arr)
    names = {_TYPE_NAMES.get(int(k)) for k in set(kinds.tolist())}
    simple = layer_type == "Geometry" or names == {layer_type}
    if simple and valid.all() and not shapely.is_empty(arr).any():
        b = shapely.bounds(arr)
        if (b[:, 0] >= -180).all() and (b[:, 2] <= 180).all() and (b[:, 1] >= -90).all() and (b[:, 3] <= 90).all():
            return arr, list(shapely.to_wkb(arr, byte_order=1))
    shapes = np.array([fit(g, layer, layer_type) for g in arr] + [None], dtype=object)[:-1]
    return shapes, [shapely.to_wkb(g, byte_order=1) for g in shapes]


def _geoms_for(layer: str, layer_type: str, geoms) -> list[bytes]:
    """Each geometry checked for the layer (vectorised where it is cheap), as WKB."""
    return _fitted(layer, layer_type, geoms)[1]


def chunk_columns(chunk, meta: dict, key: str, keys: list[str]) -> dict[str, list]:
    """The stored values of every field of the frame ``chunk`` (None where it has no such column),
    a column at a time; ``keys``: the chunk's keys as text."""
    columns = {f: db_column(chunk[f] if f in chunk.columns and f != chunk.geometry.name else None, kind, f,
                            len(chunk)) for f, kind in meta["fields"].items()}
    kind = meta["fields"][key]
    columns[key] = keys if kind == "str" else [db_value(k, kind, key) for k in keys]
    return columns


def fids_for(wanted, taken, top: int) -> tuple[list[int], int]:
    """(the fid each new row gets: its own ``wanted`` one where it is free, else the next after
    ``top``; the highest fid then)."""
    fids = []
    for fid in wanted:
        if fid is None or fid in taken:
            top += 1
            fid = top
        top = max(top, fid)
        fids.append(fid)
    return fids, top


def check_build(layers, fields, key: str) -> dict[str, dict[str, str]]:
    """The layers of a build checked (names, WGS84, a unique key each): {layer: {field: type}}."""
    if not layers:
        raise StoreError("nothing to write: no layers were given, so the store was left as it was")
    types = {}
    for name, frame in layers.items():
        check_layer_name(name)
        if frame.crs is None:
            raise CRSError(f"layer {name!r} has no coordinate system; set it (EPSG:4326) before storing")
        if frame.crs.to_epsg() != 4326:
            raise CRSError(f"layer {name!r} is in {frame.crs.to_string()}; the store keeps WGS84 "
                           "(EPSG:4326): reproject it first")
        if key not in frame.columns or frame[key].isna().any() or frame[key].duplicated().any():
            raise StoreError(f"layer {name!r} needs a unique, non-empty {key!r} for every feature")
        types[name] = field_types(name, frame, (fields or {}).get(name, ()))
    return types


def check_new_layer(name: str, geometry_type: str, geometry_types, fields: Sequence[Field], key: str) -> list[Field]:
    """A new layer's name, geometry type (one of ``geometry_types``) and fields checked: its
    fields, the key first if they did not have it."""
    check_layer_name(name)
    if geometry_type not in geometry_types:
        raise InvalidParameter(f"geometry type must be one of {', '.join(geometry_types)}, "
                               f"got {geometry_type!r}", parameter="geometry_type")
    fields = list(fields)
    if key not in {f.name for f in fields}:
        fields.insert(0, Field(key, "str"))
    for f in fields:
        if not _FIELD_NAME.match(f.name) or f.name.lower() in ("fid", "geom"):
            raise InvalidParameter(f"field name {f.name!r}: use letters, digits and '_' (not fid or geom)",
                                   parameter="fields")
    return fields


def check_field_name(field: Field) -> None:
    if not _FIELD_NAME.match(field.name) or field.name.lower() in ("fid", "geom"):
        raise InvalidParameter(f"field name {field.name!r}: use letters, digits and '_'", parameter="field")


def new_field(tx, layer: str, field: Field) -> tuple[dict, list[Field]]:
    """(the layer's schema, its fields with ``field`` after them) for adding ``field`` in ``tx``."""
    if layer not in tx.schema:
        raise NotFound(f"no layer {layer!r}", parameter="layer")
    meta = tx.schema[layer]
    if field.name in meta["fields"]:
        raise Conflict(f"layer {layer!r} already has a field {field.name!r}", parameter="field")
    return meta, [Field(n, t) for n, t in meta["fields"].items()] + [field]


def dropped_fields(text: str) -> list[Field]:
    """The fields of a dropped layer as the log keeps them (JSON [[name, type], ...])."""
    return [Field(n, t) for n, t in json.loads(text)]


class SharedEdits:
    # -- checks --------------------------------------------------------------------------------
    def _meta(self, tx, layer: str) -> dict:
        if layer not in tx.schema:
            raise NotFound(f"no layer {layer!r}; the layers are: {', '.join(tx.schema) or '(none)'}",
                           parameter="layer")
        if self.key not in tx.schema[layer]["fields"]:
            raise InvalidParameter(f"layer {layer!r} has no key field {self.key!r}; it cannot be edited here")
        return tx.schema[layer]

    def _check_frame(self, layer: str, frame) -> None:
        if not isinstance(frame, gpd.GeoDataFrame) or frame.crs is None or frame.crs.to_epsg() != 4326:
            raise CRSError(f"features for layer {layer!r} must be a GeoDataFrame in WGS84 (EPSG:4326)")
        if self.key not in frame.columns or frame[self.key].isna().any():
            raise InvalidParameter(f"every feature needs its {self.key!r}", parameter=self.key)
        keys = frame[self.key]
        # keys already text are compared as they are (no copy of the column as text to do it)
        text = keys if pd.api.types.infer_dtype(keys, skipna=False) == "string" else keys.astype(str)
        dup = keys[text.duplicated()]
        if len(dup):
            raise Conflict(f"{self.key} {dup.iloc[0]!r} is given twice; keys must be unique", parameter=self.key)

    def _check_columns(self, layer: str, meta: dict, frame) -> None:
        unknown = [c for c in frame.columns if c != frame.geometry.name and c not in meta["fields"]]
        if unknown:
            raise InvalidParameter(f"layer {layer!r} has no field {unknown[0]!r}", parameter=unknown[0])

    def _refuse_present(self, layer: str, keys: list[str], present) -> None:
        """Conflict when one of ``keys`` is already in the layer (``present``: those that are)."""
        if present:
            first = next(k for k in keys if k in present)
            raise Conflict(f"{self.key} {first!r} 已存在 / a feature {first!r} is already in layer {layer!r}; "
                           "pick another id or update that feature", parameter=self.key)

    # -- feature writes ------------------------------------------------------------------------
    def add(self, layer: str, frame, *, actor: str, message: str, progress=None) -> Revision:
        self._check_frame(layer, frame)
        return self._transact(actor, message, lambda tx: self._add_rows(tx, layer, frame, progress=progress))

    def update(self, layer: str, key: str, *, properties: Mapping | None = None, geometry=None,
               expected_version: int | None = None, actor: str, message: str) -> Revision:
        key = str(key)

        def work(tx):
            meta = self._meta(tx, layer)
            row = self._current(tx.con, layer, meta, [key]).get(key)
            if row is None:
                raise NotFound(f"layer {layer!r} has no feature {key!r}", parameter="id")
            self._check_version(tx.con, layer, key, expected_version)
            props = dict(row[1])
            for name, value in (properties or {}).items():
                if name not in meta["fields"]:
                    raise InvalidParameter(f"layer {layer!r} has no field {name!r}", parameter=name)
                if name == self.key and str(value) != key:
                    raise InvalidParameter(f"the {self.key!r} of a feature cannot change", parameter=name)
                props[name] = logical(db_value(value, meta["fields"][name], name), meta["fields"][name])
            geom = row[2] if geometry is None else shapely.to_wkb(fit(geometry, layer, meta["type"]), byte_order=1)
            self._apply(tx, layer, meta, {key: row}, {key: (row[0], props, geom)})

        return self._transact(actor, message, work)

    def delete(self, layer: str, keys: Sequence[str], *, expected_versions: Mapping | None = None,
               actor: str, message: str) -> Revision:
        keys = [str(k) for k in keys]

        def work(tx):
            meta = self._meta(tx, layer)
            rows = self._current(tx.con, layer, meta, keys)
            missing = [k for k in keys if k not in rows]
            if missing:
                raise NotFound(f"layer {layer!r} has no feature {missing[0]!r}", parameter="id")
            for k, v in (expected_versions or {}).items():
                self._check_version(tx.con, layer, str(k), v)
            self._apply(tx, layer, meta, rows, {})

        return self._transact(actor, message, work)

    # -- restores --------------------------------------------------------------------------------
    def _rolled_back(self, con, layer: str, rows: dict, point: int, *, key: str | None = None) -> dict:
        """``rows`` ({key: (fid, props, WKB)}) as they were right after revision ``point``."""
        seen = set()
        for k, fid, before, geom in self._changes_after(con, layer, point, key):
            if k in seen:
                continue
            seen.add(k)
            if before is None:
                rows.pop(k, None)
            else:
                rows[k] = (fid, json.loads(before), geom)
        return rows

    def _roll_back_layer(self, tx, layer: str, point: int) -> None:
        """The layer's rows made what they were right after revision ``point``, inside ``tx``."""
        meta = self._meta(tx, layer)
        self._check_since(tx.con, layer, point)
        current = self._current(tx.con, layer, meta)
        target = self._rolled_back(tx.con, layer, dict(current), point)
        self._apply(tx, layer, meta, current, target)

    def restore_feature(self, layer: str, key: str, revision_id: int, *, actor: str, message: str) -> Revision:
        key = str(key)

        def work(tx):
            meta = self._meta(tx, layer)
            point = self._point(tx.con, int(revision_id), None)
            self._check_since(tx.con, layer, point)
            current = self._current(tx.con, layer, meta, [key])
            target = self._rolled_back(tx.con, layer, dict(current), point, key=key)
            if key not in current and key not in target:
                raise NotFound(f"feature {key!r} did not exist in layer {layer!r} after revision {revision_id}",
                               parameter="id")
            self._apply(tx, layer, meta, current, {k: v for k, v in target.items() if k == key})

        return self._transact(actor, message, work)

    # -- upsert: add new keys and update present ones, in one transaction ----------------------------
    def _upsert_target(self, con, layer: str, meta: dict, frame) -> tuple[dict, dict, dict]:
        """(current rows of the frame's keys, target rows, {"added", "updated", "unchanged": [keys]})."""
        self._check_columns(layer, meta, frame)
        keys = [str(k) for k in frame[self.key]]
        current = self._current(con, layer, meta, keys)
        geoms = _geoms_for(layer, meta["type"], frame.geometry)
        columns = [c for c in frame.columns if c != frame.geometry.name]
        target, plan = {}, {"added": [], "updated": [], "unchanged": []}
        for key, record, geom in zip(keys, frame[columns].to_dict("records"), geoms):
            row = current.get(key)
            props = dict(row[1]) if row is not None else {f: None for f in meta["fields"]}
            for name, value in record.items():
                kind = meta["fields"][name]
                props[name] = logical(db_value(value, kind, name), kind)
            props[self.key] = key
            target[key] = (row[0] if row is not None else None, props, geom)
            if row is None:
                plan["added"].append(key)
            elif {c: props.get(c) for c in meta["fields"]} == row[1] and geom == row[2]:
                plan["unchanged"].append(key)
            else:
                plan["updated"].append(key)
        return current, target, plan

    def plan_upsert(self, layer: str, frame) -> dict[str, list[str]]:
        """What ``upsert`` of ``frame`` would do now: the keys it would add, update and leave
        unchanged. Nothing is written."""
        self._check_frame(layer, frame)
        meta = self._schema().get(layer)
        if meta is None:
            raise NotFound(f"no layer {layer!r}", parameter="layer")
        return self._run("planning an upsert", lambda con: self._upsert_target(con, layer, meta, frame)[2])

    def upsert(self, layer: str, frame, *, actor: str, message: str) -> Revision:
        """Add the features of ``frame`` whose key is new and update those whose key is present (the
        fields not in the frame kept), as one revision; unchanged features are not recorded."""
        self._check_frame(layer, frame)

        def work(tx):
            meta = self._meta(tx, layer)
            current, target, _ = self._upsert_target(tx.con, layer, meta, frame)
            self._apply(tx, layer, meta, current, target)

        return self._transact(actor, message, work)
