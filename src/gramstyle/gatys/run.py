"""Run: the Gatys loop over a plan's stages, yielding a record per step (the third seam).

A :class:`Run` is an iterator of :class:`StepRecord`; between any two steps
:meth:`Run.state` returns a :class:`RunState` (plain tensors and numbers) from which a
new run continues exactly where this one stopped, optimiser memory included. Stopping
the iteration stops the work (cancelling takes at most one step).
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor

from .. import registry
from ..device import DTYPES, dtype_name
from ..errors import GramstyleError
from ..image import load_image, resize
from ..inputs import Prepared, working_image
from ..method import ExtraCost, OnTile, Record, Session
from ..nn.colour import with_chroma_of
from ..nn.masks import mask_at
from ..nn.smoothing import finish
from .objective import Costs, Objective
from .optimize import NonFiniteCost, make_optimizer
from .photoreal import photo_start, stage_cost
from .plan import Plan, Stage
from .resume import check_fields, resumed_plan
from .stopping import expected_steps, should_stop
from .targets import style_targets
from .tiles import TiledObjective


@dataclass(frozen=True, kw_only=True)
class StepRecord(Record):
    """Progress of one optimiser step, handed to the caller instead of being printed.

    Costs are those evaluated at the start of the step. ``image`` is the image after
    the step, ``(1, 3, H, W)``; the last record's ``image`` is the result (the stage's
    best evaluated image). With ``preserve_color="luminance"`` it is the optimised
    luminance recombined with the content's chroma.
    """

    loss: float  # J(G)
    content: float  # alpha * J_content
    style: dict[str, float]  # beta * lambda[l] * J_style[l], per layer
    tv: float  # tv_weight * J_tv
    extra: dict[str, float] = field(default_factory=dict)  # extra terms (temporal cost)
    best: float = math.nan  # lowest J evaluated in this scale so far

    def costs(self) -> dict[str, float]:
        out = {"J": self.loss, "content": self.content, "style": sum(self.style.values())}
        if self.tv:
            out["tv"] = self.tv
        return {**out, **self.extra}

    def objective(self) -> tuple[float, float]:
        return self.loss, self.best if math.isfinite(self.best) else self.loss

    def summary(self) -> str:
        return f"{self.total} steps, {self.elapsed:.1f} s, J={self.best:.4g}"


@dataclass
class RunState:
    """Where a run stands between two steps; ``torch.save``-able as :meth:`to_dict`.

    ``x`` is the next image to evaluate at stage ``stage`` after ``step`` steps; ``best``
    and ``best_loss`` the stage's best evaluated image and its J; ``stopped`` marks a
    stage that is finished although steps remain.
    """

    key: str  # Prepared.key of the run
    stage: int
    step: int
    done: int
    total: int
    x: Tensor
    best: Tensor
    best_loss: float
    losses: list[float]  # best J after each step of this stage (the stopping rule's window)
    stopped: bool
    optimizer: dict[str, Any]
    gamma: float | None  # L-BFGS scale carried to the next stage
    precision: str
    elapsed: float
    # The plan's stages as run (Stage fields): a resumed run keeps them, so tiles and
    # L-BFGS memory chosen from the memory free at the start do not change under it.
    stages: list[dict[str, Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunState:
        """A saved state, refused in one line unless every field is there and sound."""
        check_fields(d)
        return cls(**d)


class Run:
    """Iterate to run; see the module docstring. Made by :meth:`Stylizer.run`."""

    def __init__(
        self,
        session: Session,
        prep: Prepared,
        plan: Plan,
        *,
        resume: RunState | None = None,
        init: Tensor | None = None,
        extra_cost: ExtraCost | None = None,
        on_tile: OnTile | None = None,
    ) -> None:
        if resume is not None and resume.key != prep.key:
            raise GramstyleError(
                "the saved state belongs to other inputs or settings; start afresh"
            )
        if resume is not None:  # checked against the fresh plan before any work
            plan = resumed_plan(resume, prep, plan)
        if not plan.stages:
            raise GramstyleError("the plan has no stages (the image is too small?)")
        self.session, self.prep, self.plan = session, prep, plan
        self.resume, self.init, self.extra_cost = resume, init, extra_cost
        self.on_tile = on_tile  # tiled stages report each tile of a step to it
        self._state: RunState | None = resume
        self._records = self._steps()

    def __iter__(self) -> Iterator[StepRecord]:
        return self

    def __next__(self) -> StepRecord:
        return next(self._records)

    def state(self) -> RunState:
        """The state after the last step yielded (or the one resumed from)."""
        if self._state is None:
            raise GramstyleError("the run has not taken a step yet")
        return self._state

    def start(self) -> Tensor:
        """The start image at the final stage's size (what a run of no steps returns)."""
        return self._first_image(self.plan.stages[-1])

    # The loop ---------------------------------------------------------------------

    def _first_image(self, stage: Stage) -> Tensor:
        prep, s = self.prep, self.prep.settings
        C = resize(prep.content, stage.size)
        if self.init is not None:
            x0 = resize(self.init.to(C), stage.size)
        elif registry.is_method(s.init):  # a one-pass method's result
            x0 = self.session.start_image(prep, C, stage.style_side)
            if s.init_blend is not None and s.init_blend < 1:
                x0 = (1 - s.init_blend) * C + s.init_blend * x0
        else:
            gen = torch.Generator().manual_seed(s.seed)
            noise = torch.rand(C.shape, generator=gen).to(C.device)
            if s.init == "noise":
                x0 = noise
            elif s.init == "content" and s.photoreal:
                x0 = photo_start(prep, resize(prep.content_rgb, stage.size))
            elif s.init == "content":
                x0 = C.clone()
            elif s.init == "blend":
                b = 0.5 if s.init_blend is None else s.init_blend
                x0 = (1 - b) * C + b * noise
            else:
                x0 = resize(load_image(s.init, what="init image"), stage.size).to(C)
        return working_image(x0, s.preserve_color).contiguous()

    def _objective(self, k: int, dtype: torch.dtype | None) -> Objective | TiledObjective:
        """Stage ``k``'s J: one pass over the image, or tile by tile where the plan says."""
        prep, stage = self.prep, self.plan.stages[k]
        C = resize(prep.content, stage.size)
        regions = prep.labels.content if prep.labels is not None else prep.masks
        M = None if regions is None else mask_at(regions, stage.size)
        targets = style_targets(
            self.session, prep, stage.style_side, dtype, stage.style_tile, self.on_tile
        )
        last = k == len(self.plan.stages) - 1
        args = (
            self.session.network(prep.settings),
            prep.settings,
            C,
            prep.styles,
            prep.blend,
            dtype,
        )
        C_rgb = resize(prep.content_rgb, stage.size)
        extra = stage_cost(prep.settings, C_rgb, self.extra_cost if last else None)
        if stage.tile is not None:
            return TiledObjective(
                *args, masks=M, targets=targets, extra=extra, tile=stage.tile, on_tile=self.on_tile
            )
        return Objective(*args, masks=M, targets=targets, extra=extra)

    def _steps(self) -> Iterator[StepRecord]:
        prep, plan, r = self.prep, self.plan, self.resume
        dtype = DTYPES[r.precision] if r is not None else prep.dtype
        t0 = time.perf_counter() - (r.elapsed if r is not None else 0.0)
        done = r.done if r is not None else 0
        x: Tensor | None = None  # the previous stage's result
        gamma: float | None = None
        for k, stage in enumerate(plan.stages):
            if r is not None and k < r.stage:
                continue
            resume = r if r is not None and k == r.stage else None
            if resume is not None:
                x0, gamma = resume.x, resume.gamma
            elif x is None:
                x0 = self._first_image(stage)
            else:
                x0 = resize(x, stage.size).contiguous()
                # J is per position: dJ/dx shrinks, and L-BFGS's scale grows, with pixels.
                if gamma is not None:
                    gamma *= stage.pixels / plan.stages[k - 1].pixels
            done_before = done
            while True:
                try:
                    x, done, gamma = yield from self._stage(k, x0, dtype, gamma, done, t0, resume)
                    break
                except NonFiniteCost:
                    if dtype is None:
                        raise GramstyleError(
                            "the cost became NaN or infinite; try a smaller --lr, or "
                            "--optimizer lbfgs"
                        ) from None
                    # Reduced precision overflowed: redo this stage in float32.
                    dtype, done, resume = None, done_before, None

    def _stage(
        self,
        k: int,
        x0: Tensor,
        dtype: torch.dtype | None,
        gamma: float | None,
        done: int,
        t0: float,
        resume: RunState | None,
    ) -> Generator[StepRecord, None, tuple[Tensor, int, float | None]]:
        """One stage: yields its records, returns (best image, steps done, L-BFGS scale)."""
        prep, plan, s = self.prep, self.plan, self.prep.settings
        stage = plan.stages[k]
        opt = make_optimizer(
            s.optimizer,
            s.step_size,
            history=stage.history,
            gamma=gamma,
            history_dtype=DTYPES[stage.history_dtype],
        )
        x, best, best_loss, losses, i = x0, x0, math.inf, [], 0
        if resume is not None:
            opt.load_state_dict(resume.optimizer)
            x, best, best_loss = resume.x, resume.best, resume.best_loss
            losses, i, done = list(resume.losses), resume.step, resume.done
            if resume.stopped or i >= stage.steps:
                return best, done, resume.gamma
        objective = self._objective(k, dtype)
        later = sum(st.steps for st in plan.stages[k + 1 :])
        later_expected = sum(st.expected for st in plan.stages[k + 1 :])
        curve = list(losses)  # best J per step, for the expected end (from a resume: a part)
        C_rgb = resize(prep.content_rgb, stage.size) if s.preserve_color == "luminance" else None
        while i < stage.steps:
            costs, x_next = opt.step(x, objective.value_and_grad)
            J = float(costs.total)
            if best_loss > J:
                best, best_loss = x, J
            i, done = i + 1, done + 1
            losses.append(best_loss)
            curve.append(best_loss)
            del losses[: -s.stop_window - 1]
            stop = should_stop(losses, s.stop_window, s.stop_tol)
            x = x_next
            finished = stop or i == stage.steps
            if finished:
                # The last step's image is not evaluated by any step, yet it is usually
                # the best: one pass without gradient (a third of a step) decides.
                with torch.no_grad():
                    J_last = float(objective(x).total)
                if best_loss > J_last:
                    best, best_loss = x, J_last
            total = done + (0 if finished else stage.steps - i) + later
            ends = i if finished else expected_steps(curve, stage.steps, s.stop_window, s.stop_tol)
            expected = done + ends - i + later_expected
            self._state = RunState(
                key=prep.key,
                stage=k,
                step=i,
                done=done,
                total=total,
                x=x,
                best=best,
                best_loss=best_loss,
                losses=list(losses),
                stopped=stop,
                optimizer=opt.state_dict(),
                gamma=opt.gamma,
                precision=dtype_name(dtype),
                elapsed=time.perf_counter() - t0,
                stages=[asdict(st) for st in self.plan.stages],
            )
            shown = best if finished else x
            yield self._record(
                k, i, done, (total, expected), costs, shown, C_rgb, dtype, t0, best_loss
            )
            if stop:
                break
        return best, done, opt.gamma

    def _record(
        self,
        k: int,
        i: int,
        done: int,
        totals: tuple[int, int],
        costs: Costs,
        x: Tensor,
        C_rgb: Tensor | None,
        dtype: torch.dtype | None,
        t0: float,
        best: float,
    ) -> StepRecord:
        s, stage = self.prep.settings, self.plan.stages[k]
        image = with_chroma_of(x, C_rgb) if C_rgb is not None else x
        if s.photoreal:  # what is shown is finished; the optimiser goes on from x
            image = finish(resize(self.prep.content_rgb, stage.size), image)
        return StepRecord(
            scale=k,
            scales=len(self.plan.stages),
            size=stage.size,
            step=i,
            steps=stage.steps,
            done=done,
            total=totals[0],
            expected=totals[1],
            loss=float(costs.total),
            content=s.content_weight * float(costs.content),
            style={n: s.beta * float(v) for n, v in costs.style.items()},
            tv=s.tv_weight * float(costs.tv),
            elapsed=time.perf_counter() - t0,
            precision=dtype_name(dtype),
            image=image,
            notes=self.prep.notes,
            extra={n: float(v) for n, v in costs.extra.items()},
            best=best,
        )
