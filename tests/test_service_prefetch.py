"""Prefetch resolution against a real FHIR server on 127.0.0.1: the four states of a key,
token filling, paging with a cap, 401/500 and a server too slow for the budget."""

from __future__ import annotations

import time

import pytest

from cds_service import prefetch
from cds_service.app import create_app
from tests.conftest import empty_chart_routes, hook_request, local_settings, searchset

PV = "/cds-services/gmg-patient-view"
CTX = {"userId": "Practitioner/u1", "patientId": "p1"}
AUTH = {"access_token": "opaque-token-123", "token_type": "Bearer", "expires_in": 300,
        "scope": "patient/*.read", "subject": "gmg-cds"}


def _paths(stub):
    return sorted(r["path"] for r in stub.requests)


def test_render_template_fills_context_and_user_tokens():
    ctx = {"patientId": "p1", "userId": "PractitionerRole/r9", "encounterId": "e7"}
    assert prefetch.render_template("Patient/{{context.patientId}}", ctx) == "Patient/p1"
    assert prefetch.render_template("Encounter/{{ context.encounterId }}", ctx) == "Encounter/e7"
    assert prefetch.render_template("PractitionerRole/{{userPractitionerRoleId}}", ctx) == "PractitionerRole/r9"
    # a user token of another type, an object-valued field, a missing field: not renderable
    assert prefetch.render_template("Practitioner/{{userPractitionerId}}", ctx) is None
    assert prefetch.render_template("X?{{context.draftOrders}}", {"draftOrders": {"a": 1}}) is None
    assert prefetch.render_template("Encounter/{{context.encounterId}}", {"patientId": "p1"}) is None
    # a value that would inject query syntax is refused
    assert prefetch.render_template("Condition?patient={{context.patientId}}", {"patientId": "p1&_count=1"}) is None


def test_data_is_used_null_is_no_data_and_absent_is_fetched_with_the_token(client, fhir_stub):
    empty_chart_routes(fhir_stub, "p1")
    given = {
        "patient": {"resourceType": "Patient", "id": "p1"},
        "conditions": searchset(),
        "observations": None,
    }
    body = hook_request("patient-view", CTX, prefetch=given, fhirServer=fhir_stub.base, fhirAuthorization=AUTH)
    resp = client.post(PV, json=body)
    assert resp.status_code == 200
    paths = _paths(fhir_stub)
    assert "fhir/Patient/p1" not in paths and "fhir/Condition" not in paths and "fhir/Observation" not in paths
    assert "fhir/MedicationRequest" in paths and "fhir/Procedure" in paths
    assert {r["auth"] for r in fhir_stub.requests} == {"Bearer opaque-token-123"}


def test_an_operation_outcome_in_prefetch_is_refetched(client, fhir_stub):
    empty_chart_routes(fhir_stub, "p1")
    given = {"patient": {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}}
    body = hook_request("patient-view", CTX, prefetch=given, fhirServer=fhir_stub.base)
    assert client.post(PV, json=body).status_code == 200
    assert "fhir/Patient/p1" in _paths(fhir_stub)
    # without a FHIR server the required key cannot be had: 412
    body = hook_request("patient-view", CTX, prefetch={**given, "conditions": None, "observations": None})
    resp = client.post(PV, json=body)
    assert resp.status_code == 412
    assert "client-reported-operation-outcome" in resp.get_data(as_text=True)


def test_searchset_paging_is_followed_and_merged(settings, fhir_stub):
    empty_chart_routes(fhir_stub, "p1")
    pages = {
        1: searchset({"resourceType": "Condition", "id": "c1"}, next_url=f"{fhir_stub.base}/Condition?page=2"),
        2: searchset({"resourceType": "Condition", "id": "c2"}, next_url=f"{fhir_stub.base}/Condition?page=3"),
        3: searchset({"resourceType": "Condition", "id": "c3"}),
    }
    fhir_stub.routes["fhir/Condition"] = lambda req: pages[int(req.args.get("page", 1))]
    body = hook_request("patient-view", CTX, fhirServer=fhir_stub.base)
    res = prefetch.resolve({"conditions": "Condition?patient={{context.patientId}}"}, body, settings)
    assert [e["resource"]["id"] for e in res.prefetch["conditions"]["entry"]] == ["c1", "c2", "c3"]
    assert "link" not in res.prefetch["conditions"]
    assert not res.unavailable and not res.incomplete
    assert res.fetched == 3


def test_paging_stops_at_the_cap_and_marks_the_key_incomplete(tmp_path, fhir_stub):
    settings = local_settings(tmp_path, fhir_max_pages=3)
    fhir_stub.routes["fhir/Condition"] = lambda req: searchset(
        {"resourceType": "Condition", "id": f"c{req.args.get('page', 1)}"},
        next_url=f"{fhir_stub.base}/Condition?page={int(req.args.get('page', 1)) + 1}",
    )
    body = hook_request("patient-view", CTX, fhirServer=fhir_stub.base)
    started = time.monotonic()
    res = prefetch.resolve({"conditions": "Condition?patient={{context.patientId}}"}, body, settings)
    assert time.monotonic() - started < 2
    assert len(res.prefetch["conditions"]["entry"]) == 3
    assert res.incomplete == {"conditions"}
    assert len(fhir_stub.requests) == 3


def test_a_next_link_to_another_host_is_not_followed(settings, fhir_stub):
    fhir_stub.routes["fhir/Condition"] = searchset(
        {"resourceType": "Condition", "id": "c1"}, next_url="http://127.0.0.2:9/steal?token")
    body = hook_request("patient-view", CTX, fhirServer=fhir_stub.base, fhirAuthorization=AUTH)
    res = prefetch.resolve({"conditions": "Condition?patient={{context.patientId}}"}, body, settings)
    assert res.unavailable == {"conditions"}
    assert res.problems["conditions"] == "url-outside-fhir-server"


def test_a_paged_prefetch_bundle_is_completed_from_the_server(settings, fhir_stub):
    fhir_stub.routes["fhir/Condition"] = searchset({"resourceType": "Condition", "id": "c2"})
    given = searchset({"resourceType": "Condition", "id": "c1"}, next_url=f"{fhir_stub.base}/Condition?page=2")
    body = hook_request("patient-view", CTX, fhirServer=fhir_stub.base, prefetch={"conditions": given})
    res = prefetch.resolve({"conditions": "Condition?patient={{context.patientId}}"}, body, settings)
    assert [e["resource"]["id"] for e in res.prefetch["conditions"]["entry"]] == ["c1", "c2"]


@pytest.mark.parametrize("status", [401, 403, 500, 503])
def test_a_failing_server_makes_required_keys_412_and_optional_keys_unavailable(client, fhir_stub, status):
    empty_chart_routes(fhir_stub, "p1")
    fhir_stub.routes["fhir/Observation"] = (status, {"resourceType": "OperationOutcome", "issue": []}, {})
    fhir_stub.routes["fhir/Procedure"] = (status, b"oops", {})
    body = hook_request("patient-view", CTX, fhirServer=fhir_stub.base)
    resp = client.post(PV, json=body)
    assert resp.status_code == 412
    doc = resp.get_json()
    assert [i["expression"] for i in doc["issue"]] == [["prefetch.observations"]]
    assert f"http-{status}" in doc["issue"][0]["diagnostics"]


def test_optional_key_failure_still_answers_200(settings, fhir_stub):
    empty_chart_routes(fhir_stub, "p1")
    fhir_stub.routes["fhir/Procedure"] = (500, b"oops", {})
    body = hook_request("patient-view", CTX, fhirServer=fhir_stub.base)
    from hooks.registry import PREFETCH_TEMPLATES

    res = prefetch.resolve(PREFETCH_TEMPLATES, body, settings)
    assert res.unavailable == {"procedures"}
    assert res.problems["procedures"] == "http-500"
    resp = create_app(settings).test_client().post(PV, json=body)
    assert resp.status_code == 200


def test_a_server_too_slow_for_the_budget_gives_412_within_the_budget(tmp_path, fhir_stub):
    settings = local_settings(tmp_path, prefetch_budget_seconds=1.0, fhir_timeout_seconds=5.0)
    empty_chart_routes(fhir_stub, "p1")

    def slow(req):
        time.sleep(3)
        return searchset()

    fhir_stub.routes["fhir/Condition"] = slow
    client = create_app(settings).test_client()
    body = hook_request("patient-view", CTX, fhirServer=fhir_stub.base)
    started = time.monotonic()
    resp = client.post(PV, json=body)
    elapsed = time.monotonic() - started
    assert resp.status_code == 412
    assert elapsed < 1.6, elapsed
    assert "prefetch.conditions" in resp.get_data(as_text=True)


def test_missing_keys_are_fetched_in_parallel(tmp_path, fhir_stub):
    settings = local_settings(tmp_path, prefetch_budget_seconds=3.0)
    empty_chart_routes(fhir_stub, "p1")

    def slowish(req):
        time.sleep(0.3)
        return searchset()

    fhir_stub.default = slowish
    body = hook_request("patient-view", CTX, fhirServer=fhir_stub.base)
    from hooks.registry import PREFETCH_TEMPLATES

    started = time.monotonic()
    res = prefetch.resolve(PREFETCH_TEMPLATES, body, settings)
    elapsed = time.monotonic() - started
    assert not res.unavailable
    assert elapsed < 0.3 * 3, elapsed  # 9 searches of 0.3 s each, sequentially 2.7 s


def test_invalid_json_from_the_server_is_unavailable(settings, fhir_stub):
    fhir_stub.routes["fhir/Condition"] = (200, b"{not json", {})
    body = hook_request("patient-view", CTX, fhirServer=fhir_stub.base)
    res = prefetch.resolve({"conditions": "Condition?patient={{context.patientId}}"}, body, settings)
    assert res.unavailable == {"conditions"} and res.problems["conditions"] == "invalid-json"
