"""What the style matrix captures: the numbers behind ``gramstyle explain``, as data.

:func:`compute_explanation` runs a stylisation and returns an :class:`Explanation`:
for every style layer the style matrices ``G[l](S)`` and ``G[l](G)``, ``J_style[l]``, a
strongly and a weakly correlated channel pair of the style image with their activation
maps; the cost history; and the images made by matching one style layer alone.
Rendering (matplotlib, HTML) lives in :mod:`gramstyle.insight.report`; nothing here draws.

Every number comes from :mod:`gramstyle.nn.losses` (``gram_matrix``, ``layer_style_cost``,
``content_cost``, ``style_cost``, ``total_cost``) applied to the images *as saved in
the report*: the content and style as the network saw them at the final scale and the
result, each rounded to 8 bits. So ``load_image`` on the report's PNGs gives exactly the
tensors the numbers were computed on. (Deviation, for reproducibility: the optimiser's
own float image differs from the saved result by at most 1/510 per pixel, and its costs
by a similarly small amount.)

"Correlated", for a channel pair ``k != k'`` of the style image, means the lecture's
unnormalised ``G_kk' = sum_ij a_ijk a_ijk'``. The *strong* pair has the largest
``G_kk'``. The *weak* pair is chosen by the normalised correlation
``G_kk' / sqrt(G_kk G_k'k')`` (cosine of the two maps), the smallest among channels that
do fire (``G_kk`` at least the median of the non-zero ``G_kk``): the unnormalised value
alone would pick channels that are silent on this image, whose maps show nothing.
Both values are reported for both pairs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..errors import GramstyleError
from ..gatys import INFO as GATYS
from ..gatys.run import StepRecord
from ..image import ImageLike, load_image, pil_to_tensor, resize, tensor_to_pil
from ..method import Record
from ..nn.backbone import VGG19
from ..nn.losses import (
    content_cost,
    gram_matrix,
    layer_style_cost,
    style_cost,
    total_cost,
    tv_cost,
)
from ..presets import EXPLAIN, EXPLAIN_LAYER_SIZE, EXPLAIN_LAYER_STEPS
from ..session import Stylizer, default_backbone
from ..settings import Settings
from ..sizes import shown_side, style_side


@dataclass(frozen=True)
class ExplainStep:
    """Progress of :func:`compute_explanation`, handed to the caller as data.

    ``phase`` is ``"stylize"`` for the main run, or the layer name of a one-layer run;
    ``done``/``total`` count steps over all phases.
    """

    phase: str
    done: int
    total: int
    record: Record


@dataclass
class ChannelPair:
    """Two channels ``k != k2`` of the style image at one layer."""

    k: int
    k2: int
    G: float  # the lecture's G[l](S)_{k k2}, unnormalised
    corr: float  # G_{k k2} / sqrt(G_kk G_{k2 k2}), in [0, 1] for ReLU activations
    maps: Tensor  # (2, nH, nW): a[l](S)_{:, :, k} and a[l](S)_{:, :, k2}


@dataclass
class LayerView:
    """One style layer: style matrices of S and G, its cost, and two channel pairs."""

    name: str
    weight: float  # lambda[l]
    gram_S: Tensor  # (nC, nC) G[l](S), unnormalised
    gram_G: Tensor  # (nC, nC) G[l](G), unnormalised
    shape_S: tuple[int, int, int]  # (nC, nH, nW) of a[l](S)
    shape_G: tuple[int, int, int]  # (nC, nH, nW) of a[l](G)
    J_style: float  # J_style[l](S, G), without lambda[l] or beta
    strong: ChannelPair
    weak: ChannelPair

    @property
    def positions_S(self) -> int:
        return self.shape_S[1] * self.shape_S[2]

    @property
    def positions_G(self) -> int:
        return self.shape_G[1] * self.shape_G[2]


@dataclass
class History:
    """Costs per optimiser step of the main run, as in
    :class:`~gramstyle.gatys.run.StepRecord` (weighted; a one-pass method has none)."""

    done: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    content: list[float] = field(default_factory=list)  # alpha * J_content
    style: dict[str, list[float]] = field(default_factory=dict)  # beta * lambda[l] * J_style[l]
    scale_starts: list[int] = field(default_factory=list)  # `done` of each scale's first step

    def add(self, rec: Record) -> None:
        if not isinstance(rec, StepRecord):
            return
        if rec.step == 1:
            self.scale_starts.append(rec.done)
        self.done.append(rec.done)
        self.loss.append(rec.loss)
        self.content.append(rec.content)
        for name, v in rec.style.items():
            self.style.setdefault(name, []).append(v)


@dataclass
class Explanation:
    """Everything ``gramstyle explain`` shows; images are ``(1, 3, H, W)`` on the CPU."""

    settings: Settings
    content: Tensor  # C as the network saw it at the final scale (8-bit rounded)
    style: Tensor  # S likewise
    result: Tensor  # G, the stylised image (8-bit rounded)
    J_content: dict[str, float]  # J_content per content layer (no weight)
    J_tv: float
    J: float  # alpha J_content + beta J_style (+ tv) on these images
    layers: list[LayerView]
    history: History
    layer_size: int
    layer_steps: int
    one_layer: dict[str, Tensor]  # style layer -> image made by matching it alone (or {})
    one_layer_J: dict[str, float]  # J_style[l] of that image at the end (unweighted)
    seconds: float

    def numbers(self) -> dict[str, Any]:
        """The report's numbers as plain JSON-ready data (see :mod:`gramstyle.insight.report`)."""
        s = self.settings
        J_style = {v.name: v.J_style for v in self.layers}
        return {
            "settings": asdict(s),
            "costs": {
                "alpha": s.content_weight,
                "beta": s.beta,
                "tv_weight": s.tv_weight,
                "content_layers": dict(s.content_layers),
                "J_content": self.J_content,
                "J_content_total": sum(s.content_layers[n] * v for n, v in self.J_content.items()),
                "lambda": dict(s.style_layers),
                "J_style": J_style,
                "J_style_total": sum(s.style_layers[n] * v for n, v in J_style.items()),
                "J_tv": self.J_tv,
                "J": self.J,
            },
            "layers": {
                v.name: {
                    "lambda": v.weight,
                    "J_style": v.J_style,
                    "weighted": s.beta * v.weight * v.J_style,
                    "shape_S": list(v.shape_S),
                    "shape_G": list(v.shape_G),
                    "gram_S_trace": float(v.gram_S.trace()),
                    "gram_G_trace": float(v.gram_G.trace()),
                    "gram_S_frobenius": float(v.gram_S.norm()),
                    "gram_G_frobenius": float(v.gram_G.norm()),
                    "strong_pair": _pair_json(v.strong),
                    "weak_pair": _pair_json(v.weak),
                }
                for v in self.layers
            },
            "history": asdict(self.history),
            "one_layer": {
                "size": self.layer_size,
                "steps": self.layer_steps,
                "J_style": self.one_layer_J,
            },
            "seconds": self.seconds,
        }


def _pair_json(p: ChannelPair) -> dict[str, float | int]:
    return {"k": p.k, "k2": p.k2, "G_S": p.G, "corr": p.corr}


def as_saved(x: Tensor) -> Tensor:
    """The image exactly as an 8-bit PNG stores it and ``load_image`` reads it back."""
    return pil_to_tensor(tensor_to_pil(x.detach().cpu()))


def channel_pairs(a: Tensor) -> tuple[ChannelPair, ChannelPair]:
    """The strongest and a weak channel pair (``k != k'``) of activations ``(1, nC, nH, nW)``.

    Strong: largest unnormalised ``G_kk'``. Weak: smallest ``G_kk'/sqrt(G_kk G_k'k')``
    among channels whose ``G_kk`` is at least the median of the non-zero ones.
    """
    a = a[0].float()  # (nC, nH, nW)
    n_C = a.shape[0]
    if n_C < 2:
        raise GramstyleError("a layer needs at least two channels to show a channel pair")
    G = gram_matrix(a)  # (nC, nC)
    off = ~torch.eye(n_C, dtype=torch.bool)
    k, k2 = divmod(int(torch.where(off, G, -torch.inf).argmax()), n_C)
    d = G.diagonal()
    corr = G / (d[:, None] * d[None, :]).sqrt().clamp_min(1e-30)
    nonzero = d[d > 0]
    # Active channels: G_kk at least the median of the non-zero ones; with few channels
    # (a tiny test network) widen to all firing channels, then to all, until the weak
    # pair differs from the strong one.
    tiers = [d >= nonzero.median(), d > 0] if nonzero.numel() else []
    w, w2 = k, k2
    for active in [*tiers, torch.ones_like(d, dtype=torch.bool)]:
        pick = off & active[:, None] & active[None, :]
        if int(pick.sum()) == 0:
            continue
        w, w2 = divmod(int(torch.where(pick, corr, torch.inf).argmin()), n_C)
        if {w, w2} != {k, k2}:
            break

    def pair(i: int, j: int) -> ChannelPair:
        i, j = min(i, j), max(i, j)
        return ChannelPair(i, j, float(G[i, j]), float(corr[i, j]), a[[i, j]].clone().cpu())

    return pair(k, k2), pair(w, w2)


def _features(net: VGG19, x: Tensor, names) -> dict[str, Tensor]:
    device = next(net.parameters()).device
    with torch.no_grad():
        return {n: v.float() for n, v in net(x.to(device), names).items()}


def analyse(
    net: VGG19, s: Settings, C: Tensor, S: Tensor, G: Tensor
) -> tuple[dict[str, float], float, float, list[LayerView]]:
    """Costs and style-layer views of G against C and S, with the library's functions."""
    a_C = _features(net, C, s.content_layers)
    a_S = _features(net, S, s.style_layers)
    a_G = _features(net, G, [*s.content_layers, *s.style_layers])
    J_content = {n: float(content_cost(a_C[n], a_G[n])) for n in s.content_layers}
    zero = torch.zeros(())
    Jc = sum((w * content_cost(a_C[n], a_G[n]) for n, w in s.content_layers.items()), zero)
    Js = style_cost(a_S, a_G, s.style_layers) if s.style_layers else zero
    J_tv = tv_cost(G) if s.tv_weight else zero
    J = total_cost(Jc, Js, s.content_weight, s.beta, J_tv, s.tv_weight)
    views = []
    for name, w in s.style_layers.items():
        strong, weak = channel_pairs(a_S[name])
        views.append(
            LayerView(
                name=name,
                weight=w,
                gram_S=gram_matrix(a_S[name])[0].cpu(),
                gram_G=gram_matrix(a_G[name])[0].cpu(),
                shape_S=tuple(a_S[name].shape[1:]),  # type: ignore[arg-type]
                shape_G=tuple(a_G[name].shape[1:]),  # type: ignore[arg-type]
                J_style=float(layer_style_cost(a_S[name], a_G[name])),
                strong=strong,
                weak=weak,
            )
        )
    return J_content, float(J_tv), float(J), views


def one_layer_settings(s: Settings, layer: str, size: int, steps: int) -> Settings:
    """Settings that match only ``layer``'s style matrix, from noise, with no content cost.

    As in Gatys et al.'s style reconstructions (their Fig. 1), so always by Gatys's
    optimisation: the result shows what that one layer's style matrix alone keeps of
    the painting.
    """
    style_size = None if s.style_size is None else max(16, round(s.style_size * size / s.size))
    return s.replace(
        method=GATYS.name,
        precision="auto" if s.precision not in GATYS.precisions else s.precision,
        size=size,
        min_size=size,
        steps=steps,
        style_size=style_size,
        style_layers={layer: 1.0},
        content_layers={},
        content_weight=0.0,
        tv_weight=0.0,
        init="noise",
    )


def _shown_side(s: Settings, S: Tensor, G: Tensor) -> int:
    """The longest side ``S`` is shown at for an output like ``G`` (as a run shows it)."""
    return shown_side(s, style_side(s, s.size), S.shape[-2:], G.shape[-2:])


def compute_explanation(
    content: ImageLike,
    style: ImageLike,
    settings: Settings | None = None,
    *,
    backbone: VGG19 | None = None,
    layer_size: int = EXPLAIN_LAYER_SIZE,
    layer_steps: int = EXPLAIN_LAYER_STEPS,
    callback: Callable[[ExplainStep], None] | None = None,
    **overrides: Any,
) -> Explanation:
    """Stylise ``content`` like ``style`` and collect what the report shows.

    ``settings`` default to :class:`Settings` with :data:`gramstyle.presets.EXPLAIN`; keyword
    ``overrides`` change fields. ``callback`` gets an :class:`ExplainStep` per step.
    """
    s = settings or Settings(**EXPLAIN)
    s = s.replace(**overrides) if overrides else s
    if layer_size < 16 or layer_steps < 0:
        raise GramstyleError("layer size must be at least 16 and layer steps not negative")
    t0 = time.perf_counter()
    net = backbone or default_backbone(s)
    session = Stylizer(s, backbone=net)
    job = session.job(content, style, s)
    total = job.plan.total + layer_steps * len(s.style_layers)  # an upper bound
    done = 0

    def report(phase: str, rec: Record) -> None:
        nonlocal done, total
        done += 1
        if phase == "stylize" and rec.done == rec.total:
            total = rec.total + layer_steps * len(s.style_layers)  # small scales may drop
        if callback is not None:
            callback(ExplainStep(phase, done, total, rec))

    history = History()
    for rec in job.records():
        history.add(rec)
        report("stylize", rec)
    if job.last is None:
        raise GramstyleError("nothing to do: --steps and --coarse-steps are 0")
    G = as_saved(job.last.image)
    # C and S at the final scale, exactly as stylize_iter prepares them.
    C = as_saved(resize(load_image(content, s.size, "content image"), (G.shape[-2], G.shape[-1])))
    S_full = load_image(style, None, "style image")
    S = as_saved(resize(S_full, _shown_side(s, S_full, G)))
    J_content, J_tv, J, views = analyse(net, s, C, S, G)

    one_layer: dict[str, Tensor] = {}
    one_layer_J: dict[str, float] = {}
    for name in s.style_layers:
        s1 = one_layer_settings(s, name, layer_size, layer_steps)
        x = None
        for rec in session.stylize_iter(content, style, s1):
            report(name, rec)
            x = rec.image
        if x is None:  # layer_steps == 0: the section is left out
            continue
        one_layer[name] = as_saved(x)
        S1 = as_saved(resize(S_full, _shown_side(s1, S_full, one_layer[name])))
        a = _features(net, S1, [name])[name], _features(net, one_layer[name], [name])[name]
        one_layer_J[name] = float(layer_style_cost(*a))

    return Explanation(
        settings=s,
        content=C,
        style=S,
        result=G,
        J_content=J_content,
        J_tv=J_tv,
        J=J,
        layers=views,
        history=history,
        layer_size=layer_size,
        layer_steps=layer_steps,
        one_layer=one_layer,
        one_layer_J=one_layer_J,
        seconds=time.perf_counter() - t0,
    )
