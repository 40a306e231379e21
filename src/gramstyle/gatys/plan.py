"""Plan: what a run will do, decided before it starts (the engine's second seam).

A :class:`Plan` is the list of pyramid stages with their exact sizes, step budgets,
tiles and the optimiser's memory; it is computed from a
:class:`~gramstyle.inputs.Prepared` alone, so it can be shown, estimated or checked
before any network work. Stages that fit the memory budget in one pass run exactly as
without tiles; larger ones run the exact tiled objective (:mod:`gramstyle.gatys.tiles`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import GramstyleError
from ..inputs import Prepared
from ..nn.backbone import VGG19_WIDTHS, min_input_side
from ..settings import Settings
from ..sizes import fit_size, style_side
from ..units import GiB, duration
from .budget import (
    DEFAULT_SPEED,
    HISTORY,
    RUNTIME_BYTES,
    Need,
    NetCost,
    Speed,
    fit,
    fixed_bytes,
    memory_budget,
    net_cost,
    step_seconds,
)
from .photoreal import stage_bytes
from .pyramid import schedule
from .stopping import expected_steps

#: Above this longest side a step costs most: step budgets shrink (Settings.step_falloff).
PRINT_SIDE = 1024
#: ... but never below this many steps (nor above what was asked).
MIN_PRINT_STEPS = 10


@dataclass(frozen=True)
class Stage:
    """One scale of the pyramid."""

    size: tuple[int, int]  # (H, W) of G at this stage
    steps: int  # step budget (an upper bound when a stopping rule is on)
    style_side: int  # styles are shown at this side (each fitted: Prepared.style_sides)
    history: int = HISTORY  # L-BFGS pairs kept
    history_dtype: str = "fp32"  # how they are stored: "fp32" or "bf16"
    tile: int | None = None  # interior side of G's tiles; None: one pass over the image
    style_tile: int | None = None  # tile side for the style images' pass; None: one pass
    memory: int = 0  # bytes the stage is expected to need at its peak (0: not estimated)
    expected: int = 0  # steps it is expected to take under the stopping rule (0: steps)

    def __post_init__(self) -> None:
        if not 0 < self.expected <= self.steps:
            object.__setattr__(self, "expected", self.steps)

    @property
    def pixels(self) -> int:
        return self.size[0] * self.size[1]


@dataclass(frozen=True)
class Plan:
    stages: tuple[Stage, ...]
    budget: int = 0  # the memory budget the stages were sized for, bytes
    cost: NetCost | None = None  # the network's cost per pixel (for estimates)

    @property
    def total(self) -> int:
        """Steps over all stages (an upper bound when a stopping rule is on)."""
        return sum(st.steps for st in self.stages)

    @property
    def expected(self) -> int:
        """Steps over all stages the stopping rule is expected to leave (before the run
        re-estimates them from its own curve)."""
        return sum(st.expected for st in self.stages)

    @property
    def tiled(self) -> bool:
        return any(st.tile is not None for st in self.stages)

    def describe(self, est: Estimate | None) -> str:
        """The plan and its estimate in one line (what the CLI prints before starting)."""
        h, w = self.stages[-1].size
        n = len(self.stages)
        parts = [f"{n} scale{'s' if n != 1 else ''} up to {w}x{h}"]
        tiled = [st for st in self.stages if st.tile is not None]
        if tiled:
            t = tiled[0]
            parts.append(
                f"exact tiles of {t.tile} px from {max(t.size)} px up, L-BFGS history "
                f"{min(t.history, t.steps)} ({t.history_dtype})"
            )
        else:
            parts.append("one pass per step")
        if est is not None:
            parts[-1] += (
                f"; estimate {est.peak / GiB:.1f} GiB peak of a {est.budget / GiB:.1f} GiB "
                f"budget, about {duration(est.seconds)}"
            )
            if est.longest > est.seconds * 1.2:  # a stopping rule leaves the steps open
                parts[-1] += f" (at most {duration(est.longest)})"

        return ", ".join(parts)


def print_steps(side: int, steps: int, falloff: float) -> int:
    """A scale's step budget at longest side ``side``: ``steps`` up to :data:`PRINT_SIDE`,
    then ``steps * (PRINT_SIDE / side) ** falloff``, at least :data:`MIN_PRINT_STEPS`
    and never more than ``steps``.

    >>> [print_steps(n, 160, 1.5) for n in (1024, 2048, 4096, 8192)]
    [160, 57, 20, 10]
    >>> print_steps(2048, 30, 1.5), print_steps(4096, 3, 1.5), print_steps(4096, 160, 0)
    (11, 3, 160)
    """
    if side <= PRINT_SIDE or falloff == 0:
        return steps
    return min(steps, max(MIN_PRINT_STEPS, round(steps * (PRINT_SIDE / side) ** falloff)))


def make_plan(prep: Prepared, widths: tuple[int, ...] = VGG19_WIDTHS) -> Plan:
    """The coarse-to-fine stages for ``prep``; scales too small for the deepest layer drop.

    Each stage's ``(H, W)`` is the content's aspect at that scale's longest side, so the
    final stage has exactly the prepared content's size. Each stage is fitted to the
    memory budget (``--max-memory``, else a share of what is available; see
    :func:`gramstyle.gatys.budget.fit`); ``widths`` are the network's block widths (the test
    network is narrower). Raises a one-line :class:`GramstyleError` when a stage cannot
    fit.
    """
    s = prep.settings
    H, W = prep.size
    side = min_input_side([*s.content_layers, *s.style_layers])
    budget = memory_budget(s, prep.device)
    cost = net_cost(s, widths)
    labels = [] if prep.labels is None else [prep.labels.content, *prep.labels.styles]
    fixed = fixed_bytes(
        prep.device, [prep.content, prep.content_rgb, *prep.styles, prep.masks, *labels]
    )
    regions = next((m.shape[0] for m in [prep.masks, *labels] if m is not None), 0)
    stages = []
    for sc in schedule(s):
        w, h = fit_size(W, H, sc.size) if sc.size != max(H, W) else (W, H)
        if min(h, w) < side:
            continue
        s_side = style_side(s, sc.size)
        dims = [
            fit_size(x.shape[-1], x.shape[-2], z)
            for x, z in zip(prep.styles, prep.style_sides(s_side), strict=True)
        ]
        if min(min(d) for d in dims) < side:
            if sc.size < s.size:  # a coarse scale too small to show the style: skipped
                continue
            raise GramstyleError(
                f"the style image is too small for the chosen layers (needs a short side "
                f"of {side} px); raise --style-scale"
            )
        steps = print_steps(sc.size, sc.steps, s.step_falloff)
        extra = stage_bytes(s, (h, w))
        need = Need((h, w), steps, fixed + extra, max(a * b for a, b in dims), regions)
        f = fit(need, budget, cost, prep.dtype, tile=s.tile, optimizer=s.optimizer)
        stages.append(
            Stage(
                size=(h, w),
                steps=steps,
                style_side=s_side,
                history=f.history,
                history_dtype=f.history_dtype,
                tile=f.tile,
                style_tile=f.style_tile,
                memory=f.bytes,
                expected=expected_steps([], steps, s.stop_window, s.stop_tol),
            )
        )
    return Plan(tuple(stages), budget=budget, cost=cost)


def check_fits(
    s: Settings,
    size: tuple[int, int],
    device: torch.device,
    dtype: torch.dtype | None,
    regions: int = 0,
) -> None:
    """Raise a one-line :class:`GramstyleError` now if an output of ``size = (H, W)``
    cannot fit the memory budget even in the smallest tiles (before it is allocated:
    ``--size 100000`` must not start a swap storm)."""
    H, W = size
    copies = 2 if s.preserve_color == "luminance" else 1  # the content, and its colours
    fixed = (
        RUNTIME_BYTES.get(device.type, RUNTIME_BYTES["cpu"]) + (copies * 3 + regions) * 4 * H * W
    )
    fixed += stage_bytes(s, size)
    need = Need(size, print_steps(max(H, W), s.steps, s.step_falloff), fixed, 0, regions)
    fit(need, memory_budget(s, device), net_cost(s), dtype, tile=s.tile, optimizer=s.optimizer)


@dataclass(frozen=True)
class Estimate:
    """What a plan is expected to cost, per stage and in all, before it runs."""

    step_seconds: tuple[float, ...]  # one step of each stage
    steps: tuple[int, ...]  # the steps each stage is expected to take
    memory: tuple[int, ...]  # bytes at each stage's peak
    budget: int  # the memory budget the plan was sized for
    budgets: tuple[int, ...] = ()  # each stage's step budget (default: steps)

    def __post_init__(self) -> None:
        if not self.budgets:
            object.__setattr__(self, "budgets", self.steps)

    @property
    def stage_seconds(self) -> tuple[float, ...]:
        return tuple(t * n for t, n in zip(self.step_seconds, self.steps, strict=True))

    @property
    def seconds(self) -> float:
        return sum(self.stage_seconds)

    @property
    def longest(self) -> float:
        """Seconds if every stage takes its whole step budget."""
        return sum(t * n for t, n in zip(self.step_seconds, self.budgets, strict=True))

    @property
    def peak(self) -> int:
        return max(self.memory, default=0)


def estimate(plan: Plan, speed: Speed = DEFAULT_SPEED) -> Estimate:
    """Seconds per step and peak bytes of each stage of ``plan`` at ``speed`` (measured
    by :func:`gramstyle.gatys.budget.measure_speed`, or assumed)."""
    cost = plan.cost
    if cost is None:
        raise ValueError("the plan has no network cost (made by make_plan?)")
    secs = tuple(
        step_seconds(st.size, st.tile, min(st.history, st.steps), cost, speed) for st in plan.stages
    )
    return Estimate(
        secs,
        tuple(st.expected for st in plan.stages),
        tuple(st.memory for st in plan.stages),
        plan.budget,
        tuple(st.steps for st in plan.stages),
    )
