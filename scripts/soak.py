"""Soak ``gramstyle serve``: many clients for minutes while workers are killed.

    nice -n 10 python scripts/soak.py --minutes 10 [--clients 30] [--workers 2]

A real server (``python -m gramstyle serve`` with the tests' tiny random VGG19, as in
``tests/web``) takes ``--clients`` clients, each submitting jobs in a loop: most run to
the end (the result is fetched), some are cancelled while they run, some are watched
through their event stream instead of polled, a few ask for the explain report and a
few send a malformed body (which must be a 4xx). Every ``--kill-every`` seconds a
worker process is killed with SIGKILL (as the out-of-memory killer does), and once,
at 40% of the run, the folder of a running or queued job is deleted.

At the end the clients stop and the script checks what the service must guarantee:
every job in a final state, no 5xx answer, the pool back at its size with health
``ok``, a clean stop, and memory (RSS of the server, and of server and workers,
sampled every 10 s) flat. It prints a summary and writes everything it measured to
``benchmarks/results/soak-<UTC time>.json`` (``benchmarks/record.py``: with the machine, the
commit and the date); the exit status is 1 if a guarantee failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psutil
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "web"))
sys.path.insert(0, str(ROOT / "tests"))

from web_helpers import FAST, FINAL, LONG, Server, png_bytes  # noqa: E402

from conftest import tiny_vgg  # noqa: E402  (tests/conftest.py: the tiny network)

SAMPLE_EVERY = 10.0  # seconds between two memory samples
JOB_DEADLINE = 600.0  # seconds a client waits for one job before calling it lost


class Soak:
    def __init__(self, base: str, seed: int) -> None:
        self.base, self.seed = base, seed
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.codes: Counter[int] = Counter()
        self.errors: list[dict[str, Any]] = []  # 5xx answers and transport failures
        self.unexpected: list[dict[str, Any]] = []  # a malformed body that was not a 4xx
        self.jobs: dict[str, str] = {}  # id -> final status seen by its client
        self.lost: list[str] = []  # jobs a client gave up waiting for

    def request(self, http: httpx.Client, method: str, url: str, **kw: Any) -> httpx.Response:
        try:
            r = http.request(method, url, **kw)
        except httpx.HTTPError as e:
            with self.lock:
                self.errors.append({"url": url, "error": f"{type(e).__name__}: {e}"})
            raise
        with self.lock:
            self.codes[r.status_code] += 1
            if r.status_code >= 500:
                self.errors.append({"url": url, "status": r.status_code, "body": r.text[:300]})
        return r

    def client(self, k: int) -> None:
        rng = random.Random(self.seed * 1000 + k)
        photo, style = png_bytes(64, 48, seed=k), png_bytes(40, 40, seed=1000 + k)
        with httpx.Client(base_url=self.base, timeout=60) as http:
            while not self.stop.is_set():
                try:
                    self.one_job(http, rng, photo, style)
                except httpx.HTTPError:
                    time.sleep(1.0)

    def one_job(self, http: httpx.Client, rng: random.Random, photo: bytes, style: bytes):
        roll = rng.random()
        files = [
            ("content", ("p.png", photo, "image/png")),
            ("style", ("s.png", style, "image/png")),
        ]
        if roll < 0.03:  # malformed: a huge integer or deep nesting
            bad = rng.choice(['{"seed": ' + "9" * 5000 + "}", "[" * 5000 + "]" * 5000])
            r = self.request(http, "POST", "/api/jobs", files=files, data={"settings": bad})
            if not 400 <= r.status_code < 500:
                with self.lock:
                    self.unexpected.append({"status": r.status_code, "body": r.text[:300]})
            return
        cancel = roll < 0.10
        settings = LONG if cancel else FAST
        r = self.request(
            http, "POST", "/api/jobs", files=files, data={"settings": json.dumps(settings)}
        )
        if r.status_code in (429, 503, 507):  # full: back off as a client should
            time.sleep(0.5 + rng.random())
            return
        if r.status_code != 202:
            return
        job_id = r.json()["id"]
        with self.lock:
            self.jobs[job_id] = "submitted"
        if cancel:
            self.wait(http, job_id, ("running",) + FINAL, 60)
            self.request(http, "DELETE", f"/api/jobs/{job_id}")
        job = self.events(http, job_id) if roll > 0.8 else self.wait(http, job_id, FINAL)
        status = job["status"] if job else "lost"
        with self.lock:
            self.jobs[job_id] = status
            if job is None:
                self.lost.append(job_id)
        if status == "done":
            r = self.request(http, "GET", f"/api/jobs/{job_id}/result")
            if r.status_code != 200 or r.content[:8] != b"\x89PNG\r\n\x1a\n":
                with self.lock:
                    self.unexpected.append({"result": job_id, "status": r.status_code})
            if rng.random() < 0.02:
                self.request(http, "POST", f"/api/jobs/{job_id}/explain")

    def wait(self, http, job_id: str, statuses, timeout: float = JOB_DEADLINE) -> dict | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.request(http, "GET", f"/api/jobs/{job_id}")
            if r.status_code == 404:
                return {"status": "forgotten"}
            if r.status_code == 200 and r.json()["status"] in statuses:
                return r.json()
            time.sleep(0.2)
        return None

    def events(self, http: httpx.Client, job_id: str) -> dict | None:
        """The job's event stream to its end (then its state, as a poll would see it)."""
        try:
            with http.stream("GET", f"/api/jobs/{job_id}/events", timeout=JOB_DEADLINE) as r:
                with self.lock:
                    self.codes[r.status_code] += 1
                for line in r.iter_lines():
                    if line.startswith("data: ") and json.loads(line[6:])["status"] in FINAL:
                        break
        except httpx.HTTPError:
            pass
        return self.wait(http, job_id, FINAL)


def worker_processes(server: psutil.Process) -> list[psutil.Process]:
    return [p for p in server.children(recursive=True) if "spawn_main" in " ".join(p.cmdline())]


def rss(processes: list[psutil.Process]) -> int:
    total = 0
    for p in processes:
        with contextlib.suppress(psutil.Error):  # it just ended
            total += p.memory_info().rss
    return total


def delete_a_job(srv: Server, trash: Path, t: float) -> dict[str, Any]:
    """Submit a job that runs for minutes, then delete its folder as an operator would
    (gone at once, by a rename, then removed)."""
    r = srv.submit(LONG)
    while r.status_code == 429:  # the clients keep the queue full: wait for a place
        time.sleep(0.2)
        r = srv.submit(LONG)
    job_id = r.json()["id"]
    status = srv.job(job_id)["status"]
    (srv.jobs_dir / job_id).rename(trash / job_id)
    shutil.rmtree(trash / job_id)
    return {"id": job_id, "t": t, "was": status}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=30)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--kill-every", type=float, default=60.0, metavar="SECONDS")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help="the JSON record (default: benchmarks/results/soak-<time>.json)",
    )
    ns = ap.parse_args(argv)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    work = Path(tempfile.mkdtemp(prefix="gramstyle-soak-"))
    weights = work / "tiny_vgg19.pth"
    torch.save(tiny_vgg().state_dict(), weights)
    srv = Server(work / "jobs", weights, "--workers", str(ns.workers)).start()
    server = psutil.Process(srv.proc.pid)
    soak = Soak(srv.base, ns.seed)
    clients = [
        threading.Thread(target=soak.client, args=(k,), daemon=True) for k in range(ns.clients)
    ]
    t0 = time.monotonic()
    for c in clients:
        c.start()

    kills: list[dict[str, Any]] = []
    samples: list[dict[str, float]] = []
    deleted: dict[str, Any] = {}
    end = t0 + 60 * ns.minutes
    next_kill, next_sample, delete_at = t0 + ns.kill_every, t0, t0 + 0.4 * (end - t0)
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_sample:
            workers = worker_processes(server)
            samples.append(
                {
                    "t": round(now - t0, 1),
                    "server_mb": rss([server]) / 2**20,
                    "total_mb": rss([server, *workers]) / 2**20,
                    "workers": len(workers),
                }
            )
            next_sample += SAMPLE_EVERY
        if now >= next_kill:
            workers = worker_processes(server)
            if workers:
                victim = random.Random(len(kills)).choice(workers)
                victim.send_signal(signal.SIGKILL)
                kills.append({"t": round(now - t0, 1), "pid": victim.pid})
            next_kill += ns.kill_every
        if not deleted and now >= delete_at:
            deleted = delete_a_job(srv, work, round(now - t0, 1))
        time.sleep(0.5)

    soak.stop.set()
    for c in clients:
        c.join(JOB_DEADLINE)
    ran = time.monotonic() - t0
    with httpx.Client(base_url=srv.base, timeout=120) as http:
        deadline = time.monotonic() + 120  # the last kill's restart, then health
        while time.monotonic() < deadline:
            health = http.get("/api/health")
            if health.status_code == 200:
                break
            time.sleep(0.5)
        health_end = {"code": health.status_code, **health.json()}
        listing = http.get("/api/jobs", params={"limit": 10**6}).json()["jobs"]
    if deleted:
        gone = next((j for j in listing if j["id"] == deleted["id"]), None)
        deleted.update(status=gone and gone["status"], error=gone and gone["error"])
    code = srv.stop(signal.SIGTERM)
    log = srv.log.read_text(errors="replace")
    shutil.rmtree(work, ignore_errors=True)

    statuses = Counter(j["status"] for j in listing)
    not_final = [j["id"] for j in listing if j["status"] not in FINAL]
    warm = [s for s in samples if s["t"] >= 60] or samples
    first, last = warm[: max(1, len(warm) // 5)], warm[-max(1, len(warm) // 5) :]
    memory = {
        key: {
            "first_mb": round(statistics.median(s[key] for s in first), 1),
            "last_mb": round(statistics.median(s[key] for s in last), 1),
        }
        for key in ("server_mb", "total_mb")
    }
    for m in memory.values():
        m["growth_mb"] = round(m["last_mb"] - m["first_mb"], 1)
    fivexx = sum(n for c, n in soak.codes.items() if c >= 500)
    checks = {
        "every job final": not not_final and not soak.lost,
        "no 5xx": fivexx == 0 and not soak.errors,
        "malformed bodies all 4xx, results all PNG": not soak.unexpected,
        "pool at full size, health ok": health_end["code"] == 200
        and health_end["workers"] == ns.workers,
        "deleted job failed": deleted.get("status") == "failed",
        "clean stop": code == 143 and "Application shutdown failed" not in log,
        "no traceback in the log": "Traceback" not in log,
    }
    record = {
        "command": "nice -n 10 .venv/bin/python scripts/soak.py " + " ".join(argv or sys.argv[1:]),
        "started": stamp,
        "minutes": round(ran / 60, 2),
        "clients": ns.clients,
        "workers": ns.workers,
        "checks": checks,
        "jobs": {"total": len(listing), **statuses, "not_final": len(not_final)},
        "jobs_per_minute": round(statuses.get("done", 0) / (ran / 60), 1),
        "responses": dict(sorted(soak.codes.items())),
        "fivexx": fivexx,
        "errors": soak.errors[:20],
        "unexpected": soak.unexpected[:20],
        "lost": soak.lost[:20],
        "kills": kills,
        "deleted": deleted,
        "health_end": health_end,
        "server_exit": code,
        "memory": memory,
        "samples": samples,
    }
    sys.path.insert(0, str(ROOT))
    from benchmarks import record as records  # the machine, commit and date with the results

    out = records.write("soak", record, script=__file__, argv=argv, path=ns.out)
    print(
        json.dumps(
            {
                k: record[k]
                for k in (
                    "checks",
                    "jobs",
                    "jobs_per_minute",
                    "responses",
                    "kills",
                    "deleted",
                    "memory",
                )
            },
            indent=1,
        )
    )
    print(f"written to {out}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
