"""Plan: what a run will do, decided before it starts (the engine's second seam).

A :class:`Plan` is the list of pyramid stages with their exact sizes, step budgets and
the optimiser's memory; it is computed from a :class:`~gramstyle.prepare.Prepared`
alone, so it can be shown, estimated or checked before any network work.
"""

from __future__ import annotations

from dataclasses import dataclass

from .backbone import min_input_side
from .errors import GramstyleError
from .image import fit_size
from .prepare import Prepared
from .pyramid import schedule, style_side


@dataclass(frozen=True)
class Stage:
    """One scale of the pyramid."""

    size: tuple[int, int]  # (H, W) of G at this stage
    steps: int  # step budget (an upper bound when a stopping rule is on)
    style_side: int  # longest side of each style image as the network sees it
    history: int = 50  # L-BFGS pairs kept

    @property
    def pixels(self) -> int:
        return self.size[0] * self.size[1]


@dataclass(frozen=True)
class Plan:
    stages: tuple[Stage, ...]

    @property
    def total(self) -> int:
        """Steps over all stages (an upper bound when a stopping rule is on)."""
        return sum(st.steps for st in self.stages)


def make_plan(prep: Prepared) -> Plan:
    """The coarse-to-fine stages for ``prep``; scales too small for the deepest layer drop.

    Each stage's ``(H, W)`` is the content's aspect at that scale's longest side, so the
    final stage has exactly the prepared content's size.
    """
    s = prep.settings
    H, W = prep.size
    side = min_input_side([*s.content_layers, *s.style_layers])
    stages = []
    for sc in schedule(s):
        w, h = fit_size(W, H, sc.size) if sc.size != max(H, W) else (W, H)
        if min(h, w) < side:
            continue
        st = Stage(size=(h, w), steps=sc.steps, style_side=style_side(s, sc.size))
        short = min(min(fit_size(x.shape[-1], x.shape[-2], st.style_side)) for x in prep.styles)
        if short < side:
            raise GramstyleError(
                f"the style image is too small for the chosen layers at a {sc.size} px scale "
                f"(needs a short side of {side} px); raise --style-scale or --min-size"
            )
        stages.append(st)
    return Plan(tuple(stages))
