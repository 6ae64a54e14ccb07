"""``GET /api/stats`` and ``flask --app server stats`` as one plain function over a store and the
request's parameters (``answer``), and the file of a CSV or XLSX answer (``render``). No Flask."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from geo.errors import InvalidParameter
from geo.store import Store

from . import tables
from .stats import FILTER_PARAMS, statistics

DEFAULT_GROUP = "district,status"
FORMATS = {"json": "application/json", "csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
#: Every parameter of /api/stats; anything else is refused so that a typo is not silently ignored.
PARAMS = ("layer", "group", "by", "format", "lang", *FILTER_PARAMS)


@dataclass(frozen=True)
class Request:
    layer: str
    group: str
    by: str
    format: str
    lang: str
    filters: dict


def parse(store: Store, args: Mapping) -> Request:
    """The request's parameters checked: unknown ones, the layer (NotFound for one the asker may not
    read, before anything else is judged), format and lang; group and by are judged by
    ``statistics``."""
    unknown = sorted(set(args) - set(PARAMS))
    if unknown:
        raise InvalidParameter(f"unknown parameter {unknown[0]!r}; accepted: {', '.join(PARAMS)}",
                               parameter=unknown[0])
    layer = (args.get("layer") or "").strip()
    if not layer:
        raise InvalidParameter("layer is required: the id of one layer, e.g. layer=projects (the ids are listed "
                               "in /api/layers)", parameter="layer")
    store.fields(layer)  # NotFound
    fmt = args.get("format") or "json"
    if fmt not in FORMATS:
        raise InvalidParameter(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}", parameter="format")
    lang = args.get("lang") or "zh"
    if lang not in tables.LANGS:
        raise InvalidParameter(f"lang must be one of {', '.join(tables.LANGS)}, got {lang!r}", parameter="lang")
    return Request(layer, args.get("group") or DEFAULT_GROUP, args.get("by") or "field", fmt, lang,
                   {k: args[k] for k in FILTER_PARAMS if k in args})


def answer(store: Store, args: Mapping) -> tuple[Request, dict]:
    """The checked request and the statistics it asks for."""
    request = parse(store, args)
    return request, statistics(store, request.layer, request.filters, group=request.group, by=request.by)


@dataclass(frozen=True)
class Rendered:
    body: bytes
    media_type: str
    filename: str       # ASCII
    filename_utf8: str  # with the layer's title, for filename*=

    @property
    def content_disposition(self) -> str:
        return f'attachment; filename="{self.filename}"; filename*=UTF-8\'\'{quote(self.filename_utf8, safe="")}'


def render(result: dict, fmt: str, lang: str = "zh") -> Rendered:
    """The CSV or XLSX file of a statistics answer."""
    if fmt not in ("csv", "xlsx"):
        raise InvalidParameter(f"a statistics file is csv or xlsx, got {fmt!r}", parameter="format")
    body = tables.to_csv(result, lang) if fmt == "csv" else tables.to_xlsx(result, lang)
    stem = f"{result['layer']}_{'-'.join(result['group'])}_by-{result['by']}"
    return Rendered(body, FORMATS[fmt], f"weihai-atlas_stats_{stem}.{fmt}",
                    f"威海规划图_统计_{result['title']['zh']}_{stem}.{fmt}")
