"""Spatial queries and overlays over HTTP and the command line (分析评价): thin glue over
``layers.analysis.spatial_answer``. Registered by ``create_app`` with one line.

``POST /api/query`` changes nothing, yet as every POST with the session cookie it must carry the
CSRF token (header ``X-CSRFToken``, from ``GET /api/session``; ``layers.web.auth``); a bearer token
or no cookie needs none. Its body is JSON only (``Content-Type: application/json``)."""
from __future__ import annotations

import click
from flask import Blueprint, Response, current_app, jsonify, request

from geo.errors import InvalidParameter
from layers import cli
from layers.analysis import spatial_answer as answer

from . import auth

bp = Blueprint("spatial", __name__, url_prefix="/api", cli_group=None)


def _file(body: bytes, fmt: str, name: str) -> Response:
    return Response(body, content_type=answer.FORMATS[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.post("/query")
def query():
    """Every feature of the chosen layers in a drawn polygon, or within a distance of a feature."""
    body = request.get_json(silent=True) if request.is_json else None
    if not isinstance(body, dict):
        raise InvalidParameter("POST /api/query takes a JSON object with Content-Type: application/json, e.g. "
                               '{"layers": ["projects"], "feature": {"layer": "zones", "id": "…"}, "distance_m": 500}',
                               parameter="body", status=400 if request.is_json else 415)
    fmt, lang, result = answer.query(auth.readable_store(), body)
    if fmt == "json":
        return jsonify(result)
    name = answer.filename("query", fmt, *result["layers"])
    if fmt == "geojson":
        return _file(answer.query_geojson(result), fmt, name)
    return _file(answer.query_csv(result, lang), fmt, name)


@bp.get("/overlay")
def overlay():
    """Which left features lie in which right areas, the area covered, the features outside."""
    fmt, lang, table, result = answer.overlay_request(auth.readable_store(), request.args,
                                                      at_most=current_app.config["OVERLAY_MAX"])
    if fmt == "json":
        return jsonify(result)
    sides = (result["left"]["layer"], result["right"]["layer"])
    if fmt == "geojson":
        return _file(answer.overlay_geojson(result), fmt, answer.filename("overlay", fmt, *sides))
    return _file(answer.overlay_csv(result, table, lang), fmt, answer.filename("overlay", fmt, *sides, table))


def _passthrough(name: str, main, help_text: str):
    @bp.cli.command(name, context_settings={"ignore_unknown_options": True, "help_option_names": []}, help=help_text)
    @click.argument("argv", nargs=-1, type=click.UNPROCESSED)
    def command(argv):
        raise SystemExit(main(["--store", current_app.config["STORE"], *argv]))
    return command


_passthrough("query", cli.query_main, "Features of layers in a polygon or near a feature (--help for the options).")
_passthrough("overlay", cli.overlay_main, "Overlay two layers: pairs, covered areas, outside (--help for the options).")
