"""Excel (XLSX) with openpyxl in write-only mode: a sheet per layer, a sheet of field titles, a README."""
from __future__ import annotations

import numpy as np
import pyarrow.compute as pc

from ..errors import InvalidParameter
from .base import LayerSchema, Writer, arrow_batch, arrow_schema, wkt


class XlsxWriter(Writer):
    """A sheet per layer (field names in the first row, WKT last), then a sheet of fields with their
    Chinese and English titles and a README sheet; openpyxl's write-only mode streams rows to disk.
    Text that starts with '=' stays text (never a formula). Excel holds at most 32,767 characters a
    cell: a longer WKT continues in the cells to its right (join them); a longer attribute is refused
    with a message naming the feature."""

    MAX_CELL = 32_767
    MAX_ROWS = 1_048_576
    SHEET_FIELDS = "字段 fields"
    SHEET_README = "说明 README"

    def __init__(self, path, fmt, about):
        super().__init__(path, fmt, about)
        from openpyxl import Workbook

        self.book = Workbook(write_only=True)
        self._titles: set[str] = set()

    def _cell(self, sheet, value, bold=False):
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.styles import Font

        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"
        if bold:
            cell.font = Font(bold=True)
        return cell

    def _title(self, name: str) -> str:
        title, n = name[:31], 1
        while title in self._titles:
            title, n = f"{name[:28]}_{n}", n + 1
        self._titles.add(title)
        return title

    def _check(self, layer: LayerSchema, batch, rows: int) -> None:
        if rows + batch.num_rows >= self.MAX_ROWS:
            raise InvalidParameter(f"layer {layer.name!r} has more than {self.MAX_ROWS - 1:,} features, more than an "
                                   "Excel sheet holds; export it as csv or gpkg, or filter it", parameter="format")
        for i, col in enumerate(layer.columns):
            if col.kind in ("str", "json") and (pc.max(pc.utf8_length(batch.column(i))).as_py() or 0) > self.MAX_CELL:
                lengths = pc.utf8_length(batch.column(i)).to_numpy(zero_copy_only=False)
                row = int(np.nanargmax(np.where(np.isnan(lengths.astype(float)), -1, lengths)))
                fid = batch.column(0)[row].as_py()
                raise InvalidParameter(f"field {col.name!r} of feature {fid!r} in layer {layer.name!r} is longer than "
                                       f"an Excel cell holds ({self.MAX_CELL:,} characters): export as csv or gpkg",
                                       parameter="format")

    def write_layer(self, layer, chunks):
        from openpyxl.utils.exceptions import IllegalCharacterError

        sheet = self.book.create_sheet(self._title(layer.name))
        sheet.append([self._cell(sheet, c.name, bold=True) for c in layer.columns] + [self._cell(sheet, "WKT", bold=True)])
        schema = arrow_schema(layer, geometry=None)
        rows = 0
        for chunk in chunks:
            batch = arrow_batch(layer, chunk, schema, geometry=None)
            self._check(layer, batch, rows)
            columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)] + [wkt(chunk.geometry).tolist()]
            for values in zip(*columns):
                *attrs, text = values
                pieces = [text[i:i + self.MAX_CELL] for i in range(0, len(text), self.MAX_CELL)]
                row = [self._cell(sheet, v) if isinstance(v, str) and v.startswith("=") else v for v in attrs]
                try:
                    sheet.append(row + pieces)
                except IllegalCharacterError:
                    raise InvalidParameter(f"feature {attrs[0]!r} of layer {layer.name!r} has control characters an "
                                           "Excel file cannot hold; export as csv or gpkg", parameter="format") from None
            rows += batch.num_rows
        self.layers[layer.name] = (layer, rows)
        return rows

    def abort(self) -> None:
        # openpyxl streams each sheet into a temporary file of its own (in the system's temporary
        # folder, removed only at exit): close and remove them now.
        for sheet in self.book.worksheets:
            if sheet._writer is not None:
                sheet.close()
                sheet._writer.cleanup()

    def close(self) -> None:
        sheet = self.book.create_sheet(self.SHEET_FIELDS)
        sheet.append([self._cell(sheet, h, bold=True) for h in
                      ("图层 layer", "字段 field", "中文名 title_zh", "English title_en", "类型 type")])
        for name, (layer, _) in self.layers.items():
            for c in layer.columns:
                sheet.append([name, c.name, c.zh, c.en, c.kind])
            sheet.append([name, "WKT", "几何(WKT)", "geometry (WKT)", "wkt"])
        readme = self.about.readme(self.fmt, self.layers, [
            "每个图层一张工作表,第一行为字段名,最后一列 WKT 为几何;超过 32767 个字符的 WKT 接续在右侧单元格中,"
            "请连接后使用。 / One sheet per layer, field names in the first row, geometry as WKT in the last "
            "column; WKT longer than an Excel cell (32,767 characters) continues in the cells to its right: "
            "join them."])
        sheet = self.book.create_sheet(self.SHEET_README)
        for line in readme.splitlines():
            sheet.append([line])
        self.book.save(self.path)
