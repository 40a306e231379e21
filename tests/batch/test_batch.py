"""gramstyle batch: manifest parsing and errors, naming, skip-on-rerun, failed rows, exit
codes, results.jsonl, the local executor with 2 workers, and a SIGTERM mid-batch.

Workers are separate processes, so the tiny random VGG19 travels as a weights file
(our own layout, which keeps its widths when loaded).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gramstyle import cli
from gramstyle.batch import (
    RESULTS,
    ManifestError,
    default_output_name,
    pairs,
    read_manifest,
    read_results,
    row_hash,
    run_batch,
)
from gramstyle.batch.work import HASH_KEY, SETTINGS_KEY
from gramstyle.image import read_metadata, save_image
from gramstyle.nn.weights import load_vgg19
from gramstyle.session import stylize
from gramstyle.settings import Recipe, Settings

from ..conftest import tiny_vgg

FAST = dict(size=48, min_size=24, steps=4, coarse_steps=3, init="noise", precision="fp32")
FAST_ARGS = [
    "--size",
    "48",
    "--min-size",
    "24",
    "--steps",
    "4",
    "--coarse-steps",
    "3",
    "--init",
    "noise",
    "--precision",
    "fp32",
]


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("net") / "tiny_vgg.pth"
    torch.save(tiny_vgg().state_dict(), path)
    return path


@pytest.fixture
def imgs(tmp_path) -> Path:
    """Two contents and two styles in tmp_path/in."""
    d = tmp_path / "in"
    d.mkdir()
    rng = np.random.default_rng(0)
    for name, shape in [
        ("c1.png", (30, 40)),
        ("c2.jpg", (40, 30)),
        ("s1.png", (40, 40)),
        ("s2.png", (36, 48)),
    ]:
        Image.fromarray(rng.integers(0, 255, (*shape, 3), dtype=np.uint8)).save(d / name)
    return d


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n")
    return path


def run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


# --- the manifest --------------------------------------------------------------------


def test_manifest_columns_paths_and_settings(imgs, tmp_path):
    base = Settings(**FAST)
    m = write_csv(
        imgs / "m.csv",
        """
content,style,output,size,strength,style_layers
c1.png,s1.png,,,,
c2.jpg, s1.png ; s2.png ,sub/two.jpg,64,0.8,relu1_1:1
""",
    )
    out = tmp_path / "out"
    one, two = read_manifest(m, out, base)
    # Inputs resolve against the manifest's folder (not the working directory).
    assert (one.row, one.content, one.styles) == (1, str(imgs / "c1.png"), (str(imgs / "s1.png"),))
    assert one.output == str(out.absolute() / "c1__s1.png")
    assert one.settings == base and one.error is None
    assert two.styles == (str(imgs / "s1.png"), str(imgs / "s2.png"))
    assert two.output == str(out.absolute() / "sub" / "two.jpg")
    assert two.settings == base.replace(size=64, strength=0.8, style_layers={"relu1_1": 1.0})


def test_a_preset_follows_each_rows_size(imgs, tmp_path):
    # As `gramstyle batch m.csv --preset quality --seed 5`: the preset is sized per row
    # (F130 at 256 px, P7 at 512), the command line's own options still win over it, and
    # a row may name its own preset (or a wrong one: that row fails).
    recipe = Recipe(Settings(**FAST), "quality", {"seed": 5})
    m = write_csv(
        imgs / "m.csv",
        """
content,style,output,size,preset,steps
c1.png,s1.png,a.png,256,,
c1.png,s1.png,b.png,512,,
c2.jpg,s1.png,c.png,256,,7
c2.jpg,s2.png,d.png,,best,
""",
    )
    small, large, given, bad = read_manifest(m, tmp_path / "out", recipe)
    assert (small.settings.steps, small.settings.min_size, small.settings.seed) == (130, 24, 5)
    assert small.settings == Settings(**FAST).with_preset("quality", size=256, seed=5)
    assert (large.settings.size, large.settings.steps, large.settings.min_size) == (512, 110, 192)
    assert large.settings.style_fit == "area" and large.settings.init == "adain"
    assert (given.settings.steps, given.settings.init) == (7, "adain")
    assert bad.settings is None and "unknown preset 'best'" in bad.error
    # Plain settings (no preset of the batch's) are taken as they are.
    plain = read_manifest(m, tmp_path / "out", Settings(**FAST))
    assert plain[1].settings == Settings(**FAST).replace(size=512)


def test_bad_values_fail_their_row_only(imgs, tmp_path):
    m = write_csv(
        imgs / "m.csv",
        """
content,style,size,strength,method,style_size
c1.png,s1.png,abc,,,
c1.png,s2.png,,2,,
c2.jpg,s1.png,,,foo,
c2.jpg,s2.png,,,,none
,s2.png,,,,
""",
    )
    jobs = read_manifest(m, tmp_path / "out", Settings(**FAST))
    errors = [j.error for j in jobs]
    assert "size" in errors[0] and "'abc'" in errors[0]
    assert "strength must be in [0, 1]" in errors[1]
    assert "method must be one of" in errors[2]
    assert errors[3] is None and jobs[3].settings.style_size is None
    assert "content cell is empty" in errors[4]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "is empty"),
        ("content,output\nc1.png,x.png", "no 'style' column"),
        ("content,style,sise\nc1.png,s1.png,64", "unknown column 'sise'; did you mean 'size'?"),
        ("content,style\nc1.png,s1.png\nc1.png,s1.png", "rows 1 and 2 both write"),
        ("content,style,output\nc1.png,s1.png,../x.png", "outside the output folder"),
        ("content,style,output\nc1.png,s1.png,x.gif", "must be .png or .jpg"),
        ("content,style\nc1.png,s1.png,extra", "row 1 has 3 cells for 2 columns"),
        ("content,style,size,size\nc1.png,s1.png,1,2", "'size' appears twice"),
    ],
)
def test_manifest_errors(imgs, tmp_path, text, message):
    m = imgs / "m.csv"
    m.write_text(text)
    with pytest.raises(ManifestError, match=message.replace("?", r"\?").replace(".", r"\.")):
        read_manifest(m, tmp_path / "out")


def test_unreadable_manifests(tmp_path):
    with pytest.raises(ManifestError, match="not found"):
        read_manifest(tmp_path / "nope.csv", tmp_path)
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x81content")
    with pytest.raises(ManifestError, match="not a readable CSV"):
        read_manifest(tmp_path / "bin.csv", tmp_path)


def test_names_and_pairs(imgs, tmp_path):
    assert default_output_name("a/cat.jpg", ["x/dog.png"]) == "cat__dog.png"
    assert default_output_name("cat.jpg", ["a.png", "b.png"]) == "cat__a+b.png"
    styles = tmp_path / "styles"
    styles.mkdir()
    for s in ("s1.png", "s2.png"):
        os.replace(imgs / s, styles / s)
    (imgs / "notes.txt").write_text("not an image")
    jobs = pairs(imgs, styles, tmp_path / "out")
    assert [Path(j.output).name for j in jobs] == [
        "c1__s1.png",
        "c1__s2.png",
        "c2__s1.png",
        "c2__s2.png",
    ]
    assert [j.row for j in jobs] == [1, 2, 3, 4]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ManifestError, match="holds no images"):
        pairs(empty, styles, tmp_path / "out")


def test_absolute_output_is_allowed(imgs, tmp_path):
    target = tmp_path / "elsewhere" / "x.png"
    m = write_csv(imgs / "m.csv", f"content,style,output\nc1.png,s1.png,{target}")
    (job,) = read_manifest(m, tmp_path / "out")
    assert job.output == str(target)


def test_metadata_round_trip(tmp_path):
    x = torch.rand(1, 3, 8, 8)
    meta = {HASH_KEY: "ab" * 32, SETTINGS_KEY: '{"size": 512, "ü": 1}'}
    for name in ("a.png", "a.jpg"):
        save_image(x, tmp_path / name, metadata=meta)
        assert read_metadata(tmp_path / name) == meta
    save_image(x, tmp_path / "plain.png")
    assert read_metadata(tmp_path / "plain.png") == {}
    assert read_metadata(tmp_path / "missing.png") == {}


def test_tiny_weights_file_keeps_its_widths(tiny_weights):
    x = torch.rand(1, 3, 32, 32)
    ref = tiny_vgg()(x, ["relu4_2"])["relu4_2"]
    assert torch.equal(load_vgg19(str(tiny_weights))(x, ["relu4_2"])["relu4_2"], ref)


# --- running ---------------------------------------------------------------------------


MANIFEST = """
content,style,output,steps
c1.png,s1.png,,
c2.jpg,s1.png;s2.png,,
missing.png,s1.png,,
c1.png,s2.png,,many
"""


def test_cli_batch_local_two_workers(imgs, tmp_path, tiny_weights, capsys):
    m = write_csv(imgs / "m.csv", MANIFEST)
    out = tmp_path / "out"
    argv = [
        "batch",
        m,
        "-o",
        out,
        "--workers",
        "2",
        "--threads",
        "1",
        "-q",
        "--weights",
        tiny_weights,
        *FAST_ARGS,
    ]
    code, _, err = run(argv, capsys)
    assert code == 1  # rows 3 and 4 failed, the batch went on
    assert "row 3 failed: content image not found" in err and "row 4 failed: steps" in err
    lines = read_results(out)
    assert sorted((r["row"], r["status"]) for r in lines) == [
        (1, "done"),
        (2, "done"),
        (3, "failed"),
        (4, "failed"),
    ]
    for r in lines:
        assert set(r) >= {"row", "output", "status", "error", "seconds", "worker", "hash", "run"}
        assert (r["error"] is None) == (r["status"] == "done")
    assert len({r["worker"] for r in lines if r["status"] == "done"}) >= 1
    # Each output is what stylize() makes in this process with the same net and settings.
    s = Settings(**FAST, weights=str(tiny_weights))
    net = tiny_vgg()
    for row, content, styles in [(1, "c1.png", ["s1.png"]), (2, "c2.jpg", ["s1.png", "s2.png"])]:
        path = out / default_output_name(content, styles)
        ref = stylize(imgs / content, [imgs / x for x in styles], s, backbone=net)
        assert np.array_equal(pixels(path), np.asarray(ref, dtype=np.int16)), row
        (job,) = [j for j in read_manifest(m, out, s) if j.row == row]
        assert read_metadata(path)[HASH_KEY] == row_hash(job)
    assert sorted(p.name for p in out.iterdir()) == [
        "c1__s1.png",
        "c2__s1+s2.png",
        RESULTS,
    ]

    # A rerun skips what is done and redoes only the failures.
    before = {p: p.read_bytes() for p in out.glob("*.png")}
    code, _, _ = run(argv, capsys)
    assert code == 1
    lines = read_results(out)
    assert len(lines) == 8 and len({r["run"] for r in lines}) == 2
    second = [r for r in lines if r["run"] == lines[-1]["run"]]
    assert sorted((r["row"], r["status"]) for r in second) == [
        (1, "skipped"),
        (2, "skipped"),
        (3, "failed"),
        (4, "failed"),
    ]
    assert {p: p.read_bytes() for p in out.glob("*.png")} == before

    # Other settings: existing outputs are not overwritten without --overwrite...
    argv[argv.index("--steps") + 1] = "5"
    code, _, err = run(argv, capsys)
    assert code == 1 and "exists from other inputs or settings; pass --overwrite" in err
    assert {p: p.read_bytes() for p in out.glob("*.png")} == before
    # ...and are with it.
    code, _, _ = run([*argv, "--overwrite"], capsys)
    assert code == 1
    assert all(p.read_bytes() != before[p] for p in before)
    assert [r["status"] for r in read_results(out)[-4:]].count("done") == 2


def test_cli_exit_2_for_a_bad_manifest(imgs, tmp_path, capsys):
    m = write_csv(imgs / "m.csv", "content,sytle\nc1.png,s1.png")
    code, _, err = run(["batch", m, "-o", tmp_path / "out"], capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1
    assert lines[0].startswith("gramstyle: error: ") and "no 'style' column" in lines[0]
    assert not (tmp_path / "out").exists()
    code, _, err = run(["batch", "-o", tmp_path / "out"], capsys)
    assert code == 2 and "give a MANIFEST" in err


def test_user_file_is_not_overwritten(imgs, tmp_path, tiny_weights):
    out = tmp_path / "out"
    out.mkdir()
    (out / "c1__s1.png").write_bytes(b"precious")
    m = write_csv(imgs / "m.csv", "content,style\nc1.png,s1.png")
    jobs = read_manifest(m, out, Settings(**FAST, weights=str(tiny_weights)))
    (r,) = run_batch(jobs, out, workers=1, threads=1)
    assert r.status == "failed" and "--overwrite" in r.error
    assert (out / "c1__s1.png").read_bytes() == b"precious"


def test_sigterm_stops_the_batch_and_a_rerun_finishes(imgs, tmp_path, tiny_weights):
    # Row 2 is long (many steps); SIGTERM is sent once row 1 is recorded, so the single
    # worker is in the middle of row 2.
    m = write_csv(imgs / "m.csv", "content,style,steps\nc1.png,s1.png,\nc2.jpg,s2.png,100000")
    out = tmp_path / "out"
    argv = [
        sys.executable,
        "-m",
        "gramstyle",
        "batch",
        str(m),
        "-o",
        str(out),
        "--workers",
        "1",
        "--threads",
        "1",
        "--weights",
        str(tiny_weights),
        *FAST_ARGS,
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 600  # generous: the machine may be shared
        while not read_results(out) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert [r["status"] for r in read_results(out)] == ["done"], read_results(out)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("gramstyle: terminated; 1 output written;"), err
    assert "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["c1__s1.png", RESULTS]  # no temporaries
    # The rerun (row 2 now short) skips row 1 and does row 2.
    write_csv(m, "content,style,steps\nc1.png,s1.png,\nc2.jpg,s2.png,3")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    last = read_results(out)[1:]
    assert sorted((r["row"], r["status"]) for r in last) == [(1, "skipped"), (2, "done")]


def test_results_lines_are_json(tmp_path):
    (tmp_path / RESULTS).write_text('{"row": 1}\n{"row": 2, "sta')  # torn by a crash
    assert read_results(tmp_path) == [{"row": 1}]


def test_label_map_and_photoreal_columns(imgs, tmp_path, tiny_weights):
    """``content_labels``/``style_labels`` (one per style, ``;``) resolve like inputs and
    reach the job; ``photoreal`` is a switch; a bad map fails its row only."""
    H, W = 30, 40
    cl = np.zeros((H, W, 3), np.uint8)
    cl[:15, :, 2], cl[15:, :, 1] = 255, 255
    Image.fromarray(cl).save(imgs / "c1_labels.png")
    sl = np.zeros((40, 40, 3), np.uint8)
    sl[:, :20, 2], sl[:, 20:, 1] = 255, 255
    Image.fromarray(sl).save(imgs / "s1_labels.png")
    (imgs / "bad_labels.png").write_text("not an image")
    m = write_csv(
        imgs / "m.csv",
        """
content,style,content_labels,style_labels,photoreal,output
c1.png,s1.png,c1_labels.png,s1_labels.png,true,a.png
c1.png,s1.png,bad_labels.png,s1_labels.png,yes,b.png
c1.png,s1.png,,,maybe,c.png
""",
    )
    out = tmp_path / "out"
    base = Settings(**{**FAST, "init": "content"}, weights=str(tiny_weights))
    one, two, three = read_manifest(m, out, base)
    assert one.content_labels == str(imgs / "c1_labels.png")
    assert one.style_labels == (str(imgs / "s1_labels.png"),)
    assert one.settings is not None and one.settings.photoreal
    assert type(one).from_json(one.to_json()) == one
    assert three.error is not None and "true or false" in three.error
    unlabelled = read_manifest(write_csv(tmp_path / "m2.csv", "content,style\nc1.png,s1.png"), out)
    assert row_hash(one) != row_hash(dataclasses_replace(one, content_labels="", style_labels=()))
    assert unlabelled[0].content_labels == "" and unlabelled[0].style_labels == ()
    rows = read_manifest(m, out, base)
    results = list(run_batch(rows, out, workers=1, threads=1))
    status = {r.row: (r.status, r.error) for r in results}
    assert status[1] == ("done", None)
    assert status[2][0] == "failed" and "content labels" in status[2][1]
    assert status[3][0] == "failed"


def dataclasses_replace(row, **changes):
    import dataclasses

    return dataclasses.replace(row, **changes)
