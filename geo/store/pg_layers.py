"""The layer-wide writes of the PostGIS store: a build replacing every layer, a new layer, a new
field, a rename, a drop and a restore of a layer; each one transaction and revision
(``PostGISEditor._transact``), the tables made and changed by ``pg_ddl``."""
from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

from ..errors import Conflict, GeoError, InvalidParameter, NotFound, StoreError
from . import pg_ddl as ddl
from . import pg_sql
from .base import Field, Revision, check_layer_name
from .editing import check_build, check_field_name, check_new_layer, dropped_fields, new_field
from .gpkg_bulk import db_column
from .pg_edit import _BULK, _ewkb


class PostGISLayers:
    def replace(self, layers, fields=None, *, message: str = "build") -> Revision:
        types = check_build(layers, fields, self.key)

        def work(tx):
            con = tx.con
            for name in tx.schema:
                con.execute(sql.SQL("DROP TABLE {}").format(self._t(name)))
                con.execute(sql.SQL("UPDATE {} SET dropped = true WHERE name = %s").format(self._t("atlas_layers")),
                            (name,))
            for name, frame in layers.items():
                columns = [c for c in frame.columns if c != frame.geometry.name]
                declared = [Field(c, types[name][c]) for c in columns]
                gtypes = set(frame.geometry.geom_type.dropna())
                gtype = gtypes.pop() if len(gtypes) == 1 else "Geometry"
                if gtype not in ddl.GEOMETRY_TYPES:
                    gtype = "Geometry"
                ddl.create_layer_table(con, self.schema, name, gtype, declared, self.key)
                meta = {"type": gtype, "fields": {f.name: f.type for f in declared}}
                for start in range(0, max(len(frame), 1), _BULK):
                    chunk = frame.iloc[start:start + _BULK]
                    if not len(chunk):
                        break
                    cols = {c: db_column(chunk[c], types[name][c], c, len(chunk)) for c in columns}
                    self._copy_rows(con, name, meta, range(start + 1, start + 1 + len(chunk)), cols,
                                    _ewkb(chunk.geometry.values))
                self._bump_fids(con, name, len(frame))
                ddl.index_layer(con, self.schema, name, self.key, declared)
                ddl.install_triggers(con, self.schema, name, self.key if self.key in columns else "")
                ddl.remember(con, self.schema, name, gtype, declared, self.key, tx.rid, since=True, new_place=True)
                tx.layers.add(name)

        try:
            return self._transact("sources", message, work, create=True)
        except GeoError:
            raise
        except Exception as exc:
            raise StoreError("could not write the store; the previous store was left as it was",
                             internal=f"writing schema {self.schema}: {type(exc).__name__}: {exc}") from exc

    def create_layer(self, name: str, geometry_type: str, fields: Sequence[Field], *, actor: str, message: str,
                     features=None, progress=None, documents=None) -> Revision:
        from .pg_log import update_documents

        fields = check_new_layer(name, geometry_type, ddl.GEOMETRY_TYPES, fields, self.key)
        if features is not None:
            self._check_frame(name, features)

        def work(tx):
            con = tx.con
            taken = con.execute(sql.SQL("SELECT 1 FROM {} WHERE name = %s").format(self._t("atlas_layers")),
                                (name,)).fetchone()
            if name in tx.schema or taken:
                raise Conflict(f"图层 {name!r} 已存在 / a layer {name!r} exists (or was dropped and can be "
                               "restored); choose another name", parameter="layer")
            ddl.create_layer_table(con, self.schema, name, geometry_type, fields, self.key)
            ddl.index_layer(con, self.schema, name, self.key, fields)
            ddl.install_triggers(con, self.schema, name, self.key)
            ddl.remember(con, self.schema, name, geometry_type, fields, self.key, tx.rid, since=True, new_place=True)
            tx.schema = ddl.read_schema(con, self.schema)
            tx.layers.add(name)
            if features is not None and len(features):
                self._add_rows(tx, name, features, progress=progress)
                ddl.analyze(con, self.schema, name)
            update_documents(con, self.schema, documents)

        return self._transact(actor, message, work)

    def add_field(self, layer: str, field: Field, *, actor: str, message: str) -> Revision:
        check_field_name(field)

        def work(tx):
            meta, fields = new_field(tx, layer, field)
            tx.con.execute(sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                self._t(layer), pg_sql.field(field.name), sql.SQL(ddl.sql_type(field.type))), ())
            tx.layers.add(layer)
            ddl.remember(tx.con, self.schema, layer, meta["type"], fields, self.key, tx.rid, since=False)

        return self._transact(actor, message, work)

    def rename_layer(self, old: str, new: str, *, actor: str, message: str) -> Revision:
        check_layer_name(new)

        def work(tx):
            con = tx.con
            if old not in tx.schema:
                raise NotFound(f"no layer {old!r}", parameter="layer")
            taken = con.execute(sql.SQL("SELECT 1 FROM {} WHERE name = %s").format(self._t("atlas_layers")),
                                (new,)).fetchone()
            if new in tx.schema or taken:
                raise Conflict(f"a layer {new!r} exists (or was dropped); choose another name", parameter="layer")
            meta = tx.schema[old]
            con.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(self._t(old), sql.Identifier(new)))
            con.execute(sql.SQL("UPDATE {} SET name = %s WHERE name = %s").format(self._t("atlas_layers")), (new, old))
            tx.layers |= {old, new}
            fields = [Field(n, t) for n, t in meta["fields"].items()]
            ddl.remember(con, self.schema, new, meta["type"], fields, self.key, tx.rid, since=True)

        return self._transact(actor, message, work)

    def drop_layer(self, layer: str, *, actor: str, message: str) -> Revision:
        def work(tx):
            self._meta(tx, layer)
            tx.con.execute(sql.SQL("DELETE FROM {}").format(self._t(layer)))  # the triggers log every feature
            tx.con.execute(sql.SQL("DROP TABLE {}").format(self._t(layer)))
            tx.con.execute(sql.SQL("UPDATE {} SET dropped = true WHERE name = %s").format(self._t("atlas_layers")),
                           (layer,))
            tx.layers.add(layer)

        return self._transact(actor, message, work)

    def restore_layer(self, layer: str, *, revision_id: int | None = None, as_of: str | None = None,
                      actor: str, message: str) -> Revision:
        if (revision_id is None) == (as_of is None):
            raise InvalidParameter("give either a revision or an as_of time to restore the layer to",
                                   parameter="revision")

        def work(tx):
            con = tx.con
            point = self._point(con, revision_id, as_of)
            if layer not in tx.schema:
                row = con.execute(sql.SQL("SELECT geometry_type, fields FROM {} WHERE name = %s AND dropped").format(
                    self._t("atlas_layers")), (layer,)).fetchone()
                if row is None:
                    raise NotFound(f"no layer {layer!r}", parameter="layer")
                fields = dropped_fields(row[1])
                ddl.create_layer_table(con, self.schema, layer, row[0], fields, self.key)
                ddl.index_layer(con, self.schema, layer, self.key, fields)
                ddl.install_triggers(con, self.schema, layer, self.key)
                con.execute(sql.SQL("UPDATE {} SET dropped = false, pos = (SELECT max(pos) + 1 FROM {}) "
                                    "WHERE name = %s").format(self._t("atlas_layers"), self._t("atlas_layers")),
                            (layer,))
                tx.schema = ddl.read_schema(con, self.schema)
            self._roll_back_layer(tx, layer, point)
            ddl.analyze(con, self.schema, layer)

        return self._transact(actor, message, work)
