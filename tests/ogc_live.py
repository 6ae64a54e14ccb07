"""A live atlas server in its own process, for real clients that hold the interpreter while they
read (GDAL through pyogrio does not release the GIL, so a server in a thread of the test process
would never answer it): ``python -m tests.ogc_live STORE LOG MAX_LIMIT DEFAULT_LIMIT`` serves the
store on a free port of 127.0.0.1, prints the port, and writes the access log (one line a
request, with its query) to LOG. STORE is a .gpkg path or a ``postgresql://`` URL (the test
cluster's, from tests/pg.py); the accounts are kept beside LOG."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

from werkzeug.serving import make_server

from server import create_app


def main(store: str, log: str, max_limit: str, default_limit: str) -> None:
    app = create_app({"STORE": store, "TESTING": True, "MAX_LIMIT": int(max_limit),
                      "DEFAULT_LIMIT": int(default_limit), "ACCOUNTS": str(Path(log).parent / "accounts.sqlite")})
    handler = logging.FileHandler(log, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger("atlas.access").addHandler(handler)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(*sys.argv[1:5])
