"""Command-line options made from :class:`~gramstyle.settings.Settings`: one ``--option``
per field, its help, default and range from the field, so none is written twice.

A bad option is one line (:class:`Parser`), never argparse's usage dump.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import typing
from typing import Any

from .. import registry
from ..errors import GramstyleError
from ..presets import PRESET_NOTES, PRESETS, brackets
from ..ranges import Bounds, parse_layer_weights
from ..settings import Recipe, Settings, field_kinds


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line instead of usage + error."""

    def error(self, message: str) -> typing.NoReturn:
        message = re.sub(r"'([^']{40})[^']{20,}'", r"'\1...'", message)  # a 9000-digit value
        raise GramstyleError(f"{message} (see {self.prog} --help)")


def layers(text: str) -> dict[str, float]:
    """``"relu1_1:0.2,relu2_1"`` as an argparse type (:func:`parse_layer_weights`)."""
    try:
        return parse_layer_weights(text)
    except GramstyleError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def floats(text: str) -> list[float]:
    """``"0.7,0.3"`` as an argparse type."""
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of numbers"
        ) from None


def bounded_int(lo: int, hi: int, name: str) -> Any:
    """An argparse ``type`` for a whole number in ``[lo, hi]`` (for non-Settings options).

    >>> bounded_int(0, 10, "--n")("3")
    3
    """
    bounds = Bounds(lo, hi)

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be a whole number, got {text[:40]!r}"
            ) from None
        message = bounds.problem(name, value, whole=True)
        if message:
            raise argparse.ArgumentTypeError(message)
        return value

    parse.__name__ = f"whole number in {bounds}"
    return parse


def _shown(value: object) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}:{v:g}" for k, v in value.items())
    return str(value)


def _preset_help(name: str) -> str:
    parts, below = [], 0.0
    for side, values in brackets(name):
        where = f"up to {side:g} px" if math.isfinite(side) else f"above {below:g} px"
        flags = " ".join(
            f"--{k.replace('_', '-')} {'SIZE (one scale)' if v == math.inf else _shown(v)}"
            for k, v in values.items()
        )
        parts.append(f"{where}: {flags}")
        below = side
    return f"{name}: {PRESET_NOTES[name]} ({'; '.join(parts)})"


def _method_help() -> str:
    infos = [registry.info(n) for n in registry.names()]
    return "how to stylise: " + "; ".join(f"{i.name}: {i.help}" for i in infos)


def add_settings_options(parser: argparse.ArgumentParser, **defaults: object) -> None:
    """One ``--option`` per :class:`Settings` field, and ``--preset``.

    ``defaults`` are the command's own defaults (the demo's size). An option left out
    is not set on the namespace (``SUPPRESS``), so :func:`recipe_from` can layer them:
    the command's defaults, then the preset's, then the options given.
    """
    base = Settings(**defaults)  # type: ignore[arg-type]
    parser.set_defaults(settings_defaults=dict(defaults))
    group = parser.add_argument_group("settings")
    group.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        default=argparse.SUPPRESS,
        help="start from a named set of settings, which depend on --size; options "
        "given beside it win. " + "; ".join(_preset_help(n) for n in PRESETS),
    )
    for f in dataclasses.fields(Settings):
        kind, _ = field_kinds()[f.name]
        default = getattr(base, f.name)
        meta = dict(f.metadata)
        help_text = meta.pop("help", "")
        if f.name == "method":
            help_text, meta["choices"] = _method_help(), registry.names()
        if (bounds := meta.pop("bounds", None)) is not None:
            help_text += f"; {'each weight in' if kind is dict else 'range'} {bounds}"
        if kind is bool:  # a switch: --photoreal / --no-photoreal
            group.add_argument(
                f"--{f.name.replace('_', '-')}",
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=f"{help_text} (default: {'on' if default else 'off'})".replace("%", "%%"),
            )
            continue
        if default is not None:
            help_text += f" (default: {_shown(default)})"
        group.add_argument(
            f"--{f.name.replace('_', '-')}",
            dest=f.name,
            type=layers if kind is dict else kind,
            default=argparse.SUPPRESS,
            help=help_text.replace("%", "%%"),  # argparse formats help with %
            metavar=f.name.upper() if "choices" not in meta else None,
            **meta,
        )


def recipe_from(ns: argparse.Namespace) -> Recipe:
    """The command's defaults, then ``--preset``'s settings, then the options given."""
    given = {
        f.name: getattr(ns, f.name) for f in dataclasses.fields(Settings) if hasattr(ns, f.name)
    }
    base = Settings(**getattr(ns, "settings_defaults", {}))
    return Recipe(base, getattr(ns, "preset", None), given)


def settings_from(ns: argparse.Namespace) -> Settings:
    """The settings of a command's options (:func:`recipe_from`)."""
    return recipe_from(ns).settings()
