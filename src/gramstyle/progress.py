"""The CLI's progress bars: step records (and tile progress) -> a tqdm line with ETA."""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

from .budget import GiB
from .plan import Estimate, Plan
from .run import StepRecord
from .tiles import TileProgress

#: Share of a tiled step spent in its first pass (style matrices, no gradients): the
#: rest is the second pass (gradients); only for the ETA inside a step.
PASS1_SHARE = 0.3


def duration(seconds: float) -> str:
    """``75`` -> ``"1:15"``, ``3725`` -> ``"1:02:05"``.

    >>> duration(75), duration(3725)
    ('1:15', '1:02:05')
    """
    s = max(0, round(seconds))
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


def describe(plan: Plan, est: Estimate) -> str:
    """The plan and its estimate in one line (what the CLI prints before starting)."""
    last = plan.stages[-1]
    h, w = last.size
    parts = [f"{len(plan.stages)} scale{'s' if len(plan.stages) != 1 else ''} up to {w}x{h}"]
    tiled = [st for st in plan.stages if st.tile is not None]
    if tiled:
        t = tiled[0]
        parts.append(
            f"exact tiles of {t.tile} px from {max(t.size)} px up, L-BFGS history "
            f"{min(t.history, t.steps)} ({t.history_dtype})"
        )
    else:
        parts.append("one pass per step")
    return (
        f"{', '.join(parts)}; estimate {est.peak / GiB:.1f} GiB peak of a "
        f"{est.budget / GiB:.1f} GiB budget, about {duration(est.seconds)}"
    )


class ProgressBar:
    """The bar of ``gramstyle stylize``: scale, tile of the current step, costs, ETA.

    :meth:`plan` (the run's ``on_plan``) prints the plan's one-line estimate and opens
    the bar; :meth:`tile` (``on_tile``) shows tile progress inside a step;
    :meth:`update` takes each :class:`StepRecord`. The ETA scales the plan's modelled
    time left by how fast the run has gone so far (tqdm's own assumes equal steps,
    which a pyramid does not have).
    """

    def __init__(self, total: int | None = None, disable: bool = False) -> None:
        self.disable = disable
        self.bar: tqdm | None = None
        self.est: Estimate | None = None
        self.t0 = time.perf_counter()
        self.stage = 0
        self.sizes: list[tuple[int, int]] = []  # each stage's image size, from the plan
        self.step = 0  # steps done in the current stage
        self.costs = ""
        if total is not None:
            self._open(total)

    def _open(self, total: int) -> None:
        if self.bar is None:
            fmt = None
            if self.est is not None:  # our ETA in the postfix instead of tqdm's
                fmt = "{desc}{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"
            self.bar = tqdm(total=total, disable=self.disable, unit="step",
                            dynamic_ncols=True, leave=True, bar_format=fmt)  # fmt: skip

    def plan(self, plan: Plan, est: Estimate) -> None:
        if not self.disable:
            print(f"gramstyle: {describe(plan, est)}", file=sys.stderr)
        self.est, self.t0 = est, time.perf_counter()
        self.sizes = [st.size for st in plan.stages]
        self._open(plan.total)

    def _eta(self, fraction: float = 0.0) -> str:
        """Time left, from the modelled cost of what is done and what remains."""
        est = self.est
        if est is None:
            return ""
        k, secs, steps = self.stage, est.step_seconds, est.steps
        if k >= len(secs):
            return ""
        done = sum(t * n for t, n in zip(secs[:k], steps[:k], strict=True))
        done += secs[k] * (self.step + fraction)
        left = secs[k] * (steps[k] - self.step - fraction)
        left += sum(t * n for t, n in zip(secs[k + 1 :], steps[k + 1 :], strict=True))
        elapsed = time.perf_counter() - self.t0
        rate = elapsed / done if done > 0 and elapsed > 1 else 1.0
        return f" ETA {duration(rate * left)}"

    def tile(self, p: TileProgress) -> None:
        if self.bar is None:
            return
        later = [k for k, size in enumerate(self.sizes)
                 if size == p.size and (k > self.stage or not self.bar.desc)]  # fmt: skip
        if later:  # a new scale's targets or first step: name it now, not after the step
            self.stage, self.step, self.costs = later[0], 0, ""
            h, w = self.sizes[later[0]]
            self.bar.set_description(f"scale {later[0] + 1}/{len(self.sizes)} {w}x{h}",
                                     refresh=False)  # fmt: skip
        if p.phase == 0:  # the stage's targets: not part of a step
            self.bar.set_postfix_str(f"targets, tile {p.tile}/{p.tiles}", refresh=True)
            return
        if p.phase == 3:  # J of the stage's last image, after its last step
            self.bar.set_postfix_str(
                f"checking the last image, tile {p.tile}/{p.tiles}{self._eta(1.0)}", refresh=True
            )
            return
        fraction = (PASS1_SHARE * p.tile / p.tiles if p.phase == 1
                    else PASS1_SHARE + (1 - PASS1_SHARE) * p.tile / p.tiles)  # fmt: skip
        self.bar.set_postfix_str(
            f"tile {p.tile}/{p.tiles} pass {p.phase}{self.costs}{self._eta(fraction)}",
            refresh=True,
        )

    def update(self, rec: StepRecord) -> None:
        self._open(rec.total)
        assert self.bar is not None
        if self.bar.total != rec.total:  # a scale stopped early
            self.bar.total = rec.total
        self.stage, self.step = rec.scale, rec.step
        h, w = rec.size
        self.bar.set_description(f"scale {rec.scale + 1}/{rec.scales} {w}x{h}", refresh=False)
        self.costs = (
            f" J={rec.loss:.3g} content={rec.content:.3g} style={sum(rec.style.values()):.3g}"
            + (f" tv={rec.tv:.3g}" if rec.tv else "")
        )
        self.bar.set_postfix_str(self.costs.strip() + self._eta(), refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class ExplainProgressBar:
    """``gramstyle explain``'s bar: one over the main run and every one-layer run."""

    def __init__(self, disable: bool = False) -> None:
        self.bar: tqdm | None = None
        self.disable = disable

    def update(self, step) -> None:  # an insight.ExplainStep
        if self.bar is None:
            self.bar = tqdm(total=step.total, disable=self.disable, unit="step", dynamic_ncols=True)
        if self.bar.total != step.total:  # coarse scales too small for the net are dropped
            self.bar.total = step.total
        what = "stylize" if step.phase == "stylize" else f"{step.phase} alone"
        self.bar.set_description(what, refresh=False)
        self.bar.set_postfix_str(f"J={step.record.loss:.3g}", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
