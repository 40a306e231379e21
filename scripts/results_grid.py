"""The results grid of the docs: what a newcomer gets, pair by pair.

    python scripts/results_grid.py [--size 256] [--out docs/img/results-grid.jpg]

Rows: the six benchmark pairs (two photos x three paintings). Columns: the photo, the
painting, the defaults (strength 0.82), strength 0.25, 0.5 and 0.75,
``--preserve-color luminance``, and ``--preset quality``; every picture with the
library's own settings (fp32, seed 0), nothing tuned per pair. Also
``strength-strip.jpg`` beside it: one pair at strength 0, 0.25, 0.5, 0.75, 0.82 (the
default) and 1. Writes the pictures and a record
(``benchmarks/record.py``, name ``results-grid``) with each cell's settings, time and
judge scores (``benchmarks/judge.py``), so the figure can be traced and remade.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

#: (label, settings changed from the defaults, preset)
COLUMNS: list[tuple[str, dict, str | None]] = [
    ("defaults (strength 0.82)", {}, None),
    ("--strength 0.25", {"strength": 0.25}, None),
    ("--strength 0.5", {"strength": 0.5}, None),
    ("--strength 0.75", {"strength": 0.75}, None),
    ("--preserve-color luminance", {"preserve_color": "luminance"}, None),
    ("--preset quality", {}, "quality"),
]


#: The strength strip: the same pair at these strengths and the default's
#: (docs/guides/creative-controls.md).
STRIP = (0.0, 0.25, 0.5, 0.75, 1.0)


def stack(rows: list, gap: int = 6):
    """Pictures one above the other, on white."""
    from PIL import Image

    out = Image.new("RGB", (max(r.width for r in rows), sum(r.height + gap for r in rows)), "white")
    y = 0
    for r in rows:
        out.paste(r, (0, y))
        y += r.height + gap
    return out


def rel(path: Path) -> str:
    """A path as the record names it: from the repository's root when inside it."""
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def save(image, path: Path) -> None:
    """Write a JPEG whole (aside, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.jpg")
    image.save(tmp, quality=88)
    tmp.replace(path)
    print(f"wrote {path}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "results-grid.jpg")
    p.add_argument(
        "--pairs",
        default="tubingen:starry_night,tubingen:the_scream,"
        "tubingen:shipwreck,golden_gate:starry_night,golden_gate:the_scream,"
        "golden_gate:shipwreck",
    )
    p.add_argument("--strip", default="tubingen:starry_night", help="the strength strip's pair")
    ns = p.parse_args(argv)

    from benchmarks.judge import Judge
    from benchmarks.pairs import image_path, parse_pairs
    from torch import Tensor

    from benchmarks import record
    from gramstyle import Settings, Stylizer, load_image
    from gramstyle.image import pil_to_tensor
    from gramstyle.settings import DEFAULT_STRENGTH
    from make_grids import row, tile

    judge = Judge()
    base = Settings(size=ns.size, precision="fp32", seed=0)
    session = Stylizer(base)
    cells: list[dict] = []
    made: dict[tuple, object] = {}

    def make(c_name: str, s_name: str, label: str, changes: dict, preset: str | None):
        key = (c_name, s_name, tuple(sorted(changes.items())), preset)
        if key in made:
            return made[key]
        c_path, s_path = image_path(c_name, "content"), image_path(s_name, "style")
        s = base.with_preset(preset, **changes) if preset else base.replace(**changes)
        t0 = time.perf_counter()
        out = session.stylize(c_path, s_path, s)
        out = out if isinstance(out, Tensor) else pil_to_tensor(out)  # paths in: a PIL image
        seconds = time.perf_counter() - t0
        content = load_image(c_path, max(out.shape[-2:]))
        scores = judge.scores(out, content, load_image(s_path), sizes=4)
        cells.append(
            {
                "pair": f"{c_name}+{s_name}",
                "column": label,
                "changes": changes,
                "preset": preset,
                "seconds": round(seconds, 1),
                "style": round(scores["style"], 2),
                "content": round(scores["content"], 2),
            }
        )
        print(cells[-1], file=sys.stderr, flush=True)
        made[key] = out
        return out

    def inputs(c_name: str, s_name: str) -> tuple[list, int]:
        content = load_image(image_path(c_name, "content"), ns.size)
        h = content.shape[-2]
        style = load_image(image_path(s_name, "style"), ns.size)
        return [tile(content, h, c_name), tile(style, h, s_name)], h

    rows = []
    for c_name, s_name in parse_pairs(ns.pairs):
        tiles, h = inputs(c_name, s_name)
        for label, changes, preset in COLUMNS:
            tiles.append(tile(make(c_name, s_name, label, changes, preset), h, label))
        rows.append(row(tiles))
    save(stack(rows), ns.out)
    c_name, s_name = parse_pairs(ns.strip)[0]
    tiles, h = inputs(c_name, s_name)
    for k in sorted({*STRIP, DEFAULT_STRENGTH}):
        label = f"--strength {k}" + (" (default)" if k == DEFAULT_STRENGTH else "")
        tiles.append(tile(make(c_name, s_name, label, {"strength": k}, None), h, label))
    strip = ns.out.with_name("strength-strip.jpg")
    save(row(tiles), strip)
    record.write(
        "results-grid",
        {
            "size": ns.size,
            "images": [rel(ns.out), rel(strip)],
            "cells": cells,
        },
        script=__file__,
        argv=argv,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
