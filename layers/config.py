"""Configuration from one place: ``ATLAS_*`` environment variables, each with a type, a default and
the values it accepts, checked at start-up (``load_config``): a bad value stops the app with a
message naming the variable and what it accepts. The README's table is this table.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

from geo.errors import ConfigError

_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class Setting:
    name: str          # without the ATLAS_ prefix
    default: object
    meaning: str
    low: int | None = None   # whole numbers: the accepted range
    high: int | None = None
    choices: tuple[str, ...] = ()

    def parse(self, raw: str):
        var = f"ATLAS_{self.name}"
        if isinstance(self.default, int):
            try:
                value = int(raw)
            except ValueError:
                raise ConfigError(f"{var} must be a whole number from {self.low} to {self.high}, got {raw!r}") from None
            if not self.low <= value <= self.high:
                raise ConfigError(f"{var} must be a whole number from {self.low} to {self.high}, got {raw!r}")
            return value
        if self.choices and raw.upper() not in self.choices:
            raise ConfigError(f"{var} must be one of {', '.join(self.choices)}, got {raw!r}")
        return raw.upper() if self.choices else raw


SETTINGS: tuple[Setting, ...] = (
    Setting("STORE", "var/atlas.gpkg", "the store: a GeoPackage path (relative to the working folder) or "
            "gpkg:///abs/path.gpkg"),
    Setting("MAX_LIMIT", 10_000, "the largest `limit` the API accepts", 1, 100_000),
    Setting("DEFAULT_LIMIT", 1_000, "the `limit` of an API request that gives none (at most ATLAS_MAX_LIMIT)",
            1, 100_000),
    Setting("TIANDITU_KEY", "", "a Tianditu key (32 hexadecimal characters), enabling its basemaps"),
    Setting("STANDALONE_MAX_FEATURES", 50_000, "the most features an offline map file embeds", 1, 1_000_000),
    Setting("EXPORT_DIRECT_MAX", 20_000, "the most features `GET /api/export` writes in the request; larger "
            "exports run as jobs (`POST /api/exports`)", 1, 10_000_000),
    Setting("EXPORT_JOBS", 2, "export jobs that may run at once (more are refused with 429)", 1, 32),
    Setting("EXPORT_TTL", 3600, "seconds a finished export job's file is kept", 60, 7 * 24 * 3600),
    Setting("CACHE_MB", 64, "memory (MB) each worker keeps for finished API answers, served again while the "
            "store is unchanged (0: no cache)", 0, 4096),
    Setting("LOG_LEVEL", "INFO", "the log level (one line a request at INFO)", choices=LOG_LEVELS),
    Setting("PROXY_FIX", 0, "reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host/-Prefix "
            "headers are trusted (1 behind nginx; 0 when served directly)", 0, 5),
)
DEFAULTS = {s.name: s.default for s in SETTINGS}


def load_config(environ: dict | None = None) -> dict:
    """The settings from ``environ`` (default: the process environment), checked."""
    env = os.environ if environ is None else environ
    config = dict(DEFAULTS)
    for setting in SETTINGS:
        raw = env.get(f"ATLAS_{setting.name}")
        if raw is not None and raw.strip() != "":
            config[setting.name] = setting.parse(raw.strip())
    return check(config)


def check(config: dict) -> dict:
    """Rules between settings, for the environment and for a config passed in by code alike."""
    if config["DEFAULT_LIMIT"] > config["MAX_LIMIT"]:
        raise ConfigError(f"ATLAS_DEFAULT_LIMIT ({config['DEFAULT_LIMIT']}) must not exceed ATLAS_MAX_LIMIT "
                          f"({config['MAX_LIMIT']})")
    key = config["TIANDITU_KEY"]
    if key and not _HEX32.match(key):
        raise ConfigError("ATLAS_TIANDITU_KEY must be the 32-character hexadecimal key of a Tianditu account; "
                          "unset it to go without the Tianditu basemaps")
    if str(config["LOG_LEVEL"]).upper() not in LOG_LEVELS:
        raise ConfigError(f"ATLAS_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {config['LOG_LEVEL']!r}")
    return config


def log_level(config: dict) -> int:
    return getattr(logging, str(config["LOG_LEVEL"]).upper())
