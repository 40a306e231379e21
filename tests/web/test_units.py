"""The pieces without a server: settings from JSON, the job store, loading a narrow net."""

from __future__ import annotations

import json
import time

import pytest
import torch

from gramstyle.errors import GramstyleError
from gramstyle.settings import Settings
from gramstyle.web.config import ServeConfig, job_blend, job_preset, job_settings
from gramstyle.web.errors import BadRequest, UnknownJob
from gramstyle.web.store import CRASHED, Job, JobStore, new_id


@pytest.fixture
def config(tmp_path):
    return ServeConfig(jobs_dir=tmp_path, base=Settings(weights="/srv/vgg.pth"), max_size=1024)


def test_settings_from_json(config):
    s = job_settings('{"size": 256, "strength": 1, "style_layers": "relu1_1:0.5,relu2_1"}', config)
    assert (s.size, s.strength, s.weights) == (256, 1.0, "/srv/vgg.pth")  # base kept
    assert s.style_layers == {"relu1_1": 0.5, "relu2_1": 1.0}
    assert job_settings('{"content_layers": {"relu4_2": 2}, "lr": null}', config).lr is None
    assert job_settings('{"size": 512.0}', config).size == 512
    assert job_settings("", config) == config.base and job_settings(None, config) == config.base
    q = job_settings('{"preset": "quality", "size": 384, "strength": 0.8}', config)
    assert (q.size, q.strength, q.steps, q.init) == (384, 0.8, 130, "adain")
    assert (
        q.weights == "/srv/vgg.pth" and job_settings('{"preset": "quality"}', config).steps == 110
    )
    assert job_preset('{"preset": "quality", "size": 384}') == "quality"
    assert job_preset('{"size": 384}') is None and job_preset(None) is None


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("nope", BadRequest, "not valid JSON"),
        ('"size"', BadRequest, "JSON object"),
        ('{"size": true}', GramstyleError, "must be an integer"),
        ('{"size": 1.5}', GramstyleError, "must be an integer"),
        ('{"strength": "high"}', GramstyleError, "finite number"),
        ('{"init": 3}', GramstyleError, "must be a string"),
        ('{"style_layers": []}', GramstyleError, "layer: weight"),
        ('{"device": "cuda"}', GramstyleError, "chosen by the server"),
        ('{"weights_sha256": "ab"}', GramstyleError, "chosen by the server"),
        ('{"style_scale": 5}', GramstyleError, "style_scale is at most 4"),
        ('{"style_size": 4096}', GramstyleError, "style_size is at most 2048"),
        ('{"steps": 1001}', GramstyleError, "at most 1000"),
        ('{"preset": "best"}', GramstyleError, "unknown preset 'best'"),
        ('{"preset": 1}', GramstyleError, "preset must be a string"),
        ('{"preset": "quality", "steps": 2000}', GramstyleError, "at most 1000"),
    ],
)
def test_bad_settings_json(config, text, error, message):
    with pytest.raises(error, match=message.replace("(", r"\(")):
        job_settings(text, config)


def test_blend():
    assert job_blend("[3, 1]", 2) == [0.75, 0.25]
    assert job_blend("1,1,2", 3) == [0.25, 0.25, 0.5]
    assert job_blend(None, 2) is None and job_blend(" ", 2) is None
    for bad in ("[1, 'a']", "x,y", '{"a": 1}', "[0, 0]"):
        with pytest.raises(GramstyleError):
            job_blend(bad, 2)


def test_store_ids_are_checked(tmp_path):
    store = JobStore(tmp_path)
    assert store.folder("A" * 16) == tmp_path / ("A" * 16)
    for bad in ("../../etc/pass", "A" * 15, "A" * 17, "AAAAAAAAAAAAAAA/", "AAAAAAAA.AAAAAAA", ""):
        with pytest.raises(UnknownJob):
            store.folder(bad)
    ids = {new_id() for _ in range(200)}
    assert len(ids) == 200 and all(len(i) == 16 for i in ids)


def test_store_recovery(tmp_path):
    store = JobStore(tmp_path)

    def make(status: str, created: float, explain: str | None = None) -> Job:
        job = Job(
            id=new_id(), settings={}, styles=1, status=status, created=created, explain=explain
        )
        store.commit(job, store.staging())
        return job

    now = time.time()
    done = make("done", now - 3, explain="running")
    running = make("running", now - 2)
    queued = make("queued", now - 1)
    half = store.staging()  # a submission the crash interrupted
    (tmp_path / "notes").mkdir()  # not ours: left alone
    (tmp_path / ("B" * 16)).mkdir()  # a job folder without job.json: skipped
    jobs = store.recover()
    assert [j.id for j in jobs] == [done.id, running.id, queued.id]  # oldest first
    by_id = {j.id: j for j in jobs}
    assert by_id[running.id].status == "failed" and by_id[running.id].error == CRASHED
    assert by_id[queued.id].status == "queued"
    assert by_id[done.id].status == "done" and by_id[done.id].explain == "failed"
    assert not half.exists() and (tmp_path / "notes").is_dir()
    on_disk = json.loads((tmp_path / running.id / "job.json").read_text())
    assert on_disk["status"] == "failed"  # written back, atomically
    assert not [p for p in (tmp_path / running.id).iterdir() if p.name.endswith(".tmp")]


def test_narrow_network_loads_from_its_own_layout(tmp_path, tiny_net):
    from gramstyle.nn.weights import load_vgg19

    path = tmp_path / "tiny.pth"
    torch.save(tiny_net.state_dict(), path)
    net = load_vgg19(str(path))
    x = torch.rand(1, 3, 32, 32)
    for name, a in tiny_net(x, ["relu3_1", "relu4_2"]).items():
        # Same weights; other tests may have made tiny_net channels-last (other kernels).
        torch.testing.assert_close(net(x, [name])[name], a, rtol=1e-5, atol=1e-6)


def test_config_limits(tmp_path):
    with pytest.raises(GramstyleError, match="--max-queue"):
        ServeConfig(jobs_dir=tmp_path, max_queue=0)
    assert ServeConfig(jobs_dir=tmp_path).workers >= 1
