"""The PostGIS store's log: the hashes of the chain (``finalise``), history, versions, verification,
as-of reads, documents and backups. The hash is the GeoPackage log's (``revisions.entry_hash``) over
the rows as stored, and ``verify`` is the same check (``revisions.check_chain``)."""
from __future__ import annotations

import json

import geopandas as gpd
import psycopg
from psycopg import sql

from ..errors import NotFound, StoreError
from . import asof, revisions
from .base import Change, Query, Revision, VerifyReport
from .logged import LazyChanges

#: a revision of up to this many changes holds them; a larger one reads them when asked (StoredChanges)
HELD = 10_000
_CHANGE = "layer, key, op, before, before_geom, after, after_geom"


def _t(schema: str, name: str) -> sql.Identifier:
    return sql.Identifier(schema, name)


def _bytes(v):
    return None if v is None else bytes(v)


def _loads(text):
    return None if text is None else json.loads(text)


def read_changes(con, schema: str, rid: int, *, start: int = 0, stop: int | None = None, layer=None, key=None):
    statement = sql.SQL(f"SELECT {_CHANGE} FROM {{}} WHERE rev = %s AND seq >= %s").format(_t(schema, "atlas_changes"))
    params = [rid, start]
    if stop is not None:
        statement += sql.SQL(" AND seq < %s")
        params.append(stop)
    if layer is not None:
        statement += sql.SQL(" AND layer = %s")
        params.append(layer)
    if key is not None:
        statement += sql.SQL(" AND key = %s")
        params.append(str(key))
    return tuple(Change(r[0], r[1], r[2], _loads(r[3]), _bytes(r[4]), _loads(r[5]), _bytes(r[6]))
                 for r in con.execute(statement + sql.SQL(" ORDER BY seq"), params))


def finalise_one(con, schema: str, rid: int, extra_layers=()) -> tuple[str, int]:
    """Hash revision ``rid`` (inside a transaction holding the head lock, every earlier one hashed):
    its layers (those of its rows and ``extra_layers``), its count, the previous hash, its own."""
    changes = _t(schema, "atlas_changes")
    revs = _t(schema, "atlas_revisions")
    row = con.execute(sql.SQL("SELECT time, actor, message FROM {} WHERE id = %s").format(revs), (rid,)).fetchone()
    prev = revisions.GENESIS if rid == 1 else con.execute(
        sql.SQL("SELECT hash FROM {} WHERE id = %s").format(revs), (rid - 1,)).fetchone()[0]
    if prev is None:
        raise StoreError("the revision log could not be written", internal=f"revision {rid - 1} has no hash")
    layers = {r[0] for r in con.execute(sql.SQL("SELECT DISTINCT layer FROM {} WHERE rev = %s").format(changes), (rid,))}
    layers_text = json.dumps(sorted(layers | set(extra_layers)))
    count = con.execute(sql.SQL("SELECT count(*) FROM {} WHERE rev = %s").format(changes), (rid,)).fetchone()[0]
    with con.cursor(name=f"atlas_hash_{rid}") as cur:
        cur.itersize = 5000
        cur.execute(sql.SQL("SELECT layer, key, fid, op, before, before_geom, after, after_geom FROM {} "
                            "WHERE rev = %s ORDER BY seq").format(changes), (rid,))
        rows = ((r[0], r[1], r[2], r[3], r[4], _bytes(r[5]), r[6], _bytes(r[7])) for r in cur)
        digest = revisions.entry_hash(prev, rid, row[0], row[1], row[2], layers_text, count, rows)
    con.execute(sql.SQL("UPDATE {} SET layers = %s, changes = %s, prev_hash = %s, hash = %s WHERE id = %s").format(revs),
                (layers_text, count, prev, digest, rid))
    con.execute(sql.SQL("UPDATE {} SET hash = %s WHERE one = 1 AND id = %s").format(_t(schema, "atlas_head")),
                (digest, rid))
    return digest, count


def finalise(con, schema: str, *, below: int | None = None) -> int:
    """Hash the revisions the triggers made alone (direct edits), in order; inside a transaction
    that holds the head lock. Returns how many."""
    statement = sql.SQL("SELECT id FROM {} WHERE hash IS NULL").format(_t(schema, "atlas_revisions"))
    params = []
    if below is not None:
        statement += sql.SQL(" AND id < %s")
        params.append(below)
    ids = [r[0] for r in con.execute(statement + sql.SQL(" ORDER BY id"), params)]
    for rid in ids:
        finalise_one(con, schema, rid)
    return len(ids)


def write_document(con, schema: str, name: str, value) -> None:
    con.execute(sql.SQL("INSERT INTO {} VALUES (%s, %s, to_char(clock_timestamp() AT TIME ZONE 'UTC', "
                        "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) ON CONFLICT (name) DO UPDATE SET body = excluded.body, "
                        "updated = excluded.updated").format(_t(schema, "atlas_documents")),
                (name, json.dumps(value, ensure_ascii=False, sort_keys=True)))


def update_documents(con, schema: str, updates) -> None:
    for name, change in (updates or {}).items():
        row = con.execute(sql.SQL("SELECT body FROM {} WHERE name = %s FOR UPDATE").format(
            _t(schema, "atlas_documents")), (name,)).fetchone()
        write_document(con, schema, name, change(None if row is None else json.loads(row[0])))


class StoredChanges(LazyChanges):
    """``LazyChanges`` of a PostGIS store, read from its log over its pool."""

    def __init__(self, store, rid: int, count: int):
        self.store, self.rid, self.count = store, int(rid), int(count)
        self._where = store.url

    def _rows(self, start: int, stop: int):
        for low in range(start, stop, self._BATCH):
            yield from self.store._run("reading the log", lambda con, low=low: read_changes(
                con, self.store.schema, self.rid, start=low, stop=min(stop, low + self._BATCH)))


class PostGISLog:
    def _seal(self, *, wait: bool) -> None:
        """Hash what direct edits left unhashed (a write, only when there is any). ``wait``: for the
        head lock (verify); otherwise a write under way is left to do it."""
        t = self._t("atlas_revisions")

        def seal(con):
            if not con.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE hash IS NULL)").format(t)).fetchone()[0]:
                return
            try:
                with con.transaction():
                    con.execute(sql.SQL("SELECT 1 FROM {} WHERE one = 1 FOR UPDATE{}").format(
                        self._t("atlas_head"), sql.SQL("" if wait else " NOWAIT")))
                    finalise(con, self.schema)
            except (psycopg.errors.LockNotAvailable, psycopg.errors.ReadOnlySqlTransaction):
                return  # a write under way hashes them; a read replica cannot, its primary does
        self._run("sealing the log", seal)

    def versions(self, layer: str, keys) -> dict[str, int]:
        meta = self._layer(layer)
        keys = [str(k) for k in keys]

        def read(con):
            with con.transaction():
                con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                present = set(self._current(con, layer, meta, keys)) if self.key in meta["fields"] else set()
                return {k: v for k, v in self._version_of(con, layer, keys).items() if k in present}
        return self._run("reading versions", read)

    def read_versioned(self, layer: str, keys):
        from .gpkg_rows import rows_to_frame

        meta = self._layer(layer)
        keys = [str(k) for k in keys]
        columns = list(meta["fields"])
        statement, params = self._select(layer, Query(ids=tuple(keys)), self._feature_select(layer, meta, columns))

        def read(con):
            with con.transaction():
                con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                rows = con.execute(statement, params).fetchall()
                versions = self._version_of(con, layer, keys) if rows else {}
            return rows, versions

        rows, versions = self._run(f"reading {layer}", read)
        frame = rows_to_frame(rows, columns, meta["fields"], gpkg=False)
        present = set(frame[self.key]) if self.key in frame else set()
        return frame, {k: v for k, v in versions.items() if k in present}

    def find_versioned(self, feature_id: str):
        for layer, meta in self._schema().items():
            if self.key not in meta["fields"]:
                continue
            frame, versions = self.read_versioned(layer, [feature_id])
            if len(frame):
                return layer, frame, versions[str(feature_id)]
        return None

    def dropped_layers(self) -> list[str]:
        live = set(self._schema())
        rows = self._run("reading the log", lambda con: con.execute(sql.SQL(
            "SELECT name FROM {} WHERE dropped ORDER BY name").format(self._t("atlas_layers"))).fetchall())
        return [r[0] for r in rows if r[0] not in live]

    def history(self, *, layer=None, key=None, actor=None, since=None, until=None, limit=100, before_id=None):
        self._schema()  # a store that was never built says so
        self._seal(wait=False)
        revs_t, changes_t = self._t("atlas_revisions"), self._t("atlas_changes")
        conds, params = [], []
        if layer is not None and key is not None:
            conds.append(sql.SQL("id IN (SELECT rev FROM {} WHERE layer = %s AND key = %s)").format(changes_t))
            params += [layer, str(key)]
        elif layer is not None:
            conds.append(sql.SQL("position(%s in layers) > 0"))
            params.append(json.dumps(layer))
        if actor is not None:
            conds.append(sql.SQL("actor = %s"))
            params.append(actor)
        if since is not None:
            conds.append(sql.SQL("time >= %s"))
            params.append(revisions.parse_time(since))
        if until is not None:
            conds.append(sql.SQL("time <= %s"))
            params.append(revisions.parse_time(until))
        if before_id is not None:
            conds.append(sql.SQL("id < %s"))
            params.append(int(before_id))
        where = (sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conds)) if conds else sql.SQL("")

        def read(con):
            with con.transaction():
                con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                revs = con.execute(sql.SQL("SELECT id, time, actor, message, prev_hash, hash FROM {}").format(revs_t)
                                   + where + sql.SQL(" ORDER BY id DESC LIMIT %s"), params + [int(limit)]).fetchall()
                return [Revision(rid, time, who, message, prev, digest,
                                 read_changes(con, self.schema, rid, layer=layer, key=key))
                        for rid, time, who, message, prev, digest in revs]
        return self._run("reading the log", read)

    def verify(self, *, seal: bool = True) -> VerifyReport:
        try:
            if seal:
                self._seal(wait=True)

            def check(con):
                with con.transaction():
                    con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    with con.cursor(name="atlas_verify_revs") as revs, con.cursor(name="atlas_verify_changes") as ch:
                        revs.execute(sql.SQL("SELECT id, time, actor, message, layers, changes, prev_hash, hash FROM {} "
                                             "ORDER BY id").format(self._t("atlas_revisions")))
                        ch.execute(sql.SQL("SELECT rev, layer, key, fid, op, before, before_geom, after, after_geom "
                                           "FROM {} ORDER BY rev, seq").format(self._t("atlas_changes")))
                        rows = ((r[0], r[1], r[2], r[3], r[4], r[5], _bytes(r[6]), r[7], _bytes(r[8])) for r in ch)
                        return revisions.check_chain(revs, rows, lambda: con.execute(sql.SQL(
                            "SELECT id, hash FROM {}").format(self._t("atlas_head"))).fetchone())
            return self._run("verifying the log", check)
        except StoreError as exc:
            return VerifyReport(False, 0, None, f"the log cannot be read: {exc.internal or exc.detail}")

    # -- documents -------------------------------------------------------------------------------
    def document(self, name: str):
        def read(con):
            try:
                row = con.execute(sql.SQL("SELECT body FROM {} WHERE name = %s").format(self._t("atlas_documents")),
                                  (name,)).fetchone()
            except psycopg.errors.UndefinedTable:
                return None
            return None if row is None else json.loads(row[0])
        return self._run("reading a document", read)

    def put_document(self, name: str, value) -> None:
        def write(con):
            with con.transaction():
                write_document(con, self.schema, name, value)
        self._run(f"writing document {name!r}", write)

    # -- as of -----------------------------------------------------------------------------------
    def _layer_then(self, con, layer: str) -> dict:
        schema = self._schema()
        if layer in schema:
            return schema[layer]
        row = con.execute(sql.SQL("SELECT geometry_type, fields FROM {} WHERE name = %s").format(
            self._t("atlas_layers")), (layer,)).fetchone()
        if row is None:
            raise NotFound(f"no layer {layer!r}; the layers are: {', '.join(schema) or '(none)'}", parameter="layer")
        return {"type": row[0], "fields": dict(json.loads(row[1])), "dropped": True}

    def _as_of(self, layer: str, when: str, bbox=None) -> tuple[gpd.GeoDataFrame, dict]:
        from .pg_sql import read_expr

        def read(con):
            with con.transaction():
                con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                point = self._point(con, None, when)
                meta = self._layer_then(con, layer)
                self._check_since(con, layer, point)
                columns = list(meta["fields"])
                rows = []
                if not meta.get("dropped"):
                    cols = sql.SQL(", ").join([sql.SQL("t.fid"), *(read_expr(c, meta["fields"][c]) for c in columns),
                                               sql.SQL("ST_AsBinary(t.geom)")])
                    statement, params = sql.SQL("SELECT {} FROM {} AS t").format(cols, self._t(layer)), []
                    if bbox is not None:
                        statement += sql.SQL(" WHERE t.geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)")
                        params = [float(v) for v in bbox]
                    rows = [(*r[:-1], _bytes(r[-1])) for r in con.execute(statement + sql.SQL(" ORDER BY t.fid"), params)]
                later = self._changes_after(con, layer, point)
            current = asof.frame_of(rows, columns, meta["fields"], gpkg=False)
            key = self.key if self.key in meta["fields"] else None
            return asof.state(current, later, columns, meta["fields"], key), meta
        return self._run(f"reading {layer} as of {when}", read)

    # -- backups and clean-up ----------------------------------------------------------------------
    def backup(self, path) -> None:
        """A consistent copy of the store as a GeoPackage file at ``path`` (its layers, log and
        documents, read in one snapshot; written to a temporary file first, then moved there)."""
        from .copy import copy_store

        copy_store(self, str(path))

    def cleanup(self) -> list[str]:
        """Schemas of copies into this database whose session is gone (killed mid-copy) are dropped."""
        from .copy import drop_stale_schemas

        return drop_stale_schemas(self)
