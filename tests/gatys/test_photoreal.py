"""--photoreal with Gatys: the matting term against the explicit Laplacian, the region
targets against masked Gram matrices by hand, tiles against one pass, runs end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gramstyle import GramstyleError, Settings, Stylizer
from gramstyle.gatys.objective import Objective
from gramstyle.gatys.photoreal import ExtraCosts, PhotorealCost, stage_cost
from gramstyle.gatys.targets import style_targets
from gramstyle.gatys.tiles import TiledObjective
from gramstyle.nn.backbone import features
from gramstyle.nn.masks import mask_at
from gramstyle.nn.matting import matting_laplacian
from gramstyle.nn.smoothing import finish

from ..conftest import FAST, tiny_vgg
from ..nn.test_matting import explicit_laplacian

BLUE, GREEN = (0.0, 0.0, 1.0), (0.0, 1.0, 0.0)


def rand(*shape, seed=0, dtype=torch.float64):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def label_map(H: int, W: int, split: int, vertical: bool = False) -> torch.Tensor:
    """Two flat colours: blue above (left of) ``split``, green below (right)."""
    m = torch.zeros(1, 3, H, W)
    if vertical:
        m[:, 2, :, :split], m[:, 1, :, split:] = 1, 1
    else:
        m[:, 2, :split], m[:, 1, split:] = 1, 1
    return m


def test_the_photoreal_term_is_the_explicit_laplacians_quadratic_form():
    """``lambda_m sum_c V_c^T L V_c / n`` and its gradient ``2 lambda_m L V_c / n`` with
    ``L`` built window by window (scipy), float64."""
    H, W, lam = 9, 11, 37.0
    content, x = rand(1, 3, H, W, seed=1), rand(1, 3, H, W, seed=2)
    L = explicit_laplacian(content)
    V = x[0].reshape(3, -1).numpy()  # (3, HW), pixels in flatten order
    want = lam * sum(float(v @ (L @ v)) for v in V) / (H * W)
    cost = PhotorealCost(content, lam)
    cost.lap = matting_laplacian(content, dtype=torch.float64)  # float32 by default
    xg = x.clone().requires_grad_(True)
    got = cost(xg)["photoreal"]
    assert float(got.detach()) == pytest.approx(want, rel=1e-9)
    (grad,) = torch.autograd.grad(got, xg)
    want_grad = np.stack([2 * lam * (L @ v) / (H * W) for v in V]).reshape(1, 3, H, W)
    np.testing.assert_allclose(grad.numpy(), want_grad, rtol=1e-8, atol=1e-12)


def test_the_proximal_step_solves_its_system():
    """``argmin |x - a|^2 + lambda_m x^T L x / n``: ``(I + lambda_m / n L) x = a``."""
    H, W, lam = 8, 10, 200.0
    content, a = rand(1, 3, H, W, seed=3), rand(1, 3, H, W, seed=4) * 0.5 + 0.25
    x = PhotorealCost(content, lam).proximal(a)
    L = explicit_laplacian(content)
    X = x[0].reshape(3, -1).double().numpy()
    residual = X + lam / (H * W) * np.stack([L @ v for v in X]) - a[0].reshape(3, -1).numpy()
    assert np.abs(residual).max() < 1e-3


def test_stage_cost_adds_the_term_beside_another():
    s = Settings(photoreal=True, photoreal_weight=5.0)
    content = rand(1, 3, 12, 12, seed=5, dtype=torch.float32)

    class Temporal:
        def __call__(self, x):
            return {"temporal": x.sum()}

        def proximal(self, a):
            return a

    assert stage_cost(Settings(), content, None) is None
    assert isinstance(stage_cost(s, content, None), PhotorealCost)
    both = stage_cost(s, content, Temporal())
    assert isinstance(both, ExtraCosts) and set(both(content)) == {"temporal", "photoreal"}
    assert stage_cost(s.replace(photoreal_weight=0.0), content, None) is None


@pytest.fixture(scope="module")
def st():
    return Stylizer(backbone=tiny_vgg())


def test_region_targets_are_masked_gram_matrices_by_hand(st):
    """Region k's target at a layer is ``sum_ij m_ij a_ij a_ij^T / sum_ij m_ij`` of the
    style's features, its mask bilinear at the layer's size: computed here in loops."""
    H, W = 40, 48
    content, style = rand(1, 3, H, W, seed=6).float(), rand(1, 3, H, W, seed=7).float()
    prep = st.prepare(
        content,
        style,
        content_labels=label_map(H, W, 20),
        style_labels=[label_map(H, W, 30, vertical=True)],
        size=48,
        style_weight=1.0,
        precision="fp32",
        photoreal=True,
    )
    assert prep.labels is not None and prep.labels.colours == ((0, 0, 255), (0, 255, 0))
    targets = style_targets(st, prep, 48, None)
    net = st.network(prep.settings)
    layers = list(prep.settings.style_layers)
    feats = features(net, prep.styles[0], layers)
    for name, a in feats.items():
        _, C, h, w = a.shape
        masks = mask_at(prep.labels.styles[0], (h, w))
        for k in range(2):
            want = torch.zeros(C, C, dtype=torch.float64)
            area = 0.0
            for i in range(h):
                for j in range(w):
                    m = float(masks[k, 0, i, j])
                    v = a[0, :, i, j].double()
                    want += m * torch.outer(v, v)
                    area += m
            torch.testing.assert_close(targets[name][k].double(), want / area, rtol=1e-4, atol=1e-6)


def test_tiled_objective_with_regions_and_the_term_equals_one_pass():
    """float64 on the tiny network: masks from label maps, region targets and the
    matting term, tile by tile as in one pass."""
    net = tiny_vgg().double()
    H, W = 75, 90
    C, S, x = rand(1, 3, H, W, seed=8), rand(1, 3, 60, 50, seed=9), rand(1, 3, H, W, seed=10)
    s = Settings(precision="fp32", style_weight=1e3, photoreal=True)
    M = torch.zeros(2, 1, H, W, dtype=torch.float64)
    M[0, :, :40], M[1, :, 40:] = 1, 1
    SM = torch.zeros(2, 1, 60, 50)
    SM[0, :, :, :25], SM[1, :, :, 25:] = 1, 1
    from gramstyle.gatys.tiles import tiled_style_targets
    from gramstyle.nn.labels import masked_targets

    layers = list(s.style_layers)
    targets = masked_targets(net, S, SM.double(), layers)
    tiled_targets = tiled_style_targets(net, S, layers, 64, masks=SM.double())
    for n in layers:
        torch.testing.assert_close(tiled_targets[n], targets[n], rtol=1e-10, atol=1e-14)
    extra = PhotorealCost(C, 1e4)
    extra.lap = matting_laplacian(C, dtype=torch.float64)
    one = Objective(net, s, C, [S], masks=M, targets=targets, extra=extra)
    tiled = TiledObjective(net, s, C, [S], masks=M, targets=targets, extra=extra, tile=64)
    assert len(tiled.grid) > 1
    c0, g0 = one.value_and_grad(x)
    c1, g1 = tiled.value_and_grad(x)
    assert float(c1.total) == pytest.approx(float(c0.total), rel=1e-10)
    assert float(c1.extra["photoreal"]) == pytest.approx(float(c0.extra["photoreal"]), rel=1e-12)
    assert float((g1 - g0).abs().max()) <= 1e-9 * float(g0.abs().max())


def test_a_run_keeps_the_photo_and_tiles_change_nothing_but_rounding(st):
    """End to end on the tiny network: the start is the photo recoloured region by region,
    the matting term is reported, and a tiled run (--tile) gives the same records."""
    H, W = 72, 96
    yy, xx = torch.meshgrid(torch.linspace(0, 1, H), torch.linspace(0, 1, W), indexing="ij")
    content = torch.stack([xx, yy, 1 - xx])[None]
    style = rand(1, 3, H, W, seed=11).float()
    kw = dict(
        content_labels=label_map(H, W, 36),
        style_labels=[label_map(H, W, 48, vertical=True)],
        **{**FAST, "size": 200, "min_size": 100, "steps": 4, "coarse_steps": 3},
        photoreal=True,
    )
    kw["init"] = "content"
    plain = list(st.stylize_iter(content, style, **kw))
    tiled = list(st.stylize_iter(content, style, **kw, tile=64))
    assert all("photoreal" in r.extra for r in plain)
    assert [r.loss for r in tiled] == pytest.approx([r.loss for r in plain], rel=1e-4)
    assert float((tiled[-1].image - plain[-1].image).abs().max()) < 2e-3
    # What is shown is finished (the small guided filter): a fixed point, nearly.
    out = plain[-1].image
    photo = torch.nn.functional.interpolate(content, size=out.shape[-2:], mode="bilinear")
    assert float((finish(photo, out) - out).abs().mean()) < 0.02


def test_label_maps_of_another_size_are_resized_with_a_note(st):
    H, W = 40, 48
    content, style = rand(1, 3, H, W, seed=12).float(), rand(1, 3, H, W, seed=13).float()
    prep = st.prepare(
        content,
        style,
        content_labels=label_map(20, 24, 10),
        style_labels=[label_map(H, W, 24, vertical=True)],
        size=48,
        precision="fp32",
    )
    assert any("resized to fit (nearest)" in n for n in prep.notes)
    assert prep.labels is not None and prep.labels.content.shape == (2, 1, H, W)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"content_labels": "CL"}, "or neither"),
        ({"style_labels": ["SL"]}, "or neither"),
        ({"content_labels": "CL", "style_labels": ["SL", "SL"]}, "2 style label maps for 1"),
        ({"content_labels": "NOT_AN_IMAGE", "style_labels": ["SL"]}, "content labels"),
        ({"content_labels": "PHOTO", "style_labels": ["SL"]}, "label map"),
    ],
)
def test_bad_label_maps_fail_before_any_work(st, tmp_path, monkeypatch, kw, message):
    H, W = 40, 48
    from gramstyle.image import save_image

    paths = {
        "CL": tmp_path / "cl.png",
        "SL": tmp_path / "sl.png",
        "NOT_AN_IMAGE": tmp_path / "notes.png",
        "PHOTO": tmp_path / "photo.png",
    }
    save_image(label_map(H, W, 20), paths["CL"])
    save_image(label_map(H, W, 20), paths["SL"])
    paths["NOT_AN_IMAGE"].write_text("not an image")
    save_image(rand(1, 3, H, W, seed=14).float(), paths["PHOTO"])

    def path(v):
        return [str(paths[x]) for x in v] if isinstance(v, list) else str(paths[v])

    import gramstyle.gatys.run as run_mod

    monkeypatch.setattr(run_mod, "Run", None)  # no work may start
    content, style = rand(1, 3, H, W, seed=15).float(), rand(1, 3, H, W, seed=16).float()
    job = st.job(content, style, **{k: path(v) for k, v in kw.items()}, size=48)
    with pytest.raises(GramstyleError, match=message) as e:
        job.result()
    assert "\n" not in str(e.value)


def test_photoreal_and_colour_preservation_are_refused():
    with pytest.raises(GramstyleError, match="--photoreal"):
        Settings(photoreal=True, preserve_color="luminance")
    with pytest.raises(GramstyleError, match="true or false"):
        Settings(photoreal="yes")  # type: ignore[arg-type]
