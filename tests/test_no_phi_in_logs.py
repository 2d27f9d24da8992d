"""No patient data and no token in any log line, at DEBUG level, while the demo patients go through
every hook the way an EHR sends them: with prefetch, and without (fetched from a FHIR server on
127.0.0.1 with a fhirAuthorization token), plus feedback on every card, a malformed request that
carries a name where an id belongs, and a refused JWT.

Patient data = the demo patients' names, identifiers (a hospital MRN is added to each), logical
ids and birth dates. Tokens = the caller's JWT and the EHR access token. Every line the service's
logger writes, every record reaching the root logger, and everything printed to stdout/stderr is
searched."""

from __future__ import annotations

import json
import logging
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from cds_service.app import create_app
from cds_service.settings import TrustedIssuer
from tests.security_helpers import (
    ISSUER,
    PUBLIC_BASE,
    TODAY,
    LogCapture,
    LoopbackServer,
    bearer,
    mint,
    production_settings,
    send_json,
    signing_key,
    write_jwks,
)

ROOT = Path(__file__).resolve().parents[1]
DEMO = sorted((ROOT / "demo" / "bundles").glob("*.json"))
ES = signing_key("ES384")
EHR_TOKEN = "ehr-access-token-Qw7Zp2Lk9"
KEY_OF = {
    "Condition": "conditions", "Observation": "observations", "MedicationStatement": "medicationStatements",
    "MedicationRequest": "medicationRequests", "MedicationAdministration": "medicationAdministrations",
    "Procedure": "procedures", "Immunization": "immunizations", "AdverseEvent": "adverseEvents",
    "AllergyIntolerance": "allergies",
}
SEARCH_KEY = {"Condition": "conditions", "Observation": "observations",
              "MedicationStatement": "medicationStatements", "MedicationRequest": "medicationRequests",
              "MedicationAdministration": "medicationAdministrations", "Procedure": "procedures",
              "Immunization": "immunizations", "AdverseEvent": "adverseEvents",
              "AllergyIntolerance": "allergies"}
SERVICES = {"patient-view": "gmg-patient-view", "order-select": "gmg-order-select", "order-sign": "gmg-order-sign"}

pytestmark = pytest.mark.skipif(not DEMO, reason="no demo patients yet (demo/bundles/*.json is empty)")


class RootCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001
            text = str(record.msg)
        fields = getattr(record, "fields", None)
        self.lines.append(f"{record.name} {text} {json.dumps(fields, default=str) if fields else ''}")


def load_patients() -> list[dict[str, Any]]:
    out = []
    for path in DEMO:
        bundle = json.loads(path.read_text())
        resources = [e["resource"] for e in bundle.get("entry", []) if isinstance(e.get("resource"), dict)]
        patient = next(r for r in resources if r.get("resourceType") == "Patient")
        patient.setdefault("identifier", []).append(
            {"system": "http://hospital.example.org/mrn", "value": f"MRN-{uuid.uuid4().hex[:10]}"})
        out.append({"patient": patient, "resources": resources})
    return out


def secrets_of(patient: dict[str, Any]) -> list[str]:
    values = [patient["id"], patient.get("birthDate")]
    for name in patient.get("name", []):
        values += [name.get("family"), name.get("text"), *name.get("given", [])]
    values += [i.get("value") for i in patient.get("identifier", [])]
    return [v for v in values if isinstance(v, str) and len(v) >= 3]


def prefetch_of(patient: dict[str, Any], resources: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {k: {"resourceType": "Bundle", "type": "searchset", "entry": []} for k in KEY_OF.values()}
    out["patient"] = patient
    for r in resources:
        if r.get("resourceType") in KEY_OF:
            out[KEY_OF[r["resourceType"]]]["entry"].append({"resource": r})
    return out


def context(hook: str, pid: str) -> dict[str, Any]:
    ctx: dict[str, Any] = {"userId": "Practitioner/neuro-1", "patientId": pid}
    if hook != "patient-view":
        ctx["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {
            "resourceType": "MedicationRequest", "id": "draft-1", "status": "draft", "intent": "order",
            "subject": {"reference": f"Patient/{pid}"},
            "medicationCodeableConcept": {"coding": [
                {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1791229"}]}}}]}
        if hook == "order-select":
            ctx["selections"] = ["MedicationRequest/draft-1"]
    return ctx


@pytest.fixture
def ehr():
    server = LoopbackServer().start()
    server.charts = {}  # type: ignore[attr-defined]

    def route(s, h):  # noqa: ANN001, ANN202
        path, _, query = h.path.partition("?")
        parts = path.strip("/").split("/")  # fhir/Type[/id]
        pid = re.search(r"(?:patient|subject)=(?:Patient/)?([A-Za-z0-9.\-]+)", query)
        if len(parts) == 3 and parts[1] == "Patient":
            chart = s.charts.get(parts[2])
            return send_json(h, 200 if chart else 404, chart["patient"] if chart else {"resourceType": "OperationOutcome", "issue": []})
        chart = s.charts.get(pid.group(1)) if pid else None
        entries = [{"resource": r} for r in (chart["resources"] if chart else []) if r.get("resourceType") == parts[-1]]
        send_json(h, 200, {"resourceType": "Bundle", "type": "searchset", "entry": entries})

    server.default = route
    yield server
    server.stop()


def test_demo_patients_leave_no_patient_data_or_tokens_in_logs(tmp_path, ehr, capsys) -> None:
    patients = load_patients()
    for p in patients:
        ehr.charts[p["patient"]["id"]] = p  # type: ignore[attr-defined]
    issuer = TrustedIssuer(iss=ISSUER, jwks_file=write_jwks(tmp_path / "k.json", ES),
                           fhir_servers=(ehr.base + "/fhir",))
    settings = production_settings(tmp_path, issuers=(issuer,), log_level="DEBUG",
                                   prefetch_budget_seconds=3.0, fhir_timeout_seconds=2.0)
    root = RootCapture()
    root_logger = logging.getLogger()
    old_level = root_logger.level
    root_logger.addHandler(root)
    root_logger.setLevel(logging.DEBUG)
    tokens: list[str] = [EHR_TOKEN]
    statuses: list[int] = []
    cards_seen = 0
    try:
        with LogCapture() as logs:
            client = create_app(settings).test_client()

            def post(url: str, body: dict[str, Any]):  # noqa: ANN202
                token = mint(ES, aud=PUBLIC_BASE + url)
                tokens.append(token)
                resp = client.post(url, json=body, headers=bearer(token))
                statuses.append(resp.status_code)
                return resp

            for p in patients:
                pid = p["patient"]["id"]
                for hook, service in SERVICES.items():
                    url = f"/cds-services/{service}"
                    with_prefetch = {"hookInstance": str(uuid.uuid4()), "hook": hook, "context": context(hook, pid),
                                     "prefetch": prefetch_of(p["patient"], p["resources"])}
                    fetched = {"hookInstance": str(uuid.uuid4()), "hook": hook, "context": context(hook, pid),
                               "fhirServer": ehr.base + "/fhir",
                               "fhirAuthorization": {"access_token": EHR_TOKEN, "token_type": "Bearer",
                                                     "expires_in": 300, "scope": "patient/*.read",
                                                     "subject": "gmg-cds", "patient": pid}}
                    for body in (with_prefetch, fetched):
                        resp = post(url, body)
                        assert resp.status_code == 200, (pid, hook, resp.get_data(as_text=True)[:300])
                        cards = resp.get_json()["cards"]
                        cards_seen += len(cards)
                        if cards:
                            name = p["patient"].get("name", [{}])[0]
                            post(url + "/feedback", {"feedback": [{
                                "card": cards[0].get("uuid", "c"), "outcome": "overridden",
                                "outcomeTimestamp": "2026-11-22T10:00:00Z",
                                "overrideReason": {"userComment": f"{name.get('family')} declined; MRN "
                                                   f"{p['patient']['identifier'][-1]['value']}"}}]})
                # a name where an id belongs, and a refused token that names the patient
                bad = {"hookInstance": str(uuid.uuid4()), "hook": "patient-view",
                       "context": {"userId": "Practitioner/x", "patientId": " ".join(secrets_of(p["patient"])[:3])}}
                assert post("/cds-services/gmg-patient-view", bad).status_code == 400
                forged = mint(signing_key("ES384", "forged"), aud=PUBLIC_BASE + "/cds-services/gmg-patient-view",
                              sub=secrets_of(p["patient"])[-1])
                tokens.append(forged)
                assert client.post("/cds-services/gmg-patient-view", json=bad, headers=bearer(forged)).status_code == 401
            service_lines = list(logs.lines)
    finally:
        root_logger.removeHandler(root)
        root_logger.setLevel(old_level)
    printed = capsys.readouterr()
    everything = "\n".join([*service_lines, *root.lines, printed.out, printed.err])

    assert len(ehr.hits) > 0 and cards_seen > 0 and 200 in statuses  # the paths were really exercised
    assert len(service_lines) >= len(statuses)  # every request was logged
    leaks = []
    for p in patients:
        for secret in secrets_of(p["patient"]):
            if re.search(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", everything):
                leaks.append(secret)
    for token in tokens:
        for part in token.split("."):
            if len(part) >= 16 and part in everything:
                leaks.append(f"token part {part[:8]}...")
    assert not leaks, f"patient data or tokens in logs: {sorted(set(leaks))[:10]}"


def test_the_mg_summary_launch_leaves_no_patient_data_or_tokens_in_logs(tmp_path, capsys) -> None:
    """The SMART launch of the MG summary for every demo patient, against a loopback EHR
    (tests/smart_ehr.py), at DEBUG level: no name, id, birth date, access token, authorization
    code, `state` or code verifier in any log line (the page itself shows the patient)."""
    from urllib.parse import parse_qs, urlsplit

    import requests

    from tests.smart_ehr import LoopbackEhr

    patients = load_patients()
    ehr = LoopbackEhr(client_id="summary-client", redirect_uri=PUBLIC_BASE + "/smart/callback", today=TODAY,
                      patient_for_launch={f"launch-{i}": p["patient"]["id"] for i, p in enumerate(patients)}).start()
    issuer = TrustedIssuer(iss=ISSUER, jwks_file=write_jwks(tmp_path / "k.json", ES), fhir_servers=(ehr.fhir_base,))
    settings = production_settings(tmp_path, issuers=(issuer,), log_level="DEBUG", smart_client_id="summary-client",
                                   prefetch_budget_seconds=5.0, fhir_timeout_seconds=3.0)
    root = RootCapture()
    root_logger = logging.getLogger()
    old_level = root_logger.level
    root_logger.addHandler(root)
    root_logger.setLevel(logging.DEBUG)
    secrets: list[str] = []
    try:
        with LogCapture() as logs:
            client = create_app(settings).test_client()
            for i, p in enumerate(patients):
                started = client.get("/smart/launch", query_string={"iss": ehr.fhir_base, "launch": f"launch-{i}"},
                                     base_url=PUBLIC_BASE)
                location = started.headers["Location"]
                back = requests.get(location, allow_redirects=False, timeout=5).headers["Location"]
                query = parse_qs(urlsplit(back).query)
                secrets += [query["code"][0], query["state"][0]]
                page = client.get("/smart/callback", query_string=urlsplit(back).query, base_url=PUBLIC_BASE)
                assert page.status_code == 200, (p["patient"]["id"], page.get_data(as_text=True)[:300])
            service_lines = list(logs.lines)
    finally:
        root_logger.removeHandler(root)
        root_logger.setLevel(old_level)
        ehr.stop()
    printed = capsys.readouterr()
    everything = "\n".join([*service_lines, *root.lines, printed.out, printed.err])
    secrets += ehr.issued_tokens + [r["code_verifier"] for r in ehr.token_requests]
    assert len(ehr.issued_tokens) == len(patients) and ehr.fhir_requests
    assert any('"event":"smart"' in line for line in service_lines)  # the launches were logged
    leaks = [s for p in patients for s in secrets_of(p["patient"])
             if re.search(rf"(?<![A-Za-z0-9]){re.escape(s)}(?![A-Za-z0-9])", everything)]
    leaks += [f"{s[:6]}..." for s in secrets if s in everything]
    assert not leaks, f"patient data or secrets in logs: {sorted(set(leaks))[:10]}"
