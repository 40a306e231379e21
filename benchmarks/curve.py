"""Quality against the final scale's step budget, from one run per pair.

Runs gramstyle (fp32) with a given coarse budget and a final budget ``--steps``, and
scores the final scale's image after each of ``--at`` steps with the neutral judge
(``benchmarks/judge.py``: style and content distance in EfficientNet-Lite0, lower is
better). Up to step k a run is the same as a run with a final budget of k, so one run
gives the whole quality-vs-budget curve; J per step of every scale goes to
``--out/runs.jsonl`` (to tune ``--stop-tol`` / ``--stop-window``). Quality only (no
timings): run it ``nice -n 19``.

    python benchmarks/curve.py --pairs tubingen:starry_night --size 512 \\
        --coarse-steps 30 --steps 160 --at 10,20,40,80,160 --name ref --out runs/curve
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pairs", default="tubingen:starry_night", help="content:style,... or all")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--coarse-steps", type=int, default=None, help="default: Settings'")
    p.add_argument("--steps", type=int, default=None, help="final budget (default: Settings')")
    p.add_argument(
        "--at",
        default="10,15,20,25,30,40,60,80,120,160",
        help="final-scale steps at which to judge",
    )
    p.add_argument("--name", default="run", help="label of this curve")
    p.add_argument("--out", default=None, help="folder for runs.jsonl")
    ns = p.parse_args(argv)

    from benchmarks.judge import Judge
    from benchmarks.pairs import image_path, parse_pairs
    from gramstyle import Settings, Stylizer, load_image

    at = {int(k) for k in ns.at.split(",")}
    judge = Judge()
    session = Stylizer(Settings(precision="fp32"))
    kw: dict = {"size": ns.size, "precision": "fp32"}
    if ns.coarse_steps is not None:
        kw["coarse_steps"] = ns.coarse_steps
    if ns.steps is not None:
        kw["steps"] = ns.steps
    print("| pair | curve | final steps | J | style | content |")
    print("|---|---|---|---|---|---|")
    curves = []
    for c_name, s_name in parse_pairs(ns.pairs):
        c_path, s_path = image_path(c_name, "content"), image_path(s_name, "style")
        style = load_image(s_path)
        t0, rows, traj, content = time.time(), [], [], None
        for rec in session.stylize_iter(c_path, s_path, **kw):
            traj.append([rec.scale, rec.step, rec.loss])
            if rec.scale == rec.scales - 1 and (rec.step in at or rec.step == rec.total):
                img = rec.image.detach().clamp(0, 1)
                if content is None:
                    content = load_image(c_path, max(img.shape[-2:]))
                sc = judge.scores(img, content, style)
                rows.append({"k": rec.step, "J": rec.loss, **sc})
                print(
                    f"| {c_name}+{s_name} | {ns.name} | {rec.step} | {rec.loss:.4g} "
                    f"| {sc['style']:.3g} | {sc['content']:.3g} |",
                    flush=True,
                )
        curves.append({"pair": f"{c_name}+{s_name}", "name": ns.name, "rows": rows})
        if ns.out:
            out = Path(ns.out)
            out.mkdir(parents=True, exist_ok=True)
            with open(out / "runs.jsonl", "a") as f:
                f.write(
                    json.dumps(
                        {
                            "pair": f"{c_name}+{s_name}",
                            "name": ns.name,
                            "settings": kw,
                            "rows": rows,
                            "traj": traj,
                            "seconds": time.time() - t0,
                        }
                    )
                    + "\n"
                )
    from benchmarks import record

    record.write(
        "curve", {"options": vars(ns), "settings": kw, "curves": curves}, script=__file__, argv=argv
    )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
