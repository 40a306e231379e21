"""A method added by one module and its registration, through the HTTP API and the page's
list of methods: the server and its workers find it as any plug-in is found."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from web_helpers import png_bytes

from gramstyle import registry

ROOT = Path(__file__).resolve().parents[2]


def test_a_plugin_method_runs_as_a_web_job(make_server, monkeypatch):
    monkeypatch.setenv(registry.PLUGINS_ENV, "tests.plugin:INFO")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    server = make_server("--workers", "1")
    methods = {m["name"]: m for m in server.client.get("/api/limits").json()["methods"]}
    assert methods["identity"] == {
        "name": "identity", "label": "Identity", "help": "the photo as it is (a test method)",
        "pace": "seconds", "iterative": False, "control": "strength",
    }  # fmt: skip
    photo = png_bytes(64, 48, seed=3)
    r = server.submit({"method": "identity", "size": 64, "precision": "fp32"}, photo)
    assert r.status_code == 202, r.text
    job = server.wait_status(r.json()["id"])
    assert job["status"] == "done", job
    assert (job["done"], job["total"], job["loss"]) == (1, 1, None)
    result = server.client.get(f"/api/jobs/{job['id']}/result")
    got = np.asarray(Image.open(io.BytesIO(result.content)).convert("RGB"))
    assert np.array_equal(got, np.asarray(Image.open(io.BytesIO(photo)).convert("RGB")))
