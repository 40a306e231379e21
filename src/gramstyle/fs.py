"""The file system: paths checked before any work, and the one atomic writer.

Every command checks what it reads and writes here before it loads a network, so a run
either fails in its first second with one :class:`~gramstyle.errors.GramstyleError`
naming the real cause, or runs to the end:

- :func:`input_file` / :func:`open_input`: a regular file (never a FIFO, device, socket
  or folder), readable, within a size limit; opened without ever blocking.
- :func:`output_path` / :func:`output_dir`: the name fits the file system, the folder
  exists and takes a new file (tried, not guessed), nothing that is not a regular file
  is replaced, an existing file only with ``overwrite``.
- :func:`atomic_write`: a temporary file beside the target, renamed over it once whole,
  so a crash, a full disk or Ctrl-C never leaves half a file. Every writer of the
  package (images, checkpoints, job states, results) goes through it.

Nothing here imports torch or Pillow.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from .errors import DiskFull, GramstyleError

#: Input files larger than this are refused before reading (a 178 Mpx 16-bit RGB TIFF,
#: the largest image the pixel limit lets through, is about 1 GiB).
MAX_INPUT_BYTES = 2 << 30
#: Temporary names are ``.NAME.XXXXXXXX.tmp`` with NAME cut to this many characters,
#: so any name the file system accepts also has a temporary name it accepts.
TEMP_STEM = 200


def os_reason(e: OSError) -> str:
    """An OSError as the words a user needs (the real cause, not a guess)."""
    reasons = {
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ELOOP: "a symlink loop (or too many levels of symlinks)",
        errno.ENAMETOOLONG: "the name is too long for the file system",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
        errno.EROFS: "the file system is read-only",
        errno.ENOSPC: "no space left on the device",
        errno.EDQUOT: "the disk quota is exceeded",
        errno.EIO: "an input/output error",
    }
    return reasons.get(e.errno or 0, e.strerror or str(e) or type(e).__name__).lower()


def is_disk_full(e: BaseException) -> bool:
    """True for the errors that mean "no room": ENOSPC and EDQUOT."""
    return isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)


def write_error(path: str | os.PathLike, e: OSError) -> GramstyleError:
    """The one-line error for a write that failed; :class:`DiskFull` when out of room."""
    kind = DiskFull if is_disk_full(e) else GramstyleError
    return kind(f"could not write {path}: {os_reason(e)}")


# ---------------------------------------------------------------- inputs


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
            raise GramstyleError(f"{what} not found: {path} ({os_reason(e)})") from None
        raise GramstyleError(f"{what} {path}: {os_reason(e)}") from None


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
        raise GramstyleError(f"{what} {path}: {os_reason(e)}") from None
    try:
        _check_regular(path, os.fstat(fd), what, limit)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


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
                f"{what} folder {folder} is not a folder ({os_reason(e)})"
            ) from None
        raise GramstyleError(f"{what} folder {folder}: {os_reason(e)}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise GramstyleError(f"{what} folder {folder} is not a folder")
    return folder


def probe_writable(p: Path, what: str = "output") -> None:
    """Create and remove a temporary file where ``p`` will go: proof it can be written.

    ``os.access`` is not proof: root passes it everywhere, and it knows nothing of
    read-only mounts or of /proc and /sys, which refuse new files.
    """
    folder = p.parent if str(p.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=temp_prefix(p.name), suffix=".tmp")
    except OSError as e:
        raise GramstyleError(f"{what} folder {folder} is not writable ({os_reason(e)})") from None
    os.close(fd)
    os.unlink(tmp)


def output_path(
    path: str | os.PathLike, overwrite: bool = False, what: str = "output", probe: bool = True
) -> Path:
    """Check that a file can be written at ``path``, before any work is done.

    The name fits the file system (our temporary name always does then), the folder
    exists and takes a new file (tried, not guessed), and an existing ``path`` is
    replaced only with ``overwrite`` and only if it is a regular file (never a device
    or FIFO). What the file holds (an image format) is the caller's check.
    """
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
        raise GramstyleError(f"{what} {p}: {os_reason(e)}") from None
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
    if probe:
        probe_writable(p, what)
    return p


def output_dir(
    path: str | os.PathLike,
    overwrite: bool = False,
    what: str = "output",
    probe: bool = True,
    marker: str | None = None,
    kind: str = "gramstyle folder",
) -> Path:
    """Check that a folder can be made at ``path`` (see :func:`output_path`).

    An existing non-empty folder is replaced only with ``overwrite`` and only if it
    holds the file ``marker`` (what marks it as ours, a ``kind``, so nothing else is
    ever deleted).
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
        raise GramstyleError(f"{what} {p}: {os_reason(e)}") from None
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise GramstyleError(f"{what} {p} exists and is not a folder")
    if st is not None and any(p.iterdir()):
        if not overwrite:
            raise GramstyleError(f"{what} folder {p} is not empty; pass --overwrite to replace it")
        if marker is None or not (p / marker).is_file():
            raise GramstyleError(f"{what} folder {p} is not a {kind}; refusing to replace it")
    if probe:
        probe_writable(p, what)
    return p


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def new_temp(path: str | os.PathLike, suffix: str = ".tmp") -> Path:
    """A new empty temporary file beside ``path`` (for a writer that needs a name, like
    a video muxer); :func:`publish` moves it into place."""
    p = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=temp_prefix(p.name), suffix=suffix)
    except OSError as e:
        raise write_error(p, e) from None
    os.close(fd)
    return Path(tmp)


def publish(tmp: Path, path: str | os.PathLike) -> None:
    """Give a finished temporary file the usual mode and rename it over ``path``."""
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600
    os.replace(tmp, path)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[IO[bytes]]:
    """Write ``path`` whole or not at all: yields a temporary file beside it, renamed
    over ``path`` when the block ends without an exception (removed otherwise).

    The file gets the usual mode (``0666`` less the umask; ``mkstemp`` makes ``0600``).
    An ``OSError`` becomes a one-line :class:`GramstyleError` (:class:`DiskFull` when
    the disk is full), and the previous ``path`` is left as it was.
    """
    p = Path(path)
    tmp = new_temp(p)
    try:
        with open(tmp, "wb") as f:
            yield f
        publish(tmp, p)
    except OSError as e:
        raise write_error(p, e) from None
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """``data`` as JSON at ``path``, atomically (:func:`atomic_write`); no NaN allowed."""
    text = json.dumps(data, allow_nan=False).encode()
    with atomic_write(path) as f:
        f.write(text)


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Make the folder ``path`` whole or not at all: yields a private temporary folder
    beside it, which replaces ``path`` (and whatever it held) when the block ends
    without an exception. The previous folder comes back if the swap fails."""
    out = Path(path)
    parent = out.parent if str(out.parent) else Path(".")
    tmp = old = None
    try:
        tmp = Path(tempfile.mkdtemp(dir=parent, prefix=temp_prefix(out.name), suffix=".tmp"))
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private
        yield tmp
        if out.is_dir() and any(out.iterdir()):
            old = Path(tempfile.mkdtemp(dir=parent, prefix=temp_prefix(out.name), suffix=".old"))
            os.replace(out, old)
        elif out.is_dir():
            out.rmdir()
        os.replace(tmp, out)
    except OSError as e:
        if old is not None and not out.exists():
            os.replace(old, out)  # put the previous folder back
            old = None
        raise write_error(out, e) from None
    finally:
        for p in (tmp, old):
            if p is not None:
                shutil.rmtree(p, ignore_errors=True)
