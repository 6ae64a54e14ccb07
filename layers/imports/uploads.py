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
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import time
from pathlib import Path

from geo.errors import InvalidParameter, NotFound, TooLarge

from ..api.jobfiles import JOB_ID, iso, new_folder, newest_mtime, read_state, ts, write_state

log = logging.getLogger(__name__)
#: the received file's folder inside an upload's folder
FILE_DIR = "file"
_CHUNK = 1 << 20
_UNSAFE = re.compile(r"[^\w.\-]+")


def safe_name(name: str | None) -> str:
    """The file's own name, without folders or characters a path could abuse (Chinese kept)."""
    base = re.split(r"[\\/]", str(name or ""))[-1].strip().lstrip(".")
    base = _UNSAFE.sub("_", base)[:120]
    if not base:
        raise InvalidParameter("the upload has no file name; send it as the multipart field 'file' with its name",
                               parameter="file")
    return base


class Uploads:
    """Uploads under ``folder``, one folder each, kept ``ttl`` seconds after their last update."""

    def __init__(self, folder: Path, *, ttl: float = 3600):
        self.folder = Path(folder)
        self.ttl = float(ttl)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.warning("imports folder %s cannot be created: %s", self.folder, exc)

    def save(self, stream, filename: str, *, owner: str, max_bytes: int) -> dict:
        """Copy ``stream`` into a new upload, stopping (TooLarge, nothing kept) past ``max_bytes``."""
        name = safe_name(filename)
        self.cleanup()
        self.folder.mkdir(parents=True, exist_ok=True)
        upload_id, folder = new_folder(self.folder)
        try:
            (folder / FILE_DIR).mkdir()
            written = 0
            with open(folder / FILE_DIR / name, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    written += len(chunk)
                    if written > max_bytes:
                        raise TooLarge(f"{name} is larger than the {max_bytes >> 20} MB an import accepts "
                                       "(ATLAS_IMPORT_MAX_MB); split the data or import an extract", parameter="file")
                    out.write(chunk)
            now = time.time()
            # "done": received (jobfiles' states; a background inspection will add "running")
            state = {"id": upload_id, "state": "done", "owner": owner, "file": name, "size": written,
                     "created": iso(now), "updated": iso(now), "expires": iso(now + self.ttl),
                     "inspection": None, "committed": []}
            write_state(folder, state)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return state

    def state(self, upload_id) -> dict:
        """The upload's state; NotFound for an unknown, malformed or expired id."""
        if not isinstance(upload_id, str) or not JOB_ID.fullmatch(upload_id):
            raise NotFound("no such upload (upload ids are 16 letters, digits, - or _)", parameter="id")
        folder = self.folder / upload_id
        state = read_state(folder)
        if state is None:
            raise NotFound(f"no upload {upload_id} (unknown, removed, or older than {self.ttl:g} s); upload the "
                           "file again", parameter="id")
        if self._expired(state, time.time()):
            shutil.rmtree(folder, ignore_errors=True)
            raise NotFound(f"the upload {upload_id} has expired (uploads are kept {self.ttl:g} s); upload the file "
                           "again", parameter="id")
        return state

    def path(self, upload_id) -> Path:
        state = self.state(upload_id)
        return self.folder / upload_id / FILE_DIR / state["file"]

    def scratch(self, upload_id) -> Path:
        """Where an upload's zip is unpacked while it is inspected (removed with the upload)."""
        return self.folder / upload_id

    def update(self, upload_id, **changes) -> dict:
        state = {**self.state(upload_id), **changes}
        now = time.time()
        state["updated"], state["expires"] = iso(now), iso(now + self.ttl)
        write_state(self.folder / upload_id, state)
        return state

    def remove(self, upload_id) -> None:
        self.state(upload_id)
        shutil.rmtree(self.folder / upload_id, ignore_errors=True)

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
        return {k: state.get(k) for k in ("id", "file", "size", "created", "updated", "expires", "committed")}
