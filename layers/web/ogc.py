"""The OGC API – Features at ``/ogc``: thin routes over ``layers.ogc`` (which never imports Flask).

Each route reads the store as the asker sees it (``auth.readable_store``: hidden layers are absent,
404 on direct access; ``Authorization: Bearer`` tokens work as everywhere), calls one core function
and writes its answer as JSON or as a page (``templates/ogc/``). Answers are tagged from the store's
version, the URL, the format and language chosen and the coding, so a client that sends the tag
back gets 304 while nothing changed (as ``/api`` does).
"""
from __future__ import annotations

from urllib.parse import quote, urlencode

import orjson
from flask import Blueprint, Response, current_app, g, render_template, request

from layers.api import http
from layers.api.params import COUNT_AT_MOST
from layers.ogc import core, items, negotiate, openapi
from layers.ogc.pages import words

from . import auth, version_pin

bp = Blueprint("ogc", __name__, url_prefix="/ogc")
_PATH_SAFE = "!$&'()*+,/:;=@%"  # what werkzeug leaves unquoted in a path
_VARY = ("Accept", "Accept-Language", "Accept-Encoding")
# a feature by id: read in the round trip of the store's version (PostGIS)
version_pin.reads_ahead("ogc.feature", lambda view: (view["layer_id"], core.item_query(view["feature_id"])))


def ask() -> core.Ask:
    cfg = current_app.config
    req = request._get_current_object()  # one look-up of the request, not one an attribute
    fmt = negotiate.output_format(req.args.get("f"), req.headers.get("Accept"))
    lang = negotiate.language(req.args.get("lang"), req.headers.get("Accept-Language"))
    return core.Ask(root(req) + "/ogc", fmt, lang, cfg["DEFAULT_LIMIT"], cfg["MAX_LIMIT"], COUNT_AT_MOST)


def root(req) -> str:
    """The server's root URL as the client asked for it (ProxyFix's host and prefix), a URI: its
    host as sent, not made an IRI as ``request.url_root`` makes it."""
    return f"{req.scheme}://{req.host}{quote(req.root_path.rstrip('/'), safe=_PATH_SAFE)}"


def _wants_schema() -> bool:
    return "application/schema+json" in (request.headers.get("Accept") or "")


@bp.before_request
def known():
    """Settle the format and language (a bad ``f`` or ``lang`` is a 400 here), and answer 304 when
    the client holds this very answer."""
    req = request._get_current_object()
    g.ogc = answer = ask()
    g.coding = coding = http.choose_coding(req.headers.get("Accept-Encoding"))
    variant = f"{req.path}?{req.query_string!r}\n{answer.fmt}\n{answer.lang}\n{_wants_schema()}"
    g.ogc_tag = http.etag(auth.readable_store().version(), variant, coding)
    if http.matches(req.headers.get("If-None-Match"), g.ogc_tag):
        return _tag(Response(status=304))
    return None


def _tag(response: Response) -> Response:
    headers = response.headers
    headers["ETag"] = g.ogc_tag
    headers["Cache-Control"] = "no-cache"
    headers["Content-Language"] = "zh-CN" if g.ogc.lang == "zh" else "en"
    http.vary(response, _VARY)
    return response


@bp.after_request
def tag(response: Response) -> Response:
    if response.status_code == 200 and "ogc_tag" in g:
        _tag(response)
    return response


def render(answer: core.Answer) -> Response:
    if g.ogc.fmt == "html" and answer.template:
        other = {**request.args.to_dict(), "f": "html", "lang": "en" if g.ogc.lang == "zh" else "zh"}
        html = render_template(f"ogc/{answer.template}", d=answer.data, t=words(g.ogc.lang), lang=g.ogc.lang,
                               base=g.ogc.base, home=root(request) + "/", switch=f"{request.base_url}?{urlencode(other)}")
        response = Response(html, status=answer.status, mimetype="text/html")
    else:
        body = answer.body if answer.body is not None else orjson.dumps(answer.data)
        response = Response(body, status=answer.status, content_type=answer.media_type)
    response.headers.update(answer.headers)
    return response


def args() -> dict:
    return request.args.to_dict()


@bp.get("")
@bp.get("/")
def landing():
    return render(core.landing(auth.readable_store(), args(), g.ogc))


@bp.get("/conformance")
def conformance():
    return render(core.conformance(args(), g.ogc))


@bp.get("/api")
def api():
    core.only(args(), ("f", "lang"))
    document = openapi.document(auth.readable_store(), g.ogc)
    if g.ogc.fmt == "html":
        return render(core.Answer(document, template="api.html"))
    return render(core.Answer(document, media_type=core.OPENAPI))


@bp.get("/collections")
def collections():
    return render(core.collections(auth.readable_store(), args(), g.ogc))


@bp.get("/collections/<layer_id>")
def collection(layer_id: str):
    return render(core.collection(auth.readable_store(), layer_id, args(), g.ogc))


@bp.get("/collections/<layer_id>/queryables")
def queryables(layer_id: str):
    return render(core.queryables(auth.readable_store(), layer_id, args(), g.ogc, schema_json=_wants_schema()))


@bp.get("/collections/<layer_id>/items")
def features(layer_id: str):
    return render(items.items(auth.readable_store(), layer_id, args(), g.ogc))


@bp.get("/collections/<layer_id>/items/<feature_id>")
def feature(layer_id: str, feature_id: str):
    return render(core.item(auth.readable_store(), layer_id, feature_id, args(), g.ogc))
