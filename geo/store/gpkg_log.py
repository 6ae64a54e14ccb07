"""Reading the GeoPackage store's log: versions, history, verification, as-of reads, comparison,
and backups (SQLite's online backup API: one consistent snapshot, writers not held up)."""
from __future__ import annotations

import json
import os
import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

import geopandas as gpd

from ..errors import NotFound, StoreError
from . import asof, revisions
from .base import Query, VerifyReport
from .gpkg_rows import rows_to_frame
from .gpkg_docs import write_document
from .gpkg_edit import GeoPackageEditor, _q


class GeoPackageLog(GeoPackageEditor):
    def versions(self, layer: str, keys) -> dict[str, int]:
        self._seal()
        meta = self._layer(layer)
        keys = [str(k) for k in keys]

        def read(con):
            present = set(self._current(con, layer, meta, keys)) if self.key in meta["fields"] else set()
            return {k: v for k, v in self._version_of(con, layer, keys).items() if k in present}

        return self._run("reading versions", read)

    def read_versioned(self, layer: str, keys):
        """The rows and their versions in one read transaction: one moment, one pass."""
        self._seal()
        return self._read_versioned(layer, keys)

    def _read_versioned(self, layer: str, keys):
        meta = self._layer(layer)
        keys = [str(k) for k in keys]
        sql, params, columns, _ = self._select(layer, Query(ids=tuple(keys)))

        def read(con):
            con.execute("BEGIN")
            try:
                rows = con.execute(sql, params).fetchall()
                versions = self._version_of(con, layer, keys) if rows else {}
            finally:
                con.execute("COMMIT")
            return rows, versions

        rows, versions = self._run(f"reading {layer}", read)
        frame = rows_to_frame(rows, columns, meta["fields"])
        present = set(frame[self.key]) if self.key in frame else set()
        return frame, {k: v for k, v in versions.items() if k in present}

    def find_versioned(self, feature_id: str):
        self._seal()
        for layer, meta in self._schema().items():
            if self.key not in meta["fields"]:
                continue
            frame, versions = self._read_versioned(layer, [feature_id])  # sealed once, above
            if len(frame):
                return layer, frame, versions[str(feature_id)]
        return None

    def history(self, *, layer=None, key=None, actor=None, since=None, until=None, limit=100, before_id=None):
        self._seal()
        return self._run("reading the log", lambda con: revisions.history(
            con, layer=layer, key=key, actor=actor, since=since, until=until, limit=limit, before_id=before_id))

    def verify(self, *, seal: bool = True) -> VerifyReport:
        if seal:
            self._seal()
        try:
            return self._run("verifying the log", revisions.verify)
        except StoreError as exc:
            return VerifyReport(False, 0, None, f"the log cannot be read: {exc.internal or exc.detail}")

    # -- documents: small named JSON kept in the store for its users' own bookkeeping ----------
    def document(self, name: str):
        def read(con):
            if not con.execute("SELECT 1 FROM sqlite_master WHERE name = 'gpkg_atlas_documents'").fetchone():
                return None
            row = con.execute("SELECT body FROM gpkg_atlas_documents WHERE name = ?", (name,)).fetchone()
            return None if row is None else json.loads(row[0])

        return self._run("reading a document", read)

    def put_document(self, name: str, value) -> None:
        con = self._writer()
        try:
            with con:
                write_document(con, name, value)
        except sqlite3.Error as exc:
            raise StoreError("the store could not be written; nothing was changed, try again",
                             internal=f"writing document {name!r} in {self.path}: {exc}") from exc
        finally:
            con.close()

    # -- as of --------------------------------------------------------------------------------
    def _layer_then(self, con, layer: str) -> dict:
        """The layer's schema: the live one, or the kept one of a dropped layer."""
        schema = self._schema()
        if layer in schema:
            return schema[layer]
        row = con.execute("SELECT geometry_type, fields FROM gpkg_atlas_layers WHERE name = ?", (layer,)).fetchone()
        if row is None:
            raise NotFound(f"no layer {layer!r}; the layers are: {', '.join(schema) or '(none)'}", parameter="layer")
        import json

        return {"geom": "geom", "fid": "fid", "type": row[0], "fields": dict(json.loads(row[1])), "dropped": True}

    def _state(self, con, layer: str, point: int, bbox=None) -> tuple[gpd.GeoDataFrame, dict]:
        """The layer at revision ``point``. With ``bbox`` only the current rows whose R-tree box
        meets it are read: every feature changed since is taken from the log whatever its place
        now, and the query's own bbox test follows, so the answer is the same, at a fraction."""
        meta = self._layer_then(con, layer)
        self._check_since(con, layer, point)
        columns = list(meta["fields"])
        if meta.get("dropped"):
            rows = []
        else:
            cols = ", ".join([_q(meta["fid"]), *map(_q, columns), _q(meta["geom"])])
            where, params = "", []
            if bbox is not None:
                rtree, params = self._rtree(layer, meta, Query(bbox=bbox))
                where = f" WHERE {_q(meta['fid'])} IN ({rtree.replace('SELECT r.id', 'SELECT r.id', 1)})"
            rows = con.execute(f"SELECT {cols} FROM {_q(layer)}{where} ORDER BY {_q(meta['fid'])}", params).fetchall()
        current = asof.frame_of(rows, columns, meta["fields"], gpkg=True)
        later = self._changes_after(con, layer, point)
        key = self.key if self.key in meta["fields"] else None
        return asof.state(current, later, columns, meta["fields"], key), meta

    def _as_of(self, layer: str, when: str, bbox=None) -> tuple[gpd.GeoDataFrame, dict]:
        self._seal()
        # one read transaction: the rows and the log of the same moment
        def read(con):
            con.execute("BEGIN")
            try:
                return self._state(con, layer, self._point(con, None, when), bbox)
            finally:
                con.execute("COMMIT")
        return self._run(f"reading {layer} as of {when}", read)

    # -- backups ------------------------------------------------------------------------------
    def backup(self, path) -> None:
        """A consistent copy at ``path`` (written to a temporary name first, then moved there)."""
        path = Path(path)
        _copy(self.path, path)


def _copy(src: Path, dest: Path) -> None:
    """``src`` copied by SQLite's online backup into a new file that then replaces ``dest``."""
    if not Path(src).is_file():
        raise StoreError("there is no store to copy", internal=f"no file at {src}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with closing(sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=10)) as s, \
                closing(sqlite3.connect(tmp)) as d:
            s.backup(d)  # all pages in one step: one read transaction, one snapshot
            d.execute("PRAGMA journal_mode = WAL")
        os.replace(tmp, dest)
    except sqlite3.Error as exc:
        raise StoreError("the copy could not be made", internal=f"copying {src} to {dest}: {exc}") from exc
    finally:
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{tmp}{suffix}").unlink(missing_ok=True)


def restore_backup(src, dest, *, key: str = "id") -> VerifyReport:
    """Bring back the backup ``src`` as the store ``dest``: refused unless ``src`` is a store whose
    log verifies; then copied to a temporary file beside ``dest``, checked again, and moved over
    ``dest`` atomically (``os.replace``). Stop the server first: a file replaced under open
    connections is not seen by them. Returns the report of the restored store."""
    from .gpkg import GeoPackageStore

    src, dest = Path(src), Path(dest)
    try:
        report = GeoPackageStore(src, key=key).verify(seal=False)
    except StoreError as exc:
        raise StoreError(f"{src.name} is not a store that can be restored", internal=str(exc)) from exc
    if not report.ok or not report.entries:
        raise StoreError(f"{src.name} cannot be restored: its revision log does not verify ({report.detail})")
    staged = dest.with_name(f".{dest.name}.restore.{os.getpid()}.tmp.gpkg")
    try:
        _copy(src, staged)
        again = GeoPackageStore(staged, key=key).verify(seal=False)
        if not again.ok or again.head != report.head:
            raise StoreError("the copy of the backup does not verify; the store was left as it was")
        for suffix in ("-wal", "-shm"):  # the old file's, which would be read as the new one's
            Path(f"{dest}{suffix}").unlink(missing_ok=True)
        os.replace(staged, dest)
    finally:
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{staged}{suffix}").unlink(missing_ok=True)
    return GeoPackageStore(dest, key=key).verify(seal=False)

