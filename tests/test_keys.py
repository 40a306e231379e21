"""The one fingerprint: contents, not names; every setting; tensors and images by pixels."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from gramstyle import keys
from gramstyle.errors import GramstyleError
from gramstyle.keys import Input
from gramstyle.settings import Settings


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    c, s = tmp_path / "c.png", tmp_path / "s.png"
    Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(c)
    Image.fromarray(rng.integers(0, 255, (30, 30, 3), dtype=np.uint8)).save(s)
    return tmp_path, c, s


def test_fingerprint_follows_contents_and_settings(files):
    d, c, s = files

    def fingerprint(content, styles, settings, blend=None):  # as a batch row keys itself
        return keys.fingerprint(
            Input(content, "content image"),
            [Input(x, "style image") for x in styles],
            settings,
            blend,
        )

    base = fingerprint(c, [s], Settings())
    moved = d / "renamed.png"
    shutil.copy(c, moved)
    assert fingerprint(moved, [s], Settings()) == base  # contents, not names
    assert fingerprint(c, [s], Settings(size=256)) != base
    assert fingerprint(c, [s, s], Settings()) != base
    assert fingerprint(c, [s], Settings(), blend=[1.0]) != base
    assert fingerprint(s, [c], Settings()) != base
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(moved)
    assert fingerprint(moved, [s], Settings()) != base
    # In-memory inputs hash their pixels.
    t = torch.rand(1, 3, 8, 8)
    assert fingerprint(t, [t], Settings()) == fingerprint(t.clone(), [t], Settings())
    assert fingerprint(t, [t], Settings()) != fingerprint(t * 0.5, [t], Settings())
    pil = Image.open(c)
    assert fingerprint(pil, [s], Settings()) == fingerprint(pil.copy(), [s], Settings())
    with pytest.raises(GramstyleError, match="content image not found"):
        fingerprint(d / "missing.png", [s], Settings())


def test_kinds_never_collide():
    f = keys.fingerprint
    assert len({f(1), f(1.0), f("1"), f(True), f([1]), f((1,)), f({1: 1}), f(None)}) == 7
    assert f([1, 2], 3) != f([1], [2, 3])  # sequences are delimited
    assert f(torch.zeros(2)) != f(torch.zeros(1, 2)) != f(torch.zeros(2, dtype=torch.float64))
    assert f(torch.ones(2, dtype=torch.bfloat16)) == f(torch.ones(2, dtype=torch.bfloat16))
