"""A restart loses no finished result; queued jobs resume; a crash fails what was running."""

from __future__ import annotations

import json
import signal

import psutil
from web_helpers import FAST, LONG, wait_for


def test_graceful_restart_keeps_results_and_requeues(make_server, tmp_path):
    jobs_dir = tmp_path / "jobs"
    srv = make_server("--workers", "1", jobs_dir=jobs_dir)
    done_id = srv.submit(FAST).json()["id"]
    assert srv.wait_status(done_id)["status"] == "done"
    result = srv.client.get(f"/api/jobs/{done_id}/result").content
    running_id = srv.submit(LONG).json()["id"]
    queued_id = srv.submit(FAST).json()["id"]
    srv.wait_status(running_id, ("running",))
    assert srv.job(queued_id)["status"] == "queued"

    assert srv.stop(signal.SIGTERM) == 143  # stops within a step, one line, exit 143
    assert "terminated; queued and running jobs resume" in srv.output()
    on_disk = {
        p.name: json.loads((p / "job.json").read_text())["status"]
        for p in jobs_dir.iterdir()
        if (p / "job.json").is_file()
    }
    # A graceful stop puts the running job back in the queue (it starts again).
    assert on_disk == {done_id: "done", running_id: "queued", queued_id: "queued"}

    again = make_server("--workers", "1", jobs_dir=jobs_dir)
    assert again.job(done_id)["status"] == "done"
    assert again.client.get(f"/api/jobs/{done_id}/result").content == result
    # The queue comes back in its order: the interrupted job first.
    again.wait_status(running_id, ("running",))
    assert again.job(queued_id)["queue_position"] == 1
    again.client.delete(f"/api/jobs/{running_id}")
    assert again.wait_status(queued_id)["status"] == "done"
    assert again.wait_status(running_id)["status"] == "cancelled"


def test_crash_fails_the_running_job_and_workers_do_not_linger(make_server, tmp_path):
    jobs_dir = tmp_path / "jobs"
    srv = make_server("--workers", "1", jobs_dir=jobs_dir)
    job_id = srv.submit(LONG).json()["id"]
    srv.wait_status(job_id, ("running",))
    workers = [
        p
        for p in psutil.Process(srv.proc.pid).children(recursive=True)
        if "spawn_main" in " ".join(p.cmdline())
    ]
    assert len(workers) == 1
    srv.stop(signal.SIGKILL)  # no chance to clean up
    # The orphaned worker notices its server is gone and exits by itself.
    wait_for(
        lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in workers),
        what="the orphaned worker to exit",
    )
    state = json.loads((jobs_dir / job_id / "job.json").read_text())
    assert state["status"] == "running"  # what the crash left

    again = make_server("--workers", "1", jobs_dir=jobs_dir)
    job = again.job(job_id)
    assert job["status"] == "failed" and "stopped unexpectedly" in job["error"]
    assert [e["status"] for e in again.events(job_id)] == ["failed"]
