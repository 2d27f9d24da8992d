"""The error model: each status answered with an OperationOutcome that names the field and never
carries a stack trace or the values sent."""

from __future__ import annotations

import dataclasses
import json

import pytest

from cds_service.app import create_app
from hooks import registry
from tests.conftest import hook_request, local_settings

PV = "/cds-services/gmg-patient-view"
CTX = {"userId": "Practitioner/u1", "patientId": "p1"}


def _outcome(resp):
    doc = resp.get_json()
    assert doc["resourceType"] == "OperationOutcome"
    assert doc["issue"] and all(i["severity"] == "error" for i in doc["issue"])
    text = resp.get_data(as_text=True)
    assert "Traceback" not in text and 'File "' not in text
    return doc


def test_malformed_json_is_400(client):
    resp = client.post(PV, data=b'{"hook": "patient-view",', content_type="application/json")
    assert resp.status_code == 400
    assert "not valid JSON" in _outcome(resp)["issue"][0]["diagnostics"]


def test_empty_body_is_400(client):
    resp = client.post(PV, data=b"", content_type="application/json")
    assert resp.status_code == 400
    _outcome(resp)


@pytest.mark.parametrize(
    "mutate,field",
    [
        (lambda b: b["context"].pop("patientId"), "context.patientId"),
        (lambda b: b.pop("hookInstance"), "hookInstance"),
        (lambda b: b.update(hookInstance=42), "hookInstance"),
        (lambda b: b.update(hookInstance="not-a-uuid"), "hookInstance"),
        (lambda b: b.update(context=[]), "context"),
        (lambda b: b["context"].update(userId=["Practitioner/1"]), "context.userId"),
        (lambda b: b.update(prefetch=[]), "prefetch"),
        (lambda b: b.update(prefetch={"patient": "text"}), "prefetch.patient"),
        (lambda b: b.update(fhirAuthorization={"access_token": "t", "token_type": "Bearer",
                                               "expires_in": 300, "scope": "s", "subject": "c"}),
         "fhirServer"),
        (lambda b: b.update(fhirServer="ftp://x"), "fhirServer"),
        (lambda b: b.update(hook="order-sign"), "hook"),
    ],
)
def test_schema_violations_are_400_naming_the_field(client, mutate, field):
    body = hook_request("patient-view", dict(CTX), prefetch={"patient": None})
    mutate(body)
    resp = client.post(PV, json=body)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    issue = _outcome(resp)["issue"][0]
    assert issue["diagnostics"].startswith(field + ":"), issue
    assert issue["expression"] == [field]


def test_values_sent_are_not_echoed(client):
    body = hook_request("patient-view", {"userId": "Practitioner/u1", "patientId": "Ünïcode name"})
    resp = client.post(PV, json=body)
    assert resp.status_code == 400
    assert "Ünïcode" not in resp.get_data(as_text=True)


def test_order_select_without_selections_is_400(client):
    body = hook_request("order-select", {"userId": "Practitioner/u1", "patientId": "p1",
                                         "draftOrders": {"resourceType": "Bundle", "entry": []}})
    resp = client.post("/cds-services/gmg-order-select", json=body)
    assert resp.status_code == 400
    assert _outcome(resp)["issue"][0]["expression"] == ["context.selections"]


def test_unknown_service_is_404(client):
    resp = client.post("/cds-services/no-such-service", json=hook_request("patient-view", CTX))
    assert resp.status_code == 404
    _outcome(resp)
    assert client.get("/no/such/path").status_code == 404


def test_wrong_method_is_405(client):
    resp = client.get(PV)
    assert resp.status_code == 405
    assert "POST" in resp.headers["Allow"]
    _outcome(resp)
    assert client.delete("/cds-services").status_code == 405


def test_body_over_the_limit_is_413(tmp_path):
    app = create_app(local_settings(tmp_path, max_body_bytes=2048))
    body = hook_request("patient-view", dict(CTX), prefetch={"patient": {"resourceType": "Patient", "text": {"div": "x" * 5000}}})
    resp = app.test_client().post(PV, data=json.dumps(body), content_type="application/json")
    assert resp.status_code == 413
    _outcome(resp)


def test_required_data_unavailable_is_412(client):
    resp = client.post(PV, json=hook_request("patient-view", dict(CTX)))  # no prefetch, no fhirServer
    assert resp.status_code == 412
    issues = _outcome(resp)["issue"]
    assert {i["expression"][0] for i in issues} == {"prefetch.patient", "prefetch.conditions", "prefetch.observations"}


def test_non_json_content_type_is_415(client):
    resp = client.post(PV, data="hook=patient-view", content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 415
    _outcome(resp)


def test_deep_nesting_is_400(client):
    body = '{"hook":"patient-view","hookInstance":"d1577c69-dfbe-44ad-ba6d-3e05e953b2ea","context":' + "[" * 200 + "]" * 200 + "}"
    resp = client.post(PV, data=body, content_type="application/json")
    assert resp.status_code == 400
    assert "nesting" in _outcome(resp)["issue"][0]["diagnostics"]


def test_handler_exception_is_500_without_internal_detail(tmp_path, capsys):
    def broken(call):
        raise KeyError("secret-patient-value")

    services = registry.services()
    services["gmg-patient-view"] = dataclasses.replace(services["gmg-patient-view"], handler=broken)
    client = create_app(local_settings(tmp_path), services=services).test_client()
    prefetch = {"patient": {"resourceType": "Patient", "id": "p1"}, "conditions": None, "observations": None}
    resp = client.post(PV, json=hook_request("patient-view", dict(CTX), prefetch=prefetch))
    assert resp.status_code == 500
    text = resp.get_data(as_text=True)
    assert "secret-patient-value" not in text and "KeyError" not in text
    _outcome(resp)
    logged = capsys.readouterr().err
    assert '"error_type":"KeyError"' in logged
    assert "secret-patient-value" not in logged
