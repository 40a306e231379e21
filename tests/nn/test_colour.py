"""Colour transforms (pure functions) and --preserve-color end to end on the tiny network."""

from __future__ import annotations

import pytest
import torch

from gramstyle import stylize
from gramstyle.nn.colour import (
    color_stats,
    grey,
    luminance,
    match_color,
    match_luminance,
    rgb_to_yiq,
    with_chroma_of,
    yiq_to_rgb,
)

from ..conftest import FAST

#: Stated tolerance: mean |I, Q difference| between output and content, in YIQ units
#: (I spans about ±0.6). Only pixels whose recombined colour leaves the gamut differ.
CHROMA_TOL = 0.01


def test_yiq_known_values_and_round_trip():
    red = torch.tensor([1.0, 0.0, 0.0]).reshape(1, 3, 1, 1)
    assert rgb_to_yiq(red).flatten().tolist() == pytest.approx([0.299, 0.595716, 0.211456])
    grey_px = torch.full((1, 3, 1, 1), 0.4)
    assert rgb_to_yiq(grey_px).flatten().tolist() == pytest.approx([0.4, 0, 0], abs=1e-6)
    x = torch.rand(2, 3, 5, 7, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(yiq_to_rgb(rgb_to_yiq(x)), x, atol=1e-6)
    with pytest.raises(ValueError, match="RGB batch"):
        rgb_to_yiq(torch.rand(1, 4, 2, 2))


def test_match_color_gives_content_mean_and_covariance():
    g = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, 30, 40, generator=g)
    content = 0.5 + 0.15 * (content - 0.5) @ torch.eye(40)  # moderate spread, in gamut
    content[:, 0] = 0.7 * content[:, 0] + 0.2 * content[:, 1]  # correlated channels
    style = torch.rand(1, 3, 50, 50, generator=g) ** 3  # dark, skewed, other size
    out = match_color(style, content)
    mu, cov = color_stats(out)
    mu_c, cov_c = color_stats(content)
    assert out.shape == style.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    assert torch.allclose(mu, mu_c, atol=2e-3)
    assert torch.allclose(cov, cov_c, atol=2e-4)
    mu_s, _ = color_stats(style)
    assert (mu_s - mu_c).abs().max() > 0.1  # the test is not trivially true


def test_luminance_helpers():
    g = torch.Generator().manual_seed(1)
    content = torch.rand(1, 3, 20, 20, generator=g) * 0.5 + 0.25
    style = torch.rand(1, 3, 30, 30, generator=g) ** 2
    s = match_luminance(style, content)
    assert torch.equal(s[:, 0], s[:, 1]) and torch.equal(s[:, 1], s[:, 2])  # grey
    y_s, y_c = luminance(s), luminance(content)
    assert float(y_s.mean()) == pytest.approx(float(y_c.mean()), abs=2e-3)
    assert float(y_s.std()) == pytest.approx(float(y_c.std()), rel=2e-2)
    # The luminance of a grey image is its value; recombining keeps x's Y and C's I, Q.
    x = grey(torch.full((1, 1, 20, 20), 0.5))
    out = with_chroma_of(x, content)
    assert torch.allclose(luminance(out), luminance(x), atol=1e-5)
    assert torch.allclose(rgb_to_yiq(out)[:, 1:], rgb_to_yiq(content)[:, 1:], atol=1e-5)


def _chroma_gap(out: torch.Tensor, content: torch.Tensor) -> float:
    return float((rgb_to_yiq(out)[:, 1:] - rgb_to_yiq(content)[:, 1:]).abs().mean())


def test_preserve_color_luminance_keeps_content_chroma(tiny_net, images):
    content, style = images
    content = 0.25 + 0.5 * content  # a photo's saturation, so little leaves the gamut
    plain = stylize(content, style, backbone=tiny_net, **FAST)
    kept = stylize(content, style, backbone=tiny_net, preserve_color="luminance", **FAST)
    assert _chroma_gap(kept, content) < CHROMA_TOL
    assert _chroma_gap(plain, content) > 5 * CHROMA_TOL  # without it the style's colours leak
    # The luminance is stylised: it moved away from the content's.
    assert float((luminance(kept) - luminance(content)).abs().mean()) > 0.02


def test_preserve_color_match_moves_colours_to_the_content(tiny_net, images):
    content, style = images
    style = style * torch.tensor([1.0, 0.3, 0.3]).reshape(1, 3, 1, 1)  # a red painting
    mu_c, _ = color_stats(content)
    plain = stylize(content, style, backbone=tiny_net, **FAST)
    matched = stylize(content, style, backbone=tiny_net, preserve_color="match", **FAST)
    gap_plain = float((color_stats(plain)[0] - mu_c).abs().max())
    gap_match = float((color_stats(matched)[0] - mu_c).abs().max())
    # Stated tolerance: the mean colour is within 0.05 of the content's (per channel).
    assert gap_match < 0.05 < gap_plain
