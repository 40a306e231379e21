"""AdaIN: the pure function against a reference, the decoder, tiling, the pipeline path."""

from __future__ import annotations

import pytest
import torch

from gramstyle import GramstyleError, Settings, stylize, stylize_iter
from gramstyle.adain.decoder import Decoder
from gramstyle.adain.maths import adain, adain_affine, mean_std
from gramstyle.adain.stylize import adain_stylize, encode, style_stats
from gramstyle.image import resize
from gramstyle.nn.colour import color_stats, match_color

from ..conftest import TINY_WIDTHS, tiny_vgg

# relu4_1 of the tiny VGG has TINY_WIDTHS[3] channels.
TINY_DECODER = (TINY_WIDTHS[3], 6, 5, 4)


def tiny_decoder(seed: int = 0) -> Decoder:
    torch.manual_seed(seed)
    dec = Decoder(TINY_DECODER)
    with torch.no_grad():
        for m in dec.modules():
            if isinstance(m, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                m.bias.fill_(0.05)
    return dec


@pytest.fixture(scope="module")
def nets():
    return tiny_vgg(), tiny_decoder()


def reference_adain(c: torch.Tensor, s: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Loop over channels, numpy-style statistics (unbiased variance + eps)."""
    out = torch.empty_like(c)
    for k in range(c.shape[1]):
        ck, sk = c[0, k].double(), s[0, k].double()
        c_std = (ck.var(unbiased=True) + eps).sqrt()
        s_std = (sk.var(unbiased=True) + eps).sqrt()
        out[0, k] = ((ck - ck.mean()) / c_std * s_std + sk.mean()).float()
    return out


def test_adain_matches_reference_and_takes_style_statistics():
    g = torch.Generator().manual_seed(0)
    c = torch.randn(1, 5, 7, 9, generator=g) * 3 + 1
    s = torch.rand(1, 5, 4, 6, generator=g) * torch.arange(1, 6).reshape(1, 5, 1, 1)
    out = adain(c, s)
    assert out.shape == c.shape
    torch.testing.assert_close(out, reference_adain(c, s), rtol=1e-5, atol=1e-5)
    (m_o, sd_o), (m_s, sd_s) = mean_std(out), mean_std(s)
    torch.testing.assert_close(m_o, m_s, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sd_o, sd_s, rtol=1e-4, atol=1e-4)  # eps: not exactly equal


def test_adain_rejects_mismatched_channels():
    with pytest.raises(GramstyleError, match="channels"):
        adain(torch.rand(1, 4, 3, 3), torch.rand(1, 5, 3, 3))


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_affine_form_equals_adain_blended_with_content(alpha):
    g = torch.Generator().manual_seed(1)
    c, s = torch.rand(1, 6, 5, 5, generator=g), torch.rand(1, 6, 8, 3, generator=g) * 4
    scale, shift = adain_affine(*mean_std(c), *mean_std(s), alpha)
    torch.testing.assert_close(c * scale + shift, alpha * adain(c, s) + (1 - alpha) * c)


def test_real_decoder_layout_has_reference_keys():
    keys = set(Decoder().net.state_dict())
    convs = {1, 5, 8, 11, 14, 18, 21, 25, 28}
    assert keys == {f"{i}.{p}" for i in convs for p in ("weight", "bias")}


@pytest.mark.parametrize("hw", [(64, 96), (37, 50), (9, 20)])
def test_shapes_range_and_determinism(nets, images, hw):
    enc, dec = nets
    content = torch.rand(1, 3, *hw, generator=torch.Generator().manual_seed(2))
    _, style = images
    a = adain_stylize(content, [style], enc, dec)
    b = adain_stylize(content, [style], enc, dec)
    assert a.shape == (1, 3, *hw)
    assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b)


def test_alpha_zero_is_the_decoders_reconstruction(nets, images):
    enc, dec = nets
    content, style = images  # 36 x 48: sides are multiples of 4 but not of 8
    content = content[..., :32, :48]
    out = adain_stylize(content, [style], enc, dec, alpha=0.0)
    want = dec(encode(enc, content)).clamp(0, 1)
    torch.testing.assert_close(out, want, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(adain_stylize(content, [style], enc, dec, alpha=1.0), want)


def test_blend_weights_mix_the_style_statistics(nets, images):
    enc, _ = nets
    content, style = images
    st1, st2 = style_stats(enc, [content]), style_stats(enc, [style])
    mix = style_stats(enc, [content, style], [1.0, 3.0])
    torch.testing.assert_close(mix.mean, 0.25 * st1.mean + 0.75 * st2.mean)
    torch.testing.assert_close(mix.std, 0.25 * st1.std + 0.75 * st2.std)
    one = style_stats(enc, [style, content], [1.0, 0.0])
    torch.testing.assert_close(one.mean, st2.mean)
    with pytest.raises(GramstyleError, match="blend weights"):
        style_stats(enc, [style], [1.0, 2.0])


def test_tiles_with_full_context_equal_one_pass(nets, images):
    enc, dec = nets
    _, style = images
    content = torch.rand(1, 3, 50, 70, generator=torch.Generator().manual_seed(3))
    whole = adain_stylize(content, [style], enc, dec, alpha=0.7)
    # Tiles of 24 px with 80 px of context: every tile sees the whole image.
    tiled = adain_stylize(content, [style], enc, dec, alpha=0.7, tile=24, overlap=80)
    torch.testing.assert_close(tiled, whole, rtol=1e-4, atol=1e-4)
    # Small context: tiles differ near their borders only, and not by much.
    rough = adain_stylize(content, [style], enc, dec, alpha=0.7, tile=24, overlap=8)
    assert rough.shape == whole.shape and (rough - whole).abs().mean() < 0.1


def test_bad_inputs(nets, images):
    enc, dec = nets
    content, style = images
    with pytest.raises(GramstyleError, match="alpha"):
        adain_stylize(content, [style], enc, dec, alpha=1.5)
    with pytest.raises(GramstyleError, match="at least"):
        adain_stylize(content[..., :8, :8], [style], enc, dec)
    with pytest.raises(GramstyleError, match="no style"):
        adain_stylize(content, [], enc, dec)
    with pytest.raises(GramstyleError, match="method"):
        Settings(method="fast")
    with pytest.raises(GramstyleError, match="alpha"):
        Settings(alpha=-0.1)


def test_pipeline_adain_method(nets, images):
    enc, dec = nets
    content, style = images
    recs = list(
        stylize_iter(
            content,
            style,
            backbone=enc,
            decoder=dec,
            method="adain",
            size=40,
            alpha=0.5,
            precision="fp32",
            palette="decoder",
        )
    )
    assert len(recs) == 1 and recs[0].size == (30, 40)
    want = adain_stylize(resize(content, 40), [resize(style, 40)], enc, dec, alpha=0.5)
    torch.testing.assert_close(recs[0].image, want)
    # The default palette: the same picture with the painting's colour statistics.
    styled = stylize(
        content,
        style,
        backbone=enc,
        decoder=dec,
        method="adain",
        size=40,
        alpha=0.5,
        precision="fp32",
    )
    torch.testing.assert_close(styled, match_color(want, resize(style, 40)), atol=2e-3, rtol=0)
    assert torch.allclose(color_stats(styled)[0], color_stats(style)[0], atol=0.02)  # its mean
    out = stylize(content, style, backbone=enc, decoder=dec, method="adain", size=40)
    assert out.shape == (1, 3, 30, 40)


def test_masks_give_each_region_its_style(nets, images):
    # Style k inside mask k: the left half is style A's picture, the right half style
    # B's, a soft seam is their mix, and where no mask covers, the photo stays.
    enc, dec = nets
    content, style = images
    other = style.flip(-1).roll(7, dims=-2) * 0.6
    kw = dict(backbone=enc, decoder=dec, method="adain", size=40, precision="fp32")
    alone = [stylize(content, s, palette="decoder", **kw) for s in (style, other)]
    left = torch.zeros(1, 1, 30, 40)
    left[..., :15] = 1
    left[..., 15:20] = 0.5
    right = torch.zeros(1, 1, 30, 40)
    right[..., 20:30] = 1
    right[..., 15:20] = 0.5
    out = stylize(content, [style, other], masks=[left[0, 0], right[0, 0]], palette="decoder", **kw)
    torch.testing.assert_close(out[..., :15], alone[0][..., :15])
    torch.testing.assert_close(out[..., 20:30], alone[1][..., 20:30])
    torch.testing.assert_close(out[..., 15:20], (alone[0] + alone[1])[..., 15:20] / 2)
    torch.testing.assert_close(out[..., 30:], resize(content, 40)[..., 30:])


def test_init_adain_starts_from_the_adain_image(nets, images):
    enc, dec = nets
    content, style = images
    fast = dict(size=48, min_size=48, steps=3, seed=0)
    # The start is the decoder's own picture (its palette is a one-pass result's finish).
    start = stylize(
        content, style, backbone=enc, decoder=dec, method="adain", size=48, palette="decoder"
    )
    zero = stylize(content, style, backbone=enc, decoder=dec, init="adain", **{**fast, "steps": 0})
    torch.testing.assert_close(zero, start)
    recs = list(stylize_iter(content, style, backbone=enc, decoder=dec, init="adain", **fast))
    noise = list(stylize_iter(content, style, backbone=enc, init="noise", **fast))
    assert len(recs) == 3 and recs[0].loss != noise[0].loss


@pytest.mark.parametrize("share", [0.0, 0.3, 1.0])
def test_init_blend_mixes_the_content_and_the_adain_image(nets, images, share):
    enc, dec = nets
    content, style = images
    start = stylize(
        content, style, backbone=enc, decoder=dec, method="adain", size=48, palette="decoder"
    )
    zero = stylize(
        content,
        style,
        backbone=enc,
        decoder=dec,
        init="adain",
        init_blend=share,
        size=48,
        min_size=48,
        steps=0,
        seed=0,
    )
    want = (1 - share) * resize(content, 48) + share * start
    torch.testing.assert_close(zero, want.clamp(0, 1))


def test_cli_method_adain(tmp_path, monkeypatch, capsys):
    import numpy as np
    from PIL import Image

    from gramstyle import cli
    from gramstyle import session as session_mod

    enc, dec = tiny_vgg(), tiny_decoder()
    monkeypatch.setattr(session_mod, "default_backbone", lambda settings: enc)
    from gramstyle.adain import method as adain_method

    monkeypatch.setattr(adain_method, "default_decoder", lambda: dec)
    rng = np.random.default_rng(0)
    c, s1, s2 = (tmp_path / n for n in ("c.png", "s1.png", "s2.png"))
    for p in (c, s1, s2):
        Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(p)
    out = tmp_path / "out.png"
    argv = [c, s1, s2, "-o", out, "--method", "adain", "--alpha", "0.6", "--size", "40"]
    code = cli.main(["stylize", *map(str, argv), "--style-blend", "1,2"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert Image.open(out).size == (40, 30) and "adain" in err and "J=" not in err
    code = cli.main(["stylize", *map(str, argv), "--overwrite", "--alpha", "2"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("gramstyle: error: alpha must be in [0, 1]")


@pytest.mark.weights
def test_real_decoder_reconstructs_content(photos):
    from gramstyle.adain.decoder import default_decoder
    from gramstyle.image import load_image
    from gramstyle.session import default_backbone

    enc, dec = default_backbone(Settings()), default_decoder()
    c = load_image(photos.portrait, 160)[..., 8:136, :128]
    other = load_image(photos.landscape, 160)[..., :128, :128]
    s = load_image(photos.swirl3, 128)
    rec = adain_stylize(c, [s], enc, dec, alpha=0.0)

    def psnr(a, b):
        return float(-10 * torch.log10(((a - b) ** 2).mean()))

    # Measured: 13.2 dB on the portrait at 128 px (another photo: 7.6 dB, the same photo
    # in full style: 9.3 dB); the AdaIN decoder is trained on
    # feature losses, so it is a faithful but soft copy, not a pixel-exact one.
    assert psnr(rec, c) > 12.0
    assert psnr(rec, c) > psnr(other, c) + 5
    styled = adain_stylize(c, [s], enc, dec, alpha=1.0)
    assert psnr(styled, c) < psnr(rec, c) - 2  # full style moves away from the photo
