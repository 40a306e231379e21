"""int8 copies of feed-forward conv nets run by ONNX Runtime (extra ``fast``).

The same post-training static quantisation as :mod:`gramstyle.quantize` (int8
weights per output channel, uint8 activations per tensor, ranges measured on
calibration images), done by ``onnxruntime.quantization`` on the network exported
to ONNX, and run by ONNX Runtime's CPU kernels (MLAS), which measured faster than
torch's fbgemm ones on the AdaIN networks (README, AdaIN section). Weights are
7-bit (``reduce_range``) so CPUs without VNNI cannot saturate their 16-bit
accumulators. The float and int8 graphs live in a private temporary folder only
while they are made (``quantize_static`` works on files).
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import Tensor, nn


def available() -> bool:
    """True when ``onnx`` and ``onnxruntime`` are installed (``pip install gramstyle[fast]``)."""
    from importlib.util import find_spec

    return find_spec("onnx") is not None and find_spec("onnxruntime") is not None


class OrtNet(nn.Module):
    """An ONNX Runtime session behind a module's face: float ``(1, C, H, W)`` in and out."""

    def __init__(self, model_bytes: bytes, threads: int | None = None) -> None:
        super().__init__()
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or torch.get_num_threads()
        opts.log_severity_level = 3  # errors only: the library stays silent
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
            model.float().eval(), (example,), str(path), input_names=["x"], output_names=["y"],
            dynamic_axes={"x": {2: "h", 3: "w"}, "y": {2: "h", 3: "w"}},
            opset_version=17, dynamo=False,
        )  # fmt: skip


def quantize_ort(model: nn.Module, calibration: Iterable[Tensor]) -> OrtNet:
    """An int8 ONNX Runtime copy of ``model`` (float ``(1, C, H, W)`` in and out).

    ``calibration``: inputs of the kind the model will see (the first one also fixes
    the exported graph's channel count; heights and widths stay dynamic).
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    inputs = [x.detach().to("cpu", torch.float32).contiguous() for x in calibration]

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
                str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                per_channel=True, reduce_range=True,
            )  # fmt: skip
        finally:
            logging.disable(previous)
        data = onnx.load(str(dst)).SerializeToString()
    return OrtNet(data)
