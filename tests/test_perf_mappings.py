"""The fast paths of the per-resource dict pass give the same answers as the plain rules.

concept_for finds a system's codes through by_system and tries the code as sent before its
stripped form; concept_for_codings writes the same look-up out; dict_date remembers the date
strings of one build. Each is checked here against the rule it shortcuts.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import terminology
from fhir_mappings.common import MappingContext, concept_of
from fhir_mappings.prefetch import collect
from fhir_mappings.selection import dict_date
from terminology import systems


def _reference_lookup(system: Any, code: Any) -> terminology.Concept | None:
    """concept_for as written before the fast path: normalise the system, strip the code."""
    if not system or not code or not isinstance(system, str) or not isinstance(code, str):
        return None
    return terminology._index().by_code.get((terminology.normalise_system(system), code.strip()))


def test_concept_for_matches_the_normalising_lookup_for_every_spelling() -> None:
    index = terminology._index()
    canonical = sorted({system for system, _ in index.by_code})
    spellings = [*canonical, *(s + "/" for s in canonical), *systems.ALIASES, "http://example.org/x", "", 3]
    codes = [code for _, code in list(index.by_code)[::7]]
    codes += [f" {c}" for c in codes[:20]] + [f"{c}\n" for c in codes[:20]] + ["", " ", "unknown", None, 12]
    checked = 0
    for system in spellings:
        for code in codes:
            assert terminology.concept_for(system, code) is _reference_lookup(system, code), (system, code)
            checked += 1
    assert checked > 1000


def test_concept_for_codings_skips_other_domains_and_bad_items() -> None:
    azathioprine = terminology.coding_for("azathioprine", systems.RXNORM)
    weight = terminology.coding_for("weight", systems.LOINC)
    assert azathioprine is not None and weight is not None
    codings = [None, {"system": 3}, {"system": weight.system, "code": weight.code},
               {"system": azathioprine.system + "/", "code": f" {azathioprine.code} "}]
    assert terminology.concept_for_codings(codings).key == "weight"
    assert terminology.concept_for_codings(codings, ("medications",)).key == "azathioprine"
    assert terminology.concept_for_codings(codings, ("conditions",)) is None
    assert concept_of({"coding": codings}, "medications").key == "azathioprine"
    assert concept_of({"coding": {"system": weight.system, "code": weight.code}}) is None


def test_concept_attribute_reads_the_attributes() -> None:
    weight = terminology.concept("weight")
    assert weight.attribute("unit") == dict(weight.attributes)["unit"]
    assert weight.attribute("no-such-attribute", "default") == "default"


def test_dict_date_with_the_build_memo_equals_without() -> None:
    values: list[Any] = ["2020", "2020-01", "2020-01-05", "2020-13-01", "2020-01-05T10:00:00+01:00",
                         "2020-01-05T10:00:00", " 2020", "", None, 5, {"start": "2021-02-03"},
                         {"start": "2020-13-01", "end": "2020-01-01"}, {"end": "2021"}]
    memo: dict[str, date | None] = {}
    for _ in range(2):  # the second round answers from the memo
        for value in values:
            for key in ("effectiveDateTime", "effectiveInstant", "effectivePeriod"):
                raw = {key: value}
                assert dict_date(raw, memo) == dict_date(raw)
    assert dict_date({"effectiveDateTime": "2020-02-30"}, memo) is None
    assert memo and all(isinstance(k, str) for k in memo)


def test_collect_keeps_the_patient_rules_and_notes_on_hostile_input() -> None:
    def bundle(*entries: Any) -> dict[str, Any]:
        return {"resourceType": "Bundle", "entry": list(entries)}

    ours = {"reference": "Patient/p1"}
    prefetch = {
        "patient": {"resourceType": "Patient", "id": "p1"},
        "observations": bundle(
            {"resource": {"resourceType": "Observation", "id": "o1", "subject": ours}},
            {"resource": {"resourceType": "Observation", "id": "o1", "subject": ours}},  # duplicate
            {"resource": {"resourceType": "Observation", "id": "o2",
                          "subject": {"reference": "http://ehr/fhir/Patient/p1/_history/3"}}},
            {"resource": {"resourceType": "Observation", "id": "o3", "subject": {"reference": "Patient/p2"}}},
            {"resource": {"resourceType": "Observation", "id": "", "subject": 5}},  # no id, no subject
            {"resource": {"resourceType": "OperationOutcome"}},
            {"resource": {"resourceType": 5}},
            7,
        ),
        "medicationRequests": bundle(
            {"fullUrl": "urn:uuid:m1", "resource": {"resourceType": "Medication", "id": "m1"}},
            {"resource": {"resourceType": "MedicationRequest", "id": "r1", "subject": ours}},
        ),
        "immunizations": {"resourceType": "Immunization", "id": "i1", "patient": {"reference": "urn:uuid:p1"}},
        "allergies": "not a bundle",
    }
    ctx = MappingContext(patient_id="p1", today=date(2026, 11, 22))
    res = collect(prefetch, ctx)
    assert [r["id"] for r in res.of("Observation")] == ["o1", "o2", ""]
    assert [r["id"] for r in res.of("Immunization")] == ["i1"]
    assert [r["id"] for r in res.of("MedicationRequest")] == ["r1"]
    assert res.of("Medication") == []
    assert set(ctx.index) == {"Medication/m1", "urn:uuid:m1", "MedicationRequest/r1"}
    assert [(n.source, n.issue) for n in ctx.notes] == [
        ("prefetch:observations", "Bundle carries an OperationOutcome entry; data may be incomplete"),
        ("prefetch:observations", "2 Bundle entries without a resource; ignored"),
        ("prefetch:observations", "1 resources of another patient; ignored"),
        ("prefetch:allergies", "not a FHIR resource or Bundle; ignored"),
    ]
