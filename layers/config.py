"""Configuration from one place: ``ATLAS_*`` environment variables, each with a type, a default and
the values it accepts, checked at start-up (``load_config``): a bad value stops the app with a
message naming the variable and what it accepts. The README's table is this table.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from geo.errors import ConfigError

_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")
_RATE = re.compile(r"^\d{1,6}\s*(/|per)\s*(\d+\s*)?(second|minute|hour|day)s?$", re.I)
_ANCESTOR = re.compile(r"^('self'|'none'|https?://(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?)$")
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
            "gpkg:///abs/path.gpkg, or a PostGIS database postgresql://user@host/db?schema=atlas (see The store)"),
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
    Setting("TILES_ABOVE", 20_000, "layers of more features than this are drawn on the page as tiles the server "
            "renders (0: never)", 0, 1_000_000_000),
    Setting("TILE_CACHE_MB", 128, "memory (MB) each worker keeps for finished map tiles (0: no cache)", 0, 16384),
    Setting("BASEMAPS", "", "more basemaps (XYZ, WMTS or an intranet Tianditu), a JSON list: "
            "`[{\"id\": \"intranet\", \"title\": {\"zh\": \"内网地图\", \"en\": \"Intranet map\"}, "
            "\"url\": \"http://gis.example/{z}/{x}/{y}.png\", \"attribution\": \"…\"}]`"),
    Setting("BASEMAP_DIR", "", "a folder of MBTiles or PMTiles files served as local basemaps at /basemap/<name>/… (offline)"),
    Setting("INTERNET_BASEMAPS", 1, "1: offer the internet basemaps (OpenStreetMap, Esri, CARTO); 0: only "
            "the offline, local and configured ones", 0, 1),
    Setting("LOG_LEVEL", "INFO", "the log level (one line a request at INFO)", choices=LOG_LEVELS),
    Setting("PROXY_FIX", 0, "reverse proxies in front of the app whose X-Forwarded-For/-Proto/-Host/-Prefix "
            "headers are trusted (1 behind nginx; 0 when served directly)", 0, 5),
    Setting("OVERLAY_MAX", 200_000, "the most features a side of an overlay asked over the web may select "
            "(the command line has no limit)", 1, 100_000_000),
    Setting("IMPORT_MAX_MB", 512, "the largest file (MB) an import accepts, and what its zip may unpack to", 1, 100_000),
    Setting("IMPORT_MAX_FEATURES", 1_000_000, "the most features one import may bring in", 1, 100_000_000),
    Setting("IMPORT_JOBS", 2, "imports that may be inspected or written at once (more are refused with 429)", 1, 32),
    # -- accounts and the security review (等级保护) --
    Setting("ACCOUNTS", "", "the accounts database (users, grants, tokens, layer settings, security log), an "
            "SQLite file; empty: `accounts.sqlite` beside a GeoPackage store, or the PostGIS store's database "
            "(schema `<schema>_app`, shared by every app server)"),
    Setting("ANONYMOUS", "VIEW", "what visitors who are not logged in may do: VIEW (read and export) or NONE "
            "(log in for everything but the login page and static files)", choices=("VIEW", "NONE")),
    Setting("SECRET_KEY", "", "the key signing session cookies and CSRF tokens (at least 32 characters); empty: "
            "one generated once into `secret_key` beside a GeoPackage store (mode 0600), shared by all workers, or "
            "into the PostGIS store's database, shared by every app server"),
    Setting("SESSION_MINUTES", 30, "minutes without a request after which a login session ends", 1, 24 * 60),
    Setting("COOKIE_SECURE", 0, "1: the session cookie is always marked Secure (HTTPS behind a proxy that does "
            "not say so); 0: marked Secure whenever the request came over HTTPS", 0, 1),
    Setting("LOGIN_LOCK_AFTER", 5, "failed logins in a row that lock an account", 1, 100),
    Setting("LOGIN_LOCK_MINUTES", 15, "minutes an account stays locked after too many failed logins", 1, 24 * 60),
    Setting("LOGIN_RATE", "10/minute", "login attempts (POST /api/session) allowed per client address, as "
            "Flask-Limiter writes it: `10/minute`, `100/hour`"),
    Setting("AUDIT_DAYS", 180, "days security events (logins, permission changes, exports, edits) are kept",
            1, 3650),
    Setting("FRAME_ANCESTORS", "'self'", "the pages that may embed the atlas in a frame (CSP frame-ancestors), "
            "space-separated: `'self'`, `'none'` or origins such as `https://portal.weihai.gov.cn`"),
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
    if not _RATE.match(str(config["LOGIN_RATE"]).strip()):
        raise ConfigError(f"ATLAS_LOGIN_RATE must be a rate such as 10/minute or 100/hour, got {config['LOGIN_RATE']!r}")
    ancestors = str(config["FRAME_ANCESTORS"]).split()
    if not ancestors or not all(_ANCESTOR.match(a) for a in ancestors) or ("'none'" in ancestors and len(ancestors) > 1):
        raise ConfigError("ATLAS_FRAME_ANCESTORS must be 'self', 'none' or origins such as https://portal.example.cn "
                          f"separated by spaces, got {config['FRAME_ANCESTORS']!r}")
    if config["SECRET_KEY"] and len(str(config["SECRET_KEY"])) < 32:
        raise ConfigError("ATLAS_SECRET_KEY must have at least 32 characters (e.g. python -c 'import secrets; "
                          "print(secrets.token_hex(32))'); unset it to have one generated beside the store")
    from . import basemaps  # ConfigError for a basemap list or folder that cannot be used

    basemaps.parse(str(config.get("BASEMAPS") or ""))
    basemaps.check_folder(config.get("BASEMAP_DIR") or None)
    if str(config["LOG_LEVEL"]).upper() not in LOG_LEVELS:
        raise ConfigError(f"ATLAS_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {config['LOG_LEVEL']!r}")
    return config


def log_level(config: dict) -> int:
    return getattr(logging, str(config["LOG_LEVEL"]).upper())


def store_folder(store) -> Path:
    """The folder beside the store for what the app keeps on disk (accounts, the session key,
    export jobs, uploads): a GeoPackage store's own folder; ``var/`` for a server store, whose
    shared state lives in its database (only local scratch copies go here)."""
    return Path(getattr(store, "path", Path("var") / "store")).parent
