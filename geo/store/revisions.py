"""The revision log of the GeoPackage store, in the same file: append-only, hash-chained.

Tables (created with the store, none registered in ``gpkg_contents``; named ``gpkg_atlas_*`` because
GDAL, and so QGIS, does not list unregistered tables with the ``gpkg_`` prefix as layers, so they are
neither shown nor edited by accident there):

- ``gpkg_atlas_revisions(id, time, actor, message, layers, changes, prev_hash, hash)``: one row per
  revision; ``id`` 1, 2, 3 … without gaps; ``changes`` how many rows it has in ``gpkg_atlas_changes``;
  ``layers`` the JSON list of layers it touched (also the layer-wide acts without rows: a build, a
  rename, a new field).
- ``gpkg_atlas_changes(rev, seq, layer, key, fid, op, before, before_geom, after, after_geom)``: before /
  after attributes as canonical JSON, geometries as WKB; indexed by (layer, key, rev).
- ``gpkg_atlas_head(id, hash)``: the newest entry, written with it: deleting the newest revisions is
  detected (the head names an entry that is gone).
- ``gpkg_atlas_pending``: rows the triggers on every layer table write for INSERT / UPDATE / DELETE made
  by other programs (QGIS, GDAL): sealed into a revision of actor ``external`` by the next write.
- ``gpkg_atlas_writer(flag)``: one row, 0. The app sets it to 1 inside its own write transaction and back
  to 0 before committing, so the triggers skip the app's writes; no other connection ever sees the 1.
- ``gpkg_atlas_layers(name, geometry_type, fields, key, base_rev, since_rev, dropped)``: each layer's
  schema (kept after a drop, so the layer can be restored), the revision of its last layer-wide act
  (``base_rev``: the version of features not touched since) and the one its history starts at
  (``since_rev``: a build or a rename; as-of reads before it are refused, not guessed).

The hash of entry *n* is sha256 over the hash of entry *n-1* and a canonical JSON of (id, time, actor,
message, layers, count, every change with its geometries in hex). ``verify`` detects any changed,
inserted or deleted entry or change row, and the loss of the newest entries. It cannot detect a log
rewritten from some entry on with the hashes recomputed (there is no secret): record the head hash
it reports somewhere else (the backup log) to detect that too.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

from .base import Change, Revision, VerifyReport
from .gpkg_rows import wkb
from .logged import Canonical, Spool, StoredChanges, item_text, json_objects, plain  # noqa: F401

GENESIS = "0" * 64

SCHEMA = """
CREATE TABLE IF NOT EXISTS gpkg_atlas_revisions (id INTEGER PRIMARY KEY, time TEXT NOT NULL, actor TEXT NOT NULL,
  message TEXT NOT NULL, layers TEXT NOT NULL, changes INTEGER NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS atlas_revisions_time ON gpkg_atlas_revisions(time);
CREATE TABLE IF NOT EXISTS gpkg_atlas_changes (rev INTEGER NOT NULL, seq INTEGER NOT NULL, layer TEXT NOT NULL,
  key TEXT NOT NULL, fid INTEGER, op TEXT NOT NULL, before TEXT, before_geom BLOB, after TEXT, after_geom BLOB,
  PRIMARY KEY (rev, seq));
CREATE INDEX IF NOT EXISTS atlas_changes_key ON gpkg_atlas_changes(layer, key, rev);
CREATE TABLE IF NOT EXISTS gpkg_atlas_head (one INTEGER PRIMARY KEY CHECK (one = 1), id INTEGER NOT NULL, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS gpkg_atlas_pending (id INTEGER PRIMARY KEY AUTOINCREMENT, layer TEXT NOT NULL, op TEXT NOT NULL,
  fid INTEGER, before TEXT, before_geom BLOB, after TEXT, after_geom BLOB);
CREATE TABLE IF NOT EXISTS gpkg_atlas_writer (flag INTEGER NOT NULL);
INSERT INTO gpkg_atlas_writer SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM gpkg_atlas_writer);
CREATE TABLE IF NOT EXISTS gpkg_atlas_layers (name TEXT PRIMARY KEY, geometry_type TEXT NOT NULL, fields TEXT NOT NULL,
  key TEXT NOT NULL, base_rev INTEGER NOT NULL, since_rev INTEGER NOT NULL, dropped INTEGER NOT NULL DEFAULT 0);
"""


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> str:
    """An ISO 8601 time (date only, or without a zone = UTC) as the log's canonical UTC text."""
    from ..errors import InvalidParameter

    try:
        raw = str(text).strip().replace("Z", "+00:00").replace("z", "+00:00")
        t = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidParameter(f"as_of must be an ISO 8601 time such as 2026-12-01T12:00:00Z, got {text!r}",
                               parameter="as_of") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    try:
        utc = t.astimezone(timezone.utc)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
        raise InvalidParameter(f"as_of must be a time from year 1 to 9999 in UTC, got {text!r}",
                               parameter="as_of") from None
    # isoformat, not strftime: strftime's %Y does not pad years before 1000 (141-01-04 is no ISO 8601)
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


#: json.dumps(..., ensure_ascii=False, sort_keys=True, separators=(",", ":")) without making an
#: encoder for every call (the same text)
_ENCODE_PROPS = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def dumps(props: dict | None) -> str | None:
    if props is None:
        return None
    if isinstance(props, Canonical):
        return str.__str__(props)
    return _ENCODE_PROPS({k: plain(v) for k, v in props.items()})


def entry_hash(prev_hash: str, rid: int, time: str, actor: str, message: str, layers: str, count: int,
               changes, *, ahead: Spool | None = None) -> str:
    """``changes``: (layer, key, fid, op, before, before_geom, after, after_geom) as stored, any
    iterable (a cursor: hashed as it is read, never all in memory); ``ahead``: the text of the
    changes before them, spooled. The sha256 of ``prev_hash`` and the canonical JSON of ``[rid,
    time, actor, message, layers, count, [[change...], ...]]``, fed to the hash piece by piece (the
    same text, so the same digest, as one ``json.dumps``)."""
    digest = hashlib.sha256(prev_hash.encode("utf-8"))
    head = _ENCODE([rid, time, actor, message, layers, count])
    digest.update(head[:-1].encode("utf-8") + b",[")
    first = not (ahead is not None and ahead.feed(digest))
    pieces = []
    for c in changes:
        pieces.append(item_text(c))
        if len(pieces) >= 1000:
            digest.update(("" if first else ",").encode() + ",".join(pieces).encode("utf-8"))
            pieces, first = [], False
    if pieces:
        digest.update(("" if first else ",").encode() + ",".join(pieces).encode("utf-8"))
    digest.update(b"]]")
    return digest.hexdigest()


def stored(changes) -> list[tuple]:
    """Changes (layer, key, fid, op, before dict, before WKB, after dict, after WKB) as the log
    stores them: the key as text, the attributes as canonical JSON."""
    return [(c[0], str(c[1]), c[2], c[3], dumps(c[4]), c[5], dumps(c[6]), c[7]) for c in changes]


def next_id(con) -> int:
    """The id the next revision gets (inside the writer's transaction, which holds the lock)."""
    last = con.execute("SELECT MAX(id) FROM gpkg_atlas_revisions").fetchone()[0]
    return 1 if last is None else last + 1


def write_changes(con, rid: int, start: int, rows: list[tuple]) -> None:
    """Change rows (as ``stored`` makes them) of revision ``rid``, numbered from ``start``."""
    con.executemany("INSERT INTO gpkg_atlas_changes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(rid, start + i, *c) for i, c in enumerate(rows)])


def append(con, actor: str, message: str, layers, changes: list[tuple], *, spilled: int = 0,
           rid: int | None = None, spool: Spool | None = None) -> Revision:
    """Write one revision (inside the caller's transaction). ``changes``: tuples (layer, key, fid,
    op, before dict|None, before WKB|None, after dict|None, after WKB|None). ``spilled``: how many
    change rows of this revision (id ``rid``, from ``next_id``) the writer has already written, in
    order, ahead of ``changes`` (a large write keeps its memory bounded so), their hash's text in
    ``spool`` (without it, read back from the log); the revision's ``changes`` are read from the log when asked for
    (``StoredChanges``)."""
    last = con.execute("SELECT id, time, hash FROM gpkg_atlas_revisions ORDER BY id DESC LIMIT 1").fetchone()
    own = 1 if last is None else last[0] + 1
    if spilled and rid != own:
        raise RuntimeError(f"revision {rid} was spilled but the next revision is {own}")
    rid = own
    prev = GENESIS if last is None else last[2]
    time = now()
    if last is not None and time < last[1]:  # the clock went back: keep the log ordered in time
        time = last[1]
    layers_text = json.dumps(sorted(set(layers)))
    rows = stored(changes)
    count = spilled + len(rows)
    if spilled:
        write_changes(con, rid, spilled, rows)
        if spool is not None:
            digest = entry_hash(prev, rid, time, actor, message, layers_text, count, rows, ahead=spool)
        else:
            cursor = con.execute("SELECT layer, key, fid, op, before, before_geom, after, after_geom "
                                 "FROM gpkg_atlas_changes WHERE rev = ? ORDER BY seq", (rid,))
            digest = entry_hash(prev, rid, time, actor, message, layers_text, count, cursor)
        del rows
    else:
        digest = entry_hash(prev, rid, time, actor, message, layers_text, count, rows)
    con.execute("INSERT INTO gpkg_atlas_revisions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (rid, time, actor, message, layers_text, count, prev, digest))
    if spilled:
        held = StoredChanges(_main_file(con), rid, count)
    else:
        write_changes(con, rid, 0, rows)
        held = tuple(Change(c[0], c[1], c[3], _loads(c[4]), c[5], _loads(c[6]), c[7]) for c in rows)
    con.execute("INSERT OR REPLACE INTO gpkg_atlas_head VALUES (1, ?, ?)", (rid, digest))
    return Revision(rid, time, actor, message, prev, digest, held)


def _loads(text):
    return None if text is None else json.loads(text)


def _main_file(con) -> str:
    return next(row[2] for row in con.execute("PRAGMA database_list") if row[1] == "main")


# -- triggers recording what other programs write -----------------------------------------------
def trigger_sql(layer: str, fid: str, geom: str, columns: list[str]) -> list[str]:
    def obj(row):
        pairs = ", ".join(f"'{c}', {row}.{_q(c)}" for c in columns)
        return f"json_object({pairs})"

    guard = "(SELECT flag FROM gpkg_atlas_writer) = 0"
    name = lambda op: _q(f"atlas_external_{layer}_{op}")
    lit = "'" + layer.replace("'", "''") + "'"
    return [
        f"CREATE TRIGGER {name('insert')} AFTER INSERT ON {_q(layer)} WHEN {guard} BEGIN "
        f"INSERT INTO gpkg_atlas_pending (layer, op, fid, after, after_geom) VALUES "
        f"({lit}, 'add', NEW.{_q(fid)}, {obj('NEW')}, NEW.{_q(geom)}); END",
        f"CREATE TRIGGER {name('update')} AFTER UPDATE ON {_q(layer)} WHEN {guard} BEGIN "
        f"INSERT INTO gpkg_atlas_pending (layer, op, fid, before, before_geom, after, after_geom) VALUES "
        f"({lit}, 'update', NEW.{_q(fid)}, {obj('OLD')}, OLD.{_q(geom)}, {obj('NEW')}, NEW.{_q(geom)}); END",
        f"CREATE TRIGGER {name('delete')} AFTER DELETE ON {_q(layer)} WHEN {guard} BEGIN "
        f"INSERT INTO gpkg_atlas_pending (layer, op, fid, before, before_geom) VALUES "
        f"({lit}, 'delete', OLD.{_q(fid)}, {obj('OLD')}, OLD.{_q(geom)}); END",
    ]


def drop_triggers(con, layer: str) -> None:
    for op in ("insert", "update", "delete"):
        con.execute(f"DROP TRIGGER IF EXISTS {_q(f'atlas_external_{layer}_{op}')}")


def install_triggers(con, layer: str, fid: str, geom: str, columns: list[str]) -> None:
    drop_triggers(con, layer)
    for sql in trigger_sql(layer, fid, geom, columns):
        con.execute(sql)


def _typed(text, types: dict[str, str]):
    if text is None:
        return None
    data = json.loads(text)
    for name, value in data.items():
        if value is not None and types.get(name) == "bool":
            data[name] = bool(value)
    return data


def seal_pending(con, key: str, schema: dict) -> Revision | None:
    """The external edits recorded by the triggers, as one revision of actor ``external``."""
    rows = con.execute("SELECT layer, op, fid, before, before_geom, after, after_geom FROM gpkg_atlas_pending "
                       "ORDER BY id").fetchall()
    if not rows:
        return None
    changes = []
    for layer, op, fid, before, bgeom, after, ageom in rows:
        types = schema.get(layer, {}).get("fields", {})
        b, a = _typed(before, types), _typed(after, types)
        k = (a or b or {}).get(key)
        changes.append((layer, str(fid) if k is None else str(k), fid, op, b,
                        wkb(bgeom) if bgeom else None, a, wkb(ageom) if ageom else None))
    con.execute("DELETE FROM gpkg_atlas_pending")
    return append(con, "external", "edited outside the atlas (GIS program or script)", {c[0] for c in changes},
                  changes)


# -- reading the log ----------------------------------------------------------------------------
def history(con, *, layer=None, key=None, actor=None, since=None, until=None, limit=100, before_id=None):
    conds, params = [], []
    if layer is not None and key is not None:
        conds.append("id IN (SELECT rev FROM gpkg_atlas_changes WHERE layer = ? AND key = ?)")
        params += [layer, str(key)]
    elif layer is not None:
        conds.append("(instr(layers, ?) > 0)")
        params.append(json.dumps(layer))
    if actor is not None:
        conds.append("actor = ?")
        params.append(actor)
    if since is not None:
        conds.append("time >= ?")
        params.append(parse_time(since))
    if until is not None:
        conds.append("time <= ?")
        params.append(parse_time(until))
    if before_id is not None:
        conds.append("id < ?")
        params.append(int(before_id))
    where = (" WHERE " + " AND ".join(conds)) if conds else ""
    revs = con.execute(f"SELECT id, time, actor, message, prev_hash, hash FROM gpkg_atlas_revisions{where} "
                       "ORDER BY id DESC LIMIT ?", params + [int(limit)]).fetchall()
    out = []
    for rid, time, who, message, prev, digest in revs:
        cs, cp = "rev = ?", [rid]
        if layer is not None:
            cs += " AND layer = ?"
            cp.append(layer)
        if key is not None:
            cs += " AND key = ?"
            cp.append(str(key))
        changes = tuple(Change(r[0], r[1], r[2], _loads(r[3]), r[4], _loads(r[5]), r[6]) for r in con.execute(
            f"SELECT layer, key, op, before, before_geom, after, after_geom FROM gpkg_atlas_changes WHERE {cs} "
            "ORDER BY seq", cp))
        out.append(Revision(rid, time, who, message, prev, digest, changes))
    return out


def verify(con) -> VerifyReport:
    revs = con.execute("SELECT id, time, actor, message, layers, changes, prev_hash, hash FROM gpkg_atlas_revisions "
                       "ORDER BY id")
    changes = con.execute("SELECT rev, layer, key, fid, op, before, before_geom, after, after_geom "
                          "FROM gpkg_atlas_changes ORDER BY rev, seq")
    return check_chain(revs, changes, lambda: con.execute("SELECT id, hash FROM gpkg_atlas_head").fetchone())


def check_chain(revs, changes, head) -> VerifyReport:
    """The chain's check, for every backend: ``revs`` (id, time, actor, message, layers, count,
    prev_hash, hash) in id order and ``changes`` (rev, layer, key, fid, op, before, before_geom,
    after, after_geom) in (rev, seq) order, both cursors read as they go; ``head()`` the (id, hash)
    the store records as its newest entry, or None."""
    changes = iter(changes)
    pending = next(changes, None)
    prev, expect, n = GENESIS, 1, 0
    for rid, time, actor, message, layers, count, prev_hash, digest in revs:
        if rid != expect:
            return VerifyReport(False, n, expect, f"entry {expect} is missing (the next entry is {rid})")
        mine = []
        while pending is not None and pending[0] < rid:
            return VerifyReport(False, n, pending[0], f"change rows of revision {pending[0]}, which is not in the log")
        while pending is not None and pending[0] == rid:
            mine.append(pending[1:])
            pending = next(changes, None)
        if prev_hash != prev:
            return VerifyReport(False, n, rid, f"entry {rid} does not point at the hash of entry {rid - 1}")
        if len(mine) != count:
            return VerifyReport(False, n, rid, f"entry {rid} should have {count} changes, has {len(mine)}")
        if entry_hash(prev, rid, time, actor, message, layers, count, mine) != digest:
            return VerifyReport(False, n, rid, f"entry {rid} was altered: its content does not match its hash")
        prev, expect, n = digest, expect + 1, n + 1
    if pending is not None:
        return VerifyReport(False, n, pending[0], f"change rows of revision {pending[0]}, which is not in the log")
    head = head()
    if n and (head is None or head[0] != n or head[1] != prev):
        return VerifyReport(False, n, n + 1 if head and head[0] > n else n,
                            f"the newest entries are missing: the head names entry {head[0] if head else '?'}, "
                            f"the log ends at {n}")
    return VerifyReport(True, n, None, f"{n} entries, the chain verifies", None if not n else prev)
