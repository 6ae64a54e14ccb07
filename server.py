"""Flask wiring of the Weihai Planning Atlas: an app factory and thin routes over ``layers.api`` and
``layers.map``, one error handler, request ids and one log line a request.

    flask --app server run                                              # development
    granian --interface wsgi --factory server:create_app                # production (make serve)
    gunicorn -k gthread 'server:create_app()'                           # or (make serve SERVER=gunicorn)
"""
from __future__ import annotations

import logging
import os
import re
import time

import click
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    request,
    send_file,
    send_from_directory,
    url_for,
)
from werkzeug.middleware.proxy_fix import ProxyFix

from layers.config import check, load_config, log_level
from geo.errors import GeoError, InvalidParameter
from geo.store import Store, open_store
from layers import basemaps, catalog, cli
from layers.shared.pg import AppDatabase
from layers.analysis import answer as stats_answer
from layers.api import export as exporter
from layers.api.jobs_pg import open_jobs
from layers.api import features as core
from layers.api import http
from layers.api import openapi
from layers.api import table
from layers.map import assets, standalone
from layers.map import page as mapview
from layers.web import auth, errors, headers, version_pin
from layers.web import edits as edit_routes
from layers.web import import_command
from layers.web import imports as import_routes
from layers.web import spatial as spatial_routes
from layers.web import indicators as indicator_routes
from layers.web import ogc as ogc_routes
from layers.web import store_commands
from layers.web import tiles as tile_routes
from layers.web import commands as account_commands

log = logging.getLogger("atlas")
access = logging.getLogger("atlas.access")
bp_api = Blueprint("api", __name__, url_prefix="/api")
bp_page = Blueprint("page", __name__)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def store() -> Store:
    """The store as the asker sees it: layers they may not read are absent (layers.web.auth)."""
    return auth.readable_store()


def jobs():
    return current_app.extensions["atlas_jobs"]


def _geojson(body: bytes) -> Response:
    return Response(body, mimetype="application/geo+json")


# -- the API -------------------------------------------------------------------------------------
@bp_api.get("/layers")
def layers():
    return jsonify(core.list_layers(store()))


@bp_api.get("/layers/<layer_id>")
def layer_features(layer_id: str):
    cfg = current_app.config
    return _geojson(core.layer_features(store(), layer_id, request.args,
                                        default_limit=cfg["DEFAULT_LIMIT"], max_limit=cfg["MAX_LIMIT"]))


@bp_api.get("/layers/<layer_id>/rows")
def layer_rows(layer_id: str):
    """The attribute table's page: rows without geometry, sorted and filtered, paged by keyset."""
    body = table.layer_rows(store(), layer_id, request.args, max_limit=current_app.config["MAX_LIMIT"])
    return Response(body, mimetype="application/json")


@bp_api.get("/features/<feature_id>")
def feature(feature_id: str):
    # the feature's version is its "version" member (the ETag is the answer's, for caching)
    return _geojson(core.feature(store(), feature_id, request.args)[0])


@bp_api.get("/search")
def search():
    return jsonify(core.search(store(), request.args))


@bp_api.get("/stats")
def stats():
    """Statistics that follow the filters (查询统计): JSON, or the same table as CSV or XLSX."""
    asked, result = stats_answer.answer(store(), request.args)
    if asked.format == "json":
        return jsonify(result)
    out = stats_answer.render(result, asked.format, asked.lang)
    return Response(out.body, content_type=out.media_type, headers={"Content-Disposition": out.content_disposition})


def _send_export(path_or_file, media_type: str, filename: str, disposition: str, size: int) -> Response:
    response = send_file(path_or_file, mimetype=media_type, as_attachment=True, download_name=filename, max_age=0)
    response.headers["Content-Disposition"] = disposition  # ASCII + filename*=UTF-8
    response.content_length = size
    return response


@bp_api.get("/export")
def export():
    result = exporter.export(store(), request.args, tmp_dir=jobs().folder,
                             max_features=current_app.config["EXPORT_DIRECT_MAX"])
    # detach(): the open file outlives its temporary folder, so nothing is left behind on disk
    return _send_export(result.detach(), result.media_type, result.filename, result.content_disposition, result.size)


@bp_api.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.0 document of this API, for the layers the asker may read (layers.api.openapi)."""
    return jsonify(openapi.document(layers=core.ordered_layers(store()), settings=current_app.config,
                                    server=f"{request.script_root}/", cookie=auth.COOKIE))


@bp_api.get("/export/options")
def export_options():
    return jsonify({**exporter.options(store()), "direct_max": current_app.config["EXPORT_DIRECT_MAX"]})


def _job(state: dict) -> dict:
    body = dict(state)
    body["url"] = url_for("api.export_job", job_id=state["id"])
    if state.get("download"):
        body["download"] = url_for("api.export_job_file", job_id=state["id"])
    return body


@bp_api.post("/exports")
def start_export_job():
    # a JSON body only: a cross-site form cannot send one without the browser asking first (CORS),
    # so no other site can make a visitor's browser start exports here
    args = request.get_json(silent=True) if request.is_json else None
    if not isinstance(args, dict) or not all(isinstance(v, (str, int, float)) for v in args.values()):
        raise InvalidParameter("POST /api/exports takes the export's parameters as a JSON object of strings, with "
                               "Content-Type: application/json, e.g. {\"layers\": \"parks,roads\", \"format\": \"gpkg\"}",
                               parameter="body", status=400 if request.is_json else 415)
    state = jobs().start(store(), {k: str(v) for k, v in args.items()})
    return jsonify(_job(state)), 202, {"Location": url_for("api.export_job", job_id=state["id"])}


@bp_api.get("/exports/<job_id>")
def export_job(job_id: str):
    return jsonify(_job(jobs().status(job_id)))


@bp_api.get("/exports/<job_id>/file")
def export_job_file(job_id: str):
    path, state = jobs().result(job_id)
    return _send_export(path, state["media_type"], state["filename"], state["content_disposition"], state["size"])


# -- the page ------------------------------------------------------------------------------------
@bp_page.get("/")
def index():
    cfg = current_app.config
    root = request.script_root
    page = mapview.build_page(core.list_layers(store())["layers"], request.args,
                              tianditu_key=cfg["TIANDITU_KEY"], max_limit=cfg["MAX_LIMIT"],
                              api=url_for("api.layers").rsplit("/layers", 1)[0], static=f"{root}/static/",
                              vendor=f"{root}/vendor/", standalone=url_for("page.standalone_map"),
                              session=url_for("auth.session"), ogc=url_for("ogc.landing"),
                              tiles_above=cfg["TILES_ABOVE"], tiles_version=current_app.extensions["atlas_store"].version(),
                              tiles=f"{root}/tiles/", internet_basemaps=bool(cfg["INTERNET_BASEMAPS"]),
                              extra_basemaps=[*basemaps.local(cfg["BASEMAP_DIR"] or None, f"{root}/basemap/"),
                                              *basemaps.parse(cfg["BASEMAPS"])])
    refuse_outside_links(page.html, page.tile_urls)
    g.tile_urls = page.tile_urls  # the Content-Security-Policy lets the basemaps' tiles through
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
        raise GeoError("the map page could not be made; the operator has been told (see the server log)",
                       internal=f"the page links to outside host(s) {', '.join(hosts)}; every script, style "
                                "and image must come from this server (XStatic packages under /vendor/ or static/)")


@bp_page.get("/vendor/<package>/<path:filename>")
def vendor(package: str, filename: str):
    """Files of the whitelisted XStatic packages (Leaflet): the page's libraries, served locally."""
    pkg = assets.package(package)
    if pkg is None:
        abort(404, description=f"no vendored package {package!r}; served: {', '.join(assets.PACKAGES)}")
    return send_from_directory(pkg.base_dir, filename, max_age=365 * 24 * 3600)


# -- around every request: id, timing, compression, one log line -----------------------------------
#: Media types worth compressing (the page's layers are fetched as GeoJSON).
COMPRESSIBLE = ("application/json", "application/geo+json")
#: GET answers that depend only on the URL and the store: tagged, revalidated, cached.
CACHEABLE = ("api.layers", "api.openapi_document", "api.layer_features", "api.layer_rows", "api.feature", "api.search", "api.export_options")


def compress(response: Response) -> Response:
    """JSON answers over 1 KB in the coding the client prefers of zstd and gzip (layers.api.http)."""
    coding = g.get("coding", None) if "coding" in g else http.choose_coding(request.headers.get("Accept-Encoding"))
    if (coding is None or response.direct_passthrough or response.status_code != 200
            or response.mimetype not in COMPRESSIBLE or "Content-Encoding" in response.headers):
        return response
    http.vary(response, ("Accept-Encoding",))
    data = response.get_data()
    if len(data) < http.MIN_SIZE:
        return response
    response.set_data(http.encode(data, coding))
    response.headers["Content-Encoding"] = coding
    return response


def _tagged(response: Response, tag: str) -> Response:
    response.headers["ETag"] = tag
    response.headers["Cache-Control"] = "no-cache"  # keep it, but ask again: 304 when unchanged
    http.vary(response, ("Accept-Encoding",))
    return response


def serve_known() -> Response | None:
    """A repeated view: 304 when the client has it, the cached answer when this worker has it."""
    if request.method != "GET" or request.endpoint not in CACHEABLE:
        return None
    g.coding = http.choose_coding(request.headers.get("Accept-Encoding"))
    g.etag = http.etag(store().version(), request.full_path, g.coding)
    if http.matches(request.headers.get("If-None-Match"), g.etag):
        return _tagged(Response(status=304), g.etag)
    answer = cache().get(g.etag) if cache() is not None else None
    if answer is None:
        return None
    g.cached = True
    response = Response(answer.body, mimetype=answer.mimetype)
    if answer.coding:
        response.headers["Content-Encoding"] = answer.coding
    return _tagged(response, g.etag)


def remember(response: Response) -> Response:
    """Tag a fresh cacheable answer and keep it for the next identical request."""
    tag = g.get("etag")
    if tag is None or g.get("cached") or response.status_code != 200 or response.direct_passthrough:
        return response
    if cache() is not None:
        cache().put(tag, http.Answer(response.get_data(), response.mimetype, response.headers.get("Content-Encoding")))
    return _tagged(response, tag)


def cache() -> http.AnswerCache | None:
    return current_app.extensions["atlas_cache"]


def begin_request() -> None:
    given = request.headers.get("X-Request-Id", "")
    g.request_id = given if given and _REQUEST_ID.match(given) else os.urandom(8).hex()
    g.started = time.perf_counter()


def end_request(response: Response) -> Response:
    response = remember(compress(response))
    rid = g.get("request_id", "-")
    response.headers["X-Request-Id"] = rid
    if not access.isEnabledFor(logging.INFO):  # the line's parts (the full path) cost a request's tenth
        return response
    ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
    access.info("%s %s %s %.1fms id=%s from %s", request.method, request.full_path.rstrip("?"), response.status_code,
                ms, rid, request.remote_addr or "-")
    return response


# -- the app -------------------------------------------------------------------------------------
class Atlas(Flask):
    """Flask, with each hook's and view's async check made once (Flask asks ``inspect`` for every
    hook of every request: fifteen calls a request, a tenth of a small read's own time)."""

    SYNC_KEPT = 4096  # the app's hooks, views and error handlers: a few hundred at most

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sync: dict = {}

    def ensure_sync(self, func):
        try:
            return self._sync[func]
        except (KeyError, TypeError):  # TypeError: a callable that cannot be a key is asked each time
            made = super().ensure_sync(func)
            if len(self._sync) < self.SYNC_KEPT:
                try:
                    self._sync[func] = made
                except TypeError:
                    pass
            return made


def configure_logging(level: int) -> None:
    """Our loggers at ``level``, to stderr unless the host (gunicorn, pytest) has set up logging."""
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in ("atlas", "geo", "layers"):
        logging.getLogger(name).setLevel(level)


def create_app(config: dict | None = None) -> Flask:
    """The atlas application. ``config`` overrides the ``ATLAS_*`` environment (tests pass a store).
    A bad setting stops here with a message naming the variable."""
    settings = load_config()
    settings.update(config or {})
    check(settings)
    configure_logging(log_level(settings))
    app = Atlas(__name__, static_folder=str(assets.STATIC_DIR), template_folder=str(assets.TEMPLATES_DIR))
    app.config.update(settings)
    if app.config.get("MAX_CONTENT_LENGTH") is None:  # a request body: at most an import's file and its form
        app.config["MAX_CONTENT_LENGTH"] = (settings["IMPORT_MAX_MB"] << 20) + import_routes.MULTIPART_SLACK
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    if settings["PROXY_FIX"]:
        n = settings["PROXY_FIX"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_prefix=n)
    atlas_store = open_store(settings["STORE"], key=catalog.KEY)
    atlas_store.cleanup()
    app.extensions["atlas_store"] = atlas_store
    # a PostGIS store: what the app's processes share lives in its database too (layers.shared)
    app.extensions["atlas_shared"] = AppDatabase.of_store(atlas_store)
    app.extensions["atlas_jobs"] = open_jobs(atlas_store, settings, app.extensions["atlas_shared"])
    app.extensions["atlas_cache"] = http.AnswerCache(settings["CACHE_MB"] << 20) if settings["CACHE_MB"] else None
    app.register_blueprint(bp_api)
    app.register_blueprint(bp_page)
    app.register_blueprint(edit_routes.bp)
    app.register_blueprint(import_routes.bp)  # after the store: its uploads folder is beside it
    app.register_blueprint(spatial_routes.bp)  # POST /api/query, GET /api/overlay, flask query/overlay
    app.register_blueprint(indicator_routes.bp)  # /api/indicators and flask indicator
    app.register_blueprint(ogc_routes.bp)  # /ogc: OGC API - Features
    tile_routes.init_app(app)  # /tiles/…, /api/layers/<id>/at, /basemap/…
    version_pin.init_app(app)  # the store's version read once a request
    app.before_request(begin_request)
    auth.init_app(app)  # who asks, CSRF, the login limit: before the answer cache is asked
    app.before_request(serve_known)
    app.after_request(end_request)
    headers.init_app(app)  # registered last, so it runs first: CSP hashes of the uncompressed page
    errors.init_app(app)

    @app.cli.command("export", context_settings={"ignore_unknown_options": True, "help_option_names": []})
    @click.argument("argv", nargs=-1, type=click.UNPROCESSED)
    def export_command(argv):
        """Export layers to a file (--help for the options)."""
        raise SystemExit(cli.export_main(["--store", app.config["STORE"], *argv]))

    @app.cli.command("stats", context_settings={"ignore_unknown_options": True, "help_option_names": []})
    @click.argument("argv", nargs=-1, type=click.UNPROCESSED)
    def stats_command(argv):
        """Statistics of a layer that follow the filters (--help for the options)."""
        raise SystemExit(cli.stats_main(["--store", app.config["STORE"], *argv]))

    app.cli.add_command(account_commands.users)
    app.cli.add_command(account_commands.audit)
    app.cli.add_command(store_commands.store)
    app.cli.add_command(import_command.import_file)

    return app


if __name__ == "__main__":
    create_app().run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "5000")))
