"""Photorealism for the optimisation (Luan et al. 2017): the matting cost as a pixel term.

With ``photoreal`` every stage adds ``lambda_m sum_c V_c^T L V_c / n`` of the stage's
image to J, ``L`` the matting Laplacian of the content photo at the stage's size
(:mod:`gramstyle.nn.matting`): it is zero for a locally affine recolouring of the
photo and grows with every stroke or warped edge. Like total variation it is cheap
next to the network and is evaluated on the whole image, also when the network's
passes are tiled, so tiled results stay exact.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..inputs import Prepared
from ..method import ExtraCost
from ..nn.matting import matting_laplacian, photoreal_cost
from ..nn.recolour import match_regions
from ..nn.smoothing import matting_solve
from ..settings import Settings

#: Bytes per pixel of a stage that carries the term: the Laplacian's 13 stored values, the
#: product ``L v`` kept for the backward pass, and the precomputation's float64 bands
#: (bounded) spread over the pixels; measured 95 B/px at 4096x3072 (nn/matting.py).
BYTES_PER_PIXEL = 100


class PhotorealCost:
    """``x -> {"photoreal": lambda_m sum_c V_c[x]^T L V_c[x] / n}``, ``L`` the matting
    Laplacian of ``content`` ``(1, 3, H, W)`` (the photo's colours at x's size), as an
    :class:`~gramstyle.method.ExtraCost`."""

    def __init__(self, content: Tensor, weight: float) -> None:
        self.lap = matting_laplacian(content)
        self.weight = weight

    def __call__(self, x: Tensor) -> dict[str, Tensor]:
        return {"photoreal": self.weight * photoreal_cost(self.lap, x)}

    def proximal(self, a: Tensor) -> Tensor:
        # argmin |x - a|^2 + lambda_m x^T L x / n: the float64 Laplacian keeps the
        # system positive definite at large weights (nn/smoothing.matting_solve).
        n = a.shape[-2] * a.shape[-1]
        solved = matting_solve(self.lap.to(torch.float64), a, self.weight / n)
        return solved.x.to(a.dtype).clamp(0, 1)


class ExtraCosts:
    """Several pixel-space terms as one :class:`~gramstyle.method.ExtraCost` (their
    names must differ); the proximal step applies each in turn (an approximation)."""

    def __init__(self, *costs: ExtraCost) -> None:
        self.costs = costs

    def __call__(self, x: Tensor) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for cost in self.costs:
            out.update(cost(x))
        return out

    def proximal(self, a: Tensor) -> Tensor:
        for cost in self.costs:
            a = cost.proximal(a)
        return a


def photo_start(prep: Prepared, content_rgb: Tensor) -> Tensor:
    """The content start of a photorealistic run: the photo ``content_rgb`` (at the
    stage's size) recoloured region by region to its style regions' colour mean and
    covariance (one region without label maps; :func:`gramstyle.nn.recolour.match_regions`).

    A locally affine map of the photo, so the regulariser has nothing against it, with
    the style's colours from the first step: from the photo's own colours the
    optimiser needs hundreds of steps to bring them (a bright sky made dark red).
    """
    masks, style_masks = prep.regions_at((content_rgb.shape[-2], content_rgb.shape[-1]))
    return match_regions(content_rgb, masks, prep.styles, style_masks, prep.blend)


def stage_cost(s: Settings, content_rgb: Tensor, extra: ExtraCost | None) -> ExtraCost | None:
    """A stage's pixel-space terms: ``extra`` (video's temporal cost) and, with
    ``photoreal``, the matting cost of ``content_rgb`` (the photo at the stage's size)."""
    if not s.photoreal or s.photoreal_weight == 0:
        return extra
    cost = PhotorealCost(content_rgb, s.photoreal_weight)
    return cost if extra is None else ExtraCosts(extra, cost)


def stage_bytes(s: Settings, size: tuple[int, int]) -> int:
    """Memory the photoreal term adds to a stage of ``size = (H, W)`` (0 without it)."""
    return BYTES_PER_PIXEL * size[0] * size[1] if s.photoreal and s.photoreal_weight else 0
