"""Video I/O: exact rational rate, every frame, audio untouched, rotation, odd sizes, bad input."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch

av = pytest.importorskip("av")

from gramstyle.errors import GramstyleError  # noqa: E402
from gramstyle.image import save_image  # noqa: E402
from gramstyle.video import probe as vprobe  # noqa: E402
from gramstyle.video import read as vread  # noqa: E402
from gramstyle.video import write as vwrite  # noqa: E402
from gramstyle.video.synthetic import NTSC_FILM, Motion, render, write_clip  # noqa: E402


def texture(h: int = 96, w: int = 128, seed: int = 0) -> torch.Tensor:
    """A smooth random colour texture (blurred noise), so flow and codecs behave."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 3, h // 8, w // 8, generator=g)
    x = torch.nn.functional.interpolate(x, size=(h, w), mode="bicubic", align_corners=False)
    return x.clamp(0, 1)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """12 frames of a pan at 24000/1001 fps, 48x64, with a 440 Hz AAC tone."""
    path = tmp_path_factory.mktemp("clip") / "pan.mp4"
    frames = render(texture(), Motion("pan", (48, 64), 12))
    write_clip(path, frames)
    return path, frames


def audio_packets(path):
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        return [bytes(p) for p in c.demux(s) if p.size]


def test_probe_reads_exact_rate_frames_and_audio(clip):
    path, _ = clip
    info = vprobe.probe(path)
    assert info.rate == Fraction(24000, 1001)
    assert info.frames == 12
    assert info.audio == ("aac",)
    assert not info.vfr
    assert (info.width, info.height, info.rotation) == (64, 48, 0)
    assert info.display_size == (64, 48)
    assert info.duration == pytest.approx(12 * 1001 / 24000)


def test_read_frames_gives_every_frame_close_to_the_source(clip):
    path, frames = clip
    info = vprobe.probe(path)
    got = list(vread.read_frames(info, (48, 64)))
    assert [f.index for f in got] == list(range(12))
    assert all(f.image.shape == (1, 3, 48, 64) and f.image.dtype == torch.float32 for f in got)
    err = max(float((f.image - x).abs().mean()) for f, x in zip(got, frames, strict=True))
    assert err < 0.05  # H.264 at crf 10; 4:2:0 halves the colour of this tiny, colourful clip
    ticks = vprobe.frame_ticks(info)
    assert [f.pts - got[0].pts for f in got] == [round(i * ticks) for i in range(12)]


def test_writer_keeps_rate_frames_and_copies_audio_untouched(clip, tmp_path):
    path, frames = clip
    info = vprobe.probe(path)
    out = tmp_path / "out.mp4"
    with vwrite.VideoWriter(out, info, (48, 64)) as w:
        for f in vread.read_frames(info, (48, 64)):
            w.write(1 - f.image, f.pts)  # any picture will do: the negative
    back = vprobe.probe(out)
    assert back.rate == Fraction(24000, 1001)
    assert back.frames == 12
    assert back.audio == ("aac",)
    assert audio_packets(out) == audio_packets(path)  # remuxed, not re-encoded
    got = list(vread.read_frames(back, (48, 64)))
    assert float((got[5].image - (1 - frames[5])).abs().mean()) < 0.07
    assert not list(tmp_path.glob(".out.mp4.*"))  # no temporary left behind
    with av.open(str(out)) as c:  # the video starts where the input's did, in seconds
        v, a = c.streams.video[0], c.streams.audio[0]
        assert float(v.start_time * v.time_base) == pytest.approx(
            float(info.start * info.time_base), abs=1e-3
        )
        assert a.frames > 0


def test_writer_needs_the_frame_size_and_aborts_cleanly(clip, tmp_path):
    path, _ = clip
    info = vprobe.probe(path)
    out = tmp_path / "x.mp4"
    with pytest.raises(ValueError), vwrite.VideoWriter(out, info, (48, 64)) as w:
        w.write(torch.zeros(1, 3, 40, 64))
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotation_is_honoured(tmp_path, rotation):
    frames = render(texture(48, 64, seed=3), Motion("pan", (48, 64), 3))
    path = write_clip(tmp_path / "rot.mp4", frames, audio_hz=None, rotation=rotation)
    info = vprobe.probe(path)
    assert info.rotation == rotation
    coded = (48, 64) if rotation % 180 else (64, 48)
    assert (info.width, info.height) == coded  # stored turned...
    assert info.display_size == (64, 48)  # ...shown upright
    got = next(vread.read_frames(info, (48, 64)))
    assert float((got.image - frames[0]).abs().mean()) < 0.05  # upright again


def test_odd_sizes_are_cropped_even_with_a_note(tmp_path):
    frames = render(texture(49, 65, seed=4), Motion("pan", (49, 65), 4))
    path = write_clip(tmp_path / "odd.mp4", frames, audio_hz=None)
    info = vprobe.probe(path)
    assert (info.width, info.height) == (65, 49)
    size, notes = vprobe.processing_size(info, 65)
    assert size == (48, 64)
    assert notes and "65x49" in notes[0] and "64x48" in notes[0] and "even" in notes[0]
    got = next(vread.read_frames(info, size))
    assert got.image.shape == (1, 3, 48, 64)
    # Cropped, not squeezed: the kept part is the source's top-left.
    assert float((got.image - frames[0][..., :48, :64]).abs().mean()) < 0.05
    out = tmp_path / "out.mp4"
    with vwrite.VideoWriter(out, info, size) as w:
        w.write(got.image, got.pts)
    assert vprobe.probe(out).display_size == (64, 48)
    assert vprobe.processing_size(info, 64)[0] == (48, 64)  # 64x48 from the start: no note
    assert vprobe.processing_size(info, 64)[1] == []


def test_frames_are_never_upscaled_and_a_note_says_so(clip):
    info = vprobe.probe(clip[0])  # 64x48
    size, notes = vprobe.processing_size(info, 512)
    assert size == (48, 64)
    assert notes == ["the clip is 64x48: its frames are kept at that size, not upscaled to 512 px"]
    assert vprobe.processing_size(info, 32) == ((24, 32), [])  # smaller: as asked, no note


def test_variable_frame_rate_keeps_each_timestamp(tmp_path):
    frames = render(texture(seed=5), Motion("pan", (48, 64), 8))
    pts = [0, 1, 2, 4, 5, 8, 9, 12]  # in 1/30 s
    path = write_clip(tmp_path / "vfr.mp4", frames, Fraction(30), pts=pts)
    info = vprobe.probe(path)
    assert info.vfr
    out = tmp_path / "out.mkv"
    with vwrite.VideoWriter(out, info, (48, 64)) as w:
        for f in vread.read_frames(info, (48, 64)):
            w.write(f.image, f.pts)
    with av.open(str(out)) as c:
        got = sorted(float(p.pts * p.time_base) for p in c.demux(c.streams.video[0]) if p.size)
    start = got[0]
    # Matroska keeps milliseconds: each timestamp within one of the input's.
    assert [(t - start) * 30 for t in got] == pytest.approx(pts, abs=0.03)


def test_output_timing_is_exact():
    base = dict(
        path=None,
        container="mp4",
        codec="h264",
        width=64,
        height=48,
        sar=Fraction(1),
        rotation=0,
        frames=10,
        vfr=False,
        audio=(),
        dropped=0,
    )
    t = vwrite.output_timing(
        vprobe.VideoInfo(rate=NTSC_FILM, time_base=Fraction(1, 24000), start=0, **base)
    )
    assert (t.time_base, t.step) == (Fraction(1, 24000), 1001)
    # A millisecond time base (Matroska) cannot hold 1001/24000 s: use one that can.
    t = vwrite.output_timing(
        vprobe.VideoInfo(rate=NTSC_FILM, time_base=Fraction(1, 1000), start=42, **base)
    )
    assert t.step * t.time_base == Fraction(1001, 24000)
    assert t.start * t.time_base == pytest.approx(0.042, abs=1 / 48000)
    t = vwrite.output_timing(
        vprobe.VideoInfo(rate=Fraction(25), time_base=Fraction(1, 1000), start=0, **base)
    )
    assert (t.time_base, t.step) == (Fraction(1, 1000), 40)
    vfr = dict(base, vfr=True)
    t = vwrite.output_timing(
        vprobe.VideoInfo(rate=Fraction(30), time_base=Fraction(1, 90000), start=7, **vfr)
    )
    assert (t.time_base, t.start, t.step) == (Fraction(1, 90000), 7, None)


def test_audio_that_cannot_be_copied_is_re_encoded_with_a_note(clip, tmp_path):
    path, _ = clip
    info = vprobe.probe(path)
    out = tmp_path / "out.webm"  # WebM holds Opus or Vorbis, not AAC
    with vwrite.VideoWriter(out, info, (48, 64)) as w:
        for f in vread.read_frames(info, (48, 64)):
            w.write(f.image, f.pts)
        notes = list(w.notes)
    assert any("re-encoded" in n and "aac" in n for n in notes)
    back = vprobe.probe(out)
    assert back.frames == 12 and back.audio and back.audio[0] in ("opus", "libopus", "vorbis")


# -- bad input ------------------------------------------------------------------------------


def test_missing_and_directory(tmp_path):
    with pytest.raises(GramstyleError, match="not found"):
        vprobe.probe(tmp_path / "nope.mp4")
    with pytest.raises(GramstyleError, match="directory"):
        vprobe.probe(tmp_path)


def test_broken_container(tmp_path):
    p = tmp_path / "broken.mp4"
    p.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    with pytest.raises(GramstyleError, match="not a video FFmpeg can read"):
        vprobe.probe(p)


def test_truncated_file_without_index(clip, tmp_path):
    path, _ = clip
    data = path.read_bytes()
    p = tmp_path / "cut.mp4"
    p.write_bytes(data[: len(data) // 2])  # the index (moov) is at the end: gone
    with pytest.raises(GramstyleError, match="broken or truncated"):
        vprobe.probe(p)


def test_still_image_is_refused(tmp_path):
    for name in ("still.png", "still.jpg"):
        p = save_image(torch.rand(1, 3, 24, 32), tmp_path / name)
        with pytest.raises(GramstyleError, match="still image.*gramstyle stylize"):
            vprobe.probe(p)


def test_no_video_stream(tmp_path):
    import numpy as np

    p = tmp_path / "sound.m4a"
    with av.open(str(p), "w") as out:
        a = out.add_stream("aac", rate=8000)
        a.layout = "mono"
        f = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        f.sample_rate, f.pts = 8000, 0
        for pkt in [*a.encode(f), *a.encode(None)]:
            out.mux(pkt)
    with pytest.raises(GramstyleError, match="no video stream.*audio"):
        vprobe.probe(p)


def test_zero_frames(tmp_path):
    p = tmp_path / "empty.mkv"
    with av.open(str(p), "w") as out:
        s = out.add_stream("libx264", rate=24)
        s.width, s.height, s.pix_fmt = 32, 24, "yuv420p"
        out.start_encoding()
    with pytest.raises(GramstyleError, match="no frames|no video stream|End of file"):
        vprobe.probe(p)


def test_huge_frames_are_refused(clip, monkeypatch):
    path, _ = clip
    monkeypatch.setattr(vprobe, "MAX_PIXELS", 1000)
    with pytest.raises(GramstyleError, match="too many pixels"):
        vprobe.probe(path)


def test_output_checks(tmp_path):
    with pytest.raises(GramstyleError, match="video format"):
        vwrite.check_video_output(tmp_path / "out.gif")
    (tmp_path / "there.mp4").write_bytes(b"x")
    with pytest.raises(GramstyleError, match="exists"):
        vwrite.check_video_output(tmp_path / "there.mp4")
    assert vwrite.check_video_output(tmp_path / "there.mp4", overwrite=True) == "mp4"
    with pytest.raises(GramstyleError, match="does not exist"):
        vwrite.check_video_output(tmp_path / "no" / "x.mkv")


def test_truncated_file_with_index_gives_the_frames_before_the_cut(tmp_path):
    import numpy as np

    frames = render(texture(seed=6), Motion("pan", (48, 64), 24))
    full = tmp_path / "fs.mp4"
    with av.open(str(full), "w", options={"movflags": "faststart"}) as out:  # index first
        vs = out.add_stream("libx264", rate=24)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        for i, x in enumerate(frames):
            a = x[0].mul(255).round().byte().permute(1, 2, 0).numpy()
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(a), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, 24)
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
    data = full.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.8)])
    info = vprobe.probe(cut)
    notes: list[str] = []
    got = list(vread.read_frames(info, (48, 64), notes))
    assert 0 < len(got) < 24
    assert notes and "truncated" in notes[0]
