"""The statistics of ``stats.statistics`` as one flat table — a row a group, then the totals —
in CSV (UTF-8 with a BOM, so Excel shows Chinese), XLSX (text stays text: a label starting with
``=`` is never a formula) and aligned plain text for a terminal; headers and labels in Chinese
or English (``lang``). No Flask here."""
from __future__ import annotations

import codecs
import csv
import io
import json
import unicodedata

from .stats import DIMENSION_TITLES, MEASURES, TOTAL_LABEL

LANGS = ("zh", "en")


def table(result: dict, lang: str = "zh") -> tuple[list[str], list[list]]:
    """(header, rows): the group columns (labels), then count, m², ha, 亩, km², km; the last row
    is the totals."""
    dims = result["group"]
    header = [DIMENSION_TITLES[d][lang] for d in dims] + [title[lang] for title, _ in MEASURES.values()]
    rows = [[r["label"][d][lang] for d in dims] + [r["values"][m] for m in MEASURES] for r in result["groups"]]
    rows.append([TOTAL_LABEL[lang], *[""] * (len(dims) - 1), *[result["totals"][m] for m in MEASURES]])
    return header, rows


def _number(value, decimals: int) -> str:
    return str(value) if decimals == 0 else f"{value:.{decimals}f}"


def _cells(result: dict, lang: str) -> tuple[list[str], list[list[str]]]:
    """The table with numbers written at their precision (as the JSON answer rounds them)."""
    header, rows = table(result, lang)
    n = len(result["group"])
    places = [d for _, d in MEASURES.values()]
    return header, [row[:n] + [_number(v, d) for v, d in zip(row[n:], places)] for row in rows]


def _safe(cell):
    """A text cell a spreadsheet would take for a formula (= + - @ first) prefixed with ', so it
    stays text; numbers, and text that is a number ("-40.0"), as they are."""
    if not isinstance(cell, str) or cell[:1] not in "=+-@":
        return cell
    try:
        float(cell)
        return cell
    except ValueError:
        return "'" + cell


def csv_bytes(header: list, rows: list, *, bom: bool = True) -> bytes:
    """The analyses' tables as CSV (UTF-8, with a BOM so Excel shows Chinese; CRLF; no formulas)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_safe(c) for c in header])
    writer.writerows([[_safe(c) for c in row] for row in rows])
    return (codecs.BOM_UTF8 if bom else b"") + out.getvalue().encode("utf-8")


def to_csv(result: dict, lang: str = "zh", *, bom: bool = True) -> bytes:
    header, rows = _cells(result, lang)
    return csv_bytes(header, rows, bom=bom)


def readme_lines(result: dict, lang: str = "zh") -> list[str]:
    """What the table is: layer, grouping, rule, filters, coordinate system."""
    other = "en" if lang == "zh" else "zh"
    return [
        f"{result['title'][lang]} ({result['layer']})",
        "分组 group: " + ", ".join(result["group"]) + f"; by={result['by']}",
        result["rule"][lang],
        result["rule"][other],
        "筛选 filters: " + (json.dumps(result["filters"], ensure_ascii=False) if result["filters"] else "—"),
        f"坐标系 measured in: {result['crs']}; 1 亩 (mu) = 10000/15 m²",
    ]


def to_xlsx(result: dict, lang: str = "zh") -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    header, rows = table(result, lang)
    n = len(result["group"])
    formats = ["@"] * n + ["0" if d == 0 else "0." + "0" * d for _, d in MEASURES.values()]
    book = Workbook()
    sheet = book.active
    sheet.title = "统计 statistics"

    def put(target, r: int, c: int, value, bold: bool = False):
        cell = target.cell(row=r, column=c, value=value)
        if isinstance(value, str):
            cell.data_type = "s"  # text, also when it starts with '=': never a formula
        if bold:
            cell.font = Font(bold=True)
        return cell

    for c, title in enumerate(header, 1):
        put(sheet, 1, c, title, bold=True)
    for r, row in enumerate(rows, 2):
        for c, value in enumerate(row, 1):
            put(sheet, r, c, value, bold=r == len(rows) + 1).number_format = formats[c - 1]
    readme = book.create_sheet("说明 README")
    for r, line in enumerate(readme_lines(result, lang), 1):
        put(readme, r, 1, line)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def to_text(result: dict, lang: str = "zh") -> str:
    """An aligned table for a terminal (CJK characters count two columns), the rule below it."""
    header, rows = _cells(result, lang)
    n = len(result["group"])
    widths = [max(_width(str(row[c])) for row in [header, *rows]) for c in range(len(header))]

    def line(row):
        return "  ".join(str(v) + " " * (w - _width(str(v))) if c < n else " " * (w - _width(str(v))) + str(v)
                         for c, (v, w) in enumerate(zip(row, widths))).rstrip()

    rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
    body = [line(header), rule, *[line(r) for r in rows[:-1]], rule, line(rows[-1])]
    return "\n".join([*body, "", *readme_lines(result, lang)[:3]]) + "\n"
