"""AdaIN region by region: each content region takes its style region's statistics."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from gramstyle.adain.maths import mean_std
from gramstyle.adain.regions import masked_stats, region_adain
from gramstyle.nn.masks import mask_at


class Pooling:
    """A stand-in encoder and decoder: 8x8 means (stride 8, as relu4_1) and back."""

    def encode(self, x):
        return F.avg_pool2d(x, 8)

    def decode(self, f):
        return F.interpolate(f, scale_factor=8, mode="nearest")


def test_masked_stats_are_mean_std_of_the_region():
    g = torch.Generator().manual_seed(0)
    f = torch.rand(1, 5, 6, 7, generator=g)
    m = torch.zeros(2, 1, 6, 7)
    m[0, :, :3], m[1, :, 3:] = 1, 1
    mean, std, n = masked_stats(f, m)
    for k, rows in enumerate((slice(0, 3), slice(3, 6))):
        want_mean, want_std = mean_std(f[..., rows, :])
        torch.testing.assert_close(mean[k : k + 1], want_mean)
        torch.testing.assert_close(std[k : k + 1], want_std)
    assert n.tolist() == [21.0, 21.0]


def test_one_region_is_plain_adain():
    g = torch.Generator().manual_seed(1)
    content, style = torch.rand(1, 3, 64, 80, generator=g), torch.rand(1, 3, 48, 64, generator=g)
    out = region_adain(
        Pooling(),
        content * 0.3 + 0.3,
        torch.ones(1, 1, 64, 80),
        [style * 0.3 + 0.3],
        [torch.ones(1, 1, 48, 64)],
        eps=0.0,
    )
    f, fs = F.avg_pool2d(content * 0.3 + 0.3, 8), F.avg_pool2d(style * 0.3 + 0.3, 8)
    (mc, sc), (ms, ss) = mean_std(f, 0.0), mean_std(fs, 0.0)
    torch.testing.assert_close(out, Pooling().decode((f - mc) / sc * ss + ms), rtol=1e-4, atol=1e-4)


def test_each_region_takes_its_style_regions_statistics():
    """Top of the content <- left of the style (dark), bottom <- right (bright): away
    from the seam each content region is the AdaIN map of its own statistics onto its
    style region's."""
    g = torch.Generator().manual_seed(1)
    content = torch.rand(1, 3, 128, 80, generator=g) * 0.3 + 0.3
    style = torch.rand(1, 3, 64, 128, generator=g) * 0.1 + 0.3
    style[..., 64:] += 0.3  # the right half is bright
    masks = torch.zeros(2, 1, 128, 80)
    masks[0, :, :64], masks[1, :, 64:] = 1, 1
    s_masks = torch.zeros(2, 1, 64, 128)
    s_masks[0, :, :, :64], s_masks[1, :, :, 64:] = 1, 1
    out = region_adain(Pooling(), content, masks, [style], [s_masks], eps=0.0)
    f, fs, fo = (F.avg_pool2d(x, 8) for x in (content, style, out))
    for k, rows in ((0, slice(0, 6)), (1, slice(10, 16))):  # two cells from the seam
        m = mask_at(masks, f.shape[-2:])
        m = m / m.sum(0, keepdim=True)
        mc, sc, _ = masked_stats(f, m, 0.0)
        sm = mask_at(s_masks, fs.shape[-2:])
        ms, ss, _ = masked_stats(fs, sm, 0.0)
        want = (f[..., rows, :] - mc[k]) / sc[k] * ss[k] + ms[k]
        torch.testing.assert_close(fo[..., rows, :], want, rtol=1e-4, atol=1e-5)
    assert float(fo[..., :6, :].mean()) < 0.4 < 0.6 < float(fo[..., 10:, :].mean())
    # alpha = 0 gives the content back (the decoder's picture of its features).
    same = region_adain(Pooling(), content, masks, [style], [s_masks], alpha=0.0)
    torch.testing.assert_close(same, Pooling().decode(f))
