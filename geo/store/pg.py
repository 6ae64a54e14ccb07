"""The PostGIS store: the same ``Store`` interface over a PostgreSQL schema with PostGIS.

``ATLAS_STORE=postgresql://user:password@host:5432/db?schema=atlas&statement_timeout=30s`` (or
``postgres://``). Options of the URL that are the store's own, taken out before libpq sees it:

- ``schema``: the schema that is the store (default ``atlas``); made by the first build.
- ``statement_timeout``: the longest any one read may run, in ms or with a unit (``30s``, ``2min``;
  default 30 s); a read cut off by it is a StoreError saying so. ``write_timeout``: the same for each
  statement of a write (default 10 min: an import of a million features is one long COPY).
- ``pool_min`` / ``pool_max``: the connection pool's size (default 1 / 10), one pool a process per
  database, shared by every store of it; ``pool_timeout``: how long a request waits for a connection
  (default 10 s) before it is told the database cannot be reached.

Everything else of the URL goes to libpq as it is (``host=/run/postgresql`` for a socket, ``sslmode``…).

Geometries are kept in EPSG:4326 (``geometry(<type>, 4326)``) with a GiST index; a bbox is
``geom && ST_MakeEnvelope(…)``, the index's box test (what the GeoPackage R-tree answers). Every
value is a bound parameter; every identifier is a ``psycopg.sql.Identifier`` of a name checked
against the schema, a field's made by ``pg_sql.field`` (see there for a ``%`` in a name). Reads run
on autocommit connections (one statement, one snapshot, no lock kept); a stream holds its rows in a
``WITH HOLD`` cursor (one snapshot, and a rebuild is not held up).
Connections and the URL: ``pg_conn``; SQL pieces: ``pg_sql``; writes: ``pg_edit`` (features) and
``pg_layers`` (layer-wide); the log: ``pg_log``; the tables and triggers: ``pg_ddl``; copies: ``copy``.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from psycopg import sql

from ..errors import InvalidParameter, NotFound, StoreError
from . import order as ordering
from . import pg_ddl as ddl
from . import where as filters
from .base import Field, LayerInfo, Query, Records, Rows, Store, sort_order
from .common import CommonStore
from .editing import SharedEdits
from .gpkg_rows import attribute_columns, like_pattern, rows_to_frame
from .pg_edit import PostGISEditor
from .pg_layers import PostGISLayers
from .pg_conn import close_pools, connection, parse_url  # noqa: F401 (close_pools: for the tests)
from .pg_sql import col, compare, field, filter_column, keyset, order_clause, read_expr, typed_values
from .pg_log import PostGISLog
from .pg_version import PostGISVersion

log = logging.getLogger(__name__)


def planned(query: Query) -> bool | None:
    """psycopg's ``prepare`` for ``query``'s statement. A read by key only may be prepared (psycopg
    does after five runs) and keep PostgreSQL's generic plan. A read whose best plan depends on
    its values (a box, a filter, a range, a sort) never is: unprepared, each run is planned for its
    own values, so a dense box's page of 10 walks the key index where a generic plan, made for a
    box of a few rows, would sort all its matches (60 ms instead of under 1)."""
    return None if query.by_ids_only() else False


class PostGISStore(PostGISVersion, PostGISLayers, PostGISEditor, PostGISLog, CommonStore, SharedEdits, Store):
    def __init__(self, url: str, *, key: str):
        self.url = str(url)
        self.key = key
        self.conninfo, self.options = parse_url(self.url)
        self.schema = self.options["schema"]
        self._schema_cache: tuple[str, dict] | None = None
        self._counts: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.Lock()
        self._pin_key = (self.conninfo, self.schema)

    # -- connections ---------------------------------------------------------------------------
    def _connection(self, what: str):
        """A pooled autocommit connection; every psycopg failure a StoreError (detail logged)."""
        return connection(self.conninfo, self.options, what, self.schema)

    def _run(self, what: str, fn):
        with self._connection(what) as con:
            return fn(con)

    def _fetch(self, what: str, statement, params, query: Query, *, one: bool = False):
        """The rows (or the first row) of ``query``'s statement, prepared or not as ``planned`` says."""
        def read(con):
            cursor = con.execute(statement, params, prepare=planned(query))
            return cursor.fetchone() if one else cursor.fetchall()
        return self._run(what, read)

    def _t(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, name)

    # -- reading -------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self._run("looking for the store", lambda con: ddl.is_store(con, self.schema))

    def _schema(self) -> dict:
        stamp = self.version()
        if stamp == "none":
            if not self.exists():
                raise StoreError("the store has not been built yet; run 'make build' (python -m layers.build) first",
                                 internal=f"no store in schema {self.schema} of {self.conninfo}")
        if self._schema_cache and self._schema_cache[0] == stamp:
            return self._schema_cache[1]
        schema = self._run("reading the schema", lambda con: ddl.read_schema(con, self.schema))
        self._schema_cache = (stamp, schema)
        return schema

    def _layer(self, layer: str) -> dict:
        schema = self._schema()
        if layer not in schema:
            raise NotFound(f"no layer {layer!r}; the layers are: {', '.join(schema) or '(none)'}", parameter="layer")
        return schema[layer]

    def layers(self) -> list[str]:
        return list(self._schema())

    def fields(self, layer: str) -> tuple[Field, ...]:
        return tuple(Field(n, t) for n, t in self._layer(layer)["fields"].items())

    def _cached(self, key, fn):
        key = (self._schema_cache[0] if self._schema_cache else None, *key)
        with self._lock:
            if key in self._counts:
                self._counts.move_to_end(key)
                return self._counts[key]
        value = fn()
        with self._lock:
            self._counts[key] = value
            while len(self._counts) > 512:
                self._counts.popitem(last=False)
        return value

    def info(self, layer: str) -> LayerInfo:
        meta = self._layer(layer)

        row = self._cached(("info", layer), lambda: self._run(f"reading layer {layer}", lambda con: con.execute(
            sql.SQL("SELECT count(*), ST_XMin(ST_Extent(geom)), ST_YMin(ST_Extent(geom)), ST_XMax(ST_Extent(geom)), "
                    "ST_YMax(ST_Extent(geom)) FROM {}").format(self._t(layer))).fetchone()))
        return LayerInfo(name=layer, geometry_type=meta["type"], count=int(row[0]),
                         bbox=None if row[1] is None else tuple(float(v) for v in row[1:]),
                         fields=self.fields(layer), crs="EPSG:4326")

    def _conditions(self, layer: str, meta: dict, query: Query) -> tuple[list[sql.Composable], list]:
        """The WHERE conditions of ``query`` on the table ``t`` and their parameters; ``Query.where``
        (a CQL2 tree) compiled by ``geo.store.where``'s postgis dialect over the checked fields."""
        fields = meta["fields"]
        conds, params = [], []
        if query.bbox is not None:
            minx, miny, maxx, maxy = (float(v) for v in query.bbox)
            conds.append(sql.SQL("t.geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326)"))
            params += [minx, miny, maxx, maxy]
        for name, values in query.equals.items():
            if name not in fields:
                raise InvalidParameter(f"layer {layer!r} has no field {name!r}", parameter=name)
            if not values:
                continue
            typed = typed_values(values, fields[name])
            if not typed:
                conds.append(sql.SQL("false"))
                continue
            expr = read_expr(name, fields[name]) if fields[name] == "date" else col(name)
            conds.append(sql.SQL("{} IN ({})").format(expr, sql.SQL(", ").join(sql.Placeholder() * len(typed))))
            params += typed
        if query.text:
            present = [f for f in query.text_fields if f in fields]
            if present:
                conds.append(sql.SQL("(") + sql.SQL(" OR ").join(
                    sql.SQL("{}::text COLLATE \"C\" ILIKE %s ESCAPE '\\'").format(col(f)) for f in present) + sql.SQL(")"))
                params += [like_pattern(query.text)] * len(present)
            else:
                conds.append(sql.SQL("false"))
        if query.ids is not None:
            if self.key not in fields or not query.ids:
                conds.append(sql.SQL("false"))
            else:
                conds.append(sql.SQL("{}::text = ANY(%s)").format(col(self.key)) if fields[self.key] != "str"
                             else sql.SQL("{} COLLATE \"C\" = ANY(%s)").format(col(self.key)))  # its index's
                params.append([str(i) for i in query.ids])
        ordering.check_ranges(layer, fields, query.ranges)
        ordering.check_contains(layer, fields, query.contains)
        for name, (lo, hi) in query.ranges.items():
            conds.append(sql.SQL("{} IS NOT NULL").format(col(name)))
            for op, value in ((">=", lo), ("<=", hi)):
                if value is not None:
                    c, p = compare(name, fields[name], op, value)
                    conds.append(c)
                    params += p
        for name, text in query.contains.items():
            expr = read_expr(name, fields[name])
            conds.append(sql.SQL("{}::text COLLATE \"C\" ILIKE %s ESCAPE '\\'").format(expr))
            params.append(like_pattern(text))
        if query.where is not None:  # every name checked against the fields, every value bound
            text, bound = filters.to_sql(query.where, fields, dialect="postgis",
                                         column=lambda n: filter_column(n, fields[n]), geometry="t.geom")
            conds.append(sql.SQL(text))
            params += bound
        return conds, params

    def _from(self, layer: str, meta: dict, query: Query, extra=((), ())) -> tuple[sql.Composable, list]:
        conds, params = self._conditions(layer, meta, query)
        conds, params = conds + list(extra[0]), params + list(extra[1])
        where = (sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conds)) if conds else sql.SQL("")
        return sql.SQL("FROM {} AS t").format(self._t(layer)) + where, params

    def _order(self, layer: str, meta: dict, query: Query):
        order = sort_order(query, self.key)
        if order is None:
            if query.limit is not None and query.limit < 0:
                raise InvalidParameter("limit must not be negative", parameter="limit")
            return None
        ordering.check_order(layer, meta["fields"], order, self.key)
        ordering.check_after(order, query.after, query.offset)
        if query.limit is not None and query.limit < 0:
            raise InvalidParameter("limit must not be negative", parameter="limit")
        return order

    def _select(self, layer: str, query: Query, select: sql.Composable, *, order=None, more: int = 0):
        """``SELECT <select> FROM … WHERE … ORDER BY … LIMIT … OFFSET …`` and its parameters. A read
        by ids alone (a feature by id: the commonest small read) has its statement rendered once a
        store version, only its parameters made each time."""
        if (order is None and query.ids and isinstance(select, sql.SQL) and query.by_ids_only()
                and self.key in self._layer(layer)["fields"]):
            params = [[str(i) for i in query.ids]]
            params += [] if query.limit is None else [query.limit + more]
            params += [query.offset] if query.offset else []
            shape = ("ids select", layer, select.as_string(None), query.limit is not None, bool(query.offset))
            text = self._cached(shape, lambda: sql.SQL(
                self._compose_select(layer, query, select, more=more)[0].as_string(None)))
            return text, params
        return self._compose_select(layer, query, select, order=order, more=more)

    def _compose_select(self, layer: str, query: Query, select: sql.Composable, *, order=None, more: int = 0):
        meta = self._layer(layer)
        extra = ((), ())
        if order is not None and query.after is not None:
            c, p = keyset(order, tuple(query.after), meta["fields"], never_null=self._never_null(layer, meta, order))
            extra = ((c,), p)
        base, params = self._from(layer, meta, query, extra)
        tail = order_clause(order, meta["fields"]) if order is not None else sql.SQL("ORDER BY t.fid")
        statement = sql.SQL("SELECT ") + select + sql.SQL(" ") + base + sql.SQL(" ") + tail
        if query.limit is not None:
            statement += sql.SQL(" LIMIT %s")
            params.append(query.limit + more)
        if query.offset:
            statement += sql.SQL(" OFFSET %s")
            params.append(query.offset)
        return statement, params

    def _never_null(self, layer: str, meta: dict, order) -> frozenset:
        """The key, when a descending order has it and the layer has no row without one (known per
        store version; rows written from outside, QGIS, may lack it): a page backwards is then one
        range of the key's index too."""
        if self.key not in meta["fields"] or not any(d for n, d in order if n == self.key):
            return frozenset()
        statement = sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE {} IS NULL)").format(
            self._t(layer), field(self.key))
        missing = self._cached(("null keys", layer), lambda: self._run(
            f"reading {layer}", lambda con: con.execute(statement, ()).fetchone()[0]))
        return frozenset() if missing else frozenset((self.key,))

    def _feature_select(self, layer: str, meta: dict, columns: list[str]) -> sql.Composable:
        """The select list of ``columns`` and the geometry, rendered once a store version (composing
        it again for every small read cost as much as the database's answer to a feature by id)."""
        def render():
            parts = [*(read_expr(c, meta["fields"][c]) for c in columns), sql.SQL("ST_AsBinary(t.geom)")]
            return sql.SQL(sql.SQL(", ").join(parts).as_string(None))
        return self._cached(("select", layer, tuple(columns)), render)

    def count(self, layer: str, query: Query, *, at_most: int | None = None) -> int:
        if query.as_of is not None:
            return self._asof_count(layer, query)
        meta = self._layer(layer)
        base, params = self._from(layer, meta, query)
        statement = sql.SQL("SELECT count(*) ") + base
        if at_most is not None and not self._bbox_only(query):
            statement = sql.SQL("SELECT count(*) FROM (SELECT 1 ") + base + sql.SQL(" LIMIT %s) s")
            params = params + [at_most + 1]

        def read():
            return int(self._fetch(f"counting {layer}", statement, params, query, one=True)[0])
        return self._cached(("count", layer, statement.as_string(None), tuple(map(repr, params))), read)

    def _bbox_only(self, query: Query) -> bool:
        return (query.bbox is not None and not any(query.equals.values()) and not query.text
                and query.ids is None and not query.ranges and not query.contains and query.where is None)

    def query(self, layer: str, query: Query) -> gpd.GeoDataFrame:
        if query.as_of is not None:
            return self._asof_query(layer, query)
        meta = self._layer(layer)
        order = self._order(layer, meta, query)
        columns = self._columns(layer, meta, query)
        statement, params = self._select(layer, query, self._feature_select(layer, meta, columns), order=order)
        rows = self._fetch(f"reading {layer}", statement, params, query)
        return rows_to_frame(rows, columns, meta["fields"], gpkg=False)

    def records(self, layer: str, query: Query) -> Records:
        """``query``'s statement, its rows as psycopg gives them (no frame): the fast path of a
        small page (a feature by id, a page of 10)."""
        if query.as_of is not None:
            return super().records(layer, query)
        meta = self._layer(layer)
        order = self._order(layer, meta, query)
        columns = self._columns(layer, meta, query)
        rows = self._ahead_rows(layer, query)  # read beside the version (read_ahead)
        if rows is None:
            statement, params = self._select(layer, query, self._feature_select(layer, meta, columns), order=order)
            rows = self._fetch(f"reading {layer}", statement, params, query)
        geometry = shapely.from_wkb(np.array([r[-1] for r in rows], dtype=object)) if rows else np.array([], dtype=object)
        return Records(tuple(columns), [r[:-1] for r in rows], geometry)

    def stream(self, layer: str, query: Query, *, chunk_size: int = 5000) -> Iterator[gpd.GeoDataFrame]:
        if query.as_of is not None:
            yield from self._asof_stream(layer, query, chunk_size)
            return
        meta = self._layer(layer)
        order = self._order(layer, meta, query)
        columns = self._columns(layer, meta, query)
        statement, params = self._select(layer, query, self._feature_select(layer, meta, columns), order=order)
        with self._connection(f"streaming {layer}") as con:
            # the rows of one snapshot, held by the server past the transaction: no lock is kept, so
            # a rebuild meanwhile goes ahead, and this stream still reads the rows of before it
            con.autocommit = False
            try:
                cursor = con.cursor(name=f"atlas_stream_{id(self):x}_{threading.get_ident():x}", withhold=True)
                cursor.execute(statement, params)
                con.commit()
                con.autocommit = True
                try:
                    while rows := cursor.fetchmany(chunk_size):
                        yield rows_to_frame(rows, columns, meta["fields"], gpkg=False)
                finally:
                    cursor.close()
            finally:
                if not con.autocommit:
                    con.rollback()
                    con.autocommit = True

    def rows(self, layer: str, query: Query) -> Rows:
        if query.as_of is not None:
            return self._asof_rows(layer, query)
        meta = self._layer(layer)
        order = self._order(layer, meta, query) or ((self.key, False),)
        columns = self._columns(layer, meta, query)
        extra = [n for n, _ in order if n not in columns]
        names = [*columns, *extra]
        select = sql.SQL(", ").join([*(read_expr(c, meta["fields"][c]) for c in names),
                                     sql.SQL("ST_XMin(t.geom), ST_YMin(t.geom), ST_XMax(t.geom), ST_YMax(t.geom)")])
        statement, params = self._select(layer, query, select, order=order, more=1)
        rows = self._fetch(f"reading {layer}", statement, params, query)
        more = query.limit is not None and len(rows) > query.limit
        rows = rows[:query.limit] if more else rows
        values = list(zip(*rows)) if rows else [()] * (len(names) + 4)
        frame = pd.DataFrame(attribute_columns(columns, values[:len(columns)], meta["fields"]), columns=columns)
        bounds = np.array([[np.nan if v is None else v for v in c] for c in values[len(names):]],
                          dtype="float64").T.reshape(len(rows), 4)
        after = None
        if more:
            last = dict(zip(names, rows[-1]))
            after = tuple(int(last[n]) if isinstance(last[n], bool) else last[n] for n, _ in order)
        return Rows(frame.reset_index(drop=True), bounds, after)

    def _table_totals(self, layer: str, meta: dict, query: Query, fields) -> dict:
        base, params = self._from(layer, meta, query)
        sums = [sql.SQL("sum({})::float8").format(col(f)) if meta["fields"][f] == "float"
                else sql.SQL("sum({})").format(col(f)) for f in fields]
        statement = sql.SQL(", ").join([sql.SQL("SELECT count(*)"), *sums]) + sql.SQL(" ") + base

        def read():
            row = self._fetch(f"totalling {layer}", statement, params, query, one=True)
            out = {"count": int(row[0])}
            for f, v in zip(fields, row[1:]):
                out[f] = None if v is None else (float(v) if meta["fields"][f] == "float" else int(v))
            return out
        return dict(self._cached(("totals", layer, statement.as_string(None), tuple(map(repr, params))), read))

