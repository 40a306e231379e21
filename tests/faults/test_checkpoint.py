"""Tampered checkpoints: a state that does not fit the run it claims (its fingerprint
matching) is refused in one line before any step, and the CLI exits 2; a checkpoint
that differs only in what a plan may legitimately choose resumes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gramstyle import Stylizer, cli
from gramstyle.checkpoint import FORMAT, Checkpoint, checkpoint_path
from gramstyle.errors import GramstyleError
from gramstyle.gatys import optimize
from gramstyle.gatys.resume import FIELDS
from gramstyle.gatys.run import RunState
from gramstyle.settings import Settings

from ..conftest import FAST, tiny_vgg

SETTINGS = Settings(**{**FAST, "steps": 15, "coarse_steps": 10})  # 2 scales, 25 steps


@pytest.fixture(scope="module")
def session():
    return Stylizer(SETTINGS, backbone=tiny_vgg())


@pytest.fixture
def saved(session, images, tmp_path) -> tuple[Path, dict]:
    """A checkpoint at step 5 (in the first scale, L-BFGS history filled)."""
    content, style = images
    path = tmp_path / "out.png.ckpt"
    for rec in session.job(content, style).records(checkpoint=Checkpoint(path, 5)):
        if rec.done == 6:
            break
    return path, torch.load(path, weights_only=True)


def _opt(**changes) -> Callable[[dict], None]:
    return lambda s: s["optimizer"].update(changes)


TAMPERED = [
    ("step -5", lambda s: s.update(step=-5), "step must be a whole number >= 0"),
    ("stage 7", lambda s: s.update(stage=7), "stage 7 of a plan of 2"),
    ("step 99", lambda s: s.update(step=99), "step 99 of stage 0, which has 10"),
    ("done", lambda s: s.update(done=10**6), "1000000 steps done at step 5 of stage 0"),
    ("total", lambda s: s.update(total=10**6), "1000000 steps in all; the plan has 25"),
    ("no key", lambda s: s.pop("losses"), "its state has no 'losses'"),
    ("extra key", lambda s: s.update(evil=1), "its state has an unknown field 'evil'"),
    ("x shape", lambda s: s.update(x=torch.rand(1, 3, 5, 5)), "x is 5x5 px, stage 0 is"),
    ("x nan", lambda s: s["x"].fill_(float("nan")), "x must be a finite float32 image"),
    ("x type", lambda s: s.update(x=[0.5]), "x must be a finite float32 image"),
    ("precision", lambda s: s.update(precision="fp64"), "precision must be one of"),
    ("loss", lambda s: s.update(best_loss=float("nan")), "best_loss must be a finite number"),
    ("junk optimiser", lambda s: s.update(optimizer="junk"), "optimizer must be an optimiser"),
    ("adam's state", lambda s: s.update(optimizer={"kind": "adam"}), "not that of lbfgs"),
    ("opt key", lambda s: s["optimizer"].pop("rho"), "the optimiser's state is not that of"),
    ("s shape", _opt(s=[torch.zeros(7)] * 4, y=[torch.zeros(7)] * 4, rho=[1.0] * 4), "s does"),
    ("ragged", _opt(rho=[1.0] * 99), "the optimiser's history lists differ in length"),
    ("history", _opt(s=[torch.zeros(1)] * 60, y=[torch.zeros(1)] * 60, rho=[1.0] * 60), "60"),
    ("x_prev", _opt(x_prev=torch.zeros(3)), "the optimiser's x_prev does not fit"),
    ("gamma", _opt(gamma=-1.0), "the optimiser's gamma does not fit"),
    ("2048 px", lambda s: [st.update(size=(2048, 2048)) for st in s["stages"]], "is 2048x2048"),
    ("stages", lambda s: s["stages"].pop(), "1 stages, the plan has 2"),
    ("steps", lambda s: s["stages"][1].update(steps=10**6), "stage 1 has steps 1000000"),
    ("side", lambda s: s["stages"][0].update(style_side=4096), "stage 0 has style_side 4096"),
    ("tile 1", lambda s: s["stages"][0].update(tile=1), "stage 0 has tile 1"),
    ("history 1e6", lambda s: s["stages"][0].update(history=10**6), "has history 1000000"),
    ("stage junk", lambda s: s["stages"].__setitem__(0, "junk"), "stage 0 is not a stage"),
]


@pytest.mark.parametrize(
    ("change", "message"), [t[1:] for t in TAMPERED], ids=[t[0] for t in TAMPERED]
)
def test_tampered_state_is_refused_before_any_step(
    session, images, saved, monkeypatch, change, message
):
    path, data = saved
    change(data["state"])
    torch.save(data, path)

    def no_step(*args, **kwargs):
        raise AssertionError("a step was taken")

    monkeypatch.setattr(optimize.LBFGS, "step", no_step)
    content, style = images
    with pytest.raises(GramstyleError) as e:
        next(session.job(content, style).records(checkpoint=Checkpoint(path, resume=True)))
    text = str(e.value)
    assert message in text and "\n" not in text, text
    assert text.startswith("the checkpoint does not fit this run (")


def test_a_state_that_is_not_a_dict_is_not_a_checkpoint(session, images, saved):
    path, data = saved
    torch.save({**data, "state": [("x", 1)]}, path)
    content, style = images
    with pytest.raises(GramstyleError, match="is not a gramstyle checkpoint"):
        next(session.job(content, style).records(checkpoint=Checkpoint(path, resume=True)))


def test_what_a_plan_may_choose_differently_resumes(session, images, saved):
    # Another machine's memory: a shorter L-BFGS history stored in bf16, tiles.
    path, data = saved
    for st in data["state"]["stages"]:
        st.update(history=20, history_dtype="bf16", tile=128, memory=1)
    torch.save(data, path)
    content, style = images
    job = session.job(content, style)
    last = [rec for rec in job.records(checkpoint=Checkpoint(path, resume=True))][-1]
    assert last.done == last.total == 25
    assert [(st.history, st.history_dtype, st.tile) for st in job.run.plan.stages] == [
        (20, "bf16", 128)
    ] * 2


def test_fields_are_those_of_the_run_state():
    assert set(FIELDS) == {f.name for f in dataclasses.fields(RunState)}


@pytest.fixture
def cli_args(tmp_path) -> list[str]:
    rng = np.random.default_rng(0)
    c, s, w = tmp_path / "c.png", tmp_path / "s.png", tmp_path / "tiny.pth"
    Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(c)
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(s)
    torch.save(tiny_vgg().state_dict(), w)
    out = ["-o", str(tmp_path / "out.png"), "--weights", str(w), "--precision", "fp32"]
    sizes = ["--size", "32", "--min-size", "32", "--steps", "20", "--init", "noise"]
    return ["stylize", str(c), str(s), *out, *sizes, "-q", "--checkpoint-every", "5"]


def test_the_cli_refuses_a_tampered_checkpoint_with_exit_2(cli_args, tmp_path, monkeypatch, capsys):
    real, calls = optimize.LBFGS.step, []

    def interrupted(self, *args, **kwargs):  # Ctrl-C during the 8th step
        calls.append(1)
        if len(calls) == 8:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(optimize.LBFGS, "step", interrupted)
    assert cli.main(cli_args) == 130
    monkeypatch.setattr(optimize.LBFGS, "step", real)
    ckpt = checkpoint_path(tmp_path / "out.png")
    data = torch.load(ckpt, weights_only=True)
    assert data["format"] == FORMAT and data["state"]["done"] == 7
    data["state"]["step"] = -5
    torch.save(data, ckpt)
    capsys.readouterr()
    assert cli.main([*cli_args, "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "resuming" not in err
    assert err.startswith("gramstyle: error: the checkpoint does not fit this run (step must")


def test_a_checkpoint_on_a_full_disk_is_one_line(cli_args, tmp_path, monkeypatch, capsys):
    import errno
    import os

    real = os.replace

    def replace(src, dst, *args, **kwargs):
        if os.fspath(dst).endswith(".ckpt"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(dst))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    assert cli.main(cli_args) == 2
    ckpt = checkpoint_path(tmp_path / "out.png")
    err = capsys.readouterr().err
    assert err == f"gramstyle: error: could not write {ckpt}: no space left on the device\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.png", "s.png", "tiny.pth"]
