"""The atlas under a sub-path, as nginx serves it (``location /atlas/`` with SCRIPT_NAME): every
script, style, API and export URL the page uses resolves under ``/atlas/`` in Chromium."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.wrappers import Response

from tests.browser.conftest import LiveServer, MapPage


@pytest.fixture(scope="module")
def atlas_server(app):
    # anything outside /atlas/ is a 404: a URL that forgot the prefix fails the page
    root = Response("outside the prefix", status=404)
    server = LiveServer(DispatcherMiddleware(root, {"/atlas": app}))
    yield server
    server.stop()


def test_every_url_of_the_page_resolves_under_the_prefix(browser, atlas_server):
    page = MapPage(browser, atlas_server)
    requested = []
    page.page.on("request", lambda req: requested.append(urlsplit(req.url).path))
    failed = []
    page.page.on("response", lambda resp: failed.append(resp.url) if resp.status >= 400 else None)
    try:
        page.open(path="/atlas/")
        assert page.drawn_ids("parks"), "the layers were fetched and drawn"
        page.page.fill(".atlas-search-input", "华夏")
        page.page.wait_for_selector(".atlas-result[data-feature-id='parks-huaxiacheng']")
        config = page.js("Atlas.config")
        assert config["api"] == "/atlas/api" and config["standalone"] == "/atlas/export/map.html"
        assert requested and all(p.startswith("/atlas/") for p in requested), requested
        assert not failed, failed
        assert any(p.startswith("/atlas/api/layers/") for p in requested)
        assert any(p.startswith("/atlas/vendor/leaflet/") for p in requested)
        assert any(p.startswith("/atlas/static/") for p in requested)
        page.watch.check()
    finally:
        page.close()
