"""The results grid of the docs: what a newcomer gets, pair by pair.

    python scripts/results_grid.py [--size 256] [--out docs/img/results-grid.jpg]

Rows: the six benchmark pairs (two photos x three paintings). Columns: the photo, the
painting, the defaults (strength 0.5), strength 0.25 and 0.75, ``--preserve-color
luminance``, and ``--preset quality``; every picture with the library's own settings
(fp32, seed 0), nothing tuned per pair. Writes the grid and a record
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
    ("defaults (strength 0.5)", {}, None),
    ("--strength 0.25", {"strength": 0.25}, None),
    ("--strength 0.75", {"strength": 0.75}, None),
    ("--preserve-color luminance", {"preserve_color": "luminance"}, None),
    ("--preset quality", {}, "quality"),
]


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
    ns = p.parse_args(argv)

    from benchmarks.judge import Judge
    from benchmarks.pairs import image_path, parse_pairs
    from PIL import Image

    from benchmarks import record
    from gramstyle import Settings, Stylizer, load_image
    from make_grids import row, tile

    judge = Judge()
    base = Settings(size=ns.size, precision="fp32", seed=0)
    session = Stylizer(base)
    rows, cells = [], []
    for c_name, s_name in parse_pairs(ns.pairs):
        c_path, s_path = image_path(c_name, "content"), image_path(s_name, "style")
        content, style = load_image(c_path, ns.size), load_image(s_path)
        h = content.shape[-2]
        tiles = [tile(content, h, c_name), tile(load_image(s_path, ns.size), h, s_name)]
        for label, changes, preset in COLUMNS:
            s = base.with_preset(preset, **changes) if preset else base.replace(**changes)
            t0 = time.perf_counter()
            out = session.stylize(c_path, s_path, s)
            seconds = time.perf_counter() - t0
            scores = judge.scores(out, load_image(c_path, max(out.shape[-2:])), style, sizes=4)
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
            tiles.append(tile(out, h, label))
        rows.append(row(tiles))
    gap = 6
    grid = Image.new(
        "RGB", (max(r.width for r in rows), sum(r.height + gap for r in rows)), "white"
    )
    y = 0
    for r in rows:
        grid.paste(r, (0, y))
        y += r.height + gap
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = ns.out.with_name(f".{ns.out.name}.tmp.jpg")
    grid.save(tmp, quality=88)
    tmp.replace(ns.out)
    print(f"wrote {ns.out}", file=sys.stderr)
    record.write(
        "results-grid",
        {"size": ns.size, "image": str(ns.out.relative_to(ROOT)), "cells": cells},
        script=__file__,
        argv=argv,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
