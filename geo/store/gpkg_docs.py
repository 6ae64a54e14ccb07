"""The store's small named JSON documents (``Store.document``), written on a connection inside the
caller's transaction: by ``put_document`` alone, or with a new layer (``create_layer(documents=...)``)."""
from __future__ import annotations

import json
import sqlite3


def write_document(con: sqlite3.Connection, name: str, value) -> None:
    """Write (or replace) a named document on ``con``, in its transaction."""
    con.execute("CREATE TABLE IF NOT EXISTS gpkg_atlas_documents (name TEXT PRIMARY KEY, body TEXT NOT NULL, "
                "updated TEXT NOT NULL)")
    con.execute("INSERT INTO gpkg_atlas_documents VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')) "
                "ON CONFLICT(name) DO UPDATE SET body = excluded.body, updated = excluded.updated",
                (name, json.dumps(value, ensure_ascii=False, sort_keys=True)))


def update_documents(con: sqlite3.Connection, updates) -> None:
    """Each document of ``updates`` ({name: fn(current value or None) -> new value}) rewritten on
    ``con``, in its transaction (read, changed, written: nothing between)."""
    for name, change in (updates or {}).items():
        exists = con.execute("SELECT 1 FROM sqlite_master WHERE name = 'gpkg_atlas_documents'").fetchone()
        row = con.execute("SELECT body FROM gpkg_atlas_documents WHERE name = ?", (name,)).fetchone() if exists else None
        write_document(con, name, change(None if row is None else json.loads(row[0])))
