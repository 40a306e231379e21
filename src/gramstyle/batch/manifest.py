"""A batch as data: the manifest CSV (or two folders) -> a list of :class:`Row`.

A manifest is a CSV file with a header. Columns: ``content`` (an image), ``style`` (one
image, or several joined by ``;``), optional ``output``, optional ``preset`` (a row's own
``--preset``), optional ``content_labels`` and ``style_labels`` (label maps: the
content's, and one per style joined by ``;``), and any :class:`Settings` field
(``method``, ``size``, ``strength``, ``photoreal``: true or false...).
Empty cells keep the batch's settings. A preset is sized by each row's own ``size``.
Relative input paths resolve against the manifest's folder, relative outputs against
OUTDIR.

Two kinds of problems, kept apart on purpose:

- the manifest itself is wrong (unreadable, no ``content``/``style`` column, an unknown
  column, two rows writing one file however each spells it, an output escaping OUTDIR
  by ``..`` or a symlink): :class:`ManifestError`, nothing runs (the CLI exits 2);
- one row is wrong (a value ``Settings`` refuses, an empty cell): the row's
  :attr:`Row.error` says why, and it is reported ``failed`` without sinking the batch.
  Missing or unreadable images are found when the row runs, with the same result.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import functools
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..decode import image_extensions
from ..errors import GramstyleError
from ..image import METADATA_FORMATS, output_format
from ..ranges import parse_layer_weights
from ..settings import Recipe, Settings, field_kinds

#: Columns that are not Settings fields.
CONTENT, STYLE, OUTPUT, PRESET = "content", "style", "output", "preset"
CONTENT_LABELS, STYLE_LABELS = "content_labels", "style_labels"
#: Several styles in one cell are joined by this.
STYLE_SEP = ";"
#: Default output name: ``<content-stem>__<style-stem>.png``; styles joined by "+".
NAME_SEP, STYLES_JOIN, DEFAULT_EXT = "__", "+", ".png"


class ManifestError(GramstyleError):
    """The manifest as a whole is unusable; nothing runs (exit status 2)."""


@dataclass(frozen=True)
class Row:
    """One row of the batch: what to stylise, with which settings, into which file.

    ``row`` counts data rows from 1 (the header is not a row). ``settings`` is None
    and ``error`` says why when the row's values were refused.
    """

    row: int
    content: str
    styles: tuple[str, ...]
    output: str
    settings: Settings | None
    error: str | None = None
    content_labels: str = ""  # the content's label map, or "" (none)
    style_labels: tuple[str, ...] = ()  # one per style, or none

    def to_json(self) -> str:
        """A plain-JSON form, for shipping to worker processes and Ray actors."""
        d = dataclasses.asdict(self)
        d["settings"] = None if self.settings is None else dataclasses.asdict(self.settings)
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str) -> Row:
        d = json.loads(text)
        s = d.pop("settings")
        d["styles"], d["style_labels"] = tuple(d["styles"]), tuple(d.get("style_labels", ()))
        return cls(**d, settings=None if s is None else Settings(**s))


def _field_converters() -> dict[str, Callable[[str], Any]]:
    """Settings field name -> a function from a cell's text to the field's value."""
    out: dict[str, Callable[[str], Any]] = {}
    for name, (kind, optional) in field_kinds().items():
        conv: Callable[[str], Any] = (
            parse_layer_weights if kind is dict else _boolean if kind is bool else kind
        )
        out[name] = _or_none(conv) if optional else conv
    return out


def _boolean(text: str) -> bool:
    """A switch's cell: ``true``/``false`` (also yes/no, 1/0, on/off).

    >>> _boolean("Yes"), _boolean("0")
    (True, False)
    """
    value = {"true": True, "yes": True, "1": True, "on": True}.get(text.strip().lower())
    if value is None and text.strip().lower() not in ("false", "no", "0", "off"):
        raise ValueError("expected true or false")
    return bool(value)


_boolean.__name__ = "true or false"


def _or_none(conv: Callable[[str], Any]) -> Callable[[str], Any]:
    return lambda text: None if text.strip().lower() == "none" else conv(text)


def _convert(name: str, text: str, conv: Callable[[str], Any]) -> Any:
    try:
        return conv(text.strip())
    except (ValueError, TypeError) as e:
        kind = getattr(conv, "__name__", "value")
        raise GramstyleError(f"{name}: {text!r} is not a valid {kind} ({e})") from None


def _resolve_input(text: str, base: Path) -> str:
    p = Path(text.strip()).expanduser()
    return str(p if p.is_absolute() else base / p)


def default_output_name(content: str, styles: Sequence[str]) -> str:
    """``<content-stem>__<style-stem>.png``; several styles joined by ``+``.

    >>> default_output_name("in/cat.jpg", ["art/starry.jpg", "art/scream.png"])
    'cat__starry+scream.png'
    """
    return (
        Path(content).stem + NAME_SEP + STYLES_JOIN.join(Path(s).stem for s in styles) + DEFAULT_EXT
    )


def resolve_output(text: str, outdir: Path) -> Path:
    """An ``output`` cell -> a path: absolute stays, relative goes under ``outdir``.

    A relative name that leaves ``outdir`` is refused, whether it climbs out
    (``../x.png``) or goes through a symlink inside ``outdir`` that leads elsewhere: a
    manifest must not write elsewhere by accident. Outputs must be PNG or JPEG, the
    formats that carry the settings hash (see :mod:`gramstyle.batch.work`).
    """
    p = Path(text).expanduser()
    if not p.is_absolute():
        root = os.path.normpath(outdir.absolute())
        p = Path(os.path.normpath(os.path.join(root, p)))
        if not _inside(str(p), root):
            raise ManifestError(
                f"output {text!r} is outside the output folder; give an absolute path"
            )
        real = os.path.realpath(p)
        if not _inside(real, os.path.realpath(root)):
            raise ManifestError(
                f"output {text!r} leads outside the output folder through a symlink "
                f"(to {real}); give an absolute path"
            )
    fmt = output_format(p)
    if fmt not in METADATA_FORMATS:
        raise ManifestError(
            f"output {text!r}: batch outputs must be .png or .jpg (they carry the settings hash)"
        )
    return p


def _inside(path: str, root: str) -> bool:
    """``path`` is below ``root`` (not ``root`` itself); both absolute and normalised."""
    return path != root and os.path.commonpath([root, path]) == root


@functools.lru_cache(maxsize=256)
def folds_case(folder: str) -> bool:
    """Whether names in ``folder`` are compared without case (macOS, Windows volumes).

    Tried on the file system: the deepest existing part of the path with letters is
    looked up spelled the other way round. A path with no letters at all is taken as
    case-sensitive. Remembered per folder (a batch has few).
    """
    p = Path(os.path.abspath(folder))
    while not p.exists() and p != p.parent:
        p = p.parent
    for q in (p, *p.parents):
        swapped = q.name.swapcase()
        if swapped != q.name:
            try:
                return os.path.samefile(q, q.with_name(swapped))
            except OSError:
                return False
    return False


def same_file(path: str) -> str:
    """One spelling per file: ``path`` with symlinks and ``..`` resolved, and case-folded
    where the file system folds case (two spellings of one file give one answer)."""
    real = os.path.realpath(path)
    return real.casefold() if folds_case(os.path.dirname(real)) else real


def check_outputs(rows: Sequence[Row], where: str) -> None:
    """Refuse two rows writing one file, however each spells it (before any work)."""
    seen: dict[str, int] = {}
    for row in rows:
        if not row.output:
            continue
        key = same_file(row.output)
        if key in seen:
            raise ManifestError(
                f"{where}: rows {seen[key]} and {row.row} both write {row.output}"
                + (f" (as {key})" if key != row.output else "")
            )
        seen[key] = row.row


def _check_header(header: Sequence[str], known: set[str], where: str) -> None:
    missing = [c for c in (CONTENT, STYLE) if c not in header]
    if missing:
        raise ManifestError(
            f"{where} has no {' or '.join(repr(m) for m in missing)} column "
            f"(header: {','.join(header)})"
        )
    for col in header:
        if col not in known:
            hint = difflib.get_close_matches(col, sorted(known), n=1)
            raise ManifestError(
                f"{where}: unknown column {col!r}"
                + (f"; did you mean {hint[0]!r}?" if hint else "")
            )
    dups = sorted({c for c in header if header.count(c) > 1})
    if dups:
        raise ManifestError(f"{where}: column {dups[0]!r} appears twice")


def _recipe(base: Settings | Recipe | None) -> Recipe:
    return base if isinstance(base, Recipe) else Recipe(base or Settings())


def _row(row: int, cells: dict[str, str], recipe: Recipe, inputs: Path, outdir: Path) -> Row:
    convs = _field_converters()
    content = cells.get(CONTENT, "").strip()
    styles = tuple(s.strip() for s in cells.get(STYLE, "").split(STYLE_SEP) if s.strip())
    content = _resolve_input(content, inputs) if content else ""
    styles = tuple(_resolve_input(s, inputs) for s in styles)
    c_labels = cells.get(CONTENT_LABELS, "").strip()
    c_labels = _resolve_input(c_labels, inputs) if c_labels else ""
    s_labels = tuple(
        _resolve_input(s, inputs) for s in cells.get(STYLE_LABELS, "").split(STYLE_SEP) if s.strip()
    )
    out_cell = cells.get(OUTPUT, "").strip()
    name = out_cell or (default_output_name(content, styles) if content and styles else "")
    output = str(resolve_output(name, outdir)) if name else ""
    error = None
    settings: Settings | None = None
    try:
        if not content:
            raise GramstyleError("the content cell is empty")
        if not styles:
            raise GramstyleError("the style cell is empty")
        changes = {
            k: _convert(k, v, convs[k]) for k, v in cells.items() if k in convs and v.strip()
        }
        settings = recipe.settings(cells.get(PRESET, "").strip() or None, **changes)
    except GramstyleError as e:
        error = str(e)
    return Row(row, content, styles, output, settings, error, c_labels, s_labels)


def read_manifest(
    path: str | os.PathLike, outdir: str | os.PathLike, base: Settings | Recipe | None = None
) -> list[Row]:
    """Parse a manifest CSV into rows; ``base`` gives the settings of empty cells.

    A :class:`~gramstyle.settings.Recipe` (what ``gramstyle batch`` passes) lets a preset
    follow each row's size; plain settings are taken as they are.
    """
    p, out, recipe = Path(path), Path(outdir), _recipe(base)
    known = {CONTENT, STYLE, OUTPUT, PRESET, CONTENT_LABELS, STYLE_LABELS}
    known |= {f.name for f in dataclasses.fields(Settings)}
    try:
        with open(p, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            if not any(header):
                raise ManifestError(f"manifest {p} is empty (it needs a header: content,style,...)")
            _check_header(header, known, f"manifest {p}")
            lines = list(reader)
    except FileNotFoundError:
        raise ManifestError(f"manifest not found: {p}") from None
    except IsADirectoryError:
        raise ManifestError(f"manifest {p} is a directory, not a CSV file") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise ManifestError(f"manifest {p} is not a readable CSV file ({e})") from None
    except OSError as e:
        raise ManifestError(f"manifest {p} could not be read ({e})") from None
    rows: list[Row] = []
    for line in lines:
        if not any(cell.strip() for cell in line):
            continue  # blank lines are not rows
        n = len(rows) + 1
        if len(line) > len(header):
            raise ManifestError(
                f"manifest {p}: row {n} has {len(line)} cells for {len(header)} columns"
            )
        cells = dict(zip(header, line, strict=False))  # short rows: empty cells
        rows.append(_row(n, cells, recipe, p.parent.absolute(), out))
    check_outputs(rows, f"manifest {p}")
    return rows


def image_files(folder: str | os.PathLike, what: str) -> list[Path]:
    """The image files directly inside ``folder``, sorted by name."""
    d = Path(folder)
    if not d.is_dir():
        raise ManifestError(f"{what} folder not found: {d}")
    exts = image_extensions()
    files = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in exts)
    if not files:
        raise ManifestError(f"{what} folder {d} holds no images")
    return files


def pairs(
    contents: str | os.PathLike,
    styles: str | os.PathLike,
    outdir: str | os.PathLike,
    base: Settings | Recipe | None = None,
) -> list[Row]:
    """Every content image with every style image (``--contents DIR --styles DIR``)."""
    recipe, out = _recipe(base), Path(outdir)
    cs, ss = image_files(contents, "contents"), image_files(styles, "styles")
    rows = [
        _row(k, {CONTENT: str(c.absolute()), STYLE: str(s.absolute())}, recipe, Path("."), out)
        for k, (c, s) in enumerate(((c, s) for c in cs for s in ss), start=1)
    ]
    check_outputs(rows, "--contents/--styles")
    return rows
