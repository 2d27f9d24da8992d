"""Feedback storage (durable, idempotent, keyed by card uuid and finding codes), CORS for browser
clients, health endpoints, and a real gunicorn restart that keeps the feedback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from cds_service.app import create_app
from cds_service.settings import Settings
from cds_service.store import Store
from tests.conftest import EXAMPLES, local_settings, wait_for

FB = "/cds-services/gmg-patient-view/feedback"
ROOT = Path(__file__).resolve().parents[1]


def _accepted(card="c1b2c3d4-0000-4000-8000-000000000001"):
    return {"feedback": [{"card": card, "outcome": "accepted",
                          "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
                          "outcomeTimestamp": "2026-11-22T10:00:00Z"}]}


def test_feedback_examples_are_stored_once(client):
    store: Store = client.application.config["GMG_STORE"]
    for name in ("spec-2.0.1_feedback-accepted.json", "spec-2.0.1_feedback-overridden.json",
                 "spec-2.0.1_feedback-overridden-with-reason.json",
                 "sandbox-observed_feedback-accepted.json", "sandbox-observed_feedback-overridden.json"):
        body = json.loads((EXAMPLES / name).read_text())
        assert client.post(FB, json=body).status_code == 200, name
    rows = store.feedback_rows()
    assert len(rows) == 5
    # the same submission again stores nothing new
    body = json.loads((EXAMPLES / "spec-2.0.1_feedback-accepted.json").read_text())
    assert client.post(FB, json=body).status_code == 200
    assert len(store.feedback_rows()) == 5
    overridden = [r for r in rows if r["outcome"] == "overridden" and r["override_reason_code"]]
    assert overridden and overridden[0]["override_reason_system"]


def test_feedback_carries_the_finding_codes_of_the_card_served(client):
    store: Store = client.application.config["GMG_STORE"]
    card = {"uuid": "c1b2c3d4-0000-4000-8000-000000000009", "summary": "s", "indicator": "info",
            "source": {"label": "l"}, "suggestions": [{"uuid": "e56e1945-20b3-4393-8503-a1a20fd73152", "label": "x"}],
            "extension": {"gmg-cds": {"findings": [{"code": "refractory.cn.met"}, {"code": "refractory.cn.c3-4"}]}}}
    store.record_cards("gmg-patient-view", "hi-1", [card])
    assert client.post(FB, json=_accepted(card["uuid"])).status_code == 200
    row = store.feedback_rows()[-1]
    assert json.loads(row["finding_codes"]) == ["refractory.cn.met", "refractory.cn.c3-4"]
    assert json.loads(row["accepted_suggestions"]) == ["e56e1945-20b3-4393-8503-a1a20fd73152"]


@pytest.mark.parametrize(
    "entry,field",
    [
        ({"card": "c", "outcome": "ignored", "outcomeTimestamp": "2026-11-22T10:00:00Z"}, "feedback[0].outcome"),
        ({"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-11-22T10:00:00Z"}, "feedback[0].acceptedSuggestions"),
        ({"card": "c", "outcome": "overridden", "outcomeTimestamp": "yesterday"}, "feedback[0].outcomeTimestamp"),
        ({"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-11-22T10:00:00Z",
          "overrideReason": {}}, "feedback[0].overrideReason"),
        ({"outcome": "overridden", "outcomeTimestamp": "2026-11-22T10:00:00Z"}, "feedback[0].card"),
    ],
)
def test_invalid_feedback_is_400_and_nothing_is_stored(client, entry, field):
    resp = client.post(FB, json={"feedback": [entry]})
    assert resp.status_code == 400
    assert resp.get_json()["issue"][0]["expression"] == [field]
    assert client.application.config["GMG_STORE"].feedback_rows() == []


def test_feedback_to_an_unknown_service_is_404(client):
    assert client.post("/cds-services/nope/feedback", json=_accepted()).status_code == 404


def test_feedback_when_the_database_is_gone_is_503_not_silently_dropped(tmp_path):
    db = tmp_path / "sub" / "x.sqlite3"
    app = create_app(local_settings(tmp_path, database_url=f"sqlite:///{db}"))
    store: Store = app.config["GMG_STORE"]
    store.engine.dispose()
    import shutil

    shutil.rmtree(db.parent)  # the file and its WAL/shm siblings; SQLite cannot recreate the folder
    resp = app.test_client().post(FB, json=_accepted())
    assert resp.status_code == 503
    assert resp.headers["Retry-After"]
    assert app.test_client().get("/readyz").status_code == 503


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json()["database"] == "ok"


@pytest.mark.parametrize("path,method", [("/cds-services", "GET"), ("/cds-services/gmg-patient-view", "POST"),
                                         ("/cds-services/gmg-patient-view/feedback", "POST")])
def test_cors_preflight_is_answered_without_authentication(tmp_path, path, method):
    """In production (JWT required) the sandbox's preflight still succeeds."""
    settings = Settings(env="production", database_url=f"sqlite:///{tmp_path / 'p.sqlite3'}",
                        cors_origins=("http://localhost:8080",), public_base_url="https://cds.example.org")
    client = create_app(settings).test_client()
    resp = client.options(path, headers={"Origin": "http://localhost:8080",
                                         "Access-Control-Request-Method": method,
                                         "Access-Control-Request-Headers": "authorization,content-type"})
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "http://localhost:8080"
    allowed = {h.strip().lower() for h in resp.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    # an origin not configured gets no CORS grant
    other = client.options(path, headers={"Origin": "https://evil.example",
                                          "Access-Control-Request-Method": method})
    assert "Access-Control-Allow-Origin" not in other.headers
    # and the real call without a token is refused
    assert client.open(path, method=method, json={}).status_code == 401


def test_local_mode_allows_any_origin(client):
    resp = client.get("/cds-services", headers={"Origin": "http://sandbox.local:3000"})
    assert resp.headers["Access-Control-Allow-Origin"] == "*"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_gunicorn(db: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "GMG_CDS_ENV": "local", "GMG_CDS_DATABASE_URL": f"sqlite:///{db}",
           "GMG_CDS_WORKERS": "2", "PORT": str(port)}
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "cds_service/gunicorn_conf.py",
         "--bind", f"127.0.0.1:{port}", "cds_service.wsgi:app"],
        cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )


def _up(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


@pytest.mark.slow
def test_feedback_survives_a_restart_of_the_service(tmp_path):
    db = tmp_path / "gmg-cds.sqlite3"
    port = _free_port()
    log = tmp_path / "gunicorn.log"
    proc = _start_gunicorn(db, port, log)
    try:
        assert wait_for(lambda: _up(port)), log.read_text()
        url = f"http://127.0.0.1:{port}{FB}"
        assert requests.post(url, json=_accepted(), timeout=5).status_code == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    proc = _start_gunicorn(db, port, log)
    try:
        assert wait_for(lambda: _up(port)), log.read_text()
        # the restarted service sees the stored entry: the same submission adds nothing
        url = f"http://127.0.0.1:{port}{FB}"
        assert requests.post(url, json=_accepted(), timeout=5).status_code == 200
        rows = Store(f"sqlite:///{db}").feedback_rows()
        assert len(rows) == 1 and rows[0]["card_uuid"] == "c1b2c3d4-0000-4000-8000-000000000001"
        assert requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    text = log.read_text()
    assert "LOCAL MODE" in text  # the open profile is announced
