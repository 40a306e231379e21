"""The README: one screen of essentials whose links, pictures and speed figures all
resolve in the repository (its "Use" commands: tests/cli/test_readme_use.py)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

README = ROOT / "README.md"


def _readme_links() -> list[str]:
    """Targets of the README's links and images (not in HTML comments), anchors cut."""
    text = re.sub(r"<!--.*?-->", "", README.read_text(encoding="utf-8"), flags=re.S)
    markdown = re.finditer(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    html = re.finditer(r'(?:src|href)="([^"#]+)(?:#[^"]*)?"', text)
    return [m.group(1) for m in [*markdown, *html]]


def test_the_readme_is_one_screen_of_essentials():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250
    headings = [line for line in lines if line.startswith("## ")]
    assert headings == ["## Install and run", "## Use", "## Features", "## How fast"]


def test_every_readme_link_and_picture_is_in_the_repository():
    local = [t for t in _readme_links() if "://" not in t]
    assert any(t.startswith("docs/img/gallery-") for t in local)
    assert [t for t in local if not (ROOT / t).exists()] == []


def test_every_readme_speed_figure_names_its_record():
    text = README.read_text(encoding="utf-8").split("\n## How fast\n", 1)[1]
    assert "<!-- table:readme-speed -->" in text  # scripts/tables.py --check: tests/test_docs.py
    for row in [line for line in text.splitlines() if line.startswith("| ")][2:]:
        records = re.findall(r"\((benchmarks/results/[^)]+\.json)\)", row)
        assert records and all((ROOT / r).exists() for r in records), row
