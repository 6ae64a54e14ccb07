"""A whole store copied to another, GeoPackage <-> PostGIS (or the same kind): its layers with their
fids, the revision log as it is stored (so its hash chain verifies unchanged), the layers' kept
schemas (dropped ones too), and the documents.

The source is read in one snapshot (one SQLite read transaction; one PostgreSQL REPEATABLE READ
transaction), direct edits not yet hashed are hashed first. The destination appears whole or not at
all: a GeoPackage is written to a temporary file beside it and moved over it (``os.replace``); a
PostGIS schema is written as a temporary schema in one transaction and renamed at its end (a copy
cut short leaves nothing: its transaction rolls back).
"""
from __future__ import annotations

import os
import sqlite3
import uuid
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from psycopg import sql

from ..errors import StoreError
from .base import Store, VerifyReport

_GDAL_TYPE = {"Geometry": "Unknown"}
_BATCH = 5000


@dataclass
class LayerDump:
    name: str
    geometry_type: str
    fields: dict[str, str]
    top: int  # the highest fid ever given (no fid is given twice)
    count: int
    rows: object = None  # an iterator of (fid, values…, WKB) batches


@dataclass
class Dump:
    layers: list[LayerDump]
    kept: list[tuple]  # (name, geometry_type, fields JSON, key, base_rev, since_rev, dropped) in order
    revisions: object  # iterator of (id, time, actor, message, layers, changes, prev_hash, hash)
    changes: object  # iterator of (rev, seq, layer, key, fid, op, before, before_geom, after, after_geom)
    head: tuple | None
    documents: list[tuple]
    total_changes: int = 0
    extra: dict = field(default_factory=dict)


def _batches(cursor, convert=lambda r: r):
    while rows := cursor.fetchmany(_BATCH):
        yield [convert(r) for r in rows]


# -- reading ----------------------------------------------------------------------------------
def _read_gpkg(store, con) -> Dump:
    from . import gpkg_ddl
    from .gpkg_rows import quote, wkb

    con.execute("BEGIN")  # one read transaction: one snapshot for the whole copy
    schema = gpkg_ddl.read_schema(con)
    layers = []
    for name, meta in schema.items():
        top = con.execute("SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?), 0), "
                          f"COALESCE((SELECT MAX({quote(meta['fid'])}) FROM {quote(name)}), 0))", (name,)).fetchone()[0]
        count = con.execute(f"SELECT COUNT(*) FROM {quote(name)}").fetchone()[0]
        cols = ", ".join([quote(meta["fid"]), *map(quote, meta["fields"]), quote(meta["geom"])])
        cursor = con.cursor()
        cursor.execute(f"SELECT {cols} FROM {quote(name)} ORDER BY {quote(meta['fid'])}")
        layers.append(LayerDump(name, meta["type"], dict(meta["fields"]), top, count,
                                _batches(cursor, lambda r: (*r[:-1], wkb(r[-1]) if r[-1] is not None else None))))
    kept = [tuple(r) for r in con.execute("SELECT name, geometry_type, fields, key, base_rev, since_rev, dropped "
                                          "FROM gpkg_atlas_layers")]
    live_order = {n: i for i, n in enumerate(schema)}
    kept.sort(key=lambda r: (live_order.get(r[0], len(live_order)), r[0]))
    kept = [(*r[:6], bool(r[6])) for r in kept]
    total = con.execute("SELECT COUNT(*) FROM gpkg_atlas_changes").fetchone()[0]
    revs = con.cursor().execute("SELECT id, time, actor, message, layers, changes, prev_hash, hash "
                                "FROM gpkg_atlas_revisions ORDER BY id")
    changes = con.cursor().execute("SELECT rev, seq, layer, key, fid, op, before, before_geom, after, after_geom "
                                   "FROM gpkg_atlas_changes ORDER BY rev, seq")
    head = con.execute("SELECT id, hash FROM gpkg_atlas_head").fetchone()
    docs = []
    if con.execute("SELECT 1 FROM sqlite_master WHERE name = 'gpkg_atlas_documents'").fetchone():
        docs = [tuple(r) for r in con.execute("SELECT name, body, updated FROM gpkg_atlas_documents ORDER BY name")]
    return Dump(layers, kept, _batches(revs), _batches(changes), head, docs, total)


def _read_pg(store, con) -> Dump:
    from . import pg_ddl
    from .pg_sql import read_expr

    t = lambda n: sql.Identifier(store.schema, n)
    con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    schema = pg_ddl.read_schema(con, store.schema)
    layers, cursors = [], []
    for i, (name, meta) in enumerate(schema.items()):
        top = con.execute(sql.SQL("SELECT greatest(coalesce(pg_sequence_last_value(pg_get_serial_sequence(%s, 'fid')"
                                  "::regclass), 0), coalesce((SELECT max(fid) FROM {}), 0))").format(t(name)),
                          (t(name).as_string(con),)).fetchone()[0]
        count = con.execute(sql.SQL("SELECT count(*) FROM {}").format(t(name))).fetchone()[0]
        cols = sql.SQL(", ").join([sql.SQL("t.fid"), *(read_expr(c, k) for c, k in meta["fields"].items()),
                                   sql.SQL("ST_AsBinary(t.geom)")])
        cursor = con.cursor(name=f"atlas_copy_layer_{i}")
        cursors.append(cursor)
        # read_expr names the fields by pg_sql.field: executed with parameters (none)
        cursor.execute(sql.SQL("SELECT {} FROM {} AS t ORDER BY t.fid").format(cols, t(name)), ())
        layers.append(LayerDump(name, meta["type"], dict(meta["fields"]), top, count,
                                _batches(cursor, lambda r: (*r[:-1], None if r[-1] is None else bytes(r[-1])))))
    kept = [tuple(r) for r in con.execute(sql.SQL("SELECT name, geometry_type, fields, key, base_rev, since_rev, "
                                                  "dropped FROM {} ORDER BY dropped, pos").format(t("atlas_layers")))]
    total = con.execute(sql.SQL("SELECT count(*) FROM {}").format(t("atlas_changes"))).fetchone()[0]
    revs = con.cursor(name="atlas_copy_revs")
    revs.execute(sql.SQL("SELECT id, time, actor, message, layers, changes, prev_hash, hash FROM {} ORDER BY id")
                 .format(t("atlas_revisions")))
    changes = con.cursor(name="atlas_copy_changes")
    cursors += [revs, changes]
    changes.execute(sql.SQL("SELECT rev, seq, layer, key, fid, op, before, before_geom, after, after_geom FROM {} "
                            "ORDER BY rev, seq").format(t("atlas_changes")))
    head = con.execute(sql.SQL("SELECT id, hash FROM {}").format(t("atlas_head"))).fetchone()
    docs = [tuple(r) for r in con.execute(sql.SQL("SELECT name, body, updated FROM {} ORDER BY name")
                                          .format(t("atlas_documents")))]
    byt = lambda v: None if v is None else bytes(v)
    return Dump(layers, kept, _batches(revs),
                _batches(changes, lambda r: (*r[:7], byt(r[7]), r[8], byt(r[9]))),
                None if head is None or not head[0] else head, docs, total, {"cursors": cursors})


# -- writing ----------------------------------------------------------------------------------
def _write_gpkg(dump: Dump, dest: Path, tick, key: str) -> None:
    from . import gpkg_ddl, revisions
    from .gpkg_geom import blobs, register_functions
    from .gpkg_rows import quote, to_arrow

    import pyogrio

    if not dump.layers:
        raise StoreError("the store has no layers to copy; a GeoPackage copy needs at least one")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp.gpkg")
    try:
        for layer in dump.layers:
            empty = gpd.GeoDataFrame({n: pd.Series([], dtype=object) for n in layer.fields},
                                     geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")
            pyogrio.write_arrow(to_arrow(empty, layer.fields), tmp, layer=layer.name, driver="GPKG",
                                geometry_name="geom", crs="EPSG:4326",
                                geometry_type=_GDAL_TYPE.get(layer.geometry_type, layer.geometry_type),
                                append=tmp.exists(), layer_options={"SPATIAL_INDEX": "YES", "FID": "fid"})
        with closing(sqlite3.connect(tmp, isolation_level=None)) as con:
            register_functions(con)
            con.execute("BEGIN")
            for statement in revisions.SCHEMA.split(";"):
                if statement.strip():
                    con.execute(statement)
            con.execute("UPDATE gpkg_atlas_writer SET flag = 1")  # the copy is not an external edit
            for layer in dump.layers:
                cols = ", ".join(["fid", *map(quote, layer.fields), "geom"])
                marks = ", ".join("?" * (len(layer.fields) + 2))
                for batch in layer.rows:
                    geoms = shapely.from_wkb([r[-1] for r in batch])
                    con.executemany(f"INSERT INTO {quote(layer.name)} ({cols}) VALUES ({marks})",
                                    [(*r[:-1], b) for r, b in zip(batch, blobs(geoms))])
                    tick(len(batch))
                con.execute("INSERT OR REPLACE INTO sqlite_sequence (name, seq) VALUES (?, ?)", (layer.name, layer.top))
                rtree = quote(f"rtree_{layer.name}_geom")
                box = con.execute(f"SELECT MIN(minx), MIN(miny), MAX(maxx), MAX(maxy) FROM {rtree}").fetchone()
                con.execute("UPDATE gpkg_contents SET min_x = ?, min_y = ?, max_x = ?, max_y = ? WHERE table_name = ?",
                            (*box, layer.name))
            for layer in dump.layers:
                if key in layer.fields:
                    con.execute(f"CREATE UNIQUE INDEX {quote(f'idx_{layer.name}_{key}')} "
                                f"ON {quote(layer.name)}({quote(key)})")
            for layer in dump.layers:
                gpkg_ddl.install(con, layer.name)
            con.executemany("INSERT INTO gpkg_atlas_layers (name, geometry_type, fields, key, base_rev, since_rev, "
                            "dropped) VALUES (?, ?, ?, ?, ?, ?, ?)", [(*r[:6], int(bool(r[6]))) for r in dump.kept])
            for batch in dump.revisions:
                con.executemany("INSERT INTO gpkg_atlas_revisions VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
            for batch in dump.changes:
                con.executemany("INSERT INTO gpkg_atlas_changes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
                tick(len(batch))
            if dump.head is not None:
                con.execute("INSERT OR REPLACE INTO gpkg_atlas_head VALUES (1, ?, ?)", tuple(dump.head))
            if dump.documents:
                con.execute("CREATE TABLE IF NOT EXISTS gpkg_atlas_documents (name TEXT PRIMARY KEY, body TEXT NOT NULL, "
                            "updated TEXT NOT NULL)")
                con.executemany("INSERT INTO gpkg_atlas_documents VALUES (?, ?, ?)", dump.documents)
            con.execute("UPDATE gpkg_atlas_writer SET flag = 0")
            con.execute("COMMIT")
            con.execute("PRAGMA journal_mode = WAL")
        os.replace(tmp, dest)
    finally:
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{tmp}{suffix}").unlink(missing_ok=True)


def _write_pg(dump: Dump, store, tick, *, replace: bool) -> None:
    from . import pg_ddl
    from .base import Field
    from .pg_edit import _ewkb, copy_rows

    dest = store.schema
    with store._connection("copying into the store") as con:
        with con.transaction():
            con.execute("SELECT set_config('statement_timeout', %s, true)", (str(store.options["write_timeout"]),))
            if pg_ddl.is_store(con, dest) and not replace:
                raise StoreError(f"the schema {dest!r} already holds a store; copy into a new schema (?schema=…) "
                                 "or remove that one first; nothing was written")
            pid = con.execute("SELECT pg_backend_pid()").fetchone()[0]
            tmp = f"atlas_copy_{pid}_{uuid.uuid4().hex[:8]}"
            t = lambda n: sql.Identifier(tmp, n)
            pg_ddl.create_store(con, tmp)
            key = dump.kept[0][3] if dump.kept else store.key
            for layer in dump.layers:
                fields = [Field(n, k) for n, k in layer.fields.items()]
                gtype = layer.geometry_type if layer.geometry_type in pg_ddl.GEOMETRY_TYPES else "Geometry"
                pg_ddl.create_layer_table(con, tmp, layer.name, gtype, fields, key)
                names = list(layer.fields)
                for batch in layer.rows:
                    columns = {n: [r[i + 1] for r in batch] for i, n in enumerate(names)}
                    geoms = shapely.from_wkb([r[-1] for r in batch])
                    copy_rows(con, t(layer.name), layer.fields, [r[0] for r in batch], columns, _ewkb(geoms))
                    tick(len(batch))
                if layer.top:
                    con.execute("SELECT setval(pg_get_serial_sequence(%s, 'fid'), %s)",
                                (t(layer.name).as_string(con), layer.top))
                pg_ddl.index_layer(con, tmp, layer.name, key, fields)
                pg_ddl.install_triggers(con, tmp, layer.name, key if key in layer.fields else "")
            with con.cursor() as cur:
                for i, r in enumerate(dump.kept):
                    cur.execute(sql.SQL("INSERT INTO {} (name, geometry_type, fields, key, base_rev, since_rev, dropped, "
                                        "pos) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)").format(t("atlas_layers")),
                                (*r[:6], bool(r[6]), i + 1))
                with cur.copy(sql.SQL("COPY {} (id, time, actor, message, layers, changes, prev_hash, hash) FROM STDIN")
                              .format(t("atlas_revisions"))) as copy:
                    for batch in dump.revisions:
                        for row in batch:
                            copy.write_row(row)
                with cur.copy(sql.SQL("COPY {} FROM STDIN").format(t("atlas_changes"))) as copy:
                    for batch in dump.changes:
                        for row in batch:
                            copy.write_row(row)
                        tick(len(batch))
                if dump.head is not None:
                    cur.execute(sql.SQL("UPDATE {} SET id = %s, hash = %s WHERE one = 1").format(t("atlas_head")),
                                tuple(dump.head))
                for row in dump.documents:
                    cur.execute(sql.SQL("INSERT INTO {} VALUES (%s, %s, %s)").format(t("atlas_documents")), row)
            if pg_ddl.is_store(con, dest):
                con.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(dest)))
            con.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(tmp), sql.Identifier(dest)))
            pg_ddl.install_functions(con, dest)  # their search_path names the schema
    store._schema_cache = None
    store._unpin()


def _source(src: Store):
    """A context giving the source's dump, read in one snapshot."""
    from contextlib import contextmanager

    from .gpkg import GeoPackageStore
    from .pg import PostGISStore

    @contextmanager
    def opened():
        if isinstance(src, GeoPackageStore):
            src._seal()
            if not src.exists():
                raise StoreError("there is no store to copy", internal=f"no file at {src.path}")
            with closing(sqlite3.connect(f"file:{src.path}?mode=ro", uri=True, isolation_level=None,
                                         timeout=10)) as con:
                try:
                    yield _read_gpkg(src, con)
                finally:
                    if con.in_transaction:
                        con.execute("COMMIT")
        elif isinstance(src, PostGISStore):
            src._schema()  # a store that was never built says so
            src._seal(wait=True)
            with src._connection("copying the store") as con:
                with con.transaction():
                    dump = _read_pg(src, con)
                    try:
                        yield dump
                    finally:
                        for cursor in dump.extra["cursors"]:
                            cursor.close()
        else:
            raise StoreError(f"cannot copy a store of type {type(src).__name__}")
    return opened()


def copy_store(src: Store, dest: str, *, key: str | None = None, replace: bool = True,
               progress=None) -> VerifyReport:
    """Copy the store ``src`` to the store at ``dest`` (a .gpkg path or a postgresql:// URL),
    atomically; ``replace``: whether a store already at ``dest`` may be replaced. ``progress(done,
    total)`` as features and change rows are written. Returns the verification of the copy; a copy
    whose log does not verify with the source's head is removed again and refused."""
    from . import open_store
    from .pg import PostGISStore

    key = key or src.key
    target = open_store(dest, key=key)
    if src.url == target.url:
        raise StoreError("the source and the destination are the same store")
    with _source(src) as dump:
        total = sum(layer.count for layer in dump.layers) + dump.total_changes
        done = [0]

        def tick(n):
            done[0] += n
            if progress is not None:
                progress(done[0], total)

        if isinstance(target, PostGISStore):
            _write_pg(dump, target, tick, replace=replace)
        else:
            path = Path(target.path)
            if path.exists() and not replace:
                raise StoreError(f"{path.name} exists; give a new file name, nothing was written")
            _write_gpkg(dump, path, tick, key)
        head = dump.head
    report = target.verify(seal=False)
    if not report.ok or (head is not None and report.head != head[1]):
        raise StoreError(f"the copy does not verify ({report.detail})")
    return report


def drop_stale_schemas(store) -> list[str]:
    """Nothing to do: a PostGIS copy is one transaction, so one cut short leaves no schema behind."""
    return []
