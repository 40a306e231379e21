"""Job folders deleted under a running ``gramstyle serve`` (a real one, as an operator
cleaning up would meet it): unfinished jobs fail saying so, finished ones are
forgotten, everything else keeps running, and the server still stops cleanly."""

from __future__ import annotations

import shutil
import signal

from web_helpers import FAST, LONG, Server, wait_for

from gramstyle.web.store import VANISHED


def test_deleted_job_folders(tmp_path, tiny_weights):
    srv = Server(tmp_path / "jobs", tiny_weights, "--workers", "1").start()
    try:
        done = srv.submit(FAST).json()["id"]
        assert srv.wait_status(done)["status"] == "done"
        running = srv.submit(LONG).json()["id"]
        srv.wait_status(running, ("running",))
        queued = srv.submit(FAST).json()["id"]
        assert srv.job(queued)["status"] == "queued"

        trash = tmp_path / "trash"
        trash.mkdir()
        for job_id in (running, queued, done):
            # Gone at once (a rename), then removed: an rm -rf racing the worker could
            # let it fail first for another reason (its content image missing).
            (srv.jobs_dir / job_id).rename(trash / job_id)
            shutil.rmtree(trash / job_id)
        for job_id in (running, queued):
            job = srv.wait_status(job_id)
            assert (job["status"], job["error"]) == ("failed", VANISHED)
        wait_for(lambda: srv.client.get(f"/api/jobs/{done}").status_code == 404, what="404")

        # Explain: a forgotten job is unknown (404), a failed one has no report (409).
        r = srv.client.post(f"/api/jobs/{done}/explain")
        assert r.status_code == 404 and r.json() == {"error": f"no job {done!r}"}
        r = srv.client.post(f"/api/jobs/{running}/explain")
        assert r.status_code == 409 and "the report needs a finished job" in r.json()["error"]
        assert srv.client.get(f"/api/jobs/{running}/result").status_code == 409
        assert srv.client.get(f"/api/jobs/{running}/preview").status_code == 409

        health = srv.client.get("/api/health")
        assert health.status_code == 200 and health.json()["workers"] == 1
        after = srv.submit(FAST).json()["id"]
        assert srv.wait_status(after)["status"] == "done"
    finally:
        code = srv.stop(signal.SIGTERM)
    log = srv.log.read_text()
    assert code == 143, log[-3000:]
    assert "Application shutdown failed" not in log and "Traceback" not in log
    assert log.count("its folder was deleted before the job finished") == 2
