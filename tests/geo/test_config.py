"""Configuration comes from ATLAS_* variables with typed defaults."""
from pathlib import Path

from geo.config import load_config

CHECKOUT = Path(__file__).resolve().parents[2]


def test_defaults_and_typed_overrides():
    assert load_config({}) == {
        "STORE": str(CHECKOUT / "var" / "atlas.gpkg"),
        "TIANDITU_KEY": "",
        "MAX_LIMIT": 10_000,
        "DEFAULT_LIMIT": 1_000,
        "STANDALONE_MAX_FEATURES": 50_000,
    }
    cfg = load_config({"ATLAS_STORE": "/srv/atlas.gpkg", "ATLAS_MAX_LIMIT": "500",
                       "ATLAS_STANDALONE_MAX_FEATURES": "20", "ATLAS_TIANDITU_KEY": "", "OTHER": "x"})
    assert cfg["STORE"] == "/srv/atlas.gpkg"
    assert cfg["MAX_LIMIT"] == 500 and cfg["STANDALONE_MAX_FEATURES"] == 20
    assert cfg["TIANDITU_KEY"] == ""  # empty means unset


def test_a_bad_number_says_which_variable():
    import pytest

    with pytest.raises(ValueError, match="ATLAS_MAX_LIMIT must be a whole number, got 'lots'"):
        load_config({"ATLAS_MAX_LIMIT": "lots"})
