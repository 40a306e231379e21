"""Reading image files a user hands us, hardened: one line for anything wrong.

Whatever a decoder raises on bad data (``OSError``, ``ValueError`` for PNG text/ICC
chunk bombs or a PPM maxval of 0, ``SyntaxError``, ``struct.error``, ``EOFError``,
``NotImplementedError``, ``MemoryError`` ...) becomes one
:class:`~gramstyle.errors.GramstyleError` naming the cause; Pillow's warnings (corrupt
EXIF) are silenced and what libtiff writes straight to file descriptor 2 is caught, so
a good image loads silently and a bad one says one thing. Files are opened through
:func:`gramstyle.fs.open_input` (regular files only: a FIFO never hangs us); more
pixels than the limit are refused from the header, before decoding.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import struct
import tempfile
import threading
import warnings
from collections.abc import Iterator
from typing import IO

import numpy as np
from PIL import Image, ImageOps

from .errors import GramstyleError, TooLarge
from .fs import open_input, os_reason

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


#: High-precision grey modes: kept in float until scaled to [0, 1].
GREY_MODES = ("I;16", "I;16B", "I;16L", "I", "F")


def grey_scale(img: Image.Image) -> float:
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
    path: str | os.PathLike, what: str = "image", max_pixels: int | None = None
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


def decode_image(data: bytes, what: str = "image", max_pixels: int | None = None) -> Image.Image:
    """Decode an image held in memory (an upload), with :func:`open_image`'s checks."""
    return _decode(io.BytesIO(data), what, max_pixels)


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


def _decode(f: IO[bytes], label: str, max_pixels: int | None = None) -> Image.Image:
    """Decode the first frame of ``f`` fully and upright; every failure is one line.

    ``max_pixels``: the limit, else :data:`MAX_PIXELS` (read now, so it can be lowered).
    """
    max_pixels = MAX_PIXELS if max_pixels is None else max_pixels
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


def image_extensions() -> set[str]:
    """Lower-case file extensions (with the dot) that Pillow can open."""
    return {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}
