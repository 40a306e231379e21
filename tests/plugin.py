"""A method plugged in through the seam, as a third party would add one.

:class:`Identity` returns the content as it is (one pass, no network work); its run can
instead replay given records (to fake a run that ends in NaN, or one that is
interrupted). :func:`registered` registers it for the length of a test; no app knows it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from gramstyle import registry
from gramstyle.inputs import Prepared
from gramstyle.method import MethodInfo, OnePassPlan, OnePassRun, Record, Temporal

INFO = MethodInfo(
    name="identity",
    label="Identity",
    help="the photo as it is (a test method)",
    engine="tests.plugin:IDENTITY",  # registered with its engine; never imported by name
    precisions=("auto", "fp32"),
    iterative=False,
    temporal=Temporal(weight=0.5),
    pace="seconds",
)


class Identity:
    """The engine: every seam answered in a line or two."""

    info = INFO

    def __init__(self, replay: Callable[[Prepared], Iterator[Record]] | None = None) -> None:
        self.replay = replay  # records to hand out instead of the one-pass record

    def check(
        self, s: Any, content_hw: Any, style_hws: Sequence[Any], regions: int, device: torch.device
    ) -> None:
        pass

    def precision(self, s: Any, device: torch.device) -> None:
        return None

    def plan(self, session: Any, prep: Prepared) -> OnePassPlan:
        return OnePassPlan(prep.size, "the photo as it is")

    def estimate(self, session: Any, prep: Prepared, plan: Any) -> None:
        return None

    def image(self, session: Any, prep: Prepared, content: Tensor, side: int) -> Tensor:
        return content.clone()

    def run(
        self,
        session: Any,
        prep: Prepared,
        plan: Any,
        *,
        resume: Any = None,
        init: Tensor | None = None,
        extra_cost: Any = None,
        on_tile: Any = None,
    ) -> Any:
        if self.replay is not None:
            return Replay(plan, self.replay(prep))

        def make() -> Record:
            t0 = time.perf_counter()
            out = prep.content_rgb.clone()
            if extra_cost is not None:
                out = extra_cost.proximal(out)
            return Record(
                size=prep.size,
                done=1,
                total=1,
                elapsed=time.perf_counter() - t0,
                precision="fp32",
                image=out,
                notes=prep.notes,
            )

        return OnePassRun(plan, make)


@dataclass
class Replay:
    plan: Any
    records: Iterator[Record]

    def __iter__(self) -> Iterator[Record]:
        return self.records

    def __next__(self) -> Record:
        return next(self.records)

    def state(self) -> None:
        return None

    def start(self) -> Tensor:
        raise AssertionError("a replay always has records")


IDENTITY = Identity()


@contextlib.contextmanager
def registered(engine: Identity | None = None) -> Iterator[Identity]:
    """The identity method (or ``engine``) registered for the block, then forgotten."""
    engine = engine or IDENTITY
    registry.register(INFO, engine)
    try:
        yield engine
    finally:
        registry.unregister(INFO.name)
