"""The README's "Use" commands parse and validate with today's CLI (no run: they name
placeholder files). A renamed flag or an out-of-range value there fails here."""

import re
import shlex
from pathlib import Path

import pytest

from gramstyle.cli import build_parser
from gramstyle.cli.options import settings_from

README = Path(__file__).resolve().parents[2] / "README.md"


def use_commands() -> list[list[str]]:
    """``gramstyle stylize ...`` commands of the first bash block under "## Use",
    continuation lines joined, comments dropped."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Use\n", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "no bash block under ## Use"
    lines = block.group(1).replace("\\\n", " ").splitlines()
    commands = [shlex.split(line, comments=True) for line in lines]
    return [c[1:] for c in commands if c[:2] == [".venv/bin/gramstyle", "stylize"]]


def test_the_use_block_has_the_size_specific_settings():
    commands = use_commands()
    assert len(commands) >= 4
    assert any("--size" in c and c[c.index("--size") + 1] == "256" for c in commands)
    assert any("--size" in c and c[c.index("--size") + 1] == "577" for c in commands)


@pytest.mark.parametrize(
    "argv", [c for c in use_commands() if "--help" not in c], ids=lambda a: " ".join(a[:8])
)
def test_use_command_parses_and_validates(argv):
    ns = build_parser().parse_args(["stylize", *argv])
    settings = settings_from(ns)  # Settings validates every value on construction
    for flag, value in zip(argv, argv[1:], strict=False):
        if flag == "--size":
            assert settings.size == int(value)
        if flag == "--init-blend":
            assert settings.init_blend == pytest.approx(float(value))
