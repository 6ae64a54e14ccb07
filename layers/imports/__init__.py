"""Planners' own files brought into the store, Flask-free: ``inspect`` (what a file is, before
anything is stored: its encoding, coordinate system, shapes and fields) and ``commit`` (the file
read again with the planner's choices and written whole, or not at all).

``inspect`` unpacks a zip safely into a scratch folder (``geo.inspect.extract_zip``), opens the
source (``geo.readers.open_source``), detects the text encoding of a Shapefile's .dbf or a CSV
(``detect_dbf``/``detect_text``), ranks the candidate coordinate systems against Weihai (the
``reference`` the caller passes: the districts' outlines, see ``reference_from_store``) and checks a
declared one, and reports the shapes (``geo.readers.report``). ``commit`` drops Z/M, repairs only
when asked, reprojects to WGS84, measures in EPSG:4550 and writes, each one revision: a new layer
(``create_layer(features=...)``: the layer and its features in one transaction), an append (``add``;
keys already present refused before writing) or an upsert by a key field (``Store.upsert``; its
counts computed first by ``Store.plan_upsert``, and shown by ``plan``). Every check runs before the
write, and the write is one transaction: an error leaves the store as it was.
"""
from __future__ import annotations

from .commit import MODES, Result, commit, plan
from .inspection import MEASURES, Inspection, Reference, inspect, reference_from_store

__all__ = ["MEASURES", "MODES", "Inspection", "Reference", "Result", "commit", "inspect", "plan",
           "reference_from_store"]
