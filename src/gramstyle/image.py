"""The one image contract: inside, float32 RGB in [0, 1] shaped ``(1, 3, H, W)``.

This is the only module that touches Pillow. Loading handles EXIF orientation, ICC
profiles, grayscale, palette, CMYK, alpha (composited over white) and 16-bit images,
and refuses decompression bombs; saving clamps, rounds and writes atomically.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageCms, ImageOps
from torch import Tensor
from torch.nn import functional as F

from .errors import GramstyleError

ImageLike = str | os.PathLike | Image.Image | Tensor

#: Refuse images with more pixels than this (Pillow's bomb limit is 2x its default).
MAX_PIXELS = 2 * 89_478_485


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
    except (ImageCms.PyCMSError, OSError, ValueError):
        return img  # a broken profile: use the pixels as they are


def pil_to_tensor(img: Image.Image) -> Tensor:
    """Any Pillow image -> ``(1, 3, H, W)`` float32 RGB in [0, 1]."""
    img = _to_srgb(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(img, dtype=np.float32)
        # 16-bit greys arrive as I;16 or I; 8-bit converted ones stay below 256.
        scale = 65535.0 if img.mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
        if img.mode == "F":
            scale = max(1.0, float(a.max(initial=0)))
        a = np.clip(a / scale, 0, 1)[..., None].repeat(3, axis=-1)
    else:
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(white, rgba)
        a = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(a).permute(2, 0, 1).unsqueeze(0).contiguous()


def open_image(path: str | os.PathLike, what: str = "image") -> Image.Image:
    """Open and fully decode an image file, upright, or raise a one-line GramstyleError."""
    p = Path(path)
    if not p.exists():
        raise GramstyleError(f"{what} not found: {p}")
    if p.is_dir():
        raise GramstyleError(f"{what} is a directory, not an image: {p}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(p)
            if img.width * img.height > MAX_PIXELS:
                raise GramstyleError(
                    f"{what} {p} is {img.width}x{img.height}: too many pixels "
                    f"(limit {MAX_PIXELS:,}); is it a decompression bomb?"
                )
            img.load()
    except Image.DecompressionBombError:
        raise GramstyleError(
            f"{what} {p} has too many pixels; refusing a possible decompression bomb"
        ) from None
    except Image.UnidentifiedImageError:
        raise GramstyleError(f"{what} {p} is not an image file Pillow can read") from None
    except OSError as e:
        raise GramstyleError(f"{what} {p} could not be read ({e}); is it truncated?") from None
    upright = ImageOps.exif_transpose(img)
    return upright if upright is not None else img


def fit_size(width: int, height: int, longest: int) -> tuple[int, int]:
    """``(w, h)`` scaled so the longest side is ``longest``, aspect kept.

    >>> fit_size(1024, 768, 512)
    (512, 384)
    """
    s = longest / max(width, height)
    return max(1, round(width * s)), max(1, round(height * s))


def open_source(src: ImageLike, what: str = "image") -> tuple[ImageLike, tuple[int, int]]:
    """``src`` ready for :func:`load_image` (a path is opened and decoded once) and its
    ``(width, height)`` upright, so a caller can check the output size before resizing."""
    if isinstance(src, Tensor):
        return src, (int(src.shape[-1]), int(src.shape[-2]))
    img = src if isinstance(src, Image.Image) else open_image(src, what)
    return img, img.size


def load_image(src: ImageLike, size: int | None = None, what: str = "image") -> Tensor:
    """Load a path, PIL image or tensor into the contract, longest side ``size`` if given."""
    if isinstance(src, Tensor):
        x = src.detach()
        if x.dim() == 3:
            x = x.unsqueeze(0)
        if x.dim() != 4 or x.shape[:2] != (1, 3):
            raise GramstyleError(
                f"{what} tensor must be (1, 3, H, W) or (3, H, W), got {tuple(src.shape)}"
            )
        x = x.float().clamp(0, 1)
        return x if size is None else resize(x, size)
    img = src if isinstance(src, Image.Image) else open_image(src, what)
    if size is not None:
        w, h = fit_size(img.width, img.height, size)
        if (w, h) != img.size:
            if img.mode not in ("RGB", "RGBA", "L", "LA"):
                return resize(pil_to_tensor(img), size)
            img = img.resize((w, h), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return pil_to_tensor(img)


def resize(x: Tensor, size: int | tuple[int, int]) -> Tensor:
    """Resize a ``(B, C, H, W)`` tensor, antialiased, to longest side ``size`` or ``(h, w)``."""
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
    a = x.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8)
    return Image.fromarray(a.permute(1, 2, 0).cpu().numpy(), "RGB")


def output_format(path: str | os.PathLike) -> str:
    """Pillow format name for a path's extension, or a GramstyleError."""
    ext = Path(path).suffix.lower()
    fmt = Image.registered_extensions().get(ext)
    if not ext or fmt is None or fmt not in Image.SAVE:
        raise GramstyleError(
            f"cannot tell the image format from {str(path)!r}: "
            "use an extension such as .png or .jpg"
        )
    return fmt


def check_writable(path: str | os.PathLike, overwrite: bool = False) -> None:
    """Raise a GramstyleError now if saving to ``path`` would fail or clobber a file."""
    p = Path(path)
    if p.is_dir():
        raise GramstyleError(f"output {p} is a directory")
    output_format(p)
    if p.exists() and not overwrite:
        raise GramstyleError(f"output {p} exists; pass --overwrite to replace it")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise GramstyleError(f"output folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise GramstyleError(f"output folder {parent} is not writable")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_image(x: Tensor | Image.Image, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write atomically: a temporary file in the same folder, renamed when complete."""
    p = Path(path)
    check_writable(p, overwrite)
    img = x if isinstance(x, Image.Image) else tensor_to_pil(x)
    fmt = output_format(p)
    if fmt == "JPEG":
        img = img.convert("RGB")
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
        with os.fdopen(fd, "wb") as f:
            img.save(f, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
        os.replace(tmp, p)
    except OSError as e:
        raise GramstyleError(f"could not write {p}: {e}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return p
