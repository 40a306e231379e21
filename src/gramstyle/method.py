"""The method seam: what every way of stylising provides, and all the apps rely on.

A method (Gatys's optimisation, AdaIN's one pass, ...) is a package with two parts:

- a :class:`MethodInfo`, torch-free, that ``Settings``, the CLI and the web page read:
  its name, a line of help, the precisions it runs in, its own settings rules, its
  video defaults;
- an engine, a :class:`Method`, imported when a picture is first made.

Both are registered once (:mod:`gramstyle.registry`). The one orchestration,
:class:`gramstyle.job.Job`, drives every engine the same way::

    check -> prepare (shared: gramstyle.inputs) -> plan -> run (records) -> result

and no application tests a method's name. A run is an iterator of records, each a
:class:`Record` (the fields every app shows) or a subclass with the method's own
numbers (Gatys's costs per step); a run that can be resumed returns its state between
records. A third method is one new package and one line in the registry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from .inputs import Prepared
    from .settings import Settings


@dataclass(frozen=True)
class Temporal:
    """A method's defaults for video: how strongly a frame is tied to the warped earlier
    outputs (``weight``), to which of them (``long_term``: 1 = the previous frame), and
    the network's stride ``grid`` when only shifts by multiples of it leave its strokes
    in place (frames are then aligned to it; None: no alignment)."""

    weight: float
    long_term: tuple[int, ...] = (1,)
    grid: int | None = None


@dataclass(frozen=True)
class MethodInfo:
    """What the apps and ``Settings`` know of a method without loading it."""

    name: str  # what --method names
    label: str  # how the web page and listings name it
    help: str  # one line: what it does and how long it takes
    engine: str  # "module:attribute" of its Method, imported on first use
    precisions: tuple[str, ...]  # what --precision may be with it
    iterative: bool  # optimises in steps; False: one pass (and usable as a start image)
    temporal: Temporal
    pace: str = "minutes"  # how long a picture takes, in a word (the web page's choice)
    control: str = "strength"  # the setting the page's strength slider sets
    #: The method's own rules on the settings: a problem in one line, or None.
    rules: Callable[[Settings], str | None] | None = None

    def check(self, s: Settings) -> str | None:
        """Why ``s`` does not suit this method (beyond its precisions), or None."""
        return self.rules(s) if self.rules is not None else None


@dataclass(frozen=True, kw_only=True)
class Record:
    """Progress of a run, handed to the caller instead of being printed.

    ``image`` ``(1, 3, H, W)`` is the picture after this record's work; the last
    record's is the result. ``done``/``total`` count the run's units of work (steps
    for an optimiser, 1 for a one-pass method); ``scale``/``scales`` and ``size`` say
    where in a coarse-to-fine plan it stands.
    """

    scale: int = 0  # index into the plan's stages, 0 = coarsest
    scales: int = 1
    size: tuple[int, int]  # (H, W) of this scale
    step: int = 1  # 1-based within the scale
    steps: int = 1  # budget of this scale
    done: int  # units of work finished over all scales
    total: int  # over all scales (shrinks when a scale stops early)
    #: the units the run is expected to take in all, re-estimated as it goes (a stopping
    #: rule ends scales before their budget); None: ``total``. For progress displays.
    expected: int | None = None
    elapsed: float  # seconds since the start (a resumed run counts its earlier time)
    precision: str  # how the network passes ran: "fp32", "bf16", "fp16", "int8"
    image: Tensor
    notes: tuple[str, ...] = ()  # things the caller may want to tell the user

    def costs(self) -> dict[str, float]:
        """Named numbers worth showing beside a progress bar (none for a one-pass method)."""
        return {}

    def objective(self) -> tuple[float, float] | None:
        """``(J now, best J of this scale)`` for a run that minimises J, else None."""
        return None

    def summary(self) -> str:
        """How the run went, in a few words (the CLI's closing line)."""
        return f"{self.elapsed:.1f} s"

    def scale_steps(self, planned: Sequence[int]) -> list[int]:
        """The steps each scale is expected to take: ``planned`` (the plan's, one per
        scale), with this record's scale re-estimated from :attr:`expected`.

        >>> from torch import zeros
        >>> r = Record(size=(8, 8), scale=1, scales=2, step=5, done=15, total=110,
        ...            expected=40, elapsed=1.0, precision="fp32", image=zeros(1))
        >>> r.scale_steps([10, 46])
        [10, 30]
        """
        steps = list(planned)
        if self.expected is not None and self.scale < len(steps):
            later = sum(steps[self.scale + 1 :])
            steps[self.scale] = self.step + max(0, self.expected - self.done - later)
        return steps


class Stage(Protocol):
    """One scale of a plan, as apps see it (for progress and ETAs)."""

    @property
    def size(self) -> tuple[int, int]: ...
    @property
    def steps(self) -> int: ...  # its budget
    @property
    def expected(self) -> int: ...  # the steps it is expected to take
    @property
    def pixels(self) -> int: ...


class Plan(Protocol):
    """What a run will do, decided before it starts."""

    @property
    def stages(self) -> Sequence[Any]: ...  # each a Stage
    @property
    def total(self) -> int: ...


class Estimate(Protocol):
    """A plan's expected time and memory (for the one-line plan and the ETA)."""

    step_seconds: tuple[float, ...]
    steps: tuple[int, ...]

    @property
    def seconds(self) -> float: ...


class Run(Protocol):
    """An iterator of records; stopping the iteration stops the work."""

    plan: Any

    def __iter__(self) -> Iterator[Record]: ...
    def __next__(self) -> Record: ...
    def state(self) -> Any | None:
        """A resumable state after the last record (``to_dict()``-able), or None when
        the method has nothing worth resuming."""
        ...

    def start(self) -> Tensor:
        """The image the run starts from at its final size (the result when no step is
        taken at all)."""
        ...


class ExtraCost(Protocol):
    """Pixel-space terms added to J (video's temporal cost): ``x -> {name: cost}``.

    ``proximal(a)`` is ``argmin_x |x - a|^2 + cost(x)``: how a one-pass method, which
    has no J to add the cost to, honours it on its result.
    """

    def __call__(self, x: Tensor) -> dict[str, Tensor]: ...
    def proximal(self, a: Tensor) -> Tensor: ...


#: Tile progress inside a step (print size): called with the method's progress record.
OnTile = Callable[[Any], None]


class Session(Protocol):
    """What an engine asks of the session that holds networks and caches."""

    def network(self, settings: Settings) -> Any: ...  # the VGG19, on its device
    def component(self, key: Any, make: Callable[[], Any]) -> Any: ...
    def cached(self, key: Any, make: Callable[[], Any]) -> Any: ...
    def start_image(self, prep: Prepared, content: Tensor, side: int) -> Tensor: ...


class Method(Protocol):
    """A method's engine: everything a stylisation needs that differs between methods."""

    info: MethodInfo

    def check(
        self,
        s: Settings,
        content_hw: tuple[int, int],
        style_hws: Sequence[tuple[int, int]],
        regions: int,
        device: torch.device,
    ) -> None:
        """Refuse now, in one line, what would fail later: an output or a style too
        small for the network, more memory than there is, missing weights. Sizes are
        ``(H, W)`` of the output and of each style file."""
        ...

    def precision(self, s: Settings, device: torch.device) -> torch.dtype | None:
        """The autocast dtype of the network passes (None: float32)."""
        ...

    def plan(self, session: Session, prep: Prepared) -> Plan: ...

    def estimate(self, session: Session, prep: Prepared, plan: Plan) -> Estimate | None: ...

    def run(
        self,
        session: Session,
        prep: Prepared,
        plan: Plan,
        *,
        resume: Any | None = None,
        init: Tensor | None = None,
        extra_cost: ExtraCost | None = None,
        on_tile: OnTile | None = None,
    ) -> Run: ...

    def image(self, session: Session, prep: Prepared, content: Tensor, side: int) -> Tensor:
        """One-pass methods: the result for ``content`` with styles shown at ``side``
        (another method's start image, ``--init NAME``)."""
        ...


@dataclass(frozen=True)
class OnePassStage:
    """The one stage of a one-pass plan: the output's size, one unit of work."""

    size: tuple[int, int]
    steps: int = 1
    expected: int = 1

    @property
    def pixels(self) -> int:
        return self.size[0] * self.size[1]


@dataclass(frozen=True)
class OnePassPlan:
    """A one-pass method's plan: one pass at ``size``; ``note`` says how (tiles...)."""

    size: tuple[int, int]
    note: str = ""

    @property
    def stages(self) -> tuple[OnePassStage, ...]:
        return (OnePassStage(self.size),)

    @property
    def total(self) -> int:
        return 1

    def describe(self, est: Any) -> str:
        h, w = self.size
        return f"one pass at {w}x{h}" + (f", {self.note}" if self.note else "")


@dataclass
class OnePassRun:
    """The run of a one-pass method: one record, nothing to resume.

    ``make()`` does the work when the record is asked for (so a caller that stops at
    once, or only wants the plan, pays nothing).
    """

    plan: Any
    make: Callable[[], Record]
    _done: bool = field(default=False, init=False)

    def __iter__(self) -> Iterator[Record]:
        return self

    def __next__(self) -> Record:
        if self._done:
            raise StopIteration
        self._done = True
        return self.make()

    def state(self) -> None:
        return None

    def start(self) -> Tensor:
        return self.make().image
