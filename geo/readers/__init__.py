"""Readers of the files planners bring: what a file is (``open_source``), its features (``read``),
the geometry of tables (``suggest_columns``, ``points_from_columns``), what is wrong with its shapes
(``report``) and the repairs a planner may accept (``repair``, ``force_2d``), and the one
reprojection (``to_wgs84``). Flask-free; nothing here writes to the store.

``base`` (Source, errors) <- ``shapefile``, ``tabular``, ``parquet``, ``geometry`` <- ``source``
(open_source) <- ``read``. Imports point this way only.
"""
from .base import FORMATS, Columns, FormulaCell, Source, SourceLayer
from .geometry import GeometryReport, Problem, force_2d, repair, report
from .read import read, to_wgs84
from .source import describe, open_source, table_file
from .tabular import formula_cells, points_from_columns, suggest_columns

__all__ = ["FORMATS", "Columns", "FormulaCell", "GeometryReport", "Problem", "Source", "SourceLayer", "describe",
           "force_2d", "formula_cells", "open_source", "points_from_columns", "read", "repair", "report",
           "suggest_columns", "table_file", "to_wgs84"]
