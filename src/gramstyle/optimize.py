"""The Gatys loop for one scale: the pixels of G are the only parameters."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from .objective import Costs


class NonFiniteCost(ArithmeticError):
    """The cost became NaN or infinite (e.g. fp16 overflow); the caller may retry in fp32."""


def optimize(
    objective: Callable[[Tensor], Costs],
    x0: Tensor,
    steps: int,
    optimizer: str = "lbfgs",
    lr: float = 1.0,
) -> Iterator[tuple[Costs, Tensor]]:
    """Minimise ``objective`` over the pixels, starting from ``x0``; yield per step.

    Each item is the step's costs (evaluated at the start of the step) and the live
    image after the step (updated in place; copy it to keep it). One network forward
    and backward per step: L-BFGS runs without line search, one iteration per call.
    Pixels are clamped to [0, 1] after each step (a projection; not in the lecture).
    """
    # L-BFGS flattens the parameter with view(-1): it must be contiguous.
    x = x0.detach().clone(memory_format=torch.contiguous_format).requires_grad_(True)
    if optimizer == "lbfgs":
        opt: torch.optim.Optimizer = torch.optim.LBFGS(
            [x],
            lr=lr,
            max_iter=1,
            history_size=50,
            tolerance_grad=-1.0,
            tolerance_change=-1.0,  # never stop early: steps is the budget
        )
    else:
        opt = torch.optim.Adam([x], lr=lr)
    costs: Costs | None = None

    def closure() -> float:
        nonlocal costs
        opt.zero_grad(set_to_none=False)
        costs = objective(x)
        costs.total.backward()
        return costs.total  # type: ignore[return-value]  # optimisers accept a tensor

    for _ in range(steps):
        opt.step(closure)
        assert costs is not None
        if not torch.isfinite(costs.total):
            raise NonFiniteCost(float(costs.total.detach()))
        with torch.no_grad():
            x.clamp_(0, 1)
        yield costs.detach(), x.detach()
