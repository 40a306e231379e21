"""Workers killed (kill -9, as the out-of-memory killer does): the job fails with the
reason, the pool comes back to its size after a pause, the queue goes on."""

from __future__ import annotations

import os
import signal

from web_helpers import FAST, LONG, wait_for

from gramstyle.web import pool

KILLED = "the worker died with signal 9 (killed; out of memory?)"


def test_a_worker_killed_again_and_again(service, monkeypatch):
    srv = service()
    slot = srv.manager.pool.slots[0]
    pids = []
    for _ in range(3):
        job_id = srv.submit(LONG).json()["id"]
        srv.wait_status(job_id, ("running",))
        pid = srv.worker_pid()
        pids.append(pid)
        os.kill(pid, signal.SIGKILL)
        job = srv.wait_status(job_id)
        assert (job["status"], job["error"]) == ("failed", KILLED)
    assert slot.deaths == 3  # in a row: each pause twice the last
    assert len(set(pids)) == 3

    # While a slot waits to restart, health says so (503) and new jobs wait for it.
    monkeypatch.setattr(pool, "FIRST_PAUSE", 3600.0)
    pid = srv.worker_pid()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: slot.process is None, what="the dead worker to be buried")
    code, state = srv.health()
    assert code == 503
    assert state["status"] == "degraded" and state["workers"] == 0 and state["pool"] == 1
    (problem,) = state["problems"]
    assert problem.startswith("1 of 1 workers down (the next starts in ")
    assert problem.endswith(f" s; {KILLED})")
    waiting = srv.submit(FAST)
    assert waiting.status_code == 202
    assert srv.job(waiting.json()["id"])["status"] == "queued"

    slot.restart_at = 0.0  # the pause is over
    state = srv.wait_healthy()
    assert state["workers"] == 1 and state["problems"] == []
    assert srv.wait_status(waiting.json()["id"])["status"] == "done"
    assert slot.deaths == 0  # a finished task: the next death counts as a first
