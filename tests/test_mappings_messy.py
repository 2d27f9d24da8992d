"""Messy charts: partial dates, timezones, invalid resources, missing units, broken references,
entered-in-error. Nothing crashes, nothing is guessed, what was skipped becomes a note without
patient data."""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_mappings import build_record
from gmg.record import MG_ADL_ITEMS
from tests.test_mappings_builders import (
    LOINC,
    MG_SCORES,
    PID,
    RXNORM,
    SCT,
    TODAY,
    cc,
    condition,
    issues,
    med_admin,
    med_request,
    med_statement,
    obs,
    patient,
    prefetch_of,
    qty,
    record_of,
    searchset,
)

SECRET = "SECRET-PATIENT-TEXT-9f3"


def test_partial_dates_are_read_as_first_day_with_precision_and_note() -> None:
    r = record_of(
        obs("w", LOINC, "29463-7", "2025-03", valueQuantity=qty(70, "kg")),
        med_statement("ms", "1256", start="2025", dose=qty(100, "mg")),
    )
    (m,) = r.measurements
    assert (m.when, m.date_precision) == (date(2025, 3, 1), "month")
    (e,) = r.exposures
    assert (e.start, e.date_precision) == (date(2025, 1, 1), "year")
    assert any("partial date" in i for i in issues(r, "Observation/w"))
    assert any("partial date" in i for i in issues(r, "MedicationStatement/ms"))


def test_datetime_keeps_its_own_calendar_date_across_timezones() -> None:
    r = record_of(
        obs("a", LOINC, "29463-7", "2026-03-01T23:30:00-08:00", valueQuantity=qty(70, "kg")),
        obs("b", LOINC, "8302-2", "2026-03-02T00:15:00+09:00", valueQuantity=qty(170, "cm")),
        obs("c", LOINC, "4544-3", "2026-03-03T12:00:00Z", valueQuantity=qty(41, "%")),
    )
    assert [m.when for m in r.measurements] == [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]


def test_invalid_date_drops_the_element_and_then_the_undated_observation() -> None:
    r = record_of(obs("bad", LOINC, "29463-7", "2025-13-45", valueQuantity=qty(70, "kg")))
    assert r.measurements == ()
    found = issues(r, "Observation/bad")
    assert any("effectiveDateTime" in i for i in found) and any("without an effective date" in i for i in found)


def test_missing_required_status_skips_the_resource_with_a_note() -> None:
    o = obs("nostatus", LOINC, "29463-7", valueQuantity=qty(70, "kg"))
    del o["status"]
    r = record_of(o)
    assert r.measurements == ()
    assert any("not valid FHIR" in i and "skipped" in i for i in issues(r, "Observation/nostatus"))


def test_wrong_type_value_is_dropped_not_guessed() -> None:
    r = record_of(obs("wt", LOINC, "29463-7", valueQuantity={"value": "seventy", "unit": "kg", "code": "kg", "system": "http://unitsofmeasure.org"}))
    assert r.measurements == ()
    found = issues(r, "Observation/wt")
    assert any("valueQuantity.value" in i for i in found)


def test_wrong_shape_dosage_keeps_the_exposure_without_a_dose() -> None:
    rq = med_request("rq", "1256", dose=qty(100, "mg"))
    rq["dosageInstruction"] = {"text": "not a list"}
    r = record_of(rq)
    (e,) = r.exposures
    assert e.dose_mg is None and e.mg_per_day is None
    assert any("dosageInstruction" in i for i in issues(r, "MedicationRequest/rq"))


def test_unknown_element_inside_a_read_element_is_dropped_with_note() -> None:
    o = obs("x", LOINC, "29463-7", valueQuantity=dict(qty(70, "kg"), precision=2))  # not a Quantity element
    r = record_of(o)
    assert r.latest("weight").value == 70
    assert any("valueQuantity.precision" in i for i in issues(r, "Observation/x"))


def test_broken_elements_the_record_does_not_read_cost_nothing() -> None:
    o = obs("y", LOINC, "29463-7", valueQuantity=qty(70, "kg"))
    o["triggeredBy"] = [{"observation": {"reference": "Observation/z"}, "type": "reflex"}]  # R5 element
    o["performer"] = "Dr Nobody"  # wrong type
    o["text"] = {"status": "generated", "div": "<p>not xhtml-namespaced</p>"}
    r = record_of(o)
    assert r.latest("weight").value == 70
    assert issues(r, "Observation/y") == []


def test_garbage_entries_and_codes_do_not_crash() -> None:
    bundle = searchset([obs("ok", LOINC, "29463-7", valueQuantity=qty(70, "kg"))])
    bundle["entry"] += [
        "string entry",
        {"resource": None},
        {"resource": {"no": "type"}},
        {"resource": {"resourceType": "Observation", "id": "c1", "status": "final", "code": "29463-7"}},
        {"resource": {"resourceType": "Observation", "id": "c2", "status": "final", "code": {"coding": ["x", 3, None]}}},
        {"resource": {"resourceType": "Observation", "id": "c3", "status": "final", "code": {"coding": [{"system": 5, "code": ["29463-7"]}]}}},
        {"resource": {"resourceType": "MedicationRequest", "id": "m1", "status": "active", "medicationCodeableConcept": [1, 2]}},
    ]
    r = build_record({"patient": patient(), "observations": bundle, "medicationRequests": {"resourceType": "Bundle", "entry": "nope"}}, PID, TODAY)
    assert [m.source for m in r.measurements] == ["Observation/ok"]
    assert any("without a resource" in n.issue for n in r.notes)


def test_entered_in_error_is_left_out_everywhere() -> None:
    o = obs("o", LOINC, "29463-7", valueQuantity=qty(70, "kg"))
    o["status"] = "entered-in-error"
    c = condition("c", SCT, "230686005", verification="entered-in-error")
    m = med_statement("m", "8640", status="entered-in-error", dose=qty(10, "mg"))
    a = med_admin("a", "5666", "2026-02-01", status="entered-in-error")
    r = record_of(o, c, m, a)
    assert (r.measurements, r.conditions, r.exposures, r.rescue_courses) == ((), (), (), ())
    assert {n.source for n in r.notes} >= {"Observation/o", "Condition/c", "MedicationStatement/m", "MedicationAdministration/a"}


def test_medication_without_code_or_medication_is_noted() -> None:
    text_only = med_request("t", "0")
    text_only["medicationCodeableConcept"] = {"text": "azathioprine 50mg tabs"}
    none = med_request("n", "0")
    del none["medicationCodeableConcept"]
    r = record_of(text_only, none)
    assert r.exposures == ()
    assert any("text only" in i for i in issues(r, "MedicationRequest/t"))
    assert issues(r, "MedicationRequest/n")


def test_adl_components_with_garbage_values() -> None:
    o = obs("adl", MG_SCORES, "mg-adl-total", valueInteger=8)
    o["component"] = [{"code": cc(MG_SCORES, k), "valueString": "two"} for k in MG_ADL_ITEMS]
    r = record_of(o)
    assert r.mg_adl[0].total == 8 and r.mg_adl[0].items is None


def test_dose_range_and_sequential_dosages_are_not_guessed() -> None:
    rq = med_request("taper", "8640", dose=qty(60, "mg"))
    second = copy.deepcopy(rq["dosageInstruction"][0])
    second["doseAndRate"] = [{"doseQuantity": qty(40, "mg")}]
    rq["dosageInstruction"][0]["sequence"] = 1
    second["sequence"] = 2
    rq["dosageInstruction"].append(second)
    ranged = med_request("range", "1256")
    ranged["dosageInstruction"][0]["doseAndRate"] = [{"doseRange": {"low": qty(50, "mg"), "high": qty(100, "mg")}}]
    r = record_of(rq, ranged)
    by = {e.source: e for e in r.exposures}
    assert by["MedicationRequest/taper"].mg_per_day == 60
    assert any("first one" in i for i in issues(r, "MedicationRequest/taper"))
    assert by["MedicationRequest/range"].dose_mg is None
    assert any("range" in i for i in issues(r, "MedicationRequest/range"))


def test_concurrent_dosages_with_same_sequence_add_up() -> None:
    rq = med_request("split", "68149", dose=qty(1000, "mg"))
    evening = copy.deepcopy(rq["dosageInstruction"][0])
    evening["doseAndRate"] = [{"doseQuantity": qty(500, "mg")}]
    rq["dosageInstruction"][0]["sequence"] = 1
    evening["sequence"] = 1
    rq["dosageInstruction"].append(evening)
    (e,) = record_of(rq).exposures
    assert e.mg_per_day == 1500


def test_end_before_start_is_ignored_with_note() -> None:
    r = record_of(med_statement("ms", "1256", start="2026-05-01", end="2026-01-01", dose=qty(100, "mg")))
    assert r.exposures[0].end is None
    assert any("end date before start" in i for i in issues(r, "MedicationStatement/ms"))


def test_notes_carry_no_patient_data() -> None:
    p = patient()
    p["name"] = [{"family": SECRET}]
    o = obs("o1", LOINC, "29463-7", valueQuantity={"value": SECRET, "unit": SECRET})
    o["note"] = [{"text": SECRET}]
    o["effectiveDateTime"] = SECRET
    rq = med_request("rq", "1256", dose={"value": 100, "unit": SECRET}, text=SECRET)
    rq["authoredOn"] = SECRET
    r = build_record(prefetch_of(p, o, rq), PID, TODAY)
    assert r.notes
    assert all(SECRET not in n.issue and SECRET not in n.source for n in r.notes)


# -- fuzz: mutated valid resources never crash the build -------------------------------------

_VALID: list[dict[str, Any]] = [
    obs("f1", LOINC, "29463-7", valueQuantity=qty(70, "kg"), referenceRange=[{"low": qty(50, "kg")}]),
    obs("f2", LOINC, "11034-6", valueQuantity=qty(3, "nmol/L"), interpretation=[cc("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "H")]),
    med_request("f3", "8640", dose=qty(20, "mg"), bounds={"start": "2026-01-01"}),
    med_statement("f4", "1256", dose=qty(100, "mg")),
    med_admin("f5", "6902", "2026-03-01", dose=qty(1, "g")),
    condition("f6", SCT, "230686005"),
    {"resourceType": "AdverseEvent", "id": "f7", "actuality": "actual", "subject": {"reference": "Patient/pat-1"},
     "suspectEntity": [{"instance": {"reference": "MedicationStatement/f4"}}], "date": "2026-02-01"},
    {"resourceType": "AllergyIntolerance", "id": "f8", "patient": {"reference": "Patient/pat-1"}, "code": cc(RXNORM, "1256"),
     "type": "intolerance", "reaction": [{"manifestation": [cc(SCT, "1")], "severity": "severe"}]},
]
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


def _set(node: Any, path: tuple, value: Any) -> None:
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_resources_never_crash(data: st.DataObject) -> None:
    resources = copy.deepcopy(_VALID)
    for _ in range(data.draw(st.integers(1, 4))):
        res = data.draw(st.sampled_from(resources))
        paths = [p for p in _paths(res) if p[0] not in ("resourceType",)]
        path = data.draw(st.sampled_from(paths))
        _set(res, path, data.draw(_JSON))
    record = build_record(prefetch_of(*resources), PID, TODAY)
    json.dumps([n.issue for n in record.notes])  # notes are plain strings
    assert record.patient_id == PID


def test_datetime_without_timezone_keeps_its_date_with_note() -> None:
    r = record_of(obs("notz", LOINC, "29463-7", "2026-03-01T10:00:00", valueQuantity=qty(70, "kg")))
    (m,) = r.measurements
    assert m.when == date(2026, 3, 1)
    assert any("without a timezone" in i for i in issues(r, "Observation/notz"))
