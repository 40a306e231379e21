"""Does starting Gatys from the AdaIN result (``--init adain``) save steps?

    python benchmarks/adain_init.py [--size 192] [--steps 150] [--pairs 2]

Runs the optimiser at one scale from each start (noise, content, adain) with the same
settings and seed, and prints markdown tables: the total cost J at checkpoints; for
each start, the first step at which it reaches the final J of the noise and content
starts; and the neutral judge's distances (EfficientNet-Lite0, lower is better) at
checkpoints. One scale keeps the comparison clean; the default pyramid starts only its
coarsest scale from the init, so there the saving applies to that scale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

IMAGES = ROOT.parent / "shared" / "images"
PAIRS = [
    ("tubingen.jpg", "starry_night.jpg"),
    ("golden_gate.jpg", "the_scream.jpg"),
    ("tubingen.jpg", "shipwreck.jpg"),
]
INITS = ("noise", "content", "adain")


def first_at_most(losses: list[float], target: float) -> int | None:
    """1-based step at which the cost first falls to ``target`` or below."""
    return next((i for i, v in enumerate(losses, start=1) if v <= target), None)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=192)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--pairs", type=int, default=2)
    ns = ap.parse_args(argv)

    from benchmarks.judge import Judge
    from gramstyle import Settings, load_image, stylize_iter
    from gramstyle.session import default_backbone

    judge = Judge()
    s = Settings(size=ns.size, min_size=ns.size, steps=ns.steps, seed=0, device="cpu")
    net = default_backbone(s)
    marks = sorted({m for m in (10, 25, 50, 100, ns.steps) if m <= ns.steps})
    measured = []
    print(f"{ns.size} px, one scale, {ns.steps} L-BFGS steps, style_weight {s.style_weight:g}\n")
    for cn, sn in PAIRS[: ns.pairs]:
        cp, sp = IMAGES / "content" / cn, IMAGES / "style" / sn
        C, S = load_image(cp, ns.size), load_image(sp)
        losses: dict[str, list[float]] = {}
        scores: dict[str, dict[int, dict[str, float]]] = {}
        for init in INITS:
            losses[init], scores[init] = [], {}
            for rec in stylize_iter(cp, sp, s, backbone=net, init=init):
                losses[init].append(rec.loss)
                if rec.step in marks or rec.step == 1:
                    scores[init][rec.step] = judge.scores(rec.image.clamp(0, 1), C, S)
        print(f"### {cn[:-4]} x {sn[:-4]}\n")
        print("| start | J at step 1 | " + " | ".join(f"J at {m}" for m in marks) + " |")
        print("|---" * (len(marks) + 2) + "|")
        for init in INITS:
            cells = [f"{losses[init][m - 1]:.4g}" for m in [1, *marks]]
            print(f"| {init} | " + " | ".join(cells) + " |")
        print("\n| start | steps to noise's final J | steps to content's final J |")
        print("|---|---|---|")
        for init in INITS:
            refs = ("noise", "content")
            cells = [str(first_at_most(losses[init], losses[r][-1])) for r in refs]
            print(f"| {init} | " + " | ".join(cells) + " |")
        print("\n| start | " + " | ".join(f"style / content at {m}" for m in [1, *marks]) + " |")
        print("|---" * (len(marks) + 2) + "|")
        for init in INITS:
            cells = [
                f"{scores[init][m]['style']:.4g} / {scores[init][m]['content']:.4g}"
                for m in [1, *marks]
            ]
            print(f"| {init} | " + " | ".join(cells) + " |")
        print(flush=True)
        measured.append(
            {
                "pair": f"{cn[:-4]} x {sn[:-4]}",
                "losses": losses,
                "scores": {init: {str(k): v for k, v in by.items()} for init, by in scores.items()},
            }
        )
    from benchmarks import record

    record.write("adain_init", {"options": vars(ns), "pairs": measured}, script=__file__, argv=argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
