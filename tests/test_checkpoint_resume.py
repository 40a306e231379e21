"""Resumable runs: a run stopped and resumed from its checkpoint ends at the picture an
uninterrupted run makes (L-BFGS history included), a checkpoint of other inputs or
settings is refused, and SIGTERM writes the checkpoint (a real subprocess)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

from gramstyle import Stylizer, cli
from gramstyle.checkpoint import Checkpoint, checkpoint_path, load_checkpoint
from gramstyle.errors import GramstyleError
from gramstyle.gatys.run import RunState
from gramstyle.settings import Settings

from .conftest import FAST, tiny_vgg

SETTINGS = Settings(**{**FAST, "steps": 15, "coarse_steps": 10})  # 2 scales, 25 steps


@pytest.fixture(scope="module")
def session():
    return Stylizer(SETTINGS, backbone=tiny_vgg())


def run_through(job, ck: Checkpoint, stop_after: int | None = None):
    last = None
    for rec in job.records(checkpoint=ck):
        last = rec
        if stop_after is not None and rec.done == stop_after:
            break
    return last


@pytest.mark.parametrize("every, stop_after", [(7, 16), (10, 12)])
def test_resumed_run_ends_at_the_uninterrupted_picture(
    session, images, tmp_path, every, stop_after
):
    content, style = images
    whole = session.job(content, style).result()

    path = tmp_path / "out.png.ckpt"
    first = Checkpoint(path, every)
    run_through(session.job(content, style), first, stop_after)  # stopped: the last
    assert first.resumed_from is None  # checkpoint is at a multiple of every
    saved = (stop_after // every) * every
    again = Checkpoint(path, every, resume=True)
    last = run_through(session.job(content, style), again)
    assert again.resumed_from == (saved, 25)
    assert last.done == last.total == 25
    # 7 and 14 are mid-scale (the L-BFGS history is part of the state), 10 is a boundary.
    assert (last.image - whole).abs().max().item() <= 1 / 255
    again.finish()
    assert not path.exists()


def test_the_history_matters(session, images, tmp_path):
    # The same resume with the optimiser's memory wiped ends elsewhere: the test above
    # would notice a checkpoint that dropped it.
    content, style = images
    job = session.job(content, style)
    whole = session.job(content, style).result()
    run_through(job, Checkpoint(tmp_path / "c.ckpt", 7), 16)
    state = job.run.state()
    d = load_checkpoint(tmp_path / "c.ckpt", job.prep.key)
    d["optimizer"] = {**d["optimizer"], "s": [], "y": [], "rho": []}
    forgetful = [rec.image for rec in session.run(job.prep, resume=RunState.from_dict(d))][-1]
    assert state.done == 16 and (forgetful - whole).abs().max().item() > 1 / 255


def test_other_inputs_or_settings_are_refused(session, images, tmp_path):
    content, style = images
    path = tmp_path / "x.ckpt"
    run_through(session.job(content, style), Checkpoint(path, 5), 5)
    for other in (session.job(content, style, seed=1), session.job(style, content)):
        with pytest.raises(GramstyleError, match="other inputs or settings"):
            run_through(other, Checkpoint(path, 5, resume=True))
    with pytest.raises(GramstyleError, match="pass --resume"):
        Checkpoint(path, 5)  # a checkpoint is never overwritten silently
    fresh = Checkpoint(path, 5, overwrite=True)
    run_through(session.job(content, style), fresh, 1)
    assert fresh.resumed_from is None


def test_interrupt_during_a_step_saves(session, images, tmp_path, monkeypatch):
    content, style = images
    job = session.job(content, style)
    path = tmp_path / "x.ckpt"
    ck = Checkpoint(path, 0)
    from gramstyle.gatys.optimize import LBFGS

    steps = {"n": 0}
    real = LBFGS.step

    def step(self, *a, **k):  # Ctrl-C arrives during the 4th step
        steps["n"] += 1
        if steps["n"] == 4:
            raise KeyboardInterrupt
        return real(self, *a, **k)

    monkeypatch.setattr(LBFGS, "step", step)
    with pytest.raises(KeyboardInterrupt):
        for _ in job.records(checkpoint=ck):
            pass
    assert ck.saved_at == 3 and load_checkpoint(path, job.prep.key)["done"] == 3


# --- the CLI ---------------------------------------------------------------------------


@pytest.fixture
def cli_files(tmp_path):
    rng = np.random.default_rng(0)
    c, s = tmp_path / "c.png", tmp_path / "s.png"
    Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(c)
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(s)
    weights = tmp_path / "tiny.pth"
    torch.save(tiny_vgg().state_dict(), weights)
    return tmp_path, c, s, weights


def test_sigterm_writes_the_checkpoint_and_resume_finishes(cli_files, capsys):
    d, c, s, weights = cli_files
    out = d / "out.png"
    ckpt = checkpoint_path(out)
    # Enough steps that the run is still going when SIGTERM comes (sent as soon as the
    # first periodic checkpoint exists, never after a sleep).
    args = [
        str(c),
        str(s),
        "-o",
        str(out),
        "--weights",
        str(weights),
        "--size",
        "32",
        "--min-size",
        "32",
        "--steps",
        "3000",
        "--precision",
        "fp32",
        "--init",
        "noise",
        "-q",
        "--checkpoint-every",
        "5",
    ]
    # One torch thread, as in the test process: spinning threads crawl on a shared CPU.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gramstyle", "stylize", *args],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 600  # generous: the machine may be shared
        while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ckpt.exists(), proc.poll()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert "checkpoint saved at step" in err and "terminated" in err and "Traceback" not in err
    assert not out.exists()
    saved = int(err.split("checkpoint saved at step ")[1].split(":")[0])
    assert 5 <= saved < 3000

    # Other settings: refused in one line, the checkpoint kept.
    code = cli.main(["stylize", *args, "--resume", "--style-weight", "7"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "other inputs or settings" in err
    # Without --resume an existing checkpoint is not overwritten.
    code = cli.main(["stylize", *args])
    assert code == 2 and "pass --resume" in capsys.readouterr().err
    assert ckpt.exists()

    # The resumed run (in this process, fewer steps to go) writes the output and removes
    # the checkpoint.
    code = cli.main(["stylize", *args, "--resume"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert f"resuming from step {saved} of 3000" in err
    assert Image.open(out).size == (32, 24) and not ckpt.exists()
