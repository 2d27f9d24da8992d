"""The benchmark's own FHIR server (bench/fhir_stub.py) and plain parallel client
(bench/parallel_client.py) do what the fallback measurement relies on: searches answered after
the delay and in parallel, the right body per route, connections kept alive. Loopback only."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from bench.fhir_stub import FhirStub
from bench.service import free_port

ROOT = Path(__file__).resolve().parents[1]


def _routes(path: str) -> tuple[bytes, float]:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return (b'{"resourceType":"Bundle","id":"%s"}' % name.encode(), 0.0 if name == "now" else 0.2)


def test_searches_are_answered_after_the_delay_and_in_parallel():
    port = free_port()
    with FhirStub(port, _routes):
        base = f"http://127.0.0.1:{port}/fhir"

        def get(name: str) -> tuple[str, float]:
            t = time.perf_counter()
            r = requests.get(f"{base}/{name}?patient=p", timeout=5)
            return r.json()["id"], time.perf_counter() - t

        with ThreadPoolExecutor(8) as pool:
            t = time.perf_counter()
            results = list(pool.map(get, [f"T{i}" for i in range(8)]))
            together = time.perf_counter() - t
        assert [r[0] for r in results] == [f"T{i}" for i in range(8)]
        assert all(r[1] >= 0.2 for r in results)
        assert together < 0.2 * 3  # parallel, not 8 x 0.2 s
        assert get("now")[1] < 0.2


def test_connections_are_kept_alive():
    port = free_port()
    with FhirStub(port, _routes):
        sess = requests.Session()
        first = sess.get(f"http://127.0.0.1:{port}/fhir/now", timeout=5)
        second = sess.get(f"http://127.0.0.1:{port}/fhir/now", timeout=5)
        assert first.json() == second.json() == {"resourceType": "Bundle", "id": "now"}
        assert len(sess.get_adapter("http://").poolmanager.pools) == 1
        pool = next(iter(sess.get_adapter("http://").poolmanager.pools._container.values()))
        assert pool.num_connections == 1  # one TCP connection served both


def test_parallel_client_prints_the_time_of_the_slowest_round():
    port = free_port()
    with FhirStub(port, _routes):
        out = subprocess.run([sys.executable, "-m", "bench.parallel_client", f"http://127.0.0.1:{port}/fhir",
                              "A,B,C", "p"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert 200 <= float(out.stdout) < 600
