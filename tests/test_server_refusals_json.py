"""Requests refused by the HTTP server itself, before the app sees them (issue 15, F-10), are
answered in the service's error model (an OperationOutcome in JSON), on the real servers:
gunicorn alone (scripts/serve) and the production web process (nginx in front of gunicorn).
Before the change gunicorn answered headers over ~8 KB with its HTML 431 page."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.server_helpers import needs_nginx, running

SERVERS = [pytest.param("gunicorn", id="gunicorn"), pytest.param("web", id="nginx+gunicorn", marks=needs_nginx)]


def raw_request(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes, read the answer until the server closes or has sent Content-Length bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
        return status, headers, body


def assert_outcome(status: int, headers: dict[str, str], body: bytes, expected: int, code: str) -> None:
    assert status == expected, body
    assert headers["content-type"].startswith("application/json"), headers
    doc = json.loads(body)
    assert doc["resourceType"] == "OperationOutcome"
    assert doc["issue"][0]["code"] == code
    assert "<html" not in body.decode("utf-8", "replace").lower()


@pytest.fixture(scope="module", params=SERVERS)
def server(request, tmp_path_factory):
    tmp: Path = tmp_path_factory.mktemp(request.param)
    with running(request.param, tmp, {"GMG_CDS_ENV": "local", "GMG_CDS_WORKERS": "1",
                                      "GMG_CDS_DATABASE_URL": f"sqlite:///{tmp / 'e.sqlite3'}"}) as srv:
        yield srv


@pytest.mark.slow
def test_headers_over_the_limit_are_a_json_431(server) -> None:
    big = b"X-Big: " + b"a" * 9000 + b"\r\n"
    status, headers, body = raw_request(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n")
    assert_outcome(status, headers, body, 431, "too-long")


@pytest.mark.slow
def test_too_many_header_fields_are_a_json_431(server) -> None:
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 300) for i in range(150))  # 150 fields, ~46 KB
    status, headers, body = raw_request(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert_outcome(status, headers, body, 431, "too-long")


@pytest.mark.slow
def test_a_request_line_over_the_limit_is_a_json_414(server) -> None:
    status, headers, body = raw_request(
        server.port, b"GET /healthz?" + b"q" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert_outcome(status, headers, body, 414, "too-long")


@pytest.mark.slow
def test_a_malformed_request_is_a_json_400(server) -> None:
    status, headers, body = raw_request(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n")
    assert_outcome(status, headers, body, 400, "invalid")


@pytest.mark.slow
def test_the_app_still_answers_ordinary_requests(server) -> None:
    status, headers, body = raw_request(server.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 200 and json.loads(body) == {"status": "ok"}
