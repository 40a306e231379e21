"""Fixtures of the fault-injection tests: an in-process service, faults in child processes.

Faults of the server itself (a ``job.json`` that cannot be written, a full disk on
upload) are injected by monkeypatching in this process, where :func:`service` runs the
app (FastAPI's TestClient) and its job manager. Faults of a worker process are injected
by ``plugin/sitecustomize.py``, which every child started with :func:`child_faults`
loads through ``PYTHONPATH``; nothing in the package knows about either.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

pytest.importorskip("fastapi", reason="the web extra is not installed: pip install -e '.[web]'")
pytest.importorskip("httpx", reason="the test extra is not installed")

# The web tests' helpers (a real server, images, waiting on a condition), shared.
sys.path.insert(0, str(Path(__file__).parents[1] / "web"))
from web_helpers import FAST, FINAL, png_bytes, wait_for  # noqa: E402

from gramstyle.settings import Settings  # noqa: E402

#: The plug-in is for child processes only: never imported here (doctest collection).
collect_ignore = ["plugin"]
PLUGIN = Path(__file__).parent / "plugin"
WAIT = 120.0  # seconds: generous, the machine may be shared


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory, tiny_net) -> Path:
    path = tmp_path_factory.mktemp("weights") / "tiny_vgg19.pth"
    torch.save(tiny_net.state_dict(), path)
    return path


class Faults:
    """The faults of child processes: edit while they run (read at every rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.set()

    def set(self, *enospc: str) -> None:
        """Renames onto these file-name patterns fail with ENOSPC; none: no fault."""
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"enospc": list(enospc)}))
        os.replace(tmp, self.path)


@pytest.fixture
def child_faults(tmp_path, monkeypatch) -> Faults:
    """Children started from now on load the fault plug-in."""
    paths = [str(PLUGIN), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    faults = Faults(tmp_path / "faults.json")
    monkeypatch.setenv("GRAMSTYLE_FAULTS", str(faults.path))
    return faults


@dataclass
class Service:
    """``gramstyle serve``'s app in this process: its manager, a client, helpers."""

    client: Any  # fastapi.testclient.TestClient
    manager: Any  # gramstyle.web.manager.JobManager

    @property
    def jobs_dir(self) -> Path:
        return Path(self.manager.store.root)

    def submit(self, settings: dict | None = None) -> Any:
        files = [
            ("content", ("photo.png", png_bytes(seed=1), "image/png")),
            ("style", ("style.png", png_bytes(40, 40, seed=2), "image/png")),
        ]
        form = {"settings": json.dumps(FAST if settings is None else settings)}
        return self.client.post("/api/jobs", files=files, data=form)

    def job(self, job_id: str) -> dict:
        r = self.client.get(f"/api/jobs/{job_id}")
        assert r.status_code == 200, r.text
        return r.json()

    def wait_status(self, job_id: str, statuses=FINAL) -> dict:
        return wait_for(
            lambda: (j := self.job(job_id))["status"] in statuses and j,
            WAIT,
            f"job {job_id} to be {'/'.join(statuses)}",
        )

    def health(self) -> tuple[int, dict]:
        r = self.client.get("/api/health")
        return r.status_code, r.json()

    def wait_healthy(self) -> dict:
        return wait_for(lambda: (h := self.health())[0] == 200 and h[1], WAIT, "health ok")

    def worker_pid(self, index: int = 0) -> int:
        """The pid of a slot's worker, once it is up."""
        slot = self.manager.pool.slots[index]
        wait_for(lambda: slot.up, WAIT, f"worker {index} to be up")
        return slot.process.pid


@pytest.fixture
def service(tmp_path, tiny_weights) -> Iterator:
    """Start in-process services: ``service(lifespan=False)`` runs no workers (for
    requests that must be refused before any work); ServeConfig fields as keywords."""
    from fastapi.testclient import TestClient

    from gramstyle.web.app import create_app
    from gramstyle.web.config import ServeConfig

    started = []

    def make(lifespan: bool = True, **config: Any) -> Service:
        base = Settings().replace(weights=str(tiny_weights), precision="fp32")
        options = dict(workers=1, threads=1, max_steps=20000, base=base, **config)
        cfg = ServeConfig(jobs_dir=tmp_path / f"jobs{len(started)}", **options)
        app = create_app(cfg)
        client = TestClient(app, base_url="http://127.0.0.1:8000")
        if lifespan:
            client.__enter__()
        started.append((client, lifespan))
        return Service(client, app.state.manager)

    yield make
    t0 = time.monotonic()
    for client, lifespan in started:
        if lifespan:
            client.__exit__(None, None, None)
    assert time.monotonic() - t0 < WAIT
