"""The table of an indicator's answer (``indicators.compute``): a row a district, then the city;
CSV (UTF-8 with a BOM, a cell starting with = + - @ prefixed so it is never a formula) and aligned
text for a terminal. No Flask here."""
from __future__ import annotations

import unicodedata

from .indicators import MEASURES
from .tables import csv_bytes


def table(result: dict, lang: str = "zh") -> tuple[list[str], list[list]]:
    """(header, rows): district, value, level, the kind's measures, per-status columns (land
    figures), and with a comparison the value then and the change; the city last."""
    kind = result["indicator"]["kind"]
    unit = result["indicator"]["unit"]
    zh = lang == "zh"
    header = ["行政区" if zh else "District", f"{result['indicator']['title'][lang]}({unit})",
              "预警" if zh else "Level"]
    header += [t[lang] for _, t, _ in MEASURES[kind]]
    statuses: list = []
    for r in [*result["districts"], result["city"]]:
        for b in r.get("breakdown", ()):
            if b["status"] not in [s for s, _ in statuses]:
                statuses.append((b["status"], b["label"]))
    for _, lab in statuses:
        header += [f"{lab[lang]} " + ("数量" if zh else "count"), f"{lab[lang]} " + ("面积(亩)" if zh else "area (mu)"),
                   f"{lab[lang]} " + ("占比(%)" if zh else "share (%)")]
    if result["compare"]:
        header += [("对比值 " if zh else "Value at ") + result["compare"], "变化" if zh else "Change"]
    rows = []
    for r in [*result["districts"], result["city"]]:
        row = [r["label"][lang], "" if r["value"] is None else r["value"], r["level_label"][lang]]
        row += ["" if r["measures"].get(n) is None else r["measures"][n] for n, _, _ in MEASURES[kind]]
        parts = {b["status"]: b for b in r.get("breakdown", ())}
        for s, _ in statuses:
            b = parts.get(s)
            row += [b["count"], b["area_mu"], b["share_pct"]] if b else [0, 0.0, 0.0]
        if result["compare"]:
            then = (r.get("compare") or {}).get("value")
            row += ["" if then is None else then, "" if r.get("change") is None else r["change"]]
        rows.append(row)
    return header, rows


def to_csv(result: dict, lang: str = "zh", *, bom: bool = True) -> bytes:
    header, rows = table(result, lang)
    return csv_bytes(header, rows, bom=bom)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def to_text(result: dict, lang: str = "zh") -> str:
    header, rows = table(result, lang)
    cells = [header, *[[str(c) for c in row] for row in rows]]
    widths = [max(_width(row[c]) for row in cells) for c in range(len(header))]
    lines = ["  ".join(v + " " * (w - _width(v)) for v, w in zip(row, widths)).rstrip() for row in cells]
    rule = "-" * len(lines[0])
    return "\n".join([lines[0], rule, *lines[1:-1], rule, lines[-1], "", result["base"][lang],
                      *[n[lang] for n in result["notes"]]]) + "\n"
