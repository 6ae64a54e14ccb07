"""Content codings, entity tags and the answer cache (layers.api.http), without Flask."""
from __future__ import annotations

import gzip

import pytest
import zstandard

from layers.api.http import Answer, AnswerCache, choose_coding, encode, etag, matches


@pytest.mark.parametrize("header,coding", [
    ("gzip, deflate, br, zstd", "zstd"),      # what Chromium sends
    ("gzip, deflate", "gzip"),
    ("zstd;q=0.5, gzip", "gzip"),              # the client's preference wins
    ("gzip;q=0, zstd;q=0", None),              # q=0 refuses
    ("identity", None), ("", None), (None, None),
    ("*", "zstd"), ("*;q=0.1, gzip;q=0.9", "gzip"),
    ("GZIP", "gzip"), ("gzip;q=nonsense, zstd", "zstd"),
])
def test_the_coding_follows_accept_encoding(header, coding):
    assert choose_coding(header) == coding


def test_codings_decode_to_the_same_bytes():
    data = ('{"name_zh":"环翠区","coordinates":[122.1234567,37.5123456]}' * 500).encode()
    assert zstandard.ZstdDecompressor().decompress(encode(data, "zstd")) == data
    assert gzip.decompress(encode(data, "gzip")) == data
    assert len(encode(data, "zstd")) < len(data) / 10


def test_a_tag_is_of_the_store_version_the_url_and_the_coding():
    tag = etag("v1", "/api/layers/parks?limit=5", "zstd")
    assert tag == etag("v1", "/api/layers/parks?limit=5", "zstd")
    assert len({tag, etag("v2", "/api/layers/parks?limit=5", "zstd"), etag("v1", "/api/layers/parks?limit=6", "zstd"),
                etag("v1", "/api/layers/parks?limit=5", "gzip"), etag("v1", "/api/layers/parks?limit=5", None)}) == 5
    assert matches(tag, tag) and matches(f'"other", W/{tag}', tag)
    assert not matches(None, tag) and not matches('"other"', tag) and not matches("*", tag)


def test_the_cache_keeps_at_most_its_bytes_least_recently_used_out_first():
    cache = AnswerCache(max_bytes=1000)
    for i in range(5):
        cache.put(f"t{i}", Answer(b"x" * 200, "application/json", None))
    assert cache.size == 1000 and cache.get("t0") is not None  # t0 now the most recent
    cache.put("t5", Answer(b"y" * 200, "application/json", "zstd"))
    assert cache.get("t1") is None and cache.get("t0") is not None and cache.size == 1000
    cache.put("huge", Answer(b"z" * 400, "application/json", None))  # over a quarter: not kept
    assert cache.get("huge") is None
