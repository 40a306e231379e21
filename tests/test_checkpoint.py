"""Checkpoint files: round trip with a real L-BFGS state, refusal of
other inputs/settings and of foreign files, atomic writes."""

from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from gramstyle.checkpoint import checkpoint_path, load_checkpoint, save_checkpoint
from gramstyle.errors import GramstyleError


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    c, s = tmp_path / "c.png", tmp_path / "s.png"
    Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(c)
    Image.fromarray(rng.integers(0, 255, (30, 30, 3), dtype=np.uint8)).save(s)
    return tmp_path, c, s


def lbfgs_state(steps: int = 3) -> dict:
    torch.manual_seed(0)
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    opt = torch.optim.LBFGS([x], max_iter=1, history_size=5)
    target = torch.rand(1, 3, 8, 8)

    def closure():
        opt.zero_grad()
        loss = ((x - target) ** 2).sum()
        loss.backward()
        return loss

    for _ in range(steps):
        opt.step(closure)
    return {"image": x.detach().clone(), "optimizer": opt.state_dict(), "scale": 1, "step": steps}


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_round_trip_with_lbfgs_history(tmp_path):
    state = lbfgs_state()
    assert state["optimizer"]["state"][0]["old_dirs"]  # the history is really there
    path = save_checkpoint(tmp_path / "out.png.ckpt", state, "f" * 64)
    assert same(load_checkpoint(path, "f" * 64), state)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png.ckpt"]


def test_other_fingerprint_is_refused_in_one_line(tmp_path):
    path = save_checkpoint(tmp_path / "x.ckpt", {"step": 1}, "a" * 64)
    with pytest.raises(GramstyleError, match="other inputs or settings") as e:
        load_checkpoint(path, "b" * 64)
    assert "\n" not in str(e.value)
    with pytest.raises(GramstyleError, match="not found"):
        load_checkpoint(tmp_path / "none.ckpt", "a" * 64)


class Evil:
    def __reduce__(self):
        return (shutil.rmtree, ("/nonexistent-gramstyle",))


def test_foreign_files_are_refused(tmp_path):
    (tmp_path / "text.ckpt").write_text("hello")
    torch.save({"format": 1, "fingerprint": "a", "state": {"x": Evil()}}, tmp_path / "evil.ckpt")
    torch.save([1, 2], tmp_path / "list.ckpt")
    with open(tmp_path / "pickle.ckpt", "wb") as f:
        pickle.dump(Evil(), f)
    for name in ("text.ckpt", "evil.ckpt", "list.ckpt", "pickle.ckpt"):
        with pytest.raises(GramstyleError, match="not a gramstyle checkpoint"):
            load_checkpoint(tmp_path / name, "a")


def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "x.ckpt", {"step": 1}, "a" * 64)
    real_save = torch.save

    def dies_midway(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", dies_midway)
    with pytest.raises(GramstyleError, match="disk full"):
        save_checkpoint(path, {"step": 2}, "a" * 64)
    monkeypatch.setattr(torch, "save", real_save)
    assert load_checkpoint(path, "a" * 64) == {"step": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.ckpt"]


def test_checkpoint_path():
    assert str(checkpoint_path("dir/out.png")) == "dir/out.png.ckpt"


def test_a_signal_during_a_checkpoint_write_waits_for_the_whole_file(tmp_path, monkeypatch):
    import os
    import signal

    real = torch.save

    def save(obj, f):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the file is being written
        real(obj, f)

    def stop(*_):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", save)
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        with pytest.raises(KeyboardInterrupt):
            save_checkpoint(tmp_path / "c.ckpt", {"x": torch.ones(3)}, "key")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert load_checkpoint(tmp_path / "c.ckpt", "key")["x"].tolist() == [1, 1, 1]
