"""Flask wiring of the Weihai Planning Atlas: an app factory and thin routes over ``layers.api``.

    flask --app server run            # development
    gunicorn -w 2 'server:create_app()'  # production
"""
from __future__ import annotations

import gzip
import logging
import os
import sys
from pathlib import Path

from flask import (Blueprint, Flask, Response, abort, current_app, jsonify, render_template, request,
                   send_file, send_from_directory)
from werkzeug.exceptions import HTTPException

from geo.config import load_config
from geo.errors import GeoError
from geo.store import Store, open_store
from layers import catalog
from layers.api import export as exporter
from layers.api import features as core
from layers.map import assets, standalone
from layers.map import page as mapview

log = logging.getLogger("atlas")


def _asset_folders() -> dict[str, str]:
    """Where the page's ``static/`` and ``templates/`` are: the checkout's folders beside this file
    when they are there, else the ones a wheel installed under ``<sys.prefix>/share/weihai-atlas/``."""
    here = Path(__file__).resolve().parent
    base = here if (here / "static" / "atlas.js").is_file() else Path(sys.prefix) / "share" / "weihai-atlas"
    return {"static_folder": str(base / "static"), "template_folder": str(base / "templates")}


bp_api = Blueprint("api", __name__, url_prefix="/api")
bp_page = Blueprint("page", __name__)


def store() -> Store:
    return current_app.extensions["atlas_store"]


def _geojson(text: str) -> Response:
    return Response(text, mimetype="application/geo+json")


@bp_api.get("/layers")
def layers():
    return jsonify(core.list_layers(store()))


@bp_api.get("/layers/<layer_id>")
def layer_features(layer_id: str):
    cfg = current_app.config
    return _geojson(core.layer_features(store(), layer_id, request.args,
                                        default_limit=cfg["DEFAULT_LIMIT"], max_limit=cfg["MAX_LIMIT"]))


@bp_api.get("/features/<feature_id>")
def feature(feature_id: str):
    return jsonify(core.feature(store(), feature_id))


@bp_api.get("/search")
def search():
    return jsonify(core.search(store(), request.args))


@bp_api.get("/export")
def export():
    result = exporter.export(store(), request.args)
    # detach(): the open file outlives its temporary folder, so nothing is left behind on disk
    response = send_file(result.detach(), mimetype=result.media_type, as_attachment=True,
                         download_name=result.filename, max_age=0)
    response.headers["Content-Disposition"] = result.content_disposition  # ASCII + filename*=UTF-8
    response.content_length = result.size
    return response


@bp_api.get("/export/options")
def export_options():
    return jsonify(exporter.options(store()))


@bp_page.get("/")
def index():
    cfg = current_app.config
    page = mapview.build_page(core.list_layers(store())["layers"], request.args,
                              tianditu_key=cfg["TIANDITU_KEY"], max_limit=cfg["MAX_LIMIT"])
    refuse_outside_links(page.html, page.tile_urls)
    return Response(page.html, mimetype="text/html")


@bp_page.get("/export/map.html")
def standalone_map():
    """The standalone map of a view: one HTML file, everything inside, for offline use."""
    result = standalone.build(store(), request.args,
                              max_features=current_app.config["STANDALONE_MAX_FEATURES"])
    refuse_outside_links(result.html)
    response = Response(result.html, mimetype="text/html")
    response.headers["Content-Disposition"] = result.content_disposition
    return response


def refuse_outside_links(html: str, tile_urls: tuple[str, ...] = ()) -> None:
    """The guard: a page that would load or link anything from another host is not served."""
    hosts = assets.outside_hosts(html, allowed_urls=tile_urls)
    if hosts:
        raise GeoError(f"refusing to serve the map page: it links to outside host(s) {', '.join(hosts)}; "
                       "every script, style and image must come from this server (the XStatic packages "
                       "under /vendor/ or static/)")


@bp_page.get("/vendor/<package>/<path:filename>")
def vendor(package: str, filename: str):
    """Files of the whitelisted XStatic packages (Leaflet): the page's libraries, served locally."""
    pkg = assets.package(package)
    if pkg is None:
        abort(404, description=f"no vendored package {package!r}; served: {', '.join(assets.PACKAGES)}")
    return send_from_directory(pkg.base_dir, filename, max_age=365 * 24 * 3600)


#: Media types worth compressing (the page's layers are fetched as GeoJSON).
COMPRESSIBLE = ("application/json", "application/geo+json")


def compress(response: Response) -> Response:
    """gzip JSON answers over 1 KB for clients that accept it (GeoJSON shrinks 5-10x)."""
    if (response.direct_passthrough or response.status_code != 200
            or response.mimetype not in COMPRESSIBLE or "Content-Encoding" in response.headers
            or "gzip" not in request.headers.get("Accept-Encoding", "")):
        return response
    data = response.get_data()
    if len(data) < 1024:
        return response
    response.set_data(gzip.compress(data, compresslevel=5))
    response.headers["Content-Encoding"] = "gzip"
    response.vary.add("Accept-Encoding")
    return response


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def handle_geo_error(exc: GeoError):
    if exc.status >= 500:
        log.error("%s: %s", exc.code, exc.detail)
    if _wants_json():
        return jsonify(exc.to_dict()), exc.status
    return render_template("error.html", status=exc.status, error=exc.code, detail=exc.detail), exc.status


def handle_http_error(exc: HTTPException):
    if _wants_json():
        detail = exc.description or exc.name
        if exc.code == 404:
            detail = ("no such API address; the API is /api/layers, /api/layers/<id>, /api/export, "
                      "/api/features/<id> and /api/search?q=")
        return jsonify({"error": exc.name.lower().replace(" ", "_"), "detail": detail}), exc.code
    return render_template("error.html", status=exc.code, error=exc.name, detail=exc.description), exc.code


def handle_unexpected(exc: Exception):
    log.exception("unexpected error")
    body = {"error": "internal_error", "detail": "an unexpected error occurred; it has been logged"}
    if _wants_json():
        return jsonify(body), 500
    return render_template("error.html", status=500, error=body["error"], detail=body["detail"]), 500


def create_app(config: dict | None = None) -> Flask:
    """The atlas application. ``config`` overrides the ``ATLAS_*`` environment (tests pass a store)."""
    app = Flask(__name__, **_asset_folders())
    app.config.update(load_config())
    app.config.update(config or {})
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.extensions["atlas_store"] = open_store(app.config["STORE"], key=catalog.KEY)
    app.register_blueprint(bp_api)
    app.register_blueprint(bp_page)
    app.after_request(compress)
    app.register_error_handler(GeoError, handle_geo_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)
    return app


if __name__ == "__main__":
    create_app().run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "5000")))
