"""The syntax tree of a CQL2 filter (``geo.cql2`` parses text into it; ``geo.store.where`` compiles
it): plain frozen dataclasses, and the two operations on whole trees."""
from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Property:
    name: str


@dataclass(frozen=True)
class Literal:
    """A number, a text, TRUE/FALSE or NULL (``value`` None); ``kind`` "date"/"timestamp" for
    ``DATE('…')``/``TIMESTAMP('…')`` (the value then the ISO text)."""

    value: object
    kind: str = ""


@dataclass(frozen=True)
class Geometry:
    """A geometry literal (WKT or BBOX), in the coordinates of the filter's CRS as written."""

    geom: object


@dataclass(frozen=True)
class CaseI:
    """CASEI(x): x compared without regard to case."""

    arg: object


@dataclass(frozen=True)
class Compare:
    op: str
    left: object
    right: object


@dataclass(frozen=True)
class Like:
    arg: object
    pattern: object
    negate: bool = False
    nocase: bool = False  # ILIKE, which GDAL may send


@dataclass(frozen=True)
class In:
    arg: object
    values: tuple
    negate: bool = False


@dataclass(frozen=True)
class Between:
    arg: object
    low: object
    high: object
    negate: bool = False


@dataclass(frozen=True)
class IsNull:
    arg: object
    negate: bool = False


@dataclass(frozen=True)
class And:
    items: tuple


@dataclass(frozen=True)
class Or:
    items: tuple


@dataclass(frozen=True)
class Not:
    item: object


@dataclass(frozen=True)
class Spatial:
    op: str  # "intersects"
    left: object
    right: object


def map_geometries(expr, fn):
    """``expr`` with ``fn(geom)`` in place of every geometry literal (to bring them into WGS84)."""
    if isinstance(expr, Geometry):
        return Geometry(fn(expr.geom))
    if isinstance(expr, (And, Or)):
        return replace(expr, items=tuple(map_geometries(e, fn) for e in expr.items))
    if isinstance(expr, Not):
        return Not(map_geometries(expr.item, fn))
    if isinstance(expr, Spatial):
        return replace(expr, left=map_geometries(expr.left, fn), right=map_geometries(expr.right, fn))
    return expr


def conjunction(*exprs):
    """The AND of the given trees (None ones left out), or None."""
    items = tuple(e for e in exprs if e is not None)
    return None if not items else items[0] if len(items) == 1 else And(items)
