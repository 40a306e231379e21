"""The optimiser accepts a start image in any memory layout (loaded images are not contiguous)."""

from __future__ import annotations

import torch

from gramstyle.objective import Costs
from gramstyle.optimize import optimize


def test_lbfgs_accepts_channels_last_start():
    target = torch.rand(1, 3, 6, 8)
    x0 = torch.rand(1, 6, 8, 3).permute(0, 3, 1, 2)  # as pil_to_tensor returns it
    assert not x0.is_contiguous()

    def objective(x):
        total = ((x - target) ** 2).sum()
        zero = total.new_zeros(())
        return Costs(total=total, content=total, style={}, tv=zero)

    *_, (costs, x) = optimize(objective, x0, 5, "lbfgs", 0.5)
    assert float(((x - target) ** 2).sum()) < float(((x0 - target) ** 2).sum())
