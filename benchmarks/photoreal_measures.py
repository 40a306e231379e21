"""Measures of photorealistic style transfer (issue #36), on the paper's eight pairs.

    python benchmarks/photoreal_measures.py [--data ../shared/photoreal] [--size 256] \\
        [--result NAME=PATTERN ...]

Prints a markdown table with three measures per result and pair, all computed at the
result's size (content, style and label maps resized to it), as
``../shared/photoreal/README.md`` describes them:

- ``colour``: per labelled region, the Gaussian Wasserstein-2 distance between the Lab
  colours of the output's region and of the style's same-label region (the whole style
  where the style map lacks the label), area-weighted over the content's regions, in
  Lab units. Lower: the look was transferred.
- ``photoreal``: how far the output is from a locally affine map of the content's
  colours: in every 5x5 window, the residual of the least-squares fit
  ``O_c ~ a^T I + b`` (ridge ``eps = 1e-4``, so flat content cannot explain texture by
  its noise), summed over windows and channels and divided by the output's summed
  local variance. Near 0 for any affine recolouring (0.005-0.04 for the contents
  themselves, from the ridge); lower: fewer strokes and warps.
- ``structure``: SSIM's structure term ``(s_xy + C3) / (s_x s_y + C3)`` between the
  output's and the content's luminance (11x11 Gaussian windows, sigma 1.5,
  ``C3 = (0.03)^2 / 2``), the mean over the image. 1 for the content; higher: the
  photo's structure is kept.

On the eight pairs the photorealism measure tells the paper's result (0.04-0.13 at
700 px, 0.04-0.20 at 256 px) from a painterly one (plain Gatys at 256 px, 30 steps from
the content: 0.31-0.67), at least 2x apart on every pair.

Rows: the content itself (no transfer: colour distance of doing nothing, perfect
photorealism and structure), the paper's published result, and any ``--result``
(``PATTERN`` names a file per pair with ``{pair}``: an image, or a ``.pt`` tensor).
The data is for academic use: it is read by path, never copied.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import torch
from torch import Tensor
from torch.nn import functional as F

from gramstyle.image import load_image, resize
from gramstyle.nn.labels import LabelRegions, load_regions

PAIRS = (1, 3, 9, 13, 17, 21, 31, 41)
DATA = Path(__file__).resolve().parents[2] / "shared" / "photoreal"

#: Ridge of the affine fits in the photorealism measure (colour variance, [0, 1] units).
AFFINE_EPS = 1e-4
#: Half-width of its windows: 5x5, 25 samples for 4 parameters per channel.
AFFINE_RADIUS = 2


def srgb_to_lab(x: Tensor) -> Tensor:
    """``(B, 3, H, W)`` sRGB in [0, 1] -> CIE Lab (D65), float64."""
    x = x.double().clamp(0, 1)
    lin = torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    m = torch.tensor(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ],
        dtype=torch.float64,
    )
    xyz = torch.einsum("ij,bjhw->bihw", m, lin)
    white = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64).view(1, 3, 1, 1)
    t = xyz / white
    d = 6 / 29
    f = torch.where(t > d**3, t.clamp_min(1e-12) ** (1 / 3), t / (3 * d * d) + 4 / 29)
    return torch.cat(
        [116 * f[:, 1:2] - 16, 500 * (f[:, 0:1] - f[:, 1:2]), 200 * (f[:, 1:2] - f[:, 2:3])],
        dim=1,
    )


def _sqrtm(c: Tensor) -> Tensor:
    vals, vecs = torch.linalg.eigh(c)
    return vecs @ torch.diag(vals.clamp_min(0).sqrt()) @ vecs.T


def gaussian_w2(a: Tensor, b: Tensor) -> float:
    """W2 distance between Gaussians fitted to samples ``a`` ``(3, N)`` and ``b`` ``(3, M)``."""
    mu_a, mu_b = a.mean(1), b.mean(1)
    ca, cb = torch.cov(a), torch.cov(b)
    root = _sqrtm(ca)
    cross = _sqrtm(root @ cb @ root)
    d2 = float(((mu_a - mu_b) ** 2).sum() + torch.trace(ca + cb - 2 * cross))
    return math.sqrt(max(d2, 0.0))


def colour_distance(output: Tensor, style: Tensor, regions: LabelRegions) -> float:
    """Area-weighted Gaussian W2 (Lab) between each output region and its style region.

    ``regions.content`` must be at the output's size, ``regions.style`` at the style's.
    """
    lab_o, lab_s = srgb_to_lab(output)[0].flatten(1), srgb_to_lab(style)[0].flatten(1)
    total, weight = 0.0, 0.0
    for m_c, m_s in zip(regions.content, regions.style, strict=True):
        in_o, in_s = m_c.flatten() > 0.5, m_s.flatten() > 0.5
        if int(in_o.sum()) < 2 or int(in_s.sum()) < 2:
            continue
        area = float(in_o.double().mean())
        total += area * gaussian_w2(lab_o[:, in_o], lab_s[:, in_s])
        weight += area
    return total / weight


def _box(x: Tensor, r: int) -> Tensor:
    """Mean over the ``(2r+1)^2`` windows inside the image."""
    return F.avg_pool2d(x, 2 * r + 1, stride=1)


def photorealism(
    output: Tensor, content: Tensor, radius: int = AFFINE_RADIUS, eps: float = AFFINE_EPS
) -> float:
    """Local affine residual of ``output`` on ``content`` (both ``(1, 3, H, W)``), relative
    to the output's local variance: ``sum_k,c res_kc / sum_k,c var_kc(O)``."""
    img, out = content.double(), output.double()
    mu_i, mu_o = _box(img, radius), _box(out, radius)
    cov_ii = torch.stack(
        [
            torch.stack(
                [_box(img[:, i] * img[:, j], radius) - mu_i[:, i] * mu_i[:, j] for j in range(3)],
                -1,
            )
            for i in range(3)
        ],
        -2,
    )  # (1, h, w, 3, 3)
    cov_ii = cov_ii + eps * torch.eye(3, dtype=torch.float64)
    var_o = _box(out * out, radius) - mu_o * mu_o  # (1, 3, h, w)
    cov_io = torch.stack(
        [_box(img[:, i : i + 1] * out, radius) - mu_i[:, i : i + 1] * mu_o for i in range(3)], -1
    )  # (1, 3c, h, w, 3i)
    explained = (cov_io * torch.linalg.solve(cov_ii[:, None], cov_io.unsqueeze(-1))[..., 0]).sum(-1)
    residual = (var_o - explained).clamp_min(0)
    return float(residual.sum() / var_o.clamp_min(0).sum().clamp_min(1e-12))


def _gauss_window(sigma: float = 1.5, size: int = 11) -> Tensor:
    t = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def luminance(x: Tensor) -> Tensor:
    w = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64).view(1, 3, 1, 1)
    return (x.double() * w).sum(1, keepdim=True)


def structure(output: Tensor, content: Tensor) -> float:
    """Mean SSIM structure term between the luminances of ``output`` and ``content``."""
    x, y = luminance(output), luminance(content)
    k = _gauss_window()
    mx, my = F.conv2d(x, k), F.conv2d(y, k)
    sxx = (F.conv2d(x * x, k) - mx * mx).clamp_min(0)
    syy = (F.conv2d(y * y, k) - my * my).clamp_min(0)
    sxy = F.conv2d(x * y, k) - mx * my
    c3 = 0.03**2 / 2
    return float(((sxy + c3) / (sxx.sqrt() * syy.sqrt() + c3)).mean())


def measures(output: Tensor, content: Tensor, style: Tensor, regions: LabelRegions) -> dict:
    """All three measures; ``content`` and ``regions.content`` at the output's size."""
    return {
        "colour": colour_distance(output, style, regions),
        "photoreal": photorealism(output, content),
        "structure": structure(output, content),
    }


def load_pair(data: Path, pair: int, size: tuple[int, int] | None = None):
    """Content and style images and their matched regions, the content at ``size``."""
    folder = data / str(pair)
    content = load_image(folder / "content.png")
    style = load_image(folder / "style.png")
    if size is not None:
        content = resize(content, size)
    regions = load_regions(
        folder / "content_labels.png",
        folder / "style_labels.png",
        tuple(content.shape[-2:]),
        tuple(style.shape[-2:]),
    )
    return content, style, regions


def load_result(path: str) -> Tensor:
    if path.endswith(".pt"):
        return torch.load(path).float().clamp(0, 1)
    return load_image(path)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--size", type=int, default=None, help="resize every result to this long side")
    ap.add_argument("--result", action="append", default=[], help="NAME=PATTERN with {pair}")
    ap.add_argument("--pairs", default=",".join(map(str, PAIRS)))
    args = ap.parse_args(argv)
    results = {"content": None, "paper": str(args.data / "{pair}" / "reference_luan2017.png")}
    for spec in args.result:
        name, _, pattern = spec.partition("=")
        results[name] = pattern
    rows = []
    for pair in (int(p) for p in args.pairs.split(",")):
        for name, pattern in results.items():
            if pattern is None:
                out = load_image(args.data / str(pair) / "content.png")
            else:
                path = pattern.format(pair=pair)
                if not os.path.exists(path):
                    continue
                out = load_result(path)
            if args.size:
                out = resize(out, args.size)
            content, style, regions = load_pair(args.data, pair, tuple(out.shape[-2:]))
            m = measures(out, content, style, regions)
            rows.append((pair, name, out.shape[-1], out.shape[-2], m))
            print(f"{pair} {name}: {m}", file=sys.stderr, flush=True)
    print("| pair | result | size | colour (Lab W2) ↓ | photoreal ↓ | structure ↑ |")
    print("|---|---|---|---|---|---|")
    for pair, name, w, h, m in rows:
        print(
            f"| {pair} | {name} | {w}x{h} | {m['colour']:.2f} | {m['photoreal']:.4f} "
            f"| {m['structure']:.4f} |"
        )
    for name in results:
        ms = [m for _, n, _, _, m in rows if n == name]
        if ms:
            mean = {k: sum(m[k] for m in ms) / len(ms) for k in ms[0]}
            print(
                f"| mean ({len(ms)}) | {name} | | {mean['colour']:.2f} | "
                f"{mean['photoreal']:.4f} | {mean['structure']:.4f} |"
            )
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks import record

    measured = [{"pair": p, "result": n, "size": f"{w}x{h}", **m} for p, n, w, h, m in rows]
    record.write(
        "photoreal_measures",
        {"options": vars(args), "results": results, "rows": measured},
        script=__file__,
        argv=argv,
    )


if __name__ == "__main__":
    main()
