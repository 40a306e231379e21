"""Layer names, truncation, weight layouts, and the download path (local server)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading

import pytest
import torch

from gramstyle import LAYER_NAMES, GramstyleError
from gramstyle.nn.backbone import VGG19, check_layer_names
from gramstyle.nn.weights import (
    _TORCHVISION_CONV_KEYS,
    download,
    resolve,
    to_our_layout,
)

from ..conftest import TINY_WIDTHS, tiny_vgg


def test_layer_table():
    assert len(LAYER_NAMES) == 16 * 2 + 5
    assert LAYER_NAMES[:5] == ("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1")
    assert LAYER_NAMES[-1] == "pool5"
    assert "relu4_2" in LAYER_NAMES and "relu5_4" in LAYER_NAMES


def test_misspelt_layer_suggests():
    with pytest.raises(GramstyleError, match="did you mean 'relu4_2'"):
        check_layer_names(["relu4_2", "relu42"])
    with pytest.raises(GramstyleError, match="did you mean"):
        check_layer_names(["conv_5_1"])


def test_shapes_and_truncation(tiny_net):
    x = torch.rand(1, 3, 33, 40)
    calls = []
    hooks = [
        m.register_forward_hook(lambda m, i, o, n=n: calls.append(n))
        for n, m in tiny_net.layers.items()
    ]
    try:
        out = tiny_net(x, ["relu1_1", "relu3_1"])
    finally:
        for h in hooks:
            h.remove()
    assert out["relu1_1"].shape == (1, TINY_WIDTHS[0], 33, 40)
    assert out["relu3_1"].shape == (1, TINY_WIDTHS[2], 9, 10)  # ceil-mode pooling
    assert calls[-1] == "relu3_1"  # nothing deeper ran
    assert all(not p.requires_grad for p in tiny_net.parameters())


def _as_torchvision(net: VGG19) -> dict[str, torch.Tensor]:
    sd = {}
    convs = [m for n, m in net.layers.items() if n.startswith("conv")]
    for k, m in zip(_TORCHVISION_CONV_KEYS, convs, strict=True):
        sd[f"features.{k}.weight"], sd[f"features.{k}.bias"] = m.weight, m.bias
    sd["classifier.0.weight"] = torch.zeros(2, 2)  # ignored
    return sd


def test_torchvision_layout_gets_imagenet_normalisation(tiny_net):
    sd, layout = to_our_layout(_as_torchvision(tiny_net))
    assert layout == "torchvision"
    net = VGG19(widths=TINY_WIDTHS)
    net.load_state_dict(sd, strict=True)
    rgb = torch.tensor([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1).expand(1, 3, 4, 4)
    assert net.prep(rgb).abs().max() < 1e-6  # the ImageNet mean maps to zero


def test_unknown_layout_and_bad_file(tmp_path):
    with pytest.raises(GramstyleError, match="unrecognised weights layout"):
        to_our_layout({"foo": torch.zeros(1)})
    bad = tmp_path / "w.pth"
    bad.write_bytes(b"not a checkpoint")
    from gramstyle.nn.weights import _load_state_dict

    with pytest.raises(GramstyleError, match="not a PyTorch weights file"):
        _load_state_dict(bad)
    with pytest.raises(GramstyleError, match="not found"):
        resolve(str(tmp_path / "missing.pth"))


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "srv"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[method-assign]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_download_verifies_and_caches(server, tmp_path, tiny_net):
    root, url = server
    torch.save(_as_torchvision(tiny_vgg(3)), root / "vgg-tiny.pth")
    sha = hashlib.sha256((root / "vgg-tiny.pth").read_bytes()).hexdigest()
    cache = tmp_path / "cache"

    path = download(f"{url}/vgg-tiny.pth", sha, cache)
    assert path == cache / "vgg-tiny.pth"
    assert path.read_bytes() == (root / "vgg-tiny.pth").read_bytes()
    (root / "vgg-tiny.pth").unlink()  # served no more: the cache answers
    assert download(f"{url}/vgg-tiny.pth", sha, cache) == path

    sd, layout = to_our_layout(torch.load(path, weights_only=True))
    net = VGG19(widths=TINY_WIDTHS)
    net.load_state_dict(sd)
    assert layout == "torchvision"


def test_download_rejects_wrong_checksum_and_leaves_nothing(server, tmp_path):
    root, url = server
    (root / "w.pth").write_bytes(b"x" * 1000)
    cache = tmp_path / "cache"
    with pytest.raises(GramstyleError, match="checksum mismatch"):
        download(f"{url}/w.pth", "0" * 64, cache)
    assert list(cache.iterdir()) == []
    with pytest.raises(GramstyleError, match="could not download"):
        download(f"{url}/missing.pth", "0" * 64, cache)
    with pytest.raises(GramstyleError, match="pinned checksum"):
        resolve(f"{url}/w.pth")
