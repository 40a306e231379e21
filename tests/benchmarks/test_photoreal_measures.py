"""The photorealism benchmark's measures, on synthetic images with known answers."""

from __future__ import annotations

import pytest
import torch

from gramstyle.nn.labels import LabelRegions

pm = pytest.importorskip("benchmarks.photoreal_measures", reason="run from the repository root")


def _rand(*shape: int, seed: int) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def test_lab_of_known_colours():
    px = torch.tensor([[1.0, 1, 1], [0, 0, 0], [1, 0, 0]]).T.reshape(1, 3, 1, 3)
    lab = pm.srgb_to_lab(px)[0, :, 0].T
    torch.testing.assert_close(
        lab[0], torch.tensor([100.0, 0, 0], dtype=torch.float64), atol=1e-3, rtol=0
    )
    torch.testing.assert_close(lab[1], torch.zeros(3, dtype=torch.float64), atol=1e-9, rtol=0)
    torch.testing.assert_close(
        lab[2], torch.tensor([53.24, 80.09, 67.20], dtype=torch.float64), atol=0.02, rtol=0
    )


def test_gaussian_w2_known_values():
    a = torch.randn(3, 5000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert pm.gaussian_w2(a, a) == pytest.approx(0, abs=1e-6)
    m = torch.tensor([3.0, 0, 4], dtype=torch.float64)
    assert pm.gaussian_w2(a, a + m[:, None]) == pytest.approx(5, rel=1e-9)
    # b = 2a + m: cov_b = 4 cov_a, so W2^2 = |mean(a) + m|^2 + tr(cov_a).
    b = 2 * a + m[:, None]
    want = (float(((a.mean(1) + m) ** 2).sum()) + float(torch.trace(torch.cov(a)))) ** 0.5
    assert pm.gaussian_w2(a, b) == pytest.approx(want, rel=1e-6)


def test_photorealism_tells_affine_recolouring_from_strokes():
    content = torch.nn.functional.interpolate(
        _rand(1, 3, 12, 16, seed=1), size=(48, 64), mode="bilinear"
    )
    assert pm.photorealism(content, content) < 0.05
    recoloured = 0.1 + 0.5 * content.flip(1)
    assert pm.photorealism(recoloured, content) < 0.05
    strokes = torch.nn.functional.interpolate(
        _rand(1, 3, 16, 22, seed=2), size=(48, 64), mode="nearest"
    )
    painted = 0.5 * recoloured + 0.5 * strokes
    assert pm.photorealism(painted, content) > 0.3


def test_structure_of_the_content_inverse_and_noise():
    content = torch.nn.functional.interpolate(
        _rand(1, 3, 12, 16, seed=3), size=(48, 64), mode="bilinear"
    )
    assert pm.structure(content, content) == pytest.approx(1, abs=1e-9)
    assert pm.structure(1 - content, content) < -0.7  # C3 pulls flat windows to 0
    assert abs(pm.structure(_rand(1, 3, 48, 64, seed=4), content)) < 0.15


def test_colour_distance_per_region():
    # Style: top half red-ish, bottom half blue-ish; the output's regions take the
    # style's own pixels (rearranged), so each region's distance is zero; with the
    # regions swapped it is large.
    red = 0.8 * _rand(1, 3, 10, 20, seed=5) * torch.tensor([1, 0.2, 0.2]).view(1, 3, 1, 1)
    blue = 0.8 * _rand(1, 3, 10, 20, seed=6) * torch.tensor([0.2, 0.2, 1]).view(1, 3, 1, 1)
    style = torch.cat([red, blue], dim=2)
    top = torch.zeros(1, 1, 20, 20)
    top[..., :10, :] = 1
    masks = torch.cat([top, 1 - top])
    regions = LabelRegions(masks, masks, ((255, 0, 0), (0, 0, 255)), ())
    output = style.flip(-1)  # the same pixels per region, mirrored
    assert pm.colour_distance(output, style, regions) == pytest.approx(0, abs=1e-6)
    swapped = LabelRegions(masks, masks.flip(0), ((255, 0, 0), (0, 0, 255)), ())
    assert pm.colour_distance(output, style, swapped) > 30


def test_smoothing_makes_a_stroked_result_photorealistic_by_this_measure():
    from gramstyle.nn.smoothing import smooth

    content = torch.nn.functional.interpolate(
        _rand(1, 3, 8, 10, seed=7), size=(64, 80), mode="bicubic"
    ).clamp(0, 1)
    strokes = torch.nn.functional.interpolate(
        _rand(1, 3, 16, 20, seed=8), size=(64, 80), mode="nearest"
    )
    stylised = 0.2 + 0.5 * content.flip(1) + 0.4 * (strokes - 0.5)
    out = smooth(content, stylised)
    before, after = pm.photorealism(stylised, content), pm.photorealism(out, content)
    assert before > 0.3
    assert after < 0.2 * before
    assert pm.structure(out, content) > pm.structure(stylised, content)
