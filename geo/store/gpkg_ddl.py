"""Layer tables of a live GeoPackage changed in place, inside the caller's transaction: layers
written by GDAL into a scratch file copied in (table, R-tree, GDAL's triggers, metadata rows), a
layer dropped, renamed, or given a column. Nothing here commits; the caller's one transaction does."""
from __future__ import annotations

import json
import re

from . import revisions

_ADDED = "src"  # the schema name the scratch file is attached as


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _tables(con, schema: str = "main") -> set[str]:
    return {r[0] for r in con.execute(f"SELECT name FROM {schema}.sqlite_master WHERE type = 'table'")}


def _has_column(con, schema: str, table: str, column: str) -> bool:
    return any(r[1] == column for r in con.execute(f"PRAGMA {schema}.table_info({_q(table)})"))


def layer_geometry(con, layer: str, schema: str = "main") -> str:
    row = con.execute(f"SELECT column_name FROM {schema}.gpkg_geometry_columns WHERE table_name = ?",
                      (layer,)).fetchone()
    return row[0] if row else "geom"


def drop(con, layer: str) -> None:
    """The layer's table, R-tree, triggers, indexes and metadata rows removed."""
    geom = layer_geometry(con, layer)
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
                               (layer,)).fetchall():
        con.execute(f"DROP TRIGGER IF EXISTS {_q(name)}")
    con.execute(f"DROP TABLE IF EXISTS {_q(f'rtree_{layer}_{geom}')}")
    con.execute(f"DROP TABLE IF EXISTS {_q(layer)}")
    tables = _tables(con)
    for meta in ("gpkg_extensions", "gpkg_data_columns", "gpkg_ogr_contents", "gpkg_geometry_columns",
                 "gpkg_contents", "gpkg_metadata_reference"):
        if meta in tables:
            con.execute(f"DELETE FROM {meta} WHERE table_name = ?", (layer,))


def merge(con, names: list[str], key: str) -> None:
    """Copy layers ``names`` from the GeoPackage attached as ``src`` (written by GDAL; the caller
    attaches it before its transaction) into ``main``, which must not have them: data first, then
    the R-tree rows, then the triggers."""
    if True:
        main_tables = _tables(con)
        for name, sql in con.execute(f"SELECT name, sql FROM {_ADDED}.sqlite_master WHERE type = 'table' "
                                     "AND name LIKE 'gpkg%'").fetchall():
            if name not in main_tables:
                con.execute(sql)
        con.execute(f"INSERT OR IGNORE INTO gpkg_spatial_ref_sys SELECT * FROM {_ADDED}.gpkg_spatial_ref_sys")
        con.execute(f"INSERT OR IGNORE INTO gpkg_extensions SELECT * FROM {_ADDED}.gpkg_extensions "
                    f"WHERE table_name NOT IN (SELECT table_name FROM {_ADDED}.gpkg_contents)")
        for name in names:
            geom = layer_geometry(con, name, _ADDED)
            rtree = f"rtree_{name}_{geom}"
            master = dict(con.execute(f"SELECT name, sql FROM {_ADDED}.sqlite_master WHERE name IN (?, ?)",
                                      (name, rtree)).fetchall())
            con.execute(master[name])
            con.execute(f"INSERT INTO main.{_q(name)} SELECT * FROM {_ADDED}.{_q(name)}")
            if rtree in master:
                con.execute(master[rtree])
                con.execute(f"INSERT INTO main.{_q(rtree)} SELECT * FROM {_ADDED}.{_q(rtree)}")
            for meta in ("gpkg_contents", "gpkg_geometry_columns", "gpkg_extensions", "gpkg_data_columns",
                         "gpkg_ogr_contents"):
                if meta in _tables(con, _ADDED):
                    con.execute(f"INSERT OR REPLACE INTO main.{meta} SELECT * FROM {_ADDED}.{meta} "
                                "WHERE table_name = ?", (name,))
            for (sql,) in con.execute(f"SELECT sql FROM {_ADDED}.sqlite_master WHERE type IN ('index', 'trigger') "
                                      "AND tbl_name = ? AND sql IS NOT NULL", (name,)).fetchall():
                con.execute(sql)
            if key in {c[1] for c in con.execute(f"PRAGMA main.table_info({_q(name)})")}:
                con.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS {_q(f'idx_{name}_{key}')} ON {_q(name)}({_q(key)})")
            install(con, name)


def install(con, layer: str) -> None:
    """The triggers that record other programs' writes to ``layer`` (re-made for its columns)."""
    cols = con.execute(f"PRAGMA main.table_info({_q(layer)})").fetchall()
    geom = layer_geometry(con, layer)
    fid = next((c[1] for c in cols if c[5] == 1), "fid")
    revisions.install_triggers(con, layer, fid, geom, [c[1] for c in cols if c[1] not in (fid, geom)])


_GDAL_TRIGGER = re.compile(r"^(rtree_|trigger_(insert|delete)_feature_count_)")


def rename(con, old: str, new: str, key: str) -> None:
    """``old`` renamed to ``new``: the table, its R-tree, its triggers (re-made under the new name,
    GDAL's spelled as GDAL spells them), its key index and metadata rows."""
    geom = layer_geometry(con, old)
    triggers = con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
                           (old,)).fetchall()
    for name, _ in triggers:
        con.execute(f"DROP TRIGGER {_q(name)}")
    con.execute(f"DROP INDEX IF EXISTS {_q(f'idx_{old}_{key}')}")
    con.execute(f"ALTER TABLE {_q(old)} RENAME TO {_q(new)}")
    rtree_old, rtree_new = f"rtree_{old}_{geom}", f"rtree_{new}_{geom}"
    if rtree_old in _tables(con):
        con.execute(f"ALTER TABLE {_q(rtree_old)} RENAME TO {_q(rtree_new)}")
    for name, sql in triggers:
        if not _GDAL_TRIGGER.match(name):
            continue
        text = sql.replace(f'"{rtree_old}"', f'"{rtree_new}"').replace(f'"{old}"', f'"{new}"')
        text = text.replace(f"lower('{old}')", f"lower('{new}')")
        text = text.replace(f'"{name}"', '"' + name.replace(old, new, 1) + '"', 1)
        con.execute(text)
    for meta in ("gpkg_contents", "gpkg_geometry_columns", "gpkg_extensions", "gpkg_data_columns", "gpkg_ogr_contents"):
        if meta in _tables(con):
            con.execute(f"UPDATE {meta} SET table_name = ? WHERE table_name = ?", (new, old))
    con.execute("UPDATE gpkg_contents SET identifier = ? WHERE table_name = ? AND identifier = ?", (new, new, old))
    if key in {c[1] for c in con.execute(f"PRAGMA main.table_info({_q(new)})")}:
        con.execute(f"CREATE UNIQUE INDEX {_q(f'idx_{new}_{key}')} ON {_q(new)}({_q(key)})")
    install(con, new)


_DECLARE = {"str": "TEXT", "int": "INTEGER", "float": "REAL", "bool": "BOOLEAN", "date": "DATE", "json": "TEXT"}


def add_column(con, layer: str, name: str, kind: str) -> None:
    con.execute(f"ALTER TABLE {_q(layer)} ADD COLUMN {_q(name)} {_DECLARE[kind]}")
    if kind == "json":
        if "gpkg_data_columns" not in _tables(con):
            con.execute("CREATE TABLE gpkg_data_columns (table_name TEXT NOT NULL,column_name TEXT NOT NULL,"
                        "name TEXT,title TEXT,description TEXT,mime_type TEXT,constraint_name TEXT,"
                        "CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name),"
                        "CONSTRAINT gdc_tn UNIQUE (table_name, name))")
            con.execute("INSERT OR IGNORE INTO gpkg_extensions VALUES ('gpkg_data_columns', NULL, 'gpkg_schema', "
                        "'http://www.geopackage.org/spec121/#extension_schema', 'read-write')")
        con.execute("INSERT INTO gpkg_data_columns (table_name, column_name, mime_type) VALUES (?, ?, "
                    "'application/json')", (layer, name))
    install(con, layer)


def remember(con, name: str, geometry_type: str, fields, key: str, rev: int, *, since: bool) -> None:
    """The layer's schema in ``gpkg_atlas_layers`` (kept after a drop); ``rev`` its newest layer-wide
    revision (the floor of its features' versions), and with ``since`` where its history starts."""
    text = json.dumps([[f.name, f.type] for f in fields])
    row = con.execute("SELECT since_rev FROM gpkg_atlas_layers WHERE name = ?", (name,)).fetchone()
    start = rev if since or row is None else row[0]
    con.execute("INSERT OR REPLACE INTO gpkg_atlas_layers (name, geometry_type, fields, key, base_rev, since_rev, dropped) "
                "VALUES (?, ?, ?, ?, ?, ?, 0)", (name, geometry_type, text, key, rev, start))


GEOMETRY_TYPES = {"POINT": "Point", "MULTIPOINT": "MultiPoint", "LINESTRING": "LineString",
                  "MULTILINESTRING": "MultiLineString", "POLYGON": "Polygon",
                  "MULTIPOLYGON": "MultiPolygon", "GEOMETRY": "Geometry"}
#: SQLite declared types (as GDAL writes them) -> neutral field types; TEXT is str unless the
#: GeoPackage schema extension says application/json.
DECLARED = {"INTEGER": "int", "INT": "int", "BIGINT": "int", "MEDIUMINT": "int", "SMALLINT": "int",
            "TINYINT": "int", "BOOLEAN": "bool", "REAL": "float", "FLOAT": "float", "DOUBLE": "float",
            "DATE": "date", "DATETIME": "date"}


def read_schema(con) -> dict:
    """{layer: {"geom", "fid", "type", "fields": {name: type}}} of the feature tables."""
    import sqlite3

    names = _tables(con)
    if not {"gpkg_contents", "gpkg_geometry_columns"} <= names:
        raise sqlite3.DatabaseError("no gpkg_contents/gpkg_geometry_columns: not a GeoPackage")
    json_cols: set[tuple[str, str]] = set()
    if "gpkg_data_columns" in names:
        json_cols = {(t, c) for t, c in con.execute(
            "SELECT table_name, column_name FROM gpkg_data_columns WHERE mime_type = 'application/json'")}
    schema = {}
    rows = con.execute(
        "SELECT c.table_name, g.column_name, g.geometry_type_name "
        "FROM gpkg_contents c JOIN gpkg_geometry_columns g ON g.table_name = c.table_name "
        "WHERE c.data_type = 'features' ORDER BY c.rowid").fetchall()
    for table, geom, gtype in rows:
        cols = con.execute(f"PRAGMA main.table_info({_q(table)})").fetchall()
        fid = next((c[1] for c in cols if c[5] == 1), "fid")
        fields = {}
        for c in cols:
            if c[1] in (fid, geom):
                continue
            decl = str(c[2] or "TEXT").upper().split("(")[0]
            fields[c[1]] = "json" if (table, c[1]) in json_cols else DECLARED.get(decl, "str")
        schema[table] = {"geom": geom, "fid": fid, "type": GEOMETRY_TYPES.get(gtype.upper(), gtype),
                         "fields": fields}
    return schema
