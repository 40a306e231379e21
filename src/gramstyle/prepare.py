"""Prepare: user inputs -> a small record of ready tensors (the engine's first seam).

Loading, validation, colour handling and masks happen here, once; the plan and the run
only read a :class:`Prepared`. Its ``key`` hashes every input pixel and every setting,
so a checkpoint, a cached result or a batch row can tell whether it belongs to it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from .backbone import check_layer_names, deepest, min_input_side
from .colour import grey, luminance, match_color, match_luminance
from .config import INITS, Settings
from .device import pick_device, pick_precision
from .errors import GramstyleError
from .image import ImageLike, fit_size, load_image, open_source
from .masks import load_masks
from .pyramid import fit_style_side, style_side


@dataclass(frozen=True)
class Prepared:
    """Everything a run needs, on its device. Images are ``(1, 3, H, W)`` in [0, 1].

    ``content`` is what the network sees (the luminance, replicated, with
    ``preserve_color="luminance"``); ``content_rgb`` keeps the photo's colours.
    ``styles`` are full-size, recoloured as the settings ask; ``style_keys`` hash each
    one (they key the session's caches). ``masks``: ``(K, 1, H, W)`` at the content's
    size, or None. ``dtype``: the autocast dtype of the network passes (None = fp32).
    """

    settings: Settings
    content: Tensor
    content_rgb: Tensor
    styles: tuple[Tensor, ...]
    style_keys: tuple[str, ...]
    style_hw: tuple[tuple[int, int], ...]  # each style file's (H, W), before any shrinking
    blend: tuple[float, ...] | None
    masks: Tensor | None
    notes: tuple[str, ...]
    device: torch.device
    dtype: torch.dtype | None
    key: str  # hash of the inputs and the settings

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of the output."""
        return self.content.shape[-2], self.content.shape[-1]

    def style_sides(self, side: int) -> tuple[int, ...]:
        """Each style's longest side at a stage that shows styles at ``side`` (the same
        unless ``style_fit="area"``: see :func:`gramstyle.pyramid.fit_style_side`)."""
        fit = self.settings.style_fit
        return tuple(fit_style_side(side, fit, hw, self.size) for hw in self.style_hw)


def tensor_key(x: Tensor) -> str:
    """A short hash of a tensor's shape and values (same pixels -> same key)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr((tuple(x.shape), str(x.dtype))).encode())
    h.update(x.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def settings_key(s: Settings) -> str:
    """A hash of every setting (a field changed -> another key)."""
    text = json.dumps(dataclasses.asdict(s), sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


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


def _load_style(
    src: ImageLike, s: Settings, out_hw: tuple[int, int]
) -> tuple[Tensor, tuple[int, int]]:
    """A style image, shrunk once to the largest side any stage shows it at, and the
    file's ``(H, W)`` (an area fit keeps the file's aspect, not the rounded one).

    Every stage resizes the style anyway; keeping a large painting at full size only
    cost memory (a 6000 px scan is 430 MB in float) and time.
    """
    img, (w, h) = open_source(src, "style image")
    largest = fit_style_side(style_side(s, s.size), s.style_fit, (h, w), out_hw)
    return load_image(img, largest if max(w, h) > largest else None, "style image"), (h, w)


def as_list(style: ImageLike | Sequence[ImageLike]) -> list[ImageLike]:
    """One style or several -> a list."""
    return list(style) if isinstance(style, (list, tuple)) else [style]  # type: ignore[list-item]


def prepare(
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike],
    settings: Settings,
    *,
    blend: Sequence[float] | None = None,
    masks: Sequence[ImageLike] | None = None,
) -> Prepared:
    """Load and check the inputs, apply colour preservation, load masks; see :class:`Prepared`.

    Raises :class:`GramstyleError` on anything wrong with them, before any network work.
    """
    s = settings
    check_layer_names([*s.content_layers, *s.style_layers])
    if s.init not in INITS and not Path(s.init).is_file():
        raise GramstyleError(
            f"init must be one of {', '.join(INITS)} or an image file; {s.init!r} is neither"
        )
    styles = as_list(style)
    if not styles:
        raise GramstyleError("no style image given")
    weights = blend_weights(blend, len(styles))
    if masks is not None and weights is not None:
        raise GramstyleError("give style blend weights or masks, not both")
    device = pick_device(s.device)
    # AdaIN's networks resolve their own precision (int8 among them): see AdainModel.
    dtype = None if s.method == "adain" else pick_precision(s.precision, device)
    src, (w0, h0) = open_source(content, "content image")
    out_w, out_h = fit_size(w0, h0, s.size)
    if s.method == "gatys":  # AdaIN's memory is bounded by its tiles
        from .plan import check_fits  # here, before a print-size image is made

        regions = len(masks) if masks is not None else 0
        check_fits(s, (out_h, out_w), device, dtype, regions=regions)
    C = load_image(src, s.size, "content image").to(device)
    loaded = [_load_style(x, s, (out_h, out_w)) for x in styles]
    S = [x.to(device) for x, _ in loaded]
    notes: tuple[str, ...] = ()
    M = None
    if masks is not None:
        M, mask_notes = load_masks(list(masks), (C.shape[-2], C.shape[-1]), len(S))
        M, notes = M.to(device), tuple(mask_notes)
    C_rgb = C
    if s.preserve_color == "luminance":
        S = [match_luminance(x, C) for x in S]
        C = grey(luminance(C))
    elif s.preserve_color == "match":
        S = [match_color(x, C) for x in S]
    layers = [*s.content_layers, *s.style_layers]
    side, short = min_input_side(layers), min(C.shape[-2:])
    if short < side:
        raise GramstyleError(
            f"the image is too small for the chosen layers: its short side is {short} px, "
            f"{deepest(layers)} needs at least {side} (raise --size)"
        )
    style_keys = tuple(tensor_key(x) for x in S)
    h = hashlib.blake2b(digest_size=16)
    for part in (tensor_key(C_rgb), *style_keys, settings_key(s), repr(weights)):
        h.update(part.encode())
    if M is not None:
        h.update(tensor_key(M).encode())
    return Prepared(
        settings=s,
        content=C,
        content_rgb=C_rgb,
        styles=tuple(S),
        style_keys=style_keys,
        style_hw=tuple(hw for _, hw in loaded),
        blend=tuple(weights) if weights is not None else None,
        masks=M,
        notes=notes,
        device=device,
        dtype=dtype,
        key=h.hexdigest(),
    )
