"""The audit of hook calls, on SQLite and PostgreSQL: one row per call with the finding codes,
status and duration, the patient only as a keyed hash, retention, a database failure that does
not fail the hook, and the README's query that joins feedback to findings."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from dataclasses import replace
from pathlib import Path

from sqlalchemy import text

from cds_service.app import create_app
from cds_service.audit import AuditRecord, AuditTrail
from cds_service.settings import ConfigError, Settings
from cds_service.store import StoreUnavailable, open_store
from tests.conftest import local_settings
from tests.db_backends import db_url, demo_hook_request, dump_database  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
PV = "/cds-services/gmg-patient-view"
KEY = "k" * 40
PATIENT = demo_hook_request("met-3-1")["context"]["patientId"]


def app_on(db_url: str, tmp_path: Path, **overrides):
    return create_app(local_settings(tmp_path, database_url=db_url, **overrides), demo_fhir=False)


def test_a_hook_call_is_audited_with_its_codes_and_a_keyed_patient_hash(db_url, tmp_path):
    app = app_on(db_url, tmp_path, audit_key=KEY)
    client = app.test_client()
    body = demo_hook_request("met-3-1")
    resp = client.post(PV, json=body)
    assert resp.status_code == 200
    cards = resp.get_json()["cards"]
    codes = [f["code"] for c in cards for f in c["extension"]["gmg-cds"]["findings"]]
    assert "refractory.cn.met" in codes
    calls = app.config["GMG_AUDIT"].calls()
    assert len(calls) == 1
    call = calls[0]
    assert call["service_id"] == "gmg-patient-view" and call["hook"] == "patient-view"
    assert call["hook_instance"] == body["hookInstance"] and call["status"] == 200
    assert call["card_count"] == len(cards) and call["duration_ms"] > 0
    assert json.loads(call["finding_codes"]) == list(dict.fromkeys(codes))
    assert call["patient_key"] == hmac.new(KEY.encode(), PATIENT.encode(), hashlib.sha256).hexdigest()
    # the cards served point at the call; the patient id is nowhere in the database
    store = app.config["GMG_STORE"]
    with store.engine.connect() as conn:
        served = conn.execute(text("SELECT card_uuid, call_id FROM cards_served")).all()
    assert {u for u, _ in served} == {c["uuid"] for c in cards} and {i for _, i in served} == {call["id"]}
    dump = dump_database(store.engine)
    assert PATIENT not in dump and call["patient_key"] in dump


def test_failed_calls_are_audited_too_and_the_same_patient_hashes_alike(db_url, tmp_path):
    app = app_on(db_url, tmp_path, audit_key=KEY)
    client = app.test_client()
    no_data = {"hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "hook": "patient-view",
               "context": {"userId": "Practitioner/x", "patientId": PATIENT}}
    assert client.post(PV, json=no_data).status_code == 412  # required prefetch unavailable
    assert client.post(PV, json={"hook": "patient-view"}).status_code == 400
    assert client.post(PV, json=demo_hook_request("met-3-1")).status_code == 200
    assert client.post(PV, json=demo_hook_request("no-mg")).status_code == 200
    calls = app.config["GMG_AUDIT"].calls()
    assert [c["status"] for c in calls] == [412, 400, 200, 200]
    assert calls[1]["hook_instance"] is None and calls[1]["patient_key"] is None
    assert calls[0]["patient_key"] == calls[2]["patient_key"] is not None
    assert calls[3]["patient_key"] not in (None, calls[0]["patient_key"])
    assert calls[3]["card_count"] == 0 and json.loads(calls[3]["finding_codes"]) == []


def test_without_a_configured_key_one_generated_key_is_shared_through_the_database(db_url, tmp_path):
    a = AuditTrail(open_store(db_url), key=None, retention_days=30)
    b = AuditTrail(open_store(db_url), key=None, retention_days=30)
    assert a.key_source == b.key_source == "database"
    assert a.patient_key("p1") == b.patient_key("p1") != a.patient_key("p2")
    # a configured key is used instead, and gives other hashes
    c = AuditTrail(open_store(db_url), key=KEY, retention_days=30)
    assert c.patient_key("p1") != a.patient_key("p1")


def test_a_short_audit_key_is_refused():
    try:
        Settings.from_env({"GMG_CDS_ENV": "local", "GMG_CDS_AUDIT_KEY": "short"})
    except ConfigError as exc:
        assert "GMG_CDS_AUDIT_KEY" in str(exc)
    else:
        raise AssertionError("a short key was accepted")
    settings = Settings.from_env({"GMG_CDS_ENV": "local", "GMG_CDS_AUDIT_KEY": KEY,
                                  "GMG_CDS_AUDIT_RETENTION_DAYS": "30"})
    assert settings.audit_key == KEY and settings.audit_retention_days == 30
    assert KEY not in repr(settings)


def test_retention_deletes_old_calls_and_cards_and_keeps_feedback(db_url):
    store = open_store(db_url)
    now = [time.time()]
    trail = AuditTrail(store, key=KEY, retention_days=30, clock=lambda: now[0])
    card = {"uuid": "c1b2c3d4-0000-4000-8000-0000000000bb", "suggestions": [],
            "extension": {"gmg-cds": {"findings": [{"code": "antibody.revalidate-cba"}]}}}
    old = trail.record(AuditRecord("gmg-patient-view", "patient-view", 200, 5.0, "h-old", "p1", [card]))
    assert store.add_feedback("gmg-patient-view", [{"card": card["uuid"], "outcome": "accepted",
                                                    "acceptedSuggestions": [{"id": "s"}],
                                                    "outcomeTimestamp": "2026-11-22T10:00:00Z"}])
    # cards_served.served_at is the wall clock: age it by hand as 40 days of time would
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE cards_served SET served_at = '2000-01-01T00:00:00+00:00'"))
    assert trail.purge() == 0  # nothing is 30 days old yet
    now[0] += 40 * 86400
    # the next write purges in passing (at most hourly per process)
    recent = trail.record(AuditRecord("gmg-patient-view", "patient-view", 200, 5.0, "h-new", "p1", []))
    assert [c["id"] for c in trail.calls()] == [recent] and old != recent
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM cards_served")).scalar_one() == 0
    fb = store.feedback_rows()
    assert len(fb) == 1 and json.loads(fb[0]["finding_codes"]) == ["antibody.revalidate-cba"]
    assert AuditTrail(store, key=KEY, retention_days=0).purge() == 0  # 0 keeps everything


def test_a_database_failure_while_auditing_does_not_fail_the_hook(tmp_path):
    import shutil

    db = tmp_path / "sub" / "a.sqlite3"
    app = create_app(local_settings(tmp_path, database_url=f"sqlite:///{db}", audit_key=KEY), demo_fhir=False)
    app.config["GMG_STORE"].engine.dispose()
    shutil.rmtree(db.parent)
    from cds_service import metrics

    errors = metrics.instruments().database_errors.labels("audit")
    before = errors._value.get()
    resp = app.test_client().post(PV, json=demo_hook_request("met-3-1"))
    assert resp.status_code == 200 and resp.get_json()["cards"]
    assert errors._value.get() == before + 1
    # while backing off, the next call does not even try (and is still answered and counted)
    assert app.test_client().post(PV, json=demo_hook_request("met-3-1")).status_code == 200
    assert errors._value.get() == before + 2
    trail: AuditTrail = app.config["GMG_AUDIT"]
    try:
        trail.record(AuditRecord("gmg-patient-view", "patient-view", 200, 1.0))
    except StoreUnavailable as exc:
        assert str(exc) == "backing-off"
    else:
        raise AssertionError("recorded while the database is gone")


def readme_queries() -> dict[str, str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```sql\n(.*?)```", readme, re.S)
    return {b.splitlines()[0].strip("- ").lower(): b for b in blocks}


def test_the_readme_query_joins_feedback_to_findings(db_url, tmp_path):
    app = app_on(db_url, tmp_path, audit_key=KEY)
    client = app.test_client()
    served = []
    for slug in ("met-3-1", "met-3-3"):
        resp = client.post(PV, json=demo_hook_request(slug))
        served.append(resp.get_json()["cards"])
    met = [c for cards in served for c in cards
           if "refractory.cn.met" in {f["code"] for f in c["extension"]["gmg-cds"]["findings"]}]
    assert len(met) == 2
    fb = {"feedback": [
        {"card": met[0]["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-22T10:00:00Z"},
        {"card": met[1]["uuid"], "outcome": "accepted", "outcomeTimestamp": "2026-11-22T10:01:00Z",
         "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}]},
    ]}
    assert client.post(PV + "/feedback", json=fb).status_code == 200
    store = app.config["GMG_STORE"]
    query = readme_queries()[store.dialect]
    with store.engine.connect() as conn:
        rows = {r.finding_code: r for r in conn.execute(text(query))}
    assert rows["refractory.cn.met"].cards_served == 2
    assert rows["refractory.cn.met"].patients == 2
    assert (rows["refractory.cn.met"].accepted, rows["refractory.cn.met"].overridden) == (1, 1)
    total_codes = {f["code"] for cards in served for c in cards for f in c["extension"]["gmg-cds"]["findings"]}
    assert set(rows) == total_codes
    assert all(r.accepted + r.overridden <= r.cards_served for r in rows.values())


def test_audit_retention_is_read_from_the_environment():
    assert Settings.from_env({"GMG_CDS_ENV": "local"}).audit_retention_days == 365
    settings = replace(Settings.from_env({"GMG_CDS_ENV": "local", "GMG_CDS_AUDIT_RETENTION_DAYS": "0"}))
    assert settings.audit_retention_days == 0


def test_feedback_that_arrives_before_the_audit_gets_the_finding_codes(tmp_path):
    """The audit row is written after the answer; feedback posted in between must not be left
    without the card's finding codes."""
    from cds_service.audit import AuditRecord, AuditTrail
    from cds_service.store import Store

    store = Store(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    store.create_schema()
    card = {"uuid": "c1b2c3d4-0000-4000-8000-0000000000aa", "summary": "s", "indicator": "info",
            "source": {"label": "l"}, "extension": {"gmg-cds": {"findings": [{"code": "refractory.cn.met"}]}}}
    store.add_feedback("gmg-patient-view", [{"card": card["uuid"], "outcome": "overridden",
                                             "outcomeTimestamp": "2026-11-22T10:00:00Z"}])
    assert store.feedback_rows()[0]["finding_codes"] is None
    AuditTrail(store, key="k" * 32, retention_days=0).record(AuditRecord(
        service_id="gmg-patient-view", hook="patient-view", status=200, duration_ms=5.0,
        hook_instance="d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", patient_id="p1", cards=[card]))
    assert json.loads(store.feedback_rows()[0]["finding_codes"]) == ["refractory.cn.met"]
