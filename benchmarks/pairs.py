"""Benchmark image pairs by name: the shared photos and paintings, plus the demo's pair.

``tubingen``, ``golden_gate`` (photos) and ``starry_night``, ``the_scream``,
``shipwreck`` (paintings) are files in ``../shared/images``; ``grace_hopper`` is
matplotlib's sample photo and ``swirl`` the demo's procedural painting (drawn once into
a cache folder, so every tool reads the same file).
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


def image_path(name: str, kind: str) -> Path:
    """Path of the ``kind`` (``content`` or ``style``) image called ``name``."""
    if name == "grace_hopper":
        from gramstyle.samples import demo_content

        return demo_content()
    if name == "swirl":
        path = Path(tempfile.gettempdir()) / "gramstyle-bench-images" / "swirl.png"
        if not path.exists():
            from gramstyle.samples import demo_style

            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.png")
            demo_style().save(tmp)
            tmp.replace(path)
        return path
    path = IMAGES / kind / f"{name}.jpg"
    if not path.exists():
        raise SystemExit(f"no {kind} image called {name!r} ({path})")
    return path


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """``"a:b,c:d"`` -> ``[("a", "b"), ("c", "d")]``; ``"all"`` -> :data:`ALL_PAIRS`."""
    if text == "all":
        return list(ALL_PAIRS)
    pairs = []
    for item in filter(None, text.split(",")):
        c, _, s = item.partition(":")
        pairs.append((c.strip(), s.strip()))
    return pairs
