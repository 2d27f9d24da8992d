"""Medication by reference, the fetching side (issue #14 point 4): a `medicationReference` that
is neither contained nor bundled in any prefetch key is read as `Medication/<id>` from fhirServer
with the fhirAuthorization token: each id once, in parallel, within the prefetch budget, added to
the bundle that referred to it (search.mode include). Nothing is read when nothing is missing.

The EHR is the loopback Epic-like server of tests/ehr_shapes (real HTTP on 127.0.0.1; Epic
itself cannot run here), or conftest's FHIR stub where a test needs delays or failures."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

from cds_service import prefetch
from cds_service.app import create_app
from cds_service.settings import site_fhir_queries
from hooks.registry import PREFETCH_TEMPLATES
from tests.conftest import hook_request, local_settings, searchset
from tests.ehr_shapes import server as ehr
from tests.ehr_shapes.reshape import epic_like
from tests.ehr_shapes.sites import SITES_DIR

ROOT = Path(__file__).resolve().parents[1]
EPIC_QUERIES = json.loads((SITES_DIR / "epic" / "fhir-queries.json").read_text())
AUTH = {"access_token": ehr.TOKEN, "token_type": "Bearer", "expires_in": 300, "scope": "patient/*.read",
        "subject": "gmg-cds"}
MEDICATION_KEYS = ("medicationRequests", "medicationAdministrations")


def _epic_settings(tmp_path: Path):
    """Local settings with the Epic-like site's queries (no MedicationStatement in Epic R4)."""
    return replace(local_settings(tmp_path),
                   fhir_queries=site_fhir_queries(str(SITES_DIR / "epic" / "fhir-queries.json")))


def _chart(slug: str = "met-3-4"):
    return epic_like(json.loads((ROOT / "demo" / "bundles" / f"{slug}.json").read_text()))


def _prefetch(chart) -> dict:
    return ehr.prefetch_for(chart, EPIC_QUERIES, PREFETCH_TEMPLATES)


def _medication_reads(server) -> list[str]:
    return [p for p, _q in server.requests if "/Medication/" in p]


def _included(res: prefetch.Resolution) -> dict[str, dict]:
    out = {}
    for key in MEDICATION_KEYS:
        for e in (res.prefetch.get(key) or {}).get("entry", []):
            if e.get("search", {}).get("mode") == "include":
                out[e["resource"]["id"]] = e
    return out


def test_referenced_medications_are_read_once_each_and_bundled_as_includes(tmp_path):
    chart = _chart()  # prednisone, azathioprine (requests) and IVIG x5 (administrations)
    with ehr.EhrFhirServer("epic", [chart]) as server:
        body = hook_request("patient-view", {"userId": "Practitioner/u1", "patientId": chart.patient_id},
                            prefetch=_prefetch(chart), fhirServer=server.base, fhirAuthorization=AUTH)
        res = prefetch.resolve(PREFETCH_TEMPLATES, body, _epic_settings(tmp_path))
        reads = _medication_reads(server)
    assert sorted(reads) == sorted(f"/api/FHIR/R4/Medication/{m}" for m in chart.medications)
    assert len(reads) == 3 == len(set(reads))  # five IVIG infusions, one read
    assert res.medications_read == 3 and res.medications_unresolved == 0
    included = _included(res)
    assert set(included) == set(chart.medications)
    ivig = next(m for m in chart.medications.values() if "immunoglobulin" in m["code"]["text"])
    assert included[ivig["id"]]["fullUrl"] == f"{server.base}/Medication/{ivig['id']}"
    # the IVIG Medication goes with the administrations that referred to it
    adm = res.prefetch["medicationAdministrations"]["entry"]
    assert any(e["resource"]["id"] == ivig["id"] for e in adm)
    assert res.fetched == 3  # only the reads: every key was prefetched


def test_nothing_is_read_when_every_reference_resolves_in_the_prefetch(tmp_path):
    chart = _chart()
    given = _prefetch(chart)
    given["medicationRequests"]["entry"] += [{"resource": m, "search": {"mode": "include"}}
                                              for m in chart.medications.values()]
    with ehr.EhrFhirServer("epic", [chart]) as server:
        body = hook_request("patient-view", {"userId": "Practitioner/u1", "patientId": chart.patient_id},
                            prefetch=given, fhirServer=server.base, fhirAuthorization=AUTH)
        res = prefetch.resolve(PREFETCH_TEMPLATES, body, _epic_settings(tmp_path))
        assert server.requests == []
    assert res.fetched == 0 and res.medications_read == 0


def test_contained_medications_are_never_read(tmp_path):
    chart = _chart("met-3-1")
    given = _prefetch(chart)
    for e in given["medicationRequests"]["entry"]:
        med = chart.medications[e["resource"]["medicationReference"]["reference"].split("/")[1]]
        e["resource"]["contained"] = [{**med, "id": "m"}]
        e["resource"]["medicationReference"] = {"reference": "#m"}
    with ehr.EhrFhirServer("epic", [chart]) as server:
        body = hook_request("patient-view", {"userId": "Practitioner/u1", "patientId": chart.patient_id},
                            prefetch=given, fhirServer=server.base, fhirAuthorization=AUTH)
        prefetch.resolve(PREFETCH_TEMPLATES, body, _epic_settings(tmp_path))
        assert _medication_reads(server) == []


def test_a_medication_that_cannot_be_read_is_left_unresolved_for_the_mappings_to_report(tmp_path):
    chart = _chart()
    missing = next(iter(chart.medications))
    with ehr.EhrFhirServer("epic", [chart]) as server:
        del server.resources[("Medication", missing)]
        body = hook_request("patient-view", {"userId": "Practitioner/u1", "patientId": chart.patient_id},
                            prefetch=_prefetch(chart), fhirServer=server.base, fhirAuthorization=AUTH)
        res = prefetch.resolve(PREFETCH_TEMPLATES, body, _epic_settings(tmp_path))
    assert res.medications_read == 2 and res.medications_unresolved == 1
    assert missing not in _included(res)
    assert list(res.problems.values()) == ["medication-http-404"]  # counted in the fallback metrics
    # the referring resource is untouched: its display is what the data gap will name
    refs = [e["resource"]["medicationReference"] for k in MEDICATION_KEYS
            for e in res.prefetch[k]["entry"] if "medicationReference" in e["resource"]]
    assert any(r["reference"] == f"Medication/{missing}" and r["display"] for r in refs)
    resp = create_app(_epic_settings(tmp_path)).test_client().post("/cds-services/gmg-patient-view", json=body)
    assert resp.status_code == 200


def test_reads_run_in_parallel_within_the_budget(tmp_path, fhir_stub):
    def slow_medication(request):
        time.sleep(0.4)
        return {"resourceType": "Medication", "id": request.path.rsplit("/", 1)[1],
                "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "8640"}]}}

    fhir_stub.default = slow_medication
    requests = [{"resourceType": "MedicationRequest", "id": f"r{i}", "status": "active", "intent": "order",
                 "subject": {"reference": "Patient/p1"}, "medicationReference": {"reference": f"Medication/m{i}"}}
                for i in range(6)]
    body = hook_request("patient-view", {"userId": "Practitioner/u1", "patientId": "p1"},
                        prefetch={"medicationRequests": searchset(*requests)}, fhirServer=fhir_stub.base)
    started = time.monotonic()
    res = prefetch.resolve({"medicationRequests": PREFETCH_TEMPLATES["medicationRequests"]}, body,
                           local_settings(tmp_path))
    elapsed = time.monotonic() - started
    assert res.medications_read == 6 and elapsed < 1.2, elapsed  # one after another: 2.4 s
    # a server slower than what remains of the budget: the call still ends within it
    fhir_stub.default = lambda request: (time.sleep(3), slow_medication(request))[1]
    settings = local_settings(tmp_path, prefetch_budget_seconds=1.0, fhir_timeout_seconds=5.0)
    started = time.monotonic()
    res = prefetch.resolve({"medicationRequests": PREFETCH_TEMPLATES["medicationRequests"]}, body, settings)
    assert time.monotonic() - started < 1.6
    assert res.medications_read == 0 and res.medications_unresolved == 6


def test_only_references_on_the_ehrs_own_server_are_read(tmp_path, fhir_stub):
    fhir_stub.default = lambda request: {"resourceType": "Medication", "id": "x"}
    refs = [f"{fhir_stub.base}/Medication/mine", "http://127.0.0.2:9/fhir/Medication/theirs",
            "urn:uuid:0f6b", "Medication/../../steal", "#contained"]
    requests = [{"resourceType": "MedicationRequest", "id": f"r{i}", "status": "active", "intent": "order",
                 "subject": {"reference": "Patient/p1"}, "medicationReference": {"reference": ref}}
                for i, ref in enumerate(refs)]
    body = hook_request("patient-view", {"userId": "Practitioner/u1", "patientId": "p1"},
                        prefetch={"medicationRequests": searchset(*requests)}, fhirServer=fhir_stub.base,
                        fhirAuthorization={**AUTH, "access_token": "secret"})
    prefetch.resolve({"medicationRequests": PREFETCH_TEMPLATES["medicationRequests"]}, body, local_settings(tmp_path))
    assert [(r["path"], r["auth"]) for r in fhir_stub.requests] == [("fhir/Medication/mine", "Bearer secret")]


def test_a_server_answer_that_is_not_a_medication_is_not_used(tmp_path, fhir_stub):
    fhir_stub.default = lambda request: {"resourceType": "Patient", "id": "p2"}
    req = {"resourceType": "MedicationRequest", "id": "r1", "status": "active", "intent": "order",
           "subject": {"reference": "Patient/p1"}, "medicationReference": {"reference": "Medication/m1"}}
    body = hook_request("patient-view", {"userId": "Practitioner/u1", "patientId": "p1"},
                        prefetch={"medicationRequests": searchset(req)}, fhirServer=fhir_stub.base)
    res = prefetch.resolve({"medicationRequests": PREFETCH_TEMPLATES["medicationRequests"]}, body,
                           local_settings(tmp_path))
    assert res.medications_unresolved == 1 and list(res.problems.values()) == ["medication-not-a-medication"]
    assert len(res.prefetch["medicationRequests"]["entry"]) == 1


def test_medications_of_draft_orders_and_suspect_drugs_are_read_too(tmp_path, fhir_stub):
    fhir_stub.default = lambda request: {"resourceType": "Medication", "id": request.path.rsplit("/", 1)[1]}
    draft = {"resourceType": "MedicationRequest", "id": "d1", "status": "draft", "intent": "order",
             "subject": {"reference": "Patient/p1"}, "medicationReference": {"reference": "Medication/drafted"}}
    event = {"resourceType": "AdverseEvent", "id": "ae1", "subject": {"reference": "Patient/p1"},
             "suspectEntity": [{"instance": {"reference": "Medication/suspect"}}]}
    body = hook_request("order-sign", {"userId": "Practitioner/u1", "patientId": "p1",
                                       "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": draft}]}},
                        prefetch={"medicationRequests": None, "adverseEvents": searchset(event)},
                        fhirServer=fhir_stub.base)
    templates = {k: PREFETCH_TEMPLATES[k] for k in ("medicationRequests", "adverseEvents")}
    res = prefetch.resolve(templates, body, local_settings(tmp_path))
    assert sorted(r["path"] for r in fhir_stub.requests) == ["fhir/Medication/drafted", "fhir/Medication/suspect"]
    # the client said it has no MedicationRequests: still none, but the drafts' Medication is there
    bundle = res.prefetch["medicationRequests"]
    assert [e["search"]["mode"] for e in bundle["entry"]] == ["include"] and bundle["total"] == 0
    assert [e["resource"]["id"] for e in res.prefetch["adverseEvents"]["entry"]] == ["ae1", "suspect"]


def test_without_a_fhir_server_nothing_is_read_and_nothing_fails(tmp_path):
    chart = _chart()
    body = hook_request("patient-view", {"userId": "Practitioner/u1", "patientId": chart.patient_id},
                        prefetch=_prefetch(chart))
    res = prefetch.resolve(PREFETCH_TEMPLATES, body, _epic_settings(tmp_path))
    assert res.fetched == 0 and res.medications_unresolved == 0 and not res.unavailable


@pytest.mark.parametrize("reference, expected", [
    ("Medication/abc-1.2", "abc-1.2"),
    ("Medication/abc/_history/3", "abc"),
    ("BASE/Medication/xyz", "xyz"),
    ("https://other.example.org/fhir/Medication/xyz", None),
    ("Medication/" + "a" * 65, None),
    ("Medication/a b", None),
    ("Substance/abc", None),
    ("#abc", None),
    (None, None),
])
def test_which_references_name_a_medication_the_service_may_read(reference, expected):
    server = prefetch.FhirServer(base="https://ehr.example.org/api/FHIR/R4", token="t")
    if isinstance(reference, str):
        reference = reference.replace("BASE", server.base)
    assert prefetch.medication_id({"reference": reference}, server) == expected
