"""Export jobs kept in PostgreSQL (a PostGIS store's app schema, ``layers.shared.pgfiles``): the
same ``Jobs`` with its state in a row and its result file in chunks, so that a job started through
one app server is followed, finished and downloaded through any other, on any machine. The runner
writes the export into a local scratch folder (a GDAL driver needs a file), streams it into the
database, then says "done"; its liveness is its heartbeat in the row (no pid or host to check from
another machine): a "running" job whose runner has not written for ``stale_after`` seconds is
reported failed ("interrupted"), as today.
"""
from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from geo.errors import NotFound

from layers.config import store_folder
from layers.shared.pgfiles import Exclusive, TaskRef, Tasks

from .jobfiles import JOB_ID, STATES, TMP_PREFIX, iso, newest_mtime, ts
from .jobs import _LOCK, _THREADS, Jobs

log = logging.getLogger(__name__)
RESULT = "result"


#: what names one job to ``Jobs``' persistence methods
PgJob = TaskRef


class PgJobs(Jobs):
    """``Jobs`` over ``database`` (a ``layers.shared.pg.AppDatabase``); ``scratch``: the local
    folder where this process writes exports before they are stored (and direct exports' files)."""

    def __init__(self, database, scratch: Path, **kw):
        super().__init__(scratch, **kw)
        self.tasks = Tasks(database, "export")

    def _job_dir(self, job_id) -> PgJob:
        if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
            raise NotFound("no such export job (job ids are 16 letters, digits, - or _)")
        return self.tasks.ref(job_id)

    def _prepare(self) -> None:
        self.tasks.database.create()

    def _exclusive(self):
        return Exclusive(self.tasks, _LOCK)

    def _new(self):
        import secrets

        job_id = secrets.token_urlsafe(12)
        return job_id, self.tasks.ref(job_id)

    def _load(self, job: PgJob) -> dict | None:
        state = self.tasks.load(job.name)
        return state if state is not None and state.get("state") in STATES else None

    def _save(self, job: PgJob, state: dict) -> None:
        if not self.tasks.insert(job.name, state):
            self.tasks.save(job.name, state)

    def _save_own(self, job: PgJob, state: dict, *, sync: bool = False) -> bool:
        now = time.time()
        state["updated"], state["expires"] = iso(now), iso(now + self.ttl)
        return self.tasks.save_own(job.name, state)

    def _forget(self, job: PgJob) -> None:
        self.tasks.delete(job.name)

    def _live(self, job: PgJob, state: dict, now: float) -> bool:
        return self.tasks.live(job, state, _THREADS, _LOCK, self.stale_after)

    def _running_ids(self) -> list[str]:
        return self.tasks.running_ids(_THREADS, _LOCK, self.stale_after)

    def _workdir(self, job: PgJob) -> Path:
        folder = self.folder / job.name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _keep(self, job: PgJob, path: Path) -> None:
        with open(path, "rb") as fh:
            self.tasks.put(job.name, RESULT, fh)
        path.unlink(missing_ok=True)

    def _result_file(self, job: PgJob, job_id: str):
        if RESULT not in self.tasks.sizes(job.name):
            raise NotFound(f"the export {job_id} has no file any more; start it again")
        return self.tasks.open(job.name, RESULT)

    def _drop_partial(self, job: PgJob, *, everything: bool) -> None:
        self.tasks.drop_files(job.name)
        shutil.rmtree(self.folder / job.name, ignore_errors=True)

    def _done_with(self, job: PgJob) -> None:
        shutil.rmtree(self.folder / job.name, ignore_errors=True)

    def cleanup(self, now: float | None = None) -> list[str]:
        """Remove finished jobs whose last update is older than ``ttl`` and jobs left running by a
        runner that went silent (any app server's), and this machine's scratch folders nothing
        has touched for ``orphan_after``."""
        now = time.time() if now is None else now
        removed = []
        for state in self.tasks.all():
            job_id = state.get("id")
            if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
                continue
            job = self._job_dir(job_id)
            if state.get("state") == "running":
                gone = not self._live(job, state, now)
            else:
                updated = ts(state.get("updated"))
                gone = updated is None or now - updated > self.ttl
            if gone:
                self._forget(job)
                removed.append(job_id)
        try:
            entries = list(self.folder.iterdir())
        except OSError:
            entries = []
        for path in entries:
            if path.is_dir() and (path.name.startswith(TMP_PREFIX) or JOB_ID.fullmatch(path.name)) \
                    and str(self.tasks.ref(path.name)) not in _THREADS \
                    and now - newest_mtime(path) > self.orphan_after:
                shutil.rmtree(path, ignore_errors=True)
        if removed:
            log.info("export jobs cleaned up: %s", ", ".join(removed))
        return removed


def open_jobs(store, settings: dict, shared=None) -> Jobs:
    """The app's export jobs, cleaned up: in ``exports/`` beside a GeoPackage store's file (one
    machine), or in a PostGIS store's database (``shared``: any app server follows any job)."""
    options = {"ttl": settings["EXPORT_TTL"], "max_running": settings["EXPORT_JOBS"]}
    if shared is not None:
        jobs = PgJobs(shared, shared.scratch / "exports", **options)
    else:
        jobs = Jobs(store_folder(store) / "exports", **options)
    jobs.cleanup()
    return jobs
