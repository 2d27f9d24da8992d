"""Codes of the wrong JSON type (issue #15 F-5): a JSON number where FHIR wants a code string is
read as its digits, and a draft that cannot be read always yields the "could not be checked"
finding (data-gap.draft-order), never silence.

The attack review's reproduction: a levofloxacin draft whose RxNorm code arrived as a JSON number
got no card at all, where the same draft with the code as a string gets the MG-worsening warning.
"""

from __future__ import annotations

from typing import Any

import pytest

from fhir_mappings import build_record
from tests.test_order_hooks import PID, RXNORM, TODAY, all_codes, call, med, prefetch

LEVOFLOXACIN = 82122  # RxNorm ingredient, as the JSON number the review sent


def numeric(rid: str, code: Any) -> dict[str, Any]:
    return med(rid, "x", medicationCodeableConcept={"coding": [{"system": RXNORM, "code": code}]})


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_a_levofloxacin_code_sent_as_a_number_gets_its_card(hook):
    as_string = call(hook, [med("levo", str(LEVOFLOXACIN))])
    as_number = call(hook, [numeric("levo", LEVOFLOXACIN)])
    assert "safety.mg-worsening-drug" in all_codes(as_string)
    assert all_codes(as_number) == all_codes(as_string)


def test_a_number_written_as_a_float_is_read_as_its_digits():
    assert "safety.mg-worsening-drug" in all_codes(call("order-sign", [numeric("levo", float(LEVOFLOXACIN))]))


@pytest.mark.parametrize("bad_code", [True, {"value": "82122"}, ["82122"]])
@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_a_code_that_is_neither_text_nor_a_number_is_named_as_not_checked(hook, bad_code):
    cards = call(hook, [numeric("levo", bad_code)])
    assert all_codes(cards) == ["data-gap.draft-order"], (hook, bad_code)
    assert "MedicationRequest/levo" in cards[0].detail


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
@pytest.mark.parametrize("mcc", ["levofloxacin", ["x"], 82122])
def test_a_medication_that_is_not_a_codeable_concept_is_named_as_not_checked(hook, mcc):
    cards = call(hook, [med("levo", "x", medicationCodeableConcept=mcc)])
    assert all_codes(cards) == ["data-gap.draft-order"], (hook, mcc)


def test_codes_sent_as_numbers_in_the_chart_are_read():
    """The patient's own resources too: a condition's SNOMED code and a drug's RxNorm code."""
    pf = prefetch()
    pf["conditions"]["entry"][0]["resource"]["code"]["coding"][0]["code"] = 230686005
    pf["medicationRequests"] = {"resourceType": "Bundle", "entry": [{"resource": {
        "resourceType": "MedicationRequest", "id": "aza", "status": "active", "intent": "order",
        "subject": {"reference": f"Patient/{PID}"}, "authoredOn": "2026-01-01",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": 1256}]}}}]}
    record = build_record(pf, PID, TODAY)
    assert [c.concept for c in record.conditions] == ["mg-generalized"]
    assert record.conditions[0].code.endswith("|230686005")
    assert [e.ingredient for e in record.exposures] == ["azathioprine"]


def test_over_http_the_numeric_code_gets_its_card(client):
    """The review's request, through the service (local profile): a JSON number in the draft."""
    body = {
        "hookInstance": "5b0f7e5c-6f5d-4f6f-9d0a-1b2c3d4e5f60", "hook": "order-sign",
        "context": {"patientId": PID, "userId": "Practitioner/1", "draftOrders": {
            "resourceType": "Bundle", "entry": [{"resource": numeric("levo", LEVOFLOXACIN)}]}},
        "prefetch": prefetch(),
    }
    resp = client.post("/cds-services/gmg-order-sign", json=body)
    assert resp.status_code == 200
    codes = [f["code"] for c in resp.get_json()["cards"] for f in c["extension"]["gmg-cds"]["findings"]]
    assert "safety.mg-worsening-drug" in codes
