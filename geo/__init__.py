"""Geometry, coordinate systems, storage and formats. Knows nothing of the web."""
