"""The CLI's progress bar: turns step records into a tqdm line with losses and ETA."""

from __future__ import annotations

from tqdm import tqdm

from .run import StepRecord


class ProgressBar:
    def __init__(self, total: int, disable: bool = False) -> None:
        self.bar = tqdm(total=total, disable=disable, unit="step", dynamic_ncols=True, leave=True)

    def update(self, rec: StepRecord) -> None:
        h, w = rec.size
        self.bar.set_description(f"scale {rec.scale + 1}/{rec.scales} {w}x{h}", refresh=False)
        self.bar.set_postfix_str(
            f"J={rec.loss:.3g} content={rec.content:.3g} style={sum(rec.style.values()):.3g}"
            + (f" tv={rec.tv:.3g}" if rec.tv else ""),
            refresh=False,
        )
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


class ExplainProgressBar:
    """``gramstyle explain``'s bar: one over the main run and every one-layer run."""

    def __init__(self, disable: bool = False) -> None:
        self.bar: tqdm | None = None
        self.disable = disable

    def update(self, step) -> None:  # an insight.ExplainStep
        if self.bar is None:
            self.bar = tqdm(total=step.total, disable=self.disable, unit="step", dynamic_ncols=True)
        if self.bar.total != step.total:  # coarse scales too small for the net are dropped
            self.bar.total = step.total
        what = "stylize" if step.phase == "stylize" else f"{step.phase} alone"
        self.bar.set_description(what, refresh=False)
        self.bar.set_postfix_str(f"J={step.record.loss:.3g}", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
