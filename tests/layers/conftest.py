"""Fixtures of the layers tests: ``store``, a copy of the session's small atlas that a test may
write, and ``reference``, its districts as the import inspector's reference area. A module that
needs another store defines its own fixture of that name, which takes precedence."""
from __future__ import annotations

import shutil

import pytest

from geo.store import open_store
from layers import imports


@pytest.fixture()
def store(built_store, tmp_path):
    path = tmp_path / "atlas.gpkg"
    shutil.copy(built_store.path, path)
    return open_store(path, key="id")


@pytest.fixture()
def reference(store):
    return imports.reference_from_store(store)
