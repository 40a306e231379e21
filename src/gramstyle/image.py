"""The one image contract: inside, float32 RGB in [0, 1] shaped ``(1, 3, H, W)``.

This is the only module that touches Pillow. Loading handles EXIF orientation, ICC
profiles, grayscale, palette, CMYK, alpha (composited over white) and 16-bit images,
and refuses decompression bombs; saving clamps, rounds and writes atomically.

Decoding is hardened (:func:`decode_image`): whatever a decoder raises on bad data
(``OSError``, ``ValueError`` for PNG text/ICC chunk bombs or a PPM maxval of 0,
``SyntaxError``, ``struct.error``, ``EOFError``, ``NotImplementedError``, ``MemoryError``
...) becomes one :class:`GramstyleError` naming the cause; Pillow's warnings (corrupt
EXIF) are silenced and what libtiff writes straight to file descriptor 2 is caught, so
a good image loads silently and a bad one says one thing. Files are opened through
:func:`gramstyle.fs.open_input` (regular files only: a FIFO never hangs us).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import struct
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Union

import numpy as np
from PIL import Image, ImageCms, ImageOps

from .errors import GramstyleError, TooLarge
from .fs import atomic_write, open_input, os_reason, output_path, probe_writable
from .sizes import fit_size

if TYPE_CHECKING:
    from torch import Tensor

# torch is imported inside the functions that need it: checking and decoding files needs
# only Pillow, so a command refuses a bad file before it pays for importing torch.
ImageLike = Union[str, os.PathLike, Image.Image, "Tensor"]

#: Refuse images with more pixels than this (Pillow's bomb limit is 2x its default).
MAX_PIXELS = 2 * 89_478_485
#: Formats never decoded: Pillow hands EPS to Ghostscript, an interpreter we will not run
#: on a user's file.
REFUSED_FORMATS = frozenset({"EPS"})
#: Only these decoders use libtiff, which writes its messages to fd 2 itself.
_C_STDERR_FORMATS = frozenset({"TIFF"})
_fd2_lock = threading.Lock()
#: Modes pil_to_tensor handles as they are; a decoder's other modes are converted.
_MODES = frozenset(
    {"1", "L", "P", "RGB", "RGBA", "CMYK", "YCbCr", "LA", "PA", "I", "F", "I;16", "I;16B", "I;16L"}
)


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
    if img.mode in _GREY_MODES:
        check_pixels(img, what)
        a = np.asarray(img, dtype=np.float32)
        a = np.clip(a / _grey_scale(img), 0, 1)[..., None].repeat(3, axis=-1)
    else:
        a = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    import torch

    return torch.from_numpy(a).permute(2, 0, 1).unsqueeze(0).contiguous()


#: High-precision grey modes: kept in float until scaled to [0, 1].
_GREY_MODES = ("I;16", "I;16B", "I;16L", "I", "F")


def _grey_scale(img: Image.Image) -> float:
    """The value that is white in a high-precision grey image."""
    if img.mode.startswith("I;16"):
        return 65535.0
    hi = float(img.getextrema()[1])  # type: ignore[arg-type, index]
    if img.mode == "F":
        return max(1.0, hi)
    return 65535.0 if hi > 255 else 255.0  # 16-bit greys arrive as I; 8-bit ones stay low


def check_pixels(img: Image.Image, what: str = "image") -> None:
    """Refuse a float image with NaN or infinite pixels (integer modes cannot have any).

    In Pillow's C code, without a copy: ``x != x`` marks NaN, the extrema show infinity
    (a copy into numpy costs seconds on a 100 Mpx image).
    """
    if img.mode != "F":
        return
    from PIL import ImageMath

    lo, hi = img.getextrema()  # type: ignore[misc]
    nan = ImageMath.lambda_eval(lambda a: a["x"] != a["x"], x=img)
    if not (np.isfinite(lo) and np.isfinite(hi)) or nan.getextrema()[1]:  # type: ignore[index]
        raise GramstyleError(f"{what} has NaN or infinite pixel values")


def open_image(
    path: str | os.PathLike, what: str = "image", max_pixels: int = MAX_PIXELS
) -> Image.Image:
    """Open and fully decode an image file, upright, or raise a one-line GramstyleError.

    The path must be a readable regular file (:func:`gramstyle.fs.open_input`
    says what else it is: a FIFO, a device, a symlink loop, permission denied...).
    More than ``max_pixels`` raises :class:`~gramstyle.errors.TooLarge` before decoding.
    """
    with open_input(path, what) as f:
        return _decode(f, f"{what} {path}", max_pixels)


def check_image_file(path: str | os.PathLike, what: str = "image") -> tuple[int, int]:
    """Check that ``path`` is an image we can use; return its upright ``(width, height)``.

    Everything :func:`gramstyle.fs.open_input` checks, then a full decode within the
    pixel limit, Pillow's text/ICC chunk limits and our handling of every exception a
    decoder raises, and finite pixel values.
    """
    img = open_image(path, what)
    check_pixels(img, f"{what} {path}")  # NaN/infinity in float images
    return img.size


def decode_image(data: bytes, what: str = "image", max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode an image held in memory (an upload), with :func:`open_image`'s checks."""
    return _decode(io.BytesIO(data), what, max_pixels)


def reencode_png(
    data: bytes, dest: str | os.PathLike, what: str = "image", max_pixels: int = MAX_PIXELS
) -> tuple[int, int]:
    """Decode untrusted image bytes and write them to ``dest`` as a fresh sRGB PNG.

    Nothing of the original file but its pixels survives (no name, format, metadata or
    trailing bytes): the image is decoded upright, colour-managed to sRGB and flattened
    over white, then written atomically. Returns ``(width, height)``. Raises
    :class:`~gramstyle.errors.TooLarge` for more than ``max_pixels`` (checked from the
    header, before decoding) and a GramstyleError for anything Pillow cannot decode.
    """
    img = _flatten(decode_image(data, what, max_pixels))
    if img.mode in _GREY_MODES:  # 16-bit and float greys: through the float contract
        img = tensor_to_pil(pil_to_tensor(img, what))
    rgb = img.convert("RGB")
    with atomic_write(dest) as f:
        rgb.save(f, format="PNG", compress_level=1)  # fast: inputs are not archives
    return rgb.width, rgb.height


@contextlib.contextmanager
def _c_stderr(enabled: bool) -> Iterator[list[str]]:
    """Catch what C libraries write to fd 2 meanwhile; the text lands in the list.

    libtiff prints its warnings and errors there itself, bypassing Python. fd 2 belongs
    to the whole process, so the capture is short (one decode) and serialised.
    """
    out: list[str] = []
    if not enabled:
        yield out
        return
    with _fd2_lock, tempfile.TemporaryFile() as sink:
        try:
            import sys

            sys.stderr.flush()
        except (OSError, ValueError, AttributeError):
            pass
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield out
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            out.append(sink.read(4096).decode("utf-8", "replace"))


def _reason(e: BaseException, c_text: str) -> str:
    """Why a decoder failed, in words: the cause when it is known, else the decoder's own."""
    text = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
    c_line = next((ln.strip() for ln in c_text.splitlines() if ln.strip()), "")
    if isinstance(e, OSError) and e.errno is not None:
        return f"could not be read: {os_reason(e)}"
    if "Decompressed data too large" in text or "MAX_TEXT_MEMORY" in text:
        return "has a text or ICC profile chunk larger than Pillow's limit (a decompression bomb?)"
    if isinstance(e, (EOFError, struct.error)) or any(
        k in text.lower() for k in ("truncated", "not enough", "broken data stream", "premature")
    ):
        return f"is truncated or damaged ({c_line or text})"
    return f"could not be decoded: damaged or unsupported data ({c_line or text})"


def _decode(f: IO[bytes], label: str, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode the first frame of ``f`` fully and upright; every failure is one line."""
    c_text: list[str] = []
    img: Image.Image
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # corrupt EXIF, truncated tags, deprecations
            img = Image.open(f, formats=_open_formats())
            if img.width * img.height > max_pixels:
                raise TooLarge(
                    f"{label} is {img.width}x{img.height}: too many pixels "
                    f"(limit {max_pixels:,}); is it a decompression bomb?"
                )
            if img.width < 1 or img.height < 1:
                raise GramstyleError(f"{label} is empty ({img.width}x{img.height} pixels)")
            with _c_stderr(img.format in _C_STDERR_FORMATS) as c_text:
                img.load()
            upright = ImageOps.exif_transpose(img)
            img = upright if upright is not None else img
            if img.mode not in _MODES:  # LAB, HSV, RGBX...: convert now, while errors map
                img = img.convert("RGBA" if "A" in img.mode else "RGB")
            return img
    except GramstyleError:
        raise
    except Image.DecompressionBombError:
        raise TooLarge(
            f"{label} has too many pixels; refusing a possible decompression bomb"
        ) from None
    except Image.UnidentifiedImageError:
        raise GramstyleError(f"{label} is not an image file Pillow can read") from None
    except MemoryError:
        raise GramstyleError(f"{label} needs more memory to decode than is free") from None
    except Exception as e:  # noqa: BLE001 - any decoder failure on user data is bad data
        raise GramstyleError(f"{label} {_reason(e, ''.join(c_text))}") from None


@functools.cache
def _open_formats() -> tuple[str, ...]:
    Image.init()
    return tuple(f for f in Image.OPEN if f not in REFUSED_FORMATS)


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
            if img.mode in _GREY_MODES:  # resized in float, so the precision stays
                check_pixels(img, label)
                scale = _grey_scale(img)
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


def image_extensions() -> set[str]:
    """Lower-case file extensions (with the dot) that Pillow can open."""
    return {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}


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
