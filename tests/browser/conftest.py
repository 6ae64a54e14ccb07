"""Browser fixtures: the real app on a live server (127.0.0.1, a free port, in a thread) over the
small test atlas, and Debian's Chromium driven by Playwright.

Every page a test opens is watched: a console error, an uncaught exception, a dialog (``alert``) or
a request to any host but the live server fails the test. Other requests are aborted before they
leave the machine, so a test can never reach the network. A refusal a test provokes on purpose (a
wrong password, a write the server must refuse) is declared with ``watch.expect(status, path)``: only
that answer's console line is let through, and it must have happened.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from bench.synthetic import road_lines
from geo.store import open_store
from layers import build as builder
from server import create_app
from tests.conftest import write_sources

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
#: Features of the large layer: above the page's whole-layer limit, so it is fetched by view.
LARGE = 12_000


class LiveServer:
    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.host = f"127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.thread.join(5)
        self.server.server_close()


#: the password of every user the browser tests make
PASSWORD = "Weihai-Plan-2026!safe"


def add_user(app, name: str, role: str, grants: list[str] | None = None) -> None:
    """A user made by the command line of the contract (``users add NAME --role R``, ``users grant``)."""
    runner = app.test_cli_runner()
    done = runner.invoke(args=["users", "add", name, "--role", role, "--password-stdin"], input=f"{PASSWORD}\n")
    assert done.exit_code == 0, done.output
    if grants:
        granted = runner.invoke(args=["users", "grant", name, ",".join(grants)])
        assert granted.exit_code == 0, granted.output


def atlas_server(folder: Path, users=()) -> LiveServer:
    """The small atlas built in ``folder``, served with accounts for ``users`` ((name, role[, grants]));
    the server's ``app`` is at hand (call ``stop()`` when done)."""
    store = open_store(folder / "atlas.gpkg", key="id")
    builder.build(store, write_sources(folder / "sources"))
    app = create_app({"STORE": str(store.path), "TESTING": True})  # its key generated beside the store
    for user in users:
        add_user(app, *user)
    server = LiveServer(app)
    server.app = app
    return server


@pytest.fixture(scope="session")
def live_server(app):
    server = LiveServer(app)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def large_server(tmp_path_factory):
    """The small atlas plus a generic layer of 12,000 road lines (``synthetic_roads``)."""
    folder = tmp_path_factory.mktemp("atlas-large")
    layers = builder.build_all(write_sources(folder / "sources"))
    store = open_store(folder / "atlas.gpkg", key="id")
    builder.write(store, {**layers, "synthetic_roads": road_lines(LARGE, seed=7)})
    server = LiveServer(create_app({"STORE": str(store.path), "TESTING": True}))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@dataclass
class Watch:
    """What a page did that a test must not let pass."""

    allowed_host: str
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    api: list[str] = field(default_factory=list)
    #: hosts a test expects the page to try (online basemap tiles): aborted, recorded apart
    tile_hosts: tuple[str, ...] = ()
    tiles: list[str] = field(default_factory=list)
    #: answers the test provokes on purpose: [status, API path, times seen]
    expected: list[list] = field(default_factory=list)
    #: paths (prefixes) a test makes unreachable on purpose (it stops the server): their network errors
    unreachable: list[str] = field(default_factory=list)

    def expect(self, status: int, path: str) -> None:
        """The page will get ``status`` from ``path`` (e.g. 401 from /api/session): not an error."""
        self.expected.append([status, path, 0])

    def expect_unreachable(self, prefix: str) -> None:
        """The server will be gone for a while (the test stops it): a network error (net::ERR_…)
        loading a path under ``prefix`` is not an error of the page."""
        self.unreachable.append(prefix)

    def _expected(self, msg) -> bool:
        """A 'Failed to load resource' line for an answer the test declared."""
        url = (msg.location or {}).get("url", "")
        path = urlsplit(url).path
        for item in self.expected:
            status, wanted, _ = item
            if f"status of {status} " in msg.text and path == wanted:
                item[2] += 1
                return True
        return False

    def route(self, route):
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or parts.netloc == self.allowed_host:
            if parts.path.startswith("/api/"):
                self.api.append(url)
            route.continue_()
            return
        if parts.hostname and parts.hostname.endswith(self.tile_hosts) and self.tile_hosts:
            self.tiles.append(url)
        else:
            self.outside.append(url)
        route.abort()

    def console(self, msg):
        if msg.type != "error":
            return
        text = msg.text
        if self.tile_hosts and "Failed to load resource" in text:
            return  # the aborted tiles of the online basemap under test
        if "Failed to load resource" in text and self._expected(msg):
            return
        if "Failed to load resource: net::ERR_" in text and \
                urlsplit((msg.location or {}).get("url", "")).path.startswith(tuple(self.unreachable or ["\0"])):
            return
        self.errors.append(f"console: {text}")

    def check(self):
        assert not self.outside, f"requests to hosts other than the server: {self.outside}"
        assert not self.errors, f"errors in the page: {self.errors}"
        assert not self.dialogs, f"the page opened dialogs: {self.dialogs}"
        unseen = [(status, path) for status, path, seen in self.expected if not seen]
        assert not unseen, f"refusals the test expected but the page never got: {unseen}"


class MapPage:
    """A page of the atlas, opened and watched."""

    def __init__(self, browser, server: LiveServer, *, width=1280, height=800, mobile=False,
                 tile_hosts: tuple[str, ...] = ()):
        self.server = server
        self.context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1,
                                           is_mobile=mobile, has_touch=mobile, locale="zh-CN")
        self.page = self.context.new_page()
        self.watch = Watch(server.host, tile_hosts=tile_hosts)
        self.page.route("**/*", self.watch.route)
        self.page.on("console", self.watch.console)
        self.page.on("pageerror", lambda exc: self.watch.errors.append(f"pageerror: {exc}"))

        def dialog(d):
            self.watch.dialogs.append(f"{d.type}: {d.message}")
            d.dismiss()
        self.page.on("dialog", dialog)

    def open(self, query: str = "", *, path: str = "/"):
        self.page.goto(f"{self.server.url}{path}{query}")
        self.wait_idle()
        return self

    def wait_idle(self, timeout=15_000):
        # a refresh starts 200 ms after the map stops moving: let it begin, then wait until drawn
        self.page.wait_for_timeout(260)
        self.page.wait_for_selector(".atlas-map[data-atlas-state=idle]", state="attached", timeout=timeout)

    def js(self, expression, arg=None):
        return self.page.evaluate(expression, arg)

    def drawn_ids(self, layer: str) -> list[str]:
        return sorted(self.js("id => Atlas.layers[id].featureIds()", layer))

    def screen_point(self, lat: float, lng: float) -> tuple[float, float]:
        """The page coordinates of a place on the map."""
        return tuple(self.js("""([lat, lng]) => {
            const p = Atlas.map.latLngToContainerPoint([lat, lng]);
            const r = Atlas.map.getContainer().getBoundingClientRect();
            return [p.x + r.left, p.y + r.top];
        }""", [lat, lng]))

    def close(self):
        self.context.close()


@pytest.fixture()
def open_map(browser, live_server):
    """``open_map(query)`` opens the map page; every page opened is checked when the test ends."""
    pages: list[MapPage] = []

    def opener(query: str = "", *, server: LiveServer | None = None, **kwargs) -> MapPage:
        page = MapPage(browser, server or live_server, **kwargs)
        pages.append(page)
        return page.open(query)

    yield opener
    try:
        for page in pages:
            page.watch.check()
    finally:
        for page in pages:
            page.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
