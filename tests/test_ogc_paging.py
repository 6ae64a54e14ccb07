"""Paging while the layer is edited: a client reading a layer page by page through the ``next``
links (as QGIS and GDAL do) gets every feature that existed throughout exactly once, whatever is
added and deleted between its requests, before and after where it has read; on both backends."""
from __future__ import annotations

import json

import pytest

from bench.synthetic import road_lines
from geo.store import Query, open_store
from layers import build as builder
from server import create_app
from tests import pg
from tests.conftest import write_sources

N = 400


def _roads(start: int, n: int, prefix: str):
    frame = road_lines(n, seed=start)
    frame["id"] = [f"{prefix}-{i:04d}" for i in range(start, start + n)]
    frame["name_zh"] = [f"测试道路{i}" for i in range(start, start + n)]
    return frame


@pytest.mark.parametrize("backend", ["gpkg", "postgis"])
def test_no_feature_dropped_or_repeated_while_edits_happen(tmp_path, backend, monkeypatch):
    layers = builder.build_all(write_sources(tmp_path / "sources"))
    monkeypatch.chdir(tmp_path)  # a server store's folders are under var/ here
    store = open_store(tmp_path / "atlas.gpkg" if backend == "gpkg" else pg.fresh_url(), key="id")
    builder.write(store, {**layers, "roads_many": _roads(0, N, "road")})
    app = create_app({"STORE": store.url if backend == "postgis" else str(store.path), "TESTING": True,
                      "CACHE_MB": 0, "ACCOUNTS": str(tmp_path / "accounts.sqlite")})
    client = app.test_client()
    at_start = set(store.query("roads_many", Query())["id"])

    seen: list[str] = []
    deleted: set[str] = set()
    added: set[str] = set()
    url = "/ogc/collections/roads_many/items?limit=37"
    page = 0
    while url:
        r = client.get(url, headers={"Accept": "application/geo+json"})
        assert r.status_code == 200, r.get_data(as_text=True)
        body = json.loads(r.data)
        ids = [f["id"] for f in body["features"]]
        seen += ids
        # between pages: features added before and after the cursor, features deleted among those
        # already read and those still to come
        page += 1
        before, after = f"road-{page:04d}a", f"road-{N - page:04d}z"  # sort before / after the cursor
        fresh = _roads(1000 + page * 2, 2, "x")
        fresh["id"] = [before, after]
        store.add("roads_many", fresh, actor="test", message="added while a client pages")
        added |= {before, after}
        remaining = sorted(at_start - set(seen) - deleted)
        doomed = [k for k in (seen[0] if seen[0] not in deleted else None,
                              remaining[len(remaining) // 2] if remaining else None) if k]
        if doomed:
            store.delete("roads_many", doomed, actor="test", message="deleted while a client pages")
            deleted |= set(doomed)
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        url = nxt[0].split("localhost", 1)[1] if nxt else None
    assert page > N // 37 - 1
    assert len(seen) == len(set(seen)), "a feature came twice"
    throughout = at_start - deleted
    assert throughout <= set(seen), f"dropped: {sorted(throughout - set(seen))[:5]}"
    assert set(seen) <= at_start | added


def test_a_next_page_of_a_large_postgis_layer_is_one_range_of_the_key_index(tmp_path, monkeypatch):
    """100,000 features in PostGIS: the statement behind a ``next`` link, as PostgreSQL planned and
    ran it (auto_explain, in the test cluster's log), walks the key's unique index from the cursor
    (an index range: no scan of the table, no sort) and stops after the page."""
    _, store = pg.explained_points(100_000, seed=5, ids="big-{:06d}", names="大道{}")
    monkeypatch.chdir(tmp_path)
    app = create_app({"STORE": store.url, "TESTING": True, "CACHE_MB": 0,
                      "ACCOUNTS": str(tmp_path / "accounts.sqlite")})
    client = app.test_client()
    first = client.get("/ogc/collections/big/items?limit=1000", headers={"Accept": "application/geo+json"})
    nxt = next(link["href"] for link in first.get_json()["links"] if link["rel"] == "next")
    server_log = pg.log_path()
    start = server_log.stat().st_size
    second = client.get(nxt.split("localhost", 1)[1], headers={"Accept": "application/geo+json"})
    ids = [f["id"] for f in second.get_json()["features"]]
    assert ids == [f"big-{i:06d}" for i in range(1000, 2000)]
    with open(server_log, encoding="utf-8", errors="replace") as fh:
        fh.seek(start)
        entries = fh.read().split("LOG:  duration:")
    page = [e for e in entries if '"big" AS t' in e and "ORDER BY" in e and "LIMIT" in e]
    assert len(page) == 1, entries
    plan = page[0]
    assert "Index Scan using big_id_idx" in plan and "Index Cond: ((id)::text > 'big-000999'::text)" in plan, plan
    assert "Seq Scan" not in plan and "Sort" not in plan, plan
