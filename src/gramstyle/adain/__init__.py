"""AdaIN (Huang & Belongie 2017): arbitrary style in one forward pass.

Encode to ``relu4_1``, give the content features each channel's mean and spread of
the style's, decode. One module a job:

- :mod:`~gramstyle.adain.maths`: the statistics and their transfer;
- :mod:`~gramstyle.adain.decoder`: the decoder and its exact low-resolution rewrite;
- :mod:`~gramstyle.adain.stylize`: the passes, tiled when large (the reference path);
- :mod:`~gramstyle.adain.engine`: :class:`~gramstyle.adain.engine.AdainModel`, the
  fast engine (rewritten, quantised networks; cached styles);
- :mod:`~gramstyle.adain.int8`, :mod:`~gramstyle.adain.ort`: int8 with torch's fbgemm
  or ONNX Runtime; :mod:`~gramstyle.adain.calibration`: their calibration images;
- :mod:`~gramstyle.adain.method`: the :class:`~gramstyle.method.Method` it registers.

This ``__init__`` holds only the torch-free description (:data:`INFO`).
"""

from __future__ import annotations

from ..method import MethodInfo, Temporal

INFO = MethodInfo(
    name="adain",
    label="AdaIN",
    help="one forward pass through the AdaIN decoder (Huang & Belongie 2017; seconds)",
    engine="gramstyle.adain.method:ADAIN",
    precisions=("auto", "fp32", "bf16", "fp16", "int8"),
    iterative=False,
    # Ties to t-1 only: t-2 and t-4 gave the same flicker for 3x the flow. The encoder
    # pools three times: only shifts by multiples of 8 px keep its strokes in place.
    temporal=Temporal(weight=0.6, long_term=(1,), grid=8),
    pace="seconds",
    control="alpha",
)
