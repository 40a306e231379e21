"""Human units: memory sizes (``6G``) and durations (``1:15``)."""

from __future__ import annotations

import math
import re

from .errors import GramstyleError

MiB, GiB = 2**20, 2**30


_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def parse_size(text: str) -> int:
    """Bytes from ``"6G"``, ``"512M"``, ``"1.5GiB"``, ``"800mb"`` or a plain number.

    Units are binary (``1G`` = 2^30 bytes).

    >>> parse_size("6G"), parse_size("512M"), parse_size("1.5GiB"), parse_size("4096")
    (6442450944, 536870912, 1610612736, 4096)
    """
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgtKMGT]?)(i?[bB])?\s*", str(text))
    if m is None:
        raise GramstyleError(f"memory size {text!r} is not a size such as 6G or 512M")
    value = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if not math.isfinite(value) or value < 1:
        raise GramstyleError(f"memory size {text!r} is not a positive size")
    return int(value)


def duration(seconds: float) -> str:
    """``75`` -> ``"1:15"``, ``3725`` -> ``"1:02:05"``.

    >>> duration(75), duration(3725)
    ('1:15', '1:02:05')
    """
    t = max(0, round(seconds))
    h, m = divmod(t // 60, 60)
    return f"{h}:{m:02d}:{t % 60:02d}" if h else f"{m}:{t % 60:02d}"
