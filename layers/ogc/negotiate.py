"""What the client wants back: JSON or HTML (``f=json|html``, else the ``Accept`` header: GDAL and
QGIS send ``Accept: application/geo+json, application/json`` and no ``f``; OWSLib sends
``*/*``, which is JSON; a browser lists ``text/html`` first), and the language of the pages and
titles (``lang=zh|en``, else ``Accept-Language``; Chinese first)."""
from __future__ import annotations

from geo.errors import InvalidParameter

LANGS = ("zh", "en")
FORMATS = {"json": "json", "geojson": "json", "html": "html"}


def _accepted(header: str | None) -> list[tuple[str, float, int]]:
    out = []
    for i, item in enumerate((header or "").split(",")):
        name, _, params = item.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if name.strip():
            out.append((name.strip().lower(), q, i))
    return out


def output_format(f: str | None, accept: str | None) -> str:
    """"json" or "html"."""
    if f is not None and f != "":
        if f.lower() not in FORMATS:
            raise InvalidParameter(f"f must be json or html, got {f!r}", parameter="f")
        return FORMATS[f.lower()]
    best_html = best_json = 0.0
    for name, q, _ in _accepted(accept):
        if name in ("text/html", "application/xhtml+xml"):
            best_html = max(best_html, q)
        elif "json" in name or name in ("*/*", "application/*"):
            best_json = max(best_json, q)
    return "html" if best_html > best_json else "json"


def language(lang: str | None, accept_language: str | None) -> str:
    if lang:
        code = lang.strip().lower().split("-")[0]
        if code not in LANGS:
            raise InvalidParameter(f"lang must be zh or en, got {lang!r}", parameter="lang")
        return code
    ranked = sorted(_accepted(accept_language), key=lambda t: (-t[1], t[2]))
    for name, q, _ in ranked:
        code = name.split("-")[0]
        if q > 0 and code in LANGS:
            return code
    return "zh"


def wants_html(path: str, f: str | None, accept: str | None) -> bool:
    """Whether an answer (an error too) under /ogc should be a page."""
    try:
        return output_format(f, accept) == "html"
    except InvalidParameter:
        return False
