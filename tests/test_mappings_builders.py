"""FHIR JSON as EHRs send it (US Core shapes in searchset Bundles), shared by the mapping tests,
and the tests of the prefetch layer (bundles, other patients, duplicates, pagination).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fhir_mappings import build_record
from gmg.record import PatientRecord
from fhir_mappings.prefetch import KEY_FOR_TYPE

BASE = "https://ehr.example.org/fhir"
PID = "pat-1"
TODAY = date(2026, 11, 22)

LOINC = "http://loinc.org"
SCT = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
CVX = "http://hl7.org/fhir/sid/cvx"
CPT = "http://www.ama-assn.org/go/cpt"
GMG = "https://gmg-cds.github.io/fhir"
MG_SCORES = GMG + "/CodeSystem/mg-scores"
INTERP = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"

PREFETCH_KEY = KEY_FOR_TYPE


def cc(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding], "text": display or code}


def patient(pid: str = PID, birth: str = "1980-05-17", gender: str = "female") -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]},
        "identifier": [{"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "12345"}],
        "name": [{"family": "Example", "given": ["Pat"]}],
        "gender": gender,
        "birthDate": birth,
    }


def obs(
    rid: str,
    system: str,
    code: str,
    when: str = "2026-10-01T09:30:00-04:00",
    *,
    category: str = "laboratory",
    pid: str = PID,
    **extra: Any,
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [cc("http://terminology.hl7.org/CodeSystem/observation-category", category)],
        "code": cc(system, code),
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when,
    }
    res.update(extra)
    return res


def qty(value: Any, unit: str | None = None, **extra: Any) -> dict[str, Any]:
    q: dict[str, Any] = {"value": value}
    if unit is not None:
        q.update({"unit": unit, "system": UCUM, "code": unit})
    q.update(extra)
    return q


def med_request(
    rid: str,
    rxnorm: str,
    *,
    status: str = "active",
    authored: str = "2026-01-10",
    dose: dict[str, Any] | None = None,
    frequency: int | None = 1,
    period: float | None = 1,
    period_unit: str = "d",
    bounds: dict[str, Any] | None = None,
    route: str | None = "26643006",
    text: str | None = None,
    pid: str = PID,
    **extra: Any,
) -> dict[str, Any]:
    dosage: dict[str, Any] = {}
    if text:
        dosage["text"] = text
    repeat: dict[str, Any] = {}
    if frequency is not None:
        repeat["frequency"] = frequency
    if period is not None:
        repeat.update({"period": period, "periodUnit": period_unit})
    if bounds:
        repeat["boundsPeriod"] = bounds
    if repeat:
        dosage["timing"] = {"repeat": repeat}
    if route:
        dosage["route"] = cc(SCT, route)
    if dose is not None:
        dosage["doseAndRate"] = [{"type": cc("http://terminology.hl7.org/CodeSystem/dose-rate-type", "ordered"), "doseQuantity": dose}]
    res: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": cc(RXNORM, rxnorm),
        "subject": {"reference": f"Patient/{pid}"},
        "authoredOn": authored,
        "dosageInstruction": [dosage] if dosage else [],
    }
    if not res["dosageInstruction"]:
        del res["dosageInstruction"]
    res.update(extra)
    return res


def med_statement(
    rid: str,
    rxnorm: str,
    *,
    status: str = "active",
    start: str = "2026-01-10",
    end: str | None = None,
    dose: dict[str, Any] | None = None,
    frequency: int = 1,
    period: float = 1,
    period_unit: str = "d",
    route: str | None = "26643006",
    text: str | None = None,
    pid: str = PID,
) -> dict[str, Any]:
    dosage: dict[str, Any] = {"timing": {"repeat": {"frequency": frequency, "period": period, "periodUnit": period_unit}}}
    if route:
        dosage["route"] = cc(SCT, route)
    if dose is not None:
        dosage["doseAndRate"] = [{"doseQuantity": dose}]
    if text:
        dosage["text"] = text
    eff: dict[str, Any] = {"start": start}
    if end:
        eff["end"] = end
    return {
        "resourceType": "MedicationStatement",
        "id": rid,
        "status": status,
        "medicationCodeableConcept": cc(RXNORM, rxnorm),
        "subject": {"reference": f"Patient/{pid}"},
        "effectivePeriod": eff,
        "dosage": [dosage],
    }


def med_admin(
    rid: str,
    rxnorm: str | None,
    when: str,
    *,
    dose: dict[str, Any] | None = None,
    route: str | None = "47625008",
    status: str = "completed",
    pid: str = PID,
    **extra: Any,
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "MedicationAdministration",
        "id": rid,
        "status": status,
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when,
    }
    if rxnorm is not None:
        res["medicationCodeableConcept"] = cc(RXNORM, rxnorm)
    dosage: dict[str, Any] = {}
    if dose is not None:
        dosage["dose"] = dose
    if route:
        dosage["route"] = cc(SCT, route)
    if dosage:
        res["dosage"] = dosage
    res.update(extra)
    return res


def procedure(rid: str, system: str, code: str, performed: str | dict[str, Any], *, status: str = "completed", pid: str = PID) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Procedure",
        "id": rid,
        "status": status,
        "code": cc(system, code),
        "subject": {"reference": f"Patient/{pid}"},
    }
    if isinstance(performed, dict):
        res["performedPeriod"] = performed
    else:
        res["performedDateTime"] = performed
    return res


def condition(rid: str, system: str, code: str, *, onset: str | None = "2019-03-02", clinical: str = "active", verification: str = "confirmed", pid: str = PID, **extra: Any) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Condition",
        "id": rid,
        "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-condition-problems-health-concerns"]},
        "clinicalStatus": cc("http://terminology.hl7.org/CodeSystem/condition-clinical", clinical),
        "verificationStatus": cc("http://terminology.hl7.org/CodeSystem/condition-ver-status", verification),
        "category": [cc("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item")],
        "code": cc(system, code),
        "subject": {"reference": f"Patient/{pid}"},
        "recordedDate": "2019-04-01",
    }
    if onset:
        res["onsetDateTime"] = onset
    res.update(extra)
    return res


def searchset(resources: list[dict[str, Any]], *, include: list[dict[str, Any]] = (), **extra: Any) -> dict[str, Any]:
    entries = [
        {"fullUrl": f"{BASE}/{r['resourceType']}/{r.get('id')}", "resource": r, "search": {"mode": "match"}}
        for r in resources
    ] + [
        {"fullUrl": f"{BASE}/{r['resourceType']}/{r.get('id')}", "resource": r, "search": {"mode": "include"}}
        for r in include
    ]
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(resources), "entry": entries}
    bundle.update(extra)
    return bundle


def prefetch_of(*resources: dict[str, Any], with_patient: bool = True) -> dict[str, Any]:
    """Group resources into prefetch keys, each a searchset Bundle (patient as a resource)."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for r in resources:
        grouped.setdefault(PREFETCH_KEY[r["resourceType"]], []).append(r)
    out: dict[str, Any] = {k: searchset(v) for k, v in grouped.items() if k != "patient"}
    out["patient"] = grouped.get("patient", [patient()])[0] if with_patient else None
    return out


def record_of(*resources: dict[str, Any], **kwargs: Any) -> PatientRecord:
    return build_record(prefetch_of(*resources), PID, TODAY, **kwargs)


def issues(record: PatientRecord, source: str | None = None) -> list[str]:
    return [n.issue for n in record.notes if source is None or n.source == source]


# -- tests of the prefetch layer -------------------------------------------------------------


def test_patient_demographics_and_age() -> None:
    r = record_of(patient(birth="1980-11-23", gender="female"))
    assert r.birth_date == date(1980, 11, 23)
    assert r.sex == "female"
    assert r.age == 45  # birthday is tomorrow


def test_patient_of_another_id_is_ignored() -> None:
    r = build_record({"patient": patient("someone-else")}, PID, TODAY)
    assert r.birth_date is None
    assert any("another patient" in n.issue for n in r.notes)


def test_entries_of_other_patients_and_other_types_are_ignored() -> None:
    mine = obs("w1", LOINC, "29463-7", category="vital-signs", valueQuantity=qty(70, "kg"))
    theirs = obs("w2", LOINC, "29463-7", category="vital-signs", valueQuantity=qty(99, "kg"), pid="other")
    bundle = searchset([mine, theirs], include=[{"resourceType": "Practitioner", "id": "dr"}])
    bundle["entry"].append({"resource": {"resourceType": "OperationOutcome", "issue": [{"severity": "warning", "code": "informational"}]}, "search": {"mode": "outcome"}})
    r = build_record({"patient": patient(), "observations": bundle, "unknownKey": {"x": 1}}, PID, TODAY)
    assert [m.value for m in r.measurements_of("weight")] == [70.0]
    assert any("another patient" in n.issue for n in r.notes)
    assert any("OperationOutcome" in n.issue for n in r.notes)


def test_absolute_and_urn_subject_references_match_the_patient() -> None:
    a = obs("a", LOINC, "29463-7", valueQuantity=qty(70, "kg"))
    a["subject"] = {"reference": f"{BASE}/Patient/{PID}"}
    b = obs("b", LOINC, "29463-7", "2026-10-02", valueQuantity=qty(71, "kg"))
    b["subject"] = {"reference": f"urn:uuid:{PID}"}
    r = record_of(a, b)
    assert [m.value for m in r.measurements_of("weight")] == [70.0, 71.0]


def test_same_resource_under_two_keys_counts_once() -> None:
    w = obs("w1", LOINC, "29463-7", valueQuantity=qty(70, "kg"))
    pre = {"patient": patient(), "observations": searchset([w, w])}
    r = build_record(pre, PID, TODAY)
    assert len(r.measurements_of("weight")) == 1


def test_null_and_operation_outcome_keys_and_unavailable_are_kept_as_given() -> None:
    pre = {
        "patient": patient(),
        "conditions": None,
        "procedures": {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]},
        "observations": "not json object",
    }
    r = build_record(pre, PID, TODAY, unavailable=frozenset({"procedures"}))
    assert r.unavailable == frozenset({"procedures"})
    sources = {n.source for n in r.notes}
    assert "prefetch:procedures" in sources and "prefetch:observations" in sources


def test_paginated_bundle_is_noted_as_incomplete() -> None:
    bundle = searchset([], link=[{"relation": "next", "url": f"{BASE}/Observation?page=2"}])
    r = build_record({"patient": patient(), "observations": bundle}, PID, TODAY)
    assert any("further pages" in n.issue for n in r.notes)


def test_prefetch_that_is_not_a_mapping_does_not_crash() -> None:
    r = build_record(None, PID, TODAY)  # type: ignore[arg-type]
    assert r.patient_id == PID and r.notes
