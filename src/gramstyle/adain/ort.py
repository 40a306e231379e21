"""int8 copies of feed-forward conv nets run by ONNX Runtime (extra ``fast``).

The same post-training static quantisation as :mod:`gramstyle.adain.int8` (int8
weights per output channel, uint8 activations per tensor, ranges measured on
calibration images), done by ``onnxruntime.quantization`` on the network exported
to ONNX, and run by ONNX Runtime's CPU kernels (MLAS), which measured faster than
torch's fbgemm ones on the AdaIN networks (docs/benchmarks.md). Weights are
7-bit (``reduce_range``) so CPUs without VNNI cannot saturate their 16-bit
accumulators. The float and int8 graphs live in a private temporary folder only
while they are made (``quantize_static`` works on files); the int8 graph is then kept
in the cache folder (:func:`gramstyle.nn.weights.cache_dir`) under a hash of the
weights, the calibration inputs and the versions, so later processes load it in a
fraction of a second instead of quantising again.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import GramstyleError
from ..fs import atomic_write
from ..keys import fingerprint


def available() -> bool:
    """True when ``onnx`` and ``onnxruntime`` are installed (``pip install gramstyle[fast]``)."""
    from importlib.util import find_spec

    return find_spec("onnx") is not None and find_spec("onnxruntime") is not None


_ARENA: bool | None = None


def _shared_arena(ort) -> bool:  # type: ignore[no-untyped-def]
    """Register the process's shared CPU arena once (False if this build cannot)."""
    global _ARENA
    if _ARENA is None:
        try:
            info = ort.OrtMemoryInfo(
                "Cpu", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, ort.OrtMemType.DEFAULT
            )
            # max_mem 0 = unlimited; strategy 1 = kSameAsRequested; -1 = defaults.
            ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, 1, -1, -1))
            _ARENA = True
        except Exception:
            _ARENA = False
    return _ARENA


class OrtNet(nn.Module):
    """An ONNX Runtime session behind a module's face: float ``(1, C, H, W)`` in and out."""

    def __init__(self, model_bytes: bytes, threads: int | None = None) -> None:
        super().__init__()
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or torch.get_num_threads()
        opts.log_severity_level = 3  # errors only: the library stays silent
        # One arena for all sessions, grown only by what is asked, and no per-shape
        # memory pattern: 70 MB less peak RSS at 512 px, at the same speed (docs/benchmarks.md).
        opts.enable_mem_pattern = False
        # No spinning between runs: torch's threads work between the encoder and the
        # decoder and spinning ONNX Runtime threads took their cores (AVX2, 2 cores:
        # 0.49 s -> 0.44 s a 512 px call, docs/benchmarks.md).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if _shared_arena(ort):
            opts.add_session_config_entry("session.use_env_allocators", "1")
        self.session = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def forward(self, x: Tensor) -> Tensor:
        x = x.detach().to("cpu", torch.float32).contiguous()
        (y,) = self.session.run(None, {self.input_name: x.numpy()})
        return torch.from_numpy(y)


def _export(model: nn.Module, example: Tensor, path: Path) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.float().eval(),
            (example,),
            str(path),
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {2: "h", 3: "w"}, "y": {2: "h", 3: "w"}},
            opset_version=17,
            dynamo=False,
        )


#: Bumped when the export or quantisation recipe changes (old cache files then miss).
RECIPE = 3


def cache_key(model: nn.Module, calibration: Iterable[Tensor]) -> str:
    """Hash of everything the int8 graph depends on: weights, calibration, versions."""
    import onnxruntime

    tensors = [t.detach().to("cpu", torch.float32) for t in calibration]
    # repr(model): the layer structure.
    return fingerprint(
        RECIPE,
        torch.__version__,
        onnxruntime.__version__,
        dict(model.state_dict()),
        tensors,
        repr(model),
    )


def quantize_ort(
    model: nn.Module,
    calibration: Iterable[Tensor] | Callable[[], Iterable[Tensor]],
    cache: Path | None = None,
    key: Iterable[Tensor] | None = None,
) -> OrtNet:
    """An int8 ONNX Runtime copy of ``model`` (float ``(1, C, H, W)`` in and out).

    ``calibration``: inputs of the kind the model will see (the first one also fixes
    the exported graph's channel count; heights and widths stay dynamic), or a
    function that makes them, called only when the cache has no graph. ``cache``: a
    folder to keep the int8 graph in and look for it first (None: no cache). ``key``:
    tensors that determine the calibration inputs, hashed in their place (needed when
    ``calibration`` is a function; the default hashes the inputs themselves).
    """
    if key is None:
        if callable(calibration):
            raise TypeError("a calibration function needs key tensors")
        calibration = [x.detach().to("cpu", torch.float32).contiguous() for x in calibration]
        key = calibration
    path = cache / f"adain-int8-{cache_key(model, key)}.onnx" if cache else None
    if path is not None and path.is_file():
        try:
            return OrtNet(path.read_bytes())
        except Exception:  # a damaged file: make it again
            pass
    made = calibration() if callable(calibration) else calibration
    data = _quantize(model, [x.detach().to("cpu", torch.float32).contiguous() for x in made])
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(path) as f:
                f.write(data)
        except (OSError, GramstyleError):  # a read-only cache is no error: quantise again
            pass
    return OrtNet(data)


def _quantize(model: nn.Module, inputs: list[Tensor]) -> bytes:
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{"x": x.numpy()} for x in inputs])

        def get_next(self):  # type: ignore[override]
            return next(self.it, None)

    with tempfile.TemporaryDirectory(prefix="gramstyle-ort-") as tmp:
        src, dst = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        _export(model, inputs[0], src)
        # onnxruntime.quantization logs advice to the root logger; the library is silent.
        previous = logging.root.manager.disable
        logging.disable(logging.WARNING)
        try:
            quantize_static(
                str(src),
                str(dst),
                Reader(),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=True,
                reduce_range=True,
            )
        finally:
            logging.disable(previous)
        return _moves_in_uint8(onnx.load(str(dst))).SerializeToString()


#: Ops that only move values: on a uint8 tensor they give what they give in float.
MOVES = ("Pad", "DepthToSpace", "Slice")


def _moves_in_uint8(model):  # type: ignore[no-untyped-def]
    """Run every ``DequantizeLinear -> moves -> QuantizeLinear`` chain as uint8 moves
    (a move: an op of :data:`MOVES`, which only copies values).

    The quantiser gives a move's output its input's scale and zero point, but ONNX
    Runtime does not fuse such a chain, so each Pad ran in float32 on a full-size
    tensor: at 512 px the decoder's peak memory was 4x its int8 activations and the
    float round trip cost 15% of the time; the sub-pixel decoder's shuffle and crop
    likewise. Where the scales match the chain is exactly the moves on the uint8
    tensor (outputs measured bit-identical).
    """
    from onnx import numpy_helper

    g = model.graph
    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    producer = {out: n for n in g.node for out in n.output}
    consumers: dict[str, list] = {}
    for n in g.node:
        for name in n.input:
            consumers.setdefault(name, []).append(n)

    def same(a: str, b: str) -> bool:
        return a in consts and b in consts and bool((consts[a] == consts[b]).all())

    def close(a: str, b: str) -> bool:
        # Requantising uint8 q with scale s as scale s' gives q back while
        # 255 |s / s' - 1| < 1/2: scales that calibration made a few ulps apart are one.
        if a not in consts or b not in consts:
            return False
        return bool((abs(consts[a] / consts[b] - 1) < 1e-3).all())

    dead, retyped = [], set()
    for move in g.node:
        dq = producer.get(move.input[0]) if move.op_type in MOVES else None
        if dq is None or dq.op_type != "DequantizeLinear" or len(consumers[dq.output[0]]) != 1:
            continue
        chain = [move]  # moves in a row, each the only reader of the one before
        while True:
            after = consumers.get(chain[-1].output[0], [])
            if len(after) != 1 or after[0].op_type not in MOVES:
                break
            chain.append(after[0])
        if len(after) != 1:
            continue
        (q,) = after
        if (
            q.op_type != "QuantizeLinear"
            or len(dq.input) < 3
            or len(q.input) < 3
            or not (close(dq.input[1], q.input[1]) and same(dq.input[2], q.input[2]))
        ):
            continue
        chain[0].input[0], chain[-1].output[0] = dq.input[0], q.output[0]
        dead += [dq, q]
        retyped.update(m.output[0] for m in chain[:-1])  # now uint8, recorded as float
    for n in dead:
        g.node.remove(n)
    stale = [v for v in g.value_info if v.name in retyped]
    for v in stale:
        g.value_info.remove(v)
    return model
