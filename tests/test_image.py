"""The image contract at the edges: every awkward file becomes (1,3,H,W) in [0,1]."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image, ImageCms

from gramstyle import GramstyleError, load_image, save_image
from gramstyle.image import tensor_to_pil
from gramstyle.sizes import fit_size


def _check(x, h, w):
    assert x.shape == (1, 3, h, w) and x.dtype == torch.float32
    assert float(x.min()) >= 0 and float(x.max()) <= 1


def test_modes(tmp_path):
    rgb = Image.new("RGB", (8, 6), (255, 0, 0))
    gray = Image.new("L", (8, 6), 128)
    cmyk = Image.new("CMYK", (8, 6), (0, 255, 255, 0))  # red in CMYK
    rgba = Image.new("RGBA", (8, 6), (0, 0, 0, 0))  # transparent -> white
    for img in (rgb, gray, cmyk, rgba, rgb.convert("P")):
        _check(load_image(img), 6, 8)
    assert torch.allclose(load_image(gray), torch.full((1, 3, 6, 8), 128 / 255))
    assert torch.allclose(load_image(rgba), torch.ones(1, 3, 6, 8))
    red = load_image(cmyk)[0, :, 0, 0]
    assert red[0] > 0.9 and red[1] < 0.1 and red[2] < 0.1


def test_16_bit_gray(tmp_path):
    a = np.full((6, 8), 65535 // 2, dtype=np.uint16)
    p = tmp_path / "g16.png"
    Image.fromarray(a).save(p)
    x = load_image(p)
    _check(x, 6, 8)
    assert abs(float(x.mean()) - 0.5) < 1e-3  # not saturated to white


def test_exif_rotation(tmp_path):
    img = Image.new("RGB", (8, 4), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 on display
    p = tmp_path / "rot.jpg"
    img.save(p, exif=exif.tobytes())
    _check(load_image(p), 8, 4)


def test_icc_profile_is_applied(tmp_path):
    lab = ImageCms.createProfile("LAB")  # a profile that changes colours when applied
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    img = Image.new("RGB", (4, 4), (200, 100, 50))
    p = tmp_path / "icc.png"
    img.save(p, icc_profile=srgb.tobytes())
    assert torch.allclose(load_image(p), load_image(img), atol=2 / 255)
    assert lab is not None


def test_resize_keeps_aspect():
    img = Image.new("RGB", (400, 300))
    _check(load_image(img, size=64), 48, 64)
    assert fit_size(300, 400, 64) == (48, 64)


def test_bad_files(tmp_path):
    with pytest.raises(GramstyleError, match="not found"):
        load_image(tmp_path / "nope.jpg")
    (tmp_path / "text.jpg").write_text("hello")
    with pytest.raises(GramstyleError, match="not an image"):
        load_image(tmp_path / "text.jpg")
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buf, "JPEG")
    (tmp_path / "cut.jpg").write_bytes(buf.getvalue()[:200])
    with pytest.raises(GramstyleError, match="truncated"):
        load_image(tmp_path / "cut.jpg")
    with pytest.raises(GramstyleError, match="directory"):
        load_image(tmp_path)


def test_decompression_bomb(tmp_path):
    p = tmp_path / "bomb.png"
    Image.new("1", (15000, 15000)).save(p)  # 225 Mpx in a few kB
    assert p.stat().st_size < 100_000
    with pytest.raises(GramstyleError, match="decompression bomb"):
        load_image(p)


def test_save_rounds_clamps_and_is_atomic(tmp_path):
    x = torch.tensor([0.5 / 255, 1.5 / 255, 2.0, -1.0]).reshape(1, 1, 1, 4).expand(1, 3, 1, 4)
    assert list(np.asarray(tensor_to_pil(x))[0, :, 0]) == [0, 2, 255, 0]  # round half even
    p = save_image(x, tmp_path / "out.png")
    assert sorted(f.name for f in tmp_path.iterdir()) == ["out.png"]
    with pytest.raises(GramstyleError, match="exists"):
        save_image(x, p)
    save_image(torch.zeros(1, 3, 1, 4), p, overwrite=True)
    assert np.asarray(Image.open(p)).max() == 0
    with pytest.raises(GramstyleError, match="extension"):
        save_image(x, tmp_path / "out.xyz")
    with pytest.raises(GramstyleError, match="does not exist"):
        save_image(x, tmp_path / "no" / "out.png")


def test_tensor_roundtrip_is_exact():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (1, 3, 5, 7), generator=g).float() / 255
    assert torch.equal(load_image(tensor_to_pil(x)), x)


def test_loaded_tensor_is_contiguous_and_saved_file_readable(tmp_path):
    import os
    import stat

    x = load_image(Image.new("RGB", (5, 3)))
    assert x.is_contiguous()
    p = save_image(x, tmp_path / "o.png")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask


def test_reencode_png_keeps_only_pixels(tmp_path):
    """Untrusted bytes -> a fresh 8-bit sRGB PNG: alpha over white, 16-bit scaled, bombs refused."""
    import io

    import numpy as np
    from PIL import Image

    from gramstyle.errors import TooLarge
    from gramstyle.image import reencode_png

    rgba = Image.new("RGBA", (6, 4), (255, 0, 0, 0))  # fully transparent red
    buf = io.BytesIO()
    rgba.save(buf, format="PNG")
    assert reencode_png(buf.getvalue(), tmp_path / "a.png") == (6, 4)
    with Image.open(tmp_path / "a.png") as im:
        assert im.mode == "RGB" and im.getpixel((0, 0)) == (255, 255, 255)
    deep = Image.fromarray(np.full((4, 4), 65535, dtype=np.uint16))
    buf = io.BytesIO()
    deep.save(buf, format="PNG")
    reencode_png(buf.getvalue(), tmp_path / "b.png")
    with Image.open(tmp_path / "b.png") as im:
        assert im.getpixel((0, 0)) == (255, 255, 255)
    with pytest.raises(TooLarge, match="too many pixels"):
        reencode_png(buf.getvalue(), tmp_path / "c.png", max_pixels=15)
    assert not (tmp_path / "c.png").exists()
