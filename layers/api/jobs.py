"""Exports that run in the background, Flask-free: the core of ``POST /api/exports``.

A job is a folder ``<jobs folder>/<id>/`` holding ``state.json`` (its public state plus the pid and
host of the process running it) and, once done, ``result`` (the exported file); with a PostGIS
store, ``jobs_pg.PgJobs`` keeps the same in its database instead (several app servers). Everything a
request needs is on disk, so a job started by one worker process is seen — progress, result,
failure — by a request served by any other::

    jobs = Jobs(Path("var/exports"), ttl=3600, max_running=2)
    state = jobs.start(store, {"layers": "all", "format": "gpkg"})   # InvalidParameter, TooBusy
    jobs.status(state["id"])      # {"state": "running", "percent": 40, ...}; NotFound
    path, state = jobs.result(state["id"])   # NotReady (409) while running; NotFound when failed
    jobs.cleanup()                # at start-up, and by every start()

Progress: ``done`` and ``total`` count features over all the export's layers (``total`` from the
store's counts before writing starts), ``layer`` is the one being read, ``percent`` stays below 100
until the file is complete.

``state.json`` is replaced atomically (a temporary file in the same folder, then ``os.replace``),
so a reader sees the old state or the new, never half of one; readers still retry once. Progress is
written at most four times a second, plus a heartbeat every ``stale_after / 4`` seconds (at most
10 s), so a job whose process died — or stopped writing — is told from one that is working: a
"running" job whose process is gone (``os.kill(pid, 0)``; in this process, its thread), or whose
last write is older than ``stale_after`` in another process, is reported failed ("interrupted")
and its partial files are removed. Nothing in ``state.json`` is a path, and the text of an
unexpected exception goes to the log only.
"""
from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from geo.errors import GeoError, NotFound, NotReady, StoreError, TooBusy
from geo.store import Store

from .export import export, plan_export, size
from .jobfiles import (
    JOB_ID, exclusive, HOST, RESULT_FILE, TMP_PREFIX, new_folder, still_dead,
    iso, newest_mtime, partial_files, read_state, remove, runner_alive, running_ids, save_own, ts, write_state,
)


log = logging.getLogger(__name__)

INTERRUPTED = "the export was interrupted (the server restarted); start it again"
FAILED = "the export failed; the operator has been told (see the server log)"
#: Progress is written at most this often (seconds).
PROGRESS_INTERVAL = 0.25
#: A job folder without a readable state.json is someone's start in progress for this long.
UNREADABLE_AFTER = 60.0
#: A temporary export folder directly in the jobs folder (a direct ``GET /api/export`` writing
#: there) is orphaned when nothing in it has changed for this long: its owner is not recorded, and
#: a direct export is written and detached within seconds.
ORPHAN_AFTER = 3600.0

PRIVATE = ("pid", "host", "runner", "age")  # what of a job's state an API client never sees
#: Jobs running in this process, by job folder: the thread running each (one registry for every
#: ``Jobs`` over the same folder in this process).
_THREADS: dict[str, threading.Thread] = {}
#: Around every state write (and the registry) in this process.
_LOCK = threading.RLock()


class _Cancelled(Exception):
    """The job's state on disk is no longer "running" (another process declared it interrupted)."""


class Jobs:
    """Background exports whose state lives on disk under ``folder``, one folder a job.

    ``ttl``: seconds a finished (done or failed) job is kept after its last update; ``max_running``:
    jobs that may run at once, counted over every process using ``folder``; ``stale_after``: a job
    running in another process that has not written its state for this long is taken as dead.
    """

    def __init__(self, folder: Path, *, ttl: float = 3600, max_running: int = 2, stale_after: float = 60,
                 orphan_after: float = ORPHAN_AFTER):
        self.folder = Path(folder)
        self.ttl = float(ttl)
        self.max_running = int(max_running)
        self.stale_after = float(stale_after)
        self.orphan_after = float(orphan_after)
        self.heartbeat = min(10.0, max(PROGRESS_INTERVAL, self.stale_after / 4))
        try:  # direct exports write their temporary folders here too
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.warning("export jobs folder %s cannot be created: %s", self.folder, exc)

    # -- public API --------------------------------------------------------------------------------
    def start(self, store: Store, args: Mapping) -> dict:
        """Check ``args`` (InvalidParameter before anything is created), refuse with TooBusy when
        ``max_running`` jobs run, else create the job and start its thread; its public state."""
        args = dict(args)
        plan_export(store, args)
        self._prepare()
        with self._exclusive():
            self.cleanup()
            running = self._running_ids()
            if len(running) >= self.max_running:
                raise TooBusy(f"{len(running)} exports are running, as many as may run at once "
                              f"({self.max_running}); wait for one to finish and start this one again")
            job_id, job_dir = self._new()
            now = time.time()
            state = {"id": job_id, "state": "running", "created": iso(now), "updated": iso(now),
                     "expires": iso(now + self.ttl), "pid": os.getpid(), "host": HOST,
                     "layer": None, "done": 0, "total": 0, "percent": 0,
                     "format": None, "crs": None, "filename": None, "filename_utf8": None, "media_type": None,
                     "content_disposition": None, "size": None, "counts": {}, "detail": None}
            thread = threading.Thread(target=self._run, args=(job_dir, state, store, args),
                                      name=f"export-job-{job_id}", daemon=True)
            with _LOCK:
                self._save(job_dir, state)
                _THREADS[str(job_dir)] = thread  # not started yet: counted as live (see _live)
        try:
            thread.start()
        except BaseException:
            with _LOCK:
                _THREADS.pop(str(job_dir), None)
            self._forget(job_dir)
            raise
        log.info("export job %s started: %s", job_id, args)
        return self.public(state)

    def status(self, job_id: str) -> dict:
        """The job's public state; NotFound for an unknown, malformed or expired id."""
        return self.public(self._current(job_id)[1])

    def result(self, job_id: str) -> tuple[Path, dict]:
        """The finished job's file and its full state (filename, media type, size, content
        disposition); NotReady (409) while it runs, NotFound when it failed or is gone."""
        job_dir, state = self._current(job_id)
        if state["state"] == "running":
            raise NotReady(f"the export {job_id} is still running ({state.get('percent', 0)}%); "
                           "download it when its state is done")
        if state["state"] == "failed":
            raise NotFound(f"the export {job_id} has no file: {state.get('detail') or FAILED}")
        return self._result_file(job_dir, job_id), {k: v for k, v in state.items() if k not in PRIVATE}

    def cleanup(self, now: float | None = None) -> list[str]:
        """Remove what no one needs: finished jobs whose last update is older than ``ttl``, jobs
        left "running" by a process that is gone, job folders without a readable state.json for
        over a minute, and temporary export folders whose owner is gone (inside a job that is not
        running; directly in the jobs folder, unchanged for ``orphan_after``). The removed names
        (job ids; ``<id>/<folder>`` inside a job)."""
        now = time.time() if now is None else now
        removed: list[str] = []
        try:
            entries = sorted(os.scandir(self.folder), key=lambda e: e.name)
        except OSError:
            return removed
        for entry in entries:
            name, path = entry.name, Path(entry.path)
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if not is_dir:
                continue
            if name.startswith(TMP_PREFIX):
                if now - newest_mtime(path) > self.orphan_after:
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(name)
                continue
            if not JOB_ID.fullmatch(name):
                continue  # not ours: left alone
            state = read_state(path)
            if state is None:
                if now - newest_mtime(path) > UNREADABLE_AFTER:
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(name)
                continue
            if state["state"] == "running":
                if not self._live(path, state, now):
                    log.warning("export job %s was interrupted (process %s gone or silent); removed",
                                name, state.get("pid"))
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(name)
                continue
            if self._expired(state, now):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(name)
                continue
            for leftover in partial_files(path):  # a finished job owns no temporary folder
                if leftover.name != RESULT_FILE:
                    remove(leftover)
                    if leftover.name.startswith(TMP_PREFIX):
                        removed.append(f"{name}/{leftover.name}")
        if removed:
            log.info("export jobs cleaned up: %s", ", ".join(removed))
        return removed

    @staticmethod
    def public(state: Mapping) -> dict:
        """What an API client sees of a job: no pid or host, and ``download`` true when its file is
        ready (the web layer turns it into a URL)."""
        keys = ("id", "state", "created", "updated", "expires", "layer", "done", "total", "percent", "format",
                "crs", "filename", "filename_utf8", "media_type", "size", "counts", "detail")
        body = {k: state.get(k) for k in keys}
        body["download"] = state.get("state") == "done"
        return body

    # -- lookups -----------------------------------------------------------------------------------
    def _job_dir(self, job_id) -> Path:
        if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
            raise NotFound("no such export job (job ids are 16 letters, digits, - or _)")
        return self.folder / job_id

    def _current(self, job_id) -> tuple[Path, dict]:
        """The job's folder and its state, with interruption and expiry applied."""
        job_dir = self._job_dir(job_id)
        state = self._load(job_dir)
        if state is None:
            raise NotFound(f"no export job {job_id} (unknown, or finished more than {self.ttl:g} s ago)")
        now = time.time()
        if state["state"] == "running" and not self._live(job_dir, state, now):
            state = self._interrupt(job_dir, state)
        if state["state"] != "running" and self._expired(state, now):
            self._forget(job_dir)
            raise NotFound(f"the export {job_id} has expired (files are kept {self.ttl:g} s); start it again")
        return job_dir, state

    def _running_ids(self) -> list[str]:
        return running_ids(self.folder, self._live)

    def _live(self, job_dir: Path, state: Mapping, now: float) -> bool:
        """Whether a "running" job is really being run (a thread not started yet counts as live)."""
        with _LOCK:
            thread = _THREADS.get(str(job_dir))
        return runner_alive(state, thread, stale_after=self.stale_after, now=now)

    def _expired(self, state: Mapping, now: float) -> bool:
        updated = ts(state.get("updated"))
        return updated is None or now - updated > self.ttl

    def _interrupt(self, job_dir: Path, state: dict) -> dict:
        """Mark a job whose runner is gone as failed and remove its partial files (``still_dead``)."""
        with _LOCK:
            if (dead := still_dead(self._load, self._live, job_dir, state)) is None:
                return self._load(job_dir) or state
            log.warning("export job %s was interrupted (process %s gone or silent)", job_dir.name, state.get("pid"))
            self._drop_partial(job_dir, everything=True)
            now = time.time()
            state = {**dead, "state": "failed", "detail": INTERRUPTED, "updated": iso(now), "expires": iso(now + self.ttl),
                     "filename": None, "filename_utf8": None, "content_disposition": None, "size": None}
            try:
                self._save(job_dir, state)
            except OSError:
                pass  # the folder went away meanwhile: the state is still what we report
        return state

    def _exclusive(self):
        """Starts are serialised: within this process and across processes (``jobfiles.exclusive``)."""
        return exclusive(self.folder, _LOCK)

    # -- where jobs are kept: a folder each (``PgJobs``: PostgreSQL); ``job`` names one, ``str(job)`` unique
    def _prepare(self) -> None:
        """Before a start: the jobs folder exists (StoreError when it cannot)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError("export jobs cannot be started just now; the operator has been told (see the server log)",
                             internal=f"creating {self.folder}: {exc}") from exc

    def _new(self):  # (a new job id, its ``job``), reserved
        return new_folder(self.folder)

    def _load(self, job) -> dict | None:
        return read_state(job)

    def _save(self, job, state: dict) -> None:
        write_state(job, state)

    def _save_own(self, job, state: dict, *, sync: bool = False) -> bool:
        """The runner's write: ``state`` (its times renewed) kept if the job is still its own
        (running, by this process); False when another process declared it interrupted."""
        return save_own(job, state, self.ttl, sync=sync)

    def _forget(self, job) -> None:
        shutil.rmtree(job, ignore_errors=True)

    def _workdir(self, job) -> Path:  # where the runner writes the export (a local folder)
        return job

    def _keep(self, job, path: Path) -> None:
        """The finished file, kept as the job's result."""
        os.replace(path, job / RESULT_FILE)

    def _result_file(self, job, job_id: str):
        """The kept result: a path (or a readable binary file); NotFound when it is gone."""
        path = job / RESULT_FILE
        if not path.is_file():
            raise NotFound(f"the export {job_id} has no file any more; start it again")
        return path

    def _drop_partial(self, job, *, everything: bool) -> None:
        """What a job that did not finish leaves (``everything``: state temporaries too)."""
        for path in partial_files(job):
            if everything or not path.name.startswith(".state-"):
                remove(path)

    def _done_with(self, job) -> None:  # the runner's end (done, failed or cancelled)
        pass

    # -- the job's thread --------------------------------------------------------------------------
    def _run(self, job_dir: Path, state: dict, store: Store, args: dict) -> None:
        job_id = state["id"]
        cancelled = threading.Event()
        stop = threading.Event()
        progress_lock = threading.Lock()
        seen: dict[str, int] = {}
        last = {"write": 0.0, "dirty": False}
        total = 0

        def write(final: bool = False) -> None:
            """Write the state if the job is still ours on disk, else flag it cancelled."""
            with _LOCK:
                if not self._save_own(job_dir, state, sync=final):
                    cancelled.set()
                    return
                last["write"], last["dirty"] = time.monotonic(), False

        def progress(layer: str, done: int, layer_total: int) -> None:
            if cancelled.is_set():
                raise _Cancelled()
            with progress_lock:
                seen[layer] = done
                overall = sum(seen.values())
                state["layer"], state["done"] = layer, overall
                state["total"] = max(total, overall)
                state["percent"] = min(99, int(100 * overall / state["total"])) if state["total"] else 0
                last["dirty"] = True

        def beat() -> None:
            """Flush progress at most every PROGRESS_INTERVAL; rewrite the state every heartbeat."""
            while not stop.wait(PROGRESS_INTERVAL):
                since = time.monotonic() - last["write"]
                if (last["dirty"] and since >= PROGRESS_INTERVAL) or since >= self.heartbeat:
                    try:
                        with progress_lock:
                            write()
                    except OSError:
                        log.warning("export job %s: its state could not be written", job_id, exc_info=True)

        beater = threading.Thread(target=beat, name=f"export-job-{job_id}-state", daemon=True)
        result = None
        try:
            plan = plan_export(store, args)
            total = size(store, plan)
            with progress_lock:
                state["total"], state["format"], state["crs"] = total, plan.format.name, plan.target.name
            beater.start()
            result = export(store, args, tmp_dir=self._workdir(job_dir), progress=progress)
            self._keep(job_dir, result.path)
            result.cleanup()  # its temporary folder gone before the job says done: a done job owns none
            stop.set()
            beater.join()
            with progress_lock:
                state.update(state="done", layer=None, done=sum(result.counts.values()), percent=100,
                             format=result.format, crs=result.crs, filename=result.filename,
                             filename_utf8=result.filename_utf8, media_type=result.media_type,
                             content_disposition=result.content_disposition, size=result.size,
                             counts=dict(result.counts))
                state["total"] = max(state["done"], state["total"])
                write(final=True)
            if cancelled.is_set():
                self._drop_partial(job_dir, everything=False)
                log.warning("export job %s finished after it had been declared interrupted; its file is dropped",
                            job_id)
            else:
                log.info("export job %s done: %s, %s bytes", job_id, result.counts, result.size)
        except _Cancelled:
            log.warning("export job %s stopped: it had been declared interrupted", job_id)
        except Exception as exc:
            if isinstance(exc, GeoError):
                detail = exc.detail
                log.warning("export job %s failed: %s", job_id, exc)
            else:
                detail = FAILED
                log.exception("export job %s failed", job_id)
            stop.set()
            if beater.is_alive():
                beater.join()
            self._drop_partial(job_dir, everything=False)
            with progress_lock:
                state.update(state="failed", detail=detail, layer=None, filename=None, filename_utf8=None,
                             media_type=None, content_disposition=None, size=None)
                try:
                    write(final=True)
                except OSError:
                    log.exception("export job %s: its failure could not be recorded", job_id)
        finally:
            stop.set()
            if result is not None:
                result.cleanup()
            self._done_with(job_dir)
            with _LOCK:
                _THREADS.pop(str(job_dir), None)
