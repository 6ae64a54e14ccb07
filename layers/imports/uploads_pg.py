"""Uploads kept in PostgreSQL (a PostGIS store's app schema, ``layers.shared.pgfiles``): the same
``Uploads`` with its state in a row and the received file(s) in chunks, so that a file uploaded
through one app server is inspected, committed, undone and removed through any other, on any
machine. The file is streamed in as it is received (at most ``max_bytes``: past it, nothing is
kept) and copied into this machine's scratch folder as it goes; a server that has no copy fetches
one, chunk by chunk, when it reads the file (GDAL needs a file). The kept read of an inspection
(``kept``) stays in the scratch folder of the machine that made it: a commit elsewhere reads the
file again. A task's liveness is its heartbeat in the row.
"""
from __future__ import annotations

import logging
import secrets
import shutil
import time
from pathlib import Path

from geo.errors import NotFound, TooLarge

from layers.shared.pgfiles import Exclusive, TaskRef, Tasks

from ..api.jobfiles import JOB_ID, STATES, iso, ts
from .uploads import _LOCK, _THREADS, FILE_DIR, Uploads, safe_name, shapefile_parts

log = logging.getLogger(__name__)
#: a row whose file is being received (not an upload yet: ``state`` says it does not exist)
RECEIVING = "receiving"


#: what names one upload to ``Uploads``' persistence methods
PgUpload = TaskRef


class PgUploads(Uploads):
    """``Uploads`` over ``database`` (a ``layers.shared.pg.AppDatabase``); ``scratch``: this
    machine's folder of copies of the files and of their unpacked contents."""

    def __init__(self, database, scratch: Path, **kw):
        super().__init__(scratch, **kw)
        self.tasks = Tasks(database, "upload")

    # -- persistence -----------------------------------------------------------------------------
    def _folder(self, upload_id) -> PgUpload:
        if not isinstance(upload_id, str) or not JOB_ID.fullmatch(upload_id):
            raise NotFound("no such upload (upload ids are 16 letters, digits, - or _)", parameter="id")
        return self.tasks.ref(upload_id)

    def _load(self, upload: PgUpload) -> dict | None:
        state = self.tasks.load(upload.name)
        return state if state is not None and state.get("state") in STATES else None

    def _save(self, upload: PgUpload, state: dict, *, run: bool = False) -> None:
        self.tasks.save(upload.name, state, run=run)

    def _save_own(self, upload: PgUpload, state: dict, *, sync: bool = False) -> bool:
        now = time.time()
        state["updated"], state["expires"] = iso(now), iso(now + self.ttl)
        return self.tasks.save_own(upload.name, state, started=state.get("started"))

    def _forget(self, upload: PgUpload) -> None:
        self.tasks.delete(upload.name)
        shutil.rmtree(self.folder / upload.name, ignore_errors=True)

    def _live(self, upload: PgUpload, state: dict, now: float) -> bool:
        return self.tasks.live(upload, state, _THREADS, _LOCK, self.stale_after)

    def _running_ids(self) -> list[str]:
        return self.tasks.running_ids(_THREADS, _LOCK, self.stale_after)

    def _exclusive(self):
        return Exclusive(self.tasks, _LOCK)

    # -- the files -------------------------------------------------------------------------------
    def _local(self, upload_id: str, state: dict) -> tuple[Path, Path]:
        """(the folder of the file(s) in this machine's copy, the path ``path`` answers)."""
        inside = self.folder / upload_id / FILE_DIR
        if len(state.get("files") or ()) > 1:
            inside = inside / Path(state["file"]).stem
            return inside, inside
        return inside, inside / state["file"]

    def save_many(self, files, *, owner: str, max_bytes: int) -> dict:
        names = [safe_name(name) for _, name in files]
        main = shapefile_parts(names) if len(names) > 1 else names[0]
        self.cleanup()
        while True:
            upload_id = secrets.token_urlsafe(12)
            now = time.time()
            state = {"id": upload_id, "state": RECEIVING, "owner": owner, "file": main, "files": names,
                     "created": iso(now), "updated": iso(now), "expires": iso(now + self.ttl)}
            if self.tasks.insert(upload_id, state):
                break
        inside, _ = self._local(upload_id, state)
        written = 0
        try:
            inside.mkdir(parents=True, exist_ok=True)
            for (stream, _), name in zip(files, names):
                with open(inside / name, "wb") as copy:
                    def check(chunk: bytes, total: int, copy=copy, before=written) -> None:
                        if before + total > max_bytes:
                            raise TooLarge(f"{main} is larger than the {max_bytes >> 20} MB an import accepts "
                                           "(ATLAS_IMPORT_MAX_MB); split the data or import an extract",
                                           parameter="file")
                        copy.write(chunk)

                    written += self.tasks.put(upload_id, name, stream, on_chunk=check)
            now = time.time()
            state = {**state, "state": "done", "size": written, "updated": iso(now), "expires": iso(now + self.ttl),
                     "inspection": None, "committed": [], "task": None, "progress": None, "error": None}
            self.tasks.save(upload_id, state)
        except BaseException:
            self.tasks.delete(upload_id)
            shutil.rmtree(self.folder / upload_id, ignore_errors=True)
            raise
        return state

    def path(self, upload_id) -> Path:
        """The received file (or a Shapefile's folder of parts) in this machine's copy, fetched
        from the database first when this machine has none (or an incomplete one)."""
        state = self.state(upload_id)
        sizes = self.tasks.sizes(upload_id)
        names = state.get("files") or [state["file"]]
        if not sizes or any(n not in sizes for n in names):
            raise NotFound(f"the file of upload {upload_id} was refused and is not kept; upload it again "
                           "(corrected)", parameter="id")
        inside, answer = self._local(upload_id, state)
        for name in names:
            local = inside / name
            if not local.is_file() or local.stat().st_size != sizes[name]:
                self.tasks.fetch(upload_id, name, local)
        return answer

    def discard_file(self, upload_id) -> None:
        self.tasks.drop_files(upload_id)
        folder = self.folder / upload_id
        for entry in folder.iterdir() if folder.is_dir() else ():
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)

    def scratch(self, upload_id) -> Path:
        folder = self.folder / upload_id
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def cleanup(self, now: float | None = None) -> list[str]:
        """Remove uploads not updated for ``ttl`` seconds (a running one only once its runner is
        silent too), receptions that died, and this machine's copies of uploads that are gone."""
        now = time.time() if now is None else now
        removed, kept = [], set()
        for state in self.tasks.all():
            upload_id = state.get("id")
            if not isinstance(upload_id, str) or not JOB_ID.fullmatch(upload_id):
                continue
            updated = ts(state.get("updated"))
            expired = updated is None or now - updated > self.ttl
            if state.get("state") == "running":
                stale = expired and not self._live(self._folder(upload_id), state, now)
            else:
                stale = expired
            if stale:
                self._forget(self._folder(upload_id))
                removed.append(upload_id)
            else:
                kept.add(upload_id)
        try:
            local = [p for p in self.folder.iterdir() if p.is_dir() and JOB_ID.fullmatch(p.name)]
        except OSError:
            local = []
        for path in local:
            if path.name not in kept:
                shutil.rmtree(path, ignore_errors=True)
        if removed:
            log.info("uploads cleaned up: %s", ", ".join(removed))
        return removed
