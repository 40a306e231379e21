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
from gramstyle.checkpoint import Checkpointed, checkpoint_path, load_checkpoint
from gramstyle.config import Settings
from gramstyle.errors import GramstyleError

from .conftest import FAST, tiny_vgg

SETTINGS = Settings(**{**FAST, "steps": 15, "coarse_steps": 10})  # 2 scales, 25 steps


@pytest.fixture(scope="module")
def session():
    return Stylizer(SETTINGS, backbone=tiny_vgg())


def run_through(ck: Checkpointed, stop_after: int | None = None):
    last = None
    for rec in ck:
        last = rec
        if stop_after is not None and rec.done == stop_after:
            break
    return last


@pytest.mark.parametrize("every, stop_after", [(7, 16), (10, 12)])
def test_resumed_run_ends_at_the_uninterrupted_picture(session, images, tmp_path, every,
                                                       stop_after):  # fmt: skip
    content, style = images
    prep = session.prepare(content, style)
    whole = [rec.image.clone() for rec in session.run(prep)][-1]

    path = tmp_path / "out.png.ckpt"
    first = Checkpointed(session, prep, path, every)
    assert first.resumed_from is None
    run_through(first, stop_after)  # stopped: the last checkpoint is at a multiple of every
    saved = (stop_after // every) * every
    again = Checkpointed(session, prep, path, every, resume=True)
    assert again.resumed_from == (saved, 25)
    last = run_through(again)
    assert last.done == last.total == 25
    # 7 and 14 are mid-scale (the L-BFGS history is part of the state), 10 is a boundary.
    assert (last.image - whole).abs().max().item() <= 1 / 255
    again.finish()
    assert not path.exists()


def test_the_history_matters(session, images, tmp_path):
    # The same resume with the optimiser's memory wiped ends elsewhere: the test above
    # would notice a checkpoint that dropped it.
    content, style = images
    prep = session.prepare(content, style)
    whole = [rec.image.clone() for rec in session.run(prep)][-1]
    first = Checkpointed(session, prep, tmp_path / "c.ckpt", 7)
    run_through(first, 16)
    state = first.run.state()
    from gramstyle.run import RunState

    d = RunState.from_dict(load_checkpoint(tmp_path / "c.ckpt", prep.key)).to_dict()
    d["optimizer"] = {**d["optimizer"], "s": [], "y": [], "rho": []}
    forgetful = [rec.image for rec in session.run(prep, resume=RunState.from_dict(d))][-1]
    assert state.done == 16 and (forgetful - whole).abs().max().item() > 1 / 255


def test_other_inputs_or_settings_are_refused(session, images, tmp_path):
    content, style = images
    prep = session.prepare(content, style)
    path = tmp_path / "x.ckpt"
    run_through(Checkpointed(session, prep, path, 5), 5)
    for other in (session.prepare(content, style, seed=1), session.prepare(style, content)):
        with pytest.raises(GramstyleError, match="other inputs or settings"):
            Checkpointed(session, other, path, 5, resume=True)
    with pytest.raises(GramstyleError, match="pass --resume"):
        Checkpointed(session, prep, path, 5)  # a checkpoint is never overwritten silently
    assert Checkpointed(session, prep, path, 5, overwrite=True).resumed_from is None


def test_interrupt_inside_the_with_block_saves(session, images, tmp_path):
    content, style = images
    prep = session.prepare(content, style)
    path = tmp_path / "x.ckpt"
    with pytest.raises(KeyboardInterrupt), Checkpointed(session, prep, path, 0) as ck:
        for rec in ck:
            if rec.done == 3:
                raise KeyboardInterrupt
    assert ck.saved_at == 3 and load_checkpoint(path, prep.key)["done"] == 3


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
    args = [str(c), str(s), "-o", str(out), "--weights", str(weights), "--size", "32",
            "--min-size", "32", "--steps", "3000", "--precision", "fp32", "--init", "noise",
            "-q", "--checkpoint-every", "5"]  # fmt: skip
    # One torch thread, as in the test process: spinning threads crawl on a shared CPU.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "gramstyle", "stylize", *args],
                            stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
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
