"""Colour-coded semantic label maps -> aligned region masks (Luan et al. 2017, section 3.2).

A label map paints each region of a photo in one flat colour (sky blue, trees green...);
the same colour in the content's and the style's maps means "this region of the output
takes its look from that region of the style". Maps are drawn by hand or exported from
a segmenter, so their edges are anti-aliased and lossy formats add noise; this module
finds each map's own palette and sends every pixel to its nearest palette colour:

1. exact colours (8-bit) are grouped greedily, most frequent first: a colour within
   :data:`MERGE` (RGB distance, 0-255) of an earlier group's leader joins it, so noise
   around a flat colour is one label;
2. a group is a label when at least ``min_share`` (0.1%) of the pixels are *inside* it
   (their whole 3x3 neighbourhood nearest to it and within :data:`FLAT` of its colour):
   a blend on an anti-aliased edge is a band one or two pixels wide with almost no
   inside, so it is no label, however long the edge;
3. every pixel goes to the nearest label colour; fewer than :data:`MIN_FLAT` of them
   within :data:`FLAT` of it means a photo, not a label map (a one-line error).

The content's labels are the regions (K of them). Each takes its style from the style
map's region of the same colour (colours within :data:`MERGE` match); one missing from
the style map uses the whole style, which the caller shows as a note.
:func:`masked_targets` then gives the per-region style matrices of the style image,
stacked like :func:`gramstyle.nn.masks.masked_style_cost` wants them, to compare with
the output's regions under the content's masks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from ..device import autocast
from ..errors import GramstyleError
from ..image import ImageLike, load_image
from .backbone import VGG19
from .masks import mask_at, masked_gram

#: RGB distance (0-255 units) under which two colours are one label. The paper's
#: palette colours are at least 220 apart; JPEG noise and slight shades stay under it.
MERGE = 48.0
#: Share of a map's pixels that must lie inside a colour for it to be a label.
MIN_SHARE = 1e-3
#: How many of a map's most frequent colours may lead a group (a label map needs few).
MAX_CANDIDATES = 1024
#: RGB distance (0-255) within which a pixel is "of" its label's colour (lossy noise).
FLAT = 12.0
#: A label map has at least this share of such pixels (the rest: anti-aliased edges);
#: the paper's maps have 97-100%, its photos, labelled the same way, 5-70%.
MIN_FLAT = 0.85


@dataclass(frozen=True)
class LabelMap:
    """One decoded label map: ``index`` ``(H, W)`` long into ``palette`` ``(P, 3)`` (0-255)."""

    index: Tensor
    palette: Tensor
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabelRegions:
    """Aligned regions of a content and a style photo, one per content label.

    ``content``: ``(K, 1, H, W)`` one-hot masks at the content's (output's) size;
    ``style``: ``(K, 1, Hs, Ws)`` the style's region of the same colour (all ones where
    the style map lacks it); ``colours``: the K labels' RGB (0-255); ``notes``: plain
    sentences for the caller to show (the library never prints).
    """

    content: Tensor
    style: Tensor
    colours: tuple[tuple[int, int, int], ...]
    notes: tuple[str, ...]


def _nearest(rgb: Tensor, palette: Tensor) -> tuple[Tensor, Tensor]:
    """``rgb`` ``(3, H, W)`` and ``palette`` ``(P, 3)`` -> nearest index and its distance."""
    d = torch.cdist(rgb.flatten(1).T[None], palette[None])[0]  # (HW, P)
    dist, idx = d.min(1)
    return idx.view(rgb.shape[1:]), dist.view(rgb.shape[1:])


def _inside(index: Tensor, flat: Tensor, n: int) -> Tensor:
    """``(n,)`` pixels per label whose whole 3x3 neighbourhood is flat and of that label."""
    onehot = (F.one_hot(index, n) * flat[..., None]).permute(2, 0, 1)[None].float()
    # A 3x3 min filter (erosion) as minus the max of minus; borders count as outside.
    eroded = -F.max_pool2d(-onehot, 3, stride=1, padding=1)
    eroded[..., [0, -1], :] = 0
    eroded[..., :, [0, -1]] = 0
    return eroded.sum((0, 2, 3))


def palette_of(rgb: Tensor, what: str = "label map", min_share: float = MIN_SHARE) -> LabelMap:
    """Find a label map's palette and label every pixel: ``rgb`` ``(1, 3, H, W)`` in [0, 1].

    Raises a one-line :class:`GramstyleError` when no colour is a label, or when fewer
    than :data:`MIN_FLAT` of the pixels are (within :data:`FLAT`) one of the labels'
    colours: a photo, not a label map.
    """
    px = (rgb[0].detach().float().clamp(0, 1) * 255).round()  # (3, H, W)
    n_px = px.shape[1] * px.shape[2]
    codes = (px[0] * 65536 + px[1] * 256 + px[2]).long().flatten()
    colours, counts = torch.unique(codes, return_counts=True)
    order = torch.argsort(counts, descending=True)
    rgbs = torch.stack([colours // 65536, colours // 256 % 256, colours % 256], 1).float()[order]
    counts = counts[order]
    # Leaders: the most frequent colours, each at least MERGE from the ones before it
    # (a short greedy pass over the most frequent candidates only: a photo has
    # hundreds of thousands of colours). Then every colour joins its nearest leader
    # within MERGE, and a group's total is its share of the pixels.
    candidates = rgbs[:MAX_CANDIDATES]
    covered = torch.zeros(len(candidates), dtype=torch.bool)
    leaders: list[Tensor] = []
    while not bool(covered.all()):
        leader = candidates[int((~covered).nonzero()[0])]  # the most frequent one left
        leaders.append(leader)
        covered |= torch.linalg.vector_norm(candidates - leader, dim=1) <= MERGE
    dist, nearest = torch.cdist(rgbs, torch.stack(leaders)).min(1)
    joined = dist <= MERGE
    totals = (
        torch.zeros(len(leaders), dtype=torch.long)
        .index_add_(0, nearest[joined], counts[joined])
        .tolist()
    )
    keep = [c for c, t in zip(leaders, totals, strict=True) if t >= min_share * n_px]
    not_labels = (
        f"{what}: no flat colour region covers {min_share:.1%} of it; not a colour-coded label map"
    )
    if not keep:
        raise GramstyleError(not_labels)
    palette = torch.stack(keep)
    index, dist = _nearest(px, palette)
    labels = _inside(index, dist <= FLAT, len(keep)) >= min_share * n_px
    if not bool(labels.any()):
        raise GramstyleError(not_labels)
    palette = palette[labels]
    index, dist = _nearest(px, palette)
    flat = float((dist <= FLAT).float().mean())
    if flat < MIN_FLAT:
        raise GramstyleError(
            f"{what}: only {flat:.0%} of its pixels are one of its {len(palette)} label "
            "colours; a label map is flat colour regions (is it a photo?)"
        )
    return LabelMap(index, palette)


def load_labels(src: ImageLike, size: tuple[int, int], what: str = "label map") -> LabelMap:
    """Read a label map (path, PIL image or tensor) and label it at ``size = (H, W)``.

    A map of another size is labelled at its own size, then resized (nearest, so no new
    colours appear), with a note. A file that is not an image raises the image
    contract's one-line :class:`GramstyleError`.
    """
    rgb = load_image(src, None, what)
    labels = palette_of(rgb, what)
    h, w = labels.index.shape
    H, W = size
    if (h, w) == (H, W):
        return labels
    note = f"{what} is {w}x{h}, its image {W}x{H}: resized to fit (nearest)"
    return resized(LabelMap(labels.index, labels.palette, (*labels.notes, note)), size)


def resized(labels: LabelMap, size: tuple[int, int]) -> LabelMap:
    """``labels`` at ``size = (H, W)``, nearest (no new colours appear), notes kept."""
    if tuple(labels.index.shape) == tuple(size):
        return labels
    index = F.interpolate(labels.index[None, None].float(), size=size, mode="nearest-exact")
    return LabelMap(index[0, 0].long(), labels.palette, labels.notes)


def _rgb(colour: Tensor) -> tuple[int, int, int]:
    r, g, b = (int(round(float(x))) for x in colour)
    return r, g, b


def region_masks(content: LabelMap, style: LabelMap) -> LabelRegions:
    """Match the content's labels with the style's: ``K`` aligned masks each.

    Labels are matched by colour (within :data:`MERGE`); a content label the style map
    lacks takes its style from the whole style image, said in one note. Style labels
    the content lacks are unused.
    """
    notes = [*content.notes, *style.notes]
    K = len(content.palette)
    c_masks = F.one_hot(content.index, K).permute(2, 0, 1)[:, None].float()  # (K, 1, H, W)
    d = torch.cdist(content.palette, style.palette)  # (K, P_s)
    dist, match = d.min(1)
    Hs, Ws = style.index.shape
    s_masks = torch.ones(K, 1, Hs, Ws)
    missing = []
    for k in range(K):
        if float(dist[k]) <= MERGE:
            s_masks[k, 0] = (style.index == match[k]).float()
        else:
            share = float(c_masks[k].mean())
            missing.append(f"{_rgb(content.palette[k])} ({share:.0%} of the content)")
    if missing:
        notes.append(
            f"label{'s' if len(missing) > 1 else ''} {', '.join(missing)} not in the style's "
            "label map: styled from the whole style image"
        )
    colours = tuple(_rgb(c) for c in content.palette)
    return LabelRegions(c_masks, s_masks, colours, tuple(notes))


@dataclass(frozen=True)
class Regions:
    """The regions of a content and of each of its styles, from their label maps.

    ``content``: ``(K, 1, H, W)`` one-hot at the output's size; ``styles``: per style
    image ``(K, 1, Hs, Ws)`` at that style's size, region k the content's label k (all
    ones where the style's map lacks it); ``colours``: the K labels' RGB (0-255);
    ``notes``: plain sentences for the caller to show.
    """

    content: Tensor
    styles: tuple[Tensor, ...]
    colours: tuple[tuple[int, int, int], ...]
    notes: tuple[str, ...]

    def to(self, device: torch.device) -> Regions:
        return Regions(
            self.content.to(device),
            tuple(m.to(device) for m in self.styles),
            self.colours,
            self.notes,
        )


def read_label_maps(
    content_labels: ImageLike,
    style_labels: Sequence[ImageLike],
    content_hw: tuple[int, int],
    style_hws: Sequence[tuple[int, int]],
) -> tuple[LabelMap, list[LabelMap]]:
    """Decode the content's label map and one per style, each at its image's ``(H, W)``
    as given (a map of another size is resized, nearest, with a note). One-line
    :class:`GramstyleError` for a wrong count, a file that is not an image, or a map
    with no region (:func:`palette_of`)."""
    if len(style_labels) != len(style_hws):
        n, k = len(style_labels), len(style_hws)
        raise GramstyleError(
            f"{n} style label map{'s' if n != 1 else ''} for {k} style{'s' if k != 1 else ''}:"
            " give one per style image"
        )
    content = load_labels(content_labels, content_hw, "content labels")
    several = len(style_labels) > 1
    styles = [
        load_labels(src, hw, f"style {i} labels" if several else "style labels")
        for i, (src, hw) in enumerate(zip(style_labels, style_hws, strict=True), start=1)
    ]
    return content, styles


def align_regions(
    content: LabelMap,
    styles: Sequence[LabelMap],
    content_size: tuple[int, int],
    style_sizes: Sequence[tuple[int, int]],
) -> Regions:
    """Decoded maps (:func:`read_label_maps`) as aligned masks at the sizes the images
    are worked at (resized silently: the maps' own sizes were noted when read)."""
    c = resized(content, content_size)
    plain = LabelMap(c.index, c.palette)
    notes = list(c.notes)
    masks = []
    for i, (style, size) in enumerate(zip(styles, style_sizes, strict=True), start=1):
        s = resized(style, size)
        r = region_masks(plain, LabelMap(s.index, s.palette))  # its own notes: below
        masks.append(r.style)
        prefix = f"style {i}: " if len(styles) > 1 else ""
        notes.extend(style.notes)
        notes.extend(prefix + n for n in r.notes)
    colours = tuple(_rgb(x) for x in c.palette)
    content_masks = F.one_hot(c.index, len(c.palette)).permute(2, 0, 1)[:, None].float()
    return Regions(content_masks, tuple(masks), colours, tuple(notes))


def load_regions(
    content_labels: ImageLike,
    style_labels: ImageLike,
    content_size: tuple[int, int],
    style_size: tuple[int, int],
) -> LabelRegions:
    """Both label maps read at their images' sizes ``(H, W)`` and matched (see above)."""
    content = load_labels(content_labels, content_size, "content labels")
    style = load_labels(style_labels, style_size, "style labels")
    return region_masks(content, style)


def masked_targets(
    net: VGG19,
    style: Tensor,
    style_masks: Tensor,
    layers: Sequence[str],
    dtype: torch.dtype | None = None,
) -> dict[str, Tensor]:
    """Per-region style matrices of ``style`` ``(1, 3, Hs, Ws)``: ``{layer: (K, nC, nC)}``.

    Region k's matrix is the mask-weighted mean of ``a_ij a_ij^T`` over the style's
    masks ``(K, 1, Hs, Ws)`` at the layer's size (:func:`~gramstyle.nn.masks.masked_gram`,
    the style at its own size): the stacked targets
    :func:`~gramstyle.nn.masks.masked_style_cost` compares with the output's region k
    under the content's mask k. Float32 whatever ``dtype`` the network ran in.
    """
    x = style.contiguous(memory_format=torch.channels_last)
    with torch.no_grad(), autocast(x.device.type, dtype):
        feats = net(x, layers)
    out = {}
    with torch.no_grad():
        for name, a in feats.items():
            m = mask_at(style_masks, (a.shape[-2], a.shape[-1])).to(a.device)
            out[name] = masked_gram(a.float(), m)
    return out
