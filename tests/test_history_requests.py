"""History without MedicationStatement (issue #14 point 7): Epic and Oracle Health offer no
MedicationStatement in R4, so a patient's courses arrive as MedicationRequests (intent order,
plan or original-order; status active, completed or stopped; dates in the timing bounds or in
dispenseRequest.validityPeriod, else authoredOn). The same history written either way gives the
same exposures and the same adequacy, drug by drug, and every demo patient gives the same cards.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import terminology
from fhir_mappings import build_record
from fhir_mappings.prefetch import prefetch_from_bundle
from gmg.adequacy import conventional_therapy
from hooks import context, patient_view
from hooks.registry import HookCall
from terminology import systems
from tests.test_order_hooks import PID, TODAY, prefetch

DEMO = Path(__file__).resolve().parents[1] / "demo" / "bundles"


def statement(rid: str, drug: str, start: str, end: str | None, status: str, dose_mg: float,
              frequency: int = 1, period: float = 1, unit: str = "d", route: str = "26643006") -> dict[str, Any]:
    rx = terminology.coding_for(drug, systems.RXNORM)
    assert rx is not None, drug
    period_ = {"start": start, **({"end": end} if end else {})}
    return {
        "resourceType": "MedicationStatement", "id": rid, "status": status,
        "subject": {"reference": f"Patient/{PID}"},
        "medicationCodeableConcept": {"coding": [{"system": systems.RXNORM, "code": rx.code, "display": rx.display}]},
        "effectivePeriod": period_,
        "dosage": [{
            "route": {"coding": [{"system": systems.SNOMED, "code": route}]},
            "timing": {"repeat": {"frequency": frequency, "period": period, "periodUnit": unit}},
            "doseAndRate": [{"doseQuantity": {"value": dose_mg, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}}],
        }],
    }


# MedicationStatement status -> the MedicationRequest status an EHR writes for the same course
REQUEST_STATUS = {"active": "active", "completed": "completed", "stopped": "stopped", "intended": "active",
                  "on-hold": "on-hold", "entered-in-error": "entered-in-error", "not-taken": "cancelled"}


def as_request(ms: dict[str, Any], where: str, intent: str = "order") -> dict[str, Any]:
    """The same course as a MedicationRequest: its dates in the timing bounds ("bounds") or in
    dispenseRequest.validityPeriod ("validity"); authoredOn the day the course started."""
    period = ms.get("effectivePeriod") or {"start": ms.get("effectiveDateTime")}
    dosage = copy.deepcopy(ms.get("dosage") or [])
    res: dict[str, Any] = {
        "resourceType": "MedicationRequest", "id": ms["id"], "status": REQUEST_STATUS[ms["status"]],
        "intent": intent, "subject": ms["subject"], "authoredOn": period["start"],
        "dosageInstruction": dosage,
    }
    for key in ("medicationCodeableConcept", "medicationReference", "contained"):
        if key in ms:
            res[key] = copy.deepcopy(ms[key])
    if where == "bounds":
        for d in res["dosageInstruction"] or [{}]:
            d.setdefault("timing", {}).setdefault("repeat", {})["boundsPeriod"] = dict(period)
        if not res["dosageInstruction"]:
            res["dosageInstruction"] = [{"timing": {"repeat": {"boundsPeriod": dict(period)}}}]
    else:
        res["dispenseRequest"] = {"validityPeriod": dict(period)}
    return res


def same_shape(value: Any) -> str:
    """A comparable text of a result, the resource type of its sources set aside."""
    return json.dumps(value, default=str, sort_keys=True).replace("MedicationRequest/", "MedicationStatement/")


def trough(rid: str, concept: str, value: float, when: str) -> dict[str, Any]:
    loinc = terminology.coding_for(concept, systems.LOINC)
    assert loinc is not None
    return {"resourceType": "Observation", "id": rid, "status": "final", "subject": {"reference": f"Patient/{PID}"},
            "code": {"coding": [{"system": systems.LOINC, "code": loinc.code}]}, "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": "ng/mL", "system": "http://unitsofmeasure.org", "code": "ng/mL"}}


# One course per adequacy drug (gmg/adequacy.py), at 70 kg: adequate, inadequate or still short.
HISTORIES: dict[str, list[dict[str, Any]]] = {
    "prednisone": [statement("pred", "prednisone", "2025-01-10", "2025-06-30", "completed", 40)],
    "prednisolone (too low)": [statement("pdl", "prednisolone", "2025-01-10", None, "active", 10)],
    "methylprednisolone": [statement("mp", "methylprednisolone", "2025-03-01", "2025-09-01", "stopped", 16, frequency=2)],
    "azathioprine": [statement("aza", "azathioprine", "2025-02-01", None, "active", 50, frequency=3)],
    "azathioprine (still short)": [statement("aza", "azathioprine", "2026-09-01", None, "active", 150)],
    "methotrexate": [statement("mtx", "methotrexate", "2025-03-01", None, "active", 15, unit="wk")],
    "mycophenolate mofetil": [statement("mmf", "mycophenolate-mofetil", "2025-03-01", "2026-06-01", "stopped", 1000, frequency=2)],
    "mycophenolic acid": [statement("mpa", "mycophenolic-acid", "2025-03-01", None, "active", 360, frequency=2)],
    "cyclophosphamide": [statement("cyc", "cyclophosphamide", "2024-01-01", "2024-07-01", "completed", 100)],
    "tacrolimus": [statement("tac", "tacrolimus", "2025-01-01", None, "active", 1.5, frequency=2)],
    "cyclosporine": [statement("csa", "cyclosporine", "2025-01-01", None, "active", 75, frequency=2)],
    "steroid then azathioprine": [
        statement("pred", "prednisone", "2024-06-01", "2024-12-31", "completed", 35),
        statement("aza", "azathioprine", "2024-09-01", None, "active", 125),
    ],
}
LEVELS = [trough("tac-1", "tacrolimus-trough", 6.1, "2025-06-01"), trough("tac-2", "tacrolimus-trough", 5.4, "2026-03-01"),
          trough("csa-1", "cyclosporine-trough", 140, "2025-06-01")]


def chart(resources: list[dict[str, Any]]) -> dict[str, Any]:
    pf = prefetch(observations=LEVELS)
    key = "medicationStatements" if resources and resources[0]["resourceType"] == "MedicationStatement" else "medicationRequests"
    pf[key] = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}
    return pf


@pytest.mark.parametrize("where", ["bounds", "validity"])
@pytest.mark.parametrize("name", list(HISTORIES))
def test_the_same_course_as_requests_gives_the_same_exposures_and_adequacy(name, where):
    statements = HISTORIES[name]
    params = context.parameters()
    by_statement = build_record(chart(statements), PID, TODAY)
    assert by_statement.exposures, name
    for intent in ("order", "plan", "original-order"):
        by_request = build_record(chart([as_request(s, where, intent) for s in statements]), PID, TODAY)
        assert [e.kind for e in by_request.exposures] == ["request"] * len(by_statement.exposures)
        expected = [{**asdict(e), "kind": None} for e in by_statement.exposures]
        assert same_shape([{**asdict(e), "kind": None} for e in by_request.exposures]) == same_shape(expected), (name, intent)
        a, b = conventional_therapy(by_statement, params), conventional_therapy(by_request, params)
        assert same_shape(asdict(b)) == same_shape(asdict(a)), (name, where, intent)


def test_the_histories_cover_every_adequacy_drug_and_all_outcomes():
    params = context.parameters()
    drugs: set[str] = set()
    outcomes: set[str] = set()
    for statements in HISTORIES.values():
        conv = conventional_therapy(build_record(chart(statements), PID, TODAY), params)
        for d in (conv.steroid, *conv.nsists):
            drugs |= set(d.ingredients)
            outcomes.add(d.status)
    assert drugs >= {"prednisone", "prednisolone", "methylprednisolone", "azathioprine", "methotrexate",
                     "mycophenolate-mofetil", "mycophenolic-acid", "cyclophosphamide", "tacrolimus", "cyclosporine"}
    assert {"adequate", "inadequate"} <= outcomes


BIOLOGICS = {
    "rituximab": [statement("rtx1", "rituximab", "2026-05-01", "2026-05-01", "completed", 1000, route="47625008"),
                  statement("rtx2", "rituximab", "2026-05-15", "2026-05-15", "completed", 1000, route="47625008")],
    "eculizumab": [statement("ecu", "eculizumab", "2026-03-01", None, "active", 1200, period=2, unit="wk", route="47625008")],
    "efgartigimod": [statement("efg", "efgartigimod", "2026-10-20", "2026-11-10", "completed", 700, unit="wk", route="47625008")],
    "ravulizumab": [statement("ravu", "ravulizumab", "2026-01-10", None, "active", 3300, period=8, unit="wk", route="47625008")],
}


@pytest.mark.parametrize("where", ["bounds", "validity"])
@pytest.mark.parametrize("name", list(BIOLOGICS))
def test_biologic_exposure_is_the_same_as_requests(name, where):
    statements = BIOLOGICS[name]
    a = build_record(chart(statements), PID, TODAY)
    b = build_record(chart([as_request(s, where) for s in statements]), PID, TODAY)
    assert a.exposures and same_shape([{**asdict(e), "kind": None} for e in b.exposures]) == same_shape(
        [{**asdict(e), "kind": None} for e in a.exposures])
    # and what the cards say about them (therapy options, washouts, trials)
    assert _cards(chart([as_request(s, where) for s in statements])) == _cards(chart(statements))


def _cards(pf: dict[str, Any], patient_id: str = PID, today: date = TODAY) -> str:
    cards = patient_view.handle(HookCall(service_id="gmg-patient-view", hook="patient-view", hook_instance="h",
                                         context={"patientId": patient_id, "userId": "Practitioner/1"}, prefetch=pf,
                                         unavailable=frozenset(), today=today))
    return same_shape([{"findings": c.findings, "summary": c.summary, "detail": c.detail} for c in cards])


@pytest.mark.parametrize("where", ["bounds", "validity"])
@pytest.mark.parametrize("path", sorted(p.name for p in DEMO.glob("*.json")))
def test_every_demo_patient_gives_the_same_cards_from_requests(path, where):
    bundle = json.loads((DEMO / path).read_text())
    pf, patient_id = prefetch_from_bundle(bundle)
    statements = [e["resource"] for e in pf["medicationStatements"]["entry"]]
    converted = copy.deepcopy(pf)
    converted["medicationStatements"] = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    converted["medicationRequests"]["entry"] += [{"resource": as_request(s, where)} for s in statements]
    # references to the courses (an adverse event's suspect drug) point at the requests now
    converted = json.loads(json.dumps(converted).replace('"MedicationStatement/', '"MedicationRequest/'))
    assert _cards(converted, patient_id) == _cards(pf, patient_id)
