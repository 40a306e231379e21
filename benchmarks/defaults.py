"""The defaults against the draft preset (the defaults before they ran to convergence),
and the strength control's calibration, scored by the neutral judge.

    python benchmarks/defaults.py converge --pairs all --size 512 [--presets draft,default]
    python benchmarks/defaults.py strength --pairs all --size 256 --at 0,0.25,0.5,0.75,1

``converge``: each pair runs each preset in turn (alternating, same inputs, fp32); a row
has the time, the steps of each scale, the last five per-step relative changes of the
final scale's best J (the stopping rule's evidence), and the judge's style and content
distances (``benchmarks/judge.py``; lower is better). ``strength``: the default run at
each ``--strength``, judged (quality only: no timings). Each writes one record
(``benchmarks/record.py``); ``--out DIR`` also saves the pictures.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_one(session, c_path, s_path, settings, judge, style, out: Path | None, name: str):
    """One stylisation: time, steps per scale, the final scale's last J changes, scores."""
    from gramstyle import load_image
    from gramstyle.image import save_image

    t0 = time.perf_counter()
    curves: dict[int, list[float]] = {}
    last = None
    for rec in session.stylize_iter(c_path, s_path, settings):
        curves.setdefault(rec.scale, []).append(rec.best)
        last = rec
    seconds = time.perf_counter() - t0
    assert last is not None
    img = last.image.detach().clamp(0, 1)
    final = curves[max(curves)]
    changes = [(a - b) / a for a, b in zip(final[-6:-1], final[-5:], strict=True)]
    content = load_image(c_path, max(img.shape[-2:]))
    scores = judge.scores(img, content, style, sizes=4)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        save_image(img, out / f"{name}.png", overwrite=True)
    return {
        "seconds": round(seconds, 2),
        "steps": [len(curves[k]) for k in sorted(curves)],
        "J": round(final[-1], 5),
        "last_changes": [round(c, 5) for c in changes],
        "style": round(scores["style"], 3),
        "content": round(scores["content"], 3),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("what", choices=("converge", "strength"))
    p.add_argument("--pairs", default="all", help="content:style,... or all")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--presets", default="draft,default", help="converge: presets to alternate")
    p.add_argument("--at", default="0,0.125,0.25,0.375,0.5,0.625,0.75,0.875,1", help="strengths")
    p.add_argument("--decades", default=None, help="strength: style weights 25*10^x instead, x,...")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--style-layers", default=None, help="layer:weight,... over every variant's")
    p.add_argument("--out", default=None, help="folder for the pictures")
    ns = p.parse_args(argv)

    from benchmarks import record
    from benchmarks.judge import Judge
    from benchmarks.pairs import image_path, parse_pairs
    from gramstyle import Settings, Stylizer, load_image

    judge = Judge()
    base = Settings(size=ns.size, precision="fp32", seed=ns.seed)
    session = Stylizer(base)
    out = Path(ns.out) if ns.out else None
    rows = []
    for c_name, s_name in parse_pairs(ns.pairs):
        c_path, s_path = image_path(c_name, "content"), image_path(s_name, "style")
        style = load_image(s_path)
        if ns.what == "converge":
            variants = [
                (name, base if name == "default" else base.with_preset(name))
                for name in ns.presets.split(",")
            ]
        elif ns.decades:  # the style weight itself, 25 * 10^x, at the default strength
            variants = [
                (f"decades {x}", base.replace(style_weight=25 * 10 ** float(x)))
                for x in ns.decades.split(",")
            ]
        else:
            variants = [
                (f"strength {k}", base.replace(strength=float(k))) for k in ns.at.split(",")
            ]
        for name, settings in variants:
            if ns.style_layers:
                layers = dict(x.split(":") for x in ns.style_layers.split(","))
                settings = settings.replace(style_layers={k: float(v) for k, v in layers.items()})
            tag = f"{c_name}+{s_name}-{ns.size}-{name.replace(' ', '')}"
            row = {"pair": f"{c_name}+{s_name}", "size": ns.size, "variant": name}
            # the style weight in effect, in decades of the default's (strength maps onto it)
            row["decades"] = round(math.log10(settings.beta / Settings().style_weight), 4)
            row.update(run_one(session, c_path, s_path, settings, judge, style, out, tag))
            rows.append(row)
            print(row, flush=True)
    record.write(
        f"defaults-{ns.what}", {"options": vars(ns), "rows": rows}, script=__file__, argv=argv
    )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
