"""The write methods of the GeoPackage store (the ``Store`` interface), each one transaction."""
from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import numpy as np
import shapely

from ..errors import Conflict, InvalidParameter, NotFound
from . import gpkg_ddl as ddl
from .base import Field, Revision, check_layer_name
from .editing import _fitted, check_field_name, chunk_columns, check_new_layer, dropped_fields, new_field
from ..memory import give_back
from .gpkg_bulk import triggers_aside, triggers_back
from .gpkg_docs import update_documents
from .gpkg_geom import blobs
from .gpkg_write import GeoPackageWriter, _q

#: features inserted per chunk by ``_add_rows``
_BULK = 5_000
#: from this many features on, ``_add_rows`` sets the layer's insert triggers aside
_BULK_TRIGGERS = 2_000


class GeoPackageEditor(GeoPackageWriter):
    def create_layer(self, name: str, geometry_type: str, fields: Sequence[Field], *, actor: str,
                     message: str, features=None, progress=None, documents=None) -> Revision:
        fields = check_new_layer(name, geometry_type, ddl.GEOMETRY_TYPES.values(), fields, self.key)
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

    def _add_rows(self, tx, layer: str, frame, *, progress=None) -> None:
        """Insert ``frame``'s features inside the transaction ``tx`` (a key already present:
        Conflict); ``progress(done, total)`` after each chunk."""
        meta = self._meta(tx, layer)
        self._check_columns(layer, meta, frame)
        keys = [str(k) for k in frame[self.key]]
        empty = tx.con.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {_q(layer)})").fetchone()[0]
        present = {} if empty else self._current(tx.con, layer, meta, keys)  # a new layer has no keys yet
        self._refuse_present(layer, keys, present)
        del present
        if not len(frame):
            self._insert(tx, layer, meta, [])
            return
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
            columns = chunk_columns(chunk, meta, self.key, keys[start:start + _BULK])
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

    def add_field(self, layer: str, field: Field, *, actor: str, message: str) -> Revision:
        check_field_name(field)

        def work(tx):
            meta, fields = new_field(tx, layer, field)
            ddl.add_column(tx.con, layer, field.name, field.type)
            tx.layers.add(layer)
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
            tmp = self._empty_layer(layer, dropped[0], dropped_fields(dropped[1]))

        def work(tx):
            point = self._point(tx.con, revision_id, as_of)
            if tmp is not None:
                if layer in tx.schema:
                    raise Conflict(f"layer {layer!r} was re-created meanwhile; try again", parameter="layer")
                ddl.merge(tx.con, [layer], self.key)
                tx.schema = ddl.read_schema(tx.con)
                tx.con.execute("UPDATE gpkg_atlas_layers SET dropped = 0 WHERE name = ?", (layer,))
            self._roll_back_layer(tx, layer, point)

        try:
            return self._transact(actor, message, work, attach=tmp)
        finally:
            if tmp is not None:
                self._drop_tmp(tmp)
