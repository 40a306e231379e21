"""Fixtures of the web tests (helpers in ``web_helpers.py``, importable from here)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

# --import-mode=importlib puts no test folder on sys.path; the web tests share helpers.
sys.path.insert(0, str(Path(__file__).parent))
from web_helpers import Server  # noqa: E402

pytest.importorskip("fastapi", reason="the web extra is not installed: pip install -e '.[web]'")
pytest.importorskip("httpx", reason="the test extra is not installed")


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory, tiny_net) -> Path:
    path = tmp_path_factory.mktemp("weights") / "tiny_vgg19.pth"
    torch.save(tiny_net.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_weights) -> Iterator[Server]:
    """One shared server (one worker) for the tests that do not restart it."""
    srv = Server(tmp_path_factory.mktemp("srv") / "jobs", tiny_weights, "--workers", "1").start()
    yield srv
    srv.stop()


@pytest.fixture
def make_server(tmp_path, tiny_weights) -> Iterator:
    """Start servers with extra options; each is stopped at the end of the test."""
    started: list[Server] = []

    def make(*args: str, jobs_dir: Path | None = None, token: str | None = None) -> Server:
        srv = Server(jobs_dir or tmp_path / f"jobs{len(started)}", tiny_weights, *args, token=token)
        started.append(srv.start())
        return srv

    yield make
    for srv in started:
        if srv.proc is not None and srv.proc.poll() is None:
            srv.stop(signal.SIGKILL)
