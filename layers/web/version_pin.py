"""The store's version read once a request: each request runs in the store's ``pin_version``
context (a PostGIS store then asks its database for the version once, not on every call: the entity
tag, the schema, the counts keyed by it), left when the request is torn down; the next request asks
again, so a change made meanwhile, by this server, another or plain SQL, is seen by it."""
from __future__ import annotations

from flask import current_app, g


def enter() -> None:
    g.version_pin = current_app.extensions["atlas_store"].pin_version()
    g.version_pin.__enter__()


def leave(exc: BaseException | None = None) -> None:
    pin = g.pop("version_pin", None)
    if pin is not None:
        pin.__exit__(None, None, None)


def init_app(app) -> None:
    """First of the hooks, before anything asks the store."""
    app.before_request(enter)
    app.teardown_request(leave)
