"""A store as one principal sees it: the layers they may not read are absent, exactly as if the
store had none by that name (unknown-layer 404s, not listed, not searched, not exported).

Wrapping the store the routes read through, rather than checking in each route, means every read
path (list, features, a feature by id, search, export, export jobs, the offline map, the page's
layer list) hides the same layers without a line of its own. ``version()`` carries a fingerprint of
the visible set, so entity tags and the shared answer cache never hand one user's view to another.
Any other method (writes, history) passes through to the store: the write routes check
``policy.require`` themselves.
"""
from __future__ import annotations

import hashlib

from geo.errors import NotFound


class VisibleStore:
    def __init__(self, store, *, hidden: frozenset[str] = frozenset(), everything_hidden: bool = False):
        """``hidden``: the layers this principal may not see; ``everything_hidden``: none at all
        (nobody logged in where login is required)."""
        self._store = store
        self._hidden = frozenset(hidden)
        self._nothing = everything_hidden

    def __getattr__(self, name):  # url, key, path, exists, cleanup, replace, and what the store adds
        return getattr(self._store, name)

    def _check(self, layer: str) -> str:
        if not self.may_read(layer):
            # the store's own message for an unknown layer, with the visible ones
            raise NotFound(f"no layer {layer!r}; the layers are: {', '.join(self.layers()) or '(none)'}", parameter="layer")
        return layer

    def may_read(self, layer: str) -> bool:
        return not self._nothing and layer not in self._hidden

    def version(self) -> str:
        base = self._store.version()
        if not (self._hidden or self._nothing):
            return base
        unseen = "*" if self._nothing else "\x1f".join(sorted(self._hidden))
        return f"{base}.h{hashlib.sha256(unseen.encode()).hexdigest()[:12]}"

    def layers(self) -> list[str]:
        return [n for n in self._store.layers() if self.may_read(n)]

    def info(self, layer, *args, **kwargs):
        return self._store.info(self._check(layer), *args, **kwargs)

    def fields(self, layer, *args, **kwargs):
        return self._store.fields(self._check(layer), *args, **kwargs)

    def count(self, layer, *args, **kwargs):
        return self._store.count(self._check(layer), *args, **kwargs)

    def query(self, layer, *args, **kwargs):
        return self._store.query(self._check(layer), *args, **kwargs)

    def records(self, layer, *args, **kwargs):
        return self._store.records(self._check(layer), *args, **kwargs)

    def rows(self, layer, *args, **kwargs):
        return self._store.rows(self._check(layer), *args, **kwargs)

    def totals(self, layer, *args, **kwargs):
        return self._store.totals(self._check(layer), *args, **kwargs)

    def stream(self, layer, *args, **kwargs):
        return self._store.stream(self._check(layer), *args, **kwargs)

    def find(self, feature_id, *args, **kwargs):
        found = self._store.find(feature_id, *args, **kwargs)
        return found if found is None or self.may_read(found[0]) else None

    def read_versioned(self, layer, *args, **kwargs):
        return self._store.read_versioned(self._check(layer), *args, **kwargs)

    def find_versioned(self, feature_id, *args, **kwargs):
        found = self._store.find_versioned(feature_id, *args, **kwargs)
        return found if found is None or self.may_read(found[0]) else None
