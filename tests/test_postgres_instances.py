"""Several instances on one PostgreSQL, as a hospital runs them behind a load balancer: two real
gunicorn servers (2 workers each, production profile, JWT on) on two ports share one database,
and a third (local profile) joins them for the outage test.

- a jti accepted by one instance is refused by the other;
- the same feedback posted to both (also at the same moment) is stored once, with the finding
  codes of the card the other instance served;
- the database is stopped under them: /readyz answers 503, hooks are still answered (local
  profile, and production with JWT: the replay check is held in worker memory meanwhile),
  feedback is refused with 503 Retry-After (not dropped), and everything recovers by itself when
  the database is back.

Needs the server of scripts/with-postgres (CI runs the suite under it); skipped only when
GMG_CDS_TEST_POSTGRES_URL is absent.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests
from sqlalchemy import create_engine, text

from cds_service.store import normalize_url
from tests.conftest import wait_for
from tests.db_backends import PG_CTL_ENV, demo_hook_request, fresh_postgres_database, needs_postgres
from tests.security_helpers import ISSUER, PUBLIC_BASE, bearer, mint, signing_key, write_jwks

ROOT = Path(__file__).resolve().parents[1]
ES = signing_key("ES384")
PV = "/cds-services/gmg-patient-view"
AUDIT_KEY = "a" * 64

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _up(base: str) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


class Instance:
    def __init__(self, name: str, env: dict[str, str], tmp: Path):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"{name}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "cds_service/gunicorn_conf.py",
             "--bind", f"127.0.0.1:{self.port}", "--workers", "2", "cds_service.wsgi:app"],
            cwd=ROOT, env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self) -> None:
        assert wait_for(lambda: _up(self.base), timeout=40), self.log.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[dict]:
    needs_postgres()
    tmp = tmp_path_factory.mktemp("pg-instances")
    with fresh_postgres_database() as url:
        common = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(ROOT),
            "GMG_CDS_DATABASE_URL": url,
            "GMG_CDS_AUDIT_KEY": AUDIT_KEY,
            "GMG_CDS_THREADS": "4",
            "GMG_CDS_DB_CONNECT_TIMEOUT_SECONDS": "2",
        }
        production = {**common, "GMG_CDS_ENV": "production", "GMG_CDS_PUBLIC_BASE_URL": PUBLIC_BASE,
                      "GMG_CDS_TRUSTED_ISSUERS": json.dumps([{"iss": ISSUER,
                                                              "jwks_file": write_jwks(tmp / "jwks.json", ES)}])}
        local = {**common, "GMG_CDS_ENV": "local"}
        # all three start at once: their migrations queue on the advisory lock
        instances = {"a": Instance("a", production, tmp), "b": Instance("b", production, tmp),
                     "local": Instance("local", local, tmp)}
        try:
            for inst in instances.values():
                inst.wait()
            yield {"url": url, "tmp": tmp, **instances}
        finally:
            for inst in instances.values():
                inst.stop()


def rows(url: str, sql: str) -> list:
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)))
    finally:
        engine.dispose()


def call_hook(base: str, body: dict, token: str | None = None) -> requests.Response:
    headers = bearer(token) if token else {}
    return requests.post(base + PV, json=body, headers=headers, timeout=15)


def post_feedback(base: str, body: dict, token: str | None = None) -> requests.Response:
    headers = bearer(token) if token else {}
    return requests.post(base + PV + "/feedback", json=body, headers=headers, timeout=15)


def test_the_instances_migrated_one_database_once(cluster):
    assert rows(cluster["url"], "SELECT version_num FROM alembic_version") == [("0002",)]


def test_a_jti_seen_by_one_instance_is_refused_by_the_other(cluster):
    a, b = cluster["a"].base, cluster["b"].base
    token = mint(ES, aud=PUBLIC_BASE + PV)
    body = demo_hook_request("met-3-1")
    assert call_hook(a, body, token).status_code == 200
    assert [call_hook(url, body, token).status_code for url in (b, a, b)] == [401, 401, 401]
    assert call_hook(b, body, mint(ES, aud=PUBLIC_BASE + PV)).status_code == 200
    # the same token raced to both instances at once is accepted exactly once
    for _ in range(5):
        raced = mint(ES, aud=PUBLIC_BASE + "/cds-services")
        results: list[int] = []
        barrier = threading.Barrier(4)

        def send(url: str) -> None:
            barrier.wait()
            results.append(requests.get(f"{url}/cds-services", headers=bearer(raced), timeout=15).status_code)

        threads = [threading.Thread(target=send, args=(u,)) for u in (a, b, a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(results) == [200, 401, 401, 401]


def test_feedback_posted_to_either_instance_is_stored_once(cluster):
    a, b, url = cluster["a"].base, cluster["b"].base, cluster["url"]
    resp = call_hook(a, demo_hook_request("met-3-3"), mint(ES, aud=PUBLIC_BASE + PV))
    assert resp.status_code == 200
    card = next(c for c in resp.json()["cards"]
                if "refractory.cn.met" in {f["code"] for f in c["extension"]["gmg-cds"]["findings"]})
    entry = {"feedback": [{"card": card["uuid"], "outcome": "overridden",
                           "outcomeTimestamp": "2026-11-22T10:00:00Z",
                           "overrideReason": {"reason": {"system": "http://example.org/r", "code": "other"}}}]}
    aud = PUBLIC_BASE + PV + "/feedback"
    # posted to B (which never served the card), then to A, then to both at the same moment
    assert post_feedback(b, entry, mint(ES, aud=aud)).status_code == 200
    assert post_feedback(a, entry, mint(ES, aud=aud)).status_code == 200
    statuses: list[int] = []
    barrier = threading.Barrier(4)

    def send(base: str) -> None:
        token = mint(ES, aud=aud)
        barrier.wait()
        statuses.append(post_feedback(base, entry, token).status_code)

    threads = [threading.Thread(target=send, args=(u,)) for u in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert statuses == [200] * 4
    stored = rows(url, f"SELECT finding_codes, outcome FROM feedback WHERE card_uuid = '{card['uuid']}'")
    assert len(stored) == 1
    assert stored[0][1] == "overridden"
    assert json.loads(stored[0][0]) == [f["code"] for f in card["extension"]["gmg-cds"]["findings"]]
    # the hook call that served it is audited once, with the patient as a keyed hash only
    calls = rows(url, "SELECT h.patient_key, h.status FROM hook_calls h JOIN cards_served c "
                      f"ON c.call_id = h.id WHERE c.card_uuid = '{card['uuid']}'")
    assert len(calls) == 1 and calls[0][1] == 200 and len(calls[0][0]) == 64


def test_an_instance_that_loses_the_database(cluster):
    ctl = os.environ.get(PG_CTL_ENV)
    if not ctl:
        pytest.fail(f"{PG_CTL_ENV} is not set: run under scripts/with-postgres, which can stop its server")
    local, a, url = cluster["local"].base, cluster["a"].base, cluster["url"]
    entry = {"feedback": [{"card": "c1b2c3d4-0000-4000-8000-00000000dead", "outcome": "overridden",
                           "outcomeTimestamp": "2026-11-22T11:00:00Z"}]}
    assert requests.get(f"{local}/readyz", timeout=5).status_code == 200
    subprocess.run([ctl, "stop"], check=True, capture_output=True, timeout=60)
    try:
        ready = requests.get(f"{local}/readyz", timeout=10)
        assert ready.status_code == 503 and ready.json()["database"] == "unreachable"
        # hooks are still answered, with their cards
        for _ in range(3):
            resp = call_hook(local, demo_hook_request("met-3-1"))
            assert resp.status_code == 200 and resp.json()["cards"]
        # feedback is refused, clearly and retryably, never silently dropped
        refused = post_feedback(local, entry)
        assert refused.status_code == 503 and refused.headers["Retry-After"]
        assert refused.json()["resourceType"] == "OperationOutcome"
        assert refused.json()["issue"][0]["code"] == "transient"
        # with JWT on, the production instance keeps answering: the replay check is held in the
        # worker's memory until the database is back (GMG_CDS_REPLAY_ON_DB_OUTAGE=memory)
        guarded = call_hook(a, demo_hook_request("met-3-1"), mint(ES, aud=PUBLIC_BASE + PV))
        assert guarded.status_code == 200 and guarded.json()["cards"]
        assert _metric(requests.get(f"{a}/metrics", timeout=5).text,
                       'gmg_cds_database_errors_total{operation="replay"}') >= 1
        metrics = requests.get(f"{local}/metrics", timeout=5).text
        assert _metric(metrics, 'gmg_cds_database_errors_total{operation="feedback"}') >= 1
        assert _metric(metrics, 'gmg_cds_database_errors_total{operation="audit"}') >= 1
    finally:
        subprocess.run([ctl, "start"], check=True, capture_output=True, timeout=60)
    # back by itself: ready again, feedback stored (once), hooks audited again
    assert wait_for(lambda: requests.get(f"{local}/readyz", timeout=5).status_code == 200, timeout=20)
    assert post_feedback(local, entry).status_code == 200
    assert post_feedback(local, entry).status_code == 200
    assert len(rows(url, "SELECT id FROM feedback WHERE card_uuid = 'c1b2c3d4-0000-4000-8000-00000000dead'")) == 1
    before = rows(url, "SELECT count(*) FROM hook_calls")[0][0]

    def audited_again() -> bool:
        call_hook(local, demo_hook_request("no-mg"))
        return rows(url, "SELECT count(*) FROM hook_calls")[0][0] > before

    assert wait_for(audited_again, timeout=20, interval=1.0)  # after the audit's back-off
    assert call_hook(a, demo_hook_request("met-3-1"), mint(ES, aud=PUBLIC_BASE + PV)).status_code == 200
    logs = cluster["local"].log.read_text()
    assert "could not write the audit of a hook call" in logs


def _metric(exposition: str, sample: str) -> float:
    for line in exposition.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
