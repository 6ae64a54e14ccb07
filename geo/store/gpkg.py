"""The embedded default store: one GeoPackage file, a table per layer, each with an R-tree index.

Reads are plain parameterised SQLite over the file (the R-tree for a bbox, attribute filters, the
primary key ``fid`` for order and paging; geometries decoded from the GeoPackage blobs to WKB and
then shapely, all rows at once): no value from a request is ever pasted into SQL and column names are
checked against the table's own schema. A build goes through GDAL (pyogrio, from Arrow with the
neutral field types) into a scratch file: the first becomes the store, later ones are copied into the
live store in one transaction (its revision log kept). Edits are plain sqlite3 transactions with a
revision each (``gpkg_write``, ``gpkg_edit``); the log and as-of reads are in ``gpkg_log``. The file
is in WAL mode: readers never wait for a writer.
"""
from __future__ import annotations

import logging
import os
import re
import sqlite3
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from pathlib import Path

import geopandas as gpd
import pyogrio

from ..errors import InvalidParameter, NotFound, StoreError
from ..files import pid_alive
from . import gpkg_ddl as ddl
from . import where as filters
from .base import Field, LayerInfo, Query, Records, Revision, Store, sort_order
from .common import CommonStore
from .editing import SharedEdits, check_build
from .gpkg_ddl import read_schema
from .gpkg_geom import intersects, spatial_test
from .gpkg_log import GeoPackageLog
from .gpkg_table import GeoPackageTable
from .gpkg_rows import like_pattern, quote
from .gpkg_rows import UNAVAILABLE as _UNAVAILABLE, rows_to_frame, rows_to_records, to_arrow

log = logging.getLogger(__name__)

#: Temporary files of an interrupted build: .<stem>.<pid>.<hex>.tmp.gpkg (and their journals).
_TMP = re.compile(r"^\.(?P<stem>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp\.gpkg(-journal|-wal|-shm)?$")
_VERSION = ("SELECT (SELECT MAX(id) FROM gpkg_atlas_revisions), "
            "(SELECT seq FROM sqlite_sequence WHERE name = 'gpkg_atlas_pending'), "
            "(SELECT schema_version FROM pragma_schema_version)")


_quote, _like_pattern = quote, like_pattern  # the names this module uses


class GeoPackageStore(GeoPackageTable, GeoPackageLog, CommonStore, SharedEdits, Store):
    box_matches_unordered = True  # the R-tree gives the box's ids, not the key order

    def __init__(self, path: Path, *, key: str):
        self.path = Path(path)
        self.url = f"gpkg://{self.path}"
        self.key = key
        self._schema_cache: tuple[tuple, dict] | None = None
        self._counts: OrderedDict[tuple, int] = OrderedDict()  # counts and totals, by SQL and store version
        self._indexed: dict[tuple, bool] = {}  # (layer, field, version) -> a sort index was seen to
        self._lock = threading.Lock()
        self._local = threading.local()

    # -- reading -------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.path.is_file()

    def version(self) -> str:
        """The file's identity, the newest revision, the newest external edit recorded by the
        triggers and SQLite's schema cookie, in one cheap query (in WAL mode the header's change
        counter no longer moves on every commit). A store without a log: the header counter."""
        try:
            st = self.path.stat()
        except OSError:
            return "none"
        try:
            row = self._reader().execute(_VERSION).fetchone()
            return f"{st.st_ino:x}-{row[0] or 0:x}-{row[1] or 0:x}-{row[2]:x}"
        except sqlite3.Error:
            pass
        try:
            with open(self.path, "rb") as fh:
                fh.seek(24)
                counter = fh.read(4)
        except OSError:
            return "none"
        return f"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}-{counter.hex()}"

    def _connect(self) -> sqlite3.Connection:
        if not self.exists():
            raise StoreError("the store has not been built yet; run 'make build' (python -m layers.build) "
                             "first", internal=f"no file at {self.path}")
        try:
            # read-write but query_only: the last connection to close (a read, usually) checkpoints
            # the WAL and removes it, which a read-only one cannot do
            con = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
            con.execute("PRAGMA query_only = ON")
            con.create_function("atlas_intersects", 2, intersects, deterministic=True)  # filters' exact test
            return con
        except sqlite3.Error as exc:  # pragma: no cover - depends on the file system
            raise StoreError(_UNAVAILABLE, internal=f"cannot open {self.path}: {exc}") from exc

    def _reader(self) -> sqlite3.Connection:
        """This thread's reading connection, kept between requests (opening one and reading the
        schema costs more than a lookup by id); a new one once the file was replaced (a restored
        backup is a new file: an open connection would go on reading the old one)."""
        try:
            st = self.path.stat()
        except OSError:
            st = None
        # a forked process (an export job) must not use its parent's connection: SQLite's are not
        # to be shared across fork; it opens its own
        identity = (os.getpid(), st.st_dev, st.st_ino) if st else None
        held = getattr(self._local, "reader", None)
        if held is not None and held[0] == identity:
            return held[1]
        if held is not None:
            if held[0] and held[0][0] == os.getpid():
                held[1].close()
            self._local.reader = None
        con = self._connect()
        self._local.reader = (identity, con)
        return con

    def _run(self, what: str, fn):
        """``fn(connection)``, with every SQLite failure turned into a StoreError (logged detail)."""
        try:
            return fn(self._reader())
        except sqlite3.Error as exc:
            held = getattr(self._local, "reader", None)
            if held is not None:  # a broken connection is not kept
                held[1].close()
                self._local.reader = None
            raise StoreError(_UNAVAILABLE, internal=f"{what} in {self.path}: {type(exc).__name__}: {exc}") from exc

    def _schema(self) -> dict:
        """{layer: {"geom", "fid", "type", "fields": {name: type}}}, cached until the file changes
        (a rebuild replaces the file)."""
        if not self.exists():
            self._connect()  # raises the StoreError that says how to build it
        stamp = self.version()
        if self._schema_cache and self._schema_cache[0] == stamp:
            return self._schema_cache[1]

        schema = self._run("reading the schema", read_schema)
        self._schema_cache = (stamp, schema)
        return schema

    def _layer(self, layer: str) -> dict:
        schema = self._schema()
        if layer not in schema:
            raise NotFound(f"no layer {layer!r}; the layers are: {', '.join(schema) or '(none)'}",
                           parameter="layer")
        return schema[layer]

    def layers(self) -> list[str]:
        return list(self._schema())

    def fields(self, layer: str) -> tuple[Field, ...]:
        return tuple(Field(n, t) for n, t in self._layer(layer)["fields"].items())

    def info(self, layer: str) -> LayerInfo:
        meta = self._layer(layer)

        def read(con):
            count = con.execute(f"SELECT COUNT(*) FROM {_quote(layer)}").fetchone()[0]
            # the extent GDAL records in gpkg_contents is exact (the R-tree keeps float32 boxes)
            bbox = con.execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = ?",
                               (layer,)).fetchone()
            if bbox is None or None in bbox:
                rtree = _quote(f"rtree_{layer}_{meta['geom']}")
                bbox = con.execute(f"SELECT MIN(minx), MIN(miny), MAX(maxx), MAX(maxy) FROM {rtree}").fetchone()
            return count, bbox

        count, bbox = self._run(f"reading layer {layer}", read)
        return LayerInfo(name=layer, geometry_type=meta["type"], count=count,
                         bbox=None if bbox[0] is None else tuple(float(v) for v in bbox),
                         fields=self.fields(layer), crs="EPSG:4326")

    def _rtree(self, layer: str, meta: dict, query: Query) -> tuple[str, list]:
        """The R-tree's ids whose boxes meet ``query.bbox``: ``SELECT r.id FROM … WHERE …``."""
        minx, miny, maxx, maxy = query.bbox
        rtree = _quote(f"rtree_{layer}_{meta['geom']}")
        return (f"SELECT r.id FROM {rtree} AS r WHERE r.maxx >= ? AND r.minx <= ? AND r.maxy >= ? AND r.miny <= ?",
                [minx, maxx, miny, maxy])

    def _conditions(self, layer: str, meta: dict, query: Query) -> tuple[list[str], list]:
        """The attribute conditions of ``query`` (no bbox) on the table ``t``, and their parameters."""
        conds, params = [], []
        fields = meta["fields"]
        for name, values in query.equals.items():
            if name not in fields:
                raise InvalidParameter(f"layer {layer!r} has no field {name!r}", parameter=name)
            if not values:
                continue
            conds.append(f"t.{_quote(name)} IN ({', '.join('?' * len(values))})")
            params += list(values)
        if query.text:
            present = [f for f in query.text_fields if f in fields]
            if present:
                conds.append("(" + " OR ".join(f"t.{_quote(f)} LIKE ? ESCAPE '\\'" for f in present) + ")")
                params += [_like_pattern(query.text)] * len(present)
            else:
                conds.append("0")
        if query.ids is not None:
            if self.key not in fields:
                conds.append("0")
            elif query.ids:
                conds.append(f"t.{_quote(self.key)} IN ({', '.join('?' * len(query.ids))})")
                params += list(query.ids)
            else:
                conds.append("0")
        more, values = self._table_conditions(layer, meta, query)  # ranges and substrings (gpkg_table)
        if query.where is not None:  # a CQL2 tree (geo.store.where): checked, quoted, bound
            sql, bound = filters.to_sql(query.where, fields, column=lambda n: f"t.{_quote(n)}",
                                      geometry=f"t.{_quote(meta['geom'])}", spatial=spatial_test(layer, meta))
            more, values = [*more, sql], [*values, *bound]
        return conds + more, params + values

    def _from(self, layer: str, meta: dict, query: Query, *, join: str = "", extra=((), ())) -> tuple[str, list]:
        """``FROM … WHERE …`` of the rows ``query`` selects, and its parameters. The bbox is a
        list of R-tree ids (``fid IN (…)``): SQLite walks it in id order, looking each row up by
        its primary key, so a page stops after its rows instead of sorting every match."""
        conds, params = self._conditions(layer, meta, query)
        if query.bbox is not None:
            ids, box = self._rtree(layer, meta, query)
            conds.insert(0, f"t.{_quote(meta['fid'])} IN ({ids})")
            params = box + params
        conds, params = conds + list(extra[0]), params + list(extra[1])
        where = (" WHERE " + " AND ".join(conds)) if conds else ""
        return f"FROM {_quote(layer)} AS t{join}{where}", params

    def _bbox_only(self, query: Query) -> bool:
        """A bbox and nothing else: the R-tree alone answers which rows, and how many."""
        return (query.bbox is not None and not any(query.equals.values()) and not query.text
                and query.ids is None and not query.ranges and not query.contains and query.where is None)

    def _select(self, layer: str, query: Query) -> tuple[str, list, list[str], dict]:
        meta = self._layer(layer)
        columns = self._columns(layer, meta, query)
        fid = f"t.{_quote(meta['fid'])}"
        cols = ", ".join([*(f"t.{_quote(c)}" for c in columns), f"t.{_quote(meta['geom'])}"])
        paged = query.limit is not None or bool(query.offset)
        page = [-1 if query.limit is None else query.limit, query.offset]
        if self._bbox_only(query) and paged:
            # the page of ids straight from the R-tree (a sort of integers), then those rows
            ids, params = self._rtree(layer, meta, query)
            sql = f"SELECT {cols} FROM {_quote(layer)} AS t WHERE {fid} IN ({ids} ORDER BY r.id LIMIT ? OFFSET ?) ORDER BY {fid}"
            return sql, params + page, columns, meta
        base, params = self._from(layer, meta, query)
        sql = f"SELECT {cols} {base} ORDER BY {fid}"
        if paged:
            sql += " LIMIT ? OFFSET ?"
            params = params + page
        return sql, params, columns, meta

    def count(self, layer: str, query: Query, *, at_most: int | None = None) -> int:
        if query.as_of is not None:
            return self._asof_count(layer, query)
        meta = self._layer(layer)
        if self._bbox_only(query):  # the R-tree counts on its own, exactly, in a few ms
            ids, params = self._rtree(layer, meta, query)
            sql = f"SELECT COUNT(*) FROM ({ids})"
        else:
            base, params = self._from(layer, meta, query)
            sql = f"SELECT COUNT(*) {base}"
            if at_most is not None:
                sql = f"SELECT COUNT(*) FROM (SELECT 1 {base} LIMIT ?)"
                params = params + [at_most + 1]
        # the pages of one view ask the same count again: kept while the file is the same
        key = (self._schema_cache[0] if self._schema_cache else None, sql, tuple(params))
        with self._lock:
            if key in self._counts:
                self._counts.move_to_end(key)
                return self._counts[key]
        n = self._run(f"counting {layer}", lambda con: con.execute(sql, params).fetchone()[0])
        with self._lock:
            self._counts[key] = n
            while len(self._counts) > 512:
                self._counts.popitem(last=False)
        return n

    def query(self, layer: str, query: Query) -> gpd.GeoDataFrame:
        if query.as_of is not None:
            return self._asof_query(layer, query)
        return rows_to_frame(*self._page(layer, query))

    def records(self, layer: str, query: Query) -> Records:
        """``query``'s rows as SQLite gives them, without a frame (the OGC writer's fast path: a
        page of 1,000 spent a third of its time becoming a frame and plain values again)."""
        if query.as_of is not None:
            return super().records(layer, query)
        return rows_to_records(*self._page(layer, query))

    def _page(self, layer: str, query: Query) -> tuple[list[tuple], list[str], dict[str, str]]:
        """(the rows of ``query``'s page: its columns' values, then the geometry blob; the columns;
        the layer's field types)."""
        if sort_order(query, self.key) is not None:
            return self._ordered_rows(layer, query)
        sql, params, columns, meta = self._select(layer, query)
        return self._run(f"reading {layer}", lambda con: con.execute(sql, params).fetchall()), columns, meta["fields"]

    def stream(self, layer: str, query: Query, *, chunk_size: int = 5000) -> Iterator[gpd.GeoDataFrame]:
        # one statement over one connection: SQLite reads one snapshot for its whole run, and a
        # rebuild replaces the file (a new inode) without touching the one open here
        if query.as_of is not None:
            yield from self._asof_stream(layer, query, chunk_size)
            return
        if sort_order(query, self.key) is not None:
            yield from self._ordered_stream(layer, query, chunk_size)
            return
        sql, params, columns, meta = self._select(layer, query)
        con = self._connect()
        try:
            cursor = con.execute(sql, params)
            while rows := cursor.fetchmany(chunk_size):
                yield rows_to_frame(rows, columns, meta["fields"])
        except sqlite3.Error as exc:
            raise StoreError(_UNAVAILABLE, internal=f"streaming {layer} from {self.path}: {exc}") from exc
        finally:
            con.close()

    # -- writing -------------------------------------------------------------------------------
    def replace(self, layers: Mapping[str, gpd.GeoDataFrame],
                fields: Mapping[str, Sequence[Field]] | None = None, *, message: str = "build") -> Revision:
        types = check_build(layers, fields, self.key)
        self.cleanup()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp.gpkg")
        try:
            for name, frame in layers.items():
                gtypes = set(frame.geometry.geom_type.dropna())
                pyogrio.write_arrow(to_arrow(frame, types[name]), tmp, layer=name, driver="GPKG",
                                    geometry_name="geom", crs="EPSG:4326",
                                    geometry_type=gtypes.pop() if len(gtypes) == 1 else "Unknown",
                                    append=tmp.exists(), layer_options={"SPATIAL_INDEX": "YES", "FID": "fid"})
            with closing(sqlite3.connect(tmp)) as con:
                for name, frame in layers.items():
                    con.execute(f"CREATE UNIQUE INDEX {_quote(f'idx_{name}_{self.key}')} "
                                f"ON {_quote(name)}({_quote(self.key)})")
                    (stored,) = con.execute(f"SELECT COUNT(*) FROM {_quote(name)}").fetchone()
                    if stored != len(frame):
                        raise StoreError(f"layer {name!r}: wrote {len(frame)} features, read back {stored}")
                con.commit()
            if not self.exists():  # the first build: the scratch file, with its log, becomes the store
                revision = self._transact("sources", message, None, path=tmp)
                with closing(sqlite3.connect(tmp)) as con:
                    con.execute("PRAGMA journal_mode = WAL")
                os.replace(tmp, self.path)
                return revision
            return self._merge_build(tmp, list(layers), message)
        except StoreError:
            tmp.unlink(missing_ok=True)
            raise
        except Exception as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError("could not write the store; the previous store was left as it was",
                             internal=f"writing {self.path}: {type(exc).__name__}: {exc}") from exc
        finally:
            for suffix in ("-journal", "-wal", "-shm"):
                Path(f"{tmp}{suffix}").unlink(missing_ok=True)

    def _merge_build(self, tmp: Path, names: list[str], message: str) -> Revision:
        """The built layers copied into the live store in one transaction: the old layers' tables
        go (without rows in the log: a build is one revision), the log stays."""
        def work(tx):
            for name in tx.schema:
                ddl.drop(tx.con, name)
                tx.con.execute("UPDATE gpkg_atlas_layers SET dropped = 1 WHERE name = ?", (name,))
            ddl.merge(tx.con, names, self.key)
            tx.layers |= set(tx.schema) | set(names)
            built = ddl.read_schema(tx.con)
            for name in names:
                meta = built[name]
                fields = [Field(n, t) for n, t in meta["fields"].items()]
                tx.after.append(lambda rid, n=name, m=meta, f=fields:
                                ddl.remember(tx.con, n, m["type"], f, self.key, rid, since=True))

        revision = self._transact("sources", message, work, attach=tmp)
        with closing(self._writer()) as con:
            con.execute("PRAGMA journal_mode = WAL")
        return revision

    def cleanup(self) -> list[str]:
        """Temporary files of builds whose process is gone (killed mid-write) are removed."""
        removed = []
        folder = self.path.parent
        if not folder.is_dir():
            return removed
        for item in folder.iterdir():
            m = _TMP.match(item.name)
            if m and m["stem"] == self.path.stem and not pid_alive(int(m["pid"])):
                item.unlink(missing_ok=True)
                removed.append(item.name)
        if removed:
            log.warning("removed %d file(s) left by an interrupted build: %s", len(removed), ", ".join(removed))
        return removed
