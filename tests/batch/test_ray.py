"""gramstyle batch on Ray: the same images as the local executor, and a node killed in
the middle of a row does not lose the row.

One small local cluster for the whole suite (a head with no CPUs for work and three
1-CPU nodes, all on 127.0.0.1, 80 MiB object stores: Ray's minimum is 75), shared by
both tests. The kill is deterministic: the first attempt of one row waits on a
file-based barrier, the test waits for the marker file that names the row's node, and
removes that node.
"""

from __future__ import annotations

import os
import secrets
import sys
import threading
import time
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gramstyle.batch import read_manifest, run_batch
from gramstyle.settings import Settings

from ..conftest import tiny_vgg

ray = pytest.importorskip("ray")

FAST = dict(size=48, min_size=24, steps=4, coarse_steps=3, init="noise", precision="fp32")
HELD_ROW = 3
STORE = 80 * 2**20  # Ray's minimum is 75 MiB


@pytest.fixture(scope="module")
def cluster():
    from ray._private import ray_constants
    from ray.cluster_utils import Cluster

    home_token = Path.home() / ".ray" / "auth_token"
    had_token = home_token.exists()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_USAGE_STATS_ENABLED", "0")  # never phone home
        # Loopback only: Ray otherwise resolves 127.0.0.1 to the machine's address.
        mp.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        mp.setattr(ray_constants, "ENABLE_RAY_CLUSTER", False)
        # Token authentication with a token in the environment, not in ~/.ray.
        mp.setenv("RAY_AUTH_MODE", "token")
        mp.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))
        from ray._raylet import Config

        Config.initialize("")
        args = dict(object_store_memory=STORE, node_ip_address="127.0.0.1")
        c = Cluster(
            initialize_head=True,
            head_node_args=dict(num_cpus=0, include_dashboard=False, **args),
        )
        nodes = [c.add_node(num_cpus=1, **args) for _ in range(3)]
        try:
            ray.init(address=c.address, log_to_driver=False)
            yield c, nodes
        finally:
            ray.shutdown()
            c.shutdown()
    assert had_token or not home_token.exists(), "Ray wrote ~/.ray/auth_token"


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Four rows of tiny images, the tiny net as a weights file, and local reference outputs."""
    d = tmp_path_factory.mktemp("rayin")
    rng = np.random.default_rng(1)
    for k in range(1, 3):
        Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(d / f"c{k}.png")
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(d / f"s{k}.png")
    torch.save(tiny_vgg().state_dict(), d / "tiny.pth")
    (d / "m.csv").write_text(
        "content,style,seed\nc1.png,s1.png,0\nc1.png,s2.png,1\nc2.png,s1.png,2\nc2.png,s2.png,3\n"
    )
    settings = Settings(**FAST, weights=str(d / "tiny.pth"))
    local = d / "local"
    jobs = read_manifest(d / "m.csv", local, settings)
    results = list(run_batch(jobs, local, "local", workers=2, threads=1))
    assert sorted(r.status for r in results) == ["done"] * 4
    return d, settings


def outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def test_ray_makes_the_same_images_as_local(cluster, batch):
    d, settings = batch
    out = d / "ray"
    jobs = read_manifest(d / "m.csv", out, settings)
    results = list(run_batch(jobs, out, "ray", workers=2, threads=1))
    assert sorted((r.row, r.status) for r in results) == [(k, "done") for k in range(1, 5)]
    # (How the rows spread over the two actors depends on start-up times: not checked.)
    # Same pixels and same embedded hash: the files are byte for byte the same.
    assert outputs(out) == outputs(d / "local") and len(outputs(out)) == 4


def hold_first_attempt(job, barrier: str) -> None:
    """Run in the Ray actor before each row: the first attempt of HELD_ROW waits here."""
    if job.row != HELD_ROW:
        return
    marker = Path(barrier) / "started"
    if marker.exists():
        return  # the retry after the node died: go ahead
    tmp = Path(barrier) / ".started"
    tmp.write_text(ray.get_runtime_context().get_node_id())
    os.replace(tmp, marker)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        time.sleep(0.05)  # until this node is killed (the test removes it)
    raise RuntimeError("the test never killed this node")


def test_a_node_killed_mid_row_is_retried(cluster, batch):
    from ray import cloudpickle

    c, nodes = cluster
    d, settings = batch
    out, barrier = d / "ray-kill", d / "barrier"
    barrier.mkdir()
    # The hook travels by value: Ray's workers cannot import the test module.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    killed: list[str] = []

    def kill_the_node_holding_the_row() -> None:
        marker = barrier / "started"
        deadline = time.monotonic() + 300
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        node_id = marker.read_text()
        (node,) = [n for n in nodes if n.node_id == node_id]
        c.remove_node(node, allow_graceful=False)
        killed.append(node_id)

    killer = threading.Thread(target=kill_the_node_holding_the_row, daemon=True)
    killer.start()
    try:
        jobs = read_manifest(d / "m.csv", out, settings)
        hook = partial(hold_first_attempt, barrier=str(barrier))
        results = list(run_batch(jobs, out, "ray", workers=2, threads=1, on_row=hook))
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    killer.join(timeout=60)
    assert killed, "the held row never started"
    assert sorted((r.row, r.status) for r in results) == [(k, "done") for k in range(1, 5)]
    assert outputs(out) == outputs(d / "local")
