"""Configuration comes from ATLAS_* variables with typed defaults, each checked at start-up: a bad
value names the variable and what it accepts."""
import pytest

from layers.config import SETTINGS, load_config
from geo.errors import ConfigError


def test_defaults_and_typed_overrides():
    assert load_config({}) == {
        "STORE": "var/atlas.gpkg",  # beside the working folder: the checkout for make run
        "TIANDITU_KEY": "",
        "MAX_LIMIT": 10_000,
        "DEFAULT_LIMIT": 1_000,
        "STANDALONE_MAX_FEATURES": 50_000,
        "EXPORT_DIRECT_MAX": 20_000,
        "EXPORT_JOBS": 2,
        "EXPORT_TTL": 3600,
        "CACHE_MB": 64,
        "TILES_ABOVE": 20_000, "TILE_CACHE_MB": 128,  # layers over 20,000 features drawn as tiles
        "BASEMAPS": "", "BASEMAP_DIR": "", "INTERNET_BASEMAPS": 1,
        "LOG_LEVEL": "INFO",
        "PROXY_FIX": 0,
        "OVERLAY_MAX": 200_000, "IMPORT_MAX_MB": 512,
        "IMPORT_MAX_FEATURES": 1_000_000, "IMPORT_JOBS": 2,
        "ACCOUNTS": "",  # accounts.sqlite beside the store
        "ANONYMOUS": "VIEW",
        "SECRET_KEY": "",  # generated once beside the store
        "SESSION_MINUTES": 30,
        "COOKIE_SECURE": 0,
        "LOGIN_LOCK_AFTER": 5,
        "LOGIN_LOCK_MINUTES": 15,
        "LOGIN_RATE": "10/minute",
        "AUDIT_DAYS": 180,
        "FRAME_ANCESTORS": "'self'",
    }
    cfg = load_config({"ATLAS_STORE": "/srv/atlas.gpkg", "ATLAS_MAX_LIMIT": "5000",
                       "ATLAS_STANDALONE_MAX_FEATURES": "20", "ATLAS_TIANDITU_KEY": "", "OTHER": "x"})
    assert cfg["STORE"] == "/srv/atlas.gpkg"
    assert cfg["MAX_LIMIT"] == 5000 and cfg["STANDALONE_MAX_FEATURES"] == 20
    assert cfg["TIANDITU_KEY"] == ""  # empty means unset
    cfg = load_config({"ATLAS_ANONYMOUS": "none", "ATLAS_FRAME_ANCESTORS": "'self' https://portal.weihai.gov.cn",
                       "ATLAS_LOGIN_RATE": "5 per minute"})
    assert cfg["ANONYMOUS"] == "NONE" and cfg["LOGIN_RATE"] == "5 per minute"
    assert cfg["FRAME_ANCESTORS"] == "'self' https://portal.weihai.gov.cn"


@pytest.mark.parametrize("env,message", [
    ({"ATLAS_MAX_LIMIT": "0"}, "ATLAS_MAX_LIMIT must be a whole number from 1 to 100000, got '0'"),
    ({"ATLAS_MAX_LIMIT": "lots"}, "ATLAS_MAX_LIMIT must be a whole number"),
    ({"ATLAS_DEFAULT_LIMIT": "5000", "ATLAS_MAX_LIMIT": "100"}, "ATLAS_DEFAULT_LIMIT (5000) must not exceed ATLAS_MAX_LIMIT (100)"),
    ({"ATLAS_TIANDITU_KEY": "not-a-key"}, "ATLAS_TIANDITU_KEY must be the 32-character hexadecimal key"),
    ({"ATLAS_LOG_LEVEL": "chatty"}, "ATLAS_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR"),
    ({"ATLAS_PROXY_FIX": "-1"}, "ATLAS_PROXY_FIX must be a whole number from 0 to 5"),
    ({"ATLAS_ANONYMOUS": "maybe"}, "ATLAS_ANONYMOUS must be one of VIEW, NONE"),
    ({"ATLAS_LOGIN_RATE": "lots"}, "ATLAS_LOGIN_RATE must be a rate such as 10/minute"),
    ({"ATLAS_FRAME_ANCESTORS": "'self'; script-src *"}, "ATLAS_FRAME_ANCESTORS must be 'self', 'none' or origins"),
    ({"ATLAS_FRAME_ANCESTORS": "'none' https://a.cn"}, "ATLAS_FRAME_ANCESTORS must be"),
    ({"ATLAS_SECRET_KEY": "short"}, "ATLAS_SECRET_KEY must have at least 32 characters"),
    ({"ATLAS_SESSION_MINUTES": "0"}, "ATLAS_SESSION_MINUTES must be a whole number from 1 to 1440"),
])
def test_bad_values_are_refused_naming_the_variable(env, message):
    with pytest.raises(ConfigError) as caught:
        load_config(env)
    assert message in caught.value.detail


def test_the_app_does_not_start_with_a_bad_setting(built_store, monkeypatch):
    from server import create_app

    monkeypatch.setenv("ATLAS_MAX_LIMIT", "0")
    with pytest.raises(ConfigError, match="ATLAS_MAX_LIMIT"):
        create_app({"STORE": str(built_store.path)})


def test_every_setting_is_in_the_readme():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    missing = [s.name for s in SETTINGS if f"`ATLAS_{s.name}`" not in readme]
    assert not missing, f"settings not documented in the README: {missing}"
