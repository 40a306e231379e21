"""The bad-input corpus (``tests/corpus.py``) through the CLI: every case meets the standard.

Standard (docs/bad-input.md): exit 2 with exactly one ``gramstyle: error:`` line that
names the real cause, or exit 0 for good-but-odd input; 130/143 with one line on
SIGINT/SIGTERM; no traceback, no hang, no warning or C-library noise on stderr, and no
partial or temporary file left behind.
"""

from __future__ import annotations

from collections import Counter

import pytest

from . import corpus

CASES = corpus.build_cases()


def test_corpus_covers_every_class():
    counts = Counter(c.cls for c in CASES)
    assert len(CASES) >= 80
    for cls in (
        "image",
        "options",
        "layers",
        "weights",
        "output",
        "garbage",
        "signals",
        "odd-good",
    ):
        assert counts[cls] >= 4, (cls, counts)


@pytest.mark.parametrize("case", [c for c in CASES if not c.subprocess], ids=lambda c: c.name)
def test_case_in_process(case):
    outcome, problems = corpus.run_case(case)
    assert problems == [], (outcome.stderr[-500:], problems)


@pytest.mark.parametrize("case", [c for c in CASES if c.subprocess], ids=lambda c: c.name)
def test_case_as_a_program(case):
    outcome, problems = corpus.run_case(case)
    assert problems == [], (outcome.stderr[-500:], problems)
