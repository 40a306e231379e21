"""The CLI's progress bar: turns step records into a tqdm line with losses and ETA."""

from __future__ import annotations

from tqdm import tqdm

from .pipeline import StepRecord


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
