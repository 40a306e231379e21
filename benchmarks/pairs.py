"""Benchmark image pairs by name: the shared photos and paintings, plus the demo's pair.

``tubingen``, ``golden_gate`` (photos) and ``starry_night``, ``the_scream``,
``shipwreck`` (paintings) are files in ``../shared/images``; ``grace_hopper`` is
matplotlib's sample photo, ``terrain`` the landscape of :func:`gramstyle.samples.terrain`
and ``swirl`` the demo's procedural painting (the last two drawn once into a cache
folder, so every tool reads the same file).

Every setting was tuned on :data:`ALL_PAIRS`; :data:`HELD_OUT` pairs were never looked
at while tuning, so a claim made on them is not flattered by the tuning.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT.parent / "shared" / "images"
CONTENTS = ("tubingen", "golden_gate")
STYLES = ("starry_night", "the_scream", "shipwreck")
#: The shared images' 2 x 3 pairs, then the demo's pair.
ALL_PAIRS = [(c, s) for c in CONTENTS for s in STYLES] + [("grace_hopper", "swirl")]
#: Pairs no setting was tuned on: a content and a style pairing the tuning never saw.
HELD_OUT = [("terrain", "starry_night"), ("grace_hopper", "the_scream")]


def image_path(name: str, kind: str) -> Path:
    """Path of the ``kind`` (``content`` or ``style``) image called ``name``."""
    if name == "grace_hopper":
        from gramstyle.samples import demo_content

        return demo_content()
    if name in ("swirl", "terrain"):
        path = Path(tempfile.gettempdir()) / "gramstyle-bench-images" / f"{name}.png"
        if not path.exists():
            from gramstyle.samples import demo_style, terrain

            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.png")
            (demo_style() if name == "swirl" else terrain(1024)).save(tmp)
            tmp.replace(path)
        return path
    path = IMAGES / kind / f"{name}.jpg"
    if not path.exists():
        raise SystemExit(f"no {kind} image called {name!r} ({path})")
    return path


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """``"a:b,c:d"`` -> ``[("a", "b"), ("c", "d")]``; ``all`` stands for :data:`ALL_PAIRS`
    and ``held-out`` for :data:`HELD_OUT`, alone or in the list.

    >>> parse_pairs("tubingen:shipwreck,held-out")[1:]
    [('terrain', 'starry_night'), ('grace_hopper', 'the_scream')]
    """
    groups = {"all": ALL_PAIRS, "held-out": HELD_OUT}
    pairs: list[tuple[str, str]] = []
    for item in filter(None, (i.strip() for i in text.split(","))):
        if item in groups:
            pairs += groups[item]
            continue
        c, _, s = item.partition(":")
        pairs.append((c.strip(), s.strip()))
    return pairs
