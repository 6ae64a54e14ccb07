"""Storage backends behind one interface, chosen by the URL in configuration."""
from __future__ import annotations

from pathlib import Path

from ..errors import StoreError
from .base import (FIELD_TYPES, Change, Field, LayerInfo, Query, Records, Revision, Rows, Store, VerifyReport,
                   check_layer_name, sort_order)

__all__ = ["FIELD_TYPES", "Change", "Field", "LayerInfo", "Query", "Records", "Revision", "Rows", "Store", "VerifyReport",
           "check_layer_name", "open_store", "restore_backup", "sort_order"]


def restore_backup(src: str | Path, dest: str | Path, *, key: str = "id") -> VerifyReport:
    """Bring back a backup made by ``Store.backup`` as the store at ``dest`` (GeoPackage): refused
    unless its revision log verifies; ``dest`` replaced atomically. Returns the restored log's report."""
    from .gpkg_log import restore_backup as restore

    return restore(Path(src), Path(dest), key=key)


def open_store(url: str | Path, *, key: str) -> Store:
    """A store from its URL: ``gpkg:///abs/path/atlas.gpkg`` or a path ending in ``.gpkg``, or a
    PostGIS database ``postgresql://user@host/db?schema=atlas`` (``postgres://`` too; see ``pg``).
    ``key`` names the unique key field of every layer (the caller's schema, not the store's)."""
    text = str(url)
    if text.startswith(("postgresql://", "postgres://")):
        from .pg import PostGISStore

        return PostGISStore(text, key=key)
    if text.startswith("gpkg://"):
        text = text[len("gpkg://"):]
    if not text.endswith(".gpkg"):
        raise StoreError(
            f"cannot tell the store type from ATLAS_STORE={str(url)!r}; use a GeoPackage path ending in .gpkg "
            "(e.g. var/atlas.gpkg or gpkg:///srv/atlas/atlas.gpkg) or a postgresql:// URL"
        )
    from .gpkg import GeoPackageStore

    return GeoPackageStore(Path(text), key=key)
