"""Slow and greedy clients against the running service (issue 15, F-1 and F-7). Run:
`scripts/attack-slow-clients` (add `--help` for the options).

Starts the service as production runs it (production profile, a generated ES384 issuer, a fresh
JWT per call; SQLite in a temporary directory), either as the production web process
(`--server web`: nginx in front of gunicorn, cds_service/web.py) or gunicorn alone
(`--server gunicorn`: what the Procfile ran before issue 15, and what `scripts/serve` runs on
loopback). Then, scenario by scenario, it sends normal patient-view calls (~50 resources) one
after another and reports their latency while:

- nothing else happens (`quiet`);
- 16 and 50 connections send their request headers one line a second and never finish
  (`slow-16`, `slow-50`; a connection the server closes is opened again);
- eight clients each send 15 MB bodies of 40,000 MedicationStatements back to back
  (`big-8`: more resources than GMG_CDS_MAX_RESOURCES allows);
- eight clients each send bodies of 15,000 MedicationStatements (`large-8`: under the resource
  cap, above GMG_CDS_LARGE_CALL_RESOURCES, each several seconds of work).

Every loop is bounded by the scenario's duration; the client's timeout is 30 s. Everything runs
on 127.0.0.1. The figures depend on the machine: say whether it was otherwise idle.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import requests

from bench.service import PATIENT_ID, ROOT, build_request, free_port, gunicorn_command, stop, synthea_pool

HOOK_PATH = "/cds-services/gmg-patient-view"
CLIENT_TIMEOUT = 30.0
PREDNISONE = {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "8640"}]}


# -- request bodies ----------------------------------------------------------------------------

def statements_body(count: int) -> bytes:
    """A patient-view request whose medicationStatements holds `count` distinct prednisone
    statements (~375 bytes each: 40,000 make about 15 MB)."""
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    keys = ("conditions", "observations", "medicationRequests", "medicationAdministrations", "procedures",
            "immunizations", "adverseEvents", "allergies")
    body = {"hookInstance": str(uuid.uuid4()), "hook": "patient-view",
            "context": {"userId": "Practitioner/bench", "patientId": PATIENT_ID},
            "prefetch": {"patient": {"resourceType": "Patient", "id": PATIENT_ID, "gender": "female",
                                     "birthDate": "1975-04-02"},
                         **{k: dict(bundle) for k in keys}, "medicationStatements": dict(bundle, entry=[])}}
    entries = body["prefetch"]["medicationStatements"]["entry"]
    for i in range(count):
        year, day = 2000 + i % 25, 1 + i % 28
        entries.append({"resource": {
            "resourceType": "MedicationStatement", "id": f"big-{i}", "status": "completed",
            "medicationCodeableConcept": PREDNISONE, "subject": {"reference": f"Patient/{PATIENT_ID}"},
            "effectivePeriod": {"start": f"{year}-{1 + i % 12:02d}-{day:02d}", "end": f"{year}-12-{day:02d}"},
            "dosage": [{"doseAndRate": [{"doseQuantity": {"value": 5 + i % 60, "unit": "mg"}}]}]}})
    return json.dumps(body, separators=(",", ":")).encode()


def normal_body() -> bytes:
    body, _ = build_request(50, synthea_pool())
    return json.dumps(body).encode()


# -- the service -------------------------------------------------------------------------------

@dataclass
class Running:
    proc: subprocess.Popen
    base: str
    auth: Callable[[str], dict[str, str]]
    log: Path


@contextmanager
def service(kind: str, tmp: Path, app_dir: Path = ROOT, extra_env: dict[str, str] | None = None) -> Iterator[Running]:
    """The service in production profile, as `kind` ("web" or "gunicorn"), stopped on exit."""
    from bench.auth import production_env

    port = free_port()
    env, auth = production_env(tmp, "http://127.0.0.1:9/fhir", f"http://127.0.0.1:{port}")
    env.update({
        "GMG_CDS_DATABASE_URL": f"sqlite:///{tmp}/attack.sqlite3",
        "GMG_CDS_LOG_LEVEL": "WARNING",
        "PORT": str(port),
    })
    env.update(extra_env or {})
    full_env = {**os.environ, **env}
    if app_dir != ROOT:  # another checkout (e.g. main before a change): its code first
        full_env["PYTHONPATH"] = str(app_dir)
    if kind == "web":
        cmd = [str(Path(sys.executable).with_name("gmg-cds-web")), "--bind", f"127.0.0.1:{port}"]
    else:
        cmd = gunicorn_command(port)  # relative to app_dir: that checkout's gunicorn settings
    log = tmp / f"{kind}.log"
    proc = subprocess.Popen(cmd, cwd=app_dir, env=full_env, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the service did not start; see {log}:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield Running(proc, base, auth, log)
    finally:
        stop(proc)


# -- attackers ---------------------------------------------------------------------------------

class SlowHeaders:
    """`count` connections that send a request line, then one header line a second, never the
    blank line that ends the headers. A connection the server closes is opened again, so `count`
    stay open for as long as the attack lasts. `closed` counts the server's closes."""

    def __init__(self, host: str, port: int, count: int):
        self.host, self.port, self.count = host, port, count
        self.socks: list[socket.socket | None] = [None] * count
        self.closed = 0
        self.opened = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _open(self) -> socket.socket | None:
        try:
            s = socket.create_connection((self.host, self.port), timeout=2)
            s.sendall(f"POST {HOOK_PATH} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n".encode())
            s.settimeout(0.01)
            self.opened += 1
            return s
        except OSError:
            return None

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            for i, s in enumerate(self.socks):
                if s is None:
                    self.socks[i] = self._open()
                    continue
                try:
                    try:
                        if s.recv(4096) == b"":  # the server closed it (or answered and closed)
                            raise ConnectionResetError
                    except (socket.timeout, BlockingIOError):
                        pass
                    s.sendall(f"X-Slow-{n}: {i}\r\n".encode())
                except OSError:
                    self.closed += 1
                    s.close()
                    self.socks[i] = self._open()
            self._stop.wait(1.0)

    def __enter__(self) -> "SlowHeaders":
        for i in range(self.count):
            self.socks[i] = self._open()
        self._thread.start()
        time.sleep(1.5)  # let the server take them in before measuring
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for s in self.socks:
            if s is not None:
                s.close()


class BigBodies:
    """`clients` threads, each posting `data` (with a fresh JWT) back to back until stopped;
    `statuses` counts the answers (0: no answer within the client timeout or a broken connection)."""

    def __init__(self, running: Running, data: bytes, clients: int = 8):
        self.running, self.data, self.clients = running, data, clients
        self.statuses: dict[int, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        url = self.running.base + HOOK_PATH
        session = requests.Session()
        while not self._stop.is_set():
            try:
                r = session.post(url, data=self.data, timeout=CLIENT_TIMEOUT,
                                 headers={"Content-Type": "application/json", **self.running.auth(url)})
                status = r.status_code
            except requests.RequestException:
                status = 0
                session = requests.Session()
            with self._lock:
                self.statuses[status] = self.statuses.get(status, 0) + 1
            if status in (429, 503):
                self._stop.wait(0.5)

    def __enter__(self) -> "BigBodies":
        for t in self._threads:
            t.start()
        time.sleep(1.0)  # the bodies are on their way before measuring
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=CLIENT_TIMEOUT + 5)


# -- measuring ---------------------------------------------------------------------------------

@dataclass
class Latencies:
    name: str
    ms: list[float] = field(default_factory=list)
    failures: int = 0  # no 200 within the client timeout
    note: str = ""

    def row(self) -> str:
        if not self.ms:
            return f"{self.name:>9} | {'-':>4} | {'(no call answered)':>38} | {self.failures:>4} | {self.note}"
        s = sorted(self.ms)
        p90 = s[min(len(s) - 1, int(round(0.9 * (len(s) - 1))))]
        return (f"{self.name:>9} | {len(s):>4} | {statistics.median(s):10.1f} {p90:10.1f} {s[-1]:10.1f} "
                f"       | {self.failures:>4} | {self.note}")


def normal_calls(running: Running, data: bytes, seconds: float, name: str) -> Latencies:
    """Normal calls one after another for `seconds` (the last may end by its own timeout)."""
    out = Latencies(name)
    url = running.base + HOOK_PATH
    session = requests.Session()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        t = time.perf_counter()
        try:
            r = session.post(url, data=data, timeout=CLIENT_TIMEOUT,
                             headers={"Content-Type": "application/json", **running.auth(url)})
            ok = r.status_code == 200
        except requests.RequestException:
            ok = False
            session = requests.Session()
        elapsed = (time.perf_counter() - t) * 1000
        if ok:
            out.ms.append(elapsed)
        else:
            out.failures += 1
        time.sleep(0.2)
    return out


SCENARIOS = ("quiet", "slow-16", "slow-50", "big-8", "large-8")


def run(kind: str, app_dir: Path, seconds: float, scenarios: tuple[str, ...]) -> list[Latencies]:
    normal = normal_body()
    big = statements_body(40_000) if "big-8" in scenarios else b""
    large = statements_body(15_000) if "large-8" in scenarios else b""
    results = []
    with tempfile.TemporaryDirectory(prefix="gmg-attack-") as tmp, service(kind, Path(tmp), app_dir) as running:
        port = int(running.base.rsplit(":", 1)[1])
        for _ in range(5):  # warm
            normal_calls(running, normal, 0.01, "warm")
        for name in scenarios:
            if name == "quiet":
                results.append(normal_calls(running, normal, seconds, name))
            elif name.startswith("slow-"):
                with SlowHeaders("127.0.0.1", port, int(name.split("-")[1])) as slow:
                    res = normal_calls(running, normal, seconds, name)
                res.note = f"slow connections opened {slow.opened}, closed by the server {slow.closed}"
                results.append(res)
            else:
                data = big if name == "big-8" else large
                with BigBodies(running, data) as greedy:
                    res = normal_calls(running, normal, seconds, name)
                res.note = (f"{len(data) / 1e6:.1f} MB bodies; their answers: "
                            + ", ".join(f"{k or 'none'}: {v}" for k, v in sorted(greedy.statuses.items())))
                results.append(res)
            time.sleep(2)  # let the server settle between scenarios
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", choices=("web", "gunicorn"), default="web",
                    help="web: the production web process (nginx in front of gunicorn); gunicorn: gunicorn alone")
    ap.add_argument("--app-dir", type=Path, default=ROOT,
                    help="the checkout whose service is attacked (e.g. an export of main before a change)")
    ap.add_argument("--seconds", type=float, default=20.0, help="normal calls per scenario, in seconds")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"comma-separated subset of {', '.join(SCENARIOS)}")
    args = ap.parse_args(argv)
    scenarios = tuple(s for s in args.scenarios.split(",") if s)
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        ap.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    if args.server == "web" and not shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin"):
        ap.error("nginx is not installed (Debian: apt-get install nginx)")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=args.app_dir, capture_output=True,
                            text=True).stdout.strip() or "(not a git checkout)"
    print(f"gmg-cds slow/greedy clients  server {args.server}  code {args.app_dir} ({commit})  "
          f"cores {os.cpu_count()}  load {os.getloadavg()[0]:.2f}")
    print(f"normal call: patient-view, ~50 resources, fresh JWT; {args.seconds:.0f} s per scenario; "
          f"client timeout {CLIENT_TIMEOUT:.0f} s")
    results = run(args.server, args.app_dir.resolve(), args.seconds, scenarios)
    print(f"{'scenario':>9} | {'n':>4} | {'median ms':>10} {'p90 ms':>10} {'max ms':>10}        | {'fail':>4} |")
    for r in results:
        print(r.row())
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
