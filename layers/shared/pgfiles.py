"""Tasks (export jobs, uploads) and their files in the app's PostgreSQL (``layers.shared.pg``): the
state a request needs, in one row a task, and its files in chunks, so that any app server on any
machine answers for a task another started.

- ``Tasks.save`` writes a task's state; ``save_own`` is its runner's write, kept only while the task
  is still running by this process (``RUNNER``), the database's ``now()`` its heartbeat; ``load``
  gives the state with ``age``, the seconds since the runner last wrote, by the database's clock (so
  app servers whose clocks differ agree whether a runner is silent).
- ``put`` streams a file in (``CHUNK`` bytes a row, one statement a chunk: a slow upload holds no
  transaction), ``open`` streams it out one chunk at a time (``ChunkReader``), ``fetch`` copies it
  to a local file (a reader such as GDAL needs one). Nothing is ever whole in memory.
"""
from __future__ import annotations

import io
import os
import secrets
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from psycopg.types.json import Jsonb

from .pg import CHUNK

#: this process, as the runner of the tasks it starts (a pid alone is not unique across machines)
RUNNER = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
#: the advisory lock (second key) serialising starts of tasks of one kind over every app server
_STARTS = {"export": 2, "upload": 3}


def runner() -> str:
    """This process's runner name (a forked worker has its own)."""
    global RUNNER
    if RUNNER.split(":")[1] != str(os.getpid()):
        RUNNER = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    return RUNNER


@dataclass(frozen=True)
class TaskRef:
    """What names one task to the persistence methods of ``Jobs`` and ``Uploads`` (``Path``-like:
    ``.name`` is the id; ``str()`` names it among every server's tasks)."""
    schema: str
    name: str

    def __str__(self) -> str:
        return f"postgresql:{self.schema}/{self.name}"


class Tasks:
    """The tasks of one ``kind`` ('export' or 'upload') in ``database``."""

    def __init__(self, database, kind: str):
        self.database, self.kind = database, kind
        database.create()

    def ref(self, task_id: str) -> TaskRef:
        return TaskRef(self.database.schema, task_id)

    # -- state ---------------------------------------------------------------------------------
    def insert(self, task_id: str, state: dict) -> bool:
        """A new task run (or received) by this process; False when the id is taken."""
        with self.database.transaction(f"starting a {self.kind}") as con:
            cur = con.execute("INSERT INTO tasks (kind, id, state, runner) VALUES (%s, %s, %s, %s) "
                              "ON CONFLICT DO NOTHING", (self.kind, task_id, Jsonb(_public(state)), runner()))
            return cur.rowcount == 1

    def load(self, task_id: str) -> dict | None:
        """The task's state with ``runner`` and ``age`` (seconds since its runner's last word), or None."""
        with self.database.transaction(f"reading a {self.kind}") as con:
            row = con.execute("SELECT state, runner, extract(epoch FROM now() - heartbeat)::float8 FROM tasks "
                              "WHERE kind = %s AND id = %s", (self.kind, task_id)).fetchone()
        return None if row is None else {**row[0], "runner": row[1], "age": row[2]}

    def all(self) -> list[dict]:
        with self.database.transaction(f"listing {self.kind}s") as con:
            rows = con.execute("SELECT state, runner, extract(epoch FROM now() - heartbeat)::float8 FROM tasks "
                               "WHERE kind = %s ORDER BY id", (self.kind,)).fetchall()
        return [{**r[0], "runner": r[1], "age": r[2]} for r in rows]

    def save(self, task_id: str, state: dict, *, run: bool = False) -> None:
        """Replace the task's state (``run``: this process becomes its runner, heartbeat now)."""
        with self.database.transaction(f"writing a {self.kind}") as con:
            if run:
                con.execute("UPDATE tasks SET state = %s, runner = %s, heartbeat = now() WHERE kind = %s AND id = %s",
                            (Jsonb(_public(state)), runner(), self.kind, task_id))
            else:
                con.execute("UPDATE tasks SET state = %s WHERE kind = %s AND id = %s",
                            (Jsonb(_public(state)), self.kind, task_id))

    def save_own(self, task_id: str, state: dict, *, started: str | None = None) -> bool:
        """The runner's write (a heartbeat): kept only while the task is running by this process
        (and, given ``started``, is the same run); False when someone declared it interrupted."""
        with self.database.transaction(f"writing a {self.kind}") as con:
            cur = con.execute("UPDATE tasks SET state = %s, heartbeat = now() WHERE kind = %s AND id = %s "
                              "AND runner = %s AND state->>'state' = 'running' "
                              "AND (%s::text IS NULL OR state->>'started' = %s::text)",
                              (Jsonb(_public(state)), self.kind, task_id, runner(), started, started))
            return cur.rowcount == 1

    def delete(self, task_id: str) -> None:
        """The task and its files."""
        with self.database.transaction(f"removing a {self.kind}") as con:
            con.execute("DELETE FROM tasks WHERE kind = %s AND id = %s", (self.kind, task_id))

    def alive(self, state: dict, thread, stale_after: float) -> bool:
        """Whether a "running" task is being run: by this process, its thread tells (a thread
        not started yet counts); by another (here or on another machine), a word within
        ``stale_after`` seconds."""
        if state.get("runner") == runner():
            return thread is not None and (thread.ident is None or thread.is_alive())
        age = state.get("age")
        return age is not None and age <= stale_after

    def live(self, ref, state: dict, threads, lock, stale_after: float) -> bool:
        """``alive`` for the task of ``ref``, its thread (if this process runs it) looked up in
        ``threads`` under ``lock``."""
        with lock:
            thread = threads.get(str(ref))
        return self.alive(state, thread, stale_after)

    def running_ids(self, threads, lock, stale_after: float) -> list[str]:
        """The ids of this kind's tasks being run now, by this process or another server."""
        return [s["id"] for s in self.all()
                if s.get("state") == "running" and self.live(self.ref(s["id"]), s, threads, lock, stale_after)]

    @contextmanager
    def exclusive(self):
        """Starts of this kind serialised over every app server (a session advisory lock)."""
        with self.database.connection(f"starting a {self.kind}") as con:
            con.execute("SELECT pg_advisory_lock(%s, %s)", (self.database.lock_key, _STARTS[self.kind]))
            try:
                yield
            finally:
                con.execute("SELECT pg_advisory_unlock(%s, %s)", (self.database.lock_key, _STARTS[self.kind]))

    # -- files ---------------------------------------------------------------------------------
    def put(self, task_id: str, name: str, stream, *, limit: int | None = None, on_chunk=None) -> int:
        """Copy ``stream`` (read ``CHUNK`` bytes at a time) in as the task's file ``name``; the
        bytes written. ``on_chunk(data, total)`` is called before each chunk is stored (it may
        raise, e.g. past a size limit; what was stored of the file is removed then)."""
        total, seq = 0, 0
        try:
            while chunk := stream.read(CHUNK):
                total += len(chunk)
                if on_chunk is not None:
                    on_chunk(chunk, total)
                with self.database.transaction(f"storing a {self.kind}'s file") as con:
                    con.execute("INSERT INTO files (kind, id, name, seq, data) VALUES (%s, %s, %s, %s, %s)",
                                (self.kind, task_id, name, seq, chunk))
                seq += 1
        except BaseException:
            self.drop_files(task_id, [name])
            raise
        return total

    def sizes(self, task_id: str) -> dict[str, int]:
        """The task's files and their sizes."""
        with self.database.transaction(f"reading a {self.kind}'s files") as con:
            rows = con.execute("SELECT name, sum(length(data))::bigint FROM files WHERE kind = %s AND id = %s "
                               "GROUP BY name", (self.kind, task_id)).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def open(self, task_id: str, name: str) -> "ChunkReader":
        return ChunkReader(self, task_id, name)

    def chunk(self, task_id: str, name: str, seq: int) -> bytes | None:
        with self.database.transaction(f"reading a {self.kind}'s file") as con:
            row = con.execute("SELECT data FROM files WHERE kind = %s AND id = %s AND name = %s AND seq = %s",
                              (self.kind, task_id, name, seq)).fetchone()
        return None if row is None else bytes(row[0])

    def fetch(self, task_id: str, name: str, target: Path) -> int:
        """The file copied to ``target`` (replaced atomically); its size."""
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
        size = 0
        try:
            with open(tmp, "wb") as out:
                seq = 0
                while (data := self.chunk(task_id, name, seq)) is not None:
                    out.write(data)
                    size += len(data)
                    seq += 1
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return size

    def drop_files(self, task_id: str, names=None) -> None:
        with self.database.transaction(f"removing a {self.kind}'s files") as con:
            if names is None:
                con.execute("DELETE FROM files WHERE kind = %s AND id = %s", (self.kind, task_id))
            else:
                con.execute("DELETE FROM files WHERE kind = %s AND id = %s AND name = ANY(%s)",
                            (self.kind, task_id, list(names)))


class ChunkReader(io.RawIOBase):
    """A task's file read one stored chunk at a time (one short query a chunk: a slow download
    holds no connection)."""

    def __init__(self, tasks: Tasks, task_id: str, name: str):
        super().__init__()
        self._tasks, self._id, self._name = tasks, task_id, name
        self._seq, self._buffer, self._at, self._end = 0, b"", 0, False

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        if self._at >= len(self._buffer):
            if self._end:
                return 0
            data = self._tasks.chunk(self._id, self._name, self._seq)
            if data is None:
                self._end = True
                return 0
            self._seq, self._buffer, self._at = self._seq + 1, data, 0
        n = min(len(target), len(self._buffer) - self._at)
        target[:n] = self._buffer[self._at:self._at + n]
        self._at += n
        return n


class Exclusive:
    """``lock`` (this process's), then the database's lock of ``tasks``' kind: starts serialised
    over every app server."""

    def __init__(self, tasks: Tasks, lock):
        self._tasks, self._lock, self._held = tasks, lock, None

    def __enter__(self):
        self._lock.acquire()
        try:
            self._held = self._tasks.exclusive()
            self._held.__enter__()
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(self, *exc):
        try:
            return self._held.__exit__(*exc)
        finally:
            self._lock.release()


def _public(state: dict) -> dict:
    """The state as stored: without what ``load`` adds."""
    return {k: v for k, v in state.items() if k not in ("runner", "age")}
