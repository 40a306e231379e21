"""The one orchestration: inputs + settings -> records -> a finished image.

Every app makes its pictures here — the CLI, the web worker, video (a job per frame)
and batch (a job per row) — whatever the method, in numbered steps::

    job = session.job(content, styles, settings)
    job.check(output)                      # 1. every input and the output, cheapest first
    for rec in job.records(checkpoint=ck): # 2. prepare, 3. plan, 4. run (records), guarded
        ...                                #    progress is data: show it, or stop to cancel
    job.save(output)                       # 5. the result, written atomically

Each app keeps only its own concern (arguments, HTTP, frames, rows).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import torch
from PIL import Image
from torch import Tensor

from .checkpoint import Checkpoint
from .errors import GramstyleError
from .image import ImageLike, save_image, tensor_to_pil
from .inputs import Prepared, check_settings
from .method import ExtraCost, OnTile, Record, Run
from .nn.colour import with_chroma_of
from .request import as_list, check_request
from .settings import Settings

#: Called with the plan and its estimate (None when the method has none) before work.
OnPlan = Callable[[Any, Any], None]


class Session(Protocol):
    """The seams a job drives (:class:`gramstyle.session.Stylizer` has them)."""

    def prepare(
        self,
        content: Any,
        style: Any,
        settings: Settings | None = None,
        *,
        blend: Any = None,
        masks: Any = None,
        colour_reference: Tensor | None = None,
        shift: tuple[int, int] | None = None,
        content_labels: Any = None,
        style_labels: Any = None,
    ) -> Prepared: ...
    def plan(self, prep: Prepared) -> Any: ...
    def estimate(self, prep: Prepared, plan: Any) -> Any | None: ...
    def run(
        self,
        prep: Prepared,
        plan: Any | None = None,
        *,
        resume: Any | None = None,
        init: Tensor | None = None,
        extra_cost: ExtraCost | None = None,
        on_tile: OnTile | None = None,
    ) -> Run: ...


class Job:
    """One stylisation of ``content`` in the style of ``style`` with ``settings``.

    ``blend``/``masks``: how several styles mix (weights, or one region each).
    ``start``: the start image instead of ``settings.init``'s; ``extra_cost``: pixel-space
    terms added to J (video's temporal cost); ``colour_reference``: what the styles are
    recoloured against (default: the content); ``shift``: where the scene sits on a
    one-pass network's grid (:attr:`~gramstyle.inputs.Prepared.shift`);
    ``content_labels``/``style_labels``: colour-coded label maps of the content and of
    each style (each region takes its style from the same region of the style; see
    :mod:`gramstyle.nn.labels`). Nothing runs
    until :meth:`records` (or :meth:`result`) is called; :attr:`prep` and :attr:`plan`
    are made once, on demand.
    """

    def __init__(
        self,
        session: Session,
        content: ImageLike,
        style: ImageLike | Sequence[ImageLike],
        settings: Settings,
        *,
        blend: Sequence[float] | None = None,
        masks: Sequence[ImageLike] | None = None,
        start: Tensor | None = None,
        extra_cost: ExtraCost | None = None,
        colour_reference: Tensor | None = None,
        shift: tuple[int, int] | None = None,
        content_labels: ImageLike | None = None,
        style_labels: ImageLike | Sequence[ImageLike] | None = None,
    ) -> None:
        self.session, self.settings = session, settings
        self.content_labels = content_labels
        self.style_labels = None if style_labels is None else as_list(style_labels)
        self.shift = shift
        self.content, self.styles = content, as_list(style)
        self.blend, self.masks = blend, masks
        self.start, self.extra_cost, self.colour_reference = start, extra_cost, colour_reference
        self.run: Run | None = None
        self.last: Record | None = None

    # 1. Check ---------------------------------------------------------------------------

    def check(
        self,
        output: str | os.PathLike | None = None,
        *,
        overwrite: bool = False,
        also_writes: Sequence[str | os.PathLike] = (),
    ) -> None:
        """Everything the job reads and writes, checked before any work, cheapest first:
        the files (:func:`gramstyle.request.check_request`; ``also_writes``: other files
        it will write), then what needs the network's names and the weights
        (:func:`gramstyle.inputs.check_settings`). The method's checks of sizes and
        memory follow in :attr:`prep`, still before any work."""
        check_request(
            self.content,
            self.styles,
            output,
            blend=self.blend,
            masks=self.masks,
            content_labels=self.content_labels,
            style_labels=self.style_labels,
            overwrite=overwrite,
            also_writes=also_writes,
        )
        check_settings(self.settings)

    # 2. Prepare, 3. plan -------------------------------------------------------------------

    @cached_property
    def prep(self) -> Prepared:
        """The inputs loaded and checked, with the method's own checks (sizes, memory)."""
        return self.session.prepare(
            self.content,
            self.styles,
            self.settings,
            blend=self.blend,
            masks=self.masks,
            colour_reference=self.colour_reference,
            shift=self.shift,
            content_labels=self.content_labels,
            style_labels=self.style_labels,
        )

    @cached_property
    def plan(self) -> Any:
        """What the run will do (stages, sizes, step budgets), before any work."""
        return self.session.plan(self.prep)

    def estimate(self) -> Any | None:
        """The plan's expected time and memory (None when the method has none)."""
        return self.session.estimate(self.prep, self.plan)

    # 4. Run -----------------------------------------------------------------------------

    def records(
        self,
        *,
        checkpoint: Checkpoint | None = None,
        on_plan: OnPlan | None = None,
        on_tile: OnTile | None = None,
    ) -> Generator[Record, None, None]:
        """Run, yielding the method's records; stop iterating to cancel (within a step).

        Every record passes the :class:`ResultGuard` (a NaN image or an exploded cost
        raises before anything can be written). ``checkpoint``: saves the run's state
        every so many steps and when interrupted during a step, and resumes from it
        (:class:`~gramstyle.checkpoint.Checkpoint`). ``on_plan``: the plan and its
        estimate, once, before the first step.
        """
        resume = checkpoint.load(self.prep.key) if checkpoint is not None else None
        # Made before anything is announced: a resumed state is checked against the plan
        # here, so a bad checkpoint is refused before a "resuming" line or any work.
        self.run = self.session.run(
            self.prep,
            self.plan,
            resume=resume,
            init=self.start,
            extra_cost=self.extra_cost,
            on_tile=on_tile,
        )
        if on_plan is not None:
            on_plan(self.run.plan, self.estimate())
        guard = ResultGuard()
        try:
            for rec in self.run:
                guard(rec)
                self.last = rec
                if checkpoint is not None:
                    checkpoint.step(self.run, rec, self.prep.key)
                yield rec
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM during a step: keep what was done
            if checkpoint is not None:
                checkpoint.save(self.run, self.prep.key)
            raise

    # 5. Result --------------------------------------------------------------------------

    def result(self) -> Tensor:
        """The finished image ``(1, 3, H, W)`` in [0, 1] (runs the job if not yet run).

        With no step taken at all (zero step budgets) it is the start image.
        """
        if self.run is None:
            for _ in self.records():
                pass
        if self.last is not None:
            return self.last.image.detach().clamp(0, 1)
        assert self.run is not None
        start = self.run.start()
        if self.settings.preserve_color == "luminance":
            start = with_chroma_of(start, self.prep.content_rgb)
        return start

    def output(self, like: Any = None) -> Image.Image | Tensor:
        """:meth:`result` as a PIL image, or as a tensor on ``like``'s device when
        ``like`` (the content as given) is a tensor."""
        result = self.result()
        return result.to(like.device) if isinstance(like, Tensor) else tensor_to_pil(result)

    def save(
        self,
        path: str | os.PathLike,
        overwrite: bool = False,
        metadata: dict[str, str] | None = None,
    ) -> Path:
        """Write :meth:`result` to ``path`` atomically (whole, or not at all)."""
        return save_image(self.result(), path, overwrite=overwrite, metadata=metadata)


@dataclass
class ResultGuard:
    """Refuses to let a run end in garbage; call it with every record.

    Every record's image must be finite (a NaN image would be written as black or
    noise). For a method that minimises J, at the end of each scale (its last step,
    the run's last record, or the first record of the next scale) J must not have
    exploded: ending more than ``factor`` times above where it started means the
    optimiser diverged (the best J of the scale is what counts, as the run hands back
    the best image). Raises :class:`GramstyleError` then, so nothing is written.
    """

    factor: float = 10.0
    first: dict[int, float] = field(default_factory=dict)
    last: dict[int, float] = field(default_factory=dict)
    checked: set[int] = field(default_factory=set)

    def __call__(self, rec: Record) -> None:
        if not bool(torch.isfinite(rec.image).all()):
            raise GramstyleError(
                "the optimisation produced NaN or infinite pixels; nothing was written "
                "(lower --lr or the weights)"
            )
        costs = rec.objective()
        if costs is None:
            return
        key = rec.scale
        for other in [k for k in self.last if k not in self.checked and k != key]:
            self._check(other)  # a new scale began: the previous one is done
        J, best = costs
        self.first.setdefault(key, J)
        self.last[key] = best
        if rec.step == rec.steps or rec.done == rec.total:
            self._check(key)

    def _check(self, key: int) -> None:
        self.checked.add(key)
        start, end = self.first.get(key, math.nan), self.last.get(key, math.nan)
        if math.isfinite(start) and end > self.factor * start and end - start > 1e-6:
            raise GramstyleError(
                f"the optimisation diverged: the cost rose from {start:.3g} to {end:.3g} "
                "over a scale; nothing was written (lower --lr, or use --optimizer lbfgs)"
            )
