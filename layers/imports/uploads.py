"""Uploaded files waiting to be imported, Flask-free: the folder behind ``POST /api/imports``.

An upload is a folder ``<uploads folder>/<id>/`` (the id as an export job's: 16 URL-safe
characters) holding ``state.json`` (its owner, the file's name, its inspection, times; replaced
atomically as export jobs' state is, ``layers.api.jobfiles``) and ``file/<name>``, the file as
received. Everything is on disk, so an upload received by one worker is committed by any other,
and survives a restart. Uploads not touched for ``ttl`` seconds are removed by ``cleanup`` (at
start-up and by every ``save``)::

    uploads = Uploads(Path("var/imports"), ttl=3600)
    state = uploads.save(stream, "parcels.zip", owner="张三", max_bytes=512 << 20)  # TooLarge
    uploads.path(state["id"])      # the received file; NotFound when unknown or expired
    uploads.update(state["id"], inspection=...)
    uploads.remove(state["id"])

An upload's work — its inspection, a plan, the commit — runs as a **task** in a thread of the
process that started it (``run``), never in the request: the state says ``"running"`` with the task's
name, its ``progress`` ({"phase", "done", "total", "percent"}) and the runner's pid and host, then
``"done"`` with what the task returned merged in (``inspection``, ``plan`` or ``result``), or
``"failed"`` with ``error`` (the status, code and public message of a ``GeoError``; a generic one
for anything else, whose text goes to the log only). One task at a time per upload (a second is a
Conflict), at most ``max_running`` over every process using the folder (TooBusy). A task whose
process died (a restart, a kill) is reported failed ("interrupted") by whoever reads its state
next: the store was written in one transaction, so nothing of it is stored. ``wait`` lets a request
wait a few seconds for a task it started (a small file answers at once)::

    state = uploads.run(upload_id, "inspect", lambda progress: {"inspection": ...}, max_running=2)
    state = uploads.wait(upload_id, 10)       # the state when the task ended, or still "running"
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from geo.errors import Conflict, GeoError, InvalidParameter, NotFound, TooBusy, TooLarge

from ..api.jobfiles import (
    HOST,
    JOB_ID,
    exclusive,
    iso,
    new_folder,
    newest_mtime,
    read_state,
    still_dead,
    runner_alive,
    running_ids,
    save_own,
    ts,
    write_state,
)


log = logging.getLogger(__name__)
#: the received file's folder inside an upload's folder
FILE_DIR = "file"
_CHUNK = 1 << 20
_UNSAFE = re.compile(r"[^\w.\-]+")
TASKS = ("inspect", "plan", "commit")
INTERRUPTED = ("the {task} was interrupted (the server stopped or restarted); nothing of it was stored: "
               "start it again")
FAILED = "the {task} failed; the operator has been told (see the server log); nothing was stored"
#: Progress is written at most this often (seconds); a running task's state at least every HEARTBEAT.
PROGRESS_INTERVAL = 0.25
HEARTBEAT = 5.0
#: Tasks running in this process, by upload folder.
_THREADS: dict[str, threading.Thread] = {}
_LOCK = threading.RLock()


def safe_name(name: str | None) -> str:
    """The file's own name, without folders or characters a path could abuse (Chinese kept)."""
    base = re.split(r"[\\/]", str(name or ""))[-1].strip().lstrip(".")
    base = _UNSAFE.sub("_", base)[:120]
    if not base:
        raise InvalidParameter("the upload has no file name; send it as the multipart field 'file' with its name",
                               parameter="file")
    return base


#: what may come beside a .shp as its loose parts
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".fix", ".shp.xml", ".xml",
                   ".qmd")


def shapefile_parts(names: list[str]) -> str:
    """The .shp of several files uploaded together, which must be the parts of one Shapefile (one
    stem, each name once); else InvalidParameter saying to zip them."""
    def split(name):
        lower = name.lower()
        suffix = next((s for s in sorted(SHAPEFILE_PARTS, key=len, reverse=True) if lower.endswith(s)), None)
        return (name[: -len(suffix)], suffix) if suffix else (name, None)

    parts = [split(n) for n in names]
    stems = {stem for stem, _ in parts}
    shp = [n for n, (_, suffix) in zip(names, parts) if suffix == ".shp"]
    odd = [n for n, (_, suffix) in zip(names, parts) if suffix is None]
    if odd or len(stems) != 1 or len(shp) != 1 or len(set(n.lower() for n in names)) != len(names):
        raise InvalidParameter(f"several files were uploaded ({', '.join(names[:6])}{'…' if len(names) > 6 else ''}): "
                               "send several files only as the parts of one Shapefile (one name: .shp, .shx, .dbf, "
                               ".prj, .cpg); zip anything else, or upload one file", parameter="file")
    return shp[0]


class Uploads:
    """Uploads under ``folder``, one folder each, kept ``ttl`` seconds after their last update."""

    def __init__(self, folder: Path, *, ttl: float = 3600, stale_after: float = 60):
        self.folder = Path(folder)
        self.ttl = float(ttl)
        self.stale_after = float(stale_after)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.warning("imports folder %s cannot be created: %s", self.folder, exc)

    def save(self, stream, filename: str, *, owner: str, max_bytes: int) -> dict:
        """Copy ``stream`` into a new upload, stopping (TooLarge, nothing kept) past ``max_bytes``."""
        return self.save_many([(stream, filename)], owner=owner, max_bytes=max_bytes)

    def save_many(self, files, *, owner: str, max_bytes: int) -> dict:
        """A new upload of ``files`` ([(stream, filename)]): one file, or the loose parts of one
        Shapefile (.shp with its .dbf, .shx, .prj, .cpg, ...: one stem), kept side by side. At most
        ``max_bytes`` in all (TooLarge, nothing kept)."""
        names = [safe_name(name) for _, name in files]
        main = shapefile_parts(names) if len(names) > 1 else names[0]
        self.cleanup()
        self.folder.mkdir(parents=True, exist_ok=True)
        upload_id, folder = new_folder(self.folder)
        try:
            inside = folder / FILE_DIR
            if len(names) > 1:  # the parts in a folder named as the Shapefile, which messages name
                inside = inside / Path(main).stem
            inside.mkdir(parents=True)
            written = 0
            for (stream, _), name in zip(files, names):
                with open(inside / name, "wb") as out:
                    while chunk := stream.read(_CHUNK):
                        written += len(chunk)
                        if written > max_bytes:
                            raise TooLarge(f"{main} is larger than the {max_bytes >> 20} MB an import accepts "
                                           "(ATLAS_IMPORT_MAX_MB); split the data or import an extract",
                                           parameter="file")
                        out.write(chunk)
            now = time.time()
            # "done": received (jobfiles' states; a background inspection will add "running")
            state = {"id": upload_id, "state": "done", "owner": owner, "file": main, "files": names,
                     "size": written, "created": iso(now), "updated": iso(now), "expires": iso(now + self.ttl),
                     "inspection": None, "committed": [], "task": None, "progress": None, "error": None}
            write_state(folder, state)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return state

    def state(self, upload_id) -> dict:
        """The upload's state; NotFound for an unknown, malformed or expired id."""
        folder = self._folder(upload_id)
        state = self._load(folder)
        if state is None:
            raise NotFound(f"no upload {upload_id} (unknown, removed, or older than {self.ttl:g} s); upload the "
                           "file again", parameter="id")
        now = time.time()
        if state["state"] == "running" and not self._live(folder, state, now):
            state = self._interrupt(folder, state)
        if state["state"] != "running" and self._expired(state, now):
            self._forget(folder)
            raise NotFound(f"the upload {upload_id} has expired (uploads are kept {self.ttl:g} s); upload the file "
                           "again", parameter="id")
        return state

    def path(self, upload_id) -> Path:
        """The received file, or the folder holding a Shapefile's loose parts."""
        state = self.state(upload_id)
        path = self.folder / upload_id / FILE_DIR
        path = path / (state["file"] if len(state.get("files") or ()) <= 1 else Path(state["file"]).stem)
        if not path.exists():
            raise NotFound(f"the file of upload {upload_id} was refused and is not kept; upload it again "
                           "(corrected)", parameter="id")
        return path

    def discard_file(self, upload_id) -> None:
        """Remove the received file and what was unpacked from it, keeping the state (a refused
        file: its error stays readable until the upload expires)."""
        folder = self.folder / upload_id
        for entry in folder.iterdir() if folder.is_dir() else ():
            if entry.name != "state.json" and not entry.name.startswith(".state-"):
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)

    def scratch(self, upload_id) -> Path:
        """Where an upload's zip is unpacked while it is inspected (removed with the upload)."""
        return self.folder / upload_id

    def update(self, upload_id, **changes) -> dict:
        with _LOCK:
            state = {**self.state(upload_id), **changes}
            now = time.time()
            state["updated"], state["expires"] = iso(now), iso(now + self.ttl)
            self._save(self._folder(upload_id), state)
        return state

    def remove(self, upload_id) -> None:
        state = self.state(upload_id)
        if state["state"] == "running":
            raise Conflict(f"the upload {upload_id} is busy ({state.get('task')} running); wait for it to end, "
                           "then remove it", parameter="id")
        self._forget(self._folder(upload_id))

    # -- tasks -----------------------------------------------------------------------------------
    def run(self, upload_id, task: str, work: Callable[[Callable], dict], *, max_running: int = 2,
            on_end: Callable[[dict], None] | None = None) -> dict:
        """Start ``work(progress)`` as the upload's ``task`` in a thread; the state as it starts.
        ``work`` returns the changes to keep in the state (e.g. ``{"inspection": ...}``) or raises;
        ``progress(phase, done, total)`` may be called from it. ``on_end(state)`` is called in the
        thread with the final state (for the security log)."""
        if task not in TASKS:
            raise ValueError(task)
        with self._exclusive():
            state = self.state(upload_id)
            if state["state"] == "running":
                raise Conflict(f"the upload {upload_id} is busy: its {state.get('task')} is running; wait for it to "
                               "end", parameter="id")
            running = self._running_ids()
            if len(running) >= max_running:
                raise TooBusy(f"{len(running)} imports are being inspected or written, as many as may run at once "
                              f"(ATLAS_IMPORT_JOBS={max_running}); wait a moment and try again")
            now = time.time()
            state = {**state, "state": "running", "task": task, "pid": os.getpid(), "host": HOST, "error": None,
                     "started": iso(now), "updated": iso(now), "expires": iso(now + self.ttl),
                     "progress": {"phase": "queued", "done": 0, "total": 0, "percent": 0}}
            folder = self._folder(upload_id)
            thread = threading.Thread(target=self._run, args=(folder, state, work, on_end),
                                      name=f"import-{task}-{upload_id}", daemon=True)
            with _LOCK:
                self._save(folder, state, run=True)
                _THREADS[str(folder)] = thread
        try:
            thread.start()
        except BaseException:
            with _LOCK:
                _THREADS.pop(str(folder), None)
                self._save(folder, {**state, "state": "failed",
                                     "error": {"status": 503, "error": TooBusy.code,
                                               "detail": FAILED.format(task=task)}})
            raise
        return state

    def wait(self, upload_id, seconds: float) -> dict:
        """Wait up to ``seconds`` for the upload's task run by this process; its state then."""
        with _LOCK:
            thread = _THREADS.get(str(self._folder(upload_id)))
        if thread is not None and seconds > 0:
            thread.join(seconds)
        return self.state(upload_id)

    def _run(self, folder: Path, state: dict, work, on_end) -> None:
        task = state["task"]
        lock = threading.Lock()
        stop = threading.Event()
        last = {"write": time.monotonic(), "dirty": False, "gone": False}

        def write(final: bool = False) -> None:
            """Write the state if the task is still ours on disk (not declared interrupted)."""
            with _LOCK:
                if not self._save_own(folder, state, sync=final):
                    last["gone"] = True
                    return
                last["write"], last["dirty"] = time.monotonic(), False

        def progress(phase: str, done: int = 0, total: int = 0) -> None:
            with lock:
                done, total = int(done), int(total)
                state["progress"] = {"phase": str(phase), "done": done, "total": total,
                                     "percent": min(99, int(100 * done / total)) if total > 0 else 0}
                last["dirty"] = True

        def beat() -> None:
            while not stop.wait(PROGRESS_INTERVAL):
                since = time.monotonic() - last["write"]
                if (last["dirty"] and since >= PROGRESS_INTERVAL) or since >= HEARTBEAT:
                    try:
                        with lock:
                            write()
                    except OSError:
                        log.warning("upload %s: its state could not be written", folder.name, exc_info=True)

        beater = threading.Thread(target=beat, name=f"{threading.current_thread().name}-state", daemon=True)
        beater.start()
        try:
            try:
                changes = work(progress) or {}
                outcome = {**changes, "state": "done", "error": None}
            except GeoError as exc:
                log.info("upload %s: %s refused: %s", folder.name, task, exc)
                outcome = {"state": "failed", "error": {"status": exc.status, **exc.to_dict()}}
            except Exception:
                log.exception("upload %s: %s failed", folder.name, task)
                outcome = {"state": "failed", "error": {"status": 500, "error": "internal_error",
                                                        "detail": FAILED.format(task=task)}}
            stop.set()
            beater.join()
            with lock:
                phase = state["progress"]
                state.update(outcome)
                if outcome["state"] == "done":
                    state["progress"] = {**phase, "percent": 100, "done": max(phase["done"], phase["total"])}
                try:
                    write(final=True)
                except OSError:
                    log.exception("upload %s: the end of its %s could not be recorded", folder.name, task)
            if last["gone"]:
                log.warning("upload %s: its %s ended after it had been declared interrupted", folder.name, task)
            if on_end is not None:
                try:
                    on_end(dict(state))
                except Exception:
                    log.exception("upload %s: recording the end of its %s failed", folder.name, task)
        finally:
            stop.set()
            with _LOCK:  # the next task of the upload may have registered its own thread meanwhile
                if _THREADS.get(str(folder)) is threading.current_thread():
                    del _THREADS[str(folder)]

    def _running_ids(self) -> list[str]:
        return running_ids(self.folder, self._live)

    def _live(self, folder: Path, state: dict, now: float) -> bool:
        with _LOCK:
            thread = _THREADS.get(str(folder))
        return runner_alive(state, thread, stale_after=self.stale_after, now=now)

    def _interrupt(self, folder: Path, state: dict) -> dict:
        with _LOCK:  # (``still_dead``: a task that has just finished is not a dead one)
            if (dead := still_dead(self._load, self._live, folder, state)) is None:
                return self._load(folder) or state
            task = state.get("task") or "import"
            log.warning("upload %s: its %s was interrupted (process %s gone or silent)", folder.name, task,
                        state.get("pid"))
            now = time.time()
            state = {**dead, "state": "failed", "updated": iso(now), "expires": iso(now + self.ttl),
                     "error": {"status": 409, "error": "interrupted", "detail": INTERRUPTED.format(task=task)}}
            try:
                self._save(folder, state)
            except OSError:
                pass
        return state

    def _exclusive(self):
        """Starts are serialised: within this process and across processes (``jobfiles.exclusive``)."""
        return exclusive(self.folder, _LOCK)

    # -- where uploads are kept: a folder each (``PgUploads`` keeps them in PostgreSQL instead) ---
    # ``folder`` is what names one upload to these methods (here its folder); ``str(folder)`` is unique.
    def _folder(self, upload_id):
        if not isinstance(upload_id, str) or not JOB_ID.fullmatch(upload_id):
            raise NotFound("no such upload (upload ids are 16 letters, digits, - or _)", parameter="id")
        return self.folder / upload_id

    def _load(self, folder) -> dict | None:
        return read_state(folder)

    def _save(self, folder, state: dict, *, run: bool = False) -> None:
        """Replace the state (``run``: a task of this process starts)."""
        write_state(folder, state)

    def _save_own(self, folder, state: dict, *, sync: bool = False) -> bool:
        """The task's write, kept only while the task is still its own (running, this process,
        this start); False when someone declared it interrupted."""
        return save_own(folder, state, self.ttl, sync=sync, same=("pid", "started"))

    def _forget(self, folder) -> None:
        shutil.rmtree(folder, ignore_errors=True)

    def cleanup(self, now: float | None = None) -> list[str]:
        """Remove uploads not updated for ``ttl`` seconds, and folders without a readable state
        (a save that died) unchanged for as long."""
        now = time.time() if now is None else now
        removed = []
        try:
            entries = sorted(os.scandir(self.folder), key=lambda e: e.name)
        except OSError:
            return removed
        for entry in entries:
            if not (JOB_ID.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False)):
                continue  # not ours: left alone
            path = Path(entry.path)
            state = read_state(path)
            if state is not None and state["state"] == "running":
                stale = not self._live(path, state, now) and self._expired(state, now)
            else:
                stale = self._expired(state, now) if state is not None else now - newest_mtime(path) > self.ttl
            if stale:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(entry.name)
        if removed:
            log.info("uploads cleaned up: %s", ", ".join(removed))
        return removed

    def _expired(self, state: dict, now: float) -> bool:
        updated = ts(state.get("updated"))
        return updated is None or now - updated > self.ttl

    @staticmethod
    def public(state: dict) -> dict:
        keys = ("id", "file", "files", "size", "created", "updated", "expires", "committed", "state", "task", "progress",
                "error", "plan", "result")
        return {k: state.get(k) for k in keys}
