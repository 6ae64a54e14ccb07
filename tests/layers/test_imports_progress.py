"""Imports told of their progress (``progress=`` of inspect, commit and plan; the CLI's bars), and
commit using what inspect read (in memory, or kept in the upload folder for another process)
instead of reading the file again, only while it is the same file read the same way."""
from __future__ import annotations

import importlib
import os
import pickle

import numpy as np
import pandas as pd
import pytest

from geo.store import Query
from layers import imports
from layers.imports import kept
from layers.imports.progress import Progress
from server import create_app

from .test_imports import NAMES, _head, gbk_shapefile_zip

commit_module = importlib.import_module("layers.imports.commit")  # the package's ``commit`` is the function


class Recorder:
    def __init__(self, fail_on=None):
        self.calls, self.fail_on = [], fail_on

    def __call__(self, phase, done, total):
        self.calls.append((phase, done, total))
        if self.fail_on and self.fail_on(phase, done, total):
            raise KeyboardInterrupt("cancelled")

    def phases(self):
        return list(dict.fromkeys(p for p, _, _ in self.calls))

    def check(self):
        """Every phase: begins at 0, ends at total, never goes back, one total."""
        for phase in self.phases():
            mine = [(d, t) for p, d, t in self.calls if p == phase]
            assert mine[0][0] == 0 and mine[-1][0] == mine[-1][1], (phase, mine)
            assert [d for d, _ in mine] == sorted(d for d, _ in mine), (phase, mine)
            assert len({t for _, t in mine}) == 1, (phase, mine)


def _squares_csv(path, n):
    """``n`` small squares as WKT in Huancui, UTF-8 with Chinese names."""
    lon = 122.03 + (np.arange(n) % 100) * 1e-4
    lat = 37.49 + (np.arange(n) // 100) * 1e-4
    wkt = [f"POLYGON (({x} {y}, {x + 5e-5} {y}, {x + 5e-5} {y + 5e-5}, {x} {y + 5e-5}, {x} {y}))"
           for x, y in zip(lon, lat)]
    pd.DataFrame({"name_zh": [f"地块{i}" for i in range(n)], "wkt": wkt}).to_csv(path, index=False)
    return path


def test_phases_are_reported_in_order_and_reach_their_totals(store, reference, tmp_path):
    archive = gbk_shapefile_zip(tmp_path / "src")
    seen = Recorder()
    with imports.inspect(archive, reference=reference, scratch=tmp_path, progress=seen) as found:
        assert seen.phases() == ["unpack", "read", "check"]
        seen.check()
        read_total = next(t for p, _, t in seen.calls if p == "read")
        assert read_total == sum(p.stat().st_size for p in found.path.iterdir())  # the unpacked bytes
        seen.calls.clear()
        planned = imports.plan(store, found, layer="parcels", actor="test", progress=seen)
        assert seen.phases() == ["read", "check"] and planned.added == len(NAMES)  # a dry run writes nothing
        seen.check()
        seen.calls.clear()
        imports.commit(store, found, layer="parcels", actor="test", progress=seen)
    assert seen.phases() == ["read", "check", "write"]
    seen.check()
    assert seen.calls[-1] == ("write", len(NAMES), len(NAMES))
    assert seen.calls[0] == ("read", 0, len(NAMES))


def test_the_write_reports_each_chunk_and_a_raising_progress_writes_nothing(store, reference, tmp_path):
    path = _squares_csv(tmp_path / "many.csv", 25_000)
    head = _head(store)
    found = imports.inspect(path, reference=reference)
    stop = Recorder(fail_on=lambda phase, done, total: phase == "write" and 0 < done < total)
    with pytest.raises(KeyboardInterrupt):
        imports.commit(store, found, layer="many", actor="test", progress=Progress(stop, interval=0))
    assert _head(store) == head and "many" not in store.layers()  # rolled back: as if never begun
    seen = Recorder()
    imports.commit(store, found, layer="many", actor="test", progress=Progress(seen, interval=0))
    writes = [d for p, d, _ in seen.calls if p == "write"]
    assert writes == [0, 5_000, 10_000, 15_000, 20_000, 24_999, 25_000]  # a call a chunk of 5,000; the end once committed
    assert store.info("many").count == 25_000


def test_calls_between_start_and_end_are_at_most_a_few_a_second(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("layers.imports.progress.time.monotonic", lambda: clock[0])
    seen = Recorder()
    report = Progress(seen)
    report("write", 0, 100)
    for done in range(1, 100):
        clock[0] += 0.01  # a call every 10 ms
        report("write", done, 100)
    report("write", 100, 100)
    report("write", 100, 100)  # said already: not again
    middle = [d for _, d, _ in seen.calls[1:-1]]
    assert seen.calls[0][1] == 0 and seen.calls[-1][1] == 100
    assert 2 <= len(middle) <= 5  # ~1 s of calls: one every 0.25 s
    assert Progress(None)("read", 0, 1) is None  # no callable: nothing to do


def test_commit_takes_what_inspect_read_and_reads_again_when_the_file_changed(store, reference, tmp_path,
                                                                              monkeypatch):
    path = _squares_csv(tmp_path / "parcels.csv", 30)
    reads = []
    real = commit_module._read
    monkeypatch.setattr(commit_module, "_read", lambda *a, **k: reads.append(a) or real(*a, **k))
    found = imports.inspect(path, reference=reference)
    imports.plan(store, found, layer="one", actor="test")
    imports.commit(store, found, layer="one", actor="test")
    assert reads == []  # plan and commit both used the inspected read
    imports.commit(store, found, layer="two", actor="test")
    assert len(reads) == 1  # handed over to the first commit: read again
    found = imports.inspect(path, reference=reference)
    _squares_csv(path, 31)  # the file changed under the inspection
    os.utime(path, ns=(1, 1))
    imports.commit(store, found, layer="three", actor="test")
    assert len(reads) == 2 and store.info("three").count == 31
    found = imports.inspect(path, reference=reference)
    imports.commit(store, found, layer="four", encoding="GB18030", actor="test")  # another encoding: read again
    assert len(reads) == 3


def test_a_commit_in_another_process_loads_the_read_kept_in_the_upload_folder(store, reference, tmp_path,
                                                                              monkeypatch):
    archive = gbk_shapefile_zip(tmp_path / "src")
    upload = tmp_path / "upload"
    upload.mkdir()
    found = imports.inspect(archive, reference=reference, scratch=upload)
    assert found.read_cache is not None and found.read_cache.parent == upload
    assert "read_key" not in found.to_dict() and "read_cache" not in found.to_dict()
    shipped = pickle.loads(pickle.dumps(found))  # what another process gets: without the frame
    assert "_read" not in shipped.__dict__
    found.close()  # the unpacked folder is gone: only the kept read is left to commit from
    monkeypatch.setattr(commit_module, "_read", lambda *a, **k: pytest.fail("the file was read again"))
    result = imports.commit(store, shipped, layer="parcels", actor="test")
    assert result.added == len(NAMES)
    stored = store.query("parcels", Query())
    assert sorted(stored["name_zh"]) == sorted(NAMES) and stored["area_m2"].iloc[0] == pytest.approx(32000, rel=0.01)


def test_a_kept_read_of_another_file_is_not_used(store, reference, tmp_path):
    archive = gbk_shapefile_zip(tmp_path / "src")
    upload = tmp_path / "upload"
    upload.mkdir()
    found = imports.inspect(archive, reference=reference, scratch=upload)
    shipped = pickle.loads(pickle.dumps(found))
    found.close()
    os.utime(archive, ns=(1, 1))  # the upload is not the file inspected any more
    assert kept.take_read(shipped, shipped.encoding, keep=True) is None
    assert kept.load_read(shipped.read_cache, {**shipped.read_key, "layer": "other"}) is None
    (upload / shipped.read_cache.name).write_bytes(b"not arrow")
    assert kept.load_read(shipped.read_cache, shipped.read_key) is None


def test_a_csv_longer_than_the_encoding_sample_cut_inside_a_character_is_utf8(store, reference, tmp_path):
    from layers.imports import inspection

    row = "威海环翠区合成地块,122.05,37.5\n".encode()
    off = (inspection._TEXT_SAMPLE - len(b"name_zh,lon,lat\n")) % len(row)
    head = f"name_zh{'_' * ((off - 1) % len(row))},lon,lat\n".encode()  # the sample ends 1 byte into 威
    rows = (inspection._TEXT_SAMPLE - len(head)) // len(row) + 2
    data = head + row * rows
    assert data[inspection._TEXT_SAMPLE - 1] == "威".encode()[0]  # the sample ends inside a character
    path = tmp_path / "big.csv"
    path.write_bytes(data)
    found = imports.inspect(path, reference=reference)
    assert found.encoding == "UTF-8" and found.count == rows


def test_a_gbk_csv_is_inspected_without_being_told_its_encoding(store, reference, tmp_path):
    path = tmp_path / "国标.csv"
    path.write_bytes("名称,经度,纬度\n华夏城,122.0631,37.4437\n刘公岛,122.18,37.50\n".encode("gbk"))
    found = imports.inspect(path, reference=reference)
    assert found.encoding in ("GBK", "GB18030") and found.count == 2
    imports.commit(store, found, layer="gbk_sites", actor="test")
    name = next(f["store"] for f in found.fields if f["name"] == "名称")
    assert sorted(store.query("gbk_sites", Query())[name]) == ["刘公岛", "华夏城"]


def test_cli_import_shows_a_bar_for_each_phase(store, tmp_path):
    archive = gbk_shapefile_zip(tmp_path / "src")
    app = create_app({"STORE": str(store.path), "TESTING": True})
    result = app.test_cli_runner().invoke(args=["import", str(archive), "--layer", "parcels", "--yes"])
    assert result.exit_code == 0, result.output
    err = result.stderr
    for label in ("unpacking", "reading", "checking", "writing (5 features)"):
        assert label in err, err
    assert err.index("unpacking") < err.index("reading") < err.index("checking") < err.index("writing")
    assert "revision" in result.stdout and "writing (" not in result.stdout


def test_an_upload_inspected_again_is_not_read_again(store, reference, tmp_path, monkeypatch):
    """The commit of an upload inspects it again (layers/web/imports.py): the read kept in its folder."""
    inspection = importlib.import_module("layers.imports.inspection")
    archive = gbk_shapefile_zip(tmp_path / "src")
    upload = tmp_path / "upload"
    upload.mkdir()
    first = imports.inspect(archive, reference=reference, scratch=upload)
    first.close()
    reads = []
    real = inspection._read
    monkeypatch.setattr(inspection, "_read", lambda *a, **k: reads.append(a) or real(*a, **k))
    with imports.inspect(archive, reference=reference, scratch=upload) as again:
        assert reads == [] and again.read_cache == first.read_cache
        assert again.to_dict() == first.to_dict()  # the same inspection
        imports.commit(store, again, layer="parcels", actor="test")
    override = "GBK" if first.encoding == "GB18030" else "GB18030"
    with imports.inspect(archive, reference=reference, scratch=upload, encoding=override) as other:
        assert len(reads) == 1 and other.read_cache != first.read_cache  # another encoding: read, kept anew
    assert [p.name for p in upload.glob(".atlas-read-*")] == [other.read_cache.name]  # one kept read an upload
    assert sorted(store.query("parcels", Query())["name_zh"]) == sorted(NAMES)
