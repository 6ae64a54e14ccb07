"""What the API's answers cost on the wire, Flask-free: the content coding a client gets (chosen by
measurement, see bench/RESULTS.md), entity tags from the store's version, and a bounded in-process
cache of finished answers so a repeated view costs about what sending its bytes costs.

- Coding: zstd (level 1) where the client accepts it (current browsers do), else gzip level 1
  written by ISA-L (``isal``): on 1,000 roads (1.1 MB of GeoJSON) zstd-1 takes ~2 ms for 314 KB,
  ISA-L's gzip-1 ~1.8 ms for 352 KB, zlib's gzip-1 ~5.7 ms for 376 KB and the gzip-5 of before
  ~17 ms for 329 KB.
- ETag: a hash of the store's version, the request's path and query, and the coding. The version
  changes with every write (a rebuild, an edit), so a stale tag never matches.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import zstandard
from isal import igzip

#: Answers smaller than this are sent as they are (coding them saves nothing worth the time).
MIN_SIZE = 1024
CODINGS = ("zstd", "gzip")
_ZSTD = threading.local()


def choose_coding(accept_encoding: str | None) -> str | None:
    """The coding to use for ``Accept-Encoding`` (q-values honoured; ``q=0`` refuses), or None."""
    accepted: dict[str, float] = {}
    for item in (accept_encoding or "").split(","):
        name, _, params = item.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if name.strip():
            accepted[name.strip().lower()] = q
    star = accepted.get("*", 0.0)
    best = [c for c in CODINGS if accepted.get(c, star) > 0]
    return max(best, key=lambda c: accepted.get(c, star)) if best else None


def encode(data: bytes, coding: str) -> bytes:
    if coding == "zstd":
        compressor = getattr(_ZSTD, "compressor", None)
        if compressor is None:  # one compressor a thread: they are not thread-safe
            compressor = _ZSTD.compressor = zstandard.ZstdCompressor(level=1)
        return compressor.compress(data)
    return igzip.compress(data, compresslevel=1, mtime=0)


def etag(version: str, url: str, coding: str | None) -> str:
    digest = hashlib.blake2b(f"{version}\n{url}".encode(), digest_size=12).hexdigest()
    return f'"{digest}-{coding or "identity"}"'


def vary(response, names) -> None:
    """Add ``names`` to a response's ``Vary`` header: one read and one write of the header (a
    werkzeug ``response.vary.add`` parses and rewrites it for each name)."""
    have = response.headers.get("Vary")
    if not have:
        response.headers["Vary"] = ", ".join(names)
        return
    present = {v.strip().lower() for v in have.split(",")}
    extra = [n for n in names if n.lower() not in present]
    if extra:
        response.headers["Vary"] = ", ".join([have, *extra])


def matches(if_none_match: str | None, tag: str) -> bool:
    """Whether ``If-None-Match`` names ``tag``; weak tags compare equal (RFC 9110). ``*`` is not
    honoured: only a tag this server gave for a good answer can turn a request into a 304."""
    if not if_none_match:
        return False
    return tag in (t.strip().removeprefix("W/") for t in if_none_match.split(","))


@dataclass(frozen=True)
class Answer:
    body: bytes
    mimetype: str
    coding: str | None


class AnswerCache:
    """Finished answers by entity tag, least recently used out first, at most ``max_bytes`` in all.
    Keys carry the store's version, so answers of an older store are never served; they age out."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, Answer] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, tag: str) -> Answer | None:
        with self._lock:
            answer = self._items.get(tag)
            if answer is not None:
                self._items.move_to_end(tag)
            return answer

    def put(self, tag: str, answer: Answer) -> None:
        size = len(answer.body)
        if size > self.max_bytes // 4:  # one answer may not push out most of the others
            return
        with self._lock:
            old = self._items.pop(tag, None)
            if old is not None:
                self._size -= len(old.body)
            self._items[tag] = answer
            self._size += size
            while self._size > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._size -= len(dropped.body)

    @property
    def size(self) -> int:
        return self._size
