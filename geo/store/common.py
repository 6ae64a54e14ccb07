"""The reads both store backends do the same way, written once over each one's own primitives:
finding a feature, totals, the as-of reads and the log's questions (the revision a time or an id
goes back to, where a layer's history starts, the changes after a revision, features' versions).

A backend gives: ``_schema()``, ``_layer(layer)``, ``query``, ``_run(what, fn)``,
``dropped_layers()``, ``_as_of(layer, when, bbox)`` (the layer then and its schema),
``_table_totals(layer, meta, query, fields)`` (the totals of the live table), and for the log
``_log(con, statement, params)``: ``statement`` run over the log's tables, named ``{revisions}``,
``{changes}`` and ``{layers}`` in it, its values bound as ``%s``; ``_key_in(keys)``: the SQL and
parameters that test ``key`` against a list of keys.
"""
from __future__ import annotations

from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import InvalidParameter, NotFound, Stale
from . import asof
from . import order as ordering
from .base import Query, Rows, sort_order

#: the field types whose values can be totalled
TOTALS = ("int", "float")
#: keys a statement of the log asks about at a time
_CHUNK = 5_000


class CommonStore:
    # -- reading -------------------------------------------------------------------------------
    def find(self, feature_id: str, *, as_of: str | None = None) -> tuple[str, gpd.GeoDataFrame] | None:
        if as_of is not None:
            return self._asof_find(feature_id, as_of)
        for layer, meta in self._schema().items():
            if self.key not in meta["fields"]:
                continue
            frame = self.query(layer, Query(ids=(feature_id,), limit=1))
            if len(frame):
                return layer, frame
        return None

    def _columns(self, layer: str, meta: dict, query: Query) -> list[str]:
        if query.columns is None:
            return list(meta["fields"])
        unknown = [c for c in query.columns if c not in meta["fields"]]
        if unknown:
            raise InvalidParameter(f"layer {layer!r} has no field {unknown[0]!r}", parameter="fields")
        return list(query.columns)

    def totals(self, layer: str, query: Query, fields) -> dict:
        if query.as_of is not None:
            return self._asof_totals(layer, query, fields)
        meta = self._layer(layer)
        self._check_totals(layer, meta["fields"], fields)
        return self._table_totals(layer, meta, query, fields)

    def _check_totals(self, layer: str, types: dict, fields) -> None:
        for name in fields:
            if types.get(name) not in TOTALS:
                raise InvalidParameter(f"only fields of numbers can be totalled; {name!r} of layer {layer!r} is "
                                       f"{types.get(name, 'not a field')}", parameter="totals")

    # -- as of: over the layer then (``_as_of``) -------------------------------------------------
    def _asof_query(self, layer: str, query: Query, *, page: bool = True) -> gpd.GeoDataFrame:
        frame, meta = self._as_of(layer, query.as_of, query.bbox)
        return asof.select(frame, layer, query, meta["fields"], self.key, page=page)

    def _asof_count(self, layer: str, query: Query) -> int:
        frame, meta = self._as_of(layer, query.as_of, query.bbox)
        return int(asof.mask(frame, layer, query, meta["fields"], self.key).sum())

    def _asof_stream(self, layer: str, query: Query, chunk_size: int):
        out = self._asof_query(layer, query)
        for start in range(0, len(out), chunk_size):
            yield out.iloc[start:start + chunk_size].reset_index(drop=True)

    def _asof_rows(self, layer: str, query: Query) -> Rows:
        order = sort_order(query, self.key) or ((self.key, False),)
        wanted = replace(query, columns=None, order_by=order, limit=None if query.limit is None else query.limit + 1)
        frame = self._asof_query(layer, wanted)
        more = query.limit is not None and len(frame) > query.limit
        frame = frame.iloc[:query.limit] if more else frame
        bounds = shapely.bounds(frame.geometry.values) if len(frame) else np.zeros((0, 4))
        after = ordering.cursor(frame.iloc[-1], order) if more else None
        columns = list(frame.columns.drop("geometry")) if query.columns is None else list(query.columns)
        return Rows(pd.DataFrame(frame[columns]).reset_index(drop=True), np.asarray(bounds, dtype="float64"), after)

    def _asof_totals(self, layer: str, query: Query, fields) -> dict:
        then, meta = self._as_of(layer, query.as_of, query.bbox)
        self._check_totals(layer, meta["fields"], fields)
        frame = asof.select(then, layer, replace(query, order_by=(), after=None, columns=None), meta["fields"],
                            self.key, page=False)
        out = {"count": len(frame)}
        for name in fields:
            column = frame[name].dropna()
            out[name] = None if column.empty else column.sum().item()
        return out

    def _asof_find(self, feature_id: str, when: str):
        live = list(self._schema())
        for layer in live + [d for d in self.dropped_layers() if d not in live]:
            try:
                frame = self._asof_query(layer, Query(ids=(feature_id,), limit=1, as_of=when))
            except Exception as exc:  # a layer whose history starts later: not there then
                if getattr(exc, "code", None) == "invalid_parameter":
                    continue
                raise
            if len(frame):
                return layer, frame
        return None

    def compare(self, layer: str, t1: str, t2: str):
        a = self._asof_query(layer, Query(as_of=t1))
        b = self._asof_query(layer, Query(as_of=t2))
        key = self.key
        ka, kb = set(a[key].astype(str)), set(b[key].astype(str))
        added = b[b[key].astype(str).isin(kb - ka)].reset_index(drop=True)
        removed = a[a[key].astype(str).isin(ka - kb)].reset_index(drop=True)
        columns = [c for c in a.columns if c != "geometry"]
        ia, ib = a.set_index(a[key].astype(str)), b.set_index(b[key].astype(str))
        changed = [(ia.loc[k], ib.loc[k]) for k in b[key].astype(str) if k in ka and
                   asof.differs(ia.loc[k], ib.loc[k], columns)]
        return added, removed, changed

    # -- the log -----------------------------------------------------------------------------------
    def _changes_after(self, con, layer: str, point: int, key: str | None = None) -> list[tuple]:
        """(key, fid, before, before WKB) of the layer's changes after revision ``point`` (of
        ``key`` only if given), in the order they were made."""
        statement = "SELECT key, fid, before, before_geom FROM {changes} WHERE layer = %s AND rev > %s"
        params = [layer, point]
        if key is not None:
            statement += " AND key = %s"
            params.append(key)
        return [(k, fid, before, None if geom is None else bytes(geom))
                for k, fid, before, geom in self._log(con, statement + " ORDER BY rev, seq", params)]

    def _point(self, con, revision_id, as_of) -> int:
        """The revision id a restore or as-of read goes back to (0: before the first)."""
        from .revisions import parse_time

        if revision_id is not None:
            top = self._log(con, "SELECT max(id) FROM {revisions}").fetchone()[0] or 0
            if not 0 < int(revision_id) <= top:
                raise NotFound(f"no revision {revision_id}; the log has 1 to {top}", parameter="revision")
            return int(revision_id)
        row = self._log(con, "SELECT max(id) FROM {revisions} WHERE time <= %s", (parse_time(as_of),)).fetchone()
        return row[0] or 0

    def _check_since(self, con, layer: str, point: int) -> None:
        row = self._log(con, "SELECT since_rev FROM {layers} WHERE name = %s", (layer,)).fetchone()
        if row is not None and point < row[0]:
            rev = self._log(con, "SELECT time, actor FROM {revisions} WHERE id = %s", (row[0],)).fetchone()
            raise InvalidParameter(
                f"图层 {layer!r} 的历史从修订 {row[0]} 开始 / layer {layer!r}'s history starts at revision {row[0]} "
                f"({rev[0] if rev else '?'}, {rev[1] if rev else '?'}: a build, creation or rename); "
                "choose a later time or revision", parameter="as_of")

    def _version_of(self, con, layer: str, keys) -> dict:
        """{key: the revision that last changed it} (the layer's base revision at the least)."""
        base = self._log(con, "SELECT base_rev FROM {layers} WHERE name = %s", (layer,)).fetchone()
        floor = base[0] if base else 0
        out = {str(k): floor for k in keys}
        listed = list(out)
        for i in range(0, len(listed), _CHUNK):
            test, params = self._key_in(listed[i:i + _CHUNK])
            for k, rev in self._log(con, f"SELECT key, max(rev) FROM {{changes}} WHERE layer = %s AND key {test} "
                                         "GROUP BY key", [layer, *params]):
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
