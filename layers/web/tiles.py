"""Thin routes of the map tiles (``layers.tiles``) and the local basemaps (``layers.basemaps``):

- ``GET /tiles/<layer>/<z>/<x>/<y>.png|.mvt``: a layer's tile under the page's filters (district,
  category, status, as_of), for whoever may read the layer (else 404, as for its features);
- ``GET /api/layers/<layer>/at?lon=&lat=&zoom=``: the feature under a click on a tiled layer;
- ``GET /basemap/<name>/<z>/<x>/<y>.<ext>``: a tile of a local MBTiles basemap (ATLAS_BASEMAP_DIR).

Tiles carry a strong ETag of the store's revision and the URL (If-None-Match: 304 without drawing
anything) and a Cache-Control a reverse proxy honours: ``public`` for what anonymous visitors may
read too, else ``private``; ``max-age=0, must-revalidate`` so an edit shows at once, unless the URL
names the revision it was made for (``v=`` the store's version: then it is kept a day)."""
from __future__ import annotations

import threading

from flask import Blueprint, Response, current_app, request

from layers import basemaps
from layers import tiles as core
from layers.api import http

from . import auth

bp = Blueprint("tiles", __name__)

#: A day: a tile URL naming the store's revision never changes.
PINNED_MAX_AGE = 86_400


def service() -> core.Tiles:
    return current_app.extensions["atlas_tiles"]


def _cached(response: Response, tag: str, pinned: bool) -> Response:
    response.headers["ETag"] = tag
    scope = "public" if auth.principal() is None else "private"
    age = f"max-age={PINNED_MAX_AGE}, immutable" if pinned else "max-age=0, must-revalidate"
    response.headers["Cache-Control"] = f"{scope}, {age}"
    http.vary(response, ("Cookie", "Authorization"))
    return response


@bp.get("/tiles/<layer>/<int:z>/<int:x>/<int:y>.<fmt>")
def tile(layer: str, z: int, x: int, y: int, fmt: str):
    store = auth.readable_store()
    version = store.version()
    tag = http.etag(version, request.full_path, None)
    pinned = request.args.get("v") == current_app.extensions["atlas_store"].version()
    if http.matches(request.headers.get("If-None-Match"), tag):
        return _cached(Response(status=304), tag, pinned)
    found = service().tile(store, layer, z, x, y, fmt, request.args)
    return _cached(Response(found.body, mimetype=found.media_type), tag, pinned)


@bp.get("/api/layers/<layer_id>/at")
def at(layer_id: str):
    body = service().at(auth.readable_store(), layer_id, request.args)
    return Response(body, mimetype="application/geo+json")


@bp.get("/basemap/<name>/<int:z>/<int:x>/<int:y>.<ext>")
def basemap(name: str, z: int, x: int, y: int, ext: str):
    found = basemaps.tile(current_app.config["BASEMAP_DIR"] or None, name, z, x, y, ext)
    if found is None:
        return Response(status=204, headers={"Cache-Control": "public, max-age=3600"})
    data, media_type = found
    response = Response(data, mimetype=media_type)
    response.headers["Cache-Control"] = "public, max-age=3600"
    response.add_etag()
    return response.make_conditional(request)


def init_app(app) -> None:
    """The tile service over the app's store, and the routes. A served app (not under test)
    builds the overviews of its tiled layers in the background, so the first view is quick."""
    tiles = app.extensions["atlas_tiles"] = core.Tiles(app.extensions["atlas_store"],
                                                       cache_bytes=app.config["TILE_CACHE_MB"] << 20)
    app.register_blueprint(bp)
    if app.config["TILES_ABOVE"] and not app.config.get("TESTING"):
        threading.Thread(target=tiles.warm, args=(app.config["TILES_ABOVE"],), name="atlas-tiles-warm", daemon=True).start()
