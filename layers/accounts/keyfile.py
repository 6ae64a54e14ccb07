"""The secret key signing session cookies, generated once into a file (mode 0600) that every
worker of the server reads, so a login made in one worker holds in all."""
from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from geo.errors import ConfigError

log = logging.getLogger(__name__)


def secret_key(path: str | Path) -> str:
    """The key in ``path``, written there first if there is none (atomically: two workers starting
    at once agree on one key)."""
    path = Path(path)
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        try:
            os.link(tmp, path)  # fails if another worker won the race: then theirs is the key
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)
    log.info("generated a new session key in %s", path)
    return _read(path)


def _read(path: Path) -> str:
    mode = path.stat().st_mode
    if mode & 0o077:
        log.warning("%s can be read by other users (mode %o); chmod 600 it", path, mode & 0o777)
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise ConfigError(f"the session key file {path} holds no usable key; delete it to have a new one made, "
                          "or set ATLAS_SECRET_KEY")
    return key


def shared_secret_key(database) -> str:
    """The key kept in the app's PostgreSQL (``layers.shared.pg``), made by the first app server
    to start: every server behind the load balancer signs and checks cookies with it."""
    key = database.setting("secret_key", lambda: secrets.token_hex(32))
    if len(key) < 32:
        raise ConfigError(f"the session key in {database.schema}.settings holds no usable key; delete that row "
                          "to have a new one made, or set ATLAS_SECRET_KEY")
    return key
