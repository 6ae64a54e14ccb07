"""The write methods of the PostGIS store, each one transaction with its revision.

A write: ``atlas_revision(actor, message)`` first (it takes the head's row lock: writers queue, as
on SQLite; and numbers the revision), earlier direct edits hashed (``pg_log.finalise``), the work —
plain INSERT/UPDATE/DELETE and COPY, whose change rows the layer's triggers write, as they do for
any other program's edits — then the revision hashed, and COMMIT. Any failure rolls all of it back.
The values and geometries are checked as on the GeoPackage store (the same helpers).
"""
from __future__ import annotations

import numpy as np
import shapely
from psycopg import sql

from ..errors import StoreError
from . import pg_ddl as ddl
from .base import Revision
from .editing import _fitted, chunk_columns, fids_for
from .gpkg_write import db_value
from .pg_sql import copy_columns, field, read_expr

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
    as ``db_column`` gives them) and hex EWKB geometries. The COPY has no parameters: its columns
    are named as they are (``pg_sql.copy_columns``)."""
    fields = list(kinds)
    names = copy_columns(["fid", *fields, "geom"])
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
        self._unpin()
        held = changes if changes is not None else pg_log.StoredChanges(self, rid, count)
        return Revision(rid, head[0], actor, message or "", head[1], digest, held)

    # -- the log's tables (``common.CommonStore``) -----------------------------------------------
    def _log(self, con, statement: str, params=()):
        """``statement`` over the log's tables (``{revisions}``, ``{changes}``, ``{layers}``; values ``%s``)."""
        return con.execute(sql.SQL(statement).format(revisions=self._t("atlas_revisions"),
                                                     changes=self._t("atlas_changes"), layers=self._t("atlas_layers")),
                           params)

    @staticmethod
    def _key_in(keys) -> tuple[str, list]:
        return "= ANY(%s)", [list(keys)]

    # -- helpers inside a transaction ----------------------------------------------------------
    def _key_match(self, meta: dict) -> sql.Composable:
        key = field(self.key)
        return (sql.SQL("{} COLLATE \"C\" = ANY(%s)").format(key) if meta["fields"].get(self.key) == "str"
                else sql.SQL("{}::text = ANY(%s)").format(key))

    def _current(self, con, layer: str, meta: dict, keys=None) -> dict:
        """{key: (fid, props, WKB)} of the layer's rows (those of ``keys`` if given)."""
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
        fids, top = fids_for([r[0] for r in rows], taken, top)
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
        sets = sql.SQL(", ").join([*(sql.SQL("{} = %s::{}").format(field(c), sql.SQL(ddl.sql_type(meta["fields"][c])))
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

    def _add_rows(self, tx: _Tx, layer: str, frame, *, progress=None) -> None:
        meta = self._meta(tx, layer)
        self._check_columns(layer, meta, frame)
        keys = [str(k) for k in frame[self.key]]
        self._refuse_present(layer, keys, self._present(tx.con, layer, meta, keys))
        tx.layers.add(layer)
        if not len(frame):
            return
        top = self._top_fid(tx.con, layer)
        for start in range(0, len(frame), _BULK):
            chunk = frame.iloc[start:start + _BULK]
            checked, _ = _fitted(layer, meta["type"], chunk.geometry)
            columns = chunk_columns(chunk, meta, self.key, keys[start:start + _BULK])
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
                field(self.key), self._t(layer)) + self._key_match(meta), (batch,))}
        return found
