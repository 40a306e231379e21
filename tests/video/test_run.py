"""stylize_video and ``gramstyle video`` end to end, on tiny networks and tiny clips."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest
import torch

av = pytest.importorskip("av")
pytest.importorskip("cv2")

from gramstyle import cli, registry, session  # noqa: E402
from gramstyle.image import load_image, save_image  # noqa: E402
from gramstyle.video import (  # noqa: E402
    FrameDone,
    FrameStep,
    VideoDone,
    VideoSettings,
    VideoStart,
    stylize_video,
)
from gramstyle.video import probe as vprobe  # noqa: E402
from gramstyle.video import read as vread  # noqa: E402
from gramstyle.video import run as vrun  # noqa: E402
from gramstyle.video.synthetic import Motion, render, write_clip  # noqa: E402
from gramstyle.video.temporal import WarpingError  # noqa: E402

from ..adain.test_stylize import tiny_decoder  # noqa: E402
from ..conftest import tiny_vgg  # noqa: E402

FRAMES = 8
# The tiny random decoder's own colours (palette "decoder"): recoloured to the style,
# its noise-like frames would test the codec, not the video loop.
TINY = dict(
    size=64,
    min_size=32,
    steps=6,
    coarse_steps=4,
    precision="fp32",
    style_weight=1e3,
    palette="decoder",
)


def texture(h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 3, h // 6, w // 6, generator=g)
    return torch.nn.functional.interpolate(x, size=(h, w), mode="bicubic").clamp(0, 1)


@pytest.fixture(scope="module")
def pan(tmp_path_factory):
    """8 frames of a pan at 24000/1001 fps, 48x64, a sine tone as AAC; and its motion."""
    d = tmp_path_factory.mktemp("pan")
    motion = Motion("pan", (48, 64), FRAMES)
    path = write_clip(d / "pan.mp4", render(texture(48, 64), motion))
    return path, motion


@pytest.fixture(scope="module")
def style_png(tmp_path_factory):
    g = torch.Generator().manual_seed(7)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 40), torch.linspace(0, 1, 40), indexing="ij")
    s = torch.sin(xx * 25 + yy * 10).abs()
    img = torch.stack([s, 1 - s, 0.3 + 0.2 * torch.rand(40, 40, generator=g)]).unsqueeze(0)
    return save_image(img, tmp_path_factory.mktemp("style") / "style.png")


@pytest.fixture(scope="module")
def nets():
    return tiny_vgg(), tiny_decoder()


def run_all(path, style, out, nets, **kw):
    net, dec = nets
    kw = {**TINY, **kw}
    return list(stylize_video(path, style, out, backbone=net, decoder=dec, **kw))


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


def e_warp(frames: list[torch.Tensor], motion: Motion) -> float:
    acc = WarpingError()
    for t in range(len(frames) - 1):
        acc.add(frames[t], frames[t + 1], motion.flow(t), motion.mask(t))
    return acc.value


@pytest.mark.parametrize("method", ["adain", "gatys"])
def test_video_keeps_every_frame_the_rate_and_the_audio(pan, style_png, nets, tmp_path, method):
    path, _ = pan
    out = tmp_path / "out.mp4"
    recs = run_all(path, style_png, out, nets, method=method, video=VideoSettings(frame_steps=3))
    assert isinstance(recs[0], VideoStart) and isinstance(recs[-1], VideoDone)
    assert [r.frame for r in recs if isinstance(r, FrameDone)] == list(range(FRAMES))
    info = vprobe.probe(out)
    assert info.frames == FRAMES
    assert info.rate == Fraction(24000, 1001)
    assert audio_packets(out) == audio_packets(path)  # untouched
    assert (info.width, info.height) == (64, 48)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]  # work folder gone
    # What was written is what the records showed (up to H.264 at crf 18).
    last = [r for r in recs if isinstance(r, FrameDone)][-1].image
    got = list(vread.read_frames(info, (48, 64)))[-1].image
    assert float((got - last).abs().mean()) < 0.06


def test_gatys_later_frames_take_the_small_budget_with_the_temporal_cost(
    pan, style_png, nets, tmp_path
):
    path, _ = pan
    recs = run_all(path, style_png, tmp_path / "o.mp4", nets, video=VideoSettings(frame_steps=3))
    steps = [
        [r.record for r in recs if isinstance(r, FrameStep) and r.frame == t] for t in range(FRAMES)
    ]
    assert len(steps[0]) == 4 + 6  # the pyramid: one coarse scale, then full size
    assert "temporal" not in steps[0][-1].extra
    for t in range(1, FRAMES):
        assert len(steps[t]) == 3 and steps[t][0].scales == 1
        assert steps[t][0].extra["temporal"] >= 0
    # W = 0: every frame on its own, with the first frame's settings.
    recs0 = run_all(
        path,
        style_png,
        tmp_path / "o0.mp4",
        nets,
        video=VideoSettings(frame_steps=3, temporal_weight=0),
    )
    per_frame = [
        sum(isinstance(r, FrameStep) and r.frame == t for r in recs0) for t in range(FRAMES)
    ]
    assert per_frame == [10] * FRAMES


@pytest.mark.parametrize("method", ["adain", "gatys"])
def test_temporal_weight_lowers_the_warping_error(pan, style_png, nets, tmp_path, method):
    path, motion = pan

    def frames(weight: float) -> list[torch.Tensor]:
        recs = run_all(
            path,
            style_png,
            tmp_path / f"{weight}.mp4",
            nets,
            method=method,
            video=VideoSettings(temporal_weight=weight, frame_steps=6),
        )
        return [r.image for r in recs if isinstance(r, FrameDone)]

    independent, tied = (
        e_warp(frames(0), motion),
        e_warp(frames(registry.info(method).temporal.weight), motion),
    )
    assert tied < 0.7 * independent


def test_grid_align_keeps_adain_strokes_in_place_on_a_pan(pan, style_png, nets, tmp_path):
    """The 2 px/frame pan repaints new strokes every frame unless each frame sits on
    the network's 8 px grid as the camera moved (W tiny: the blend plays no part)."""
    path, motion = pan

    def frames(align: bool) -> list[torch.Tensor]:
        vs = VideoSettings(temporal_weight=1e-9, grid_align=align)
        recs = run_all(path, style_png, tmp_path / f"{align}.mp4", nets, method="adain", video=vs)
        return [r.image for r in recs if isinstance(r, FrameDone)]

    aligned, plain = e_warp(frames(True), motion), e_warp(frames(False), motion)
    assert aligned < 0.5 * plain


def test_shifts_accumulate_and_survive_a_torn_line(tmp_path):
    shifts = vrun._Shifts(tmp_path)
    assert shifts.next(0, None) == (0.0, 0.0)
    shifts.keep(0, (0.0, 0.0))
    shifts.keep(1, shifts.next(1, (1, 2.0, -1.0)))
    shifts.keep(2, shifts.next(2, (2, 0.5, 0.25)))  # from frame 0, two back
    shifts.keep(3, shifts.next(3, None))  # nothing reliable: stays where frame 2 was
    with (tmp_path / "shift.txt").open("a") as f:
        f.write("4 1.5")  # a crash mid-line
    again = vrun._Shifts(tmp_path)
    assert again.at == {0: (0.0, 0.0), 1: (2.0, -1.0), 2: (0.5, 0.25), 3: (0.5, 0.25)}


@pytest.mark.parametrize("method", ["gatys", "adain"])
def test_interrupted_run_continues_and_matches_an_uninterrupted_one(
    pan, style_png, nets, tmp_path, method
):
    path, _ = pan
    vs = VideoSettings(frame_steps=3)
    ref = run_all(path, style_png, tmp_path / "ref.mp4", nets, video=vs, method=method)
    ref_frames = [r.image for r in ref if isinstance(r, FrameDone)]

    out = tmp_path / "out.mp4"
    net, dec = nets
    gen = stylize_video(
        path, style_png, out, backbone=net, decoder=dec, video=vs, **{**TINY, "method": method}
    )
    for rec in gen:
        if isinstance(rec, FrameDone) and rec.frame == 4:
            break
    gen.close()  # what Ctrl-C does to the loop: it stops between two steps
    assert not out.exists()
    work = next(tmp_path.glob(".out.mp4.*.frames"))
    assert len(vrun.kept_frames(work)) == 5
    if method == "adain":  # the camera's path so far, for the grid alignment
        assert len((work / "shift.txt").read_text().splitlines()) == 5

    recs = run_all(path, style_png, out, nets, video=vs, method=method)
    start = recs[0]
    assert isinstance(start, VideoStart) and start.resumed == 5 and start.work_dir == work
    done = [r for r in recs if isinstance(r, FrameDone)]
    assert [r.frame for r in done] == [5, 6, 7]  # only the missing frames are computed
    assert recs[-1].computed == 3 and recs[-1].frames == FRAMES
    for r in done:  # exactly what the uninterrupted run made
        assert torch.equal(r.image, ref_frames[r.frame])
    assert vprobe.probe(out).frames == FRAMES and not work.exists()


def test_other_settings_do_not_reuse_the_kept_frames(pan, style_png, nets, tmp_path):
    path, _ = pan
    out = tmp_path / "out.mp4"
    net, dec = nets
    gen = stylize_video(path, style_png, out, backbone=net, decoder=dec, method="adain", **TINY)
    for rec in gen:
        if isinstance(rec, FrameDone) and rec.frame == 2:
            break
    gen.close()
    recs = run_all(path, style_png, out, nets, method="adain", alpha=0.5)
    assert recs[0].resumed == 0 and recs[-1].computed == FRAMES


def test_rotated_input_gives_an_upright_output(tmp_path, style_png, nets):
    frames = render(texture(48, 64, seed=2), Motion("pan", (48, 64), 3))
    path = write_clip(tmp_path / "rot.mp4", frames, rotation=90)
    out = tmp_path / "out.mp4"
    run_all(path, style_png, out, nets, method="adain")
    info = vprobe.probe(out)
    assert (info.width, info.height, info.rotation) == (64, 48, 0)


def test_odd_size_and_variable_rate_are_said(tmp_path, style_png, nets):
    frames = render(texture(49, 65, seed=3), Motion("pan", (49, 65), 5))
    path = write_clip(tmp_path / "odd.mp4", frames, Fraction(30), pts=[0, 1, 3, 4, 7])
    out = tmp_path / "out.mkv"
    recs = run_all(path, style_png, out, nets, method="adain", size=65)
    notes = " ".join(recs[0].notes)
    assert "65x49" in notes and "64x48" in notes and "variable frame rate" in notes
    info = vprobe.probe(out)
    assert (info.width, info.height, info.frames) == (64, 48, 5)
    with av.open(str(out)) as c:
        ts = sorted(float(p.pts * p.time_base) for p in c.demux(c.streams.video[0]) if p.size)
    assert [(t - ts[0]) * 30 for t in ts] == pytest.approx([0, 1, 3, 4, 7], abs=0.03)


def test_preserve_color_luminance_keeps_the_frames_chroma(pan, style_png, nets, tmp_path):
    from gramstyle.nn.colour import rgb_to_yiq

    path, _ = pan
    recs = run_all(
        path,
        style_png,
        tmp_path / "o.mp4",
        nets,
        preserve_color="luminance",
        video=VideoSettings(frame_steps=3),
    )
    out = [r.image for r in recs if isinstance(r, FrameDone)]
    src = [f.image for f in vread.read_frames(vprobe.probe(path), (48, 64))]
    # Where the output is inside the RGB gamut (not clamped), its chroma is the frame's.
    ok = ((out[3] > 0.02) & (out[3] < 0.98)).all(1, keepdim=True).expand(1, 2, 48, 64)
    assert ok.float().mean() > 0.3
    d = (rgb_to_yiq(out[3])[:, 1:] - rgb_to_yiq(src[3])[:, 1:]).abs()[ok].mean()
    assert float(d) < 0.01


# -- the command line --------------------------------------------------------------------


@pytest.fixture
def tiny_cli(monkeypatch, nets):
    net, dec = nets
    monkeypatch.setattr(session, "default_backbone", lambda settings: net)
    from gramstyle.adain import method as adain_method

    monkeypatch.setattr(adain_method, "default_decoder", lambda: dec)


CLI_FAST = [
    "--size",
    "64",
    "--min-size",
    "32",
    "--steps",
    "4",
    "--coarse-steps",
    "2",
    "--frame-steps",
    "2",
    "--precision",
    "fp32",
    "-q",
]


def one_line_error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("gramstyle: error: "), err
    return lines[0]


def test_cli_writes_the_video(pan, style_png, tmp_path, tiny_cli, capsys):
    path, _ = pan
    out = tmp_path / "out.mp4"
    code = cli.main(["video", str(path), str(style_png), "-o", str(out), *CLI_FAST])
    o, e = capsys.readouterr()
    assert code == 0, e
    assert o.strip() == str(out.resolve())
    assert vprobe.probe(out).frames == FRAMES
    code = cli.main(["video", str(path), str(style_png), "-o", str(out), *CLI_FAST])
    assert code == 2 and "exists" in one_line_error(capsys.readouterr().err)


def test_cli_keeps_the_clips_size_and_says_when_size_asks_for_more(
    pan, style_png, tmp_path, tiny_cli, capsys
):
    path, _ = pan  # 64x48
    fast = [a for a in CLI_FAST if a not in ("--size", "64")]
    out = tmp_path / "own.mp4"
    assert cli.main(["video", str(path), str(style_png), "-o", str(out), *fast]) == 0
    assert "note" not in capsys.readouterr().err  # no --size: the clip's own, nothing to say
    assert vprobe.probe(out).display_size == (64, 48)
    out = tmp_path / "asked.mp4"
    args = ["video", str(path), str(style_png), "-o", str(out), *fast, "--size", "128"]
    assert cli.main(args) == 0
    err = capsys.readouterr().err
    assert "note: the clip is 64x48: its frames are kept at that size, not upscaled to 128" in err
    assert vprobe.probe(out).display_size == (64, 48)


def test_cli_ctrl_c_keeps_frames_and_the_rerun_continues(
    pan, style_png, tmp_path, tiny_cli, capsys, monkeypatch
):
    path, _ = pan
    out = tmp_path / "out.mp4"
    real_save, calls = vrun.save_image, []

    def save_then_interrupt(*a, **k):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real_save(*a, **k)

    monkeypatch.setattr(vrun, "save_image", save_then_interrupt)
    code = cli.main(["video", str(path), str(style_png), "-o", str(out), *CLI_FAST])
    err = capsys.readouterr().err
    assert code == 130 and not out.exists()
    assert "3 finished frames are kept" in err and "interrupted" in err.splitlines()[-1]
    monkeypatch.setattr(vrun, "save_image", real_save)
    code = cli.main(["video", str(path), str(style_png), "-o", str(out), *CLI_FAST])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "continuing: 3 of 8 frames" in err
    assert vprobe.probe(out).frames == FRAMES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_cli_sigterm_stops_cleanly_and_the_rerun_continues(pan, style_png, tmp_path):
    """A real process, a real SIGTERM once two frames are kept: exit 143, no output."""
    path, _ = pan
    out = tmp_path / "out.mp4"
    script = (
        f"import sys, torch; sys.path.insert(0, {str(Path(__file__).parents[1])!r}); "
        "from conftest import tiny_vgg; from gramstyle import cli, session; "
        "net = tiny_vgg(); session.default_backbone = lambda s: net; "
        "torch.set_num_threads(1); "
        "sys.exit(cli.main(sys.argv[1:]))"
    )
    argv = [
        sys.executable,
        "-c",
        script,
        "video",
        str(path),
        str(style_png),
        "-o",
        str(out),
        *CLI_FAST,
        "--frame-steps",
        "200",
    ]
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        kept: list = []
        while time.monotonic() < deadline and len(kept) < 2 and proc.poll() is None:
            works = list(tmp_path.glob(".out.mp4.*.frames"))
            kept = vrun.kept_frames(works[0]) if works else []
            time.sleep(0.05)
        assert len(kept) >= 2, "the run did not keep two frames in time"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert "terminated" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".out.mp4.*.tmp*"))
    work = next(tmp_path.glob(".out.mp4.*.frames"))
    n = len(vrun.kept_frames(work))
    assert n >= 2
    done = subprocess.run(
        argv[:-2] + ["--frame-steps", "200"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert f"continuing: {n} of 8 frames" in done.stderr
    assert vprobe.probe(out).frames == FRAMES


@pytest.mark.parametrize(
    "make, message",
    [
        ("still", "still image"),
        ("sound", "no video stream"),
        ("broken", "not a video FFmpeg can read"),
        ("missing", "not found"),
    ],
)
def test_cli_bad_input_is_one_line(tmp_path, style_png, tiny_cli, capsys, make, message):
    p = tmp_path / {"still": "x.jpg", "sound": "x.m4a", "broken": "x.mp4", "missing": "y.mp4"}[make]
    if make == "still":
        save_image(torch.rand(1, 3, 24, 32), p)
    elif make == "sound":
        import numpy as np

        with av.open(str(p), "w") as o:
            a = o.add_stream("aac", rate=8000)
            a.layout = "mono"
            f = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            f.sample_rate, f.pts = 8000, 0
            for pkt in [*a.encode(f), *a.encode(None)]:
                o.mux(pkt)
    elif make == "broken":
        p.write_bytes(os.urandom(4096))
    out = tmp_path / "out.mp4"
    code = cli.main(["video", str(p), str(style_png), "-o", str(out), *CLI_FAST])
    assert code == 2
    assert message in one_line_error(capsys.readouterr().err)
    assert not out.exists() and not list(tmp_path.glob(".out.mp4*"))


def test_cli_bad_options_are_one_line(pan, style_png, tmp_path, tiny_cli, capsys):
    path, _ = pan
    base = ["video", str(path), str(style_png), "-o"]
    for extra, message in [
        ([str(tmp_path / "o.gif")], "video format"),
        ([str(tmp_path / "o.mp4"), "--long-term", "1,x"], "list of frames"),
        ([str(tmp_path / "o.mp4"), "--temporal-weight", "-1"], "must not be negative"),
        ([str(tmp_path / "o.mp4"), "--crf", "99"], "crf"),
        ([str(tmp_path / "o.mp4"), "--style-blend", "1,2"], "blend weights for 1 styles"),
    ]:
        assert cli.main([*base, *extra, "-q"]) == 2
        assert message in one_line_error(capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_import_stays_light():
    code = (
        "import sys, gramstyle, gramstyle.video, gramstyle.cli; "
        "print('av' in sys.modules, 'cv2' in sys.modules)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["False", "False"]


def test_kept_frames_stop_at_a_gap(tmp_path):
    for i, pts in [(0, 0), (1, 1001), (3, 3003)]:
        save_image(torch.zeros(1, 3, 4, 4), tmp_path / f"f{i:06d}_t{pts}.png")
    (tmp_path / ".f000002_t2002.png.x.tmp").write_bytes(b"half")
    assert [pts for _, pts in vrun.kept_frames(tmp_path)] == [0, 1001]
    assert load_image(vrun.kept_frames(tmp_path)[0][0]).shape == (1, 3, 4, 4)


def test_photoreal_frames_carry_the_matting_term_beside_the_temporal_cost(
    pan, style_png, nets, tmp_path
):
    """--photoreal in a video: every frame's J has the matting term of that frame, and
    later frames the temporal cost beside it; AdaIN frames are smoothed photos."""
    path, _ = pan
    recs = run_all(
        path,
        style_png,
        tmp_path / "o.mp4",
        nets,
        photoreal=True,
        init="content",
        video=VideoSettings(frame_steps=2),
    )
    steps = [r.record for r in recs if isinstance(r, FrameStep)]
    assert all("photoreal" in r.extra for r in steps)
    assert any({"photoreal", "temporal"} <= set(r.extra) for r in steps)
    recs = run_all(path, style_png, tmp_path / "a.mp4", nets, method="adain", photoreal=True)
    assert [r.frame for r in recs if isinstance(r, FrameDone)] == list(range(FRAMES))
