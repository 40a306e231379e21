"""Helpers for the web tests: a real ``gramstyle serve``: a subprocess on 127.0.0.1, tiny network.

The server gets the tiny random VGG19 through its ordinary ``--weights FILE`` option (a
state dict in gramstyle's own layout), so nothing in the product knows about tests.
Every wait is on a condition (a status, a file, an exit) with a generous timeout.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

#: Quick jobs on the tiny network (the conftest's FAST, as JSON settings).
FAST = {
    "size": 48,
    "min_size": 24,
    "steps": 15,
    "coarse_steps": 10,
    "style_weight": 1e3,
    "init": "noise",
    "precision": "fp32",
}
#: A job that runs until cancelled (the server's --max-steps allows it).
LONG = {**FAST, "steps": 20000, "coarse_steps": 0, "min_size": 48}
WAIT = 300.0  # seconds: generous, for a machine shared with other work
FINAL = ("done", "failed", "cancelled")


def png_bytes(w: int = 64, h: int = 48, seed: int = 0, fmt: str = "PNG") -> bytes:
    """A random photo-like image (smooth gradient plus noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    base = np.stack([xx, yy, 1 - xx], -1) * 200 + rng.uniform(0, 55, (h, w, 3))
    buf = io.BytesIO()
    Image.fromarray(base.astype(np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = WAIT, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Server:
    """``python -m gramstyle serve`` on a free 127.0.0.1 port."""

    def __init__(self, jobs_dir: Path, weights: Path, *args: str, token: str | None = None):
        self.jobs_dir, self.weights, self.args, self.token = jobs_dir, weights, args, token
        self.proc: subprocess.Popen | None = None
        self.log = jobs_dir.parent / f"server-{jobs_dir.name}.log"

    def start(self) -> Server:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        cmd = [
            sys.executable,
            "-m",
            "gramstyle",
            "serve",
            "--port",
            str(self.port),
            "--jobs-dir",
            str(self.jobs_dir),
            "--weights",
            str(self.weights),
            "--precision",
            "fp32",
            "--threads",
            "1",
            "--max-steps",
            "20000",
            *self.args,
        ]
        env = {**os.environ, "GRAMSTYLE_TOKEN": self.token or ""}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        self.client = httpx.Client(base_url=self.base, timeout=60, headers=self._auth())

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}: {self.output()}")
            try:
                return self.client.get("/api/health").status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, what="the server to answer")
        return self

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        self.client.close()
        return code

    # -------------------------------------------------------------- API helpers

    def submit(
        self,
        settings: dict | None = None,
        content: bytes | None = None,
        styles: list[bytes] | None = None,
        **data: str,
    ) -> httpx.Response:
        files = [("content", ("photo.png", content or png_bytes(seed=1), "image/png"))]
        for k, s in enumerate(styles or [png_bytes(40, 40, seed=2)]):
            files.append(("style", (f"style{k}.png", s, "image/png")))
        form = {"settings": json.dumps(FAST if settings is None else settings), **data}
        return self.client.post("/api/jobs", files=files, data=form)

    def job(self, job_id: str) -> dict:
        r = self.client.get(f"/api/jobs/{job_id}")
        assert r.status_code == 200, r.text
        return r.json()

    def wait_status(self, job_id: str, statuses=FINAL, timeout: float = WAIT) -> dict:
        return wait_for(
            lambda: (j := self.job(job_id))["status"] in statuses and j,
            timeout,
            f"job {job_id} to be {'/'.join(statuses)}",
        )

    def events(self, job_id: str) -> list[dict]:
        """Every event of the job's stream, until the server closes it."""
        out = []
        with self.client.stream("GET", f"/api/jobs/{job_id}/events", timeout=WAIT) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                if line.startswith("data: "):
                    out.append(json.loads(line[len("data: ") :]))
        return out
