"""The integrator's walkthrough, end to end: `./scripts/serve --demo` as the README says, then
each hook for each demo patient over HTTP the way the CDS Hooks sandbox calls it — CORS
preflight without a token, then POST with a signed JWT whose `aud` is the exact URL, once with
the prefetch resolved by the client from the demo FHIR endpoint (as the sandbox does) and once
with the prefetch omitted so that the service fetches it.

Test double: the hosted sandbox signs with a private key that is not available here, so the test
signs with its own ES384 key, trusted through GMG_CDS_TRUSTED_ISSUERS beside the sandbox's
published key (which demo mode trusts as well). Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from cds_service.demo_fhir import ANCHOR, DEMO_DIR, DemoStore
from hooks.registry import PREFETCH_TEMPLATES
from tests.security_helpers import mint, signing_key, write_jwks

ROOT = Path(__file__).resolve().parents[1]
ORIGIN = "http://localhost:3000"
ISS = "https://sandbox.test.local"
SERVICES = {"patient-view": "gmg-patient-view", "order-select": "gmg-order-select", "order-sign": "gmg-order-sign"}

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("walk")
    key = signing_key("ES384")
    port = _free_port()
    base = f"http://localhost:{port}"
    issuers = [{"iss": ISS, "jwks_file": write_jwks(tmp / "jwks.json", key),
                "fhir_servers": [f"{base}/demo/fhir"], "algorithms": ["ES384"]}]
    env = {**os.environ, "PORT": str(port), "GMG_CDS_DATABASE_URL": f"sqlite:///{tmp / 'w.sqlite3'}",
           "GMG_CDS_TRUSTED_ISSUERS": json.dumps(issuers), "GMG_CDS_CORS_ORIGINS": ORIGIN}
    log = tmp / "serve.log"
    proc = subprocess.Popen([str(ROOT / "scripts" / "serve"), "--demo"], cwd=ROOT, env=env,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.3)
        else:
            pytest.fail("scripts/serve --demo did not start:\n" + log.read_text()[-3000:])
        yield base, key, log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def _preflight(base: str, path: str, method: str) -> None:
    resp = requests.options(base + path, timeout=5, headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN


def _call(base: str, key, service: str, body: dict) -> requests.Response:
    url = f"{base}/cds-services/{service}"
    _preflight(base, f"/cds-services/{service}", "POST")
    return requests.post(url, json=body, timeout=30, headers={
        "Origin": ORIGIN, "Authorization": f"Bearer {mint(key, aud=url, iss=ISS)}"})


def _client_prefetch(fhir: str, pid: str) -> dict:
    out = {}
    for k, template in PREFETCH_TEMPLATES.items():  # the sandbox POSTs <Type>/_search, form-encoded
        path, _, query = template.replace("{{context.patientId}}", pid).partition("?")
        if query:
            r = requests.post(f"{fhir}/{path}/_search", data=dict(p.split("=", 1) for p in query.split("&")), timeout=10)
        else:
            r = requests.get(f"{fhir}/{path}", timeout=10)
        if r.status_code == 200:  # the sandbox drops keys it could not resolve
            out[k] = r.json()
    return out


def _codes(resp: requests.Response) -> list[str]:
    return sorted(f["code"] for c in resp.json()["cards"] for f in c["extension"]["gmg-cds"]["findings"])


def _context(hook: str, pid: str) -> dict:
    ctx = {"userId": "Practitioner/COREPRACTITIONER1", "patientId": pid}
    if hook == "patient-view":
        return ctx
    draft = {"resourceType": "MedicationRequest", "id": "request-123", "status": "draft", "intent": "order",
             "subject": {"reference": f"Patient/{pid}"}, "authoredOn": "2026-11-22",
             "category": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                                      "code": "community"}]},  # the sandbox's object-valued category
             "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                       "code": "5666", "display": "immune globulin"}]}}
    ctx["draftOrders"] = {"resourceType": "Bundle", "entry": [{"resource": draft}]}  # no Bundle.type
    if hook == "order-select":
        ctx["selections"] = ["MedicationRequest/request-123"]
    return ctx


PATIENTS = [(p["slug"], p["id"]) for p in DemoStore(DEMO_DIR, ANCHOR).patients]


def test_discovery_with_a_token_and_open_preflight(walkthrough):
    base, key, _ = walkthrough
    _preflight(base, "/cds-services", "GET")
    url = f"{base}/cds-services"
    assert requests.get(url, timeout=5).status_code == 401
    resp = requests.get(url, timeout=5, headers={"Authorization": f"Bearer {mint(key, aud=url, iss=ISS)}"})
    assert resp.status_code == 200 and len(resp.json()["services"]) == 3


@pytest.mark.parametrize("hook", sorted(SERVICES))
@pytest.mark.parametrize("slug,pid", PATIENTS, ids=[s for s, _ in PATIENTS])
def test_each_hook_for_each_demo_patient(walkthrough, hook, slug, pid):
    base, key, _ = walkthrough
    fhir = f"{base}/demo/fhir"
    context = _context(hook, pid)
    with_prefetch = _call(base, key, SERVICES[hook], {
        "hookInstance": str(uuid.uuid4()), "hook": hook, "fhirServer": fhir, "context": context,
        "prefetch": _client_prefetch(fhir, pid)})
    assert with_prefetch.status_code == 200, with_prefetch.text
    fetched = _call(base, key, SERVICES[hook], {
        "hookInstance": str(uuid.uuid4()), "hook": hook, "fhirServer": fhir, "context": context})
    assert fetched.status_code == 200, fetched.text
    assert _codes(with_prefetch) == _codes(fetched)
    codes = _codes(fetched)
    if slug == "no-mg":
        assert codes == []
    elif hook == "patient-view":
        assert any(c.startswith(("refractory.", "acute.")) for c in codes), codes
    elif slug != "ocular-only":
        # the IVIG draft is always checked for an MG patient (IgA, dose for this weight, renal, MuSK)
        assert any(c.startswith("safety.ivig.") for c in codes), codes


def test_a_replayed_token_is_refused_and_nothing_leaks_to_the_log(walkthrough):
    base, key, log = walkthrough
    url = f"{base}/cds-services/gmg-patient-view"
    token = mint(key, aud=url, iss=ISS)
    body = {"hookInstance": str(uuid.uuid4()), "hook": "patient-view", "fhirServer": f"{base}/demo/fhir",
            "context": {"userId": "Practitioner/x", "patientId": "gmg-demo-met-3-1"}}
    assert requests.post(url, json=body, timeout=30, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert requests.post(url, json=body, timeout=30, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    text = log.read_text()
    assert token not in text and "Rescue" not in text  # a demo family name
    assert "DEMO" in text
