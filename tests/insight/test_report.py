"""``gramstyle explain``: the report is written, its numbers are the library's, it renders."""

from __future__ import annotations

import html
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gramstyle import Settings, cli, content_cost, gram_matrix, layer_style_cost, load_image
from gramstyle import session as session_mod
from gramstyle.insight.numbers import channel_pairs
from gramstyle.insight.report import command_line, explain

from ..conftest import tiny_vgg

SMALL = dict(size=48, min_size=48, steps=6, seed=0)
LAYERS = dict(layer_size=32, layer_steps=3)


def _inputs(d: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:36, 0:48] / 48.0
    photo = np.stack([xx, yy, 1 - xx], -1) * 200 + rng.integers(0, 40, (36, 48, 3))
    stripes = (np.sin(xx * 40)[..., None] > 0) * np.array([230, 120, 20]) + rng.integers(
        0, 30, (36, 48, 3)
    )
    c, s = d / "photo.png", d / "painting.png"
    Image.fromarray(photo.clip(0, 255).astype(np.uint8)).save(c)
    Image.fromarray(stripes.clip(0, 255).astype(np.uint8)).save(s)
    return c, s


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("explain")
    c, s = _inputs(d)
    steps = []
    out = explain(c, s, d / "report", backbone=tiny_vgg(), callback=steps.append, **LAYERS, **SMALL)
    return out, c, s, steps


def test_report_is_complete(report):
    out, _, _, steps = report
    numbers = json.loads((out / "numbers.json").read_text())
    page = (out / "index.html").read_text()
    sources = re.findall(r'<img src="([^"]+)"', page)
    figures = numbers["files"]["figures"]
    layers = list(numbers["settings"]["style_layers"])
    assert set(sources) == {"content.png", "style.png", "result.png", *figures}
    assert len(figures) == 2 * len(layers) + 2  # grams, pairs, costs, one-layer row
    for name in sources:
        assert Image.open(out / name).format == "PNG"
    assert not list(out.parent.glob(".report.*"))  # the temporary folder is gone
    # Progress came as data: main run, then each layer alone, counted to the end.
    assert [st.done for st in steps] == list(range(1, len(steps) + 1))
    assert len(steps) == steps[-1].total == 6 + 3 * len(layers)
    assert [st.phase for st in steps[6::3]] == layers
    assert numbers["command"].startswith("gramstyle explain ")
    assert numbers["command"] in html.unescape(page)
    assert len(numbers["history"]["done"]) == 6
    assert set(numbers["history"]["style"]) == set(layers)


def test_numbers_are_the_library_costs_on_the_saved_images(report):
    out, _, _, _ = report
    n = json.loads((out / "numbers.json").read_text())
    s = n["settings"]
    net = tiny_vgg()
    C, S, G = (load_image(out / f"{x}.png") for x in ("content", "style", "result"))
    with torch.no_grad():
        a_C = net(C, s["content_layers"])
        a_S = net(S, s["style_layers"])
        a_G = net(G, [*s["content_layers"], *s["style_layers"]])
    rel = dict(rel=1e-5, abs=1e-12)
    J_content = {k: float(content_cost(a_C[k], a_G[k])) for k in s["content_layers"]}
    assert n["costs"]["J_content"] == pytest.approx(J_content, **rel)
    J_style = {}
    for name, lam in s["style_layers"].items():
        row = n["layers"][name]
        GS, GG = gram_matrix(a_S[name])[0], gram_matrix(a_G[name])[0]
        J_style[name] = float(layer_style_cost(a_S[name], a_G[name]))
        assert row["J_style"] == pytest.approx(J_style[name], **rel)
        assert row["weighted"] == pytest.approx(s["style_weight"] * lam * J_style[name], **rel)
        assert row["gram_S_trace"] == pytest.approx(float(GS.trace()), **rel)
        assert row["gram_G_frobenius"] == pytest.approx(float(GG.norm()), **rel)
        assert row["shape_S"] == list(a_S[name].shape[1:])
        # The strong pair is the largest off-diagonal G(S)_kk' and carries its value.
        strong = row["strong_pair"]
        off = GS - torch.diag(torch.diag(GS)) - torch.eye(len(GS)) * 1e30
        assert float(off.max()) == pytest.approx(strong["G_S"], **rel)
        assert float(GS[strong["k"], strong["k2"]]) == pytest.approx(strong["G_S"], **rel)
        weak = row["weak_pair"]
        assert weak["k"] != weak["k2"] and strong["k"] != strong["k2"]
        assert float(GS[weak["k"], weak["k2"]]) == pytest.approx(weak["G_S"], **rel)
        assert weak["corr"] <= strong["corr"] + 1e-6 or weak["G_S"] <= strong["G_S"]
    assert n["costs"]["J_style"] == pytest.approx(J_style, **rel)
    # When S and G have the same size, the lecture's formula on unnormalised G agrees.
    if list(S.shape) == list(G.shape):
        name = next(iter(s["style_layers"]))
        nC, nH, nW = a_G[name].shape[1:]
        GS, GG = gram_matrix(a_S[name])[0].double(), gram_matrix(a_G[name])[0].double()
        lecture = float(((GS - GG) ** 2).sum() / (2 * nH * nW * nC) ** 2)
        assert n["layers"][name]["J_style"] == pytest.approx(lecture, rel=1e-4)
    J = s["content_weight"] * n["costs"]["J_content_total"] + s["style_weight"] * sum(
        lam * J_style[k] for k, lam in s["style_layers"].items()
    )
    assert n["costs"]["J"] == pytest.approx(J, **rel)


def test_channel_pairs_known_values():
    # Channels 0 and 1 fire in the same places, channel 2 elsewhere, channel 3 is silent.
    a = torch.zeros(1, 4, 2, 2)
    a[0, 0] = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
    a[0, 1] = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    a[0, 2] = torch.tensor([[0.0, 2.0], [2.0, 0.5]])
    strong, weak = channel_pairs(a)
    assert (strong.k, strong.k2, strong.G) == (0, 1, 7.0)
    assert strong.corr == pytest.approx(7 / np.sqrt(10 * 5))
    assert 2 in (weak.k, weak.k2) and 3 not in (weak.k, weak.k2)
    assert weak.corr < strong.corr
    assert torch.equal(strong.maps, a[0, [0, 1]])


def test_command_line_quotes_and_lists_changed_settings():
    from gramstyle.presets import EXPLAIN as EXPLAIN_DEFAULTS

    s = Settings(**EXPLAIN_DEFAULTS).replace(style_layers={"relu1_1": 0.5}, style_weight=1e3)
    cmd = command_line("a b.jpg", "s.png", "out dir", s, layer_steps=7)
    argv = shlex.split(cmd)
    assert argv[:5] == ["gramstyle", "explain", "a b.jpg", "s.png", "--output"]
    assert "--style-layers" in argv and argv[argv.index("--style-layers") + 1] == "relu1_1:0.5"
    assert argv[argv.index("--style-weight") + 1] == "1000.0"
    assert argv[-3:] == ["--layer-steps", "7", "--overwrite"]
    assert "--size" not in argv  # the explain default


# ---------------------------------------------------------------- the CLI


@pytest.fixture
def tiny_default(monkeypatch):
    net = tiny_vgg()
    monkeypatch.setattr(session_mod, "default_backbone", lambda settings: net)


FAST = ["--size", "48", "--min-size", "48", "--steps", "4", "--layer-size", "32"]
FAST += ["--layer-steps", "2", "--style-layers", "relu1_1:0.5,relu3_1:0.5", "-q"]


def _one_line_error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("gramstyle: error: "), err
    return lines[0]


def test_cli_writes_report_and_its_command_reproduces_it(tmp_path, capsys, tiny_default):
    c, s = _inputs(tmp_path)
    out = tmp_path / "rep"
    code = cli.main(["explain", str(c), str(s), "--output", str(out), *FAST])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert stdout.strip() == str((out / "index.html").resolve())
    first = json.loads((out / "numbers.json").read_text())
    assert list(first["layers"]) == ["relu1_1", "relu3_1"]
    # The command shown in the report makes the same report again.
    argv = shlex.split(first["command"])
    assert argv[:2] == ["gramstyle", "explain"] and "--overwrite" in argv
    assert cli.main(argv[1:]) == 0
    again = json.loads((out / "numbers.json").read_text())
    for key in ("costs", "layers", "history", "settings", "command"):
        assert again[key] == first[key], key


def test_cli_refuses_to_clobber(tmp_path, capsys, tiny_default):
    c, s = _inputs(tmp_path)
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("precious")
    for extra in ([], ["--overwrite"]):
        code = cli.main(["explain", str(c), str(s), "--output", str(other), *FAST, *extra])
        _, err = capsys.readouterr()
        assert code == 2
        message = _one_line_error(err)
        assert ("--overwrite" in message) if not extra else ("not a gramstyle report" in message)
    assert (other / "notes.txt").read_text() == "precious"
    (tmp_path / "file").write_text("x")
    code = cli.main(["explain", str(c), str(s), "--output", str(tmp_path / "file"), *FAST])
    assert code == 2 and "not a folder" in _one_line_error(capsys.readouterr().err)
    code = cli.main(["explain", str(tmp_path / "nope.png"), str(s), "-o", str(tmp_path / "r")])
    assert code == 2 and "not found" in _one_line_error(capsys.readouterr().err)
    assert not (tmp_path / "r").exists()
    assert not list(tmp_path.glob(".r.*")) and not list(tmp_path.glob(".mine.*"))


# ---------------------------------------------------------------- the page in a browser

CHECK = """<img id="control" src="no-such-file.png" alt="">
<script>
window.addEventListener("load", () => {
  const imgs = [...document.images].filter((i) => i.id !== "control");
  const ok = imgs.filter((i) => i.complete && i.naturalWidth > 0).length;
  const control = document.getElementById("control").naturalWidth;
  const p = document.createElement("p");
  p.textContent = `IMAGES ${ok}/${imgs.length} CONTROL ${control}`;
  document.body.appendChild(p);
});
</script>
</body>"""


def test_page_shows_every_figure_in_chromium(report, tmp_path, chromium):
    out, _, _, _ = report
    page = (out / "index.html").read_text()
    # A copy of the page with a check appended; a broken image as control proves it can fail.
    check = out / "check.html"
    check.write_text(page.replace("</body>", CHECK))
    try:
        r = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={tmp_path / 'profile'}",
                "--virtual-time-budget=10000",
                "--dump-dom",
                check.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=90,
        )
    finally:
        check.unlink()
        shutil.rmtree(tmp_path / "profile", ignore_errors=True)
    m = re.search(r"IMAGES (\d+)/(\d+) CONTROL (\d+)", r.stdout)
    assert m, r.stderr[-2000:]
    ok, total, control = map(int, m.groups())
    assert total == len(re.findall(r"<img ", page)) and total >= 7
    assert ok == total
    assert control == 0


# ---------------------------------------------------------------- real weights, once


@pytest.mark.weights
def test_real_vgg_report_is_sensible(tmp_path, photos):
    c, s = photos.landscape, photos.swirl
    out = explain(c, s, tmp_path / "rep", size=64, min_size=64, steps=5, layer_steps=0)
    n = json.loads((out / "numbers.json").read_text())
    shapes = {k: v["shape_S"][0] for k, v in n["layers"].items()}
    nC = {"relu1_1": 64, "relu2_1": 128, "relu3_1": 256, "relu4_1": 512, "relu5_1": 512}
    assert shapes == {k: nC[k] for k in Settings().style_layers}
    for row in n["layers"].values():
        assert row["strong_pair"]["corr"] > row["weak_pair"]["corr"]
        assert row["J_style"] > 0
    assert "one_layer.png" not in n["files"]["figures"]  # --layer-steps 0 leaves it out
