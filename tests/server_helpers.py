"""The service as a real server for tests: gunicorn with the project's settings on a free loopback
port, or the production web process (`gmg-cds-web`: nginx in front of gunicorn). Started in its
own process group, stopped (TERM, then KILL) when the `with` block ends."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
# Skipped without nginx, except where it is required (CI: GMG_CDS_REQUIRE_NGINX=1 in .ci/run)
needs_nginx = pytest.mark.skipif(
    NGINX is None and os.environ.get("GMG_CDS_REQUIRE_NGINX") != "1",
    reason="nginx is not installed (Debian: apt-get install nginx; .ci/run installs it)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def _up(base: str) -> bool:
    try:
        return requests.get(base + "/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


@contextmanager
def running(kind: str, tmp: Path, env: dict[str, str], port: int | None = None) -> Iterator[Server]:
    """`kind` "gunicorn" (gunicorn_conf.py, bound to loopback TCP) or "web" (gmg-cds-web)."""
    port = port or free_port()
    log = tmp / f"{kind}-{port}.log"
    full_env = {**os.environ, "GMG_CDS_LOG_LEVEL": "WARNING", "PORT": str(port), **env}
    if kind == "web":
        cmd = [sys.executable, "-m", "cds_service.web", "--bind", f"127.0.0.1:{port}"]
    else:
        cmd = [sys.executable, "-m", "gunicorn", "--config", "cds_service/gunicorn_conf.py",
               "--bind", f"127.0.0.1:{port}", "cds_service.wsgi:app"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    server = Server(proc, port, log)
    try:
        deadline = time.monotonic() + 60
        while not _up(server.base):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{kind} did not start:\n{server.log_text()[-4000:]}")
            time.sleep(0.2)
        yield server
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
