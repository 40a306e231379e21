"""Load: 20 submissions at once all finish, none is lost or mixed up, memory stays bounded."""

from __future__ import annotations

import contextlib
import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import psutil
from PIL import Image
from web_helpers import FAST, png_bytes

N = 20
#: Memory the 20 jobs may add to the warm server (server + 2 workers, torch loaded).
#: Each job holds a 64 px photo and a 40 px style (kilobytes) and the tiny network's
#: activations (well under 10 MB); the bound leaves room for allocator slack and the
#: upload buffers of 20 requests in flight, and fails on anything that grows per job
#: (a process per job is ~300 MB, keeping every job's tensors or uploads in memory).
GROWTH_MB = 400


def total_rss_mb(pid: int) -> float:
    proc = psutil.Process(pid)
    procs = [proc, *proc.children(recursive=True)]
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):  # a process that just ended
            total += p.memory_info().rss
    return total / 2**20


def test_twenty_concurrent_jobs(make_server):
    srv = make_server("--workers", "2", "--max-queue", "32")
    warm = srv.submit(FAST).json()["id"]  # both workers load the network...
    warm2 = srv.submit(FAST).json()["id"]
    srv.wait_status(warm), srv.wait_status(warm2)
    baseline = total_rss_mb(srv.proc.pid)

    peak, stop = [baseline], threading.Event()

    def sample() -> None:
        while not stop.wait(0.1):
            peak.append(total_rss_mb(srv.proc.pid))

    # Each job gets its own photo shape, so a result can be traced to its upload.
    shapes = [(64 + 4 * k, 48 + 2 * (k % 5)) for k in range(N)]

    def submit(k: int) -> tuple[int, str]:
        w, h = shapes[k]
        r = srv.submit({**FAST, "seed": k}, png_bytes(w, h, seed=100 + k), [png_bytes(40, 40, k)])
        assert r.status_code == 202, r.text
        return k, r.json()["id"]

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        with ThreadPoolExecutor(N) as pool:
            submitted = dict(pool.map(submit, range(N)))
        assert len(set(submitted.values())) == N
        finals = {k: srv.wait_status(job_id) for k, job_id in submitted.items()}
    finally:
        stop.set()
        sampler.join()

    assert all(j["status"] == "done" for j in finals.values()), [
        (j["status"], j["error"]) for j in finals.values()
    ]
    listed = {j["id"]: j["status"] for j in srv.client.get("/api/jobs").json()["jobs"]}
    assert listed == {**{i: "done" for i in submitted.values()}, warm: "done", warm2: "done"}
    for k, job_id in submitted.items():
        w, h = shapes[k]
        assert (finals[k]["width"], finals[k]["height"]) == (w, h)
        img = Image.open(io.BytesIO(srv.client.get(f"/api/jobs/{job_id}/result").content))
        assert img.size == (48, round(h * 48 / w))  # longest side 48, the photo's aspect
        disk = json.loads((srv.jobs_dir / job_id / "job.json").read_text())
        assert disk["status"] == "done" and disk["done"] == disk["total"]
    growth = max(peak) - baseline
    print(f"\nRSS server+workers: {baseline:.0f} MB warm, peak {max(peak):.0f} MB (+{growth:.0f})")
    assert growth < GROWTH_MB
