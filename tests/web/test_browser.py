"""The page in headless Chromium (Debian's; nothing downloads a browser): upload two
images, see a live preview, download the result."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from web_helpers import FAST, WAIT, png_bytes, wait_for

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture
def browser_page(tmp_path, chromium):
    from playwright import sync_api

    with sync_api.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=chromium,
            headless=True,
            args=ARGS,
            accept_downloads=True,
            viewport={"width": 1280, "height": 900},
        )
        ctx.set_default_timeout(WAIT * 1000)
        try:
            yield ctx.new_page()
        finally:
            ctx.close()


def test_upload_preview_download(server, browser_page, tmp_path):
    page = browser_page
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(
        "console",
        lambda m: m.type == "error" and problems.append(f"console: {m.text} {m.location}"),
    )
    previews: list[tuple[int, str]] = []

    def on_response(response):
        if "/preview?v=" in response.url:
            previews.append((response.status, response.headers.get("content-type", "")))

    page.on("response", on_response)
    page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status} {r.url}"))
    photo, style = tmp_path / "photo.png", tmp_path / "painting.jpg"
    photo.write_bytes(png_bytes(64, 48, seed=21))
    style.write_bytes(png_bytes(48, 48, seed=22, fmt="JPEG"))

    page.goto(server.base + "/")
    page.set_input_files("#content-input", str(photo))
    page.set_input_files("#style-input", str(style))
    assert page.locator(".style-item").count() == 1
    # "Quality" asks for the preset, whose steps follow the size: the step fields empty;
    # the slider stays at the default strength (0.82: the preset's own style weight).
    page.locator('input[name="method"][value="quality"]').check(force=True)
    assert page.input_value("#strength") == "0.82"
    assert page.inner_text("#strength-out") == "0.82"
    page.locator('#sizes input[value="256"]').check(force=True)  # small and quick
    quality = page.evaluate("collectSettings()")
    assert quality["preset"] == "quality" and quality["method"] == "gatys"
    assert quality["size"] == 256 and "strength" not in quality and "steps" not in quality
    assert page.input_value("#steps") == "" and page.input_value("#strength") == "0.82"
    page.locator('input[name="method"][value="gatys"]').check(force=True)
    assert page.input_value("#steps") == "100" and "preset" not in page.evaluate(
        "collectSettings()"
    )
    assert page.input_value("#strength") == "0.82"
    # "Draft" is a preset too: its steps are the preset's, and leaving it gives back the
    # steps the form had.
    page.locator('input[name="method"][value="draft"]').check(force=True)
    draft = page.evaluate("collectSettings()")
    assert draft["preset"] == "draft" and "steps" not in draft
    assert page.input_value("#steps") == "" and "½" in page.inner_text("#methods")
    page.locator('input[name="method"][value="gatys"]').check(force=True)
    assert page.input_value("#steps") == "100"
    page.click(".advanced summary")
    page.fill("#steps", "30")
    page.fill("#coarse-steps", "10")
    page.click("#go")

    # A live preview appears while the picture is painted ...
    page.wait_for_selector("#preview:not([hidden])")
    page.wait_for_selector("#download:not([hidden])")  # ... and then the result.
    assert previews and all(s == 200 and t == "image/jpeg" for s, t in previews)
    job_id = page.evaluate("location.hash").removeprefix("#job=")
    state = server.job(job_id)
    assert state["status"] == "done" and state["total"] == 40
    assert state["settings"]["size"] == 256 and state["settings"]["steps"] == 30
    assert page.locator("#status-line").inner_text().startswith("Done")

    with page.expect_download() as download:
        page.click("#download")
    assert download.value.suggested_filename == f"gramstyle-{job_id}.png"
    data = Path(download.value.path()).read_bytes()
    assert data == server.client.get(f"/api/jobs/{job_id}/result").content
    assert Image.open(io.BytesIO(data)).size == (256, 192)
    # The job shows in the list of recent jobs, as done.
    page.wait_for_selector(f'.job[data-id="{job_id}"] .pill.done')
    # "Explain the style" makes the job's report, then links to it.
    page.click("#explain")
    page.wait_for_selector("#report:not([hidden])")
    href = page.get_attribute("#report", "href")
    assert href == f"/api/jobs/{job_id}/explain/index.html"
    assert not problems, problems
    page.goto(server.base + href)
    assert page.locator("img").count() >= 5
    assert page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")

    # A job asked for with a preset keeps the preset's name and shows under it in the list.
    r = server.submit({**FAST, "preset": "quality"})
    assert r.status_code == 202, r.text
    preset_id = r.json()["id"]
    assert server.job(preset_id)["preset"] == "quality" and server.job(job_id)["preset"] is None
    page.goto(server.base + "/")
    page.wait_for_selector(f'.job[data-id="{preset_id}"]')
    assert "48 px · Quality" in page.inner_text(f'.job[data-id="{preset_id}"]')
    listed = page.inner_text(f'.job[data-id="{job_id}"]')
    assert "photo.png × painting.jpg" in listed and "256 px · Gatys" in listed
    # Each input shows small, from the server's copies.
    shown = f"""[...document.querySelectorAll('.job[data-id="{job_id}"] .inputs img')]
        .every(i => i.complete && i.naturalWidth > 0)"""
    wait_for(lambda: page.evaluate(shown), what="the inputs' thumbnails")
    assert page.locator(f'.job[data-id="{job_id}"] .inputs img').count() == 2

    # Opening #job=ID puts that job's photo, style and settings back in the form ...
    page.goto(f"{server.base}/#job={job_id}")
    page.wait_for_selector(".style-item")
    assert page.inner_text("#content-name") == "photo.png"
    assert page.inner_text(".style-item .name") == "painting.jpg"
    again = page.evaluate("collectSettings()")
    assert (again["size"], again["steps"], again["coarse_steps"]) == (256, 30, 10)
    assert again["method"] == "gatys" and "preset" not in again and again["strength"] == 0.82
    # ... and running it again gives the same picture (same inputs, same settings).
    page.click("#go")
    rerun = wait_for(
        lambda: (
            page.evaluate("location.hash").removeprefix("#job=") not in ("", job_id)
            and page.evaluate("location.hash").removeprefix("#job=")
        ),
        what="the new job",
    )
    assert server.wait_status(rerun)["status"] == "done"
    assert server.client.get(f"/api/jobs/{rerun}/result").content == data
    # A quality job comes back as Quality, its steps left to the preset.
    page.goto(f"{server.base}/#job={preset_id}")
    page.wait_for_selector(".style-item")
    wait_for(lambda: page.evaluate("collectSettings().preset") == "quality", what="Quality")
    assert page.input_value("#steps") == ""
    assert not problems, problems


def test_photo_look_with_label_maps(server, browser_page, tmp_path):
    """The "Photo look" asks for --photoreal, turns colour preservation off, and sends the
    optional label maps beside the images; the job runs with them."""
    page = browser_page
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    photo, style = tmp_path / "photo.png", tmp_path / "look.png"
    photo.write_bytes(png_bytes(64, 48, seed=23))
    style.write_bytes(png_bytes(48, 48, seed=24))
    maps = []
    for name, (w, h) in (("photo_labels.png", (64, 48)), ("look_labels.png", (48, 48))):
        m = Image.new("RGB", (w, h), (0, 0, 255))
        m.paste((0, 255, 0), (0, h // 2, w, h))
        m.save(tmp_path / name)
        maps.append(tmp_path / name)
    page.goto(server.base + "/")
    page.set_input_files("#content-input", str(photo))
    page.set_input_files("#style-input", str(style))
    assert page.is_hidden("#labels-field")
    page.locator('input[name="preserve_color"][value="luminance"]').check(force=True)
    page.locator('input[name="look"][value="photo"]').check(force=True)
    assert page.is_visible("#labels-field")
    settings = page.evaluate("collectSettings()")
    assert settings["photoreal"] is True and settings["preserve_color"] == "none"
    page.set_input_files("#content-labels", str(maps[0]))
    page.set_input_files("#style-labels", str(maps[1]))
    page.locator('#sizes input[value="256"]').check(force=True)
    page.click(".advanced summary")
    page.fill("#steps", "3")
    page.fill("#coarse-steps", "2")
    page.click("#go")
    page.wait_for_selector("#download:not([hidden])")
    job_id = page.evaluate("location.hash").removeprefix("#job=")
    state = server.job(job_id)
    assert state["status"] == "done" and state["labels"] and state["settings"]["photoreal"]
    assert not problems, problems
