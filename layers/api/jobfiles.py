"""The files of export jobs: a job's folder, its ``state.json`` (replaced atomically, read with one
retry), what a job that did not finish leaves behind, and times as UTC ISO text."""
from __future__ import annotations

from collections.abc import Mapping

import json
import os
import re
import secrets
import shutil
import socket
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

try:  # POSIX: starts in several worker processes are serialised by a lock file
    import fcntl
except ImportError:  # pragma: no cover - Windows: the lock within the process only
    fcntl = None

STATE_FILE = "state.json"
RESULT_FILE = "result"
LOCK_FILE = ".jobs.lock"
#: The prefix of export's temporary folders (``tempfile.mkdtemp(prefix=...)`` in layers.api.export).
TMP_PREFIX = ".weihai-export-"
#: A job id: what ``secrets.token_urlsafe(12)`` makes (16 URL-safe characters), and nothing else.
JOB_ID = re.compile(r"[A-Za-z0-9_-]{16}")
STATES = ("running", "done", "failed")
#: This machine's name, written into a running job's state beside its pid.
HOST = socket.gethostname()


# -- time ----------------------------------------------------------------------------------------
def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def ts(value) -> float | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except (TypeError, ValueError):
        return None


# -- files ---------------------------------------------------------------------------------------
def newest_mtime(path: Path) -> float:
    """The latest modification time of a folder and everything in it (0 when it is gone)."""
    newest = 0.0
    try:
        newest = path.stat().st_mtime
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                try:
                    newest = max(newest, os.stat(os.path.join(root, name), follow_symlinks=False).st_mtime)
                except OSError:
                    pass
    except OSError:
        pass
    return newest


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def new_folder(parent: Path) -> tuple[str, Path]:
    """A new folder under ``parent`` named by 96 random bits (an export job's, an upload's): its id
    and path. The name is the capability: it is never guessed, listed or reused."""
    while True:
        folder_id = secrets.token_urlsafe(12)
        folder = parent / folder_id
        try:
            folder.mkdir()
            return folder_id, folder
        except FileExistsError:  # pragma: no cover - 96 random bits
            continue


def read_state(job_dir: Path) -> dict | None:
    """The job's state.json, or None when it is missing or unreadable (after one retry: a writer
    in another process may be between its write and its rename)."""
    for attempt in (0, 1):
        try:
            state = json.loads((job_dir / STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            state = None
        if (isinstance(state, dict) and state.get("id") == job_dir.name and state.get("state") in STATES):
            return state
        if attempt == 0:
            time.sleep(0.05)
    return None


def write_state(job_dir: Path, state: dict, *, sync: bool = False) -> None:
    """Replace the job's state.json atomically."""
    fd, tmp = tempfile.mkstemp(prefix=".state-", suffix=".tmp", dir=job_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(state, fh, ensure_ascii=False, sort_keys=True)
            if sync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, job_dir / STATE_FILE)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save_own(job_dir: Path, state: dict, ttl: float, *, sync: bool = False, same: tuple[str, ...] = ("pid",)) -> bool:
    """A runner's write of ``state`` (its times renewed), kept only while the task on disk is still
    its own: running, with the same ``same`` fields (the process; an upload's start too); False
    when someone declared it interrupted meanwhile."""
    on_disk = read_state(job_dir)
    if on_disk is None or on_disk["state"] != "running" or any(on_disk.get(k) != state[k] for k in same):
        return False
    now = time.time()
    state["updated"], state["expires"] = iso(now), iso(now + ttl)
    write_state(job_dir, state, sync=sync)
    return True


def partial_files(job_dir: Path) -> list[Path]:
    """What a job that did not finish leaves: export's temporary folders, a moved result, state
    temporaries."""
    try:
        entries = list(job_dir.iterdir())
    except OSError:
        return []
    return [p for p in entries if p.name.startswith((TMP_PREFIX, ".state-")) or p.name == RESULT_FILE]


def still_dead(load, live, job, seen: Mapping) -> dict | None:
    """Under the lock the runner writes its state under: the job's state now, if it is still the
    "running" state ``seen`` (read earlier) and its runner is still not ``live``; None when it has
    ended, been taken over or written again since (a job that just finished is not a dead one)."""
    now = load(job)
    if now is None or now.get("state") != "running" or now.get("pid") != seen.get("pid") \
            or live(job, now, time.time()):
        return None
    return now


def runner_alive(state: dict, thread, *, stale_after: float, now: float) -> bool:
    """Whether a "running" job (an export, an upload's task) is really being run. ``thread``: the
    thread running it if this process registered one, else None. In this process the thread tells
    (none: an earlier process that had the same pid); on this machine a gone pid tells; otherwise
    (another host) a state not written for ``stale_after`` seconds is a dead runner."""
    from geo.files import pid_alive

    pid = state.get("pid")
    local = state.get("host") in (None, HOST)  # no host written: this machine's
    if local and pid == os.getpid():
        return thread is not None and (thread.ident is None or thread.is_alive())
    if local and not pid_alive(pid):
        return False
    updated = ts(state.get("updated"))
    return updated is not None and now - updated <= stale_after


@contextmanager
def exclusive(folder: Path, lock):
    """Starts serialised: by ``lock`` (an RLock) within this process, by the lock file in ``folder``
    across processes (export jobs, uploads' tasks)."""
    with lock:
        if fcntl is None:  # pragma: no cover
            yield
            return
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / LOCK_FILE, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def running_ids(folder: Path, live) -> list[str]:
    """The folders under ``folder`` whose state is "running" and ``live(path, state, now)``."""
    now, running = time.time(), []
    for path in folder.iterdir():
        if JOB_ID.fullmatch(path.name) and (state := read_state(path)) and state["state"] == "running" \
                and live(path, state, now):
            running.append(path.name)
    return running
