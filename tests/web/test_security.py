"""Loopback by default, a token for anything else, and no cross-site use of a local server."""

from __future__ import annotations

import httpx
import pytest
from web_helpers import FAST

from gramstyle.cli import main
from gramstyle.web.hosts import is_loopback

TOKEN = "test-token-0123456789abcdef"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--host", "0.0.0.0"], "exposes the server beyond this machine: give --token"),
        (["--host", "192.168.1.10"], "give --token"),
        (["--host", "myhost.example"], "give --token"),
        (["--host", "0.0.0.0", "--token", "short"], "at least 16 characters"),
        (["--workers", "0"], "--workers must be at least 1"),
        (["--port", "70000"], "--port must be in 0..65535"),
    ],
)
def test_refused_before_listening(argv, message, capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("GRAMSTYLE_TOKEN", raising=False)
    assert main(["serve", "--jobs-dir", str(tmp_path / "j"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gramstyle: error:") and message in err and "\n" not in err


def test_port_in_use_is_one_line(capsys, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["serve", "--port", str(port), "--jobs-dir", str(tmp_path / "j")]) == 2
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err


def test_loopback_names():
    assert all(map(is_loopback, ["127.0.0.1", "127.8.9.1", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "10.0.0.1", "example.com", "localhost.x"]))


def test_token_on_every_api_call(make_server):
    srv = make_server("--workers", "1", token=TOKEN)
    bare = httpx.Client(base_url=srv.base, timeout=60)
    paths = [
        "/api/health",
        "/api/jobs",
        "/api/samples",
        "/api/jobs/AAAAAAAAAAAAAAAA",
        "/api/jobs/AAAAAAAAAAAAAAAA/events",
        "/api/jobs/AAAAAAAAAAAAAAAA/result",
    ]
    for path in paths:
        r = bare.get(path)
        assert r.status_code == 401 and "token" in r.json()["error"], path
        assert r.headers["www-authenticate"] == "Bearer"
        r = bare.get(path, headers={"Authorization": "Bearer wrong-token-0123456789"})
        assert r.status_code == 403 and r.json() == {"error": "wrong token"}, path
    assert bare.post("/api/jobs", files={"content": b"x"}).status_code == 401
    assert bare.delete("/api/jobs/AAAAAAAAAAAAAAAA").status_code == 401
    # The page itself and the API docs load without it (they hold no data).
    assert bare.get("/").status_code == 200 and bare.get("/docs").status_code == 200
    # With the token: everything works.
    job_id = srv.submit(FAST).json()["id"]
    assert srv.wait_status(job_id)["status"] == "done"
    # The page's cookie (from POST /api/session) serves GETs (images, the report) ...
    r = bare.post("/api/session", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 204 and "samesite=strict" in r.headers["set-cookie"].lower()
    assert "httponly" in r.headers["set-cookie"].lower()
    assert bare.get(f"/api/jobs/{job_id}/result").status_code == 200
    # ... but never changes anything: a cross-site form could carry a cookie, not a header.
    assert bare.delete(f"/api/jobs/{job_id}").status_code == 401
    assert bare.post(f"/api/jobs/{job_id}/explain").status_code == 401
    bare.close()


def test_dns_rebinding_and_cross_origin_refused(server):
    r = server.client.get("/api/health", headers={"Host": f"evil.example:{server.port}"})
    assert r.status_code == 403 and "Host" in r.json()["error"]
    assert server.client.get("/api/health", headers={"Host": f"localhost:{server.port}"}).is_success
    r = server.client.delete(
        "/api/jobs/AAAAAAAAAAAAAAAA", headers={"Origin": "https://evil.example"}
    )
    assert r.status_code == 403 and "cross-origin" in r.json()["error"]
    r = server.client.delete("/api/jobs/AAAAAAAAAAAAAAAA", headers={"Origin": server.base})
    assert r.status_code == 404  # same origin: let through
