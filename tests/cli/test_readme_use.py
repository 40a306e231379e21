"""The README's "Use" section runs against today's interface: every command parses and
its settings validate with the real parser, and every call of the Python block binds to
the real signatures and builds real ``Settings`` (nothing is stylised: the files named
are placeholders). A renamed flag or keyword, or an out-of-range value, fails here."""

from __future__ import annotations

import inspect
import re
import shlex
import sys
from dataclasses import fields
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

import gramstyle
from gramstyle.cli import build_parser
from gramstyle.cli.options import settings_from

README = Path(__file__).resolve().parents[2] / "README.md"


def use_block(language: str) -> str:
    """The first ``language`` code block under "## Use"."""
    section = README.read_text(encoding="utf-8").split("\n## Use\n", 1)[1].split("\n## ")[0]
    block = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert block, f"no {language} block under ## Use"
    return block.group(1)


def use_commands() -> list[list[str]]:
    """The ``gramstyle`` commands of the bash block, continuation lines joined, comments
    dropped, without the program name."""
    lines = use_block("bash").replace("\\\n", " ").splitlines()
    commands = [shlex.split(line, comments=True) for line in lines]
    return [c[1:] for c in commands if c and c[0] == ".venv/bin/gramstyle"]


def test_the_use_block_shows_the_common_uses():
    commands = use_commands()
    assert len(commands) >= 5
    flags = {arg for c in commands for arg in c if arg.startswith("--")}
    assert {"--preset", "--method", "--size", "--max-memory", "--strength"} <= flags
    assert ["serve"] in commands


@pytest.mark.parametrize("argv", use_commands(), ids=lambda a: " ".join(a[:6]))
def test_use_command_parses_and_validates(argv):
    ns = build_parser().parse_args(argv)
    if argv[0] != "stylize":
        return
    settings = settings_from(ns)  # Settings validates every value on construction
    for flag, value in zip(argv, argv[1:], strict=False):
        if flag == "--size":
            assert settings.size == int(value)
        if flag == "--strength":
            assert settings.strength == pytest.approx(float(value))
        if flag == "--method":
            assert settings.method == value


class _Image:
    def save(self, path: str) -> None:
        assert path.endswith(".png")


def _settings(fn, *args, **kwargs) -> gramstyle.Settings:
    """Bind a call to ``fn``'s real signature; return the settings it would run with."""
    bound = inspect.signature(fn).bind(*args, **kwargs)
    base = bound.arguments.get("settings") or gramstyle.Settings()
    return base.replace(**bound.arguments.get("overrides", {}))


def test_the_python_block_calls_the_real_interface(monkeypatch):
    made: list[gramstyle.Settings] = []

    def stylize(*args, **kwargs):
        made.append(_settings(gramstyle.stylize, *args, **kwargs))
        return _Image()

    class Stylizer:
        def __init__(self, *args, **kwargs):
            inspect.signature(gramstyle.Stylizer).bind(*args, **kwargs)

        def stylize_iter(self, *args, **kwargs):
            made.append(_settings(gramstyle.Stylizer.stylize_iter, self, *args, **kwargs))
            # a record with the real record's fields only: rec.typo fails
            yield SimpleNamespace(**{f.name: 0 for f in fields(gramstyle.StepRecord)})

    api = ModuleType("gramstyle")  # what `import gramstyle` in the block gets
    api.stylize, api.Stylizer, api.Settings = stylize, Stylizer, gramstyle.Settings  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gramstyle", api)
    exec(compile(use_block("python"), "README.md", "exec"), {})
    assert len(made) >= 5
    assert any(s.method == "adain" for s in made)
    assert any(s.max_memory == "6G" and s.size == 4096 for s in made)
    assert any(s.steps == gramstyle.Settings.preset("draft").steps for s in made)
