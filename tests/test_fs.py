"""Outputs checked before any work, and temporary names that fit any file system."""

from __future__ import annotations

import os

import pytest
import torch

from gramstyle.errors import GramstyleError
from gramstyle.image import check_output


def test_temp_names_fit_whatever_the_output_name(tmp_path):
    from gramstyle.image import save_image

    name = "n" * 250 + ".png"
    save_image(torch.rand(1, 3, 8, 8), tmp_path / name)
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_output_file_refuses_before_any_work(tmp_path):
    os.mkfifo(tmp_path / "f.png")
    cases = {
        str(tmp_path / "x.blp"): "cannot write .blp files",
        str(tmp_path / "f.png"): "not a regular file",
        str(tmp_path / ("n" * 300 + ".png")): "name is too long: 304 bytes",
        str(tmp_path / "sub") + "/": "ends with '/'",
        "/proc/self/x.png": "not writable",
    }
    for path, message in cases.items():
        with pytest.raises(GramstyleError, match=message):
            check_output(path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png"]  # no probe left behind
