"""Writes the position table of ``layers/data/README.md`` from the sources (run by hand after a
position changes: ``python -m layers.data.position_table``): each feature, its position source (kind
and reference), its accuracy and how far it may be off, as its notes say."""
from __future__ import annotations

import json
import re
from pathlib import Path

HERE = Path(__file__).parent
LAYERS = ("districts", "zones", "parks", "roads", "projects")
BEGIN, END = "<!-- position table: begin -->", "<!-- position table: end -->"
#: A distance as the English notes write it ("300 m", "1–2 km", "several km"), and the phrases that
#: say it is how far off the position may be (not how far it was moved, nor a distance to the shore).
_D = r"(?:about |over |perhaps )?(?:\d+(?:\.\d+)?(?:[–-]\d+(?:\.\d+)?)? ?k?m\b|several km|hundreds of metres to several km)"
OFF = re.compile(rf"(?:within |up to |differ by |may be |perhaps )({_D})|({_D})(?= off| from the point)")


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def rows() -> list[str]:
    out = ["| id | name | position source | accuracy | may be off by |", "|---|---|---|---|---|"]
    for layer in LAYERS:
        for f in json.loads((HERE / f"{layer}.geojson").read_text(encoding="utf-8"))["features"]:
            p = f["properties"]
            pos = p["position_source"]
            where = f"`{pos['kind']}`: {pos['ref']}"
            if pos["coordinates"] is not None:
                where += f" ({pos['crs']} {pos['coordinates'][0]}, {pos['coordinates'][1]})"
            note = p["position_note_en"]
            found = [a or b for a, b in OFF.findall(note)]
            if not found or "accuracy note" in note:
                found += [a or b for a, b in OFF.findall(p["accuracy_note_en"])]
            if p["accuracy"] == "surveyed":
                found = ["as the source (not stated)"]
            elif pos["kind"] == "osm" and (f["geometry"] or {}).get("type") not in (None, "Point"):
                found = ["as the OpenStreetMap outline (its precision is not stated)"]
            elif pos["kind"] == "official_boundary" and f["geometry"] is None:
                found = ["the official boundary; the zone's own extent is not published"]
            elif not found and ("placeholder" in p["accuracy_note_en"] or "not the real site" in p["accuracy_note_en"]):
                found = ["unknown: a placeholder, not the site"]
            off = "; ".join(dict.fromkeys(found)) or "unknown (see the notes)"
            if "if that POI was right" in note:
                off += " (if an unrecorded POI was right; unverified)"
            out.append(f"| `{p['id']}` | {_cell(p['name_zh'])} | {_cell(where)} | {p['accuracy']} | {_cell(off)} |")
    return out


def main() -> None:
    readme = HERE / "README.md"
    text = readme.read_text(encoding="utf-8")
    start, stop = text.index(BEGIN) + len(BEGIN), text.index(END)
    readme.write_text(text[:start] + "\n" + "\n".join(rows()) + "\n" + text[stop:], encoding="utf-8")


if __name__ == "__main__":
    main()
