"""The sane range of every number a setting holds, and the form of a layer list.

:class:`~gramstyle.settings.Settings` refuses values outside these ranges (and NaN and
infinity) with one line, and the CLI prints each range in ``--help``, so a range is
written once, here.
"""

from __future__ import annotations

import math
import numbers
import re
import typing
from dataclasses import dataclass
from typing import Any

from .errors import GramstyleError


@dataclass(frozen=True)
class Bounds:
    """The sane range of a numeric setting (of each weight, for a layer list).

    :class:`Settings` refuses values outside it (and NaN/infinity) with a one-line
    :class:`~gramstyle.errors.GramstyleError`, and the CLI prints it in ``--help``, so
    the range is written once, here. The limits are what makes sense on any machine
    (e.g. no output side above 16384 px); whether a run fits *this* machine's memory is
    :func:`gramstyle.device.check_ram`'s question.

    >>> str(Bounds(16, 16384)), str(Bounds(0, 10, lo_open=True))
    ('[16, 16384]', '(0, 10]')
    >>> Bounds(0, 1).problem("alpha", float("nan"))
    'alpha must be a finite number, got nan'
    """

    lo: float
    hi: float
    lo_open: bool = False  # lo itself is excluded (a step size must be above 0)
    hi_text: str = ""  # how --help writes hi when the number is unwieldy
    hi_open: bool = False  # hi itself is excluded

    def __str__(self) -> str:
        hi = self.hi_text or f"{self.hi:g}"
        return f"{'(' if self.lo_open else '['}{self.lo:g}, {hi}{')' if self.hi_open else ']'}"

    def problem(self, name: str, value: Any, whole: bool = False) -> str | None:
        """Why ``value`` is not acceptable for the setting ``name``, or None."""
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return f"{name} must be a number, got {value!r}"
        if whole and not isinstance(value, numbers.Integral):
            return f"{name} must be a whole number, got {value!r}"
        if not isinstance(value, numbers.Integral) and not math.isfinite(value):
            return f"{name} must be a finite number, got {value}"
        v = typing.cast(float, value)  # an int beyond float range compares exactly too
        if (
            v < self.lo
            or v > self.hi
            or (self.lo_open and v == self.lo)
            or (self.hi_open and v == self.hi)
        ):
            shown = str(value)
            if len(shown) > 24:  # a number of 60 digits says nothing more than its size
                shown = f"{shown[:8]}... ({len(shown)} digits)"
            return f"{name} must be in {self}, got {shown}"
        return None


#: Longest image side any setting may ask for: 16384 px (268 Mpx squared; far past
#: what the optimisation fits in memory, which validate.check_memory refuses sooner).
SIDES = Bounds(16, 16384)
STEPS = Bounds(0, 100_000)
WEIGHTS = Bounds(0, 1e12)
UNIT = Bounds(0, 1)
SEEDS = Bounds(0, 2**64 - 1, hi_text="2^64-1")  # what torch.Generator.manual_seed accepts
#: lr is in pixel units (pixels are in [0, 1]): above 10 a step only saturates pixels.
STEP_SIZES = Bounds(0, 10, lo_open=True)
TILES = Bounds(64, 8192)
FALLOFFS = Bounds(0, 10)
STYLE_SCALES = Bounds(0, 10, lo_open=True)
#: A pinned sha256 is its 64 hex digits or a prefix of at least 8 (torchvision pins 8).
SHA256_PREFIX = re.compile(r"[0-9a-fA-F]{8,64}")


def parse_layer_weights(text: str) -> dict[str, float]:
    """Parse ``"relu1_1:0.2,relu2_1"`` into ``{"relu1_1": 0.2, "relu2_1": 1.0}``.

    A name without a weight gets 1. Raises :class:`~gramstyle.errors.GramstyleError`
    on a weight that is not a number, a weight without a name, or a layer named twice
    (a later weight silently winning would hide a typo).

    >>> parse_layer_weights("relu4_2")
    {'relu4_2': 1.0}
    >>> parse_layer_weights("relu1_1:0.5, relu2_1:0.25")
    {'relu1_1': 0.5, 'relu2_1': 0.25}
    """
    out: dict[str, float] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, _, weight = part.partition(":")
        name = name.strip()
        if not name:
            raise GramstyleError(f"a layer weight without a layer name in {text!r}")
        if name in out:
            raise GramstyleError(f"layer {name} is given twice in {text!r}")
        try:
            out[name] = float(weight) if weight.strip() else 1.0
        except ValueError:
            raise GramstyleError(
                f"layer weight {weight.strip()!r} of {name} is not a number"
            ) from None
    if not out:
        raise GramstyleError(f"no layers in {text!r}")
    return out
