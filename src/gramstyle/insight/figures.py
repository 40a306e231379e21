"""The report's figures, drawn with matplotlib's object-oriented API on the Agg canvas
(imported lazily, so no global backend is touched)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import Tensor

from .numbers import ChannelPair, Explanation, LayerView

#: Style matrices with more channels than this also get a zoom on their top channels.
ZOOM_ABOVE = 64
ZOOM = 32


def _figure(width: float, height: float):
    from matplotlib.figure import Figure  # lazy: only the report needs matplotlib

    # No layout engine: constrained layout tripled the drawing time; margins are set by hand.
    return Figure(figsize=(width, height), dpi=100)


def _save(fig, path: Path) -> str:
    fig.savefig(path, format="png", dpi=100)
    return path.name


def _rgb(x: Tensor):
    return x[0].permute(1, 2, 0).clamp(0, 1).numpy()


def _top_channels(G: Tensor, n: int) -> Tensor:
    """Indices of the ``n`` channels with the largest ``G_kk``, strongest first."""
    return G.diagonal().argsort(descending=True)[:n]


def gram_figure(v: LayerView, beta: float, path: Path) -> str:
    """G[l](S) and G[l](G) per position (one colour scale), their difference, a zoom."""
    from matplotlib.colors import PowerNorm
    from matplotlib.ticker import MaxNLocator

    GS = v.gram_S / v.positions_S  # per position: comparable when S and G differ in size
    GG = v.gram_G / v.positions_G
    D = GS - GG
    n_C = GS.shape[0]
    zoom = _top_channels(GS, ZOOM) if n_C > ZOOM_ABOVE else None
    rows = 2 if zoom is not None else 1
    fig = _figure(13, 4.1 * rows + 0.4)
    axes = fig.subplots(rows, 3, squeeze=False)
    fig.subplots_adjust(
        left=0.05, right=0.97, bottom=0.1 / rows, top=1 - 0.16 / rows, wspace=0.3, hspace=0.35
    )
    vmax = max(float(GS.max()), float(GG.max()), 1e-12)
    dmax = max(float(D.abs().max()), 1e-12)
    for r in range(rows):
        idx = zoom if r == 1 else None
        panels = [
            (GS, "G(S)", dict(cmap="viridis", norm=PowerNorm(0.5, vmin=0, vmax=vmax))),
            (GG, "G(G)", dict(cmap="viridis", norm=PowerNorm(0.5, vmin=0, vmax=vmax))),
            (D, "G(S) − G(G)", dict(cmap="RdBu_r", vmin=-dmax, vmax=dmax)),
        ]
        for ax, (M, label, style) in zip(axes[r], panels, strict=True):
            M = M if idx is None else M[idx][:, idx]
            im = ax.imshow(
                M.numpy(), interpolation="nearest" if len(M) <= 64 else "antialiased", **style
            )
            where = "" if idx is None else f", zoom: top {len(idx)} channels of G(S)_kk"
            ax.set_title(f"{label} / (nH nW){where}", fontsize=10)
            ax.set_xlabel("channel k'" if idx is None else "rank of k'")
            ax.set_ylabel("channel k" if idx is None else "rank of k")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            fig.colorbar(im, ax=ax, shrink=0.85)
    fig.suptitle(
        f"{v.name}: nC = {n_C}, J_style[l] = {v.J_style:.4g}, λ[l] = {v.weight:g}, "
        f"β·λ[l]·J_style[l] = {beta * v.weight * v.J_style:.4g}",
        fontsize=12,
    )
    return _save(fig, path)


def pairs_figure(v: LayerView, style: Tensor, path: Path) -> str:
    """The lecture's picture: two channels' maps over the style image, and their product."""
    grey = style[0].mean(0).numpy()
    H, W = grey.shape
    fig = _figure(12, 2 * 0.95 * 4 * H / W + 0.9)
    axes = fig.subplots(2, 3, squeeze=False)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.88, wspace=0.04, hspace=0.2)

    def row(axs, p: ChannelPair, kind: str) -> None:
        maps = [p.maps[0], p.maps[1], p.maps[0] * p.maps[1]]
        titles = [
            f"{kind} pair: channel k = {p.k}",
            f"channel k' = {p.k2}",
            f"a_k · a_k' (sums to G_kk' = {p.G:.3g}; corr {p.corr:.2f})",
        ]
        for ax, m, title in zip(axs, maps, titles, strict=True):
            ax.imshow(grey, cmap="gray", vmin=0, vmax=1, extent=(0, W, H, 0))
            top = float(m.max())
            ax.imshow(
                (m / top if top > 0 else m).numpy(),
                cmap="inferno",
                alpha=0.7,
                vmin=0,
                vmax=1,
                extent=(0, W, H, 0),
                interpolation="bilinear",
            )
            ax.set_title(title, fontsize=9)
            ax.set_axis_off()

    row(axes[0], v.strong, "strong")
    row(axes[1], v.weak, "weak")
    fig.suptitle(f"{v.name}: channel pairs of the style image (each map scaled to its maximum)")
    return _save(fig, path)


def cost_figure(expl: Explanation, path: Path) -> str:
    """Content cost and each layer's weighted style cost per step, log scale."""
    h, s = expl.history, expl.settings
    fig = _figure(9, 5)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.11, top=0.93)

    def plot(values: list[float], label: str, **kw: Any) -> None:
        pts = [(d, v) for d, v in zip(h.done, values, strict=True) if v > 0]
        if pts:
            ax.plot(*zip(*pts, strict=True), label=label, **kw)

    plot(h.loss, "J (total)", color="black", linestyle="--", linewidth=1.5)
    plot(h.content, f"α·J_content (α = {s.content_weight:g})", color="black", linewidth=2)
    for name, values in h.style.items():
        plot(values, f"β·λ·J_style[{name}] (λ = {s.style_layers[name]:g})")
    for start in h.scale_starts[1:]:
        ax.axvline(start, color="grey", linestyle=":", linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel(
        "optimiser step" + (" (dotted: next pyramid scale)" if len(h.scale_starts) > 1 else "")
    )
    ax.set_ylabel(f"weighted cost (β = {s.beta:g})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Costs over the optimisation (evaluated at the start of each step)")
    return _save(fig, path)


def one_layer_figure(expl: Explanation, path: Path) -> str:
    """The style image, then the image made by matching each style layer alone."""
    items = [("style image", expl.style)] + [
        (f"{n} only\nJ_style = {expl.one_layer_J[n]:.3g}", x) for n, x in expl.one_layer.items()
    ]
    fig = _figure(2.4 * len(items), 2.9)
    axes = fig.subplots(1, len(items), squeeze=False)[0]
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.8, wspace=0.05)
    for ax, (title, x) in zip(axes, items, strict=True):
        ax.imshow(_rgb(x))
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    return _save(fig, path)


# ---------------------------------------------------------------- the page
