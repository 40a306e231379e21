"""The README's gallery: ``docs/img/gallery-*.jpg``, made from the project's own inputs.

    python scripts/gallery.py                      # make what is missing, then assemble
    python scripts/gallery.py --only grid --redo   # make one picture again from scratch

Each picture is assembled from pictures that gramstyle itself makes, here or in another
script; nothing is drawn by hand:

- ``gallery-grid.jpg``: the two benchmark photos, each in the style of the three
  paintings (``../shared/images``; ``benchmarks/pairs.py``), at the defaults of
  ``gramstyle stylize`` (fp32, seed 0) and ``--size``.
- ``gallery-video.jpg``: frames of a synthetic zoom over a photo
  (``gramstyle.video.synthetic``) and of ``gramstyle video --method adain`` on it.
- ``gallery-print.jpg``: the 4096 x 3072 picture of ``benchmarks/printsize.py table
  --out-dir`` (``docs/print-4096.jpg``) beside its 100% crop across a tile boundary
  (``docs/print-4096-crop.jpg``).
- ``gallery-web.jpg``: the web page mid-job, ``docs/web.jpg`` (``python
  scripts/web_screenshots.py --out DIR``, its ``desktop-mid.png``).
- ``gallery-explain.jpg``: the top of a ``gramstyle explain`` report, in Chromium.
- ``gallery-photoreal.jpg``: the photorealistic transfer grid (:data:`PHOTOREAL`),
  once that exists.

The stylised pieces are kept in ``--work`` (default ``build/gallery``), so a second run
only assembles; ``--redo`` makes them again. Heavy on a small CPU (about 10 minutes on
2 cores, most of it the grid).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from PIL import Image, ImageDraw  # noqa: E402
from PIL.ImageFont import load_default  # noqa: E402
from torch import Tensor  # noqa: E402

from gramstyle.image import tensor_to_pil  # noqa: E402
from make_grids import row  # noqa: E402

DOCS = ROOT / "docs"
IMG = DOCS / "img"
#: The photos (rows) and paintings (columns) of the grid.
CONTENTS = ("tubingen", "golden_gate")
STYLES = ("starry_night", "the_scream", "shipwreck")
#: How the pictures are named under them.
TITLES = {
    "tubingen": "Tübingen",
    "golden_gate": "Golden Gate",
    "starry_night": "The Starry Night (van Gogh)",
    "the_scream": "The Scream (Munch)",
    "shipwreck": "The Shipwreck (Turner)",
}
#: Where a photoreal panel's grid would be. The eight examples are licensed by path only
#: (never copied into the project), so the file is absent and the gallery says so.
PHOTOREAL = IMG / "photoreal-grid.jpg"
#: Width of the panels shown two to a row under the grid.
PANEL_W = 640
VIDEO_FRAMES = (0, 8, 16, 23)


def tile(img: Image.Image | Tensor, height: int, label: str = "", font: int = 15) -> Image.Image:
    """``img`` scaled to ``height``, with ``label`` underneath (none: no room for one)."""
    if not isinstance(img, Image.Image):
        img = tensor_to_pil(img)
    img = img.convert("RGB")
    w = round(img.width * height / img.height)
    out = Image.new("RGB", (w, height + (font + 8 if label else 0)), "white")
    out.paste(img.resize((w, height), Image.Resampling.LANCZOS), (0, 0))
    if label:
        ImageDraw.Draw(out).text((2, height + 3), label, fill="black", font=load_default(font))
    return out


def contain(img: Image.Image, aspect: float = 4 / 3) -> Image.Image:
    """``img`` on a white canvas of ``aspect`` (width / height), whole and centred."""
    img = img.convert("RGB")
    w, h = img.size
    W, H = (max(w, round(h * aspect)), h) if w / h < aspect else (w, max(h, round(w / aspect)))
    out = Image.new("RGB", (W, H), "white")
    out.paste(img, ((W - w) // 2, (H - h) // 2))
    return out


def stack(rows: list[Image.Image], gap: int = 6) -> Image.Image:
    """Images one above the other, left-aligned, on white."""
    out = Image.new(
        "RGB",
        (max(r.width for r in rows), sum(r.height for r in rows) + gap * (len(rows) - 1)),
        "white",
    )
    y = 0
    for r in rows:
        out.paste(r, (0, y))
        y += r.height + gap
    return out


def to_width(img: Image.Image, width: int = PANEL_W) -> Image.Image:
    return img.resize((width, round(img.height * width / img.width)), Image.Resampling.LANCZOS)


def save(img: Image.Image, name: str) -> Path:
    """Write ``docs/img/NAME`` atomically."""
    IMG.mkdir(parents=True, exist_ok=True)
    path = IMG / name
    tmp = path.with_name(f".{path.name}.tmp.jpg")
    img.save(tmp, quality=85, optimize=True)
    tmp.replace(path)
    print(f"wrote {path.relative_to(ROOT)} ({img.width}x{img.height})", file=sys.stderr)
    return path


def grid(work: Path, size: int, redo: bool) -> Path:
    """Photos down, paintings across, each result at the defaults."""
    from benchmarks.pairs import image_path

    import gramstyle

    session = None
    cell = 160  # height of a cell in the grid
    header = [tile(Image.new("RGB", (4, 3), "white"), cell, " ")]
    header += [tile(contain(Image.open(image_path(s, "style"))), cell, TITLES[s]) for s in STYLES]
    rows = [row(header)]
    for c in CONTENTS:
        c_path = image_path(c, "content")
        tiles = [tile(contain(Image.open(c_path)), cell, TITLES[c])]
        for s in STYLES:
            out = work / f"grid-{c}-{s}-{size}.png"
            if redo or not out.exists():
                session = session or gramstyle.Stylizer(
                    gramstyle.Settings(size=size, precision="fp32", seed=0)
                )
                t0 = time.perf_counter()
                session.stylize(c_path, image_path(s, "style")).save(out)
                print(f"{out.name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
            tiles.append(tile(contain(Image.open(out)), cell))
        rows.append(row(tiles))
    return save(stack(rows), "gallery-grid.jpg")


def video(work: Path, redo: bool) -> Path:
    """Frames of a synthetic zoom, above the same frames stylised in fast mode."""
    from benchmarks.pairs import image_path

    from gramstyle import Settings
    from gramstyle.image import load_image
    from gramstyle.video import stylize_video
    from gramstyle.video.run import FrameDone
    from gramstyle.video.synthetic import Motion, render, write_clip

    photo = load_image(image_path("golden_gate", "content"), 640)
    motion = Motion(kind="zoom", size=(180, 320), frames=VIDEO_FRAMES[-1] + 1)
    frames = render(photo, motion)
    outs = [work / f"video-{i}.png" for i in VIDEO_FRAMES]
    if redo or not all(p.exists() for p in outs):
        clip = write_clip(work / "zoom.mp4", frames)
        for rec in stylize_video(
            clip,
            image_path("starry_night", "style"),
            work / "zoom-adain.mp4",
            Settings(method="adain"),
            overwrite=True,
        ):
            if isinstance(rec, FrameDone) and rec.frame in VIDEO_FRAMES:
                tensor_to_pil(rec.image).save(work / f"video-{rec.frame}.png")
    h = motion.size[0]
    top = row([tile(frames[i], h) for i in VIDEO_FRAMES])
    bottom = row([tile(Image.open(p), h) for p in outs])
    return save(to_width(stack([top, bottom])), "gallery-video.jpg")


def print_size() -> Path:
    """The 4096 px picture, downscaled, beside a crop of it at 100%."""
    whole, crop = Image.open(DOCS / "print-4096.jpg"), Image.open(DOCS / "print-4096-crop.jpg")
    return save(
        to_width(row([tile(whole, crop.height), tile(crop, crop.height)])), "gallery-print.jpg"
    )


def web() -> Path:
    return save(to_width(Image.open(DOCS / "web.jpg")), "gallery-web.jpg")


def explain(work: Path, redo: bool) -> Path:
    """A ``gramstyle explain`` report, as Chromium shows its top at 1280 px."""
    from benchmarks.pairs import image_path
    from playwright.sync_api import sync_playwright

    import gramstyle
    from web_screenshots import ARGS, CHROMIUM

    report, shot = work / "explain", work / "explain.png"
    if redo or not shot.exists():
        gramstyle.explain(
            image_path("tubingen", "content"),
            image_path("starry_night", "style"),
            report,
            overwrite=True,
        )
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto((report / "index.html").resolve().as_uri())
            page.wait_for_load_state("load")
            page.screenshot(path=shot)
            browser.close()
    return save(to_width(Image.open(shot)), "gallery-explain.jpg")


def photoreal() -> Path | None:
    if not PHOTOREAL.exists():
        print(
            f"no photoreal panel: {PHOTOREAL.relative_to(ROOT)} does not exist yet", file=sys.stderr
        )
        return None
    return save(to_width(Image.open(PHOTOREAL)), "gallery-photoreal.jpg")


PICTURES = ("grid", "video", "print", "web", "explain", "photoreal")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", default=",".join(PICTURES), help=f"of {','.join(PICTURES)}")
    p.add_argument("--size", type=int, default=256, help="the grid's longest side in px")
    p.add_argument("--work", type=Path, default=ROOT / "build" / "gallery")
    p.add_argument("--redo", action="store_true", help="make the stylised pieces again")
    ns = p.parse_args(argv)
    wanted = [w for w in ns.only.split(",") if w]
    if unknown := set(wanted) - set(PICTURES):
        p.error(f"unknown picture(s): {', '.join(sorted(unknown))}")
    ns.work.mkdir(parents=True, exist_ok=True)
    make = {
        "grid": lambda: grid(ns.work, ns.size, ns.redo),
        "video": lambda: video(ns.work, ns.redo),
        "print": print_size,
        "web": web,
        "explain": lambda: explain(ns.work, ns.redo),
        "photoreal": photoreal,
    }
    for name in wanted:
        make[name]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
