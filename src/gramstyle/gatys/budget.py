"""What a run needs in memory and time, and what the device has.

The plan (:mod:`gramstyle.gatys.plan`) sizes every stage with this model before any work:
one pass over the whole image when it fits the memory budget (exactly as without
tiles), else tiles (:mod:`gramstyle.gatys.tiles`) as large as the budget allows, with the
L-BFGS memory shortened and kept in bf16. The byte constants were measured on the
real VGG19 (peak RSS of a tile's forward and backward pass, ``benchmarks/printsize.py``)
and carry a margin; the time model counts multiply-adds and takes its speed from a
short measurement on the device (:func:`measure_speed`).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import GramstyleError
from ..nn.backbone import LAYER_NAMES, VGG19, VGG19_WIDTHS, deepest, features
from ..nn.geometry import halo, spans, stride
from ..settings import Settings
from ..units import GiB, MiB, parse_size

#: Default budget: this share of the memory available when the run is planned.
DEFAULT_SHARE = 0.75
#: The process itself on a CPU (torch, the VGG19 in fp32 and bf16, allocator slack),
#: and on a GPU the weights and the convolution workspace.
RUNTIME_BYTES = {"cpu": 900 * MiB, "cuda": 600 * MiB, "mps": 900 * MiB}
#: Bytes per activation value a forward + backward pass holds at its peak, per value
#: counted by :attr:`NetCost.grad_values` (conv and ReLU outputs; the rest is saved
#: inputs, gradients in flight and the style matrices' float32 copies).
GRAD_BYTES = {None: 6.5, torch.bfloat16: 6.0, torch.float16: 6.0}
#: Bytes per activation value of a forward pass without gradients (per
#: :attr:`NetCost.forward_values`: the widest layer's input, output and one more).
FORWARD_BYTES = 4.5
#: Image-sized float32 buffers alive during a step (x, the next x, the best x, the
#: gradient, L-BFGS's last x and gradient, s, y and the direction in the making, the
#: content at this scale), in units of ``3 H W`` floats.
IMAGE_BUFFERS = 11
#: L-BFGS history: today's length, and what is kept at print size when memory is
#: short (bf16 pairs: benchmarks/printsize.py found them as good as float32 pairs).
HISTORY = 50
PRINT_HISTORY = 10
HISTORY_STEPS = (20, 10, 5, 3)
#: The smallest tile interior worth computing (the halo costs more below it).
MIN_TILE = 128


# Sizes and budgets ----------------------------------------------------------------------


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def available(device: torch.device) -> int | None:
    """Bytes free for a run on ``device``: free GPU memory on CUDA, else the system's
    available memory (``MemAvailable``); None where it cannot be told."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    return _meminfo_available()


def in_use(device: torch.device) -> int:
    """Bytes this process holds now: its RSS (CPU), or its tensors on a GPU."""
    if device.type == "cuda":
        return int(torch.cuda.memory_allocated(device))
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def memory_budget(s: Settings, device: torch.device) -> int:
    """The bytes a run may use at its peak: ``--max-memory``, else what this process
    holds now plus a safe share (:data:`DEFAULT_SHARE`) of what is available."""
    if s.max_memory is not None:
        return parse_size(s.max_memory)
    free = available(device)
    return in_use(device) + int(DEFAULT_SHARE * free) if free is not None else 8 * GiB


def fixed_bytes(device: torch.device, tensors: Sequence[Tensor | None]) -> int:
    """Bytes alive for a whole run: the process (:data:`RUNTIME_BYTES`) and ``tensors``
    (the prepared content, styles and masks; each counted once)."""
    seen: set[int] = set()
    total = RUNTIME_BYTES.get(device.type, RUNTIME_BYTES["cpu"])
    for t in tensors:
        if t is not None and id(t) not in seen:
            seen.add(id(t))
            total += t.numel() * t.element_size()
    return total


# The network's cost per pixel ---------------------------------------------------------


@dataclass(frozen=True)
class NetCost:
    """Per pixel of the input image, for the network up to the layers a run uses."""

    stride: int  # tile boundaries are multiples of this
    halo: int  # px of context per tile side
    grad_values: float  # conv + ReLU output values a forward + backward pass holds
    forward_values: float  # a forward pass's peak values (widest layer, in and out, + 1)
    content_values: float  # values of the content layers' targets
    macs: float  # multiply-adds of the forward pass
    macs_style: float  # ... up to the deepest style layer (a tiled step's first pass)


def widths_of(net: VGG19) -> tuple[int, ...]:
    """The output channels of each block of ``net``."""
    convs = (net.layers[f"conv{b}_1"] for b in range(1, 6))
    return tuple(int(c.out_channels) for c in convs if isinstance(c, torch.nn.Conv2d))


def net_cost(s: Settings, widths: tuple[int, ...] = VGG19_WIDTHS) -> NetCost:
    """The :class:`NetCost` of ``s``'s layers on a VGG19 with block ``widths``."""
    layers = [*s.content_layers, *s.style_layers]
    last, last_style = deepest(layers), deepest(list(s.style_layers) or layers)
    grad = macs = macs_style = content = 0.0
    widest = 3.0
    c_in, pools = 3, 0
    for name in LAYER_NAMES[: LAYER_NAMES.index(last) + 1]:
        area = 4.0**-pools
        if name.startswith("conv"):
            c_out = widths[int(name[4]) - 1]
            grad += 2 * c_out * area
            macs += 9 * c_in * c_out * area
            if LAYER_NAMES.index(name) <= LAYER_NAMES.index(last_style):
                macs_style += 9 * c_in * c_out * area
            widest = max(widest, c_out * area)
            c_in = c_out
        elif name.startswith("pool"):
            pools += 1
        if name in s.content_layers:
            content += c_in * 4.0**-pools
    return NetCost(stride(layers), halo(layers), grad, 3 * widest, content, macs, macs_style)


# What a stage needs -------------------------------------------------------------------


def _float_bytes(dtype: torch.dtype | None) -> int:
    return 4 if dtype is None else 2


@dataclass(frozen=True)
class Fit:
    """How a stage runs in its budget, and the bytes it is expected to need at its peak."""

    tile: int | None  # interior side of G's tiles; None: one pass
    history: int  # L-BFGS pairs kept
    history_dtype: str  # "fp32" or "bf16"
    style_tile: int | None  # tile side for the style images' pass; None: one pass
    bytes: int


@dataclass(frozen=True)
class Need:
    """The inputs of a stage's memory model (sizes in pixels)."""

    size: tuple[int, int]  # (H, W) of G
    steps: int
    fixed: int  # bytes alive for the whole run (the process, the prepared inputs)
    style_pixels: int  # the largest style image at this stage
    masks: int  # mask regions (0 without masks)


def history_bytes(pixels: int, pairs: int, dtype: str) -> int:
    return pairs * 2 * 3 * pixels * (2 if dtype == "bf16" else 4)


def _base(need: Need, cost: NetCost, dtype: torch.dtype | None, optimizer: str) -> int:
    """Bytes of a stage that do not depend on the tile or the history."""
    P = need.size[0] * need.size[1]
    images = IMAGE_BUFFERS * 3 * P * 4
    adam = 2 * 3 * P * 4 if optimizer == "adam" else 0
    targets = int(cost.content_values * P * _float_bytes(dtype))
    masks = need.masks * P * 4 * 2  # at the stage's size, and at the style layers' sizes
    return need.fixed + images + adam + targets + masks


def tile_bytes(area: int, cost: NetCost, dtype: torch.dtype | None) -> int:
    """Peak bytes of one forward + backward pass over ``area`` pixels."""
    return int(cost.grad_values * GRAD_BYTES[dtype] * area)


def style_tile(need: Need, room: int, cost: NetCost) -> int | None:
    """Tile side for the style images' forward pass in ``room`` bytes (None: one pass)."""
    per_px = cost.forward_values * FORWARD_BYTES
    if need.style_pixels * per_px <= room:
        return None
    side = int(math.sqrt(max(room, 0) / per_px)) - 2 * cost.halo
    return max(MIN_TILE, side // cost.stride * cost.stride)


def fit(
    need: Need,
    budget: int,
    cost: NetCost,
    dtype: torch.dtype | None,
    *,
    tile: int | None = None,
    optimizer: str = "lbfgs",
) -> Fit:
    """One pass if it fits ``budget`` (longest history first), else the largest tiles
    with a short bf16 history; ``tile`` forces the tile side. Raises a one-line
    :class:`GramstyleError` when not even the smallest tile fits."""
    H, W = need.size
    P = H * W
    base = _base(need, cost, dtype, optimizer)
    style_room = budget - need.fixed - 4 * 3 * P * 4
    s_tile = style_tile(need, style_room, cost)
    useful = max(1, min(HISTORY, need.steps - 1))  # pairs a stage of `steps` can fill
    lbfgs = optimizer == "lbfgs"
    # Longest first: today's float32 history, then bf16, then shorter.
    histories = [(HISTORY, "fp32"), (HISTORY, "bf16")] + [
        (k, "bf16") for k in HISTORY_STEPS if k < useful
    ]
    if not lbfgs:
        histories = [(HISTORY, "fp32")]

    def hist(pairs: int, dt: str) -> int:
        return history_bytes(P, min(pairs, useful), dt) if lbfgs else 0

    def result(t: int | None, pairs: int, dt: str) -> Fit:
        ws = tile_bytes(P if t is None else _tile_area(need.size, t, cost), cost, dtype)
        return Fit(t, pairs, dt, s_tile, base + hist(pairs, dt) + ws)

    if tile is not None and max(H, W) > tile:  # the tile side is the user's
        for pairs, dt in histories:
            if (r := result(tile, pairs, dt)).bytes <= budget:
                return r
        raise _too_big(
            need, budget, result(tile, HISTORY_STEPS[-1], "bf16").bytes, f" with --tile {tile}"
        )
    for pairs, dt in histories:
        if (r := result(None, pairs, dt)).bytes <= budget:
            return r
    if tile is not None:  # the image fits in the user's tile but not in the budget
        raise _too_big(need, budget, result(None, HISTORY_STEPS[-1], "bf16").bytes, "")
    for pairs in (min(PRINT_HISTORY, useful), *HISTORY_STEPS[2:]):
        room = budget - base - hist(pairs, "bf16")
        side = int(math.sqrt(max(room, 0) / (cost.grad_values * GRAD_BYTES[dtype])))
        t = (side - 2 * cost.halo) // cost.stride * cost.stride
        if t >= max(H, W):
            return result(None, pairs, "bf16")
        if t >= MIN_TILE:
            return result(t, pairs, "bf16")
    smallest = result(MIN_TILE, HISTORY_STEPS[-1], "bf16").bytes
    raise _too_big(need, budget, smallest, "")


def _tile_area(size: tuple[int, int], tile: int, cost: NetCost) -> int:
    """Pixels of the largest tile (interior and halo) of an image of ``size``."""
    t = max(cost.stride, tile // cost.stride * cost.stride)
    rows = [sp.hi - sp.lo for sp in spans(size[0], t, cost.halo, cost.stride)]
    cols = [sp.hi - sp.lo for sp in spans(size[1], t, cost.halo, cost.stride)]
    return max(rows) * max(cols)


def _too_big(need: Need, budget: int, smallest: int, how: str) -> GramstyleError:
    H, W = need.size
    return GramstyleError(
        f"{W}x{H} px needs at least {smallest / GiB:.1f} GiB of memory{how}, more than the "
        f"{budget / GiB:.1f} GiB budget; lower --size, or raise --max-memory if the "
        "machine has more"
    )


# Time -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Speed:
    """Seconds per multiply-add per pixel: of a forward + backward pass, and of a
    forward pass without gradients, measured on the device (or assumed)."""

    step: float
    forward: float
    optimizer: float = 2e-9  # seconds per float of image per L-BFGS pair and step


#: Assumed when nothing was measured: a 2-core AVX-512 CPU in fp32 (about 130 GFLOP/s
#: on the convolutions, backward costing 1.6 forwards).
DEFAULT_SPEED = Speed(step=2.6 * 2 / 130e9, forward=2 / 130e9)


def measure_speed(
    net: VGG19, s: Settings, device: torch.device, dtype: torch.dtype | None, side: int = 160
) -> Speed:
    """Time one forward + backward pass and one forward pass on a ``side`` px image
    (after one untimed warm-up pass), per multiply-add per pixel."""
    layers = list(dict.fromkeys([*s.content_layers, *s.style_layers]))
    cost = net_cost(s, widths_of(net))
    x = torch.rand(1, 3, side, side, device=device)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    def forward_backward() -> None:
        with torch.enable_grad():
            g = x.clone().requires_grad_(True)
            feats = features(net, g, layers, dtype)
            sum(f.float().square().mean() for f in feats.values()).backward()  # type: ignore[union-attr]

    def forward() -> None:
        with torch.no_grad():
            features(net, x, layers, dtype)

    forward_backward()
    sync()
    t0 = time.perf_counter()
    forward_backward()
    sync()
    t1 = time.perf_counter()
    forward()
    sync()
    t2 = time.perf_counter()
    work = cost.macs * side * side
    return Speed(step=(t1 - t0) / work, forward=(t2 - t1) / work)


def step_seconds(
    size: tuple[int, int], tile: int | None, history: int, cost: NetCost, speed: Speed
) -> float:
    """Seconds of one optimiser step of a stage: the network passes (two over the
    tiles' pixels when tiled, the first to the deepest style layer only) and L-BFGS."""
    P = size[0] * size[1]
    opt = speed.optimizer * 3 * P * (4 * history + 10)
    if tile is None:
        return speed.step * cost.macs * P + opt
    area, last = grid_area(size, tile, cost)
    return speed.step * cost.macs * area + speed.forward * cost.macs_style * (area - last) + opt


def grid_area(size: tuple[int, int], tile: int, cost: NetCost) -> tuple[int, int]:
    """Pixels one pass over the tiles computes (halos counted again), and those of the
    last tile (whose graph pass 1 keeps for pass 2)."""
    t = max(cost.stride, tile // cost.stride * cost.stride)
    rows = [sp.hi - sp.lo for sp in spans(size[0], t, cost.halo, cost.stride)]
    cols = [sp.hi - sp.lo for sp in spans(size[1], t, cost.halo, cost.stride)]
    return sum(rows) * sum(cols), rows[-1] * cols[-1]
