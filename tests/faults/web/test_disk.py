"""A full disk and unwritable folders: each ends one job (or refuses one upload) cleanly,
health says why, and the next job runs once space is back."""

from __future__ import annotations

import dataclasses
import errno
import fnmatch
import os
import shutil

import pytest
from web_helpers import FAST, LONG, wait_for

NO_SPACE = "no space left on the device"


@pytest.fixture
def server_enospc(monkeypatch):
    """Renames onto these names fail in this process (the server's) as a full disk's do."""
    real = os.replace
    patterns: list[str] = []

    def replace(src, dst, *args, **kwargs):
        if any(fnmatch.fnmatch(os.path.basename(os.fspath(dst)), p) for p in patterns):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(dst))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    return patterns


def test_job_json_that_cannot_be_written_fails_its_job_not_the_queue(service, server_enospc):
    srv = service()
    running = srv.submit(LONG).json()["id"]
    queued = srv.submit(FAST).json()["id"]
    srv.wait_status(running, ("running",))
    wait_for(lambda: srv.job(running)["done"] > 0, what="a step")

    server_enospc.append("job.json")
    for job_id in (running, queued):  # the next step's write, then the dispatch's
        job = srv.wait_status(job_id)
        assert job["status"] == "failed"
        assert job["error"].startswith("the job's state could not be saved: could not write")
        assert job["error"].endswith(f"job.json: {NO_SPACE}")
    slot = srv.manager.pool.slots[0]
    wait_for(lambda: slot.task is None, what="the worker to stop its task")
    code, state = srv.health()
    assert code == 200 and state["workers"] == 1 and state["jobs"]["failed"] == 2

    server_enospc.clear()  # space is back
    after = srv.submit(FAST).json()["id"]
    assert srv.wait_status(after)["status"] == "done"


def test_upload_to_a_full_disk_is_507(service, server_enospc):
    srv = service(lifespan=False)
    server_enospc.append("content.png")
    r = srv.submit()
    assert r.status_code == 507 and r.json()["error"].endswith(f"content.png: {NO_SPACE}")
    server_enospc[:] = ["job.json"]
    r = srv.submit()
    assert r.status_code == 507 and r.json()["error"].endswith(f"job.json: {NO_SPACE}")
    assert r.headers["retry-after"] == "10"
    assert os.listdir(srv.jobs_dir) == []  # no half-made job left behind
    server_enospc.clear()
    assert srv.submit().status_code == 202


def test_a_nearly_full_or_unwritable_jobs_folder_degrades_health(service):
    srv = service(min_free_bytes=2**62)
    code, state = srv.health()
    assert code == 503 and state["status"] == "degraded" and state["workers"] == 1
    (problem,) = state["problems"]
    assert problem.startswith("the disk of the jobs folder is nearly full: ")
    r = srv.submit()
    assert r.status_code == 507 and "nearly full" in r.json()["error"]

    manager = srv.manager
    manager.config = dataclasses.replace(manager.config, min_free_bytes=0)  # space is back
    assert srv.wait_healthy()["problems"] == []
    assert srv.wait_status(srv.submit().json()["id"])["status"] == "done"

    shutil.rmtree(srv.jobs_dir)  # the jobs folder itself is gone (its disk unmounted, say)
    code, state = wait_for(lambda: (h := srv.health())[0] == 503 and h, what="degraded")
    assert state["problems"] == [
        f"jobs folder {srv.jobs_dir} is not writable (no such file or directory)"
    ]
    r = srv.submit()
    assert r.status_code == 503 and "not writable" in r.json()["error"]
    srv.jobs_dir.mkdir()
    srv.wait_healthy()
    assert srv.wait_status(srv.submit().json()["id"])["status"] == "done"


def test_preview_and_result_on_a_full_disk_fail_their_job(service, child_faults):
    srv = service()  # its worker loads the fault plug-in
    for name in ("result.png", "preview.jpg"):
        child_faults.set(name)
        job = srv.wait_status(srv.submit().json()["id"])
        assert job["status"] == "failed"
        folder = srv.jobs_dir / job["id"]
        assert job["error"] == f"could not write {folder / name}: {NO_SPACE}"
        assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    child_faults.set()  # space is back
    assert srv.wait_status(srv.submit().json()["id"])["status"] == "done"
