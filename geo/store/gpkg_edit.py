"""The write methods of the GeoPackage store (the ``Store`` interface), each one transaction."""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence

import numpy as np
import shapely

from ..errors import Conflict, InvalidParameter, NotFound
from . import gpkg_ddl as ddl
from .base import Field, Revision, check_layer_name
from ..memory import give_back
from .gpkg_bulk import db_column, triggers_aside, triggers_back
from .gpkg_docs import update_documents
from .gpkg_geom import blobs, fit
from .gpkg_write import _FIELD_NAME, GeoPackageWriter, _q, db_value, logical

_TYPE_NAMES = {0: "Point", 1: "LineString", 3: "Polygon", 4: "MultiPoint", 5: "MultiLineString", 6: "MultiPolygon"}


_SINGLE = {"MultiPoint": (0, shapely.multipoints), "MultiLineString": (1, shapely.multilinestrings),
           "MultiPolygon": (3, shapely.multipolygons)}
#: features inserted per chunk by ``_add_rows``
_BULK = 5_000
#: from this many features on, ``_add_rows`` sets the layer's insert triggers aside
_BULK_TRIGGERS = 2_000


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


class GeoPackageEditor(GeoPackageWriter):
    def create_layer(self, name: str, geometry_type: str, fields: Sequence[Field], *, actor: str,
                     message: str, features=None, progress=None, documents=None) -> Revision:
        check_layer_name(name)
        if geometry_type not in ddl.GEOMETRY_TYPES.values():
            raise InvalidParameter(f"geometry type must be one of {', '.join(ddl.GEOMETRY_TYPES.values())}, "
                                   f"got {geometry_type!r}", parameter="geometry_type")
        fields = list(fields)
        if self.key not in {f.name for f in fields}:
            fields.insert(0, Field(self.key, "str"))
        for f in fields:
            if not _FIELD_NAME.match(f.name) or f.name.lower() in ("fid", "geom"):
                raise InvalidParameter(f"field name {f.name!r}: use letters, digits and '_' (not fid or geom)",
                                       parameter="fields")
        if features is not None:
            self._check_frame(name, features)
            give_back()
        tmp = self._empty_layer(name, geometry_type, fields)

        def work(tx):
            taken = tx.con.execute("SELECT 1 FROM gpkg_atlas_layers WHERE name = ?", (name,)).fetchone()
            if name in tx.schema or taken:
                raise Conflict(f"图层 {name!r} 已存在 / a layer {name!r} exists (or was dropped and can be "
                               "restored); choose another name", parameter="layer")
            ddl.merge(tx.con, [name], self.key)
            tx.layers.add(name)
            if features is not None and len(features):
                tx.schema = ddl.read_schema(tx.con)
                self._add_rows(tx, name, features, progress=progress)
            tx.after.append(lambda rid: ddl.remember(tx.con, name, geometry_type, fields, self.key, rid, since=True))
            update_documents(tx.con, documents)

        try:
            return self._transact(actor, message, work, attach=tmp)
        finally:
            self._drop_tmp(tmp)

    def add(self, layer: str, frame, *, actor: str, message: str, progress=None) -> Revision:
        self._check_frame(layer, frame)
        return self._transact(actor, message, lambda tx: self._add_rows(tx, layer, frame, progress=progress))

    def _add_rows(self, tx, layer: str, frame, *, progress=None) -> None:
        """Insert ``frame``'s features inside the transaction ``tx`` (a key already present:
        Conflict); ``progress(done, total)`` after each chunk."""
        meta = self._meta(tx, layer)
        unknown = [c for c in frame.columns if c != frame.geometry.name and c not in meta["fields"]]
        if unknown:
            raise InvalidParameter(f"layer {layer!r} has no field {unknown[0]!r}", parameter=unknown[0])
        keys = [str(k) for k in frame[self.key]]
        empty = tx.con.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {_q(layer)})").fetchone()[0]
        present = {} if empty else self._current(tx.con, layer, meta, keys)  # a new layer has no keys yet
        if present:
            first = next(k for k in keys if k in present)
            raise Conflict(f"{self.key} {first!r} 已存在 / a feature {first!r} is already in layer {layer!r}; "
                           "pick another id or update that feature", parameter=self.key)
        del present
        if not len(frame):
            self._insert(tx, layer, meta, [])
            return
        key_kind = meta["fields"][self.key]
        # in chunks: the geometries checked and encoded, the values converted a column at a time,
        # and the log written as it goes (``_spill``), so memory holds one chunk, not the frame twice.
        # Many features: the insert triggers set aside and their work done a chunk at a time
        aside = triggers_aside(tx.con, layer, meta) if len(frame) >= _BULK_TRIGGERS else None
        if len(frame) >= _BULK_TRIGGERS:
            # a page cache in proportion (64 bytes a feature, 2 to 64 MB) for this one write: the
            # indexes (key, R-tree, the log's) are updated in memory (1M features: ~20% less CPU)
            tx.con.execute(f"PRAGMA cache_size = -{min(65536, max(2000, len(frame) // 16))}")
        for start in range(0, len(frame), _BULK):
            chunk = frame.iloc[start:start + _BULK]
            checked, geoms = _fitted(layer, meta["type"], chunk.geometry)
            columns = {f: db_column(chunk[f] if f in chunk.columns and f != chunk.geometry.name else None, kind, f,
                                    len(chunk)) for f, kind in meta["fields"].items()}
            columns[self.key] = keys[start:start + _BULK] if key_kind == "str" else \
                [db_value(k, key_kind, self.key) for k in keys[start:start + _BULK]]
            bounds = shapely.bounds(checked)
            extent = (float(np.nanmin(bounds[:, 0])), float(np.nanmin(bounds[:, 1])),
                      float(np.nanmax(bounds[:, 2])), float(np.nanmax(bounds[:, 3]))) if len(bounds) else None
            self._insert_columns(tx, layer, meta, columns, geoms, blobs(checked, geoms), extent,
                                 bounds=bounds.tolist(), aside=aside)
            del columns, checked, geoms, bounds
            give_back()  # the chunk's transient values: resident memory stays one chunk's, not the peak's
            if progress is not None:
                progress(min(start + _BULK, len(frame)), len(frame))
        if aside is not None:
            triggers_back(tx.con, aside)

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
                from .gpkg_write import db_value
                props[name] = logical(db_value(value, meta["fields"][name], name), meta["fields"][name])
            geom = row[2] if geometry is None else shapely.to_wkb(fit(geometry, layer, meta["type"]), byte_order=1)
            self._apply(tx, layer, meta, {key: row}, {key: (row[0], props, geom)})
            tx.layers.add(layer)

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

    def add_field(self, layer: str, field: Field, *, actor: str, message: str) -> Revision:
        if not _FIELD_NAME.match(field.name) or field.name.lower() in ("fid", "geom"):
            raise InvalidParameter(f"field name {field.name!r}: use letters, digits and '_'", parameter="field")

        def work(tx):
            if layer not in tx.schema:
                raise NotFound(f"no layer {layer!r}", parameter="layer")
            meta = tx.schema[layer]
            if field.name in meta["fields"]:
                raise Conflict(f"layer {layer!r} already has a field {field.name!r}", parameter="field")
            ddl.add_column(tx.con, layer, field.name, field.type)
            tx.layers.add(layer)
            fields = [Field(n, t) for n, t in meta["fields"].items()] + [field]
            tx.after.append(lambda rid: ddl.remember(tx.con, layer, meta["type"], fields, self.key, rid, since=False))

        return self._transact(actor, message, work)

    def rename_layer(self, old: str, new: str, *, actor: str, message: str) -> Revision:
        check_layer_name(new)

        def work(tx):
            if old not in tx.schema:
                raise NotFound(f"no layer {old!r}", parameter="layer")
            if new in tx.schema or tx.con.execute("SELECT 1 FROM gpkg_atlas_layers WHERE name = ?", (new,)).fetchone():
                raise Conflict(f"a layer {new!r} exists (or was dropped); choose another name", parameter="layer")
            meta = tx.schema[old]
            ddl.rename(tx.con, old, new, self.key)
            tx.con.execute("DELETE FROM gpkg_atlas_layers WHERE name = ?", (old,))
            tx.layers |= {old, new}
            fields = [Field(n, t) for n, t in meta["fields"].items()]
            tx.after.append(lambda rid: ddl.remember(tx.con, new, meta["type"], fields, self.key, rid, since=True))

        return self._transact(actor, message, work)

    def drop_layer(self, layer: str, *, actor: str, message: str) -> Revision:
        def work(tx):
            meta = self._meta(tx, layer)
            rows = self._current(tx.con, layer, meta)
            for k, (f, props, geom) in rows.items():
                tx.changes.append((layer, k, f, "delete", props, geom, None, None))
            ddl.drop(tx.con, layer)
            tx.layers.add(layer)
            tx.after.append(lambda rid: tx.con.execute("UPDATE gpkg_atlas_layers SET dropped = 1 WHERE name = ?", (layer,)))

        return self._transact(actor, message, work)

    def dropped_layers(self) -> list[str]:
        live = set(self._schema())

        def read(con):
            try:
                return [r[0] for r in con.execute("SELECT name FROM gpkg_atlas_layers WHERE dropped = 1 ORDER BY name")]
            except sqlite3.OperationalError:  # a store written before the log
                return []
        return [n for n in self._run("reading the log", read) if n not in live]

    def _dropped(self, layer: str):
        def read(con):
            return con.execute("SELECT geometry_type, fields FROM gpkg_atlas_layers WHERE name = ? AND dropped = 1",
                               (layer,)).fetchone()
        return self._run("reading the log", read)

    def restore_layer(self, layer: str, *, revision_id: int | None = None, as_of: str | None = None,
                      actor: str, message: str) -> Revision:
        if (revision_id is None) == (as_of is None):
            raise InvalidParameter("give either a revision or an as_of time to restore the layer to",
                                   parameter="revision")
        dropped = self._dropped(layer) if layer not in self._schema() else None
        tmp = None
        if dropped is not None:
            fields = [Field(n, t) for n, t in json.loads(dropped[1])]
            tmp = self._empty_layer(layer, dropped[0], fields)

        def work(tx):
            point = self._point(tx.con, revision_id, as_of)
            if tmp is not None:
                if layer in tx.schema:
                    raise Conflict(f"layer {layer!r} was re-created meanwhile; try again", parameter="layer")
                ddl.merge(tx.con, [layer], self.key)
                tx.schema = ddl.read_schema(tx.con)
                tx.con.execute("UPDATE gpkg_atlas_layers SET dropped = 0 WHERE name = ?", (layer,))
            meta = self._meta(tx, layer)
            self._check_since(tx.con, layer, point)
            current = self._current(tx.con, layer, meta)
            target = self._rolled_back(tx.con, layer, dict(current), point)
            self._apply(tx, layer, meta, current, target)

        try:
            return self._transact(actor, message, work, attach=tmp)
        finally:
            if tmp is not None:
                self._drop_tmp(tmp)

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

    def _rolled_back(self, con, layer: str, rows: dict, point: int, *, key: str | None = None) -> dict:
        """``rows`` ({key: (fid, props, WKB)}) as they were right after revision ``point``."""
        sql = "SELECT key, fid, before, before_geom FROM gpkg_atlas_changes WHERE layer = ? AND rev > ?"
        params = [layer, point]
        if key is not None:
            sql += " AND key = ?"
            params.append(key)
        seen = set()
        for k, fid, before, geom in con.execute(sql + " ORDER BY rev, seq", params):
            if k in seen:
                continue
            seen.add(k)
            if before is None:
                rows.pop(k, None)
            else:
                rows[k] = (fid, json.loads(before), geom)
        return rows

    def _point(self, con, revision_id, as_of) -> int:
        """The revision id a restore or as-of read goes back to (0: before the first)."""
        from .revisions import parse_time

        if revision_id is not None:
            top = con.execute("SELECT MAX(id) FROM gpkg_atlas_revisions").fetchone()[0] or 0
            if not 0 < int(revision_id) <= top:
                raise NotFound(f"no revision {revision_id}; the log has 1 to {top}", parameter="revision")
            return int(revision_id)
        row = con.execute("SELECT MAX(id) FROM gpkg_atlas_revisions WHERE time <= ?", (parse_time(as_of),)).fetchone()
        return row[0] or 0

    def _check_since(self, con, layer: str, point: int) -> None:
        row = con.execute("SELECT since_rev FROM gpkg_atlas_layers WHERE name = ?", (layer,)).fetchone()
        if row is not None and point < row[0]:
            rev = con.execute("SELECT time, actor FROM gpkg_atlas_revisions WHERE id = ?", (row[0],)).fetchone()
            raise InvalidParameter(
                f"图层 {layer!r} 的历史从修订 {row[0]} 开始 / layer {layer!r}'s history starts at revision {row[0]} "
                f"({rev[0] if rev else '?'}, {rev[1] if rev else '?'}: a build, creation or rename); "
                "choose a later time or revision", parameter="as_of")

    # -- upsert: add new keys and update present ones, in one transaction ----------------------------
    def _upsert_target(self, con, layer: str, meta: dict, frame) -> tuple[dict, dict, dict]:
        """(current rows of the frame's keys, target rows, {"added", "updated", "unchanged": [keys]})."""
        from .gpkg_write import db_value

        unknown = [c for c in frame.columns if c != frame.geometry.name and c not in meta["fields"]]
        if unknown:
            raise InvalidParameter(f"layer {layer!r} has no field {unknown[0]!r}", parameter=unknown[0])
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
            tx.layers.add(layer)

        return self._transact(actor, message, work)
