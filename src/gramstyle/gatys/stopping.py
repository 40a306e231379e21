"""When a scale stops: the stopping rule, and how many steps it is expected to take.

A scale stops when its best J fell by less than ``tol`` (relative) over the last
``window`` steps (:func:`should_stop`). Progress bars and the web page show how long
the run will take, so :func:`expected_steps` predicts the step at which the rule will
fire: before a scale has a curve to read, the count measured on the benchmark pairs
(:data:`EXPECTED_STEPS`); after :data:`FIT_AFTER` steps, from the curve itself. The
relative drop over a window falls about as a power of the step number once the first
steps after a scale's start are past, so a line through the last drops in log-log
space says where it meets ``tol`` (within about 15% from step 20 on the benchmark
pairs, at 256 and 512 px: docs/benchmarks.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

#: Steps a full-size scale takes under the default rule (5% over 5 steps), measured on
#: the benchmark pairs at 256 and 512 px from the upsampled coarser scale (40 to 49).
EXPECTED_STEPS = 46
#: A scale's curve predicts its own end once it has this many steps ...
FIT_AFTER = 20
#: ... from the relative drops of this many last steps.
FIT_POINTS = 10


def should_stop(losses: Sequence[float], window: int, tol: float) -> bool:
    """True when the best J fell by less than ``tol`` (relative) over the last ``window`` steps.

    >>> should_stop([10.0, 9.0, 8.999], window=1, tol=1e-3)
    True
    >>> should_stop([10.0, 9.0], window=1, tol=1e-3)
    False
    """
    if tol <= 0 or window < 1 or len(losses) <= window:
        return False
    old, new = losses[-window - 1], losses[-1]
    return old - new < tol * abs(old)


def expected_steps(
    curve: Sequence[float], budget: int, window: int, tol: float, prior: int = EXPECTED_STEPS
) -> int:
    """The step at which a scale with best-J ``curve`` (one value per step so far) is
    expected to stop: ``budget`` without a rule, ``prior`` before :data:`FIT_AFTER`
    steps, then where a power law through the last relative drops meets ``tol`` (where
    the drops do not shrink, another ``window`` steps and at least ``prior``); always
    more than the steps taken and at most ``budget``.

    >>> curve = [100 * (i + 1) ** -0.5 for i in range(30)]  # drops shrink as a power
    >>> expected_steps(curve, 100, 5, 0.05), expected_steps(curve[:10], 100, 5, 0.05)
    (51, 46)
    >>> expected_steps(curve, 40, 5, 0.05), expected_steps(curve, 100, 5, 0.0)
    (40, 100)
    """
    n = len(curve)
    if tol <= 0 or window < 1:
        return budget
    if n < max(FIT_AFTER, window + 3):
        return max(n + 1, min(prior, budget)) if n < budget else budget
    # The median of the fits ending at this step and the two before: one noisy step
    # (L-BFGS's drops are uneven) no longer swings the bar's total.
    ends = sorted(_fit_end(curve[: n - k], budget, window, tol, prior) for k in range(3))
    end = ends[1]
    return min(budget, max(n + 1, end)) if n < budget else budget


def _fit_end(curve: Sequence[float], budget: int, window: int, tol: float, prior: int) -> int:
    """Where a power law through ``curve``'s last relative drops meets ``tol``; with no
    such line (the drops do not shrink), another ``window`` steps and at least
    ``prior``; never more steps ahead than the curve has behind it."""
    n = len(curve)
    pts = []
    for i in range(max(window, n - FIT_POINTS), n):
        old = curve[i - window]
        drop = (old - curve[i]) / abs(old) if old else 0.0
        if drop > 0:
            pts.append((math.log(i + 1), math.log(drop)))
    end = max(n + window, prior)
    if len(pts) >= 3:
        mx = sum(x for x, _ in pts) / len(pts)
        my = sum(y for _, y in pts) / len(pts)
        sxx = sum((x - mx) ** 2 for x, _ in pts)
        slope = sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx else 0.0
        if slope < 0:  # drops shrink: where does the line reach log(tol)?
            log_at = mx + (math.log(tol) - my) / slope
            end = math.ceil(math.exp(min(log_at, math.log(budget))))
            end = min(end, max(2 * n, prior))  # a shallow line reaches far
    return min(budget, end)
