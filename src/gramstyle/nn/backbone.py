"""VGG19 in plain ``torch.nn`` with the paper's layer names, run only as deep as needed.

The one table that maps names (``relu4_2``) to positions is :data:`LAYER_NAMES`.
Weight files of other layouts are translated in :mod:`gramstyle.nn.weights`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from ..device import autocast
from ..errors import GramstyleError

#: Convolutions per block of VGG19.
BLOCKS = (2, 2, 4, 4, 4)
#: Output channels per block of VGG19; the tiny test network passes smaller widths.
VGG19_WIDTHS = (64, 128, 256, 512, 512)


def _layer_names() -> tuple[str, ...]:
    names: list[str] = []
    for b, n_conv in enumerate(BLOCKS, start=1):
        for c in range(1, n_conv + 1):
            names += [f"conv{b}_{c}", f"relu{b}_{c}"]
        names.append(f"pool{b}")
    return tuple(names)


#: Every layer of VGG19's feature part, in order: conv1_1, relu1_1, ..., pool5.
LAYER_NAMES: tuple[str, ...] = _layer_names()
CONV_NAMES: tuple[str, ...] = tuple(n for n in LAYER_NAMES if n.startswith("conv"))


def check_layer_names(names: Iterable[str]) -> None:
    """Raise a :class:`GramstyleError` naming the closest real layer for a misspelt one."""
    for name in names:
        if name not in LAYER_NAMES:
            close = difflib.get_close_matches(name, LAYER_NAMES, n=1)
            hint = (
                f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(LAYER_NAMES)})"
            )
            raise GramstyleError(f"unknown layer {name!r}{hint}")


class VGG19(nn.Module):
    """VGG19 features with a fixed input transform, returning named activations.

    ``prep`` is a frozen 1x1 convolution that maps the image contract (RGB in [0, 1])
    to whatever the weights expect (e.g. BGR*255 minus the ImageNet mean for Caffe
    weights), so every weight source shares one forward pass.

    Deviations from the original VGG, both named here and in docs/maths.md: the 3x3
    convolutions pad by reflection (``padding_mode="reflect"``, as the normalised
    weights were trained to be used, fewer border artefacts) unless ``padding="zeros"``;
    pooling is max with ``ceil_mode=True`` (odd sizes keep their last row) or, on
    request, average pooling as Gatys et al. suggest.
    """

    def __init__(
        self,
        widths: Sequence[int] = VGG19_WIDTHS,
        pooling: str = "max",
        padding: Literal["reflect", "zeros"] = "reflect",
    ) -> None:
        super().__init__()
        self.prep = nn.Conv2d(3, 3, 1)
        layers: dict[str, nn.Module] = {}
        c_in = 3
        for b, (n_conv, width) in enumerate(zip(BLOCKS, widths, strict=True), start=1):
            for c in range(1, n_conv + 1):
                layers[f"conv{b}_{c}"] = nn.Conv2d(c_in, width, 3, padding=1, padding_mode=padding)
                layers[f"relu{b}_{c}"] = nn.ReLU(inplace=False)
                c_in = width
            layers[f"pool{b}"] = (
                nn.MaxPool2d(2, 2, ceil_mode=True)
                if pooling == "max"
                else nn.AvgPool2d(2, 2, ceil_mode=True)
            )
        self.layers = nn.ModuleDict(layers)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: Tensor, names: Iterable[str]) -> dict[str, Tensor]:
        """Activations ``{name: (B, nC, nH, nW)}`` for ``names``; stops at the deepest."""
        wanted = set(names)
        check_layer_names(wanted)
        out: dict[str, Tensor] = {}
        h = self.prep(x)
        for name, layer in self.layers.items():
            if not wanted - out.keys():
                break  # truncated: nothing deeper is computed
            h = layer(h)
            if name in wanted:
                out[name] = h
        return out


def deepest(names: Iterable[str]) -> str:
    """The deepest of ``names`` in network order."""
    return max(names, key=LAYER_NAMES.index)


def min_input_side(names: Iterable[str]) -> int:
    """Smallest image side for which every layer in ``names`` is at least 2 px wide.

    Reflection padding needs 2 px; each pool before the deepest layer halves (ceil).

    >>> min_input_side(["relu1_1"]), min_input_side(["relu5_1"])
    (2, 17)
    """
    pools = sum(1 for n in LAYER_NAMES[: LAYER_NAMES.index(deepest(names))] if n.startswith("pool"))
    return 2**pools + 1 if pools else 2


def features(
    net: VGG19, x: Tensor, names: Iterable[str], dtype: torch.dtype | None = None
) -> dict[str, Tensor]:
    """``net``'s activations of ``names`` on ``x``, in ``dtype`` (autocast; None: float32)."""
    # Channels-last input matches the network's channels-last weights (faster oneDNN
    # convolutions); the optimised tensor itself stays contiguous for L-BFGS.
    x = x.contiguous(memory_format=torch.channels_last)
    with autocast(x.device.type, dtype):
        return net(x, names)
