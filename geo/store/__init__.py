"""Storage backends behind one interface, chosen by the URL in configuration."""
from __future__ import annotations

from pathlib import Path

from ..errors import StoreError
from .base import LayerInfo, Query, Store, check_layer_name

__all__ = ["LayerInfo", "Query", "Store", "check_layer_name", "open_store"]


def open_store(url: str | Path) -> Store:
    """A store from its URL: ``gpkg:///abs/path/atlas.gpkg`` or a path ending in ``.gpkg``."""
    text = str(url)
    if text.startswith(("postgresql://", "postgres://")):
        raise StoreError(
            "a PostGIS store is not available yet; set ATLAS_STORE to a GeoPackage path such as "
            "var/atlas.gpkg"
        )
    if text.startswith("gpkg://"):
        text = text[len("gpkg://"):]
    if not text.endswith(".gpkg"):
        raise StoreError(
            f"cannot tell the store type from {str(url)!r}; use a GeoPackage path ending in .gpkg "
            "(e.g. var/atlas.gpkg or gpkg:///srv/atlas/atlas.gpkg)"
        )
    from .gpkg import GeoPackageStore

    return GeoPackageStore(Path(text))
