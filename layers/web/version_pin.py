"""The store's version read once a request: each request runs in the store's ``pin_version``
context (a PostGIS store then asks its database for the version once, not on every call: the entity
tag, the schema, the counts keyed by it), left when the request is torn down; the next request asks
again, so a change made meanwhile, by this server, another or plain SQL, is seen by it.

A route that reads one feature by id says so (``reads_ahead``): the store is told before anything
asks it (``Store.read_ahead``), and PostGIS reads that feature in the round trip of the version."""
from __future__ import annotations

from collections.abc import Callable

from flask import current_app, g, request

#: endpoint -> (its view arguments -> (layer, Query)): what a request to it will read by id
_AHEAD: dict[str, Callable] = {}


def reads_ahead(endpoint: str, what: Callable) -> None:
    _AHEAD[endpoint] = what


def enter() -> None:
    store = current_app.extensions["atlas_store"]
    g.version_pin = store.pin_version()
    g.version_pin.__enter__()
    said = _AHEAD.get(request.endpoint)
    if said is not None and request.view_args:
        store.read_ahead(*said(request.view_args))


def leave(exc: BaseException | None = None) -> None:
    pin = g.pop("version_pin", None)
    if pin is not None:
        pin.__exit__(None, None, None)


def init_app(app) -> None:
    """First of the hooks, before anything asks the store."""
    app.before_request(enter)
    app.teardown_request(leave)
