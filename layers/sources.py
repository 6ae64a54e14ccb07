"""The seed sources (``layers/data/``) applied to a store that planners edit, without losing an edit.

A rebuild of an edited store is not a replacement: each feature is merged three ways, field by
field — the source as last applied (the *base*, kept in the store as the document ``sources``), the
source now, and the store now — and only what the sources changed is written, as revisions by
actor ``sources``; a planner's edits to other fields stay. Where both changed the same field (or
the geometry) to different values, or one deleted what the other changed, the feature is left as
the planner made it and the conflict is reported (and stays reported until resolved); ``take_sources=True`` resolves those in favour of the
sources (each such overwrite is itself a revision, so the planner's version can be restored).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd
import shapely

from geo.store import Query, Store

from . import catalog

ACTOR = "sources"
#: The store document that keeps the sources as last applied, per layer and key.
DOCUMENT = "sources"


@dataclass
class Report:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    conflicts: list[tuple[str, str]] = field(default_factory=list)  # (key, what happened)
    layers_created: list[str] = field(default_factory=list)
    #: (layer, old geometry type, new one, the dropped layer the old one is kept as, keys a planner had changed)
    retyped: list[tuple[str, str, str, str, list[str]]] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{len(self.added)} added", f"{len(self.updated)} updated", f"{len(self.deleted)} deleted"]
        if self.layers_created:
            parts.append("new layers " + ", ".join(self.layers_created))
        text = "sources applied: " + ", ".join(parts)
        for layer, old, new, kept, edited in self.retyped:
            text += (f"\nlayer {layer} changed from {old} to {new}: made anew from the sources; the old layer is "
                     f"kept in the history as the dropped layer {kept} (restore it under that name to see it)")
            if edited:
                text += f"; a planner had changed {', '.join(edited)} there: redo those edits on the new {layer}"
        if self.conflicts:
            text += f"; {len(self.conflicts)} conflict(s) left as the planners made them:\n" + "\n".join(
                f"  {key}: {what}" for key, what in self.conflicts)
        return text


def _norm(props: dict | None, geom) -> tuple | None:
    """A comparable state: the atlas's fields (JSON decoded, NaN as None, floats to 6 places) and
    the geometry; None for a feature that does not exist."""
    if props is None:
        return None
    out = []
    for name in catalog.FIELD_NAMES:
        value = _plain(props.get(name))
        if isinstance(value, str) and name in ("figures", "source", "position_source"):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        if value is not None and not isinstance(value, (str, bool, list, dict)):
            try:
                number = float(value)
            except (TypeError, ValueError):
                pass
            else:
                value = None if math.isnan(number) else round(number, 6)
        out.append(json.dumps(value, ensure_ascii=False, sort_keys=True))
    return tuple(out), geom


def _same(a: tuple | None, b: tuple | None) -> bool:
    if a is None or b is None:
        return a is b
    return a[0] == b[0] and bool(shapely.equals_exact(a[1], b[1], 1e-9))


def _merge(src: tuple, cur: tuple, old: tuple) -> tuple[set[str], bool, list[str]]:
    """A three-way merge of one feature: the fields (and whether the geometry) the sources changed,
    and those that a planner changed too, to another value (the clash). Measures follow the
    geometry, so they are the geometry's business, not fields of their own."""
    measures = ("area_m2", "area_ha", "area_mu", "length_km")
    fields, clash = set(), []
    for name, s, c, o in zip(catalog.FIELD_NAMES, src[0], cur[0], old[0]):
        if name in measures or s == o:
            continue
        if c != o and c != s:
            clash.append(name)
        fields.add(name)
    geometry = not shapely.equals_exact(src[1], old[1], 1e-9)
    if geometry and not shapely.equals_exact(cur[1], old[1], 1e-9) and not shapely.equals_exact(cur[1], src[1], 1e-9):
        clash.append("geometry")
    return fields, geometry, clash


def _rows(frame: gpd.GeoDataFrame) -> dict[str, tuple]:
    cols = [c for c in frame.columns if c != frame.geometry.name]
    out = {}
    for row in frame[cols + [frame.geometry.name]].itertuples(index=False, name=None):
        props = dict(zip(cols, row[:-1]))
        out[props[catalog.KEY]] = _norm(props, row[-1])
    return out


def _encode(state: tuple | None):
    return None if state is None else {"fields": list(state[0]), "wkb": shapely.to_wkb(state[1], hex=True)}


def _decode(value) -> tuple | None:
    """A remembered state; one remembered before the catalog gained its last fields has them null."""
    if value is None:
        return None
    fields = list(value["fields"])
    fields += [json.dumps(None)] * (len(catalog.FIELD_NAMES) - len(fields))  # as _norm writes a null
    return tuple(fields), shapely.from_wkb(value["wkb"])


def remember(store: Store, frames: dict[str, gpd.GeoDataFrame], kept: dict[str, dict] | None = None) -> None:
    """Keep the sources as applied (the next apply's base) in the store: each layer's rows, except
    the keys in ``kept`` (conflicts), whose earlier base stays so that they stay reported."""
    document = store.document(DOCUMENT) or {}
    for layer, frame in frames.items():
        rows = {k: _encode(v) for k, v in _rows(frame).items()}
        for key, old in (kept or {}).get(layer, {}).items():
            rows[key] = old
        document[layer] = rows
    store.put_document(DOCUMENT, document)


def apply(store: Store, frames: dict[str, gpd.GeoDataFrame], *, take_sources: bool = False,
          fields=catalog.STORE_FIELDS, message: str = "sources applied (layers/data)") -> Report:
    """Bring the store's layers to the sources, keeping planners' edits (see the module's doc)."""
    report = Report()
    kept: dict[str, dict] = {}
    present = set(store.layers())
    for layer, frame in frames.items():
        spec = catalog.get(layer)
        had = store.info(layer).geometry_type if layer in present and spec else None
        if had is not None and had != spec.geometry_type:
            report.retyped.append(_retire(store, layer, had, spec.geometry_type, message))
            present.discard(layer)
        if layer not in present:
            store.create_layer(layer, spec.geometry_type if spec else frame.geom_type.iloc[0],
                               [f for f in fields if f.name != catalog.KEY], actor=ACTOR, message=message)
            store.add(layer, frame, actor=ACTOR, message=message)
            report.layers_created.append(layer)
            report.added += list(frame[catalog.KEY])
            continue
        have = {f.name for f in store.fields(layer)}
        for missing in [f for f in fields if f.name not in have and f.name != catalog.KEY]:
            # a store built before the catalog had this field (e.g. position_source): add it, empty
            store.add_field(layer, missing, actor=ACTOR, message=message)
        source = _rows(frame)
        current = _rows(store.query(layer, Query()))
        keys = sorted(set(source) | set(current))
        known = (store.document(DOCUMENT) or {}).get(layer, {})
        base = {k: _decode(known.get(k)) for k in keys}
        kept[layer] = {}
        versions = store.versions(layer, [k for k in keys if k in current])
        adds, deletes = [], []
        for key in keys:
            src, cur, old = source.get(key), current.get(key), base.get(key)
            if _same(src, old) or _same(src, cur):
                continue  # the sources did not change it, or the store already has it
            if src is not None and cur is not None and old is not None:
                changed, geometry, clash = _merge(src, cur, old)
                if clash and not take_sources:
                    report.conflicts.append((key, "changed by the sources and by a planner: " + ", ".join(clash)))
                    kept[layer][key] = known.get(key)
                    continue
                row = frame[frame[catalog.KEY] == key].iloc[0]
                take = set(catalog.FIELD_NAMES) if take_sources else changed
                props = {k: _plain(row[k]) for k in frame.columns
                         if k in take and k not in (frame.geometry.name, catalog.KEY)}
                geom = row[frame.geometry.name] if (geometry or take_sources) else None
                store.update(layer, key, properties=props, geometry=geom, expected_version=versions[key],
                             actor=ACTOR, message=message)
                report.updated.append(key)
                continue
            if not _same(cur, old) and not take_sources:
                what = ("deleted by a planner, changed by the sources" if cur is None else
                        "removed from the sources, changed by a planner" if src is None else
                        "added by the sources and by a planner")
                report.conflicts.append((key, what))
                kept[layer][key] = known.get(key)
                continue
            if src is None:
                deletes.append(key)
            elif cur is None:
                adds.append(key)
        if adds:
            store.add(layer, frame[frame[catalog.KEY].isin(adds)], actor=ACTOR, message=message)
            report.added += adds
        if deletes:
            store.delete(layer, deletes, expected_versions={k: versions[k] for k in deletes}, actor=ACTOR,
                         message=message)
            report.deleted += deletes
    remember(store, frames, kept)
    return report


def _retire(store: Store, layer: str, old_type: str, geometry_type: str, message: str) -> tuple:
    """Set aside a layer of another geometry type than the catalog's: renamed, then dropped (both
    revisions, so it can be restored under its new name). Returns the report's ``retyped`` entry."""
    taken = set(store.layers()) | set(store.dropped_layers())
    stem = f"{layer}_{old_type.lower()}_before"[:60]
    kept = next(name for name in [stem] + [f"{stem}{i}" for i in range(2, 100)] if name not in taken)
    base = (store.document(DOCUMENT) or {}).get(layer, {})
    edited = sorted(key for key, state in _rows(store.query(layer, Query())).items()
                    if not _same(state, _decode(base.get(key))))
    why = f"{message}: layer {layer} changes from {old_type} to {geometry_type}"
    store.rename_layer(layer, kept, actor=ACTOR, message=f"{why}; the old layer set aside as {kept}")
    store.drop_layer(kept, actor=ACTOR, message=f"{why}; {kept} dropped (restore it to see the old layer)")
    return layer, old_type, geometry_type, kept, edited


def _plain(value):
    """A pandas/numpy scalar as a plain Python value (NA and NaN as None)."""
    if value is None or (not isinstance(value, (list, dict, str)) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value
