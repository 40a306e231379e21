"""A batch that cannot be fooled: one file spelled two ways, a symlink out of OUTDIR, a
results file cut by a crash, and a full disk under a row's output or the results."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gramstyle.batch import RESULTS, ManifestError, Row, read_manifest, read_results, run_batch
from gramstyle.batch import manifest as manifest_module
from gramstyle.batch.run import CUT
from gramstyle.errors import DiskFull
from gramstyle.settings import Settings

FAST = dict(size=48, min_size=24, steps=4, coarse_steps=3, init="noise", precision="fp32")


@pytest.fixture
def imgs(tmp_path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    rng = np.random.default_rng(0)
    for name, shape in [("c1.png", (30, 40)), ("c2.png", (40, 30)), ("s1.png", (40, 40))]:
        Image.fromarray(rng.integers(0, 255, (*shape, 3), dtype=np.uint8)).save(d / name)
    return d


def manifest(imgs: Path, *outputs: str) -> Path:
    m = imgs / "m.csv"
    m.write_text("content,style,output\n" + "".join(f"c1.png,s1.png,{o}\n" for o in outputs))
    return m


def test_one_file_spelled_two_ways_is_refused_before_any_work(imgs, tmp_path):
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    (out / "alias").symlink_to(out)  # a way back into OUTDIR itself
    spellings = [
        (f"{out}/a.png", f"{out}/../out/a.png"),
        ("a.png", "./sub/../a.png"),
        ("a.png", "alias/a.png"),
        (f"{out}/a.png", "alias/alias/a.png"),
    ]
    for one, other in spellings:
        with pytest.raises(ManifestError, match="rows 1 and 2 both write") as e:
            read_manifest(manifest(imgs, one, other), out)
        assert f"{out}/a.png" in str(e.value), (one, other)
    # Rows made in code are checked by run_batch itself, before it writes anything.
    rows = [
        Row(k, str(imgs / "c1.png"), (str(imgs / "s1.png"),), p, None, "bad")
        for k, p in [(1, f"{out}/b.png"), (2, f"{out}/sub/../b.png")]
    ]
    with pytest.raises(ManifestError, match="rows 1 and 2 both write"):
        list(run_batch(rows, out))
    assert not (out / RESULTS).exists()


def test_case_is_folded_only_where_the_file_system_folds_it(imgs, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    assert manifest_module.folds_case(str(out)) is False  # this file system tells A from a
    assert len(read_manifest(manifest(imgs, "A.png", "a.png"), out)) == 2
    monkeypatch.setattr(manifest_module, "folds_case", lambda folder: True)  # as on macOS
    with pytest.raises(ManifestError, match="rows 1 and 2 both write"):
        read_manifest(manifest(imgs, "A.png", "a.png"), out)


def test_a_symlink_out_of_outdir_is_refused(imgs, tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "link").symlink_to(elsewhere)
    with pytest.raises(ManifestError, match="through a symlink") as e:
        read_manifest(manifest(imgs, "link/x.png"), out)
    assert f"(to {elsewhere}/x.png)" in str(e.value)
    (job,) = read_manifest(manifest(imgs, f"{out}/link/x.png"), out)  # absolute: the user's
    assert job.output == f"{out}/link/x.png"


def _bad_rows(n: int) -> list[Row]:
    """Rows refused while reading: recorded without a worker (fast)."""
    return [Row(k, "c.png", ("s.png",), f"/nowhere/{k}.png", None, "refused") for k in range(n)]


def test_a_cut_results_file_is_repaired_on_open(tmp_path):
    results = tmp_path / RESULTS
    whole = json.dumps({"run": "old", "row": 0, "status": "done"})
    results.write_text(whole + "\n" + '{"run": "old", "row": 1, "sta')  # cut by a crash
    list(run_batch(_bad_rows(2), tmp_path))
    lines = results.read_text().splitlines()
    assert lines[0] == whole and len(lines) == 3
    assert [r["row"] for r in read_results(tmp_path)] == [0, 0, 1]
    assert (tmp_path / (RESULTS + CUT)).read_text() == '{"run": "old", "row": 1, "sta\n'
    # A last line that is whole JSON and only lacks its newline is kept.
    results.write_text(whole)
    list(run_batch(_bad_rows(1), tmp_path))
    assert [r["row"] for r in read_results(tmp_path)] == [0, 0]


def test_results_on_a_full_disk_stop_the_batch_in_one_line(tmp_path, monkeypatch):
    results = tmp_path / RESULTS
    results.write_text('{"row": 0}\n')
    real = os.write

    def short_write(fd: int, data: bytes) -> int:  # half the line fits, then no room
        if os.readlink(f"/proc/self/fd/{fd}") == str(results):
            return real(fd, data[: len(data) // 2])
        return real(fd, data)

    monkeypatch.setattr(os, "write", short_write)
    with pytest.raises(DiskFull, match=f"could not write {results}: no space left"):
        list(run_batch(_bad_rows(1), tmp_path))
    assert results.read_text() == '{"row": 0}\n'  # the half line was taken back


def test_a_full_disk_under_an_output_fails_that_row(imgs, tmp_path, child_faults, tiny_weights):
    out = tmp_path / "out"
    m = imgs / "m.csv"
    m.write_text("content,style\nc1.png,s1.png\nc2.png,s1.png\n")
    rows = read_manifest(m, out, Settings(**FAST, weights=str(tiny_weights)))
    child_faults.set("c1__s1.png")  # the spawned batch worker loads the fault plug-in
    got = sorted((r.row, r.status, r.error) for r in run_batch(rows, out, workers=1, threads=1))
    assert got == [
        (1, "failed", f"could not write {out}/c1__s1.png: no space left on the device"),
        (2, "done", None),
    ]
    assert sorted(os.listdir(out)) == ["c2__s1.png", RESULTS]  # no temporary left
    child_faults.set()  # space is back: the rerun does what is missing
    again = sorted((r.row, r.status) for r in run_batch(rows, out, workers=1, threads=1))
    assert again == [(1, "done"), (2, "skipped")]


def test_disk_full_reason_is_the_one_os_error_names(tmp_path):
    from gramstyle.fs import write_error

    e = write_error(tmp_path / "x.png", OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert isinstance(e, DiskFull) and str(e).endswith("the disk quota is exceeded")
