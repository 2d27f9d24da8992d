"""The drafts an order-safety card proposes are built by the same builders as the patient-view
drafts (fhir_mappings.suggestions): one code policy (e.g. the same MenACWY product everywhere),
valid FHIR R4B."""

from datetime import date

import pytest
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest

from fhir_mappings import suggestions
from gmg.record import PatientRecord
from hooks.order_cards import drug_request, lab_request, procedure_request, vaccine_request
from terminology import systems

RECORD = PatientRecord(patient_id="p1", today=date(2026, 11, 22))
START = date(2026, 11, 23)


@pytest.mark.parametrize("build,model,system,key", [
    (lambda: lab_request(RECORD, "iga"), ServiceRequest, systems.LOINC, "iga"),
    (lambda: vaccine_request(RECORD, "menacwy"), MedicationRequest, systems.CVX, "menacwy"),
    (lambda: vaccine_request(RECORD, "menb"), MedicationRequest, systems.CVX, "menb"),
    (lambda: procedure_request(RECORD, "plex", START), ServiceRequest, systems.SNOMED, "plex"),
    (lambda: drug_request(RECORD, "eculizumab", START, 300.0, "supplemental dose"), MedicationRequest,
     systems.RXNORM, "eculizumab"),
])
def test_order_card_drafts_share_the_code_policy_and_validate(build, model, system, key):
    res = build()
    model.model_validate(res)
    concept = res.get("code") or res["medicationCodeableConcept"]
    assert concept["coding"][0] == suggestions.coding(key, system)
    assert res["status"] == "draft" and res["intent"] == "proposal"
    assert res["subject"] == {"reference": "Patient/p1"}


def test_the_same_vaccine_product_in_patient_view_and_order_cards():
    pv = suggestions.vaccine_proposal("p1", "menacwy")["medicationCodeableConcept"]["coding"][0]
    order = vaccine_request(RECORD, "menacwy")["medicationCodeableConcept"]["coding"][0]
    assert pv == order and pv["code"] == "136"


def test_the_dose_and_start_of_a_drug_draft():
    res = drug_request(RECORD, "eculizumab", START, 300.0, "supplemental dose")
    dosage = res["dosageInstruction"][0]
    assert dosage["doseAndRate"][0]["doseQuantity"] == {"value": 300.0, "unit": "mg", "system": systems.UCUM, "code": "mg"}
    assert dosage["timing"]["repeat"]["boundsPeriod"]["start"] == "2026-11-23"
    assert dosage["route"]["coding"][0]["code"] == "47625008"
