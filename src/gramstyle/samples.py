"""Built-in pictures: photos a dependency already ships, and paintings drawn by code.

The product ships no third-party images. The demo's content is Grace Hopper's portrait
from matplotlib's sample data and its style the procedural "swirl" painting drawn here;
:func:`terrain` renders matplotlib's Jacksboro fault elevation model as a lit landscape
(a second, very different content). Tests and benchmarks use them, so nothing that
matters needs images from outside the repository.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .errors import GramstyleError

#: Night-sky palette: deep blues, a teal, warm yellows, a pale cream (RGB).
PALETTE = [
    (18, 32, 84),
    (32, 66, 140),
    (58, 108, 178),
    (44, 130, 140),
    (230, 196, 70),
    (246, 224, 120),
    (238, 236, 210),
    (12, 18, 40),
]


def demo_content() -> Path:
    """Path of ``grace_hopper.jpg`` from matplotlib's sample data."""
    try:
        from matplotlib import cbook

        return Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    except (ImportError, OSError, ValueError) as e:
        raise GramstyleError(
            f"matplotlib's sample photo is missing ({e}); reinstall matplotlib"
        ) from None


def demo_style(size: int = 512, seed: int = 7, strokes: int = 2600) -> Image.Image:
    """A swirling brush-stroke painting: short thick strokes that follow a vortex field.

    Deterministic for a given ``seed``; about 1.5 s at 512 px.
    """
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, size, (6, 2))
    spins = rng.choice([-1.0, 1.0], 6) * rng.uniform(0.5, 1.5, 6)

    def angle(p: np.ndarray) -> float:
        # Sum of vortices (tangential flow around each centre) plus a gentle drift.
        d = p - centres
        r2 = (d * d).sum(1) + (0.08 * size) ** 2
        v = (spins[:, None] * np.stack([-d[:, 1], d[:, 0]], 1) / r2[:, None]).sum(0)
        v += np.array([0.002, 0.0005])
        return float(np.arctan2(v[1], v[0]))

    img = Image.new("RGB", (size, size), PALETTE[1])
    draw = ImageDraw.Draw(img)
    step = size / 160
    for _ in range(strokes):
        p = rng.uniform(0, size, 2)
        base = np.array(PALETTE[rng.integers(len(PALETTE))], dtype=float)
        colour = tuple(int(c) for c in np.clip(base + rng.normal(0, 12, 3), 0, 255))
        points = [tuple(p)]
        for _ in range(int(rng.integers(6, 14))):
            a = angle(p)
            p = p + step * np.array([np.cos(a), np.sin(a)])
            points.append(tuple(p))
        draw.line(points, fill=colour, width=int(rng.integers(2, 6)), joint="curve")
    return img


def terrain(size: int = 512) -> Image.Image:
    """A sunlit landscape: matplotlib's Jacksboro fault elevation model (344x403),
    hill-shaded over a terrain colour map, longest side ``size``."""
    from matplotlib import cbook
    from matplotlib.colors import LightSource
    from matplotlib.pyplot import get_cmap

    try:
        with np.load(cbook.get_sample_data("jacksboro_fault_dem.npz", asfileobj=False)) as d:
            z = d["elevation"].astype(float)
    except (OSError, ValueError, KeyError) as e:
        raise GramstyleError(f"matplotlib's sample terrain is missing ({e})") from None
    rgb = LightSource(azdeg=315, altdeg=35).shade(
        z, cmap=get_cmap("gist_earth"), vert_exag=0.05, blend_mode="overlay"
    )
    img = Image.fromarray((np.clip(rgb[..., :3], 0, 1) * 255).round().astype(np.uint8))
    w, h = img.size
    scale = size / max(w, h)
    return img.resize((round(w * scale), round(h * scale)), Image.Resampling.LANCZOS)
