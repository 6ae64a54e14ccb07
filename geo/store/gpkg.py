"""The embedded default store: one GeoPackage file, a table per layer, each with an R-tree index.

Geometries and attributes are written and read with pyogrio; the choice of rows (bbox through the
GeoPackage R-tree, attribute filters, paging) is one parameterised SQLite query, so no value from a
request is ever pasted into SQL and column names are checked against the table's own schema.
"""
from __future__ import annotations

import os
import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

import geopandas as gpd
import pyogrio

from ..errors import CRSError, InvalidParameter, NotFound, StoreError
from .base import LayerInfo, Query, Store, check_layer_name

_GEOMETRY_TYPES = {"POINT": "Point", "MULTIPOINT": "MultiPoint", "LINESTRING": "LineString",
                   "MULTILINESTRING": "MultiLineString", "POLYGON": "Polygon",
                   "MULTIPOLYGON": "MultiPolygon", "GEOMETRY": "Geometry"}


def _quote(identifier: str) -> str:
    """Quote an identifier that has already been checked against the schema."""
    return '"' + identifier.replace('"', '""') + '"'


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class GeoPackageStore(Store):
    def __init__(self, path: Path):
        self.path = Path(path)
        self.url = f"gpkg://{self.path}"
        self._schema_cache: tuple[float, dict] | None = None

    # -- reading -------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.path.is_file()

    def _connect(self) -> sqlite3.Connection:
        if not self.exists():
            raise StoreError(
                f"the store {self.path} has not been built; run 'make build' "
                "(python -m layers.build) first"
            )
        try:
            return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        except sqlite3.Error as exc:  # pragma: no cover - depends on the file system
            raise StoreError(f"cannot open the store {self.path}: {exc}") from exc

    def _schema(self) -> dict:
        """{layer: {"geom": column, "fid": column, "type": geometry type, "columns": {name: decl}}}

        Cached until the file changes (a rebuild replaces the file, so its mtime changes).
        """
        try:
            stamp = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            self._connect()  # raises the StoreError that says how to build it
            raise
        if self._schema_cache and self._schema_cache[0] == stamp:
            return self._schema_cache[1]
        schema: dict = {}
        with closing(self._connect()) as con:
            rows = con.execute(
                "SELECT c.table_name, g.column_name, g.geometry_type_name "
                "FROM gpkg_contents c JOIN gpkg_geometry_columns g ON g.table_name = c.table_name "
                "WHERE c.data_type = 'features' ORDER BY c.rowid"
            ).fetchall()
            for table, geom, gtype in rows:
                cols = con.execute(f"PRAGMA table_info({_quote(table)})").fetchall()
                fid = next((c[1] for c in cols if c[5] == 1), "fid")
                schema[table] = {
                    "geom": geom,
                    "fid": fid,
                    "type": _GEOMETRY_TYPES.get(gtype.upper(), gtype),
                    "columns": {c[1]: c[2] for c in cols if c[1] not in (fid, geom)},
                }
        self._schema_cache = (stamp, schema)
        return schema

    def _layer(self, layer: str) -> dict:
        schema = self._schema()
        if layer not in schema:
            raise NotFound(
                f"no layer {layer!r}; the layers are: {', '.join(schema) or '(none)'}",
                parameter="layer",
            )
        return schema[layer]

    def layers(self) -> list[str]:
        return list(self._schema())

    def fields(self, layer: str) -> tuple[tuple[str, str], ...]:
        return tuple(self._layer(layer)["columns"].items())

    def info(self, layer: str) -> LayerInfo:
        meta = self._layer(layer)
        with closing(self._connect()) as con:
            count = con.execute(f"SELECT COUNT(*) FROM {_quote(layer)}").fetchone()[0]
            # the extent GDAL records in gpkg_contents is exact (the R-tree keeps float32 boxes)
            bbox = con.execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = ?",
                               (layer,)).fetchone()
            if bbox is None or None in bbox:
                rtree = _quote(f"rtree_{layer}_{meta['geom']}")
                bbox = con.execute(f"SELECT MIN(minx), MIN(miny), MAX(maxx), MAX(maxy) FROM {rtree}").fetchone()
        fields = self.fields(layer)
        return LayerInfo(
            name=layer,
            geometry_type=meta["type"],
            count=count,
            bbox=None if bbox[0] is None else tuple(float(v) for v in bbox),
            fields=fields,
            crs="EPSG:4326",
        )

    def _where(self, layer: str, meta: dict, query: Query) -> tuple[str, str, list]:
        joins, conds, params = "", [], []
        if query.bbox is not None:
            minx, miny, maxx, maxy = query.bbox
            rtree = _quote(f"rtree_{layer}_{meta['geom']}")
            joins = (f" JOIN {rtree} AS r ON r.id = t.{_quote(meta['fid'])}"
                     " AND r.maxx >= ? AND r.minx <= ? AND r.maxy >= ? AND r.miny <= ?")
            params += [minx, maxx, miny, maxy]
        columns = meta["columns"]
        for name, values in query.equals.items():
            if name not in columns:
                raise InvalidParameter(f"layer {layer!r} has no field {name!r}", parameter=name)
            if not values:
                continue
            conds.append(f"t.{_quote(name)} IN ({', '.join('?' * len(values))})")
            params += list(values)
        if query.text:
            fields = [f for f in query.text_fields if f in columns]
            if fields:
                conds.append("(" + " OR ".join(f"t.{_quote(f)} LIKE ? ESCAPE '\\'" for f in fields) + ")")
                params += [_like_pattern(query.text)] * len(fields)
        if query.ids is not None:
            conds.append(f"t.id IN ({', '.join('?' * len(query.ids))})" if query.ids else "0")
            params += list(query.ids)
        where = (" WHERE " + " AND ".join(conds)) if conds else ""
        return joins, where, params

    def query(self, layer: str, query: Query) -> tuple[gpd.GeoDataFrame, int]:
        meta = self._layer(layer)
        if query.columns is not None:
            unknown = [c for c in query.columns if c not in meta["columns"]]
            if unknown:
                raise InvalidParameter(f"layer {layer!r} has no field {unknown[0]!r}", parameter="fields")
        joins, where, params = self._where(layer, meta, query)
        fid = f"t.{_quote(meta['fid'])}"
        base = f"FROM {_quote(layer)} AS t{joins}{where}"
        page = ""
        page_params: list = []
        if query.limit is not None or query.offset:
            page = " LIMIT ? OFFSET ?"
            page_params = [-1 if query.limit is None else query.limit, query.offset]
        with closing(self._connect()) as con:
            matched = con.execute(f"SELECT COUNT(*) {base}", params).fetchone()[0]
            fids = [r[0] for r in con.execute(f"SELECT {fid} {base} ORDER BY {fid}{page}", params + page_params)]
        columns = list(query.columns) if query.columns is not None else None
        if not (joins or where or page):  # the whole layer: one sequential read
            frame = pyogrio.read_dataframe(self.path, layer=layer, columns=columns)
        elif fids:
            frame = pyogrio.read_dataframe(self.path, layer=layer, columns=columns, fids=fids,
                                           fid_as_index=True)
            frame = frame.loc[fids]
        else:
            frame = pyogrio.read_dataframe(self.path, layer=layer, columns=columns, max_features=1)
            frame = frame.iloc[0:0]
        return frame.reset_index(drop=True), matched

    def find(self, feature_id: str) -> tuple[str, gpd.GeoDataFrame] | None:
        schema = self._schema()
        with closing(self._connect()) as con:
            for layer, meta in schema.items():
                if "id" not in meta["columns"]:
                    continue
                row = con.execute(f"SELECT {_quote(meta['fid'])} FROM {_quote(layer)} WHERE id = ?",
                                  (feature_id,)).fetchone()
                if row:
                    frame = pyogrio.read_dataframe(self.path, layer=layer, fids=[row[0]])
                    return layer, frame
        return None

    # -- writing -------------------------------------------------------------------------------
    def replace(self, layers: dict[str, gpd.GeoDataFrame]) -> None:
        if not layers:
            raise StoreError("nothing to write: no layers were given, so the store was left as it was")
        for name, frame in layers.items():
            check_layer_name(name)
            if frame.crs is None:
                raise CRSError(f"layer {name!r} has no coordinate system; set it (EPSG:4326) before storing")
            if frame.crs.to_epsg() != 4326:
                raise CRSError(f"layer {name!r} is in {frame.crs.to_string()}; the store keeps WGS84 "
                               "(EPSG:4326): reproject it first")
            if "id" not in frame.columns or frame["id"].isna().any() or frame["id"].duplicated().any():
                raise StoreError(f"layer {name!r} needs a unique, non-empty 'id' for every feature")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp.gpkg")
        try:
            for name, frame in layers.items():
                pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG",
                                        layer_options={"SPATIAL_INDEX": "YES", "FID": "fid"})
            with closing(sqlite3.connect(tmp)) as con:
                for name, frame in layers.items():
                    con.execute(f"CREATE UNIQUE INDEX {_quote(f'idx_{name}_id')} ON {_quote(name)}(id)")
                    (stored,) = con.execute(f"SELECT COUNT(*) FROM {_quote(name)}").fetchone()
                    if stored != len(frame):
                        raise StoreError(f"layer {name!r}: wrote {len(frame)} features, read back {stored}")
                con.commit()
            os.replace(tmp, self.path)
        except StoreError:
            tmp.unlink(missing_ok=True)
            raise
        except Exception as exc:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"could not write the store {self.path} ({type(exc).__name__}: {exc}); "
                             "the previous store was left as it was") from exc
        finally:
            for suffix in ("-journal", "-wal", "-shm"):
                Path(f"{tmp}{suffix}").unlink(missing_ok=True)
