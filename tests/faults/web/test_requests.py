"""Malformed requests get a JSON 4xx, never a 500: huge numbers, deep nesting, junk
bodies and Host headers that a lenient parser would let through. Anything unexpected
is a JSON 500 with a request id, logged once with its traceback."""

from __future__ import annotations

import json
import logging

import pytest
from web_helpers import FAST, png_bytes

from gramstyle.web.config import MAX_JSON_CHARS, MAX_JSON_DEPTH, MAX_NUMBER_CHARS
from gramstyle.web.hosts import parse_authority

DEEP = "[" * 5000 + "]" * 5000  # Python's parser: RecursionError
HUGE = "9" * 5000  # int(): ValueError past 4300 digits


def _settings(**fields: str) -> str:
    """Settings JSON with raw (unquoted) values spliced in."""
    return "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}"


MALFORMED = [
    # (settings, blend, status, what the error says)
    (_settings(seed=HUGE), None, 400, f"a number of 5000 characters; at most {MAX_NUMBER_CHARS}"),
    (_settings(size=HUGE), None, 400, "a number of 5000 characters"),
    (_settings(strength="0." + HUGE), None, 400, "a number of 5002 characters"),
    (_settings(seed="1e400"), None, 422, "seed must be an integer"),
    (_settings(strength="1e400"), None, 422, "finite number"),
    (_settings(style_layers=DEEP), None, 400, f"nests deeper than {MAX_JSON_DEPTH} levels"),
    ('{"a": ' * 50 + "1" + "}" * 50, None, 400, "nests deeper"),
    ("[" * 10**5 + "]" * 10**5, None, 400, "settings is over 16384 characters"),
    (json.dumps({"seed": 1, "x": "a" * MAX_JSON_CHARS}), None, 400, "is over 16384 characters"),
    ('{"seed": "[[[[[[[[[["}', None, 422, "seed must be an integer"),  # brackets in a string
    ("{" * 3 + "}" * 2, None, 400, "not valid JSON"),
    ("\x00", None, 400, "not valid JSON"),
    (json.dumps(FAST), DEEP, 400, "blend nests deeper"),
    (json.dumps(FAST), f"[{HUGE}]", 400, "blend has a number of 5000 characters"),
    (json.dumps(FAST), HUGE, 400, "blend has a number of 5000 characters"),
    (json.dumps(FAST), "[1e400]", 422, "must be finite"),
    (json.dumps(FAST), '{"a": 1}', 422, "blend must be numbers"),
    (json.dumps(FAST), "[[1]]", 422, "blend must be numbers"),
    (json.dumps(FAST), ",".join(["1"] * 9000), 400, "blend is over 16384 characters"),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """The app without its workers: every request here must be refused before any work."""
    from fastapi.testclient import TestClient

    from gramstyle.web.app import create_app
    from gramstyle.web.config import ServeConfig

    app = create_app(ServeConfig(jobs_dir=tmp_path_factory.mktemp("jobs"), workers=1))
    return TestClient(app, base_url="http://127.0.0.1:8000")


@pytest.mark.parametrize(("settings", "blend", "status", "message"), MALFORMED)
def test_malformed_settings_and_blend(client, settings, blend, status, message):
    files = [
        ("content", ("a.png", png_bytes(), "image/png")),
        ("style", ("b.png", png_bytes(seed=3), "image/png")),
    ]
    data = {"settings": settings, **({"blend": blend} if blend is not None else {})}
    r = client.post("/api/jobs", files=files, data=data)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert message in error and "\n" not in error and len(error) < 600


JUNK = [
    ("POST", "/api/jobs", {"content-type": "multipart/form-data; boundary=x"}, b"--x\r\n" * 9),
    ("POST", "/api/jobs", {"content-type": "multipart/form-data"}, b"no boundary"),
    ("POST", "/api/jobs", {"content-type": "application/json"}, b'{"content": 1}'),
    ("POST", "/api/jobs", {"content-type": "multipart/form-data; boundary=" + "b" * 5000}, b""),
    ("GET", "/api/jobs?limit=" + HUGE, {}, b""),
    ("GET", "/api/jobs?limit=-" + HUGE, {}, b""),
    ("GET", "/api/jobs/" + "A" * 5000, {}, b""),
    ("GET", "/api/jobs/AAAAAAAAAAAAAAAA/explain/..%2F..%2Fjob.json", {}, b""),
    ("GET", "/api/samples/%00", {}, b""),
    ("DELETE", "/api/jobs/%F0%9F%92%A9" * 10, {}, b""),
]


@pytest.mark.parametrize(("method", "url", "headers", "body"), JUNK)
def test_junk_requests_are_4xx(client, method, url, headers, body):
    r = client.request(method, url, headers=headers, content=body)
    assert 400 <= r.status_code < 500, (r.status_code, r.text)
    assert isinstance(r.json()["error"], str)


@pytest.mark.parametrize(
    ("host", "status", "message"),
    [
        ("localhost:80@evil.com", 400, "a port must be digits only"),
        ("[::1]evil.com", 400, "only a port may follow an IPv6 address's ']'"),
        ("[::1%25lo]:8000", 400, "zone id"),
        ("evil.com:8000", 403, "this server answers on the loopback only"),
        ("127.0.0.1:99999", 400, "over 65535"),
        ("127.0.0.1:8000:1", 400, "digits only"),
        ("user@localhost", 400, "letters, digits"),
        ("", 400, "letters, digits"),
        ("[::1]:8000", 200, None),
        ("LOCALHOST:8000", 200, None),
        ("127.0.0.1", 200, None),
    ],
)
def test_hosts(client, host, status, message):
    r = client.get("/api/limits", headers={"Host": host})
    assert r.status_code == status, r.text
    if message:
        assert message in r.json()["error"]


def test_origins(client):
    def delete(origin: str) -> int:
        headers = {"Origin": origin, "Host": "127.0.0.1:8000"}
        return client.delete("/api/jobs/AAAAAAAAAAAAAAAA", headers=headers).status_code

    assert delete("http://127.0.0.1:8000") == 404  # same origin: let through, no such job
    for evil in ("http://127.0.0.1:8000@evil.com", "null", "http://evil.com", "ftp://127.0.0.1"):
        assert delete(evil) == 403, evil


def test_the_authority_parser():
    assert parse_authority("[0:0:0::1]:80") == ("::1", 80)
    assert parse_authority("127.000.0.1") == ("127.000.0.1", None)  # a name, not 127.0.0.1
    assert parse_authority("Example.COM:") == ("example.com", None)
    for bad in ("[::1", "[zz]", "a b", "a%2eb", "[::1]]", "h:+1", "h:٣"):
        with pytest.raises(ValueError):
            parse_authority(bad)


def test_an_unexpected_error_is_a_json_500_logged_once(client, monkeypatch, caplog):
    def broken() -> list:
        raise RuntimeError("a bug")

    monkeypatch.setattr(client.app.state.manager, "listing", broken)
    with caplog.at_level(logging.ERROR, logger="gramstyle.web"):
        r = client.get("/api/jobs")
    assert r.status_code == 500
    rid = r.headers["x-request-id"]
    assert r.json() == {
        "error": f"internal error (request {rid}); the server's log has the details"
    }
    (record,) = [rec for rec in caplog.records if rec.name == "gramstyle.web"]
    assert record.getMessage() == f"request {rid}: GET /api/jobs failed"
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError
