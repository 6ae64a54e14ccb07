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

``commit`` does not read the file again when ``inspect`` already did: the features inspect read are
handed over in memory (same process), or loaded from the copy inspect keeps in ``scratch`` (the
upload's folder: an Arrow file, for a commit in another process); either only while the files are
unchanged (size and modification time), with the same layer, encoding and table columns; otherwise
the file is read again, as before. Every check still runs on them before the write.

Progress: ``inspect(..., progress=fn)``, ``commit(..., progress=fn)`` and ``plan`` call
``fn(phase: str, done: int, total: int)`` as they go, phases in this order (``PHASES``):

- ``"unpack"`` (inspect, a zip only): bytes of the zip, 0 then all;
- ``"read"``: inspect: bytes of the file(s) read, 0 when it starts, ``total`` when the features are
  read; commit: features (0, then all when they are read or taken from the inspection);
- ``"check"``: steps (inspect: CRS scoring, the shape report, keeping the read; commit: heights,
  validity and repair, reprojection, keys and fields, measures, extent and catalog rules);
- ``"write"`` (commit, not a dry run): features written into the transaction, after every chunk
  the store writes (10,000), then ``total`` once the transaction has committed.

Every phase is reported when it starts (``done`` 0) and when it ends (``done == total``); calls in
between at most every 0.25 s. The callable runs in the caller's thread; what it raises propagates
(during ``commit``: the transaction rolls back, nothing is written).
"""
from __future__ import annotations

from .commit import MODES, Result, commit, plan
from .inspection import MEASURES, Inspection, Reference, inspect, reference_from_store
from .progress import PHASES

__all__ = ["MEASURES", "MODES", "PHASES", "Inspection", "Reference", "Result", "commit", "inspect", "plan",
           "reference_from_store"]
