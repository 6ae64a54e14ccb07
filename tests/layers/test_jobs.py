"""Export jobs (layers.api.jobs) over the small test atlas: real exports into real folders, read back
by GDAL or zipfile; slow and failing exports through store wrappers whose ``stream`` sleeps or
raises (the export itself is the real one); states written by hand for dead and silent processes;
hostile ids; a second ``Jobs`` over the same folder, and jobs run — and killed — in another process."""
from __future__ import annotations

import itertools
import json
import logging
import os
import secrets
import subprocess
import sys
import threading
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pyogrio
import pytest

from geo.errors import GeoError, InvalidParameter, NotFound, StoreError
from layers.api import jobfiles
from layers.api import jobs as jobs_mod
from layers.api.jobs import FAILED, INTERRUPTED, Jobs, NotReady, TooBusy

LAYERS = ["districts", "zones", "parks", "roads", "projects"]
REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 60


# -- helpers -------------------------------------------------------------------------------------
def stored_counts(store) -> dict[str, int]:
    """Features a layer, read from the GeoPackage by GDAL (not through our store)."""
    return {layer: pyogrio.read_info(store.path, layer=layer)["features"] for layer in LAYERS}


def wait_for(jobs: Jobs, job_id: str, until=lambda s: s["state"] != "running", timeout: float = TIMEOUT) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        state = jobs.status(job_id)
        if until(state):
            return state
        assert time.monotonic() < deadline, f"job {job_id} still {state} after {timeout} s"
        time.sleep(0.02)


def state_file(jobs: Jobs, job_id: str) -> dict:
    return json.loads((jobs.folder / job_id / "state.json").read_text(encoding="utf-8"))


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings(k)
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def assert_no_paths(text: str, *folders: Path) -> None:
    for folder in folders:
        assert str(folder) not in text
    for value in strings(json.loads(text)):
        assert not os.path.isabs(value), value
        assert "/" not in value or value.startswith("application/") or "attachment" in value, value


def gpkg_counts(path: Path) -> dict[str, int]:
    return {name: pyogrio.read_info(path, layer=name)["features"] for name, _ in pyogrio.list_layers(path)}


def hand_written(folder: Path, *, pid: int, state: str = "running", updated: float | None = None,
                 partial: bool = True, **extra) -> str:
    """A job folder written the way another (perhaps dead) process would have left it."""
    job_id = secrets.token_urlsafe(12)
    job = folder / job_id
    job.mkdir(parents=True)
    now = time.time() if updated is None else updated
    iso = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now))
    body = {"id": job_id, "state": state, "created": iso, "updated": iso, "pid": pid, "layer": "parks",
            "done": 1, "total": 9, "percent": 11, "filename": None, "filename_utf8": None, "media_type": None,
            "size": None, "counts": {}, "detail": None,
            "expires": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(now + 3600)), **extra}
    (job / "state.json").write_text(json.dumps(body), encoding="utf-8")
    if partial:
        tmp = job / ".weihai-export-k3j2h1"
        tmp.mkdir()
        (tmp / "weihai-atlas_all_EPSG4326.gpkg").write_bytes(b"half a file")
    return job_id


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


class Wrapped:
    """The test store, with everything but ``stream`` passed through."""

    def __init__(self, store):
        self._store = store

    def __getattr__(self, name):
        return getattr(self._store, name)


class SlowStore(Wrapped):
    """``stream`` yields one feature at a time, sleeping before each until the test allows it
    (``allow(n)``: n more features; ``open()``: all of them)."""

    def __init__(self, store, delay: float = 0.0):
        super().__init__(store)
        self.tokens = threading.Semaphore(0)
        self.opened = threading.Event()
        self.delay = delay

    def allow(self, n: int) -> None:
        for _ in range(n):
            self.tokens.release()

    def open(self) -> None:
        self.opened.set()

    def stream(self, layer, query, *, chunk_size=5000):
        for frame in self._store.stream(layer, query, chunk_size=chunk_size):
            for i in range(len(frame)):
                deadline = time.monotonic() + TIMEOUT
                while not self.opened.is_set() and not self.tokens.acquire(timeout=0.01):
                    if time.monotonic() > deadline:
                        raise TimeoutError("the test never let this store go on")
                time.sleep(self.delay)
                yield frame.iloc[[i]]


class BrokenStore(Wrapped):
    def __init__(self, store, error: BaseException):
        super().__init__(store)
        self.error = error

    def stream(self, layer, query, *, chunk_size=5000):
        raise self.error
        yield  # a generator, as a store's stream is


@pytest.fixture()
def folder(tmp_path):
    return tmp_path / "exports"


# -- a job runs to done --------------------------------------------------------------------------
def test_job_runs_to_done_gpkg(built_store, folder, tmp_path):
    jobs = Jobs(folder)
    started = jobs.start(built_store, {"layers": "all", "format": "gpkg", "crs": "EPSG:4550"})
    assert started["state"] in ("running", "done") and "pid" not in started and "host" not in started
    job_id = started["id"]
    assert jobfiles.JOB_ID.fullmatch(job_id)

    state = wait_for(jobs, job_id)
    expected = stored_counts(built_store)
    assert state["state"] == "done", state
    assert state["download"] is True and state["percent"] == 100 and state["detail"] is None
    assert state["counts"] == expected
    assert state["done"] == state["total"] == sum(expected.values())
    assert state["format"] == "gpkg" and state["crs"] == "EPSG:4550"
    assert state["filename"] == "weihai-atlas_all_EPSG4550.gpkg"
    assert state["filename_utf8"].startswith("精致威海规划图_全部图层")
    assert "pid" not in state

    path, full = jobs.result(job_id)
    assert path == folder / job_id / "result"
    assert gpkg_counts(path) == expected
    assert full["size"] == path.stat().st_size == state["size"]
    assert full["media_type"] == "application/geopackage+sqlite3"
    assert full["content_disposition"].startswith('attachment; filename="weihai-atlas_all_EPSG4550.gpkg"')
    assert "filename*=UTF-8''" in full["content_disposition"]
    # the job's folder holds its state and its file, nothing temporary
    assert sorted(p.name for p in (folder / job_id).iterdir()) == ["result", "state.json"]
    text = (folder / job_id / "state.json").read_text(encoding="utf-8")
    assert_no_paths(text, tmp_path, built_store.path.parent)
    on_disk = json.loads(text)
    assert on_disk["pid"] == os.getpid()
    for key in ("id", "state", "created", "updated", "pid", "layer", "done", "total", "percent", "filename",
                "filename_utf8", "media_type", "size", "counts", "detail", "expires"):
        assert key in on_disk, key


def test_job_runs_to_done_zip(built_store, folder):
    jobs = Jobs(folder)
    job_id = jobs.start(built_store, {"layers": "parks,projects", "format": "geojson"})["id"]
    state = wait_for(jobs, job_id)
    assert state["state"] == "done", state
    path, full = jobs.result(job_id)
    assert full["media_type"] == "application/zip" and full["filename"].endswith(".zip")
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        counts = {Path(n).stem: len(json.loads(zf.read(n))["features"]) for n in zf.namelist()
                  if n.endswith(".geojson")}
    expected = {k: v for k, v in stored_counts(built_store).items() if k in ("parks", "projects")}
    assert counts == expected == state["counts"]


# -- bad parameters ------------------------------------------------------------------------------
@pytest.mark.parametrize("args, parameter", [
    ({"layers": "nope"}, "layers"),
    ({}, "layers"),
    ({"layers": "parks", "format": "dwg"}, "format"),
    ({"layers": "parks", "crs": "EPSG:99999"}, "crs"),
    ({"layers": "parks", "colour": "red"}, "colour"),
    ({"layers": "parks", "bbox": "1,2,3"}, "bbox"),
])
def test_bad_parameters_create_nothing(built_store, folder, args, parameter):
    jobs = Jobs(folder)
    with pytest.raises(InvalidParameter) as err:
        jobs.start(built_store, args)
    assert err.value.status == 400 and err.value.parameter == parameter
    assert [p.name for p in folder.iterdir() if not p.name.startswith(".")] == []
    assert not any(p.name.startswith(".weihai-export-") for p in folder.iterdir())


# -- max_running ---------------------------------------------------------------------------------
def test_max_running_is_enforced_across_threads(built_store, folder):
    slow = SlowStore(built_store)
    jobs = Jobs(folder, max_running=2)
    barrier = threading.Barrier(5)
    started, refused = [], []

    def go():
        barrier.wait()
        try:
            started.append(jobs.start(slow, {"layers": "parks"}))
        except TooBusy as exc:
            refused.append(exc)

    threads = [threading.Thread(target=go) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    try:
        assert len(started) == 2 and len(refused) == 3
        err = refused[0]
        assert isinstance(err, GeoError) and err.status == 429
        assert err.to_dict()["error"] == "too_many_jobs" and "2" in err.detail
        assert sorted(p.name for p in folder.iterdir() if jobfiles.JOB_ID.fullmatch(p.name)) == \
            sorted(s["id"] for s in started)
        # counted from disk: another Jobs (another worker) refuses as well
        with pytest.raises(TooBusy):
            Jobs(folder, max_running=2).start(built_store, {"layers": "roads"})
        assert all(jobs.status(s["id"])["state"] == "running" for s in started)
    finally:
        slow.open()
    for s in started:
        assert wait_for(jobs, s["id"])["state"] == "done"
    # once they are done, a new job starts and runs
    again = jobs.start(built_store, {"layers": "roads"})
    assert wait_for(jobs, again["id"])["state"] == "done"


def test_progress_and_result_seen_by_a_second_instance(built_store, folder):
    slow = SlowStore(built_store)
    jobs, other = Jobs(folder), Jobs(folder)
    expected = stored_counts(built_store)
    job_id = jobs.start(slow, {"layers": "all", "format": "gpkg"})["id"]
    try:
        slow.allow(3)
        state = wait_for(other, job_id, lambda s: s["done"] >= 3, timeout=10)
        assert state["state"] == "running" and state["done"] == 3
        assert state["total"] == sum(expected.values())
        assert 0 < state["percent"] < 100 and state["percent"] == int(100 * 3 / state["total"])
        assert state["layer"] in LAYERS and state["download"] is False and "pid" not in state
        with pytest.raises(NotReady) as err:
            other.result(job_id)
        assert err.value.status == 409 and err.value.code == "not_ready"
        assert "still running" in err.value.detail
        time.sleep(0.6)  # nothing more allowed: nothing changes, and it is still running (heartbeat)
        assert other.status(job_id)["done"] == 3 and other.status(job_id)["state"] == "running"
    finally:
        slow.open()
    state = wait_for(other, job_id)
    assert state["state"] == "done" and state["counts"] == expected
    path, full = other.result(job_id)
    assert path == jobs.result(job_id)[0]
    assert gpkg_counts(path) == expected and full["size"] == path.stat().st_size


def test_progress_is_throttled_and_the_end_always_written(built_store, folder, monkeypatch):
    writes = []
    real = jobfiles.write_state

    def counting(job_dir, state, **kw):
        writes.append((time.monotonic(), dict(state)))
        return real(job_dir, state, **kw)

    monkeypatch.setattr(jobs_mod, "write_state", counting)  # the job's own writes
    monkeypatch.setattr(jobfiles, "write_state", counting)  # the runner's (jobfiles.save_own)
    slow = SlowStore(built_store, delay=0.12)  # 9 features, ~1.1 s
    slow.open()
    jobs = Jobs(folder)
    t0 = time.monotonic()
    job_id = jobs.start(slow, {"layers": "all"})["id"]
    state = wait_for(jobs, job_id)
    elapsed = time.monotonic() - t0
    assert state["state"] == "done"
    progress = [w for w in writes if w[1]["state"] == "running"]
    # the start, then at most four a second
    assert len(progress) <= 1 + 4 * elapsed + 1, (len(progress), elapsed)
    assert len(progress) >= 3  # and it does report along the way
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(progress[1:])]
    assert min(gaps) >= jobs_mod.PROGRESS_INTERVAL * 0.8
    assert writes[-1][1]["state"] == "done" and writes[-1][1]["percent"] == 100


# -- failures ------------------------------------------------------------------------------------
def test_unexpected_failure_is_generic_and_logged(built_store, folder, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="layers.api.jobs")
    jobs = Jobs(folder)
    job_id = jobs.start(BrokenStore(built_store, OSError(f"disk went away under {tmp_path}")),
                        {"layers": "parks"})["id"]
    state = wait_for(jobs, job_id)
    assert state["state"] == "failed" and state["detail"] == FAILED
    assert state["download"] is False
    assert "disk went away" not in json.dumps(state)
    text = (folder / job_id / "state.json").read_text(encoding="utf-8")
    assert "disk went away" not in text and "OSError" not in text
    assert_no_paths(text, tmp_path)
    assert [p.name for p in (folder / job_id).iterdir()] == ["state.json"]
    with pytest.raises(NotFound) as err:
        jobs.result(job_id)
    assert FAILED in err.value.detail and "disk went away" not in err.value.detail
    # the operator's log has the job id and the traceback
    records = [r for r in caplog.records if r.exc_info and job_id in r.getMessage()]
    assert records and records[0].levelno == logging.ERROR
    assert "Traceback" in caplog.text and "disk went away" in caplog.text and "OSError" in caplog.text


def test_geo_error_failure_shows_its_public_detail(built_store, folder, caplog):
    caplog.set_level(logging.WARNING, logger="layers.api.jobs")
    error = StoreError("the atlas's data store cannot be read just now", internal="/srv/secret/atlas.gpkg: locked")
    jobs = Jobs(folder)
    job_id = jobs.start(BrokenStore(built_store, error), {"layers": "roads"})["id"]
    state = wait_for(jobs, job_id)
    assert state["state"] == "failed" and state["detail"] == "the atlas's data store cannot be read just now"
    assert "/srv/secret" not in (folder / job_id / "state.json").read_text(encoding="utf-8")
    assert job_id in caplog.text and "/srv/secret" in caplog.text  # the internal part: log only


# -- dead and silent processes -------------------------------------------------------------------
def test_running_under_a_dead_pid_is_interrupted(folder):
    jobs = Jobs(folder)
    job_id = hand_written(folder, pid=dead_pid())
    (folder / job_id / "result").write_bytes(b"half")
    state = jobs.status(job_id)
    assert state["state"] == "failed" and state["detail"] == INTERRUPTED and state["download"] is False
    # its partial files are gone; its state says what happened, for the page polling it
    assert [p.name for p in (folder / job_id).iterdir()] == ["state.json"]
    assert state_file(jobs, job_id)["state"] == "failed"
    with pytest.raises(NotFound) as err:
        jobs.result(job_id)
    assert INTERRUPTED in err.value.detail
    # kept until its time is up, then removed
    assert jobs.cleanup() == []
    assert jobs.cleanup(now=time.time() + 3601) == [job_id]
    assert not (folder / job_id).exists()
    with pytest.raises(NotFound):
        jobs.status(job_id)


def test_cleanup_removes_dead_running_jobs_and_start_does_it(built_store, folder):
    jobs = Jobs(folder, max_running=1)
    first = hand_written(folder, pid=dead_pid())
    assert jobs.cleanup() == [first] and not (folder / first).exists()
    second = hand_written(folder, pid=dead_pid())
    # a dead job does not count against max_running, and start() removes it
    job_id = jobs.start(built_store, {"layers": "parks"})["id"]
    assert not (folder / second).exists()
    assert wait_for(jobs, job_id)["state"] == "done"


def test_own_pid_without_a_thread_is_an_earlier_process(folder):
    # a restarted server may get the pid its predecessor had: no thread here runs the job
    job_id = hand_written(folder, pid=os.getpid())
    assert Jobs(folder).status(job_id)["detail"] == INTERRUPTED


def test_a_silent_job_of_a_live_process_is_interrupted(folder):
    jobs = Jobs(folder, stale_after=60)
    alive = os.getppid()
    fresh = hand_written(folder, pid=alive)
    silent = hand_written(folder, pid=alive, updated=time.time() - 120)
    # a live process that writes: running, counted from disk, left alone by cleanup
    assert jobs.status(fresh)["state"] == "running"
    assert jobs.cleanup() == [silent]
    assert (folder / fresh / ".weihai-export-k3j2h1").exists()  # the live job's partial file
    assert jobs.status(fresh)["state"] == "running"


def test_a_live_job_in_another_process_counts(built_store, folder):
    jobs = Jobs(folder, max_running=1)
    fresh = hand_written(folder, pid=os.getppid())
    with pytest.raises(TooBusy):
        jobs.start(built_store, {"layers": "parks"})
    assert sorted(p.name for p in folder.iterdir() if jobfiles.JOB_ID.fullmatch(p.name)) == [fresh]
    silent = hand_written(folder, pid=os.getppid(), updated=time.time() - 120)
    assert jobs.status(silent)["detail"] == INTERRUPTED
    assert [p.name for p in (folder / silent).iterdir()] == ["state.json"]


def test_a_job_declared_interrupted_elsewhere_stops(built_store, folder):
    # another worker took this job for dead (it was silent too long) and said so on disk: the job,
    # still running here, stops at its next progress and leaves no file
    slow = SlowStore(built_store)
    jobs = Jobs(folder)
    job_id = jobs.start(slow, {"layers": "all", "format": "gpkg"})["id"]
    slow.allow(1)
    wait_for(jobs, job_id, lambda s: s["done"] >= 1, timeout=10)
    verdict = {**state_file(jobs, job_id), "state": "failed", "detail": INTERRUPTED}
    jobfiles.write_state(folder / job_id, verdict)
    slow.open()
    deadline = time.monotonic() + TIMEOUT
    while f"{folder / job_id}" in jobs_mod._THREADS:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert jobs.status(job_id)["detail"] == INTERRUPTED
    assert [p.name for p in (folder / job_id).iterdir()] == ["state.json"]


def test_a_job_that_finishes_while_it_is_looked_at_is_not_taken_for_a_dead_one(built_store, folder):
    """A reader that read "running" just before the job finished (and its thread ended) finds it
    gone from this process's threads: it must not declare it interrupted over its "done" state
    and remove its file (seen as a flaky failure of the suite under load)."""
    jobs = Jobs(folder)
    job_id = jobs.start(built_store, {"layers": "roads"})["id"]
    read_while_running = {**jobfiles.read_state(folder / job_id), "state": "running"}
    assert wait_for(jobs, job_id)["state"] == "done"
    after = jobs._interrupt(folder / job_id, read_while_running)
    assert after["state"] == "done" and jobs.status(job_id)["state"] == "done"
    path, _ = jobs.result(job_id)
    assert Path(path).stat().st_size > 0  # its file is still there


# -- cleanup -------------------------------------------------------------------------------------
def test_expired_done_job_is_removed(built_store, folder):
    jobs = Jobs(folder, ttl=3600)
    job_id = jobs.start(built_store, {"layers": "roads"})["id"]
    assert wait_for(jobs, job_id)["state"] == "done"
    assert jobs.cleanup() == []
    assert jobs.cleanup(now=time.time() + 1800) == []
    assert jobs.cleanup(now=time.time() + 3601) == [job_id]
    assert not (folder / job_id).exists()
    with pytest.raises(NotFound):
        jobs.result(job_id)


def test_an_expired_job_is_not_found_even_before_cleanup(folder):
    jobs = Jobs(folder, ttl=60)
    job_id = hand_written(folder, pid=dead_pid(), state="done", updated=time.time() - 120, partial=False)
    with pytest.raises(NotFound) as err:
        jobs.status(job_id)
    assert "expired" in err.value.detail and not (folder / job_id).exists()


def test_orphans_and_unreadable_folders(built_store, folder):
    jobs = Jobs(folder)
    old = time.time() - 2 * 3600

    def aged(path: Path) -> Path:
        for p in [*path.rglob("*"), path]:
            os.utime(p, (old, old))
        return path

    orphan = folder / ".weihai-export-a1b2c3"
    orphan.mkdir()
    (orphan / "weihai-atlas_parks_EPSG4326.geojson").write_text("{")
    aged(orphan)
    current = folder / ".weihai-export-d4e5f6"  # a direct export being written now
    current.mkdir()
    (current / "part.gpkg").write_bytes(b"x")

    done = jobs.start(built_store, {"layers": "parks"})["id"]
    assert wait_for(jobs, done)["state"] == "done"
    assert not orphan.exists(), "start() cleans up"
    left = folder / done / ".weihai-export-zzz999"  # left in a finished job: its owner is gone
    left.mkdir()

    no_state_old = folder / secrets.token_urlsafe(12)
    no_state_old.mkdir()
    aged(no_state_old)
    no_state_new = folder / secrets.token_urlsafe(12)  # someone's start() in progress
    no_state_new.mkdir()
    garbage = folder / secrets.token_urlsafe(12)
    garbage.mkdir()
    (garbage / "state.json").write_text('{"id": "someone else", "state": "done"')
    aged(garbage)
    other = folder / "notes"
    other.mkdir()
    aged(other)
    (folder / "README").write_text("not ours")

    removed = jobs.cleanup()
    assert sorted(removed) == sorted([f"{done}/{left.name}", no_state_old.name, garbage.name])
    assert not left.exists() and not no_state_old.exists() and not garbage.exists()
    assert current.exists() and no_state_new.exists() and other.exists() and (folder / "README").exists()
    assert jobs.result(done)[0].is_file()
    # an old one without state goes; a fresh direct export goes when unchanged for long
    assert sorted(jobs.cleanup(now=time.time() + 2 * 3600)) == sorted([current.name, done, no_state_new.name])


# -- hostile ids ---------------------------------------------------------------------------------
@pytest.mark.parametrize("job_id", ["../x", "a/b", "", "x" * 1000, "..", ".", "../../etc/passwd",
                                    "abcdefghijklmno/", "/abcdefghijklmnop", "abcdefghijklmn\x00p",
                                    "abcdefghijklmnop\n", "..%2f..%2fexports", "AAAAAAAAAAAAAAAA", None, 17])
def test_hostile_ids_are_not_found(folder, job_id):
    jobs = Jobs(folder)
    # something a path built from "../x" would reach
    outside = folder.parent / "x"
    outside.mkdir(exist_ok=True)
    (outside / "state.json").write_text(json.dumps({"id": "x", "state": "done", "updated": "2999-01-01T00:00:00Z"}))
    (outside / "result").write_text("secret")
    for call in (jobs.status, jobs.result):
        with pytest.raises(NotFound) as err:
            call(job_id)
        assert err.value.status == 404
    assert (outside / "result").read_text() == "secret"


# -- another process -----------------------------------------------------------------------------
CHILD = r"""
import sys, time
from pathlib import Path
from geo.store import open_store
from layers.api.jobs import Jobs

class Slow:
    def __init__(self, store):
        self.store = store
    def __getattr__(self, name):
        return getattr(self.store, name)
    def stream(self, layer, query, *, chunk_size=5000):
        for frame in self.store.stream(layer, query, chunk_size=chunk_size):
            for i in range(len(frame)):
                time.sleep(float(sys.argv[3]))
                yield frame.iloc[[i]]

jobs = Jobs(Path(sys.argv[2]))
state = jobs.start(Slow(open_store(sys.argv[1], key="id")), {"layers": "all", "format": "gpkg"})
print(state["id"], flush=True)
while jobs.status(state["id"])["state"] == "running":
    time.sleep(0.05)
print(jobs.status(state["id"])["state"], flush=True)
"""


@contextmanager
def child(store, folder: Path, delay: float):
    """A process (another worker) that starts a job, prints its id, and waits for it to end."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(store.path), str(folder), str(delay)],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        job_id = proc.stdout.readline().strip()
        assert jobfiles.JOB_ID.fullmatch(job_id), job_id
        yield proc, job_id
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()


def test_a_job_of_another_process(built_store, folder):
    with child(built_store, folder, 0.15) as (proc, job_id):
        jobs = Jobs(folder)
        running = jobs.status(job_id)
        assert running["state"] == "running"
        assert state_file(jobs, job_id)["pid"] == proc.pid != os.getpid()
        assert wait_for(jobs, job_id, lambda s: s["done"] > 0, timeout=20)["state"] == "running"
        state = wait_for(jobs, job_id)
        assert state["state"] == "done", state
        path, _ = jobs.result(job_id)
        assert gpkg_counts(path) == stored_counts(built_store) == state["counts"]
        assert proc.stdout.readline().strip() == "done"
        assert proc.wait(TIMEOUT) == 0


def test_a_killed_process_leaves_an_interrupted_job(built_store, folder):
    with child(built_store, folder, 5.0) as (proc, job_id):
        jobs = Jobs(folder)
        assert jobs.status(job_id)["state"] == "running"
        with pytest.raises(NotReady):
            jobs.result(job_id)
        proc.kill()  # as a worker killed by a restart
        proc.wait()
    state = jobs.status(job_id)
    assert state["state"] == "failed" and state["detail"] == INTERRUPTED
    assert [p.name for p in (folder / job_id).iterdir()] == ["state.json"]
