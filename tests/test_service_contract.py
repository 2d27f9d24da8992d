"""CDS Hooks 2.0.1 contract: discovery, every shared request example answered 200 with a
schema-valid response, and the response schema itself (it must reject what the spec forbids)."""

from __future__ import annotations

import copy
import json

import pytest

from cds_service import validation
from hooks.registry import PREFETCH_TEMPLATES
from tests.conftest import EXAMPLES, empty_chart_routes, hook_request

SERVICE_FOR_HOOK = {
    "patient-view": "gmg-patient-view",
    "order-select": "gmg-order-select",
    "order-sign": "gmg-order-sign",
}
DESIGN_KEYS = {
    "patient", "conditions", "observations", "medicationStatements", "medicationRequests",
    "medicationAdministrations", "procedures", "immunizations", "adverseEvents", "allergies",
}


def test_discovery_lists_the_three_services_with_the_contract_prefetch_keys(client):
    resp = client.get("/cds-services")
    assert resp.status_code == 200
    doc = resp.get_json()
    assert validation.errors("discovery.json", doc) == []
    by_id = {s["id"]: s for s in doc["services"]}
    assert {k: v["hook"] for k, v in by_id.items()} == {
        "gmg-patient-view": "patient-view",
        "gmg-order-select": "order-select",
        "gmg-order-sign": "order-sign",
    }
    for service in by_id.values():
        assert service["title"] and service["description"]
        assert set(service["prefetch"]) == DESIGN_KEYS
        assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"
        for template in service["prefetch"].values():
            assert "{{context.patientId}}" in template


def _example_requests():
    for path in sorted(EXAMPLES.glob("*.json")):
        doc = json.loads(path.read_text())
        name = path.name
        if "context" not in doc:
            continue  # responses, feedback, jwt vectors
        if "hook" in doc:
            hook = doc["hook"]
        elif "order-select" in name:
            hook = "order-select"
        elif "order-sign" in name:
            hook = "order-sign"
        else:
            hook = "patient-view"
        yield pytest.param(name, hook, doc, id=name)


@pytest.mark.parametrize("name,hook,doc", list(_example_requests()))
def test_every_shared_request_example_is_answered(client, fhir_stub, name, hook, doc):
    """Spec, library and sandbox-observed requests, posted to our service ids. Their fhirServer
    is replaced by the loopback FHIR stub (there is no network here); library fragments carry
    only a context and are wrapped into a full request."""
    body = copy.deepcopy(doc)
    if "hookInstance" not in body:
        body = hook_request(hook, body["context"])
    body["fhirServer"] = fhir_stub.base
    empty_chart_routes(fhir_stub, body["context"]["patientId"])
    resp = client.post(f"/cds-services/{SERVICE_FOR_HOOK[hook]}", json=body)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    out = resp.get_json()
    assert validation.errors("response.json", out) == []
    # prefetch keys the example did not carry were fetched from the FHIR server
    fetched = {r["path"].split("/")[1] for r in fhir_stub.requests}
    assert "Patient" in fetched or "patient" in body.get("prefetch", {})


def test_a_request_without_prefetch_is_legal_and_fetches_everything(client, fhir_stub):
    empty_chart_routes(fhir_stub, "p1")
    body = hook_request("patient-view", {"userId": "Practitioner/u1", "patientId": "p1"},
                        fhirServer=fhir_stub.base)
    resp = client.post("/cds-services/gmg-patient-view", json=body)
    assert resp.status_code == 200
    assert resp.get_json() == {"cards": []}
    paths = sorted(r["path"] for r in fhir_stub.requests)
    assert len(paths) == len(PREFETCH_TEMPLATES)
    assert "fhir/Patient/p1" in paths
    queries = {r["path"]: r["query"] for r in fhir_stub.requests}
    assert queries["fhir/Condition"] == "patient=p1"
    assert queries["fhir/AdverseEvent"] == "subject=Patient/p1"


def test_the_design_keys_alone_answer_without_a_fhir_server(client):
    prefetch = {k: None for k in DESIGN_KEYS}
    prefetch["patient"] = {"resourceType": "Patient", "id": "p1", "birthDate": "1970-01-01"}
    body = hook_request("patient-view", {"userId": "Practitioner/u1", "patientId": "p1"}, prefetch=prefetch)
    resp = client.post("/cds-services/gmg-patient-view", json=body)
    assert resp.status_code == 200
    assert validation.errors("response.json", resp.get_json()) == []


VALID_CARD = {
    "uuid": "3f1b6a9e-6d1c-4b41-9b0e-0c7b7c9d2a11",
    "summary": "Refractory gMG by the Chinese consensus",
    "indicator": "warning",
    "source": {"label": "Chinese expert consensus on refractory gMG"},
    "extension": {"gmg-cds": {"findings": [{"code": "refractory.cn.met"}]}},
}


def _card(**changes):
    card = copy.deepcopy(VALID_CARD)
    for k, v in changes.items():
        if v is None:
            card.pop(k, None)
        else:
            card[k] = v
    return {"cards": [card]}


SUGGESTION = {"label": "Order IgA", "uuid": "8c1b6a9e-6d1c-4b41-9b0e-0c7b7c9d2a11",
              "actions": [{"type": "create", "description": "Order serum IgA",
                           "resource": {"resourceType": "ServiceRequest"}}]}


@pytest.mark.parametrize(
    "response,valid",
    [
        (_card(), True),
        (_card(summary="x" * 139), True),
        (_card(summary="x" * 140), False),
        (_card(summary="two\nlines"), False),
        (_card(indicator="hard-stop"), False),
        (_card(source={"url": "https://example.org"}), False),
        (_card(uuid=None), False),
        (_card(extension=None), False),
        (_card(extension={"gmg-cds": {"findings": []}}), False),
        (_card(detail=None, summary="ok", suggestions=[SUGGESTION]), False),  # no selectionBehavior
        (_card(suggestions=[SUGGESTION], selectionBehavior="any"), True),
        (_card(suggestions=[SUGGESTION], selectionBehavior="all"), False),
        (_card(suggestions=[dict(SUGGESTION, isRecommended=True), dict(SUGGESTION, isRecommended=True)],
               selectionBehavior="at-most-one"), False),
        (_card(suggestions=[dict(SUGGESTION, isRecommended=True), dict(SUGGESTION, isRecommended=True)],
               selectionBehavior="any"), True),
        (_card(suggestions=[dict(SUGGESTION, actions=[{"type": "delete", "description": "d"}])],
               selectionBehavior="any"), False),  # delete without resourceId
        (_card(suggestions=[dict(SUGGESTION, actions=[{"type": "delete", "description": "d",
                                                          "resourceId": "MedicationRequest/1"}])],
               selectionBehavior="any"), True),
        (_card(links=[{"label": "app", "url": "https://x.org", "type": "absolute", "appContext": "a"}]), False),
        (_card(links=[{"label": "app", "url": "https://x.org", "type": "smart", "appContext": "a"}]), True),
        (_card(links=[{"label": "app", "url": "https://x.org", "type": "other"}]), False),
        (_card(overrideReasons=[{"system": "s", "code": "c"}]), False),  # display is required
        (_card(overrideReasons=[{"system": "s", "code": "c", "display": "d"}]), True),
        (_card(detail=None, summary="ok", links=[]), False),  # empty arrays are forbidden
        (_card(detail=""), False),
        ({"cards": [dict(VALID_CARD, detail=None)]}, False),  # null is forbidden
    ],
)
def test_response_schema_enforces_the_spec_invariants(response, valid):
    assert (validation.errors("response.json", response) == []) is valid
