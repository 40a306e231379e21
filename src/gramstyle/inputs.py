"""Inputs: what a user gives -> checked settings and a small record of ready tensors.

Every method starts here (the first step of :class:`gramstyle.job.Job`). Loading,
colour handling and masks happen once; a method's plan and run only read the
:class:`Prepared`. Its ``key`` fingerprints every input pixel and every setting, so a
checkpoint or a cached result can tell whether it belongs to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from . import registry
from .decode import check_image_file
from .device import pick_device
from .errors import GramstyleError
from .image import ImageLike, load_image, open_source
from .keys import fingerprint
from .nn.backbone import check_layer_names, deepest, min_input_side
from .nn.colour import grey, luminance, match_color, match_luminance
from .nn.labels import Regions, align_regions, read_label_maps
from .nn.masks import load_masks, mask_at
from .nn.weights import check_source
from .request import as_list, blend_weights, check_labels
from .settings import Settings, inits
from .sizes import fit_size, shown_side, style_side, upscale_note


@dataclass(frozen=True)
class Prepared:
    """Everything a run needs, on its device. Images are ``(1, 3, H, W)`` in [0, 1].

    ``content`` is what the network sees (the luminance, replicated, with
    ``preserve_color="luminance"``); ``content_rgb`` keeps the photo's colours.
    ``styles`` are full-size, recoloured as the settings ask; ``style_keys`` fingerprint
    each one (they key the session's caches). ``masks``: ``(K, 1, H, W)`` at the
    content's size, or None. ``dtype``: the autocast dtype of the network passes (None
    = fp32), as the method chose it. ``labels``: the regions of the content's and each
    style's label map (each region of the output takes its style from the style's
    region of the same label), or None.
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
    key: str  # fingerprint of the inputs and the settings
    #: Where the scene sits on a one-pass network's grid (pixels right and down), for a
    #: method whose strokes move only in steps of its stride (video aligns frames so);
    #: None: not placed on a canvas at all.
    shift: tuple[int, int] | None = None
    labels: Regions | None = None

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of the output."""
        return self.content.shape[-2], self.content.shape[-1]

    def style_sides(self, side: int) -> tuple[int, ...]:
        """Each style's longest side at a stage that shows styles at ``side``: fitted to
        the output and never upscaled by default (:func:`gramstyle.sizes.shown_side`)."""
        return tuple(shown_side(self.settings, side, hw, self.size) for hw in self.style_hw)

    def regions_at(self, size: tuple[int, int]) -> tuple[Tensor, list[Tensor]]:
        """The content's regions ``(K, 1, H, W)`` at ``size`` and each style's at its
        own size (:attr:`labels`); without label maps, one region: the whole images."""
        if self.labels is not None:
            return mask_at(self.labels.content, size), list(self.labels.styles)
        whole = self.content.new_ones(1, 1, *size)
        return whole, [x.new_ones(1, 1, *x.shape[-2:]) for x in self.styles]


def working_image(x: Tensor, preserve_color: str) -> Tensor:
    """What the network sees of an image: its luminance, replicated to three channels,
    when only luminance is stylised; else the image itself."""
    return grey(luminance(x)) if preserve_color == "luminance" else x


def check_settings(s: Settings) -> None:
    """What :class:`Settings` cannot check alone: layer names against the network, an
    ``--init`` file (decoded), the weights source and its checksum."""
    check_layer_names([*s.content_layers, *s.style_layers])
    if s.init not in inits():
        if not Path(s.init).exists() and not Path(s.init).is_symlink():
            raise GramstyleError(
                f"init must be one of {', '.join(inits())} or an image file; {s.init!r} is neither"
            )
        check_image_file(s.init, "init image")
    check_source(s.weights, s.weights_sha256)


def check_network_fits(s: Settings, hw: tuple[int, int]) -> None:
    """The output ``hw = (H, W)`` is large enough for the deepest layer used."""
    layers = [*s.content_layers, *s.style_layers]
    side, short = min_input_side(layers), min(hw)
    if short < side:
        raise GramstyleError(
            f"the image is too small for the chosen layers: its short side is {short} px, "
            f"{deepest(layers)} needs at least {side} (raise --size)"
        )


def check_method(
    s: Settings,
    content_hw: tuple[int, int],
    style_hws: Sequence[tuple[int, int]],
    regions: int,
    device: torch.device,
) -> None:
    """The method's own checks of sizes and memory (and the start image's method's)."""
    for name in dict.fromkeys([s.method, s.init]):
        if registry.is_method(name):
            registry.engine(name).check(s, content_hw, style_hws, regions, device)


def _name(src: ImageLike, number: int | None) -> str:
    """How a note names a style: ``the style image x.jpg``, or ``style 2 (x.jpg)`` of
    several (the file's name when it has one)."""
    file = Path(src).name if isinstance(src, (str, Path)) else None
    if number is None:
        return f"the style image {file}" if file else "the style image"
    return f"style {number} ({file})" if file else f"style {number}"


def _load_style(
    src: ImageLike, s: Settings, out_hw: tuple[int, int]
) -> tuple[Tensor, tuple[int, int]]:
    """A style image, shrunk once to the largest side any stage shows it at, and the
    file's ``(H, W)`` (an area fit keeps the file's aspect, not the rounded one).

    Every stage resizes the style anyway; keeping a large painting at full size only
    cost memory (a 6000 px scan is 430 MB in float) and time.
    """
    img, (w, h) = open_source(src, "style image")
    largest = shown_side(s, style_side(s, s.size), (h, w), out_hw)
    return load_image(img, largest if max(w, h) > largest else None, "style image"), (h, w)


def prepare(
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike],
    settings: Settings,
    *,
    blend: Sequence[float] | None = None,
    masks: Sequence[ImageLike] | None = None,
    colour_reference: Tensor | None = None,
    shift: tuple[int, int] | None = None,
    content_labels: ImageLike | None = None,
    style_labels: ImageLike | Sequence[ImageLike] | None = None,
) -> Prepared:
    """Load and check the inputs, apply colour preservation, load masks or label maps.

    ``colour_reference``: the image the styles are recoloured against (default: the
    content), so a video's frames share one look and one set of style targets.
    ``shift``: see :attr:`Prepared.shift`. ``content_labels``, ``style_labels`` (one
    per style): colour-coded label maps (:mod:`gramstyle.nn.labels`). Raises
    :class:`GramstyleError` on anything wrong with them, before any network work (and,
    for a print-size output, before the image is made).
    """
    s = settings
    check_settings(s)
    styles = as_list(style)
    if not styles:
        raise GramstyleError("no style image given")
    weights = blend_weights(blend, len(styles))
    if masks is not None and weights is not None:
        raise GramstyleError("give style blend weights or masks, not both")
    device = pick_device(s.device)
    src, (w0, h0) = open_source(content, "content image")
    out_w, out_h = fit_size(w0, h0, s.size)
    opened = [open_source(x, "style image") for x in styles]
    style_hws = [(h, w) for _, (w, h) in opened]
    style_maps = as_list(style_labels) if style_labels is not None else None
    check_labels(content_labels, style_maps, len(styles), masks)
    maps = None
    if content_labels is not None and style_maps:  # decoded now: a bad map costs no work
        maps = read_label_maps(content_labels, style_maps, (h0, w0), style_hws)
    regions = len(masks) if masks is not None else len(maps[0].palette) if maps else 0
    check_network_fits(s, (out_h, out_w))
    check_method(s, (out_h, out_w), style_hws, regions, device)
    C = load_image(src, s.size, "content image").to(device)
    S = [_load_style(img, s, (out_h, out_w))[0].to(device) for img, _ in opened]
    notes: list[str] = []
    for k, hw in enumerate(style_hws):
        name = _name(styles[k], None if len(styles) == 1 else k + 1)
        notes.append(upscale_note(s, hw, (out_h, out_w), name) or "")
    M = None
    if masks is not None:
        M, mask_notes = load_masks(list(masks), (C.shape[-2], C.shape[-1]), len(S))
        M = M.to(device)
        notes.extend(mask_notes)
    R = None
    if maps is not None:
        sizes = [(x.shape[-2], x.shape[-1]) for x in S]
        R = align_regions(maps[0], maps[1], (C.shape[-2], C.shape[-1]), sizes).to(device)
        notes.extend(R.notes)
    C_rgb = C
    ref = C if colour_reference is None else colour_reference.to(device)
    if s.preserve_color == "luminance":
        S = [match_luminance(x, ref) for x in S]
    elif s.preserve_color == "match":
        S = [match_color(x, ref) for x in S]
    C = working_image(C, s.preserve_color)
    style_keys = tuple(fingerprint(x) for x in S)
    return Prepared(
        settings=s,
        content=C,
        content_rgb=C_rgb,
        styles=tuple(S),
        style_keys=style_keys,
        style_hw=tuple(style_hws),
        blend=tuple(weights) if weights is not None else None,
        masks=M,
        notes=tuple(n for n in notes if n),
        device=device,
        dtype=registry.engine(s.method).precision(s, device),
        key=fingerprint(
            C_rgb, style_keys, s, weights, M, shift, *(() if R is None else (R.content, R.styles))
        ),
        shift=shift,
        labels=R,
    )
