"""The session: one :class:`Stylizer` holds the networks and caches for many pictures.

The CLI, the web worker, the video loop and a batch worker each hold one: the VGG19 is
loaded once, and what a method computes from a style image (Gatys's style matrices,
AdaIN's statistics) is computed once and reused, keyed by the style's pixels. Every
picture goes through the same seams, whatever the method (:mod:`gramstyle.method`):

- :meth:`Stylizer.prepare` — inputs -> :class:`~gramstyle.inputs.Prepared`;
- :meth:`Stylizer.plan` — what the run will do, known before any work;
- :meth:`Stylizer.run` — an iterator of records, resumable where the method allows;

and :meth:`Stylizer.job` strings them into one :class:`~gramstyle.job.Job`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from PIL import Image
from torch import Tensor

from . import registry
from .cache import LRU
from .device import pick_device
from .image import ImageLike
from .inputs import Prepared, prepare
from .job import Job, OnPlan
from .keys import fingerprint
from .method import ExtraCost, Method, OnTile, Record, Run
from .nn.backbone import VGG19
from .nn.weights import load_vgg19
from .progress import ProgressBar
from .settings import Settings

_networks: LRU[VGG19] = LRU(4)


def default_backbone(settings: Settings) -> VGG19:
    """The real VGG19 the settings ask for (loaded once per process)."""
    key = (settings.weights, settings.weights_sha256, settings.pooling)
    return _networks.get_or(key, lambda: load_vgg19(*key[:2], pooling=settings.pooling))


class Stylizer:
    """A stylisation session: networks and caches, loaded once.

    ``settings`` are the defaults of every call (each call may override fields).
    ``backbone``/``decoder`` inject networks (tests pass tiny random ones); otherwise
    the real VGG19 the settings name, and a method's decoder when first needed, are
    loaded once per process.

    >>> import torch, gramstyle
    >>> from gramstyle.nn.backbone import VGG19
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
        decoder: torch.nn.Module | None = None,
        cache_size: int = 32,
    ) -> None:
        self.settings = settings or Settings()
        self._backbone = backbone
        self._ready: set[int] = set()  # ids of networks already moved and laid out
        self._cache: LRU[Any] = LRU(cache_size)
        self._components: dict[Any, Any] = {} if decoder is None else {"decoder": decoder}

    # What methods ask of the session ---------------------------------------------------

    def network(self, settings: Settings | None = None) -> VGG19:
        """The VGG19 for ``settings`` on its device, channels-last (loaded once)."""
        s = settings or self.settings
        net = self._backbone or default_backbone(s)
        device = pick_device(s.device)
        key = id(net)
        if key not in self._ready or next(net.parameters()).device != device:
            net.to(device)
            net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # in place
            self._ready.add(key)
        return net

    def component(self, key: Any, make: Callable[[], Any]) -> Any:
        """A part a method builds once per session (a decoder, a quantised engine);
        ``"decoder"`` is the one given to the constructor, if any."""
        if key not in self._components:
            self._components[key] = make()
        return self._components[key]

    def cached(self, key: Any, make: Callable[[], Any]) -> Any:
        """Data a method computes from inputs and keeps (style targets, statistics)."""
        return self._cache.get_or(key, make)

    def networks_key(self, settings: Settings | None = None) -> str:
        """A fingerprint of the networks a run would use: injected ones by their
        weights, the default ones by the settings that name them."""
        s = settings or self.settings
        parts: list[Any] = [s.weights, s.weights_sha256, s.pooling]
        if self._backbone is not None:
            parts.append(dict(self._backbone.state_dict()))
        if "decoder" in self._components:
            parts.append(dict(self._components["decoder"].state_dict()))
        return fingerprint(*parts)

    def start_image(self, prep: Prepared, content: Tensor, side: int) -> Tensor:
        """The result of the one-pass method ``prep.settings.init`` names, for ``content``
        with styles shown at ``side`` (another method's start image)."""
        return registry.engine(prep.settings.init).image(self, prep, content, side)

    # The seams -------------------------------------------------------------------------

    def engine(self, settings: Settings | None = None) -> Method:
        """The method the settings name (:mod:`gramstyle.registry`)."""
        return registry.engine((settings or self.settings).method)

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
        colour_reference: Tensor | None = None,
        shift: tuple[int, int] | None = None,
        content_labels: ImageLike | None = None,
        style_labels: ImageLike | Sequence[ImageLike] | None = None,
        **overrides: Any,
    ) -> Prepared:
        """Load and check the inputs (see :func:`gramstyle.inputs.prepare`)."""
        return prepare(
            content,
            style,
            self._settings(settings, overrides),
            blend=blend,
            masks=masks,
            colour_reference=colour_reference,
            shift=shift,
            content_labels=content_labels,
            style_labels=style_labels,
        )

    def plan(self, prep: Prepared) -> Any:
        """What a run on ``prep`` will do (its stages, sizes and step budgets)."""
        return self.engine(prep.settings).plan(self, prep)

    def estimate(self, prep: Prepared, plan: Any) -> Any | None:
        """Time and memory ``plan`` is expected to take (None when not worth telling)."""
        return self.engine(prep.settings).estimate(self, prep, plan)

    def run(
        self,
        prep: Prepared,
        plan: Any | None = None,
        *,
        resume: Any | None = None,
        init: Tensor | None = None,
        extra_cost: ExtraCost | None = None,
        on_tile: OnTile | None = None,
    ) -> Run:
        """A run of the method (iterate it to work; stop iterating to cancel).

        ``resume``: a state from an earlier run on the same inputs and settings.
        ``init``: the start image (instead of ``settings.init``). ``extra_cost``:
        pixel-space terms added to J (a one-pass method applies their minimiser).
        ``on_tile``: called after each tile of a tiled step (print size).
        """
        return self.engine(prep.settings).run(
            self,
            prep,
            plan or self.plan(prep),
            resume=resume,
            init=init,
            extra_cost=extra_cost,
            on_tile=on_tile,
        )

    # Whole stylisations ----------------------------------------------------------------

    def job(
        self,
        content: ImageLike,
        style: ImageLike | Sequence[ImageLike],
        settings: Settings | None = None,
        *,
        blend: Sequence[float] | None = None,
        masks: Sequence[ImageLike] | None = None,
        start: Tensor | None = None,
        extra_cost: ExtraCost | None = None,
        colour_reference: Tensor | None = None,
        shift: tuple[int, int] | None = None,
        content_labels: ImageLike | None = None,
        style_labels: ImageLike | Sequence[ImageLike] | None = None,
        **overrides: Any,
    ) -> Job:
        """One stylisation through the seams: see :class:`gramstyle.job.Job`."""
        return Job(
            self,
            content,
            style,
            self._settings(settings, overrides),
            blend=blend,
            masks=masks,
            start=start,
            extra_cost=extra_cost,
            colour_reference=colour_reference,
            shift=shift,
            content_labels=content_labels,
            style_labels=style_labels,
        )

    def stylize_iter(
        self,
        content: ImageLike,
        style: ImageLike | Sequence[ImageLike],
        settings: Settings | None = None,
        *,
        blend: Sequence[float] | None = None,
        masks: Sequence[ImageLike] | None = None,
        content_labels: ImageLike | None = None,
        style_labels: ImageLike | Sequence[ImageLike] | None = None,
        on_plan: OnPlan | None = None,
        on_tile: OnTile | None = None,
        **overrides: Any,
    ) -> Iterator[Record]:
        """Prepare, plan and run; yield a record after every step (the last one's
        ``image`` is the result).

        ``style`` may be one image or several: their targets are mixed by ``blend``
        weights (not negative, normalised to sum 1; default equal), or, with ``masks``
        (one grey image per style, white = its region), style k is matched inside
        region k only. ``content_labels`` and ``style_labels`` (one per style):
        colour-coded label maps, each region of the content styled from the style's
        region of the same colour (:mod:`gramstyle.nn.labels`). ``on_plan`` receives
        the plan and its estimate before the first step; ``on_tile``: see :meth:`run`.
        """
        job = self.job(
            content,
            style,
            settings,
            blend=blend,
            masks=masks,
            content_labels=content_labels,
            style_labels=style_labels,
            **overrides,
        )
        return job.records(on_plan=on_plan, on_tile=on_tile)

    def stylize(
        self,
        content: ImageLike,
        style: ImageLike | Sequence[ImageLike],
        settings: Settings | None = None,
        *,
        blend: Sequence[float] | None = None,
        masks: Sequence[ImageLike] | None = None,
        content_labels: ImageLike | None = None,
        style_labels: ImageLike | Sequence[ImageLike] | None = None,
        progress: bool | Callable[[Record], None] = False,
        callback: Callable[[Record], None] | None = None,
        **overrides: Any,
    ) -> Image.Image | Tensor:
        """Repaint ``content`` in the style of ``style``; return the image.

        Returns a PIL image, or a tensor on the content's device if ``content`` was a
        tensor. ``progress``: True draws a progress bar with an ETA on stderr; a
        function receives each record (as ``callback`` does); False (the default) says
        nothing. ``content_labels``/``style_labels``: see :meth:`stylize_iter`.
        """
        job = self.job(
            content,
            style,
            settings,
            blend=blend,
            masks=masks,
            content_labels=content_labels,
            style_labels=style_labels,
            **overrides,
        )
        bar = ProgressBar() if progress is True else None
        try:
            records = job.records(
                on_plan=bar.plan if bar else None, on_tile=bar.tile if bar else None
            )
            for rec in records:
                for tell in (callback, None if progress is True else progress or None):
                    if tell is not None:
                        tell(rec)
                if bar is not None:
                    bar.update(rec)
        finally:
            if bar is not None:
                bar.close()
        return job.output(like=content)


# One call, one picture -------------------------------------------------------------------

_sessions: LRU[Stylizer] = LRU(4)


def session_for(backbone: VGG19 | None = None, decoder: torch.nn.Module | None = None) -> Stylizer:
    """The process's session for these networks (None: the real ones), made once, so a
    second call reuses the loaded network and the style's targets."""
    return _sessions.get_or(
        (backbone, decoder), lambda: Stylizer(backbone=backbone, decoder=decoder)
    )


def stylize_iter(
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike],
    settings: Settings | None = None,
    *,
    backbone: VGG19 | None = None,
    decoder: torch.nn.Module | None = None,
    blend: Sequence[float] | None = None,
    masks: Sequence[ImageLike] | None = None,
    content_labels: ImageLike | None = None,
    style_labels: ImageLike | Sequence[ImageLike] | None = None,
    on_plan: OnPlan | None = None,
    on_tile: OnTile | None = None,
    **overrides: Any,
) -> Iterator[Record]:
    """Run the stylisation and yield a record after every step (the last one's image
    is the result). See :meth:`Stylizer.stylize_iter`; ``backbone``/``decoder`` replace
    the real networks (tests pass tiny random ones)."""
    return session_for(backbone, decoder).stylize_iter(
        content,
        style,
        settings,
        blend=blend,
        masks=masks,
        content_labels=content_labels,
        style_labels=style_labels,
        on_plan=on_plan,
        on_tile=on_tile,
        **overrides,
    )


def stylize(
    content: ImageLike,
    style: ImageLike | Sequence[ImageLike],
    settings: Settings | None = None,
    *,
    backbone: VGG19 | None = None,
    decoder: torch.nn.Module | None = None,
    blend: Sequence[float] | None = None,
    masks: Sequence[ImageLike] | None = None,
    content_labels: ImageLike | None = None,
    style_labels: ImageLike | Sequence[ImageLike] | None = None,
    progress: bool | Callable[[Record], None] = False,
    callback: Callable[[Record], None] | None = None,
    **overrides: Any,
) -> Image.Image | Tensor:
    """Repaint ``content`` in the style of ``style`` (Gatys et al.); return the image.

    ``content``/``style``: paths, PIL images or ``(1, 3, H, W)`` tensors in [0, 1].
    Settings come from ``settings`` and/or keyword overrides (see :class:`Settings`);
    ``method="adain"`` gives a fast one-pass result instead; ``photoreal=True`` keeps
    the result a photo (a look transferred between photos, no strokes).
    ``blend``/``masks``/``content_labels``/``style_labels``: see
    :meth:`Stylizer.stylize_iter`. ``progress=True`` draws a progress bar with an ETA on
    stderr, or give a function to receive a record per step (``callback`` too); the
    default is silence. Returns a PIL image, or a tensor on the content's device if
    ``content`` was a tensor.
    """
    return session_for(backbone, decoder).stylize(
        content,
        style,
        settings,
        blend=blend,
        masks=masks,
        content_labels=content_labels,
        style_labels=style_labels,
        progress=progress,
        callback=callback,
        **overrides,
    )
