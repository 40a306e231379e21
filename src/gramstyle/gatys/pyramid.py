"""Coarse-to-fine schedule: optimise small first, upsample, finish at full size."""

from __future__ import annotations

from dataclasses import dataclass

from ..settings import Settings


@dataclass(frozen=True)
class Scale:
    size: int  # longest side
    steps: int


def schedule(s: Settings) -> list[Scale]:
    """Scales from ``min_size`` doubling up to ``size``; coarse ones get ``coarse_steps``.

    >>> [x.size for x in schedule(Settings(size=512, min_size=128))]
    [128, 256, 512]
    >>> s = Settings(size=600, min_size=256, steps=50, coarse_steps=200)
    >>> [(x.size, x.steps) for x in schedule(s)]
    [(300, 200), (600, 50)]
    >>> len(schedule(Settings(size=512, min_size=512)))
    1
    """
    sizes = [s.size]
    while sizes[0] // 2 >= s.min_size:
        sizes.insert(0, sizes[0] // 2)
    return [Scale(z, s.coarse_steps) for z in sizes[:-1]] + [Scale(s.size, s.steps)]
