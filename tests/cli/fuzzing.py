"""What the fuzz tests and ``scripts/fuzz.py`` share: seed files, mutations, checks.

Seeds are real PNG, JPEG, TIFF, GIF and WebP files (and a few more formats) made in
memory. A mutation is a short list of :data:`Op` tuples (flip a bit, set a byte, cut,
drop or repeat a span, insert bytes, repeat a PNG chunk), so hypothesis can shrink a
failure to the few operations that matter and the script can draw the same operations
from a seeded ``random.Random``. Each ``check_*`` function runs one input through the
real code and returns normally when the outcome is allowed: a valid result or a
:class:`GramstyleError`. Anything else propagates (and fails the test).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import random
import signal
import struct
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from gramstyle.errors import GramstyleError

#: Seconds one fuzz case may take before it counts as a hang.
CASE_SECONDS = 20
#: The pixel limit while fuzzing. A flipped header bit easily declares 100 Mpx, which
#: the real limit (178 Mpx) lets through and which takes seconds to decode: the same
#: code path with a smaller limit keeps every case fast, so a slow case means a hang.
FUZZ_MAX_PIXELS = 4_000_000


@contextlib.contextmanager
def pixel_limit(limit: int = FUZZ_MAX_PIXELS) -> Iterator[None]:
    """Run with ``gramstyle.decode.MAX_PIXELS`` set to ``limit``."""
    from gramstyle import decode as image

    old = image.MAX_PIXELS
    image.MAX_PIXELS = limit
    try:
        yield
    finally:
        image.MAX_PIXELS = old


# ---------------------------------------------------------------- seeds


def _rgb(w: int, h: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    a = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx + yy) % 256], -1)
    a = (a + rng.integers(0, 40, (h, w, 3))).clip(0, 255).astype(np.uint8)
    return Image.fromarray(a)


def _save(img: Image.Image, fmt: str, **kw) -> bytes:
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def seeds() -> dict[str, bytes]:
    """Name -> bytes of a small valid image file, one per format and variant."""
    img = _rgb(24, 18, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010E] = "a description"
    grey16 = Image.fromarray((np.arange(24 * 18).reshape(18, 24) * 150).astype(np.uint16))
    floats = Image.fromarray(np.linspace(0, 1, 24 * 18, dtype=np.float32).reshape(18, 24), "F")
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("k", "v")
    info.add_text("z", "compressed " * 20, zip=True)
    out = {
        "png": _save(img, "PNG"),
        "png-text-icc": _save(img, "PNG", pnginfo=info, icc_profile=srgb),
        "png-palette": _save(img.convert("P"), "PNG", transparency=0),
        "png-16bit": _save(grey16, "PNG"),
        "png-rgba": _save(img.convert("RGBA"), "PNG"),
        "jpeg": _save(img, "JPEG", quality=80),
        "jpeg-exif": _save(img, "JPEG", exif=exif.tobytes()),
        "jpeg-progressive": _save(img, "JPEG", progressive=True),
        "jpeg-cmyk": _save(img.convert("CMYK"), "JPEG"),
        "tiff": _save(img, "TIFF"),
        "tiff-lzw": _save(img, "TIFF", compression="tiff_lzw"),
        "tiff-deflate": _save(img, "TIFF", compression="tiff_adobe_deflate"),
        "tiff-jpeg": _save(img, "TIFF", compression="jpeg"),
        "tiff-float": _save(floats, "TIFF"),
        "gif": _save(img.convert("P"), "GIF"),
        "gif-animated": _save(img, "GIF", save_all=True, append_images=[_rgb(24, 18, 1)]),
        "webp": _save(img, "WEBP", quality=70),
        "webp-lossless": _save(img, "WEBP", lossless=True),
        "bmp": _save(img, "BMP"),
        "ppm": _save(img, "PPM"),
        "ico": _save(img, "ICO"),
        "tga": _save(img, "TGA"),
        "dds": _save(img, "DDS"),
        "sgi": _save(img, "SGI"),
    }
    if "QOI" in Image.SAVE:
        out["qoi"] = _save(img, "QOI")
    return out


# ---------------------------------------------------------------- mutations

#: One mutation: (kind, where in [0, 1], length 1..64, a byte value).
Op = tuple[str, float, int, int]
KINDS = ("flip", "set", "cut", "drop", "repeat", "insert", "head", "chunk")


def _png_chunks(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each chunk of a PNG, as far as its structure reads."""
    out, i = [], 8
    while i + 12 <= len(data):
        (n,) = struct.unpack(">I", data[i : i + 4])
        end = i + 12 + n
        if end > len(data):
            break
        out.append((i, end))
        i = end
    return out


def mutate(data: bytes, ops: Sequence[Op]) -> bytes:
    """Apply each operation in turn (positions are fractions of the current length)."""
    b = bytearray(data)
    for kind, where, length, value in ops:
        if not b:
            b = bytearray([value])
            continue
        i = min(len(b) - 1, int(where * len(b)))
        if kind == "flip":
            b[i] ^= 1 << (value % 8)
        elif kind == "set":
            b[i] = value
        elif kind == "cut":
            del b[i:]
        elif kind == "drop":
            del b[i : i + length]
        elif kind == "repeat":
            b[i:i] = b[i : i + length] * (1 + value % 4)
        elif kind == "insert":
            b[i:i] = bytes((value + k * 97) % 256 for k in range(length))
        elif kind == "head":  # headers decide sizes, modes and offsets: hit them often
            j = min(len(b) - 1, int(where * 64))
            b[j] ^= 1 << (value % 8)
        elif kind == "chunk":  # repeat or drop a whole PNG chunk (IDAT, tEXt, iCCP...)
            chunks = _png_chunks(bytes(b))
            if chunks:
                s, e = chunks[int(where * len(chunks)) % len(chunks)]
                if value % 2:
                    b[e:e] = b[s:e] * (1 + length % 3)
                else:
                    del b[s:e]
    return bytes(b)


def random_ops(rng: random.Random, max_ops: int = 6) -> list[Op]:
    """The same operations :func:`ops_strategy` draws, from a seeded ``random.Random``."""
    return [
        (rng.choice(KINDS), rng.random(), rng.randint(1, 64), rng.randint(0, 255))
        for _ in range(rng.randint(1, max_ops))
    ]


def ops_strategy(max_ops: int = 6):
    from hypothesis import strategies as st

    op = st.tuples(
        st.sampled_from(KINDS),
        st.floats(0, 1, allow_nan=False),
        st.integers(1, 64),
        st.integers(0, 255),
    )
    return st.lists(op, min_size=1, max_size=max_ops)


# ---------------------------------------------------------------- options

#: Values that have broken option parsers before: non-finite, huge, odd spellings.
ODD_VALUES = (
    "nan",
    "-nan",
    "inf",
    "-inf",
    "1e309",
    "-1e309",
    "1e-320",
    "0",
    "-0",
    "-1",
    "1e30",
    str(2**64),
    str(2**64 - 1),
    str(-(2**63)),
    "9" * 400,
    "0x10",
    "1_000",
    " 5 ",
    "",
    "١٢",
    "½",
    "1e3",
    "3.0",
    "relu1_1:1,relu1_1:2",
    "relu1_1:nan",
    ":1",
    ",",
    "relu9_9",
    "a" * 300,
    "\x00",
    "é",
    "--size",
    "-",
    "content",
    "noise",
    "adam",
    "/dev/zero",
    "https://",
    "http://[::1",
    "0" * 64,
)


def setting_options() -> list[str]:
    """Every ``--option`` that ``gramstyle stylize`` builds from ``Settings``."""
    import dataclasses

    from gramstyle.settings import Settings

    return [f"--{f.name.replace('_', '-')}" for f in dataclasses.fields(Settings)]


def options_strategy():
    """argv tails: 1-4 settings options, each with an odd, random or numeric value."""
    from hypothesis import strategies as st

    value = st.one_of(
        st.sampled_from(ODD_VALUES),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.integers(-(2**200), 2**200).map(str),
        st.text(max_size=30),
    )
    pair = st.tuples(st.sampled_from(setting_options()), value)
    return st.lists(pair, min_size=1, max_size=4).map(lambda ps: [x for p in ps for x in p])


def random_options(rng: random.Random) -> list[str]:
    opts = setting_options()
    argv: list[str] = []
    for _ in range(rng.randint(1, 4)):
        r = rng.random()
        if r < 0.4:
            v = rng.choice(ODD_VALUES)
        elif r < 0.6:
            v = repr(
                rng.choice(
                    [
                        math.nan,
                        math.inf,
                        -math.inf,
                        rng.uniform(-1e308, 1e308),
                        rng.uniform(-10, 10),
                        10 ** rng.uniform(-300, 300),
                    ]
                )
            )
        elif r < 0.8:
            v = str(rng.randint(-(2**200), 2**200) >> rng.randint(0, 200))
        else:
            v = "".join(chr(rng.randint(1, 0x2FFF)) for _ in range(rng.randint(0, 20)))
        argv += [rng.choice(opts), v]
    return argv


def settings_kwargs_strategy():
    """Keyword arguments for ``Settings(**kw)``: random fields, values of any type."""
    from hypothesis import strategies as st

    from gramstyle.settings import Settings

    names = [f.name for f in __import__("dataclasses").fields(Settings)]
    value = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.dictionaries(st.text(max_size=8), st.floats(allow_nan=True), max_size=3),
        st.sampled_from(["lbfgs", "adam", "content", "noise", "adain", "cpu", "fp32", "max"]),
    )
    return st.dictionaries(st.sampled_from(names), value, max_size=4)


# ---------------------------------------------------------------- checks


class Hang(AssertionError):
    """A fuzz case ran past :data:`CASE_SECONDS`."""


@contextlib.contextmanager
def time_limit(seconds: int = CASE_SECONDS) -> Iterator[None]:
    """Fail with :class:`Hang` if the block runs past ``seconds`` (main thread only)."""

    def ring(signum, frame):
        raise Hang(f"a fuzz case ran past {seconds} s")

    old = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


class Noise(AssertionError):
    """Something reached stderr or a warning was raised on the way (only our line may)."""


@contextlib.contextmanager
def silent() -> Iterator[None]:
    """Fail with :class:`Noise` if the block writes to fd 2 or raises a Python warning."""
    import sys
    import warnings

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        text = sink.read(2000).decode("utf-8", "replace")
    if text.strip() or caught:
        raise Noise(
            f"stderr {text.strip()[:200]!r}, warnings {[str(w.message) for w in caught][:3]}"
        )


def _check_tensor(x) -> None:
    import torch

    assert x.dtype == torch.float32 and x.dim() == 4 and x.shape[:2] == (1, 3), x.shape
    assert x.shape[-1] >= 1 and x.shape[-2] >= 1
    assert bool(torch.isfinite(x).all()) and float(x.min()) >= 0 and float(x.max()) <= 1


def check_decode(data: bytes) -> str:
    """Decode bytes as an upload would be, then load it into the image contract at 48 px.

    Returns "ok" or "refused".
    """
    from gramstyle.decode import decode_image
    from gramstyle.image import load_image

    try:
        with silent():
            img = decode_image(data, "fuzz image")
            x = load_image(img, 48, "fuzz image")  # as the CLI loads a content image
        _check_tensor(x)
        return "ok"
    except GramstyleError as e:
        assert "\n" not in str(e)
        return "refused"


def check_file(data: bytes, folder: Path, size: int | None = 32) -> str:
    """Write bytes to a file and load it the way the CLI does (path, resize, contract)."""
    from gramstyle.image import load_image

    fd, name = tempfile.mkstemp(dir=folder, suffix=".img")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            with silent():
                x = load_image(name, size, "fuzz image")
            _check_tensor(x)
            return "ok"
        except GramstyleError as e:
            assert "\n" not in str(e)
            return "refused"
    finally:
        os.unlink(name)


def check_options(tail: Sequence[str]) -> str:
    """Parse ``stylize`` options and validate the settings (no files, no run)."""
    from gramstyle import cli
    from gramstyle.cli.options import settings_from
    from gramstyle.inputs import check_method, check_settings
    from gramstyle.settings import Settings

    argv = ["stylize", "c.png", "s.png", "-o", "out.png", *tail]
    if any(a.startswith(("-h", "--h")) for a in tail):
        return "skipped"  # --help (or an abbreviation of it) prints help and exits
    try:
        ns = cli.build_parser().parse_args(argv)
        s = settings_from(ns)
        assert isinstance(s, Settings)
        import torch

        check_settings(s)
        check_method(s, (s.size, s.size), [], 0, torch.device("cpu"))  # a square: the worst
        return "ok"
    except GramstyleError as e:
        assert "\n" not in str(e)
        return "refused"


def check_settings(kwargs: dict) -> str:
    from gramstyle.settings import Settings

    try:
        s = Settings(**kwargs)
    except GramstyleError as e:
        assert "\n" not in str(e)
        return "refused"
    for f in ("size", "steps", "seed", "style_weight", "lr", "alpha"):
        v = getattr(s, f)
        assert v is None or (isinstance(v, (int, float)) and math.isfinite(v)), (f, v)
    return "ok"


def check_layers(text: str) -> str:
    from gramstyle.settings import parse_layer_weights

    try:
        out = parse_layer_weights(text)
    except GramstyleError as e:
        assert "\n" not in str(e)
        return "refused"
    assert out and all(isinstance(v, float) for v in out.values())
    return "ok"


def crc_fixed(data: bytes) -> bytes:
    """Recompute PNG chunk CRCs, so mutations reach the decoders behind the CRC check."""
    if not data.startswith(b"\x89PNG"):
        return data
    b = bytearray(data)
    for s, e in _png_chunks(data):
        b[e - 4 : e] = struct.pack(">I", zlib.crc32(bytes(b[s + 4 : e - 4])) & 0xFFFFFFFF)
    return bytes(b)
