"""The tables, functions and triggers of the PostGIS store, in the store's own schema.

One schema is one store (``?schema=`` in the URL, ``atlas`` by default). Layer tables are named as
the layers, each ``fid bigint`` identity primary key, the attribute columns, ``geom geometry(<type>,
4326)`` with a GiST index, and a unique btree index on the key field in the order the store pages by
(text in the "C" collation, NULL first). Beside them:

- ``atlas_revisions(id, time, actor, message, layers, changes, prev_hash, hash)``,
  ``atlas_changes(rev, seq, layer, key, fid, op, before, before_geom, after, after_geom)`` and
  ``atlas_head(one, id, hash)``: the log, as in the GeoPackage store (``revisions``), hashed by the
  same rules, so that ``verify`` is the same check.
- ``atlas_layers(name, geometry_type, fields, key, base_rev, since_rev, dropped, pos)``: each layer's
  schema (kept after a drop), the floor of its features' versions, where its history starts, and its
  place in the order of layers.
- ``atlas_documents(name, body, updated)``: the small named JSON documents.

**The audit trail is written by triggers**, so that an edit made in the database by any program
(QGIS, psql) is recorded like the atlas's own: three statement-level triggers a layer table
(``AFTER INSERT / UPDATE / DELETE … REFERENCING … TABLE``) append one change row per row touched to
the transaction's revision. The revision is made by ``atlas_revision`` on the first change of a
transaction: it takes the row lock on ``atlas_head`` (writers queue there, as SQLite's writers
do; readers never wait) and numbers the revision after the newest, with the time of that moment,
the actor of the session setting ``atlas.actor`` (default: the database user) and the message of
``atlas.message`` (default: ``direct edit``). The atlas's own writes call it first with their actor
and message. ``TRUNCATE`` of a layer table is refused (it would bypass the row triggers).

**Hashes are computed in Python** (``pg_log.finalise``): the canonical text the chain hashes is
Python's JSON of Python values, which plpgsql cannot reproduce to the byte. The change rows keep
the attributes as the JSON text PostgreSQL wrote (``row_to_json``, minus fid and geom, keys sorted);
the hash is over that stored text, as in the GeoPackage log. A revision made by the triggers alone
(a direct edit) has no hash yet: the next write of the atlas (which holds the head lock) or a read
of the log (``history``, ``verify``) hashes it, with ``layers`` and ``changes`` counted from its rows.
"""
from __future__ import annotations

import json

from psycopg import sql

from .pg_sql import field

GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon", "Geometry")
_SQL_TYPE = {"str": "text", "int": "bigint", "float": "double precision", "bool": "boolean", "date": "date",
             "json": "text"}
#: catalog types -> neutral field types (text is str unless atlas_layers says json)
_NEUTRAL = {"text": "str", "character varying": "str", "bigint": "int", "integer": "int", "smallint": "int",
            "double precision": "float", "real": "float", "numeric": "float", "boolean": "bool", "date": "date"}
LOG_TABLES = ("atlas_revisions", "atlas_changes", "atlas_head", "atlas_layers", "atlas_documents")


def ident(schema: str, name: str | None = None) -> sql.Identifier:
    return sql.Identifier(schema) if name is None else sql.Identifier(schema, name)


_TABLES = """
CREATE TABLE {s}.atlas_revisions (id bigint PRIMARY KEY, time text NOT NULL, actor text NOT NULL,
  message text NOT NULL, layers text NOT NULL DEFAULT '[]', changes bigint NOT NULL DEFAULT 0,
  prev_hash text, hash text);
CREATE INDEX ON {s}.atlas_revisions (time);
CREATE INDEX ON {s}.atlas_revisions (id) WHERE hash IS NULL;
CREATE TABLE {s}.atlas_changes (rev bigint NOT NULL, seq bigint NOT NULL, layer text NOT NULL, key text NOT NULL,
  fid bigint, op text NOT NULL, before text, before_geom bytea, after text, after_geom bytea, PRIMARY KEY (rev, seq));
CREATE INDEX ON {s}.atlas_changes (layer, key, rev);
CREATE INDEX ON {s}.atlas_changes (layer, rev);
CREATE TABLE {s}.atlas_head (one integer PRIMARY KEY CHECK (one = 1), id bigint NOT NULL, hash text);
INSERT INTO {s}.atlas_head VALUES (1, 0, NULL);
CREATE TABLE {s}.atlas_layers (name text PRIMARY KEY, geometry_type text NOT NULL, fields text NOT NULL,
  key text NOT NULL, base_rev bigint NOT NULL, since_rev bigint NOT NULL, dropped boolean NOT NULL DEFAULT false,
  pos bigint NOT NULL);
CREATE TABLE {s}.atlas_documents (name text PRIMARY KEY, body text NOT NULL, updated text NOT NULL);
"""

#: plpgsql bodies; {path} is the function's search_path (the store's schema, then PostGIS's)
_REVISION = """
CREATE OR REPLACE FUNCTION {s}.atlas_revision(who text DEFAULT NULL, why text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SET search_path = {path} AS $f$
DECLARE
  held text := current_setting('atlas.rev', true);
  last_id bigint; last_time text; t text; rid bigint;
BEGIN
  IF held IS NOT NULL AND held <> '' AND split_part(held, ':', 1) = {schema_text} THEN
    RETURN split_part(held, ':', 2)::bigint;
  END IF;
  SELECT id INTO last_id FROM atlas_head WHERE one = 1 FOR UPDATE;
  SELECT time INTO last_time FROM atlas_revisions WHERE id = last_id;
  rid := last_id + 1;
  t := to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
  IF last_time IS NOT NULL AND t < last_time THEN t := last_time; END IF;
  INSERT INTO atlas_revisions (id, time, actor, message) VALUES (rid, t,
    coalesce(who, nullif(current_setting('atlas.actor', true), ''), session_user::text),
    coalesce(why, nullif(current_setting('atlas.message', true), ''), 'direct edit'));
  UPDATE atlas_head SET id = rid, hash = NULL WHERE one = 1;
  PERFORM set_config('atlas.rev', {schema_text} || ':' || rid, true);
  PERFORM set_config('atlas.seq', '0', true);
  RETURN rid;
END $f$;
"""

#: the attributes of a row as the log keeps them: its JSON without fid and geom, keys sorted
_PROPS = ("(SELECT json_object_agg(e.key, e.value ORDER BY e.key COLLATE \"C\") FROM json_each(row_to_json({r})) e "
          "WHERE e.key NOT IN ('fid', 'geom'))::text")
_KEY = "coalesce(row_to_json({r}) ->> TG_ARGV[0], {r}.fid::text)"

_LOG = """
CREATE OR REPLACE FUNCTION {s}.atlas_log_insert() RETURNS trigger LANGUAGE plpgsql SET search_path = {path} AS $f$
DECLARE rid bigint; base bigint; cnt bigint;
BEGIN
  SELECT count(*) INTO cnt FROM new_rows;
  IF cnt = 0 THEN RETURN NULL; END IF;
  rid := atlas_revision();
  base := current_setting('atlas.seq')::bigint;
  INSERT INTO atlas_changes (rev, seq, layer, key, fid, op, after, after_geom)
    SELECT rid, base + row_number() OVER (ORDER BY r.fid) - 1, TG_TABLE_NAME, {key_r}, r.fid, 'add', {props_r},
           ST_AsBinary(r.geom) FROM new_rows r;
  PERFORM set_config('atlas.seq', (base + cnt)::text, true);
  RETURN NULL;
END $f$;

CREATE OR REPLACE FUNCTION {s}.atlas_log_delete() RETURNS trigger LANGUAGE plpgsql SET search_path = {path} AS $f$
DECLARE rid bigint; base bigint; cnt bigint;
BEGIN
  SELECT count(*) INTO cnt FROM old_rows;
  IF cnt = 0 THEN RETURN NULL; END IF;
  rid := atlas_revision();
  base := current_setting('atlas.seq')::bigint;
  INSERT INTO atlas_changes (rev, seq, layer, key, fid, op, before, before_geom)
    SELECT rid, base + row_number() OVER (ORDER BY o.fid) - 1, TG_TABLE_NAME, {key_o}, o.fid, 'delete', {props_o},
           ST_AsBinary(o.geom) FROM old_rows o;
  PERFORM set_config('atlas.seq', (base + cnt)::text, true);
  RETURN NULL;
END $f$;

CREATE OR REPLACE FUNCTION {s}.atlas_log_update() RETURNS trigger LANGUAGE plpgsql SET search_path = {path} AS $f$
DECLARE rid bigint; base bigint; cnt bigint;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM old_rows o FULL JOIN new_rows n ON n.fid = o.fid WHERE o.fid IS NULL OR n.fid IS NULL
                 OR {props_o} IS DISTINCT FROM {props_n} OR ST_AsBinary(o.geom) IS DISTINCT FROM ST_AsBinary(n.geom)) THEN
    RETURN NULL;
  END IF;
  rid := atlas_revision();
  base := current_setting('atlas.seq')::bigint;
  INSERT INTO atlas_changes (rev, seq, layer, key, fid, op, before, before_geom, after, after_geom)
    SELECT rid, base + row_number() OVER (ORDER BY p.fid) - 1, TG_TABLE_NAME, p.key, p.fid, p.op, p.before,
           p.before_geom, p.after, p.after_geom
    FROM (SELECT coalesce(n.fid, o.fid) AS fid, coalesce({key_n_bare}, {key_o_bare}, coalesce(n.fid, o.fid)::text) AS key,
                 CASE WHEN o.fid IS NULL THEN 'add' WHEN n.fid IS NULL THEN 'delete' ELSE 'update' END AS op,
                 CASE WHEN o.fid IS NULL THEN NULL ELSE {props_o} END AS before, ST_AsBinary(o.geom) AS before_geom,
                 CASE WHEN n.fid IS NULL THEN NULL ELSE {props_n} END AS after, ST_AsBinary(n.geom) AS after_geom
          FROM old_rows o FULL JOIN new_rows n ON n.fid = o.fid) p
    WHERE p.op <> 'update' OR p.before IS DISTINCT FROM p.after OR p.before_geom IS DISTINCT FROM p.after_geom;
  GET DIAGNOSTICS cnt = ROW_COUNT;
  PERFORM set_config('atlas.seq', (base + cnt)::text, true);
  RETURN NULL;
END $f$;

CREATE OR REPLACE FUNCTION {s}.atlas_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  RAISE EXCEPTION 'TRUNCATE of layer % is not recorded in the revision log; use DELETE', TG_TABLE_NAME;
END $f$;
"""


def _functions(schema: str, postgis: str) -> str:
    s = sql.Identifier(schema).as_string(None)
    path = f"{s}, {sql.Identifier(postgis).as_string(None)}"
    key = lambda r: _KEY.format(r=r)
    props = lambda r: _PROPS.format(r=r)
    bare = lambda r: f"(CASE WHEN {r}.fid IS NULL THEN NULL ELSE row_to_json({r}) ->> TG_ARGV[0] END)"
    text = sql.Literal(schema).as_string(None)
    return (_REVISION.format(s=s, path=path, schema_text=text)
            + _LOG.format(s=s, path=path, key_r=key("r"), key_o=key("o"), props_r=props("r"), props_o=props("o"),
                          props_n=props("n"), key_n_bare=bare("n"), key_o_bare=bare("o")))


def postgis_schema(con) -> str:
    row = con.execute("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'postgis'").fetchone()
    if row is None:
        from ..errors import StoreError

        raise StoreError("the database has no PostGIS; ask the operator to run CREATE EXTENSION postgis in it",
                         internal="no postgis extension")
    return row[0].strip('"')


def create_store(con, schema: str) -> None:
    """The schema with the log's tables and the trigger functions (inside the caller's transaction)."""
    s = sql.Identifier(schema).as_string(con)
    con.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    for statement in _TABLES.format(s=s).split(";"):
        if statement.strip():
            con.execute(statement)
    install_functions(con, schema)


def install_functions(con, schema: str) -> None:
    """(Re)make the trigger functions for ``schema`` (again after the schema is renamed)."""
    con.execute(_functions(schema, postgis_schema(con)))


def is_store(con, schema: str) -> bool:
    return con.execute("SELECT to_regclass(%s) IS NOT NULL",
                       (sql.Identifier(schema, "atlas_head").as_string(con),)).fetchone()[0]


def create_layer_table(con, schema: str, name: str, geometry_type: str, fields, key: str) -> None:
    """The layer's table, without its indexes (``index_layer``) and triggers (``install_triggers``);
    its fields named by ``pg_sql.field``, so it is executed with parameters (none)."""
    if geometry_type not in GEOMETRY_TYPES:  # it becomes SQL: only the known names
        raise ValueError(f"unknown geometry type {geometry_type!r}")
    cols = [sql.SQL("fid bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")]
    for f in fields:
        cols.append(sql.SQL("{} {}").format(field(f.name), sql.SQL(_SQL_TYPE[f.type])))
    cols.append(sql.SQL("geom geometry({}, 4326)").format(sql.SQL(geometry_type)))
    table = ident(schema, name)
    con.execute(sql.SQL("CREATE TABLE {} ({})").format(table, sql.SQL(", ").join(cols)), ())


def index_layer(con, schema: str, name: str, key: str, fields) -> None:
    table = ident(schema, name)
    con.execute(sql.SQL("CREATE INDEX ON {} USING gist (geom)").format(table))
    kinds = {f.name: f.type for f in fields}
    if key in kinds:
        # in the order the store reads and pages by (pg_sql.order_expr: text by code point, NULL the
        # smallest), so a page after a cursor is one range of this index
        collate = sql.SQL(' COLLATE "C"') if kinds[key] in ("str", "json") else sql.SQL("")
        con.execute(sql.SQL("CREATE UNIQUE INDEX ON {} ({}{} NULLS FIRST)").format(table, field(key), collate), ())
    analyze(con, schema, name)


def analyze(con, schema: str, name: str) -> None:
    """The planner's statistics of a table just filled, now rather than when autovacuum comes round
    (a minute or more later): without them it takes any box for a few rows, and sorts every match
    of a dense one for a page of 10 instead of walking the key's index."""
    con.execute(sql.SQL("ANALYZE {}").format(ident(schema, name)))


def install_triggers(con, schema: str, name: str, key: str) -> None:
    table = ident(schema, name)
    fn = lambda f: ident(schema, f)
    drop_triggers(con, schema, name)
    k = sql.Literal(key)  # as it is: these statements are given no parameters (pg_sql's rule)
    for op, ref in (("insert", "NEW TABLE AS new_rows"), ("delete", "OLD TABLE AS old_rows"),
                    ("update", "OLD TABLE AS old_rows NEW TABLE AS new_rows")):
        con.execute(sql.SQL("CREATE TRIGGER {} AFTER {} ON {} REFERENCING {} FOR EACH STATEMENT EXECUTE FUNCTION {}({})")
                    .format(sql.Identifier(f"atlas_log_{op}"), sql.SQL(op.upper()), table, sql.SQL(ref),
                            fn(f"atlas_log_{op}"), k))
    con.execute(sql.SQL("CREATE TRIGGER atlas_no_truncate BEFORE TRUNCATE ON {} FOR EACH STATEMENT "
                        "EXECUTE FUNCTION {}()").format(table, fn("atlas_no_truncate")))


def drop_triggers(con, schema: str, name: str) -> None:
    for trigger in ("atlas_log_insert", "atlas_log_delete", "atlas_log_update", "atlas_no_truncate"):
        con.execute(sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(sql.Identifier(trigger), ident(schema, name)))


def remember(con, schema: str, name: str, geometry_type: str, fields, key: str, rev: int, *, since: bool,
             new_place: bool = False) -> None:
    """The layer's row in ``atlas_layers``: its schema, ``rev`` its newest layer-wide revision and,
    with ``since``, where its history starts; ``new_place``: it goes to the end of the layers."""
    text = json.dumps([[f.name, f.type] for f in fields])
    t = ident(schema, "atlas_layers")
    row = con.execute(sql.SQL("SELECT since_rev, pos FROM {} WHERE name = %s").format(t), (name,)).fetchone()
    top = con.execute(sql.SQL("SELECT coalesce(max(pos), 0) + 1 FROM {}").format(t)).fetchone()[0]
    start = rev if since or row is None else row[0]
    pos = top if new_place or row is None else row[1]
    con.execute(sql.SQL("INSERT INTO {} (name, geometry_type, fields, key, base_rev, since_rev, dropped, pos) "
                        "VALUES (%s, %s, %s, %s, %s, %s, false, %s) ON CONFLICT (name) DO UPDATE SET "
                        "geometry_type = excluded.geometry_type, fields = excluded.fields, key = excluded.key, "
                        "base_rev = excluded.base_rev, since_rev = excluded.since_rev, dropped = false, "
                        "pos = excluded.pos").format(t), (name, geometry_type, text, key, rev, start, pos))


def read_schema(con, schema: str) -> dict:
    """{layer: {"type", "fields": {name: type}}} of the live layers, in their order. The columns are
    the table's own (one added directly in the database is seen too); json where atlas_layers says so."""
    rows = con.execute(sql.SQL("SELECT name, geometry_type, fields FROM {} WHERE NOT dropped ORDER BY pos")
                       .format(ident(schema, "atlas_layers"))).fetchall()
    cols: dict[str, list] = {}
    for table, column, kind in con.execute(
            "SELECT c.relname, a.attname, format_type(a.atttypid, NULL) FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY c.relname, a.attnum", (schema,)):
        cols.setdefault(table, []).append((column, kind))
    schema_out = {}
    for name, gtype, fields_text in rows:
        declared = dict(json.loads(fields_text))
        fields = {}
        for column, kind in cols.get(name, []):
            if column in ("fid", "geom"):
                continue
            neutral = _NEUTRAL.get(kind, "str")
            fields[column] = "json" if declared.get(column) == "json" and neutral == "str" else neutral
        if name in cols:
            schema_out[name] = {"type": gtype, "fields": fields}
    return schema_out


def sql_type(kind: str) -> str:
    return _SQL_TYPE[kind]
