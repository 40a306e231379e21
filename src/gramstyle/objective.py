"""The cost J(G) of one scale: targets computed once, then cheap evaluations per step."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .backbone import VGG19
from .config import Settings
from .losses import content_cost, normalized_gram, style_matrix_cost, total_cost, tv_cost
from .masks import mask_at, masked_style_cost


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

    def detach(self) -> Costs:
        return Costs(
            self.total.detach(),
            self.content.detach(),
            {n: v.detach() for n, v in self.style.items()},
            self.tv.detach(),
        )


class Objective:
    """``J(G) = alpha J_content + beta sum_l lambda[l] J_style[l] (+ tv)`` for fixed C, S.

    ``dtype`` is the autocast dtype for the network passes (None = float32); the Gram
    matrices and costs are float32 regardless (see :mod:`gramstyle.losses`).
    ``masks`` ``(K, 1, H, W)`` at G's size, one per style: style k is matched inside
    region k only (see :mod:`gramstyle.masks`); ``blend`` is then unused.
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
    ) -> None:
        self.net, self.s, self.dtype, self.masks = net, settings, dtype, masks
        self.device_type = next(net.parameters()).device.type  # once, not per step
        self._masks_at: dict[str, Tensor] = {}
        self.layers = list(dict.fromkeys([*settings.content_layers, *settings.style_layers]))
        blend = list(blend) if blend is not None else [1.0 / len(styles)] * len(styles)
        with torch.no_grad():
            a_C = self.features(content, settings.content_layers)
            style_grams: dict[str, Tensor] = {}
            for w, image in zip(blend, styles, strict=True):
                for name, a_S in self.features(image, settings.style_layers).items():
                    g = normalized_gram(a_S)
                    if masks is not None:  # one target per region, stacked (K, nC, nC)
                        style_grams[name] = (
                            torch.cat([style_grams[name], g]) if name in style_grams else g
                        )
                        continue
                    g = w * g
                    style_grams[name] = style_grams[name] + g if name in style_grams else g
        self.targets = Targets(content=a_C, style=style_grams)

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def features(self, x: Tensor, names) -> dict[str, Tensor]:
        # Channels-last input matches the network's channels-last weights (faster oneDNN
        # convolutions); the optimised tensor itself stays contiguous for L-BFGS.
        x = x.contiguous(memory_format=torch.channels_last)
        with self.autocast():
            return self.net(x, names)

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
        return Costs(total=total, content=J_content, style=J_style, tv=J_tv)

    def _layer_style(self, name: str, a_G: Tensor) -> Tensor:
        """``J_style[l]``, over the mask regions when there are masks."""
        if self.masks is None:
            return style_matrix_cost(self.targets.style[name], a_G)
        if name not in self._masks_at:
            self._masks_at[name] = mask_at(self.masks, (a_G.shape[-2], a_G.shape[-1])).to(
                a_G.device
            )
        return masked_style_cost(self.targets.style[name], a_G, self._masks_at[name])
