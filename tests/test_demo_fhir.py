"""The demo FHIR endpoint: read, search (GET and the sandbox's POST _search), paging, date
shifting, CORS; and every demo patient through patient-view with the service fetching its own
data from the endpoint over HTTP, compared with the same call where the client resolved the
prefetch (as the CDS Hooks sandbox does)."""

from __future__ import annotations

import threading
import uuid
from datetime import date

import pytest
import requests
from werkzeug.serving import make_server

from cds_service.app import create_app
from cds_service.demo_fhir import ANCHOR, DEMO_DIR, DemoStore, shift_dates
from hooks.registry import PREFETCH_TEMPLATES
from tests.conftest import local_settings

BASE = "/demo/fhir"


def test_metadata_says_demo_and_r4(client):
    doc = client.get(f"{BASE}/metadata").get_json()
    assert doc["resourceType"] == "CapabilityStatement" and doc["fhirVersion"] == "4.0.1"
    assert "DEMO DATA ONLY" in doc["description"]


def test_read_search_and_paging(client):
    store = DemoStore(DEMO_DIR, ANCHOR)
    pid = store.patients[0]["id"]
    assert client.get(f"{BASE}/Patient/{pid}").get_json()["id"] == pid
    assert client.get(f"{BASE}/Patient/nope").status_code == 404
    everything = client.get(f"{BASE}/Observation?patient={pid}").get_json()
    total = everything["total"]
    assert total == len(everything["entry"]) >= 2
    seen, url, pages = [], f"{BASE}/Observation?patient={pid}&_count=1", 0
    while url and pages < 50:
        page = client.get(url).get_json()
        seen += [e["resource"]["id"] for e in page["entry"]]
        nxt = [l["url"] for l in page["link"] if l["relation"] == "next"]
        url = nxt[0].replace("http://localhost", "") if nxt else None
        pages += 1
    assert len(seen) == total == len(set(seen)) and pages == total
    posted = client.post(f"{BASE}/Observation/_search", data={"patient": pid}).get_json()
    assert posted["total"] == total
    other = client.get(f"{BASE}/Observation?patient=not-a-demo-patient").get_json()
    assert other["total"] == 0 and "entry" not in other or other["entry"] == []


def test_search_by_code_and_category(client):
    weight = client.get(f"{BASE}/Observation?code=http://loinc.org|29463-7").get_json()
    assert weight["total"] >= 1
    assert all(any(c["code"] == "29463-7" for c in e["resource"]["code"]["coding"]) for e in weight["entry"])
    vitals = client.get(f"{BASE}/Observation?category=vital-signs").get_json()
    assert vitals["total"] >= weight["total"]


def test_dates_are_shifted_to_the_evaluation_date():
    assert shift_dates({"a": "2026-11-22", "b": ["2026-01-05T10:00:00Z"], "c": "2025-03", "id": "x-2026"}, 10) == {
        "a": "2026-12-02", "b": ["2026-01-15T10:00:00Z"], "c": "2025-03", "id": "x-2026"}
    later = DemoStore(DEMO_DIR, date(2027, 3, 1))
    same = DemoStore(DEMO_DIR, ANCHOR)
    pid = same.patients[0]["id"]
    assert later.read("Patient", pid)["birthDate"] != same.read("Patient", pid)["birthDate"]


def test_cors_is_open_on_the_demo_endpoint(client):
    resp = client.options(f"{BASE}/Patient", headers={"Origin": "http://localhost:8080",
                                                       "Access-Control-Request-Method": "GET"})
    assert resp.headers["Access-Control-Allow-Origin"] in ("*", "http://localhost:8080")


def test_the_demo_endpoint_is_off_in_production(tmp_path):
    from cds_service.settings import Settings

    app = create_app(Settings(env="production", database_url=f"sqlite:///{tmp_path / 'x.sqlite3'}",
                              public_base_url="https://cds.example.org"))
    assert app.test_client().get(f"{BASE}/metadata").status_code in (401, 404)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The local-mode app on a real loopback HTTP server (it calls its own demo endpoint)."""
    app = create_app(local_settings(tmp_path_factory.mktemp("served")))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def _client_prefetch(fhir: str, pid: str) -> dict:
    """Resolve the discovery templates as the sandbox does (GET each one)."""
    out = {}
    for key, template in PREFETCH_TEMPLATES.items():
        r = requests.get(f"{fhir}/{template.replace('{{context.patientId}}', pid)}", timeout=10)
        assert r.status_code == 200
        out[key] = r.json()
    return out


def _codes(cards):
    return sorted(f["code"] for c in cards for f in c["extension"]["gmg-cds"]["findings"])


@pytest.mark.slow
@pytest.mark.parametrize("slug", sorted(p.stem for p in DEMO_DIR.glob("*.json")))
def test_each_demo_patient_with_and_without_client_prefetch(served, slug):
    store = DemoStore(DEMO_DIR, ANCHOR)
    pid = next(p["id"] for p in store.patients if p["slug"] == slug)
    fhir = f"{served}/demo/fhir"
    context = {"userId": "Practitioner/COREPRACTITIONER1", "patientId": pid}
    fetched = requests.post(f"{served}/cds-services/gmg-patient-view", timeout=20, json={
        "hookInstance": str(uuid.uuid4()), "hook": "patient-view", "fhirServer": fhir, "context": context})
    assert fetched.status_code == 200, fetched.text
    given = requests.post(f"{served}/cds-services/gmg-patient-view", timeout=20, json={
        "hookInstance": str(uuid.uuid4()), "hook": "patient-view", "fhirServer": fhir, "context": context,
        "prefetch": _client_prefetch(fhir, pid)})
    assert given.status_code == 200
    a, b = fetched.json()["cards"], given.json()["cards"]
    assert _codes(a) == _codes(b)
    if slug == "no-mg":
        assert a == []
    else:
        assert a, f"{slug}: no card"
