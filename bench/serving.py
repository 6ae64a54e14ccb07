"""What the in-process HTTP benchmarks share: the app served on a free local port by werkzeug
(quiet, threaded), and the median of timed calls after a warm-up."""
from __future__ import annotations

import statistics
import threading
import time

from werkzeug.serving import WSGIRequestHandler, make_server


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


def serve(app):
    """(the server, its base URL); ``server.shutdown()`` when done."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def median(fn, repeat: int, before=None):
    """(median ms of ``repeat`` calls of ``fn`` after one warm-up, the last answer); ``before`` runs
    untimed before each call (e.g. emptying a cache)."""
    fn()
    times, out = [], None
    for _ in range(repeat):
        if before:
            before()
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), out
