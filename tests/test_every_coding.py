"""Every coding, not the first (issue #14 point 3): a reader takes the first coding of the kind it
wants wherever it stands in the CodeableConcept, and systems are matched in every spelling real
data uses (OIDs with and without `urn:oid:`, http/https, a trailing slash)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import terminology
from fhir_mappings import build_record
from fhir_mappings.orders import draft_orders
from terminology import systems
from tests.test_order_hooks import PID, TODAY, bundle, med, prefetch

WHEN = (TODAY - timedelta(days=30)).isoformat()
EPIC_LAB = {"system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.768282", "code": "4471", "display": "ACHR BINDING AB"}
PREGNANT_FINDING = {"system": systems.SNOMED, "code": "77386006"}  # a condition concept, not a result
POSITIVE = {"system": systems.SNOMED, "code": "10828004"}


def obs(rid: str, codings: list[dict[str, Any]], **value: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": rid, "status": "final", "subject": {"reference": f"Patient/{PID}"},
            "code": {"coding": codings}, "effectiveDateTime": WHEN, **value}


def record(*observations: dict[str, Any], **keys: Any):
    pf = prefetch(observations=list(observations))
    pf["observations"]["entry"] = [e for e in pf["observations"]["entry"] if e["resource"]["id"] != "achr"]
    pf.update(keys)
    return build_record(pf, PID, TODAY)


@pytest.mark.parametrize("system", [
    systems.LOINC, systems.LOINC + "/", "https://loinc.org", "urn:oid:2.16.840.1.113883.6.1",
    "2.16.840.1.113883.6.1", "URN:OID:2.16.840.1.113883.6.1", " urn:oid:2.16.840.1.113883.6.1 ",
])
def test_every_spelling_of_a_system(system):
    assert terminology.concept_for(system, "11034-6").key == "achr-binding"


def test_a_site_lab_coding_before_loinc_does_not_hide_it():
    r = record(obs("a", [EPIC_LAB, {"system": "2.16.840.1.113883.6.1", "code": "11034-6"}], valueCodeableConcept={"coding": [POSITIVE]}))
    assert [(a.target, a.result) for a in r.antibodies] == [("achr-binding", "positive")]


def test_a_coding_of_another_kind_first_does_not_hide_the_observation():
    """The code's first coding is recognised, but as a condition: the LOINC behind it counts."""
    r = record(obs("p", [PREGNANT_FINDING, {"system": systems.LOINC, "code": "82810-3"}],
                   valueCodeableConcept={"coding": [PREGNANT_FINDING]}))
    assert r.pregnancy.state == "pregnant" and r.pregnancy.source == "Observation/p"


def test_values_methods_and_components_are_read_from_any_coding():
    achr = obs("a", [{"system": systems.LOINC, "code": "11034-6"}],
               valueCodeableConcept={"coding": [PREGNANT_FINDING, POSITIVE]},
               method={"coding": [{"system": "urn:oid:1.2.3", "code": "x"}, PREGNANT_FINDING,
                                  {"system": systems.ANTIBODY_ASSAY, "code": "cba"}]})
    systolic = terminology.coding_for("bp-systolic", systems.LOINC)
    diastolic = terminology.coding_for("bp-diastolic", systems.LOINC)
    panel = terminology.coding_for("bp-panel", systems.LOINC)
    bp = obs("bp", [{"system": systems.LOINC, "code": panel.code}], component=[
        {"code": {"coding": [PREGNANT_FINDING, {"system": systems.LOINC, "code": systolic.code}]},
         "valueQuantity": {"value": 92, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
        {"code": {"coding": [{"system": "urn:oid:2.16.840.1.113883.6.1", "code": diastolic.code}]},
         "valueQuantity": {"value": 61, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}])
    r = record(achr, bp)
    assert [(a.result, a.assay) for a in r.antibodies] == [("positive", "cba")]
    assert sorted((m.concept, m.value) for m in r.measurements if m.concept.startswith("bp-")) == [
        ("bp-diastolic", 61), ("bp-systolic", 92)]


def test_a_status_coding_of_the_ehr_before_the_hl7_one():
    """Epic may send its own status coding first: the HL7 clinical status decides."""
    pf = prefetch()
    cond = pf["conditions"]["entry"][0]["resource"]
    cond["clinicalStatus"] = {"coding": [{"system": "urn:oid:1.2.840.114350.1.13.0.1.7.4.698084.43", "code": "1", "display": "Active"},
                                         {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]}
    r = build_record(pf, PID, TODAY)
    assert [c.clinical_status for c in r.conditions] == ["active"] and r.conditions[0].is_active


def test_a_vaccine_coded_cvx_by_its_oid():
    imm = {"resourceType": "Immunization", "id": "i", "status": "completed", "patient": {"reference": f"Patient/{PID}"},
           "occurrenceDateTime": WHEN,
           "vaccineCode": {"coding": [{"system": "https://fhir.cerner.com/ec2458f2/codeSet/72", "code": "2758"},
                                      {"system": "2.16.840.1.113883.12.292", "code": "163"}]}}
    r = record(immunizations=bundle(imm))
    assert [(i.concept, i.cvx) for i in r.immunizations] == [("menb", "163")]


def test_an_interpretation_by_its_oid():
    r = record(obs("a", [{"system": systems.LOINC, "code": "11034-6"}],
                   interpretation=[{"coding": [{"system": "urn:oid:2.16.840.1.113883.5.83", "code": "POS"}]}]))
    assert [a.result for a in r.antibodies] == ["positive"]


def test_epic_medication_codings_the_ingredient_after_products_and_drug_databases():
    draft = med("m", "x", medicationCodeableConcept={"coding": [
        {"system": "urn:oid:2.16.840.1.113883.6.253", "code": "12345", "display": "CIPROFLOXACIN HCL 500 MG PO TABS"},
        {"system": systems.RXNORM, "code": "990000002", "display": "ciprofloxacin 500 MG Oral Tablet [Cipro]"},
        {"system": "urn:oid:2.16.840.1.113883.6.88", "code": "2551"}]})
    (o,) = draft_orders({"draftOrders": bundle(draft)}, "order-sign", TODAY)
    assert (o.concept, o.recognised_by) == ("ciprofloxacin", None)  # by its ingredient code, not by name
    assert o.code == "urn:oid:2.16.840.1.113883.6.88|2551"
