"""Configuration comes from ATLAS_* variables with typed defaults."""
from geo.config import DEFAULTS, load_config


def test_defaults_and_typed_overrides():
    assert load_config({}) == DEFAULTS
    cfg = load_config({"ATLAS_STORE": "/srv/atlas.gpkg", "ATLAS_MAX_LIMIT": "500",
                       "ATLAS_STANDALONE_MAX_FEATURES": "20", "ATLAS_TIANDITU_KEY": "", "OTHER": "x"})
    assert cfg["STORE"] == "/srv/atlas.gpkg"
    assert cfg["MAX_LIMIT"] == 500 and cfg["STANDALONE_MAX_FEATURES"] == 20
    assert cfg["TIANDITU_KEY"] == ""  # empty means unset


def test_a_bad_number_says_which_variable():
    import pytest

    with pytest.raises(ValueError, match="ATLAS_MAX_LIMIT must be a whole number, got 'lots'"):
        load_config({"ATLAS_MAX_LIMIT": "lots"})
