"""Settings: types, finiteness and ranges refused in one line; ranges shown in --help."""

from __future__ import annotations

import dataclasses
import re

import pytest

from gramstyle import cli
from gramstyle.errors import GramstyleError
from gramstyle.settings import Bounds, Settings


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
    from gramstyle.settings import parse_layer_weights

    with pytest.raises(GramstyleError, match="relu2_1 is given twice"):
        parse_layer_weights("relu2_1:1,relu3_1,relu2_1:0.5")


def test_lazy_public_names_still_work():
    import gramstyle

    assert gramstyle.Settings is Settings
    assert callable(gramstyle.stylize) and "gram_matrix" in dir(gramstyle)
    with pytest.raises(AttributeError):
        _ = gramstyle.no_such_name
