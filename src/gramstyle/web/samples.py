"""Built-in sample images for the page: none is shipped with gramstyle.

The photo is Grace Hopper's portrait from matplotlib's sample data and the style is
the procedural swirl of :mod:`gramstyle.samples` (drawn once, cached in the jobs folder).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ..image import save_image
from ..samples import demo_content, demo_style
from .errors import UnknownJob


@dataclass(frozen=True)
class Sample:
    name: str
    kind: str  # "content" or "style"
    title: str
    credit: str


SAMPLES = (
    Sample("grace_hopper", "content", "Grace Hopper", "photo from matplotlib's sample data"),
    Sample("swirl", "style", "Swirl", "procedural brush strokes drawn by gramstyle.samples"),
)


def listing() -> list[dict[str, str]]:
    return [{**asdict(s), "url": f"/api/samples/{s.name}"} for s in SAMPLES]


def sample_file(name: str, cache: Path) -> Path:
    """The image file of sample ``name`` (drawn into ``cache`` the first time)."""
    if name == "grace_hopper":
        return demo_content()
    if name == "swirl":
        path = cache / "swirl.png"
        if not path.is_file():
            cache.mkdir(parents=True, exist_ok=True)
            save_image(demo_style(), path, overwrite=True)
        return path
    raise UnknownJob(f"no sample {name!r}")
