"""Gatys's optimisation as a :class:`~gramstyle.method.Method` (registered as ``gatys``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ..device import check_ram, pick_precision
from ..errors import GramstyleError
from ..inputs import Prepared, check_network_fits
from ..method import ExtraCost, OnTile, Session
from ..nn.backbone import deepest, min_input_side
from ..settings import Settings
from ..sizes import fit_size, shown_side, style_side
from . import INFO
from .budget import measure_speed, net_cost, widths_of
from .plan import Estimate, Plan, check_fits, estimate, make_plan
from .run import Run, RunState

#: Bytes of memory per output pixel that no tiling can shed (the full-size image
#: buffers and the shortest bf16 L-BFGS history), and per pixel of a step's tile
#: (VGG19 to relu4_2, fp32, forward + backward; measured 4.1-4.5 KB at 256-512 px).
FLOOR_BYTES_PER_PIXEL = 160
STEP_BYTES_PER_PIXEL = 4000
#: Tiles bound everything else: a tile of this side is always possible.
FLOOR_TILE = 1024


class Gatys:
    """The engine: check, plan, estimate and run the optimisation."""

    info = INFO

    def check(
        self,
        s: Settings,
        content_hw: tuple[int, int],
        style_hws: Sequence[tuple[int, int]],
        regions: int,
        device: torch.device,
    ) -> None:
        H, W = content_hw
        check_network_fits(s, content_hw)
        layers = [*s.content_layers, *s.style_layers]
        side = min_input_side(layers)
        for h, w in style_hws:  # at the final scale (coarser ones too small are skipped)
            z = shown_side(s, style_side(s, s.size), (h, w), (H, W))
            if min(fit_size(w, h, z)) < side:
                raise GramstyleError(
                    f"the style image is too small for the chosen layers: shown at "
                    f"{z} px, {deepest(layers)} needs a short side of {side} px; raise "
                    "--style-scale"
                )
        # The budget first (exact); the machine's RAM for a budget set above it.
        check_fits(s, (H, W), device, self.precision(s, device), regions=regions)
        tile = min(H * W, (s.tile or FLOOR_TILE) ** 2)
        check_ram(s, FLOOR_BYTES_PER_PIXEL * H * W + STEP_BYTES_PER_PIXEL * tile)

    def precision(self, s: Settings, device: torch.device) -> torch.dtype | None:
        return pick_precision(s.precision, device)

    def plan(self, session: Session, prep: Prepared) -> Plan:
        return make_plan(prep, widths_of(session.network(prep.settings)))

    def estimate(self, session: Session, prep: Prepared, plan: Plan) -> Estimate:
        """At a speed measured once per session, network, device and precision (about a
        second)."""
        net = session.network(prep.settings)
        key = ("gatys-speed", id(net), str(prep.device), prep.dtype, net_cost(prep.settings))
        speed = session.cached(
            key, lambda: measure_speed(net, prep.settings, prep.device, prep.dtype)
        )
        return estimate(plan, speed)

    def run(
        self,
        session: Session,
        prep: Prepared,
        plan: Plan,
        *,
        resume: Any | None = None,
        init: Tensor | None = None,
        extra_cost: ExtraCost | None = None,
        on_tile: OnTile | None = None,
    ) -> Run:
        if isinstance(resume, dict):
            resume = RunState.from_dict(resume)
        return Run(
            session, prep, plan, resume=resume, init=init, extra_cost=extra_cost, on_tile=on_tile
        )

    def image(self, session: Session, prep: Prepared, content: Tensor, side: int) -> Tensor:
        raise GramstyleError("gatys optimises an image; it cannot make a start image")


GATYS = Gatys()
