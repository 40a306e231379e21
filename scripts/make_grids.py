"""Make the small picture grids of the creative-controls guide, one per control.

    python scripts/make_grids.py [--images /work/shared/images] [--out docs]

Uses the real VGG19 weights at a small size and few steps (one scale, starting from the
content), so it runs in minutes on a CPU. Writes one JPEG per control into ``--out``:
colour.jpg, blend.jpg, scale.jpg, masks.jpg, strength.jpg. The source images are not
part of the repository; pass the folder that holds content/ and style/.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from PIL import Image, ImageDraw

import gramstyle
from gramstyle.image import load_image, tensor_to_pil

LABEL_H = 14


def tile(img: Image.Image | torch.Tensor, height: int, label: str) -> Image.Image:
    """An image scaled to ``height`` with a label underneath."""
    if isinstance(img, torch.Tensor):
        img = tensor_to_pil(img)
    img = img.convert("RGB")
    w = round(img.width * height / img.height)
    out = Image.new("RGB", (w, height + LABEL_H), "white")
    out.paste(img.resize((w, height), Image.Resampling.LANCZOS), (0, 0))
    draw = ImageDraw.Draw(out)
    draw.rectangle((0, 0, w - 1, height - 1), outline="grey")  # so white masks show
    draw.text((3, height + 1), label, fill="black")
    return out


def row(tiles: list[Image.Image], gap: int = 4) -> Image.Image:
    w = sum(t.width for t in tiles) + gap * (len(tiles) - 1)
    out = Image.new("RGB", (w, max(t.height for t in tiles)), "white")
    x = 0
    for t in tiles:
        out.paste(t, (x, 0))
        x += t.width + gap
    return out


def soft_halves(content: torch.Tensor, seam: float = 0.15) -> list[torch.Tensor]:
    """Left/right masks ``(1, 1, H, W)`` with a linear ramp over ``seam`` of the width."""
    H, W = content.shape[-2:]
    x = torch.linspace(0, 1, W)
    left = ((0.5 + seam / 2 - x) / seam).clamp(0, 1).expand(1, 1, H, W).contiguous()
    return [left, 1 - left]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=Path, default=Path("/work/shared/images"))
    p.add_argument("--out", type=Path, default=Path("docs"))
    p.add_argument("--size", type=int, default=192)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--only", nargs="*", default=None, help="grid names to make (default: all)")
    ns = p.parse_args(argv)
    ns.out.mkdir(parents=True, exist_ok=True)
    content_path = ns.images / "content" / "tubingen.jpg"
    starry = ns.images / "style" / "starry_night.jpg"
    scream = ns.images / "style" / "the_scream.jpg"
    # Pinned so the grids do not move with the library's defaults; init content makes
    # few steps enough. One scale (min_size = size).
    base = gramstyle.Settings(size=ns.size, min_size=ns.size, steps=ns.steps, init="content")
    content = load_image(content_path, ns.size)
    h = content.shape[-2]
    t0 = time.perf_counter()

    def run(styles, label: str, **kw) -> torch.Tensor:
        out = gramstyle.stylize(content, styles, base, **kw)
        print(f"{label}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        return out

    def thumb(path: Path, label: str) -> Image.Image:
        return tile(load_image(path, ns.size), h, label)

    cache: dict[str, torch.Tensor] = {}

    def plain() -> torch.Tensor:
        if "plain" not in cache:
            cache["plain"] = run(starry, "plain")
        return cache["plain"]

    def masked() -> list[Image.Image]:
        masks = soft_halves(content)
        return [
            tile(masks[0].expand(1, 3, -1, -1), h, "mask 1 (starry)"),
            tile(run([starry, scream], "masks", masks=masks), h, "--mask m1 --mask m2"),
        ]

    makers = {
        "colour": lambda: [
            tile(content, h, "content"),
            thumb(starry, "style"),
            tile(plain(), h, "--preserve-color none"),
            tile(run(starry, "lum", preserve_color="luminance"), h, "luminance"),
            tile(run(starry, "match", preserve_color="match"), h, "match"),
        ],
        "blend": lambda: [
            tile(plain(), h, "--style-blend 1,0"),
            tile(run([starry, scream], "mix", blend=[0.5, 0.5]), h, "0.5,0.5"),
            tile(run(scream, "scream"), h, "0,1"),
        ],
        "scale": lambda: [
            tile(run(starry, "s0.5", style_scale=0.5), h, "--style-scale 0.5"),
            tile(plain(), h, "1 (default)"),
            tile(run(starry, "s2", style_scale=2.0), h, "2"),
        ],
        "strength": lambda: [
            tile(run(starry, "w0", strength=0.0), h, "--strength 0"),
            tile(plain(), h, "0.5 (default)"),
            tile(run(starry, "w1", strength=1.0), h, "1"),
        ],
        "masks": masked,
    }
    for name in ns.only or makers:
        path = ns.out / f"{name}.jpg"
        row(makers[name]()).save(path, quality=85)
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
