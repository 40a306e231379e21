"""The benchmark pairs: the held-out ones are new pairings, and their images exist."""

from __future__ import annotations

import pytest
from PIL import Image

pairs = pytest.importorskip("benchmarks.pairs", reason="run from the repository root")


def test_held_out_pairs_were_not_tuned_on():
    held_out = pairs.parse_pairs("held-out")
    assert len(held_out) >= 2
    assert not set(held_out) & set(pairs.parse_pairs("all"))


def test_the_generated_content_is_a_picture(monkeypatch, tmp_path):
    monkeypatch.setattr(pairs.tempfile, "gettempdir", lambda: str(tmp_path))
    path = pairs.image_path("terrain", "content")
    with Image.open(path) as img:
        assert max(img.size) == 1024 and img.mode == "RGB"
    assert pairs.image_path("terrain", "content") == path  # drawn once, then reused
