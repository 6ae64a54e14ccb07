"""The revision log as the API shows it: a feature's history, the change log, two times compared,
and restoring. Plain functions over a store: no Flask here."""
from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import orjson
import pandas as pd
import shapely

from geo.errors import InvalidParameter, NotFound
from geo.store import Revision, Store

from .. import catalog
from .edits import parse_message
from .features import feature_collection, json_fields
from .params import parse_int, parse_time

HISTORY_PARAMS = ("layer", "actor", "since", "until", "limit", "before")


def _state(store: Store, layer: str, props: dict | None, geom: bytes | None) -> dict | None:
    """A before/after state as a GeoJSON Feature (JSON fields decoded), or None where there was none."""
    if props is None and geom is None:
        return None
    properties = dict(props or {})
    for name in json_fields(store, layer) if layer in store.layers() else ():
        value = properties.get(name)
        if isinstance(value, str):
            try:
                properties[name] = orjson.loads(value)
            except orjson.JSONDecodeError:
                pass
    geometry = None
    if geom is not None:
        geometry = orjson.loads(shapely.to_geojson(shapely.from_wkb(geom)))
    return {"type": "Feature", "id": properties.get(catalog.KEY), "geometry": geometry, "properties": properties}


def _changed_fields(before: dict | None, after: dict | None) -> list[str]:
    if before is None or after is None:
        return []
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def _revision(store: Store, revision: Revision, *, with_states: bool, only: tuple[str, str] | None = None) -> dict:
    changes = []
    for change in revision.changes:
        if only is not None and (change.layer, change.key) != only:
            continue
        item = {"layer": change.layer, "id": change.key, "op": change.op}
        if with_states:
            item["before"] = _state(store, change.layer, change.before, change.before_geom)
            item["after"] = _state(store, change.layer, change.after, change.after_geom)
            item["fields"] = _changed_fields(change.before, change.after)
            item["geometry_changed"] = change.before_geom != change.after_geom and change.op == "update"
        changes.append(item)
    return {"id": revision.id, "time": revision.time, "actor": revision.actor, "message": revision.message,
            "changes": changes}


def feature_history(store: Store, layer: str, key: str, *, limit: int = 200) -> dict:
    """Every revision that touched the feature, newest first, with its before and after."""
    revisions = store.history(layer=layer, key=key, limit=limit)  # also of a dropped layer
    if not revisions and layer not in store.layers():
        raise NotFound(f"no layer {layer!r} now or in the log", parameter="layer")
    return {"layer": layer, "id": key,
            "revisions": [_revision(store, r, with_states=True, only=(layer, key)) for r in revisions]}


def change_log(store: Store, args: Mapping) -> dict:
    """The atlas's (or one layer's) change log, newest first, filterable, paged by ``before``."""
    unknown = sorted(set(args) - set(HISTORY_PARAMS))
    if unknown:
        raise InvalidParameter(f"unknown parameter {unknown[0]!r}; accepted: {', '.join(HISTORY_PARAMS)}",
                               parameter=unknown[0])
    layer = args.get("layer") or None
    if layer is not None:
        store.fields(layer)
    limit = parse_int(args, "limit", 50, 1, 500)
    before = parse_int(args, "before", 0, 0, 2**62) or None
    revisions = store.history(layer=layer, actor=args.get("actor") or None, since=parse_time(args.get("since"), "since"),
                              until=parse_time(args.get("until"), "until"), limit=limit + 1, before_id=before)
    more = len(revisions) > limit
    revisions = revisions[:limit]
    return {"revisions": [_revision(store, r, with_states=False, only=None) for r in revisions],
            "next": revisions[-1].id if more and revisions else None}


def compare(store: Store, layer: str, args: Mapping) -> bytes:
    """What changed in a layer between two times: features added, removed and changed (the later
    state, with the earlier geometry as the foreign member ``before``)."""
    t1 = parse_time(args.get("from"), "from")
    t2 = parse_time(args.get("to"), "to")
    if t1 is None or t2 is None:
        raise InvalidParameter("compare needs from= and to=, two ISO 8601 times such as 2026-12-01T12:00:00Z",
                               parameter="from" if t1 is None else "to")
    try:
        added, removed, changed = store.compare(layer, t1, t2)
    except InvalidParameter as exc:
        if exc.parameter == "as_of":  # the store reads each time as of; here the earlier one is at fault
            exc.parameter = "from" if t1 <= t2 else "to"
        raise
    parts = []
    for frame, kind in ((added, "added"), (removed, "removed")):
        if len(frame):
            frame = frame.copy()
            frame["change"] = kind
            parts.append(frame)
    if changed:
        rows = gpd.GeoDataFrame([dict(after) for _, after in changed], geometry=[a.geometry for _, a in changed],
                                crs="EPSG:4326")
        rows["change"] = "changed"
        parts.append(rows)
    frame = (gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs="EPSG:4326") if parts
             else gpd.GeoDataFrame({"change": []}, geometry=[], crs="EPSG:4326"))
    counts = {"added": len(added), "removed": len(removed), "changed": len(changed)}
    return feature_collection(frame, extra={"layer": layer, "from": t1, "to": t2, "counts": counts},
                              json_fields=json_fields(store, layer))


def restore_feature(store: Store, layer: str, key: str, body: Mapping, *, actor: str) -> dict:
    revision_id = body.get("revision") if isinstance(body, Mapping) else None
    if isinstance(revision_id, bool) or not isinstance(revision_id, int) or revision_id < 1:
        raise InvalidParameter("revision must be the id of the revision to go back to (a whole number from "
                               "the feature's history)", parameter="revision")
    revision = store.restore_feature(layer, key, revision_id, actor=actor, message=parse_message(body))
    return {"revision": revision.id}


def restore_layer(store: Store, layer: str, body: Mapping, *, actor: str) -> dict:
    body = body if isinstance(body, Mapping) else {}
    revision_id = body.get("revision")
    as_of = parse_time(body.get("as_of"))
    if (revision_id is None) == (as_of is None):
        raise InvalidParameter("give either revision (an id from the change log) or as_of (a time)",
                               parameter="revision")
    if revision_id is not None and (isinstance(revision_id, bool) or not isinstance(revision_id, int)):
        raise InvalidParameter("revision must be a whole number", parameter="revision")
    revision = store.restore_layer(layer, revision_id=revision_id, as_of=as_of, actor=actor,
                                   message=parse_message(body))
    return {"revision": revision.id}
