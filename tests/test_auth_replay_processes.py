"""The `jti` replay guard across processes: two real gunicorn servers (2 workers each) on
127.0.0.1 share one SQLite file, as workers of one deployment share its database. A token
accepted by one is refused by every other worker; the same token sent to both at the same moment
is accepted exactly once."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.security_helpers import ISSUER, PUBLIC_BASE, bearer, mint, signing_key, write_jwks

ROOT = Path(__file__).resolve().parents[1]
ES = signing_key("ES384")
DISCOVERY_AUD = f"{PUBLIC_BASE}/cds-services"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    return subprocess.Popen(
        [str(gunicorn), "--config", "cds_service/gunicorn_conf.py", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "cds_service.wsgi:app"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 25.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError("gunicorn exited")
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError("gunicorn did not become ready")


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("replay")
    jwks_file = write_jwks(tmp / "jwks.json", ES)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GMG_CDS_ENV": "production",
        "GMG_CDS_DATABASE_URL": f"sqlite:///{tmp / 'shared.sqlite3'}",
        "GMG_CDS_TRUSTED_ISSUERS": json.dumps([{"iss": ISSUER, "jwks_file": jwks_file}]),
        "GMG_CDS_PUBLIC_BASE_URL": PUBLIC_BASE,
        "GMG_CDS_WORKERS": "2",
        "GMG_CDS_THREADS": "4",
        "PYTHONPATH": str(ROOT),
    }
    ports = [free_port(), free_port()]
    procs = []
    try:
        for i, port in enumerate(ports):
            procs.append(start_gunicorn(port, env, tmp / f"gunicorn-{i}.log"))
        for port, proc in zip(ports, procs):
            wait_ready(port, proc)
        yield [f"http://127.0.0.1:{p}" for p in ports], tmp
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.mark.slow
def test_a_token_is_accepted_once_across_processes_and_workers(two_servers) -> None:
    (a, b), tmp = two_servers
    token = mint(ES, aud=DISCOVERY_AUD)
    assert requests.get(f"{a}/cds-services", headers=bearer(token), timeout=5).status_code == 200
    # every later attempt, on either server and whichever worker takes it, is a replay
    statuses = [requests.get(f"{url}/cds-services", headers=bearer(token), timeout=5).status_code
                for url in (b, a, b, a, b, a)]
    assert statuses == [401] * 6
    # fresh tokens keep working on both
    assert requests.get(f"{b}/cds-services", headers=bearer(mint(ES, aud=DISCOVERY_AUD)), timeout=5).status_code == 200


@pytest.mark.slow
def test_simultaneous_replays_are_accepted_exactly_once(two_servers) -> None:
    (a, b), tmp = two_servers
    for _ in range(8):
        token = mint(ES, aud=DISCOVERY_AUD)
        results: list[int] = []
        barrier = threading.Barrier(4)

        def send(url: str) -> None:
            barrier.wait()
            results.append(requests.get(f"{url}/cds-services", headers=bearer(token), timeout=10).status_code)

        threads = [threading.Thread(target=send, args=(u,)) for u in (a, b, a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=15)
        assert sorted(results) == [200, 401, 401, 401], results


@pytest.mark.slow
def test_server_logs_hold_reasons_but_no_tokens(two_servers) -> None:
    (a, b), tmp = two_servers
    token = mint(ES, aud=DISCOVERY_AUD)
    requests.get(f"{a}/cds-services", headers=bearer(token), timeout=5)
    requests.get(f"{b}/cds-services", headers=bearer(token), timeout=5)
    time.sleep(0.3)
    logs = "".join(p.read_text(errors="replace") for p in tmp.glob("gunicorn-*.log"))
    assert '"reason":"replayed-jti"' in logs
    assert token.split(".")[1] not in logs and token.split(".")[2] not in logs
