"""Exports: layers written chunk by chunk in any of the registered formats.

``base`` (schema, chunks, the Writer interface) <- ``gdal``, ``text``, ``sheet``, ``parquet`` (the
writers) <- ``formats`` (the registry) <- ``package`` (one file or a zip). Imports point this way only.
"""
from .base import About, Chunk, Column, LayerSchema, Writer
from .formats import FORMATS, Format, describe, from_filename, get
from .package import Written, write

__all__ = ["About", "Chunk", "Column", "FORMATS", "Format", "LayerSchema", "Writer", "Written", "describe",
           "from_filename", "get", "write"]
