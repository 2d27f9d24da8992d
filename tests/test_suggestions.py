"""Suggestion resources (fhir_mappings/suggestions.py) validate as FHIR R4B, and the therapy cards
carry them as one-click suggestions with the computed dose (gmg-rules.md §8, §9)."""

from __future__ import annotations

from datetime import date

import pytest
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest

from fhir_mappings import suggestions as fhir
from gmg.parameters import load
from hooks.cards import STANDARD_OVERRIDE_REASONS
from hooks.therapy_cards import therapy_cards
from therapy_fixtures import FakeAssessment, cond, record

P = load()
MODELS = {"MedicationRequest": MedicationRequest, "ServiceRequest": ServiceRequest}


def validate(resource):
    return MODELS[resource["resourceType"]].model_validate(resource)


def test_medication_proposal_shape_and_r4b():
    order = {"ingredient": "ravulizumab", "dose_mg": 2700.0, "route": "iv", "text": "2700 mg IV loading dose",
             "timing": {"count": 1}}
    res = fhir.medication_proposal("pt1", order, start=date(2026, 12, 1))
    mr = validate(res)
    assert mr.status == "draft" and mr.intent == "proposal"
    assert res["subject"] == {"reference": "Patient/pt1"}
    coding = res["medicationCodeableConcept"]["coding"][0]
    assert coding["system"] == "http://www.nlm.nih.gov/research/umls/rxnorm" and coding["code"] == "2107301"
    dq = res["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]
    assert dq == {"value": 2700.0, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}
    assert res["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]["start"] == "2026-12-01"
    assert res["dosageInstruction"][0]["route"]["coding"][0]["code"] == "47625008"


def test_vaccine_lab_and_procedure_proposals_r4b():
    vac = fhir.vaccine_proposal("pt1", "menacwy", "before C5")
    validate(vac)
    assert vac["medicationCodeableConcept"]["coding"][0] == {
        "system": "http://hl7.org/fhir/sid/cvx", "code": "136", "display": vac["medicationCodeableConcept"]["coding"][0]["display"]}
    lab = fhir.lab_proposal("pt1", "hbsag")
    validate(lab)
    assert lab["code"]["coding"][0]["code"] == "5196-1" and lab["intent"] == "proposal"
    plex = fhir.procedure_proposal("pt1", "plex", "PLEX 3-6 exchanges")
    validate(plex)
    assert plex["code"]["coding"][0]["code"] == "225067007"


def test_unknown_concept_still_valid_without_coding():
    res = fhir.lab_proposal("pt1", "no-such-test")
    validate(res)
    assert "coding" not in res["code"] and res["code"]["text"]


def all_resources(cards):
    return [a["resource"] for c in cards for s in c.to_json().get("suggestions", []) for a in s["actions"]]


def test_therapy_cards_suggestions_validate_and_carry_doses():
    cards = therapy_cards(record(), FakeAssessment(serotype="achr"), P)
    assert len(cards) == 2
    opts = cards[0].to_json()
    assert opts["selectionBehavior"] == "any"
    assert {r["code"] for r in opts["overrideReasons"]} == {r.code for r in STANDARD_OVERRIDE_REASONS}
    resources = all_resources(cards)
    for r in resources:
        validate(r)
    meds = [r for r in resources if r["resourceType"] == "MedicationRequest"
            and r["medicationCodeableConcept"].get("coding", [{}])[0].get("system", "").endswith("rxnorm")]
    by_code = {r["medicationCodeableConcept"]["coding"][0]["code"]: r for r in meds}
    assert by_code["2672489"]["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 23.0  # zilucoplan 72 kg
    assert "5666" not in by_code  # no IVIG drafted for an exacerbation that has not occurred
    acute = {r["medicationCodeableConcept"]["coding"][0]["code"]: r
             for r in all_resources(therapy_cards(record(), FakeAssessment(serotype="achr", acute=True), P))
             if r["resourceType"] == "MedicationRequest" and r["medicationCodeableConcept"].get("coding")}
    ivig = acute["5666"]["dosageInstruction"][0]  # during one, drafted with its dose for this weight
    assert ivig["doseAndRate"][0]["doseQuantity"]["value"] == 28800.0 and "144 g total" in ivig["text"]
    vaccines = [r for r in resources if r["resourceType"] == "MedicationRequest"
                and r["medicationCodeableConcept"]["coding"][0]["system"] == "http://hl7.org/fhir/sid/cvx"]
    assert len(vaccines) == 2
    labs = {r["code"]["coding"][0]["code"] for r in resources if r["resourceType"] == "ServiceRequest"}
    assert {"5196-1", "16933-4", "3040-3", "1798-8", "2465-3"} <= labs and "225067007" not in labs  # no PLEX yet
    codes = [f["code"] for f in opts["extension"]["gmg-cds"]["findings"]]
    assert codes[0] == "therapy.c5-inhibitor"
    assert len(opts["summary"]) < 140


def test_acute_puts_rapid_card_first_and_pregnancy_has_no_biologic_orders():
    cards = therapy_cards(record(), FakeAssessment(acute=True), P)
    assert cards[0].finding_codes[0].startswith("rescue.")
    assert cards[0].summary.startswith("Exacerbation now")
    preg = record(conditions=record().conditions + (cond("pregnancy", date(2026, 9, 1)),))
    cards = therapy_cards(preg, FakeAssessment(), P)
    rx = [r["medicationCodeableConcept"]["coding"][0]["code"] for r in all_resources(cards[:1])
          if r["resourceType"] == "MedicationRequest"]
    assert rx and set(rx) <= {"42316"}  # only tacrolimus is proposed


@pytest.mark.parametrize("serotype", ["musk", "seronegative", "unconfirmed", "unknown", "lrp4"])
def test_cards_build_for_every_serotype(serotype):
    cards = therapy_cards(record(), FakeAssessment(serotype=serotype), P)
    assert cards and all(c.to_json()["extension"]["gmg-cds"]["findings"] for c in cards)
    for r in all_resources(cards):
        validate(r)
