"""The method's own checks before any work: what cannot fit this machine is refused."""

from __future__ import annotations

import pytest
import torch

from gramstyle import device
from gramstyle.errors import GramstyleError
from gramstyle.inputs import check_method
from gramstyle.settings import Settings


def test_memory_estimate_refuses_only_what_cannot_fit(monkeypatch):
    monkeypatch.setattr(device, "physical_memory", lambda: 24 << 30)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cpu = torch.device("cpu")

    def check(s):  # a 4:3 photo at the settings' size
        h, w = round(s.size * 3 / 4), s.size
        check_method(s.replace(max_memory="1T"), (h, w), [(20000, 20000)], 0, cpu)

    # Gatys is tiled: 160 B/px that no tile sheds at 16384x12288 (30 GiB) + a 1024 px
    # tile (4 GiB): refused; 8192x6144 (7.5 + 4 GiB): tried (the plan then fits tiles).
    with pytest.raises(GramstyleError, match=r"--size 16384 needs about 34 GiB"):
        check(Settings(size=16384))
    check(Settings(size=8192))
    # AdaIN is tiled: 16384 px fits.
    check(Settings(size=16384, method="adain"))
