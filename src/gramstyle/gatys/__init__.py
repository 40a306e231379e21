"""Gatys, Ecker & Bethge (2015): optimise the pixels of G until its VGG19 features match
the content's activations and the style's style matrices.

The package is the method's engine, one module a job:

- :mod:`~gramstyle.gatys.objective`: J(G) of one scale, targets computed once;
- :mod:`~gramstyle.gatys.tiles`: the same J, exact, tile by tile (print size);
- :mod:`~gramstyle.gatys.optimize`: L-BFGS and Adam over the pixels;
- :mod:`~gramstyle.gatys.pyramid`, :mod:`~gramstyle.gatys.budget`,
  :mod:`~gramstyle.gatys.plan`: coarse-to-fine scales sized to the memory budget;
- :mod:`~gramstyle.gatys.run`: the loop, a record per step, resumable;
- :mod:`~gramstyle.gatys.method`: the :class:`~gramstyle.method.Method` it registers.

This ``__init__`` holds only the torch-free description (:data:`INFO`).
"""

from __future__ import annotations

from ..method import MethodInfo, Temporal

INFO = MethodInfo(
    name="gatys",
    label="Gatys",
    help="optimise the image (best quality; minutes on a CPU)",
    engine="gramstyle.gatys.method:GATYS",
    precisions=("auto", "fp32", "bf16", "fp16"),
    iterative=True,
    # Ruder et al.'s short- and long-term ties; the weight from benchmarks/video.py.
    temporal=Temporal(weight=100.0, long_term=(1, 2, 4)),
)
