"""The one image contract: inside, float32 RGB in [0, 1] shaped ``(1, 3, H, W)``.

With :mod:`gramstyle.decode` (which reads files, hardened), the only modules that touch
Pillow. Loading handles EXIF orientation, ICC profiles, grayscale, palette, CMYK,
alpha (composited over white) and 16-bit images; saving clamps, rounds and writes
atomically, an image and its metadata together or not at all.
"""

from __future__ import annotations

import functools
import io
import json
import os
import warnings
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Union

import numpy as np
from PIL import Image, ImageCms

from .decode import (
    GREY_MODES,
    check_pixels,
    decode_image,
    grey_scale,
    open_image,
)
from .errors import GramstyleError
from .fs import atomic_write, output_path, probe_writable
from .sizes import fit_size

if TYPE_CHECKING:
    from torch import Tensor

# torch is imported inside the functions that need it: checking and decoding files needs
# only Pillow, so a command refuses a bad file before it pays for importing torch.
ImageLike = Union[str, os.PathLike, Image.Image, "Tensor"]


def _to_srgb(img: Image.Image) -> Image.Image:
    """Convert an image with an embedded ICC profile to sRGB; leave others alone."""
    icc = img.info.get("icc_profile")
    if not icc or img.mode not in ("RGB", "RGBA", "CMYK", "L", "LA"):
        return img
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        out_mode = "RGBA" if img.mode in ("RGBA", "LA") else "RGB"
        dst = ImageCms.createProfile("sRGB")
        out = ImageCms.profileToProfile(img, src, dst, outputMode=out_mode)
        return out if out is not None else img
    except Exception:  # noqa: BLE001 - a broken profile: use the pixels as they are
        return img


def _flatten(img: Image.Image) -> Image.Image:
    """Any Pillow image -> sRGB, alpha composited over white (greys keep their depth)."""
    img = _to_srgb(img)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return img


def pil_to_tensor(img: Image.Image, what: str = "image") -> Tensor:
    """Any Pillow image -> ``(1, 3, H, W)`` float32 RGB in [0, 1].

    A float image with NaN or infinite pixels is refused (``what`` names it).
    """
    img = _flatten(img)
    if img.mode in GREY_MODES:
        check_pixels(img, what)
        a = np.asarray(img, dtype=np.float32)
        a = np.clip(a / grey_scale(img), 0, 1)[..., None].repeat(3, axis=-1)
    else:
        a = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    import torch

    return torch.from_numpy(a).permute(2, 0, 1).unsqueeze(0).contiguous()


#: Longest side of the small copies a page shows (:func:`write_thumbnail`).
THUMBNAIL_SIDE = 160


def reencode_png(
    data: bytes,
    dest: str | os.PathLike,
    what: str = "image",
    max_pixels: int | None = None,
    thumbnail: str | os.PathLike | None = None,
) -> tuple[int, int]:
    """Decode untrusted image bytes and write them to ``dest`` as a fresh sRGB PNG.

    Nothing of the original file but its pixels survives (no name, format, metadata or
    trailing bytes): the image is decoded upright, colour-managed to sRGB and flattened
    over white, then written atomically; a ``thumbnail`` path gets a small JPEG copy
    too (:func:`write_thumbnail`). Returns ``(width, height)``. Raises
    :class:`~gramstyle.errors.TooLarge` for more than ``max_pixels`` (checked from the
    header, before decoding) and a GramstyleError for anything Pillow cannot decode.
    """
    img = _flatten(decode_image(data, what, max_pixels))
    if img.mode in GREY_MODES:  # 16-bit and float greys: through the float contract
        img = tensor_to_pil(pil_to_tensor(img, what))
    rgb = img.convert("RGB")
    with atomic_write(dest) as f:
        rgb.save(f, format="PNG", compress_level=1)  # fast: inputs are not archives
    if thumbnail is not None:
        write_thumbnail(rgb, thumbnail)
    return rgb.width, rgb.height


def write_thumbnail(img: Image.Image, dest: str | os.PathLike) -> None:
    """A JPEG copy of the RGB ``img``, longest side at most :data:`THUMBNAIL_SIDE`."""
    small = img.copy()
    small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    with atomic_write(dest) as f:
        small.save(f, format="JPEG", quality=85)


def open_source(src: ImageLike, what: str = "image") -> tuple[ImageLike, tuple[int, int]]:
    """``src`` ready for :func:`load_image` (a path is opened and decoded once) and its
    ``(width, height)`` upright, so a caller can check the output size before resizing."""
    import torch

    if isinstance(src, torch.Tensor):
        return src, (int(src.shape[-1]), int(src.shape[-2]))
    img = src if isinstance(src, Image.Image) else open_image(src, what)
    return img, img.size


def load_image(src: ImageLike, size: int | None = None, what: str = "image") -> Tensor:
    """Load a path, PIL image or tensor into the contract, longest side ``size`` if given."""
    import torch

    if isinstance(src, torch.Tensor):
        x = src.detach()
        if x.dim() == 3:
            x = x.unsqueeze(0)
        if x.dim() != 4 or x.shape[:2] != (1, 3):
            raise GramstyleError(
                f"{what} tensor must be (1, 3, H, W) or (3, H, W), got {tuple(src.shape)}"
            )
        if x.shape[-1] < 1 or x.shape[-2] < 1:
            raise GramstyleError(f"{what} tensor is empty: {tuple(src.shape)}")
        if not bool(torch.isfinite(x).all()):
            raise GramstyleError(f"{what} tensor has NaN or infinite values")
        x = x.float().clamp(0, 1)
        return x if size is None else resize(x, size)
    label = what if isinstance(src, Image.Image) else f"{what} {src}"
    img = src if isinstance(src, Image.Image) else open_image(src, what)
    if size is not None:
        w, h = fit_size(img.width, img.height, size)
        if (w, h) != img.size:
            if img.mode in GREY_MODES:  # resized in float, so the precision stays
                check_pixels(img, label)
                scale = grey_scale(img)
                small = img.convert("F").resize((w, h), Image.Resampling.LANCZOS, reducing_gap=3.0)
                a = np.clip(np.asarray(small, dtype=np.float32) / scale, 0, 1)
                return torch.from_numpy(a)[None, None].expand(1, 3, h, w).contiguous()
            if img.mode not in ("RGB", "RGBA", "L", "LA"):
                # Palette, CMYK, 1-bit...: to 8-bit RGB(A) in Pillow first, so a huge
                # image is reduced before it becomes a float tensor (12 bytes a pixel).
                srgb = _to_srgb(img)
                alpha = srgb.mode in ("RGBA", "LA", "PA") or "transparency" in srgb.info
                img = srgb.convert("RGBA" if alpha else "RGB")
                img.info.pop("icc_profile", None)  # already applied
            img = img.resize((w, h), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return pil_to_tensor(img, label)


def resize(x: Tensor, size: int | tuple[int, int]) -> Tensor:
    """Resize a ``(B, C, H, W)`` tensor, antialiased, to longest side ``size`` or ``(h, w)``."""
    from torch.nn import functional as F

    if isinstance(size, int):
        w, h = fit_size(x.shape[-1], x.shape[-2], size)
        size = (h, w)
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False).clamp(
        0, 1
    )


def tensor_to_pil(x: Tensor) -> Image.Image:
    """``(1, 3, H, W)`` or ``(3, H, W)`` in [0, 1] -> 8-bit RGB, clamped and rounded."""
    if x.dim() == 4:
        x = x[0]
    import torch

    a = x.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8)
    return Image.fromarray(a.permute(1, 2, 0).cpu().numpy(), "RGB")


def output_format(path: str | os.PathLike) -> str:
    """Pillow format name for a path's extension, or a GramstyleError.

    The format must really encode an RGB image: some registered ones do not (``.blp``,
    ``.xbm``, ``.msp`` ...), which is found by encoding a tiny image in memory once.
    """
    ext = Path(path).suffix.lower()
    fmt = Image.registered_extensions().get(ext)
    if not ext or fmt is None or fmt not in Image.SAVE:
        raise GramstyleError(
            f"cannot tell the image format from {str(path)!r}: "
            "use an extension such as .png or .jpg"
        )
    failure = _encode_failure(fmt)
    if failure:
        raise GramstyleError(
            f"cannot write {ext} files: Pillow's {fmt} writer fails on an RGB image "
            f"({failure}); use .png, .jpg, .webp or .tif"
        )
    return fmt


def _encode(img: Image.Image, f: IO[bytes], fmt: str, **options: Any) -> None:
    if fmt == "JPEG":
        img = img.convert("RGB")
        options = {"quality": 95, **options}
    img.save(f, format=fmt, **options)


@functools.cache
def _encode_failure(fmt: str) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _encode(Image.new("RGB", (8, 8), (200, 100, 50)), io.BytesIO(), fmt)
    except Exception as e:  # noqa: BLE001 - any failure means we cannot write it
        return str(e).splitlines()[0][:80] if str(e) else type(e).__name__
    return ""


#: Formats that can carry :func:`save_image`'s ``metadata`` (PNG text chunks, a JPEG comment).
METADATA_FORMATS = ("PNG", "JPEG")


def _metadata_options(fmt: str, metadata: dict[str, str]) -> dict[str, Any]:
    """Pillow save options that embed ``metadata`` in the file itself."""
    if fmt == "PNG":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        for key, value in metadata.items():
            info.add_itxt(key, value)  # iTXt: UTF-8, any length
        return {"pnginfo": info}
    if fmt == "JPEG":
        return {"comment": json.dumps(metadata, sort_keys=True).encode()}
    raise GramstyleError(f"a {fmt} file cannot carry gramstyle's metadata; use .png or .jpg")


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``metadata`` :func:`save_image` embedded in ``path`` ({} if none or unreadable)."""
    try:
        with Image.open(path) as img:
            if img.format == "PNG":
                text = getattr(img, "text", {})  # reads the text chunks, not the pixels
                return {str(k): str(v) for k, v in text.items()}
            if img.format == "JPEG":
                raw = img.info.get("comment", b"")
                data = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
                return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError, Image.UnidentifiedImageError):
        pass
    return {}


def save_image(
    x: Tensor | Image.Image,
    path: str | os.PathLike,
    overwrite: bool = False,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write atomically: a temporary file in the same folder, renamed when complete.

    ``metadata`` (PNG and JPEG only) is embedded in the file, so it appears together
    with the pixels or not at all; :func:`read_metadata` reads it back.
    """
    p = output_path(path, overwrite, probe=False)
    img = x if isinstance(x, Image.Image) else tensor_to_pil(x)
    fmt = output_format(p)
    options = _metadata_options(fmt, metadata) if metadata else {}
    with atomic_write(p) as f:
        _encode(img, f, fmt, **options)
    return p


def check_output(
    path: str | os.PathLike, overwrite: bool = False, what: str = "output", probe: bool = True
) -> Path:
    """Check, before any work, that an image can be written at ``path``: the path
    (:func:`gramstyle.fs.output_path`) and a format Pillow really writes (a tiny image
    is encoded in memory: ``.blp`` and ``.xbm`` are registered but fail)."""
    p = output_path(path, overwrite, what, probe=False)
    output_format(p)
    if probe:
        probe_writable(p, what)
    return p
