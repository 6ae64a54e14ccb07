"""The write methods of the PostGIS store, each one transaction with its revision.

A write: ``atlas_revision(actor, message)`` first (it takes the head's row lock: writers queue, as
on SQLite; and numbers the revision), earlier direct edits hashed (``pg_log.finalise``), the work —
plain INSERT/UPDATE/DELETE and COPY, whose change rows the layer's triggers write, as they do for
any other program's edits — then the revision hashed, and COMMIT. Any failure rolls all of it back.
The values and geometries are checked as on the GeoPackage store (the same helpers).
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np
import shapely
from psycopg import sql

from ..errors import Conflict, CRSError, InvalidParameter, NotFound, Stale, StoreError
from . import pg_ddl as ddl
from .base import Revision
from .gpkg_bulk import db_column
from .gpkg_edit import _fitted, _geoms_for
from .gpkg_geom import fit
from .gpkg_write import db_value, logical

_BULK = 10_000
_CHUNK = 5_000


class _Tx:
    def __init__(self, con, schema: dict, rid: int):
        self.con, self.schema, self.rid = con, schema, rid
        self.layers: set[str] = set()


def _ewkb(geoms) -> list:
    """Shapes as hex EWKB with SRID 4326 (what COPY gives a geometry(…, 4326) column)."""
    arr = np.asarray(geoms, dtype=object)
    out = shapely.to_wkb(shapely.set_srid(arr, 4326), hex=True, include_srid=True)
    return [None if g is None else h for g, h in zip(arr.tolist(), out.tolist())]


def _copy_value(v, kind):
    if v is None:
        return None
    if kind == "bool":
        return bool(v)
    return v


def copy_rows(con, table: sql.Identifier, kinds: dict[str, str], fids, columns: dict[str, list], ewkb: list) -> None:
    """Rows into ``table`` by one COPY: their fids, the stored values of every field (``columns``,
    as ``db_column`` gives them) and hex EWKB geometries."""
    fields = list(kinds)
    names = sql.SQL(", ").join([sql.Identifier("fid"), *map(sql.Identifier, fields), sql.Identifier("geom")])
    values = [[_copy_value(v, kinds[f]) for v in columns[f]] for f in fields]
    with con.cursor() as cur:
        with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(table, names)) as copy:
            for row in zip(fids, *values, ewkb):
                copy.write_row(row)


class PostGISEditor:
    # -- the transaction -----------------------------------------------------------------------
    def _transact(self, actor: str, message: str, work, *, create: bool = False) -> Revision:
        from . import pg_log

        with self._connection("writing") as con:
            with con.transaction():
                con.execute("SELECT set_config('statement_timeout', %s, true)", (str(self.options["write_timeout"]),))
                if not ddl.is_store(con, self.schema):
                    if not create:
                        raise StoreError("the store has not been built yet; run 'make build' (python -m layers.build) "
                                         "first", internal=f"no store in schema {self.schema}")
                    ddl.create_store(con, self.schema)
                rid = con.execute(sql.SQL("SELECT {}(%s, %s)").format(self._t("atlas_revision")),
                                  (actor, message or "")).fetchone()[0]
                pg_log.finalise(con, self.schema, below=rid)
                tx = _Tx(con, ddl.read_schema(con, self.schema), rid)
                if work is not None:
                    work(tx)
                digest, count = pg_log.finalise_one(con, self.schema, rid, tx.layers)
                head = con.execute(sql.SQL("SELECT time, prev_hash FROM {} WHERE id = %s").format(
                    self._t("atlas_revisions")), (rid,)).fetchone()
                changes = pg_log.read_changes(con, self.schema, rid) if count <= pg_log.HELD else None
        self._schema_cache = None
        held = changes if changes is not None else pg_log.StoredChanges(self, rid, count)
        return Revision(rid, head[0], actor, message or "", head[1], digest, held)

    # -- helpers inside a transaction ----------------------------------------------------------
    def _meta(self, tx: _Tx, layer: str) -> dict:
        if layer not in tx.schema:
            raise NotFound(f"no layer {layer!r}; the layers are: {', '.join(tx.schema) or '(none)'}", parameter="layer")
        if self.key not in tx.schema[layer]["fields"]:
            raise InvalidParameter(f"layer {layer!r} has no key field {self.key!r}; it cannot be edited here")
        return tx.schema[layer]

    def _key_match(self, meta: dict) -> sql.Composable:
        key = sql.Identifier(self.key)
        return (sql.SQL("{} COLLATE \"C\" = ANY(%s)").format(key) if meta["fields"].get(self.key) == "str"
                else sql.SQL("{}::text = ANY(%s)").format(key))

    def _current(self, con, layer: str, meta: dict, keys=None) -> dict:
        """{key: (fid, props, WKB)} of the layer's rows (those of ``keys`` if given)."""
        from .pg import read_expr

        fields = list(meta["fields"])
        cols = sql.SQL(", ").join([sql.SQL("t.fid"), *(read_expr(f, meta["fields"][f]) for f in fields),
                                   sql.SQL("ST_AsBinary(t.geom)")])
        base = sql.SQL("SELECT {} FROM {} AS t").format(cols, self._t(layer))
        ki = fields.index(self.key) + 1 if self.key in fields else None
        out = {}
        keys = None if keys is None else [str(k) for k in keys]
        batches = [None] if keys is None else [keys[i:i + _CHUNK] for i in range(0, len(keys), _CHUNK)]
        for batch in batches:
            statement, params = base, []
            if batch is not None:
                if ki is None:
                    continue
                statement = base + sql.SQL(" WHERE t.") + self._key_match(meta)
                params = [batch]
            for row in con.execute(statement + sql.SQL(" ORDER BY t.fid"), params):
                props = dict(zip(fields, row[1:-1]))
                k = str(row[ki]) if ki is not None else str(row[0])
                out[k] = (row[0], props, None if row[-1] is None else bytes(row[-1]))
        return out

    def _version_of(self, con, layer: str, keys) -> dict:
        base = con.execute(sql.SQL("SELECT base_rev FROM {} WHERE name = %s").format(self._t("atlas_layers")),
                           (layer,)).fetchone()
        floor = base[0] if base else 0
        out = {str(k): floor for k in keys}
        listed = list(out)
        for i in range(0, len(listed), _CHUNK):
            batch = listed[i:i + _CHUNK]
            for k, rev in con.execute(sql.SQL("SELECT key, max(rev) FROM {} WHERE layer = %s AND key = ANY(%s) "
                                              "GROUP BY key").format(self._t("atlas_changes")), (layer, batch)):
                out[k] = max(floor, rev)
        return out

    def _check_version(self, con, layer, key, expected) -> None:
        if expected is None:
            return
        current = self._version_of(con, layer, [key])[str(key)]
        if int(expected) != current:
            raise Stale(f"要素 {key} 已被他人修改 / feature {key!r} was changed by someone else since version "
                        f"{expected} (now {current}); reload it, redo your change and save again",
                        current=current, key=str(key))

    def _top_fid(self, con, layer: str) -> int:
        name = self._t(layer).as_string(con)
        return con.execute(sql.SQL("SELECT greatest(coalesce(pg_sequence_last_value(pg_get_serial_sequence(%s, 'fid')"
                                   "::regclass), 0), coalesce((SELECT max(fid) FROM {}), 0))").format(self._t(layer)),
                           (name,)).fetchone()[0]

    def _bump_fids(self, con, layer: str, top: int) -> None:
        if top > 0:
            con.execute("SELECT setval(pg_get_serial_sequence(%s, 'fid'), %s)", (self._t(layer).as_string(con), top))

    def _copy_rows(self, con, layer: str, meta: dict, fids, columns: dict[str, list], ewkb: list) -> None:
        copy_rows(con, self._t(layer), meta["fields"], fids, columns, ewkb)

    def _insert(self, tx: _Tx, layer: str, meta: dict, rows: list[tuple]) -> None:
        """rows: (fid or None, props, WKB), written with their fid where it is free."""
        if not rows:
            return
        con = tx.con
        top = self._top_fid(con, layer)
        wanted = [r[0] for r in rows if r[0] is not None]
        taken = {r[0] for r in con.execute(sql.SQL("SELECT fid FROM {} WHERE fid = ANY(%s)").format(self._t(layer)),
                                           (wanted,))} if wanted else set()
        fids = []
        for fid, _, _ in rows:
            if fid is None or fid in taken:
                top += 1
                fid = top
            top = max(top, fid)
            fids.append(fid)
        columns = {f: [db_value(r[1].get(f), kind, f) for r in rows] for f, kind in meta["fields"].items()}
        geoms = [None if r[2] is None else shapely.from_wkb(r[2]) for r in rows]
        self._copy_rows(con, layer, meta, fids, columns, _ewkb(geoms))
        self._bump_fids(con, layer, top)
        tx.layers.add(layer)

    def _apply(self, tx: _Tx, layer: str, meta: dict, current: dict, target: dict) -> None:
        """Make the rows ``current`` into ``target`` (both {key: (fid, props, WKB)}); the triggers log it."""
        con = tx.con
        tx.layers.add(layer)
        gone = [current[k][0] for k in current if k not in target]
        if gone:
            con.execute(sql.SQL("DELETE FROM {} WHERE fid = ANY(%s)").format(self._t(layer)), (gone,))
        fields = list(meta["fields"])
        sets = sql.SQL(", ").join([*(sql.SQL("{} = %s::{}").format(sql.Identifier(c), sql.SQL(ddl.sql_type(meta["fields"][c])))
                                     for c in fields), sql.SQL("geom = ST_GeomFromWKB(%s, 4326)")])
        statement = sql.SQL("UPDATE {} SET {} WHERE fid = %s").format(self._t(layer), sets)
        updates = []
        for k, (_, props_new, geom_new) in target.items():
            if k not in current:
                continue
            f, props, geom = current[k]
            full = {c: props_new.get(c) for c in fields}
            if full == props and geom == geom_new:
                continue
            updates.append([*(_copy_value(db_value(full[c], meta["fields"][c], c), meta["fields"][c]) for c in fields),
                            geom_new, f])
        if updates:
            with con.cursor() as cur:
                cur.executemany(statement, updates)
        added = [(t[0], {**t[1], self.key: k}, t[2]) for k, t in target.items() if k not in current]
        self._insert(tx, layer, meta, added)

    def _check_frame(self, layer: str, frame) -> None:
        import geopandas as gpd

        if not isinstance(frame, gpd.GeoDataFrame) or frame.crs is None or frame.crs.to_epsg() != 4326:
            raise CRSError(f"features for layer {layer!r} must be a GeoDataFrame in WGS84 (EPSG:4326)")
        if self.key not in frame.columns or frame[self.key].isna().any():
            raise InvalidParameter(f"every feature needs its {self.key!r}", parameter=self.key)
        dup = frame[self.key][frame[self.key].astype(str).duplicated()]
        if len(dup):
            raise Conflict(f"{self.key} {dup.iloc[0]!r} is given twice; keys must be unique", parameter=self.key)

    def _add_rows(self, tx: _Tx, layer: str, frame, *, progress=None) -> None:
        meta = self._meta(tx, layer)
        unknown = [c for c in frame.columns if c != frame.geometry.name and c not in meta["fields"]]
        if unknown:
            raise InvalidParameter(f"layer {layer!r} has no field {unknown[0]!r}", parameter=unknown[0])
        keys = [str(k) for k in frame[self.key]]
        present = self._present(tx.con, layer, meta, keys)
        if present:
            first = next(k for k in keys if k in present)
            raise Conflict(f"{self.key} {first!r} 已存在 / a feature {first!r} is already in layer {layer!r}; "
                           "pick another id or update that feature", parameter=self.key)
        tx.layers.add(layer)
        if not len(frame):
            return
        key_kind = meta["fields"][self.key]
        top = self._top_fid(tx.con, layer)
        for start in range(0, len(frame), _BULK):
            chunk = frame.iloc[start:start + _BULK]
            checked, _ = _fitted(layer, meta["type"], chunk.geometry)
            columns = {f: db_column(chunk[f] if f in chunk.columns and f != chunk.geometry.name else None, kind, f,
                                    len(chunk)) for f, kind in meta["fields"].items()}
            columns[self.key] = keys[start:start + _BULK] if key_kind == "str" else \
                [db_value(k, key_kind, self.key) for k in keys[start:start + _BULK]]
            fids = range(top + 1, top + 1 + len(chunk))
            top += len(chunk)
            self._copy_rows(tx.con, layer, meta, fids, columns, _ewkb(checked))
            if progress is not None:
                progress(min(start + _BULK, len(frame)), len(frame))
        self._bump_fids(tx.con, layer, top)

    def _present(self, con, layer: str, meta: dict, keys: list[str]) -> set[str]:
        found = set()
        for i in range(0, len(keys), 50_000):
            batch = keys[i:i + 50_000]
            found |= {r[0] for r in con.execute(sql.SQL("SELECT {}::text FROM {} WHERE ").format(
                sql.Identifier(self.key), self._t(layer)) + self._key_match(meta), (batch,))}
        return found

    # -- the interface ---------------------------------------------------------------------------
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
        statement = sql.SQL("SELECT key, fid, before, before_geom FROM {} WHERE layer = %s AND rev > %s").format(
            self._t("atlas_changes"))
        params = [layer, point]
        if key is not None:
            statement += sql.SQL(" AND key = %s")
            params.append(key)
        seen = set()
        for k, fid, before, geom in con.execute(statement + sql.SQL(" ORDER BY rev, seq"), params):
            if k in seen:
                continue
            seen.add(k)
            if before is None:
                rows.pop(k, None)
            else:
                rows[k] = (fid, json.loads(before), None if geom is None else bytes(geom))
        return rows

    def _point(self, con, revision_id, as_of) -> int:
        from .revisions import parse_time

        if revision_id is not None:
            top = con.execute(sql.SQL("SELECT max(id) FROM {}").format(self._t("atlas_revisions"))).fetchone()[0] or 0
            if not 0 < int(revision_id) <= top:
                raise NotFound(f"no revision {revision_id}; the log has 1 to {top}", parameter="revision")
            return int(revision_id)
        row = con.execute(sql.SQL("SELECT max(id) FROM {} WHERE time <= %s").format(self._t("atlas_revisions")),
                          (parse_time(as_of),)).fetchone()
        return row[0] or 0

    def _check_since(self, con, layer: str, point: int) -> None:
        row = con.execute(sql.SQL("SELECT since_rev FROM {} WHERE name = %s").format(self._t("atlas_layers")),
                          (layer,)).fetchone()
        if row is not None and point < row[0]:
            rev = con.execute(sql.SQL("SELECT time, actor FROM {} WHERE id = %s").format(self._t("atlas_revisions")),
                              (row[0],)).fetchone()
            raise InvalidParameter(
                f"图层 {layer!r} 的历史从修订 {row[0]} 开始 / layer {layer!r}'s history starts at revision {row[0]} "
                f"({rev[0] if rev else '?'}, {rev[1] if rev else '?'}: a build, creation or rename); "
                "choose a later time or revision", parameter="as_of")

    # -- upsert ------------------------------------------------------------------------------------
    def _upsert_target(self, con, layer: str, meta: dict, frame):
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
        self._check_frame(layer, frame)
        meta = self._schema().get(layer)
        if meta is None:
            raise NotFound(f"no layer {layer!r}", parameter="layer")
        return self._run("planning an upsert", lambda con: self._upsert_target(con, layer, meta, frame)[2])

    def upsert(self, layer: str, frame, *, actor: str, message: str) -> Revision:
        self._check_frame(layer, frame)

        def work(tx):
            meta = self._meta(tx, layer)
            current, target, _ = self._upsert_target(tx.con, layer, meta, frame)
            self._apply(tx, layer, meta, current, target)

        return self._transact(actor, message, work)
