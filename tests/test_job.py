"""The one orchestration: the result guard, and a method plugged in through the seam."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from gramstyle.errors import GramstyleError
from gramstyle.job import ResultGuard


def _rec(scale, step, steps, loss, image=None, **kw):
    best = kw.pop("best", loss)
    return SimpleNamespace(
        scale=scale,
        step=step,
        steps=steps,
        done=kw.pop("done", 0),
        total=kw.pop("total", 99),
        image=torch.zeros(1, 3, 4, 4) if image is None else image,
        objective=lambda: (loss, best),
        **kw,
    )


def test_result_guard_passes_a_falling_cost_and_stops_an_exploding_one():
    guard = ResultGuard()
    for i, loss in enumerate([5.0, 3.0, 1.0], start=1):
        guard(_rec(0, i, 3, loss))
    guard(_rec(1, 1, 2, 40.0))  # a new scale starts higher (new resolution): fine
    guard(_rec(1, 2, 2, 39.0))
    boom = ResultGuard()
    boom(_rec(0, 1, 2, 0.01))
    with pytest.raises(GramstyleError, match="diverged: the cost rose from 0.01 to 70"):
        boom(_rec(0, 2, 2, 70.0))
    # A scale that stopped early (its last record has step < steps) is checked when the
    # next scale begins.
    early = ResultGuard()
    early(_rec(0, 1, 9, 0.01))
    early(_rec(0, 2, 9, 70.0))
    with pytest.raises(GramstyleError, match="diverged"):
        early(_rec(1, 1, 9, 1.0))
    # The engine returns each scale's best image: judged by its best cost.
    best = ResultGuard()
    best(_rec(0, 1, 2, 0.01, best=0.01))
    best(_rec(0, 2, 2, 70.0, best=0.005))
    nan = ResultGuard()
    with pytest.raises(GramstyleError, match="NaN or infinite pixels"):
        nan(_rec(0, 1, 1, 1.0, torch.full((1, 3, 2, 2), float("nan"))))
