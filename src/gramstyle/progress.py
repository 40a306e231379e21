"""Progress bars: records (and tile progress) -> a tqdm line with an ETA.

The library hands progress out as data (records); these bars draw it, on stderr, for
the CLI and for a caller who asks for one (``gramstyle.stylize(..., progress=True)``).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from tqdm import tqdm

from .method import Record
from .units import duration

#: Share of a tiled step spent in its first pass (style matrices, no gradients): the
#: rest is the second pass (gradients); only for the ETA inside a step.
PASS1_SHARE = 0.3


class ProgressBar:
    """The bar of ``gramstyle stylize``: scale, tile of the current step, costs, ETA.

    :meth:`plan` (the run's ``on_plan``) prints the plan's one-line description and
    opens the bar; :meth:`tile` (``on_tile``) shows tile progress inside a step;
    :meth:`update` takes each record. The bar counts the steps the run is expected to
    take (a stopping rule ends scales early; each record re-estimates them from the
    cost curve), and the ETA scales the modelled time of the steps left by how fast the
    run has gone so far (tqdm's own assumes equal steps, which a pyramid does not
    have). A run whose method has no estimate (one pass) shows no bar.
    """

    def __init__(self, total: int | None = None, disable: bool = False) -> None:
        self.disable = disable
        self.bar: tqdm | None = None
        self.est: Any | None = None
        self.t0 = time.perf_counter()
        self.stage = 0
        self.sizes: list[tuple[int, int]] = []  # each stage's image size, from the plan
        self.step = 0  # steps done in the current stage
        self.steps: list[int] = []  # the steps each stage is expected to take
        self.costs = ""
        if total is not None:
            self._open(total)

    def _open(self, total: int) -> None:
        if self.bar is None:
            fmt = None
            if self.est is not None:  # our ETA in the postfix instead of tqdm's
                fmt = "{desc}{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"
            self.bar = tqdm(
                total=total,
                disable=self.disable,
                unit="step",
                dynamic_ncols=True,
                leave=True,
                bar_format=fmt,
            )

    def plan(self, plan: Any, est: Any | None) -> None:
        if est is None:  # a one-pass method: the closing line says how long it took
            self.disable = True
            return
        if not self.disable:
            print(f"gramstyle: {plan.describe(est)}", file=sys.stderr)
        self.est, self.t0 = est, time.perf_counter()
        self.sizes = [st.size for st in plan.stages]
        self.steps = list(est.steps)
        self._open(sum(est.steps))

    def _eta(self, fraction: float = 0.0) -> str:
        """Time left, from the modelled cost of what is done and what remains."""
        est = self.est
        if est is None:
            return ""
        k, secs, steps = self.stage, est.step_seconds, self.steps
        if k >= len(secs) or k >= len(steps):
            return ""
        done = sum(t * n for t, n in zip(secs[:k], steps[:k], strict=True))
        done += secs[k] * (self.step + fraction)
        left = secs[k] * (steps[k] - self.step - fraction)
        left += sum(t * n for t, n in zip(secs[k + 1 :], steps[k + 1 :], strict=True))
        elapsed = time.perf_counter() - self.t0
        rate = elapsed / done if done > 0 and elapsed > 1 else 1.0
        return f" ETA {duration(rate * left)}"

    def tile(self, p: Any) -> None:  # a gramstyle.gatys.tiles.TileProgress
        if self.bar is None:
            return
        later = [
            k
            for k, size in enumerate(self.sizes)
            if size == p.size and (k > self.stage or not self.bar.desc)
        ]
        if later:  # a new scale's targets or first step: name it now, not after the step
            self.stage, self.step, self.costs = later[0], 0, ""
            h, w = self.sizes[later[0]]
            self.bar.set_description(
                f"scale {later[0] + 1}/{len(self.sizes)} {w}x{h}", refresh=False
            )
        if p.phase == 0:  # the stage's targets: not part of a step
            self.bar.set_postfix_str(f"targets, tile {p.tile}/{p.tiles}", refresh=True)
            return
        if p.phase == 3:  # J of the stage's last image, after its last step
            self.bar.set_postfix_str(
                f"checking the last image, tile {p.tile}/{p.tiles}{self._eta(1.0)}", refresh=True
            )
            return
        fraction = (
            PASS1_SHARE * p.tile / p.tiles
            if p.phase == 1
            else PASS1_SHARE + (1 - PASS1_SHARE) * p.tile / p.tiles
        )
        self.bar.set_postfix_str(
            f"tile {p.tile}/{p.tiles} pass {p.phase}{self.costs}{self._eta(fraction)}",
            refresh=True,
        )

    def update(self, rec: Record) -> None:
        if self.disable:
            return
        total = rec.total if rec.expected is None else rec.expected
        self._open(total)
        assert self.bar is not None
        if self.bar.total != total:  # re-estimated, or a scale stopped early
            self.bar.total = total
        self.stage, self.step = rec.scale, rec.step
        self.steps = rec.scale_steps(self.steps)
        h, w = rec.size
        self.bar.set_description(f"scale {rec.scale + 1}/{rec.scales} {w}x{h}", refresh=False)
        self.costs = "".join(f" {k}={v:.3g}" for k, v in rec.costs().items())
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

    def update(self, step: Any) -> None:  # a gramstyle.insight.numbers.ExplainStep
        if self.bar is None:
            self.bar = tqdm(total=step.total, disable=self.disable, unit="step", dynamic_ncols=True)
        if self.bar.total != step.total:  # coarse scales too small for the net are dropped
            self.bar.total = step.total
        what = "stylize" if step.phase == "stylize" else f"{step.phase} alone"
        self.bar.set_description(what, refresh=False)
        costs = step.record.costs()
        self.bar.set_postfix_str(f"J={costs['J']:.3g}" if "J" in costs else "", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class FrameBar:
    """``gramstyle video``'s bar over frames (ETA from the frames computed in this run)."""

    def __init__(self, total: int, initial: int, disable: bool) -> None:
        self.bar = tqdm(
            total=total,
            initial=initial,
            disable=disable,
            unit="frame",
            dynamic_ncols=True,
            leave=True,
        )

    def step(self, rec: Any) -> None:  # a FrameStep
        r = rec.record
        self.bar.set_postfix_str(
            f"frame {rec.frame + 1}: step {r.done}/{r.total if r.expected is None else r.expected}",
            refresh=True,
        )

    def frame(self, rec: Any) -> None:  # a FrameDone
        if self.bar.total is not None and rec.frame + 1 > self.bar.total:
            self.bar.total = rec.frame + 1
        self.bar.set_postfix_str(f"{rec.seconds:.1f} s/frame", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()
