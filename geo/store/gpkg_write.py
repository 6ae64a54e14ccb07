"""Writes of the GeoPackage store through plain sqlite3, each one transaction with its revision.

A write: ``BEGIN IMMEDIATE`` (a busy timeout of 10 s queues concurrent writers), ``gpkg_atlas_writer`` set
to 1 so the external-edit triggers skip it, pending external edits sealed first (actor
``external``), the work, the revision appended, ``gpkg_atlas_writer`` back to 0, ``COMMIT``. Any failure
rolls everything back. Geometries are checked (valid, of the layer's type) and written as
GeoPackage blobs; GDAL's R-tree triggers keep the index (their ``ST_`` functions are registered on
the connection) and ``gpkg_contents`` gets the new extent and time.
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
import uuid
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from ..errors import InvalidParameter, StoreError
from . import gpkg_ddl as ddl
from . import revisions
from .base import Field
from .gpkg_geom import blob_from_wkb, register_functions
from .gpkg_rows import to_arrow, wkb

_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_CHUNK = 5000
_LOG_TABLES = {"revisions": "gpkg_atlas_revisions", "changes": "gpkg_atlas_changes", "layers": "gpkg_atlas_layers"}
#: a write's change rows go to the log in batches of this many (``_spill``)
_SPILL = 5_000


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def db_value(value, kind: str, field: str):
    """A value of a request or frame as stored in a column of ``kind``; InvalidParameter if it cannot be."""
    value = revisions.plain(value)
    if value is None:
        return None
    try:
        if kind == "bool":
            if isinstance(value, str):
                return {"true": 1, "false": 0, "1": 1, "0": 0}[value.lower()]
            return 1 if value else 0
        if kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "json":
            return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        if kind == "date":
            return pd.Timestamp(value).date().isoformat()
        return str(value)
    except (KeyError, TypeError, ValueError):
        raise InvalidParameter(f"字段 {field!r} 的值无效 / field {field!r} needs a {kind} value, got {value!r}",
                               parameter=field) from None


def logical(value, kind: str):
    """A stored value as the log keeps it (true/false for booleans)."""
    return bool(value) if kind == "bool" and value is not None else value


class _Tx:
    def __init__(self, con, schema):
        self.con, self.schema = con, schema
        self.changes: list[tuple] = []
        self.layers: set[str] = set()
        self.after: list = []  # fn(revision_id), run before the commit
        #: change rows already written to the log for this revision (``GeoPackageWriter._spill``)
        self.spilled = 0
        self.rid: int | None = None
        self.spool: revisions.Spool | None = None  # the spilled rows' text for the hash


class GeoPackageWriter:
    """The write half of ``GeoPackageStore`` (a mixin: ``path``, ``key``, ``_schema``)."""

    # -- the transaction -----------------------------------------------------------------------
    def _writer(self, path: Path | None = None) -> sqlite3.Connection:
        path = Path(path or self.path)
        if not path.is_file():
            raise StoreError("the store has not been built yet; run 'make build' (python -m layers.build) "
                             "first", internal=f"no file at {path}")
        con = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA busy_timeout = 10000")
        register_functions(con)
        return con

    def _transact(self, actor: str | None, message: str, work, *, path: Path | None = None,
                  attach: Path | None = None):
        """``work(tx)`` and its revision in one transaction (``attach``: a scratch GeoPackage to
        copy layers from, attached as ``src`` for the duration)."""
        con = self._writer(path)
        tx = None
        try:
            if attach is not None:
                con.execute("ATTACH DATABASE ? AS src", (str(attach),))
            con.execute("BEGIN IMMEDIATE")
            tables = ddl._tables(con)
            upgrade = "gpkg_atlas_revisions" not in tables
            if upgrade or "gpkg_atlas_layers" not in tables:
                for statement in revisions.SCHEMA.split(";"):
                    if statement.strip():
                        con.execute(statement)
            con.execute("UPDATE gpkg_atlas_writer SET flag = 1")
            schema = ddl.read_schema(con)
            revisions.seal_pending(con, self.key, schema)
            tx = _Tx(con, schema)
            known = {r[0] for r in con.execute("SELECT name FROM gpkg_atlas_layers")}
            for name, meta in schema.items():  # a store written before the log: its layers adopted
                if name not in known:
                    ddl.install(con, name)
                    fields = [Field(n, t) for n, t in meta["fields"].items()]
                    tx.after.append(lambda rid, n=name, m=meta, f=fields:
                                    ddl.remember(con, n, m["type"], f, self.key, rid, since=True))
            rev = None
            if work is not None:
                work(tx)
            if tx.spilled and actor is None:
                raise RuntimeError("a write that logged changes needs an actor")
            if actor is not None:
                rev = revisions.append(con, actor, message or "", tx.layers, tx.changes, spilled=tx.spilled,
                                       rid=tx.rid, spool=tx.spool)
                for fn in tx.after:
                    fn(rev.id)
            con.execute("UPDATE gpkg_atlas_writer SET flag = 0")
            con.execute("COMMIT")
            return rev
        except sqlite3.Error as exc:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise StoreError("the change could not be written; nothing was changed, try again",
                             internal=f"writing {path or self.path}: {type(exc).__name__}: {exc}") from exc
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        finally:
            if tx is not None and tx.spool is not None:
                tx.spool.close()
            con.close()

    def _seal(self) -> None:
        """Pending external edits sealed into their revision (a write only if there are any)."""
        def pending(con):
            try:
                return con.execute("SELECT EXISTS (SELECT 1 FROM gpkg_atlas_pending)").fetchone()[0]
            except sqlite3.OperationalError:
                return 0
        if self._run("reading the log", pending):
            self._transact(None, "", None)

    # -- the log's tables (``common.CommonStore``) -----------------------------------------------
    def _log(self, con, statement: str, params=()):
        """``statement`` over the log's tables (``{revisions}``, ``{changes}``, ``{layers}``; values ``%s``)."""
        return con.execute(statement.format(**_LOG_TABLES).replace("%s", "?"), params)

    @staticmethod
    def _key_in(keys) -> tuple[str, list]:
        return f"IN ({', '.join(['%s'] * len(keys))})", list(keys)

    # -- helpers inside a transaction ----------------------------------------------------------
    def _current(self, con, layer: str, meta: dict, keys=None) -> dict:
        """{key: (fid, props, WKB)} of the layer's rows (those of ``keys`` if given)."""
        fields = list(meta["fields"])
        cols = ", ".join([_q(meta["fid"]), *map(_q, fields), _q(meta["geom"])])
        out = {}
        keys = None if keys is None else list(keys)  # once: not a copy of all the keys for every batch
        batches = [None] if keys is None else [keys[i:i + _CHUNK] for i in range(0, len(keys), _CHUNK)]
        ki = fields.index(self.key) + 1 if self.key in fields else None
        for batch in batches:
            sql = f"SELECT {cols} FROM {_q(layer)}"
            params = []
            if batch is not None:
                sql += f" WHERE {_q(self.key)} IN ({', '.join('?' * len(batch))})"
                params = batch
            for row in con.execute(sql + f" ORDER BY {_q(meta['fid'])}", params):
                props = {f: logical(v, meta["fields"][f]) for f, v in zip(fields, row[1:-1])}
                k = str(row[ki]) if ki is not None else str(row[0])
                out[k] = (row[0], props, wkb(row[-1]) if row[-1] is not None else None)
        return out

    def _row_values(self, meta: dict, props: dict) -> list:
        return [db_value(props.get(f), kind, f) for f, kind in meta["fields"].items()]

    def _spill(self, tx: _Tx, *, at_least: int | None = None) -> None:
        """The changes gathered so far written to the log now (in order, numbered for the coming
        revision) once there are ``at_least`` of them: a write of many features holds a chunk of
        its log in memory, not all of it. ``revisions.append`` hashes what was written."""
        if len(tx.changes) < (_SPILL if at_least is None else at_least) or not tx.changes:
            return
        if tx.rid is None:
            tx.rid = revisions.next_id(tx.con)
            tx.spool = revisions.Spool(Path(self.path).parent)
        rows = revisions.stored(tx.changes)
        revisions.write_changes(tx.con, tx.rid, tx.spilled, rows)
        tx.spool.add(rows)
        tx.spilled += len(tx.changes)
        tx.changes.clear()

    def _insert_columns(self, tx: _Tx, layer: str, meta: dict, columns: dict[str, list], wkbs: list,
                        blobs: list, extent: tuple | None, *, bounds=None, aside=None) -> None:
        """Insert new features given column by column: ``columns`` the stored values of every field
        (``db_column``), ``wkbs`` and ``blobs`` their geometries, ``extent`` their bounding box.
        New fids, recorded as adds; the same rows and changes as ``_insert``, made without a Python
        call per value. ``aside``: the insert triggers ``triggers_aside`` took off, whose work is
        done here for the chunk (``bounds``: each geometry's (minx, miny, maxx, maxy))."""
        con = tx.con
        fields = list(meta["fields"])
        top = con.execute(f"SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?), 0), "
                          f"COALESCE((SELECT MAX({_q(meta['fid'])}) FROM {_q(layer)}), 0))", (layer,)).fetchone()[0]
        fids = range(top + 1, top + 1 + len(wkbs))
        values = [columns[f] for f in fields]
        cols = ", ".join([_q(meta["fid"]), *map(_q, fields), _q(meta["geom"])])
        marks = ", ".join("?" * (len(fields) + 2))
        con.executemany(f"INSERT INTO {_q(layer)} ({cols}) VALUES ({marks})", zip(fids, *values, blobs))
        if aside is not None:
            names = {n for n, _ in aside}
            if f"rtree_{layer}_{meta['geom']}_insert" in names:  # as the trigger: boxes of the non-empty shapes
                rtree = _q(f"rtree_{layer}_{meta['geom']}")
                con.executemany(f"INSERT OR REPLACE INTO {rtree} VALUES (?, ?, ?, ?, ?)",
                                ((fid, b[0], b[2], b[1], b[3]) for fid, b, blob in zip(fids, bounds, blobs)
                                 if blob is not None and b[0] == b[0]))
            if f"trigger_insert_feature_count_{layer}" in names:
                con.execute("UPDATE gpkg_ogr_contents SET feature_count = feature_count + ? "
                            "WHERE lower(table_name) = lower(?)", (len(wkbs), layer))
        logged = {f: [None if v is None else bool(v) for v in columns[f]] if meta["fields"][f] == "bool" else columns[f]
                  for f in fields}
        keys = columns[self.key]
        tx.changes.extend((layer, str(k), fid, "add", None, None, after, g)
                          for k, fid, after, g in zip(keys, fids, revisions.json_objects(logged), wkbs))
        self._touch(tx, layer, [extent] if extent is not None else [], shrink=False)
        self._spill(tx)

    def _insert(self, tx: _Tx, layer: str, meta: dict, rows: list[tuple]) -> None:
        """rows: (fid or None, props, WKB). Recorded as adds."""
        from .editing import fids_for  # (editing builds on this module)

        con = tx.con
        top = con.execute(f"SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?), 0), "
                          f"COALESCE((SELECT MAX({_q(meta['fid'])}) FROM {_q(layer)}), 0))", (layer,)).fetchone()[0]
        taken = set()
        wanted = [r[0] for r in rows if r[0] is not None]
        for i in range(0, len(wanted), _CHUNK):
            batch = wanted[i:i + _CHUNK]
            taken |= {r[0] for r in con.execute(f"SELECT {_q(meta['fid'])} FROM {_q(layer)} WHERE "
                                                f"{_q(meta['fid'])} IN ({', '.join('?' * len(batch))})", batch)}
        cols = ", ".join([_q(meta["fid"]), *map(_q, meta["fields"]), _q(meta["geom"])])
        marks = ", ".join("?" * (len(meta["fields"]) + 2))
        fids, top = fids_for([r[0] for r in rows], taken, top)
        values = []
        for fid, (_, props, geom) in zip(fids, rows):
            values.append([fid, *self._row_values(meta, props), blob_from_wkb(geom)])
            tx.changes.append((layer, str(props[self.key]), fid, "add", None, None,
                               {f: logical(v, k) for (f, k), v in zip(meta["fields"].items(), values[-1][1:-1])},
                               geom))
        con.executemany(f"INSERT INTO {_q(layer)} ({cols}) VALUES ({marks})", values)
        bounds = [shapely.from_wkb(r[2]).bounds for r in rows if r[2] is not None]
        self._touch(tx, layer, bounds, shrink=False)
        self._spill(tx)

    def _touch(self, tx: _Tx, layer: str, bounds, *, shrink: bool = False, removed=()) -> None:
        """``gpkg_contents``: the time of the change and the extent, grown by ``bounds``. Where shapes
        were removed or moved away (``removed``: their old boxes; ``shrink``: unknown ones) the
        extent is read from the R-tree again, a pass over every box — but only when a box that
        went lay on the extent's edge: one inside it leaves the extent as it was."""
        con = tx.con
        meta = tx.schema[layer]
        tx.layers.add(layer)
        con.execute("UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
                    "WHERE table_name = ?", (layer,))
        if removed and not shrink:
            ext = con.execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = ?",
                              (layer,)).fetchone()
            eps = 1e-9
            shrink = ext is None or None in ext or any(
                b[0] <= ext[0] + eps or b[1] <= ext[1] + eps or b[2] >= ext[2] - eps or b[3] >= ext[3] - eps
                for b in removed)
        if shrink:
            rtree = _q(f"rtree_{layer}_{meta['geom']}")
            box = con.execute(f"SELECT MIN(minx), MIN(miny), MAX(maxx), MAX(maxy) FROM {rtree}").fetchone()
            con.execute("UPDATE gpkg_contents SET min_x = ?, min_y = ?, max_x = ?, max_y = ? WHERE table_name = ?",
                        (*box, layer))
        elif bounds:
            b = np.array(bounds)
            con.execute("UPDATE gpkg_contents SET min_x = MIN(COALESCE(min_x, ?1), ?1), min_y = MIN(COALESCE(min_y, ?2), ?2), "
                        "max_x = MAX(COALESCE(max_x, ?3), ?3), max_y = MAX(COALESCE(max_y, ?4), ?4) WHERE table_name = ?5",
                        (float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max()), layer))

    def _apply(self, tx: _Tx, layer: str, meta: dict, current: dict, target: dict) -> None:
        """Make the rows ``current`` into ``target`` (both {key: (fid, props, WKB)}), as changes."""
        con, fid = tx.con, _q(meta["fid"])
        gone = [k for k in current if k not in target]
        removed, grown = [], []  # the boxes of shapes that went or moved away, and of where they went
        for k in gone:
            f, props, geom = current[k]
            con.execute(f"DELETE FROM {_q(layer)} WHERE {fid} = ?", (f,))
            tx.changes.append((layer, k, f, "delete", props, geom, None, None))
            if geom is not None:
                removed.append(shapely.from_wkb(geom).bounds)
        sets = ", ".join([*(f"{_q(c)} = ?" for c in meta["fields"]), f"{_q(meta['geom'])} = ?"])
        for k, (f_new, props_new, geom_new) in target.items():
            if k not in current:
                continue
            f, props, geom = current[k]
            full = {c: props_new.get(c) for c in meta["fields"]}
            if full == props and geom == geom_new:
                continue
            con.execute(f"UPDATE {_q(layer)} SET {sets} WHERE {fid} = ?",
                        [*self._row_values(meta, full), blob_from_wkb(geom_new), f])
            tx.changes.append((layer, k, f, "update", props, geom, full, geom_new))
            if geom != geom_new:
                if geom is not None:
                    removed.append(shapely.from_wkb(geom).bounds)
                if geom_new is not None:
                    grown.append(shapely.from_wkb(geom_new).bounds)
        added = [(t[0], {**t[1], self.key: k}, t[2]) for k, t in target.items() if k not in current]
        if added:
            self._insert(tx, layer, meta, added)
        self._touch(tx, layer, grown, removed=removed)

    def _empty_layer(self, name: str, geometry_type: str, fields) -> Path:
        """A scratch GeoPackage with one empty layer, written by GDAL (its DDL, its triggers)."""
        tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp.gpkg")
        types = {f.name: f.type for f in fields}
        empty = gpd.GeoDataFrame({f.name: pd.Series([], dtype=object) for f in fields},
                                 geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")
        table = to_arrow(empty, types)
        pyogrio.write_arrow(table, tmp, layer=name, driver="GPKG", geometry_name="geom", crs="EPSG:4326",
                            geometry_type=geometry_type, layer_options={"SPATIAL_INDEX": "YES", "FID": "fid"})
        return tmp

    @staticmethod
    def _drop_tmp(tmp: Path) -> None:
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{tmp}{suffix}").unlink(missing_ok=True)
