"""``gramstyle explain``: an :class:`~gramstyle.insight.numbers.Explanation` as an HTML report.

The report is a folder: ``index.html``, PNG figures made with matplotlib (imported
lazily, object-oriented API with the Agg canvas, so no global backend is touched), the
three images the numbers refer to, and ``numbers.json`` with every number shown. The
folder is built beside its destination and renamed into place when complete.
"""

from __future__ import annotations

import html
import json
import os
import shlex
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

from ..fs import atomic_folder
from ..fs import output_dir as check_output_dir
from ..image import ImageLike, save_image
from ..nn.backbone import VGG19
from ..presets import EXPLAIN, EXPLAIN_LAYER_SIZE, EXPLAIN_LAYER_STEPS
from ..settings import Settings
from . import DEFAULT_OUTPUT, MARKER
from .figures import ZOOM, cost_figure, gram_figure, one_layer_figure, pairs_figure
from .numbers import ExplainStep, Explanation, compute_explanation

# ---------------------------------------------------------------- the output folder


def check_report_dir(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Raise a GramstyleError now if writing a report to ``path`` would fail or clobber
    (:func:`gramstyle.fs.output_dir`; only a folder holding :data:`MARKER` is replaced).
    """
    return check_output_dir(path, overwrite, marker=MARKER, kind="gramstyle report")


def write_report(
    expl: Explanation, output_dir: str | os.PathLike, command: str, overwrite: bool = False
) -> Path:
    """Render ``expl`` into ``output_dir``: built in a hidden folder beside it, then renamed."""
    out = check_report_dir(output_dir, overwrite)
    with atomic_folder(out) as tmp:
        render(expl, tmp, command)
    return out


# ---------------------------------------------------------------- reproducing it


def _arg(value: Any) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}:{v!r}" for k, v in value.items())
    return repr(value) if isinstance(value, float) else str(value)


def command_line(
    content: ImageLike,
    style: ImageLike,
    output_dir: str | os.PathLike,
    settings: Settings,
    layer_size: int = EXPLAIN_LAYER_SIZE,
    layer_steps: int = EXPLAIN_LAYER_STEPS,
) -> str:
    """The ``gramstyle explain`` command that makes this report again.

    Options are those that differ from explain's defaults. Inputs given as images
    rather than paths are named by the copies in the report (as the network saw them).

    >>> command_line("c.jpg", "my style.jpg", "out", Settings(**EXPLAIN, seed=3))
    "gramstyle explain c.jpg 'my style.jpg' --output out --seed 3 --overwrite"
    """
    base = Settings(**EXPLAIN)

    def path(x: ImageLike, name: str) -> str:
        return os.fspath(x) if isinstance(x, (str, os.PathLike)) else str(Path(output_dir, name))

    argv = ["gramstyle", "explain", path(content, "content.png"), path(style, "style.png")]
    argv += ["--output", os.fspath(output_dir)]
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if value != getattr(base, f.name):
            argv += [f"--{f.name.replace('_', '-')}", _arg(value)]
    if layer_size != EXPLAIN_LAYER_SIZE:
        argv += ["--layer-size", str(layer_size)]
    if layer_steps != EXPLAIN_LAYER_STEPS:
        argv += ["--layer-steps", str(layer_steps)]
    argv.append("--overwrite")  # the report folder exists once you read it
    return shlex.join(argv)


def explain(
    content: ImageLike,
    style: ImageLike,
    output_dir: str | os.PathLike = DEFAULT_OUTPUT,
    settings: Settings | None = None,
    *,
    backbone: VGG19 | None = None,
    layer_size: int = EXPLAIN_LAYER_SIZE,
    layer_steps: int = EXPLAIN_LAYER_STEPS,
    callback: Callable[[ExplainStep], None] | None = None,
    overwrite: bool = False,
    command: str | None = None,
    **overrides: Any,
) -> Path:
    """Stylise ``content`` like ``style`` and write a report of what the style matrix does.

    Settings default to :data:`gramstyle.presets.EXPLAIN` (small, fast);
    ``overrides`` change fields. ``callback`` gets an
    :class:`~gramstyle.insight.numbers.ExplainStep` per optimiser step. ``command`` is the
    command line shown in the report (default: one that reproduces it). Returns the
    report folder; ``index.html`` is the page, ``numbers.json`` the numbers.
    """
    check_report_dir(output_dir, overwrite)
    expl = compute_explanation(
        content,
        style,
        settings,
        backbone=backbone,
        layer_size=layer_size,
        layer_steps=layer_steps,
        callback=callback,
        **overrides,
    )
    if command is None:
        command = command_line(content, style, output_dir, expl.settings, layer_size, layer_steps)
    return write_report(expl, output_dir, command, overwrite)


CSS = """
body { font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }
img { max-width: 100%; height: auto; }
.images { display: flex; gap: 1rem; flex-wrap: wrap; }
.images figure { margin: 0; }
.images img { width: 16rem; image-rendering: pixelated; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
td, th { border: 1px solid #ccc; padding: .2rem .6rem; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
pre { background: #f6f6f6; padding: .7rem; overflow-x: auto; white-space: pre-wrap; }
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _img(src: str, alt: str) -> str:
    return f'<img src="{_e(src)}" alt="{_e(alt)}">'


def render(expl: Explanation, folder: Path, command: str) -> None:
    """Write the page, its figures and ``numbers.json`` into ``folder``."""
    s = expl.settings
    for name, x in [("content", expl.content), ("style", expl.style), ("result", expl.result)]:
        save_image(x, folder / f"{name}.png", overwrite=True)
        os.chmod(folder / f"{name}.png", 0o644)  # save_image's temporary file is private
    grams = [gram_figure(v, s.beta, folder / f"gram_{v.name}.png") for v in expl.layers]
    pairs = [pairs_figure(v, expl.style, folder / f"pairs_{v.name}.png") for v in expl.layers]
    costs = cost_figure(expl, folder / "costs.png") if expl.history.done else None
    alone = one_layer_figure(expl, folder / "one_layer.png") if expl.one_layer else None

    numbers = {
        "gramstyle_report": 1,
        "command": command,
        **expl.numbers(),
        "files": {
            "content": "content.png",
            "style": "style.png",
            "result": "result.png",
            "figures": [*grams, *pairs, *([costs] if costs else []), *([alone] if alone else [])],
        },
        "definitions": {
            "G": "style matrix G[l]_kk' = sum_ij a[l]_ijk a[l]_ijk' (gramstyle.losses.gram_matrix)",
            "J_style": "J_style[l] = sum_kk' (G(S)-G(G))^2 / (2 nH nW nC)^2, unweighted "
            "(gramstyle.losses.layer_style_cost)",
            "J_content": "J_content = sum (a(C)-a(G))^2 / (4 nH nW nC) (content_cost)",
            "corr": "G_kk' / sqrt(G_kk G_k'k')",
            "images": "numbers refer to content.png, style.png, result.png as saved (8 bit)",
            "history": "weighted costs per step (alpha J_content, beta lambda J_style[l])",
        },
    }
    (folder / MARKER).write_text(json.dumps(numbers, indent=1) + "\n")

    c = numbers["costs"]
    layer_rows = [
        [
            v.name,
            f"{v.shape_S[0]} × {v.shape_S[1]} × {v.shape_S[2]}",
            f"{v.weight:g}",
            f"{v.J_style:.6g}",
            f"{s.beta * v.weight * v.J_style:.6g}",
            f"({v.strong.k}, {v.strong.k2}): {v.strong.G:.4g} / {v.strong.corr:.2f}",
            f"({v.weak.k}, {v.weak.k2}): {v.weak.G:.4g} / {v.weak.corr:.2f}",
        ]
        for v in expl.layers
    ]
    setting_rows = [[f.name, _arg(getattr(s, f.name))] for f in fields(Settings)]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>gramstyle explain: what the style matrix captures</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>What the style matrix captures</h1>",
        "<p>Style, in Gatys et al.'s method, is the correlation between the channels of a "
        "layer: the style matrix <code>G[l]<sub>kk'</sub> = Σ<sub>i,j</sub> a<sub>ijk</sub> "
        "a<sub>ijk'</sub></code>. The result below was optimised until its style matrices "
        "matched the painting's at the style layers, while its content matched the photo.</p>",
        "<div class='images'>",
        *(
            f"<figure>{_img(f'{n}.png', n)}<figcaption>{n} ({w}×{h})</figcaption></figure>"
            for n, x in [("content", expl.content), ("style", expl.style), ("result", expl.result)]
            for h, w in [tuple(x.shape[-2:])]
        ),
        "</div>",
        _table(
            ["cost", "value"],
            [
                ["J_content (Σ weight·J_content[l])", f"{c['J_content_total']:.6g}"],
                ["J_style = Σ λ[l]·J_style[l]", f"{c['J_style_total']:.6g}"],
                [
                    f"J = α·J_content + β·J_style (α = {s.content_weight:g}, β = {s.beta:g})",
                    f"{c['J']:.6g}",
                ],
            ],
        ),
        "<h2>1. Style matrices, layer by layer</h2>",
        "<p>Each row: <code>G[l](S)</code> of the style image and <code>G[l](G)</code> of the "
        "result, on one colour scale (square-root colour map, so weaker entries stay "
        "visible), and their difference. Shown divided by the number of positions "
        "<code>nH·nW</code>, so images of different sizes compare; the lecture's cost "
        "<code>J_style[l] = ‖G(S) − G(G)‖²/(2 nH nW nC)²</code> is the same whether or not "
        "this factor is taken out first. Layers with many channels also show the "
        f"{ZOOM} channels with the largest <code>G(S)<sub>kk</sub></code>.</p>",
        _table(
            [
                "layer",
                "nC × nH × nW (style)",
                "λ[l]",
                "J_style[l]",
                "β·λ[l]·J_style[l]",
                "strong pair: G_kk' / corr",
                "weak pair: G_kk' / corr",
            ],
            layer_rows,
        ),
        *(_img(g, f"style matrices of {v.name}") for g, v in zip(grams, expl.layers, strict=True)),
        "<h2>2. Which channels fire together</h2>",
        "<p>For each layer, on the style image: the channel pair <code>k ≠ k'</code> with the "
        "largest <code>G<sub>kk'</sub></code> (strong), and a pair of active channels with the "
        "smallest normalised correlation <code>corr = G<sub>kk'</sub> / √(G<sub>kk</sub> "
        "G<sub>k'k'</sub>)</code> (weak; among channels whose <code>G<sub>kk</sub></code> is at "
        "least the median, since silent channels would trivially give 0). The third map is "
        "their product, whose sum is <code>G<sub>kk'</sub></code>: strong pairs fire in the "
        "same places, weak ones in different places.</p>",
        *(_img(p, f"channel pairs of {v.name}") for p, v in zip(pairs, expl.layers, strict=True)),
        "<h2>3. Costs during the optimisation</h2>",
        _img(costs, "cost curves") if costs else "<p>No steps were run.</p>",
        "<h2>4. Style from one layer alone</h2>",
        (
            f"<p>Images optimised from noise to match only one layer's style matrix "
            f"(no content cost; {expl.layer_size} px, {expl.layer_steps} steps each). Early "
            "layers keep colours and fine texture; later ones larger structures.</p>"
            + _img(alone, "style from one layer alone")
        )
        if alone
        else "<p>Left out (--layer-steps 0).</p>",
        "<h2>5. Parameters, and how to make this report again</h2>",
        f"<pre>{_e(command)}</pre>",
        _table(["setting", "value"], setting_rows),
        f"<p>Every number here is in <a href='{MARKER}'>{MARKER}</a>, computed with "
        "<code>gramstyle.losses</code> on <code>content.png</code>, <code>style.png</code> and "
        f"<code>result.png</code> as saved. Made in {expl.seconds:.0f} s.</p>",
        "</body></html>",
    ]
    (folder / "index.html").write_text("\n".join(parts), encoding="utf-8")


__all__ = ["DEFAULT_OUTPUT", "check_report_dir", "command_line", "explain", "write_report"]
