"""The one storage interface of the atlas. GeoPackage now; PostGIS later, behind the same methods."""
from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import geopandas as gpd

from ..errors import InvalidParameter

#: Layer (table) names: they become SQL identifiers, so only this shape is ever accepted.
LAYER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def check_layer_name(name: str) -> str:
    if not isinstance(name, str) or not LAYER_NAME.match(name):
        raise InvalidParameter(
            f"layer name must be lower-case letters, digits and '_' starting with a letter, got {name!r}",
            parameter="layer",
        )
    return name


@dataclass(frozen=True)
class Query:
    """What to read from one layer. All conditions are ANDed; values within one field are ORed."""

    bbox: tuple[float, float, float, float] | None = None
    #: field -> accepted values; the field names are checked against the layer's columns.
    equals: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: case-insensitive substring of any of ``text_fields``.
    text: str | None = None
    text_fields: tuple[str, ...] = ("name_zh", "name_en")
    ids: tuple[str, ...] | None = None
    limit: int | None = None
    offset: int = 0
    #: column subset to read (geometry always comes); None reads every column.
    columns: tuple[str, ...] | None = None


@dataclass(frozen=True)
class LayerInfo:
    name: str
    geometry_type: str
    count: int
    bbox: tuple[float, float, float, float] | None
    fields: tuple[tuple[str, str], ...]  # (name, numpy dtype name)
    crs: str


class Store(ABC):
    """A spatial store of named layers, each a table of features with a unique ``id`` column."""

    url: str

    @abstractmethod
    def exists(self) -> bool:
        """Whether the store has been built."""

    @abstractmethod
    def layers(self) -> list[str]:
        """The layer names, in the order they were written."""

    @abstractmethod
    def info(self, layer: str) -> LayerInfo:
        """Geometry type, feature count, bbox (WGS84) and fields of a layer; NotFound if unknown."""

    @abstractmethod
    def fields(self, layer: str) -> tuple[tuple[str, str], ...]:
        """(name, declared type) of a layer's attribute columns, cheaply (no pass over the rows);
        NotFound if the layer is unknown."""

    @abstractmethod
    def query(self, layer: str, query: Query) -> tuple[gpd.GeoDataFrame, int]:
        """The page of features matching ``query`` (ordered as stored) and how many match in all."""

    @abstractmethod
    def find(self, feature_id: str) -> tuple[str, gpd.GeoDataFrame] | None:
        """The layer and the one-row frame of the feature with this id, or None."""

    @abstractmethod
    def replace(self, layers: dict[str, gpd.GeoDataFrame]) -> None:
        """Replace the whole store with these layers, atomically: on any failure the previous
        store is left exactly as it was, and the error says why."""
