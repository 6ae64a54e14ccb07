"""The app's one way of answering an error (``init_app``): the public message to the client — JSON
for /api and the OGC API unless a page is asked for, else the error page — and the detail to the
log, tied by the request id. Nothing internal reaches the client."""
from __future__ import annotations

import logging

from flask import g, jsonify, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from geo.errors import GeoError

from . import ogc as ogc_routes

log = logging.getLogger("atlas")


def _wants_json() -> bool:
    if request.path == "/ogc" or request.path.startswith("/ogc/"):  # JSON unless a page is asked for
        return not ogc_routes.negotiate.wants_html(request.path, request.args.get("f"), request.headers.get("Accept"))
    return request.path.startswith("/api/")


def _error(status: int, code: str, detail: str, parameter: str | None = None, extra: dict | None = None):
    rid = g.get("request_id")
    if _wants_json():
        body = {"error": code, "detail": detail}
        if parameter is not None:  # a member named "" is named too
            body["parameter"] = parameter
        body.update(extra or {})  # e.g. the role a 401/403 needs
        if rid:
            body["request_id"] = rid
        return jsonify(body), status
    return render_template("error.html", status=status, error=code, detail=detail, request_id=rid,
                           home=url_for("page.index")), status


def handle_geo_error(exc: GeoError):
    if exc.status >= 500:
        log.error("%s id=%s: %s", exc.code, g.get("request_id", "-"), exc.internal or exc.detail)
    elif exc.internal:
        log.info("%s id=%s: %s", exc.code, g.get("request_id", "-"), exc.internal)
    return _error(exc.status, exc.code, exc.detail, exc.parameter, getattr(exc, "extra", None))


def handle_http_error(exc: HTTPException):
    detail = exc.description or exc.name
    if _wants_json() and exc.code == 404 and request.path.startswith("/api/"):
        detail = ("no such API address; the API is described by /api/openapi.json: /api/layers, /api/layers/<id>, /api/layers/<id>/rows, /api/export, "
                  "/api/exports, /api/features/<id>, /api/search?q=, /api/stats, /api/query, /api/overlay, "
                  "/api/indicators and /api/imports")
    allowed, headers = sorted(getattr(exc, "valid_methods", None) or ()), {}
    if exc.code == 405 and allowed:
        detail = (f"{request.method} is not taken at this address; it takes {', '.join(allowed)} "
                  "(the API's addresses and methods: /api/openapi.json)")
        headers["Allow"] = ", ".join(allowed)
    body, status = _error(exc.code, exc.name.lower().replace(" ", "_"), detail)
    return body, status, headers


def handle_unexpected(exc: Exception):
    log.exception("unexpected error id=%s on %s %s", g.get("request_id", "-"), request.method, request.path)
    return _error(500, "internal_error", "an unexpected error occurred; it has been logged with this request's id")


def init_app(app) -> None:
    app.register_error_handler(GeoError, handle_geo_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)
