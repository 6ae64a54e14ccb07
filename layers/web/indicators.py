"""``GET /api/indicators``, ``GET /api/indicators/<id>`` and ``flask --app server indicator``: the
Flask glue of ``layers.analysis.indicators`` (the registry, and one computation per request over the
store as the asker sees it)."""
from __future__ import annotations

import json
import sys
from urllib.parse import quote

import click
from flask import Blueprint, Response, current_app, jsonify, request

from geo.errors import GeoError, InvalidParameter
from geo.store import open_store
from layers import catalog
from layers.analysis import indicator_tables as tables
from layers.analysis import indicators as core

from . import auth

bp = Blueprint("indicators", __name__, url_prefix="/api", cli_group=None)


def _checked(args) -> tuple[str, str]:
    fmt = args.get("format") or "json"
    if fmt not in core.FORMATS:
        raise InvalidParameter(f"format must be one of {', '.join(core.FORMATS)}, got {fmt!r}", parameter="format")
    lang = args.get("lang") or "zh"
    if lang not in core.LANGS:
        raise InvalidParameter(f"lang must be one of {', '.join(core.LANGS)}, got {lang!r}", parameter="lang")
    return fmt, lang


@bp.get("/indicators")
def listing():
    return jsonify(core.listing())


@bp.get("/indicators/<indicator_id>")
def indicator(indicator_id: str):
    core.indicator(indicator_id)  # 404 before the parameters are judged
    fmt, lang = _checked(request.args)
    result = core.compute(auth.readable_store(), indicator_id, request.args.to_dict())
    if fmt == "json":
        return jsonify(result)
    stem = indicator_id + (f"_{result['as_of'][:10]}" if result["as_of"] else "")
    name = f"威海规划图_指标_{result['indicator']['title']['zh']}_{stem}.csv"
    return Response(tables.to_csv(result, lang), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="weihai-atlas_indicator_{stem}.csv"; '
                                                    f"filename*=UTF-8''{quote(name, safe='')}"})


@bp.cli.command("indicator")
@click.argument("indicator_id")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="a parameter of the indicator (repeatable)")
@click.option("--as-of", "as_of", default=None, help="the time to compute at (ISO 8601; default: now)")
@click.option("--compare", default=None, help="a second time: its values beside, and the change")
@click.option("--format", "fmt", type=click.Choice(("table", "csv", "json")), default="table")
@click.option("--lang", type=click.Choice(core.LANGS), default="zh")
@click.option("--store", "store_path", default=None, help="the store (default: the app's)")
def indicator_command(indicator_id, params, as_of, compare, fmt, lang, store_path):
    """Compute a planning indicator per district and for the city (the ids: /api/indicators)."""
    args: dict = {}
    for item in params:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            click.echo(f"indicator failed: --param takes NAME=VALUE (e.g. radius_large=500), got {item!r}", err=True)
            sys.exit(2)
        args[name.strip()] = value
    if as_of:
        args["as_of"] = as_of
    if compare:
        args["compare"] = compare
    store = (open_store(store_path, key=catalog.KEY) if store_path else current_app.extensions["atlas_store"])
    try:
        result = core.compute(store, indicator_id, args)
    except GeoError as exc:
        click.echo(f"indicator failed: {exc.detail}", err=True)
        sys.exit(2 if exc.status < 500 else 1)
    if fmt == "json":
        sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
    elif fmt == "csv":
        sys.stdout.write(tables.to_csv(result, lang, bom=False).decode("utf-8"))
    else:
        sys.stdout.write(tables.to_text(result, lang))
