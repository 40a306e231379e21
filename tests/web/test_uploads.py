"""Bad uploads are refused with one JSON error and leave nothing behind."""

from __future__ import annotations

import io
import json
import zlib

import pytest
from PIL import Image
from web_helpers import FAST, png_bytes


def bomb_png(side: int = 20000) -> bytes:
    """A valid PNG header claiming side x side pixels, with almost no data (a bomb)."""
    import struct

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def post(server, files, data=None):
    return server.client.post("/api/jobs", files=files, data=data or {"settings": json.dumps(FAST)})


def good(name="style", seed=3):
    return (name, (f"{name}.png", png_bytes(seed=seed), "image/png"))


@pytest.fixture
def limited(make_server):
    return make_server("--max-upload-mb", "0.05", "--max-pixels", "10000", "--workers", "1")


@pytest.mark.parametrize(
    ("content", "status", "message"),
    [
        (b"this is not an image at all", 422, "not an image file"),
        (png_bytes()[:200], 422, "truncated"),
        (b"", 422, "not an image file"),
        (bomb_png(), 413, "too many pixels"),
    ],
    ids=["not-an-image", "truncated", "empty", "decompression-bomb"],
)
def test_undecodable_photos(server, content, status, message):
    before = {p.name for p in server.jobs_dir.iterdir()}
    r = post(server, [("content", ("photo.jpg", content, "image/jpeg")), good()])
    assert r.status_code == status, r.text
    assert message in r.json()["error"] and "content image" in r.json()["error"]
    assert {p.name for p in server.jobs_dir.iterdir()} == before  # no job folder, no leftovers


def test_bad_style_is_named(server):
    bad = ("style", ("s2.png", b"GIF89a garbage", "image/gif"))
    r = post(server, [good("content"), good(), bad])
    assert r.status_code == 422 and "style image 2" in r.json()["error"]


@pytest.mark.parametrize(
    ("files", "data", "message"),
    [
        ([("photo", ("a.png", png_bytes(), "image/png")), good()], None, "unknown form field"),
        ([good("content")], None, "one or more style images"),
        ([good()], None, "the form field 'content'"),
        ([good("content"), good("content", 4), good()], None, "one file in the form field"),
        ([good("content"), good()], {"settings": json.dumps(FAST), "sizes": "1"}, "unknown form"),
        (None, {"content": "not a file", "style": "nor this"}, "as one file"),
    ],
    ids=["photo-field", "no-style", "no-content", "two-contents", "extra-field", "text-not-file"],
)
def test_wrong_fields(server, files, data, message):
    r = post(server, files, data)
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]


def test_not_multipart(server):
    r = server.client.post("/api/jobs", json={"content": "x"})
    assert r.status_code == 400 and "error" in r.json()


def test_too_many_styles(server):
    styles = [good(seed=k) for k in range(5)]
    r = post(server, [good("content"), *styles])
    assert r.status_code in (400, 413) and "error" in r.json()


def test_byte_and_pixel_limits(limited):
    small = png_bytes(64, 48)  # 3072 px, a few kB
    ok = limited.submit(FAST, small, [png_bytes(40, 40)])
    assert ok.status_code == 202, ok.text
    # Too many bytes: refused from Content-Length, and while streaming without one.
    big = small + b"\0" * 60_000
    r = post(limited, [("content", ("a.png", big, "image/png")), good()])
    assert r.status_code == 413 and "--max-upload-mb" in r.json()["error"]

    def chunks():
        yield b'--b\r\nContent-Disposition: form-data; name="content"; filename="a.png"\r\n\r\n'
        for _ in range(40):
            yield b"\0" * 4096

    r = limited.client.post(
        "/api/jobs", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert r.status_code == 413 and "--max-upload-mb" in r.json()["error"]
    # Too many pixels (checked from the header, before decoding).
    buf = io.BytesIO()
    Image.new("RGB", (200, 60), "white").save(buf, format="PNG")  # 12,000 px, tiny file
    r = post(limited, [("content", ("a.png", buf.getvalue(), "image/png")), good()])
    assert r.status_code == 413 and "too many pixels" in r.json()["error"]
    assert "10,000" in r.json()["error"]


def test_uploads_are_reencoded(server):
    """Only pixels survive: the stored input is a fresh PNG, upright, without metadata."""
    img = Image.new("RGB", (40, 20), (200, 30, 30))
    exif = img.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees to show upright
    exif[0x010E] = "secret description"
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif.tobytes(), quality=95)
    r = server.submit(FAST, buf.getvalue() + b"trailing bytes <script>", [png_bytes(40, 40)])
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    stored = server.jobs_dir / job_id / "content.png"
    assert stored.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(stored) as im:
        assert im.size == (20, 40)  # upright
        assert not im.getexif() and "exif" not in im.info
    assert b"secret" not in stored.read_bytes() and b"script" not in stored.read_bytes()
    assert sorted(p.name for p in (server.jobs_dir / job_id).iterdir() if p.suffix == ".png") == [
        "content.png",
        "style_1.png",
    ]
    server.client.delete(f"/api/jobs/{job_id}")
