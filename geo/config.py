"""Configuration from one place: environment variables with the ``ATLAS_`` prefix, typed defaults.

| variable | default | meaning |
|---|---|---|
| ATLAS_STORE | ``var/atlas.gpkg`` in the checkout | store URL or GeoPackage path |
| ATLAS_TIANDITU_KEY | (none) | a Tianditu key: enables the Tianditu basemaps on the page |
| ATLAS_MAX_LIMIT | 10000 | the largest ``limit`` the API accepts |
| ATLAS_STANDALONE_MAX_FEATURES | 50000 | the most features a standalone map file embeds |
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DEFAULTS = {
    "STORE": str(ROOT / "var" / "atlas.gpkg"),
    "TIANDITU_KEY": "",
    "MAX_LIMIT": 10000,
    "DEFAULT_LIMIT": 1000,
    "STANDALONE_MAX_FEATURES": 50_000,
}


def load_config(environ: dict | None = None) -> dict:
    env = os.environ if environ is None else environ
    config = dict(DEFAULTS)
    for key, default in DEFAULTS.items():
        value = env.get(f"ATLAS_{key}")
        if value is None or value == "":
            continue
        try:
            config[key] = type(default)(value)
        except ValueError:
            raise ValueError(f"ATLAS_{key} must be a whole number, got {value!r}") from None
    return config
