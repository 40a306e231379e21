"""The documentation site's generated parts: the CLI reference, the benchmark tables and
the docstrings' conversion. (``make docs`` builds the whole site strictly.)"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from gramstyle.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


hooks = _load("docs_hooks", ROOT / "docs" / "hooks.py")
tables = _load("scripts_tables", ROOT / "scripts" / "tables.py")


# --- the CLI reference -------------------------------------------------------------------


def test_the_cli_reference_has_every_command_and_option():
    page = hooks.cli_reference()
    parser = build_parser()
    subs = hooks._subcommands(parser)
    assert [name for name, _, _ in subs] == [
        "stylize",
        "demo",
        "explain",
        "serve",
        "video",
        "batch",
    ]
    for name, _, sub in subs:
        section = page.split(f"## `gramstyle {name}`\n", 1)[1].split("\n## ", 1)[0]
        for action in sub._actions:
            if action.help is argparse.SUPPRESS:
                continue
            shown = action.option_strings[-1] if action.option_strings else action.metavar
            assert f"`{shown}" in section or f", {shown}" in section, (name, shown)
    # Defaults come through, from Settings (in the help) and from argparse alike.
    stylize = page.split("## `gramstyle stylize`", 1)[1]
    size_row = next(line for line in stylize.splitlines() if line.startswith("| `--size SIZE`"))
    assert "(default: 512)" in size_row
    serve = page.split("## `gramstyle serve`", 1)[1]
    assert "(default: 8000)" in next(r for r in serve.splitlines() if "`--port PORT`" in r)


def test_help_text_is_not_taken_for_markup():
    assert hooks._escape("relu1_1:0.2 | *x* <b>") == r"relu1\_1:0.2 \| \*x\* \<b\>"


def test_short_code_is_kept_on_one_line():
    html = "<p><code>--max-memory 6G</code>, <code>jobs_dir</code>, <code>a b</code></p>"
    assert hooks.on_page_content(html, None, None, None) == (
        '<p><code class="whole">--max-memory 6G</code>, <code class="whole">jobs_dir</code>, '
        "<code>a b</code></p>"
    )


def test_docstrings_become_markdown():
    pytest.importorskip("griffe", reason="the docs extra is not installed")
    rst = _load("docs_griffe_rst", ROOT / "docs" / "griffe_rst.py")
    text = "See :class:`~gramstyle.settings.Settings`::\n\n    >>> 1 + 1\n    2\n"
    assert rst.markdown(text) == "See `Settings`:\n\n```pycon\n>>> 1 + 1\n2\n```\n"


# --- the benchmark tables ----------------------------------------------------------------

PAGE = """# Benchmarks

Prose stays as it is.

<!-- table:speed -->
<!-- /table:speed -->

<!-- table:soak -->
<!-- /table:soak -->
"""

MACHINE = {
    "model": "Example EPYC",
    "cores": 2,
    "threads": 2,
    "flags": {"avx2": True, "avx512f": True, "avx512_bf16": True},
}


def speed_record(wall: float, date: str = "2026-12-01T10:00:00Z") -> dict:
    row = {"size": "256", "pair": "a+b", "dims": "256x192", "per_scale": [[128, 15], [256, 22]]}
    return {
        "schema": 1,
        "name": "speed",
        "command": "python benchmarks/speed.py --sizes 256",
        "date": date,
        "commit": {"sha": "0123456789abcdef" * 2 + "01234567", "dirty": True},
        "machine": MACHINE,
        "results": {
            "rows": [
                {**row, "tool": "gramstyle fp32", "wall": wall, "rss": 900.0, "style": 30.0},
                {**row, "tool": "gramstyle fp32", "wall": wall + 2, "rss": 910.0, "style": 32.0},
            ]
        },
    }


def write(folder: Path, name: str, data: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(data))


def test_a_record_becomes_a_row_that_cites_it(tmp_path):
    results = tmp_path / "results"
    write(results, "speed-20261201-100000.json", speed_record(10.0))
    out = tables.render(PAGE, tables.load(results))
    speed = out.split("<!-- table:speed -->", 1)[1].split("<!-- /table:speed -->")[0]
    row = next(line for line in speed.splitlines() if "a+b" in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:4] == ["256x192", "a+b", "gramstyle fp32", "15+22"]
    assert cells[4] == "11.0 (10.0–12.0, n=2)"  # median and range over the repeats
    assert cells[-3] == "Example EPYC, 2 cores, AVX-512 BF16"
    assert cells[-2] == "2026-12-01"
    assert cells[-1] == (
        "[speed-20261201-100000](../benchmarks/results/speed-20261201-100000.json) `0123456+`"
    )
    assert "Prose stays as it is." in out
    assert (
        "*No record gives this table yet: "
        "`nice -n 10 python scripts/soak.py --minutes 10` makes one.*"
    ) in out


def test_the_newest_record_gives_the_row(tmp_path):
    results = tmp_path / "results"
    write(results, "speed-20261201-100000.json", speed_record(10.0))
    write(results, "speed-20261203-100000.json", speed_record(50.0, "2026-12-03T10:00:00Z"))
    out = tables.render(PAGE, tables.load(results))
    rows = [line for line in out.splitlines() if "| a+b |" in line]
    assert len(rows) == 1 and "51.0 (50.0–52.0, n=2)" in rows[0] and "2026-12-03" in rows[0]


def test_a_record_from_before_record_py_still_renders(tmp_path):
    results = tmp_path / "results"
    legacy = json.loads((ROOT / "benchmarks" / "results" / "soak-20261207-045821.json").read_text())
    write(results, "soak-20261207-045821.json", legacy)
    out = tables.render(PAGE, tables.load(results))
    row = next(line for line in out.splitlines() if "soak-20261207-045821](" in line)
    assert "| 10.1 | 30 / 2 | 2490 / 195 / 9 / 0 |" in row
    assert "| not recorded | 2026-12-07 |" in row


def test_check_finds_a_page_that_differs_from_its_records(tmp_path, capsys):
    results, page = tmp_path / "results", tmp_path / "benchmarks.md"
    write(results, "speed-20261201-100000.json", speed_record(10.0))
    page.write_text(PAGE)
    args = ["--page", str(page), "--results", str(results)]
    assert tables.main([*args, "--check"]) == 1  # empty tables, one record
    assert "differ from the records" in capsys.readouterr().err
    assert tables.main(args) == 0  # rewrites the page
    assert tables.main([*args, "--check"]) == 0
    # A hand-edited figure is drift too.
    page.write_text(page.read_text().replace("11.0 (10.0", "9.0 (10.0"))
    assert tables.main([*args, "--check"]) == 1
    # So is a new record.
    write(results, "speed-20261205-100000.json", speed_record(20.0, "2026-12-05T10:00:00Z"))
    tables.main(args)
    assert tables.main([*args, "--check"]) == 0


def test_unknown_or_unclosed_tables_are_errors():
    with pytest.raises(SystemExit, match="unknown table 'nope'"):
        tables.render("<!-- table:nope -->\n<!-- /table:nope -->\n", [])
    with pytest.raises(SystemExit, match="no closing"):
        tables.render("<!-- table:speed -->\n", [])


def test_the_published_page_matches_its_records():
    assert tables.main(["--check"]) == 0


def test_the_examples_in_the_docstrings():
    import doctest

    assert doctest.testmod(tables).failed == 0


def test_the_readme_speed_table_comes_from_the_records(tmp_path):
    results = tmp_path / "results"
    converge = {
        **speed_record(0.0),
        "name": "defaults-converge",
        "results": {
            "options": {"size": 512, "presets": "draft,default"},
            "rows": [
                {"pair": p, "size": 512, "variant": v, "seconds": s}
                for p, v, s in [("a+b", "draft", 30.0), ("a+b", "default", 61.0)]
                + [("c+d", "draft", 34.0), ("c+d", "default", 65.0)]
            ],
        },
    }
    adain = {
        **speed_record(0.0, "2026-11-30T10:00:00Z"),
        "name": "adain",
        "results": {
            "latency": [
                {"size": 512, "tool": "gramstyle auto", "warm": [0.43, 0.44, 0.5]},
                {"size": 1024, "tool": "gramstyle auto", "warm": [1.4]},
            ]
        },
    }
    write(results, "defaults-converge-20261201-100000.json", converge)
    write(results, "adain-20261130-100000.json", adain)
    page = "## How fast\n\n<!-- table:readme-speed -->\n<!-- /table:readme-speed -->\n"
    out = tables.render(page, tables.load(results), root="")
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert [r.split(" | ")[0] for r in rows[1:]] == [
        "| one picture at the defaults, 512 px",
        "| the same with `--preset draft`, 512 px",
        "| fast mode (`--method adain`), 512 px, a painting seen before",
    ]
    assert "| fp32 | 63 (61–65, n=2) |" in rows[1]
    assert "| auto | 0.44 (0.43–0.50, n=3) |" in rows[3]
    assert "](benchmarks/results/adain-20261130-100000.json)" in rows[3]
