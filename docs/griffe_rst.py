"""A griffe extension for the API reference: the docstrings' reStructuredText as Markdown.

The package's docstrings use Sphinx roles (``:class:`~gramstyle.Settings```) and ``::``
before literal blocks, which mkdocstrings would show as written. This shows a role as
code (``~`` keeps the last dotted part, as Sphinx does), a ``::`` as one colon, and a
doctest as a fenced ``pycon`` block; nothing else changes, and the sources are untouched.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|data|attr|exc|obj|const):`(~?)([^`]+)`")
LITERAL = re.compile(r"(\S)::$", re.MULTILINE)  # "as follows::" -> "as follows:"
BARE_LITERAL = re.compile(r"^(\s*)::$", re.MULTILINE)  # a "::" line of its own


def _role(m: re.Match[str]) -> str:
    tilde, target = m.groups()
    target = target.strip()
    if "<" in target and target.endswith(">"):  # :class:`text <target>`
        target = target.split("<", 1)[0].strip()
    elif tilde:
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


def _fence_doctests(text: str) -> str:
    """Each doctest (``>>>`` lines and their output, up to a blank line) as a fenced
    ``pycon`` block; in Markdown ``>>>`` would start nested quotes."""
    out: list[str] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.lstrip().startswith(">>>"):
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(line.lstrip())]
        block = []
        while i < len(lines) and lines[i].strip():
            block.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        if out and out[-1].strip():
            out.append("")
        out += ["```pycon", *block, "```"]  # unindented: an indented fence is code text
    return "\n".join(out)


def markdown(text: str) -> str:
    r"""A docstring's reStructuredText roles, literal markers and doctests as Markdown.

    >>> markdown("See :class:`~gramstyle.settings.Settings` and :func:`stylize`::")
    'See `Settings` and `stylize`:'
    >>> markdown("Sum.\n>>> 1 + 1\n2")
    'Sum.\n\n```pycon\n>>> 1 + 1\n2\n```'
    """
    text = ROLE.sub(_role, text)
    text = BARE_LITERAL.sub(r"\1", text)
    return _fence_doctests(LITERAL.sub(r"\1:", text))


class RstToMarkdown(griffe.Extension):
    """Rewrites every docstring griffe loads (see the module docstring)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
