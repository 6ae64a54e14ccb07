"""The one storage interface of the atlas. GeoPackage now; PostGIS later, behind the same methods.

Everything that crosses this interface is backend-neutral: field types are ``FIELD_TYPES`` (each
backend maps them to its SQL types inside), features are GeoDataFrames in WGS84, and every failure of
the backend itself (a broken file, a lost connection) is a ``StoreError`` with a public message; its
detail (paths, SQL) goes to the log only. The caller names the key and text-search fields: nothing
here knows the atlas's field names.
"""
from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import InvalidParameter, StoreError

#: Layer (table) names: they become SQL identifiers, so only this shape is ever accepted.
LAYER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
GEOMETRY_FAMILY = {m + t: f for t, f in (("Point", "point"), ("LineString", "line"), ("Polygon", "polygon"))
                   for m in ("", "Multi")}  #: the shape a geometry type holds: what an error tells someone to draw
#: The field types of every backend: text, whole numbers (64-bit), floating point, true/false, ISO
#: dates (text ``YYYY-MM-DD``) and JSON (stored as its text, read back as text).
FIELD_TYPES = ("str", "int", "float", "bool", "date", "json")


def check_layer_name(name: str) -> str:
    if not isinstance(name, str) or not LAYER_NAME.match(name):
        raise InvalidParameter(
            f"layer name must be lower-case letters, digits and '_' starting with a letter, got {name!r}",
            parameter="layer",
        )
    return name


@dataclass(frozen=True)
class Field:
    """An attribute column of a layer: its name and one of ``FIELD_TYPES``."""

    name: str
    type: str

    def __post_init__(self):
        if self.type not in FIELD_TYPES:
            raise ValueError(f"field {self.name!r}: type must be one of {', '.join(FIELD_TYPES)}, got {self.type!r}")


@dataclass(frozen=True)
class Query:
    """What to read from one layer. All conditions are ANDed; values within one field are ORed."""

    bbox: tuple[float, float, float, float] | None = None
    #: field -> accepted values; the field names are checked against the layer's columns.
    equals: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: case-insensitive substring of any of ``text_fields`` (the caller names them).
    text: str | None = None
    text_fields: tuple[str, ...] = ()
    #: values of the layer's key field (the one the store was opened with).
    ids: tuple[str, ...] | None = None
    limit: int | None = None
    offset: int = 0
    #: column subset to read (geometry always comes); None reads every column.
    columns: tuple[str, ...] | None = None
    #: read the layer as it was at this time (UTC ISO 8601, ``2026-12-01T12:00:00Z``); None: now.
    as_of: str | None = None
    #: the order, (field, descending) pairs, completed by the key field in the direction of the
    #: last pair (a stable order, ties broken by the key); NULL is the smallest value: first when
    #: ascending, last when descending. Empty (and no ``after``): the backend's key order.
    order_by: tuple[tuple[str, bool], ...] = ()
    #: a keyset cursor: the values of the completed order's fields (``sort_order``) of the last row
    #: seen; the page starts right after it. Not with ``offset``; ``count`` ignores it.
    after: tuple | None = None
    #: field -> (lowest, highest), inclusive, either None (open): numbers, and ISO dates as text.
    ranges: Mapping[str, tuple] = field(default_factory=dict)
    #: field -> a case-insensitive (ASCII) substring of that field's value; fields ANDed.
    contains: Mapping[str, str] = field(default_factory=dict)
    #: a filter tree of ``geo.cql2`` (ANDed with the rest), checked against the layer's fields and
    #: compiled by ``geo.store.where`` (SQLite or PostGIS); None: no filter.
    where: object = None

    def by_ids_only(self) -> bool:
        """Whether this asks by ``ids`` and nothing else (columns, limit and offset aside)."""
        return (self.ids is not None and self.bbox is None and not self.equals and not self.text
                and not self.ranges and not self.contains and self.where is None and self.after is None
                and not self.order_by and self.as_of is None)


def sort_order(query: Query, key: str) -> tuple[tuple[str, bool], ...] | None:
    """The completed order of ``query``: its ``order_by`` up to and with the key field (unique, so
    nothing after it counts), else with the key added in the direction of the last pair; None
    when neither an order nor a cursor is asked for (the backend's own key order)."""
    if not query.order_by and query.after is None:
        return None
    order: list[tuple[str, bool]] = []
    for name, descending in query.order_by:
        if any(name == seen for seen, _ in order):
            raise InvalidParameter(f"sort names field {name!r} twice; name each field once", parameter="sort")
        order.append((name, bool(descending)))
        if name == key:
            return tuple(order)
    return (*order, (key, order[-1][1] if order else False))


@dataclass(frozen=True)
class Rows:
    """A page of a layer's attributes without geometry (``Store.rows``): ``frame`` the rows in the
    query's order, ``bounds`` each row's box (minx, miny, maxx, maxy; WGS84, NaN when it has no
    geometry), and ``after`` the cursor of the last row when more rows follow (None at the end)."""

    frame: pd.DataFrame
    bounds: np.ndarray
    after: tuple | None


@dataclass(frozen=True)
class Records:
    """A page of features as plain values (``Store.records``): ``columns`` the attribute names,
    ``rows`` a tuple of each feature's values in that order (None, or NaN for a float, where it has
    none; dates as ISO text, JSON fields as their text), ``geometry`` a shapely array (None where a
    feature has none): what a writer of a few features needs, without a frame to build and take
    apart again."""

    columns: tuple[str, ...]
    rows: list[tuple]
    geometry: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def of_frame(cls, frame: gpd.GeoDataFrame) -> Records:
        names = tuple(c for c in frame.columns if c != frame.geometry.name)
        values = [[None if v is pd.NA else v for v in frame[c].tolist()] for c in names]
        rows = list(zip(*values)) if names else [() for _ in range(len(frame))]
        return cls(names, rows, np.asarray(frame.geometry.values, dtype=object))

    def column(self, name: str) -> list:
        i = self.columns.index(name)
        return [r[i] for r in self.rows]

    def take(self, picked) -> Records:
        """The rows at ``picked`` (a boolean mask, a slice or positions), in that order."""
        index = np.arange(len(self.rows))[picked]
        return Records(self.columns, [self.rows[i] for i in index], self.geometry[index])

    @staticmethod
    def concat(parts: Sequence[Records]) -> Records:
        if len(parts) == 1:
            return parts[0]
        return Records(parts[0].columns, [r for p in parts for r in p.rows],
                       np.concatenate([p.geometry for p in parts]))


@dataclass(frozen=True)
class Change:
    """What one revision did to one feature: ``before`` / ``after`` its attributes (None where it
    did not exist) and geometry as WKB."""

    layer: str
    key: str
    op: str  # "add" | "update" | "delete"
    before: dict | None
    before_geom: bytes | None
    after: dict | None
    after_geom: bytes | None


@dataclass(frozen=True)
class Revision:
    """One entry of the append-only log: who, when (UTC ISO, microseconds, ``Z``), why, the hash
    of the entry before and its own, and the features it changed (none for a layer-wide act such
    as a build)."""

    id: int
    time: str
    actor: str
    message: str
    prev_hash: str
    hash: str
    changes: tuple[Change, ...] = ()


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of recomputing the hash chain: ``first_bad`` is the id of the first entry that
    does not verify (None when ``ok``); ``head`` the newest entry's hash, to record elsewhere."""

    ok: bool
    entries: int
    first_bad: int | None
    detail: str
    head: str | None = None


@dataclass(frozen=True)
class LayerInfo:
    name: str
    geometry_type: str
    count: int
    bbox: tuple[float, float, float, float] | None
    fields: tuple[Field, ...]
    crs: str


class Store(ABC):
    """A spatial store of named layers, each a table of features with a unique key field (named by
    whoever opens the store, ``key``), read in the order of the backend's primary key."""

    url: str
    key: str
    #: True where a box's matches come from a spatial index as a set to be sorted before a page in
    #: key order is cut (a GeoPackage's R-tree), so a reader of a box holding much of the layer
    #: does better walking the key order and testing the box itself; False where the database
    #: plans the box and the order together (PostGIS).
    box_matches_unordered: bool = False

    @abstractmethod
    def exists(self) -> bool:
        """Whether the store has been built."""

    @abstractmethod
    def version(self) -> str:
        """A short token that changes whenever anything stored changes (a rebuild, an edit): the
        basis of entity tags and caches. Cheap: asked on every request."""

    def pin_version(self):
        """A context (one request: ``server`` enters it before and leaves it after each) in which
        the backend may read ``version()`` once and answer it again, its own writes in it
        forgetting it; outside one, every ``version()`` asks afresh. This default pins nothing."""
        return nullcontext()

    def read_ahead(self, layer: str, query: Query) -> None:
        """A hint, in a ``pin_version`` context: this request will ask ``records(layer, query)``.
        A backend that can read it in the round trip of its version (PostGIS: a feature by id) does
        and answers that ``records`` from it; the answer is the same either way. This default
        does nothing."""

    @abstractmethod
    def layers(self) -> list[str]:
        """The layer names, in the order they were written."""

    @abstractmethod
    def info(self, layer: str) -> LayerInfo:
        """Geometry type, feature count, bbox (WGS84) and fields of a layer; NotFound if unknown."""

    @abstractmethod
    def fields(self, layer: str) -> tuple[Field, ...]:
        """A layer's attribute fields, cheaply (no pass over the rows); NotFound if unknown."""

    @abstractmethod
    def count(self, layer: str, query: Query, *, at_most: int | None = None) -> int:
        """How many features match ``query`` (its limit and offset aside). With ``at_most`` the
        backend may stop counting where an exact count would cost a pass over every match, and
        then answers ``at_most + 1``, meaning "more than ``at_most``"; every other answer is exact
        (a backend counts exactly wherever it is cheap, e.g. a bbox alone)."""

    @abstractmethod
    def query(self, layer: str, query: Query) -> gpd.GeoDataFrame:
        """The page of features matching ``query``, in key order (or ``sort_order(query)``)."""

    def records(self, layer: str, query: Query) -> Records:
        """The page of ``query`` (as ``query``) as plain values and geometries: a page of a few
        features for a writer, without a frame. This default takes ``query``'s frame apart."""
        return Records.of_frame(self.query(layer, query))

    @abstractmethod
    def rows(self, layer: str, query: Query) -> Rows:
        """The page of ``query`` as attributes (its ``columns``, else every field) and boxes, without
        reading or decoding geometries, in ``sort_order(query)`` (key order without one), with the
        cursor to pass as ``after`` for the next page: the attribute table's read."""

    @abstractmethod
    def totals(self, layer: str, query: Query, fields: Sequence[str]) -> dict[str, float | int | None]:
        """``{"count": n, field: sum, …}`` over every row matching ``query`` (its order and page
        aside), without reading geometry; a field with no values sums to None. Numeric fields only."""

    @abstractmethod
    def stream(self, layer: str, query: Query, *, chunk_size: int = 5000) -> Iterator[gpd.GeoDataFrame]:
        """Every feature matching ``query`` (its offset and limit applied to the whole), in key order,
        ``chunk_size`` at a time, each row read once, from one consistent view of the store (a
        rebuild meanwhile does not mix two versions)."""

    @abstractmethod
    def find(self, feature_id: str) -> tuple[str, gpd.GeoDataFrame] | None:
        """The layer and the one-row frame of the feature whose key is ``feature_id``, or None."""

    @abstractmethod
    def replace(self, layers: Mapping[str, gpd.GeoDataFrame],
                fields: Mapping[str, Sequence[Field]] | None = None, *, message: str = "build") -> Revision:
        """Replace the whole store with these layers (WGS84, a unique non-empty key in every row),
        atomically: on any failure the previous store is left exactly as it was, and the error says
        why. ``fields`` declares the types of a layer's columns; undeclared ones are typed from their
        values (text, whole numbers, numbers, true/false). Recorded as one revision by actor
        ``sources`` without rows per feature (the log of earlier revisions is kept)."""

    # -- writing, each call one transaction that returns the revision it wrote -------------------
    @abstractmethod
    def create_layer(self, name: str, geometry_type: str, fields: Sequence[Field], *, actor: str,
                     message: str, features: gpd.GeoDataFrame | None = None, progress=None,
                     documents: Mapping | None = None) -> Revision:
        """A new layer with the key field and ``fields``; Conflict if the name is taken. ``features``
        (as for ``add``) are written in the same transaction and revision: the layer appears with
        them or not at all. ``progress``: as for ``add``. ``documents``: {name: fn(current value or
        None) -> new value}, documents (``document``) rewritten in the same transaction too."""

    @abstractmethod
    def add(self, layer: str, frame: gpd.GeoDataFrame, *, actor: str, message: str, progress=None) -> Revision:
        """New features (WGS84, with the key column); a key already present is a Conflict naming it.
        ``progress(done, total)``, if given, is called as the features are written (before the
        transaction commits: what it raises rolls the write back)."""

    def plan_upsert(self, layer: str, frame: gpd.GeoDataFrame) -> dict[str, list[str]]:
        """The keys ``upsert`` of ``frame`` would add, update and leave unchanged
        (``{"added": [...], "updated": [...], "unchanged": [...]}``); nothing is written."""
        raise NotImplementedError(f"{type(self).__name__} has no upsert")

    def upsert(self, layer: str, frame: gpd.GeoDataFrame, *, actor: str, message: str) -> Revision:
        """Features whose key is new added, those whose key is present updated (fields not in the
        frame kept), in one transaction and one revision; unchanged features are not recorded."""
        raise NotImplementedError(f"{type(self).__name__} has no upsert")

    @abstractmethod
    def update(self, layer: str, key: str, *, properties: Mapping | None = None, geometry=None,
               expected_version: int | None = None, actor: str, message: str) -> Revision:
        """Change some properties and/or the geometry of one feature; Stale (with the current
        version) when ``expected_version`` is not the stored one; nothing written then."""

    @abstractmethod
    def delete(self, layer: str, keys: Sequence[str], *, expected_versions: Mapping[str, int] | None = None,
               actor: str, message: str) -> Revision:
        """Remove features; NotFound for an unknown key, Stale for a wrong expected version."""

    @abstractmethod
    def add_field(self, layer: str, field: Field, *, actor: str, message: str) -> Revision:
        """A new attribute column (null in every feature)."""

    @abstractmethod
    def rename_layer(self, old: str, new: str, *, actor: str, message: str) -> Revision:
        """Give a layer a new name (its features and their versions move with it)."""

    @abstractmethod
    def drop_layer(self, layer: str, *, actor: str, message: str) -> Revision:
        """Remove a layer: its features go into the log as deletes and its schema is kept, so
        ``restore_layer`` can bring it back."""

    @abstractmethod
    def restore_layer(self, layer: str, *, revision_id: int | None = None, as_of: str | None = None,
                      actor: str, message: str) -> Revision:
        """The layer (also a dropped one) as it was right after ``revision_id`` or at ``as_of``,
        written as a new revision."""

    @abstractmethod
    def restore_feature(self, layer: str, key: str, revision_id: int, *, actor: str, message: str) -> Revision:
        """The feature as it was right after ``revision_id`` (re-created if deleted since, deleted
        if it did not exist then), as a new revision."""

    # -- the log -------------------------------------------------------------------------------
    @abstractmethod
    def dropped_layers(self) -> list[str]:
        """Layers dropped and not brought back (their history and schema are kept)."""

    @abstractmethod
    def versions(self, layer: str, keys: Sequence[str]) -> dict[str, int]:
        """The version of each existing feature: the id of the last revision that touched it."""

    def read_versioned(self, layer: str, keys: Sequence[str]) -> tuple[gpd.GeoDataFrame, dict[str, int]]:
        """The features of ``keys`` and their versions, as of one moment (so that an editor who saves
        what was read, with that version, never overwrites a change they did not see). This default
        reads the versions, the rows and the versions again until no write came between; a backend
        with read transactions does it in one."""
        for _ in range(20):
            before = self.versions(layer, keys)
            frame = self.query(layer, Query(ids=tuple(keys)))
            if self.versions(layer, keys) == before:
                return frame, before
        raise StoreError("the features are being changed too often to be read; try again in a moment")

    def find_versioned(self, feature_id: str) -> tuple[str, gpd.GeoDataFrame, int] | None:
        """``find`` with the feature's version, read together (see ``read_versioned``)."""
        found = self.find(feature_id)
        if found is None:
            return None
        frame, versions = self.read_versioned(found[0], [feature_id])
        return (found[0], frame, versions[feature_id]) if len(frame) and feature_id in versions else None

    @abstractmethod
    def history(self, *, layer: str | None = None, key: str | None = None, actor: str | None = None,
                since: str | None = None, until: str | None = None, limit: int = 100,
                before_id: int | None = None) -> list[Revision]:
        """Revisions newest first, with their changes (only those of ``layer``/``key`` if given)."""

    @abstractmethod
    def compare(self, layer: str, t1: str, t2: str) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, list]:
        """(features added, features removed, [(before_row, after_row)] changed) from t1 to t2."""

    @abstractmethod
    def verify(self) -> VerifyReport:
        """Recompute the hash chain of the log."""

    @abstractmethod
    def backup(self, path) -> None:
        """A consistent copy of the live store at ``path`` (safe while others write)."""

    @abstractmethod
    def document(self, name: str):
        """A small named JSON document the store keeps for its users' bookkeeping (not a layer, not
        in the log), or None."""

    @abstractmethod
    def put_document(self, name: str, value) -> None:
        """Write (or replace) a named JSON document, in one transaction."""

    def cleanup(self) -> list[str]:
        """Remove what an interrupted write left behind (temporary files); returns what was removed."""
        return []
