"""GeoParquet 1.1, written with pyarrow: a row group per chunk."""
from __future__ import annotations

import json

import pyarrow as pa
from pyproj import CRS

from .base import Writer, arrow_batch, arrow_schema


class ParquetWriter(Writer):
    """GeoParquet 1.1: WKB geometry, the ``geo`` metadata with the CRS as PROJJSON; a row group per
    chunk, so memory holds one chunk."""

    def write_layer(self, layer, chunks):
        from pyarrow import parquet as pq

        schema = arrow_schema(layer)
        schema = schema.set(schema.get_field_index("geometry"), pa.field("geometry", pa.binary()))
        types = [] if layer.geometry_type == "Geometry" else [layer.geometry_type]
        geo = {"version": "1.1.0", "primary_column": "geometry",
               "columns": {"geometry": {"encoding": "WKB", "geometry_types": types,
                                        "crs": CRS.from_user_input(self.about.target.file_crs).to_json_dict()}}}
        schema = schema.with_metadata({"geo": json.dumps(geo), "description": self.about.description(layer),
                                       "coordinate_system": self.about.target.name})
        rows = 0
        with pq.ParquetWriter(self.path, schema, compression="zstd") as out:
            for chunk in chunks:
                out.write_batch(arrow_batch(layer, chunk, schema))
                rows += len(chunk.frame)
        self.layers[layer.name] = (layer, rows)
        return rows
