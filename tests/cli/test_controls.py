"""The creative controls on the command line: good runs, notes, and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from .test_cli import FAST, files, one_line_error, run, tiny_backbone  # noqa: F401


@pytest.fixture
def masks(files):  # noqa: F811
    d = files[0]
    left = np.zeros((30, 40), np.uint8)
    left[:, :20] = 255
    Image.fromarray(left).save(d / "m1.png")
    Image.fromarray(255 - left).save(d / "m2.png")
    Image.fromarray(np.full((10, 10), 255, np.uint8)).save(d / "small.png")
    return d / "m1.png", d / "m2.png", d / "small.png"


def test_controls_run(files, masks, capsys):  # noqa: F811
    d, c, s = files
    m1, m2, _ = masks
    argv = ["stylize", c, s, s, "--mask", m1, "--mask", m2, "--preserve-color", "luminance"]
    argv += ["--strength", "0.7", "--style-scale", "1.5", "-o", d / "out.png", *FAST]
    code, _, err = run(argv, capsys)
    assert code == 0, err
    assert Image.open(d / "out.png").size == (48, 36)
    # The 40 px style shown at 1.5 x 48 px is upscaled 1.8x: said, once per style.
    note = (
        "gramstyle: note: --style-scale shows style 1 (s.jpg) (40x40) at 1.8x its own size: "
        "upscaled, which blurs it rather than enlarging its strokes; --style-scale 0.83 is "
        "the largest that does not"
    )
    assert err.splitlines()[0] == note and len(err.splitlines()) == 2  # style 2 the same


def test_a_small_style_is_not_upscaled_by_default(files, capsys):  # noqa: F811
    from gramstyle import Settings
    from gramstyle.sizes import shown_side, style_cap

    d, c, s = files  # s is 40x40; the output 48x36
    assert style_cap(Settings(size=48), (40, 40), (36, 48)) == pytest.approx(40 / 48)
    assert shown_side(Settings(size=48), 48, (40, 40), (36, 48)) == 40
    assert shown_side(Settings(size=48), 24, (40, 40), (36, 48)) == 20  # the same ratio
    assert shown_side(Settings(size=48, style_scale=1.0), 48, (40, 40), (36, 48)) == 48
    code, _, err = run(["stylize", c, s, "-o", d / "o.png", *FAST], capsys)
    assert code == 0 and "note" not in err  # capped, not upscaled: nothing to say


def test_wrong_shape_mask_is_stretched_with_a_note(files, masks, capsys):  # noqa: F811
    d, c, s = files
    code, _, err = run(["stylize", c, s, "--mask", masks[2], "-o", d / "o.png", *FAST], capsys)
    assert code == 0
    assert (
        err.strip() == "gramstyle: note: mask 1 is 10x10, the output 48x36: stretched to fit "
        "(its aspect ratio differs)"
    )


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--mask", "{m1}"], "1 mask for 2 styles"),
        (["--mask", "{m1}", "--mask", "{missing}"], "mask 2 not found"),
        (["--mask", "{m1}", "--mask", "{m2}", "--style-blend", "1,1"], "not both"),
        (["--style-blend", "a,b"], "not a comma-separated list of numbers"),
        (["--style-blend", "1,-1"], "not negative"),
        (["--style-blend", "0,0"], "all zero"),
        (["--style-blend", "1,2,3"], "3 blend weights for 2 styles"),
        (["--strength", "2"], "strength must be in [0, 1]"),
        (["--strength", "lots"], "invalid float value"),
        (["--preserve-color", "sepia"], "invalid choice"),
        (["--style-size", "64", "--style-scale", "2"], "not both"),
        (["--style-scale", "0"], "style scale must be in (0, 10], got 0.0"),
        (["--content-layers", "relu4_2:x"], "is not a number"),
    ],
)
def test_bad_control_input_is_one_line(files, masks, capsys, extra, message):  # noqa: F811
    d, c, s = files
    subst = {"m1": masks[0], "m2": masks[1], "missing": d / "nope.png"}
    extra = [e.format(**subst) for e in extra]
    code, _, err = run(["stylize", c, s, s, *extra, "-o", d / "o.png", *FAST], capsys)
    assert code == 2
    assert message in one_line_error(err)
    assert not (d / "o.png").exists()
