"""GET /metrics after real calls: requests by service, hook and status, the latency histogram,
FHIR fallback calls and failures, cards by finding code, feedback outcomes by finding code; and
under a real gunicorn with several workers, counts that add up whichever worker answered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import empty_chart_routes, hook_request, local_settings, wait_for
from tests.db_backends import demo_hook_request

ROOT = Path(__file__).resolve().parents[1]
PV = "/cds-services/gmg-patient-view"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(snap: dict, name: str, **labels: str) -> float:
    return snap.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(before: dict, after: dict, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def codes_of(cards: list[dict]) -> Counter:
    return Counter(code for c in cards for code in {f["code"] for f in c["extension"]["gmg-cds"]["findings"]})


def test_metrics_count_real_calls(tmp_path, fhir_stub):
    from cds_service.app import create_app

    app = create_app(local_settings(tmp_path), demo_fhir=False)
    client = app.test_client()
    before = samples(client.get("/metrics").get_data(as_text=True))
    assert client.get("/metrics").headers["Content-Type"].startswith("text/plain")

    cards: list[dict] = []
    for slug in ("met-3-1", "met-3-3", "no-mg"):
        resp = client.post(PV, json=demo_hook_request(slug))
        assert resp.status_code == 200
        cards += resp.get_json()["cards"]
    assert client.post(PV, json={"hook": "patient-view"}).status_code == 400
    # FHIR fallback: everything fetched from a FHIR server that has the patient and empty
    # searches, except observations, which fail with 500
    empty_chart_routes(fhir_stub, "p9")
    fhir_stub.routes["fhir/Observation"] = (500, {"resourceType": "OperationOutcome"}, {})
    body = hook_request("patient-view", {"patientId": "p9", "userId": "Practitioner/x"}, fhirServer=fhir_stub.base)
    fallback = client.post(PV, json=body)
    assert fallback.status_code == 412  # observations are required
    fhir_calls = len(fhir_stub.requests)
    # feedback on two cards: one accepted, one overridden; a repeat counts nothing
    met = [c for c in cards if "refractory.cn.met" in {f["code"] for f in c["extension"]["gmg-cds"]["findings"]}]
    fb = {"feedback": [
        {"card": met[0]["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-22T10:00:00Z"},
        {"card": met[1]["uuid"], "outcome": "accepted", "outcomeTimestamp": "2026-11-22T10:00:00Z",
         "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}]},
        {"card": "c1b2c3d4-0000-4000-8000-0000000000ff", "outcome": "overridden",
         "outcomeTimestamp": "2026-11-22T10:00:00Z"},
    ]}
    assert client.post(PV + "/feedback", json=fb).status_code == 200
    assert client.post(PV + "/feedback", json=fb).status_code == 200
    after = samples(client.get("/metrics").get_data(as_text=True))

    hook = {"service": "gmg-patient-view", "hook": "patient-view"}
    assert delta(before, after, "gmg_cds_hook_requests_total", status="200", **hook) == 3
    assert delta(before, after, "gmg_cds_hook_requests_total", status="400", **hook) == 1
    assert delta(before, after, "gmg_cds_hook_requests_total", status="412", **hook) == 1
    assert delta(before, after, "gmg_cds_hook_duration_seconds_count", **hook) == 5
    assert delta(before, after, "gmg_cds_hook_duration_seconds_bucket", le="+Inf", **hook) == 5
    assert delta(before, after, "gmg_cds_hook_duration_seconds_sum", **hook) > 0
    for code, n in codes_of(cards).items():
        assert delta(before, after, "gmg_cds_cards_total", service="gmg-patient-view", finding_code=code) == n, code
    svc = {"service": "gmg-patient-view"}
    assert fhir_calls >= 2
    failed = delta(before, after, "gmg_cds_fhir_fallback_failures_total", reason="http-500", **svc)
    assert failed == 1
    # every request but the failed one returned data and is counted as a fallback request
    assert delta(before, after, "gmg_cds_fhir_fallback_requests_total", **svc) == fhir_calls - 1
    met_codes_0 = {f["code"] for f in met[0]["extension"]["gmg-cds"]["findings"]}
    for code in met_codes_0:
        assert delta(before, after, "gmg_cds_feedback_total", outcome="overridden", finding_code=code, **svc) >= 1
    assert delta(before, after, "gmg_cds_feedback_total", outcome="overridden",
                 finding_code="refractory.cn.met", **svc) == 1
    assert delta(before, after, "gmg_cds_feedback_total", outcome="accepted",
                 finding_code="refractory.cn.met", **svc) == 1
    assert delta(before, after, "gmg_cds_feedback_total", outcome="overridden", finding_code="unknown", **svc) == 1
    assert delta(before, after, "gmg_cds_http_requests_total", endpoint="give_feedback", status="200") == 2
    # no patient data in the exposition
    text = client.get("/metrics").get_data(as_text=True)
    assert "p9" not in text.replace("gmg", "")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_metrics_add_up_across_gunicorn_workers(tmp_path):
    port = _free_port()
    log = tmp_path / "gunicorn.log"
    env = {**os.environ, "GMG_CDS_ENV": "local", "GMG_CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'm.sqlite3'}",
           "GMG_CDS_WORKERS": "3", "GMG_CDS_THREADS": "2", "PYTHONPATH": str(ROOT)}
    mp = tmp_path / "metrics"  # an operator-given directory: emptied of an earlier run's files
    mp.mkdir()
    (mp / "counter_1.db").write_bytes(b"stale")
    env["PROMETHEUS_MULTIPROC_DIR"] = str(mp)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "cds_service/gunicorn_conf.py",
         "--bind", f"127.0.0.1:{port}", "cds_service.wsgi:app"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            try:
                return requests.get(f"{base}/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        assert wait_for(up, timeout=30), log.read_text()
        body = demo_hook_request("met-3-1")
        expected = codes_of(requests.post(base + PV, json=body, timeout=10).json()["cards"])
        session_less = [requests.post(base + PV, json=demo_hook_request("met-3-1"), timeout=10).status_code
                        for _ in range(29)]  # new connections: spread over the workers
        assert session_less == [200] * 29
        scrapes = [samples(requests.get(f"{base}/metrics", timeout=5).text) for _ in range(6)]
        hook = {"service": "gmg-patient-view", "hook": "patient-view"}
        # every scrape (whichever worker answers it) sees all 30 calls
        for snap in scrapes:
            assert value(snap, "gmg_cds_hook_requests_total", status="200", **hook) == 30
            assert value(snap, "gmg_cds_hook_duration_seconds_count", **hook) == 30
            for code, n in expected.items():
                assert value(snap, "gmg_cds_cards_total", service="gmg-patient-view", finding_code=code) == 30 * n
        assert not (mp / "counter_1.db").exists()
        files = list(mp.glob("counter_*.db"))
        assert len(files) >= 2, files  # more than one worker served and wrote samples
        # a worker that dies keeps its counts in the sum
        victim = int(files[0].stem.split("_")[1])
        os.kill(victim, signal.SIGKILL)
        assert wait_for(up, timeout=20)
        snap = samples(requests.get(f"{base}/metrics", timeout=5).text)
        assert value(snap, "gmg_cds_hook_requests_total", status="200", **hook) == 30
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
