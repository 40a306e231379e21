"""The cost J(G) of one scale: targets computed once, then cheap evaluations per step."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ..device import autocast
from ..method import ExtraCost
from ..nn.backbone import VGG19, features
from ..nn.losses import content_cost, normalized_gram, style_matrix_cost, total_cost, tv_cost
from ..nn.masks import mask_at, masked_style_cost
from ..settings import Settings


@dataclass
class Targets:
    """What G is compared with.

    ``content``: ``a[l](C)`` per content layer; ``style``: ``G[l](S)/(nH nW)`` per style layer,
    blended over the styles ``(1, nC, nC)``, or one per style and region ``(K, nC, nC)``
    when masks are given.
    """

    content: dict[str, Tensor]
    style: dict[str, Tensor]


@dataclass
class Costs:
    """One evaluation of J(G); tensors, so no sync happens until someone reads them."""

    total: Tensor
    content: Tensor
    style: dict[str, Tensor]  # lambda[l] * J_style[l] per layer
    tv: Tensor
    extra: dict[str, Tensor] = field(default_factory=dict)  # pixel-space terms, weighted

    def detach(self) -> Costs:
        return Costs(
            self.total.detach(),
            self.content.detach(),
            {n: v.detach() for n, v in self.style.items()},
            self.tv.detach(),
            {n: v.detach() for n, v in self.extra.items()},
        )


def style_targets(
    net: VGG19, image: Tensor, layers: Sequence[str], dtype: torch.dtype | None = None
) -> dict[str, Tensor]:
    """``G[l](S) / (nH nW)`` of one style image per layer, each ``(1, nC, nC)`` float32."""
    x = image.contiguous(memory_format=torch.channels_last)
    with torch.no_grad(), autocast(x.device.type, dtype):
        return {name: normalized_gram(a) for name, a in net(x, layers).items()}


def blend_targets(
    per_style: Sequence[dict[str, Tensor]], blend: Sequence[float] | None, stacked: bool
) -> dict[str, Tensor]:
    """Mix per-style targets: ``sum_k w_k T_k`` (weights default equal), or stack them
    ``(K, nC, nC)`` for masks, one target per region."""
    names = per_style[0].keys()
    if stacked:
        return {n: torch.cat([t[n] for t in per_style]) for n in names}
    w = list(blend) if blend is not None else [1.0 / len(per_style)] * len(per_style)
    return {
        n: sum(
            (wk * t[n] for wk, t in zip(w, per_style, strict=True)),
            torch.zeros_like(per_style[0][n]),
        )
        for n in names
    }


class Objective:
    """``J(G) = alpha J_content + beta sum_l lambda[l] J_style[l] (+ tv)`` for fixed C, S.

    ``dtype`` is the autocast dtype for the network passes (None = float32); the Gram
    matrices and costs are float32 regardless (see :mod:`gramstyle.nn.losses`).
    ``masks`` ``(K, 1, H, W)`` at G's size, one per style: style k is matched inside
    region k only (see :mod:`gramstyle.nn.masks`); ``blend`` is then unused.
    ``targets``: precomputed style targets (:func:`style_targets` per style, mixed by
    :func:`blend_targets`), so a session can cache them; ``styles`` is then unused.
    ``extra``: pixel-space terms added to J (see :data:`ExtraCost`).
    """

    def __init__(
        self,
        net: VGG19,
        settings: Settings,
        content: Tensor,
        styles: Sequence[Tensor],
        blend: Sequence[float] | None = None,
        dtype: torch.dtype | None = None,
        masks: Tensor | None = None,
        *,
        targets: dict[str, Tensor] | None = None,
        extra: ExtraCost | None = None,
    ) -> None:
        self.net, self.s, self.dtype, self.masks, self.extra = net, settings, dtype, masks, extra
        self.device_type = next(net.parameters()).device.type  # once, not per step
        self._masks_at: dict[str, Tensor] = {}
        self.layers = list(dict.fromkeys([*settings.content_layers, *settings.style_layers]))
        if targets is None:
            per_style = [style_targets(net, x, list(settings.style_layers), dtype) for x in styles]
            targets = blend_targets(per_style, blend, stacked=masks is not None)
        with torch.no_grad():
            a_C = self.features(content, settings.content_layers)
        self.targets = Targets(content=a_C, style=targets)

    def autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.device_type, self.dtype)

    def features(self, x: Tensor, names) -> dict[str, Tensor]:
        return features(self.net, x, names, self.dtype)

    def __call__(self, G: Tensor) -> Costs:
        s, t = self.s, self.targets
        a_G = self.features(G, self.layers)
        zero = G.new_zeros(())
        J_content = sum(
            (w * content_cost(t.content[n], a_G[n]) for n, w in s.content_layers.items()), zero
        )
        J_style = {n: w * self._layer_style(n, a_G[n]) for n, w in s.style_layers.items()}
        J_tv = tv_cost(G) if s.tv_weight else zero
        total = total_cost(
            J_content,
            sum(J_style.values(), zero),
            s.content_weight,
            s.beta,
            J_tv,
            s.tv_weight,
        )
        extra = self.extra(G) if self.extra is not None else {}
        if extra:
            total = total + sum(extra.values(), zero)
        return Costs(total=total, content=J_content, style=J_style, tv=J_tv, extra=extra)

    def value_and_grad(self, x: Tensor) -> tuple[Costs, Tensor]:
        """J at ``x`` and ``dJ/dx`` (one forward and one backward pass), detached."""
        with torch.enable_grad():
            G = x.detach().requires_grad_(True)
            costs = self(G)
            (grad,) = torch.autograd.grad(costs.total, G)
        return costs.detach(), grad

    def _layer_style(self, name: str, a_G: Tensor) -> Tensor:
        """``J_style[l]``, over the mask regions when there are masks."""
        if self.masks is None:
            return style_matrix_cost(self.targets.style[name], a_G)
        if name not in self._masks_at:
            self._masks_at[name] = mask_at(self.masks, (a_G.shape[-2], a_G.shape[-1])).to(
                a_G.device
            )
        return masked_style_cost(self.targets.style[name], a_G, self._masks_at[name])
