"""A method added by one module and its registration runs through every app unchanged:
the CLI, a batch row, a two-frame video (the web API: tests/web/test_plugin.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gramstyle import cli, registry
from gramstyle.errors import GramstyleError
from gramstyle.image import load_image
from gramstyle.settings import Settings

from . import plugin
from .conftest import tiny_vgg

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def identity(monkeypatch):
    """The identity method, here and in every worker process this test starts."""
    monkeypatch.setenv(registry.PLUGINS_ENV, "tests.plugin:INFO")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    with plugin.registered() as engine:
        yield engine


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:30, 0:40] / 40
    base = np.stack([xx, yy, 1 - xx], -1) * 200 + rng.uniform(0, 55, (30, 40, 3))
    c, s = tmp_path / "c.png", tmp_path / "s.png"
    Image.fromarray(base.astype(np.uint8)).save(c)
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(s)
    return c, s


def test_the_registry_knows_builtins_and_refuses_strangers():
    assert registry.names()[:2] == ("gatys", "adain")
    assert registry.info("gatys").iterative and not registry.info("adain").iterative
    with pytest.raises(GramstyleError, match="method must be one of gatys, adain"):
        Settings(method="nope")
    with pytest.raises(GramstyleError, match="int8 runs only AdaIN: use it with --method adain"):
        Settings(precision="int8")


def test_a_plugin_is_a_method_like_any_other(identity, photo, tmp_path, capsys):
    assert "identity" in registry.names() and Settings(method="identity").method == "identity"
    c, s = photo
    out = tmp_path / "out.png"
    code = cli.main(["stylize", str(c), str(s), "-o", str(out), "--method", "identity",
                     "--size", "40"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert torch.equal(load_image(out), load_image(c))  # the photo, through the whole path
    assert "wrote" in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        cli.main(["stylize", "--help"])
    assert "identity: the photo as it is" in " ".join(capsys.readouterr().out.split())


def test_a_plugin_runs_a_batch_row_in_a_worker_process(identity, photo, tmp_path):
    from gramstyle.batch import read_manifest, run_batch

    c, s = photo
    m = tmp_path / "m.csv"
    m.write_text(f"content,style,method,size\n{c},{s},identity,40\n")
    rows = read_manifest(m, tmp_path / "out")
    (result,) = list(run_batch(rows, tmp_path / "out", workers=1, threads=1))
    assert result.status == "done", result.error
    assert torch.equal(load_image(result.output), load_image(c))


def test_a_plugin_runs_a_two_frame_video(identity, tmp_path):
    pytest.importorskip("av")
    pytest.importorskip("cv2")
    from gramstyle.video import VideoDone, stylize_video
    from gramstyle.video.probe import probe
    from gramstyle.video.read import read_frames
    from gramstyle.video.synthetic import Motion, render, write_clip

    photo = _gradient(48, 64)
    frames = render(photo, Motion("pan", (48, 64), 2))
    clip = write_clip(tmp_path / "in.mp4", frames)
    out = tmp_path / "out.mp4"
    records = list(stylize_video(clip, photo, out, method="identity", size=64, backbone=tiny_vgg()))
    assert isinstance(records[-1], VideoDone) and records[-1].frames == 2
    info = probe(out)
    got = [f.image for f in read_frames(info, (48, 64), [])]
    want = [f.image for f in read_frames(probe(clip), (48, 64), [])]
    # The identity of each frame (the second one tied to the warped first by the method's
    # temporal weight): the input again, to video compression's precision.
    assert len(got) == 2
    assert all((g - w).abs().mean() < 0.03 for g, w in zip(got, want, strict=True))


def _gradient(h: int, w: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    return torch.stack([xx, yy, (xx * 7).sin().abs()]).unsqueeze(0)
