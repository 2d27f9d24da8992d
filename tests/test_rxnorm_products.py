"""RxNorm products and Medication resources: every order check fires on them exactly as on the
ingredient code (issue #14 point 5).

Order entry sends RxNorm product codes (SCD/SBD), Epic's drafts carry the Medication contained,
and a MedicationRequest may refer to a Medication elsewhere in the prefetch (an `_include`, or
one the service fetched). Products the terminology does not list are recognised by the
ingredient their RxNorm name begins with, and the card says so.

The product codes marked UNLISTED below are placeholders for "an RxNorm product code the
terminology does not list" (recognition is by the product's name; the code itself is not
claimed to be that product's RxCUI). 309309 is the RxCUI the issue names for ciprofloxacin
500 MG Oral Tablet.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

import terminology
from fhir_mappings import build_record
from fhir_mappings.orders import draft_orders
from tests.test_order_hooks import (
    PID,
    RXNORM,
    TODAY,
    all_codes,
    bundle,
    call,
    condition,
    med,
    prefetch,
)

CIPRO_500_TAB = "309309"  # ciprofloxacin 500 MG Oral Tablet (issue #14)
UNLISTED = "990000001"  # placeholder: an RxNorm product code the terminology does not list


def product(rid: str, code: str, display: str, **extra: Any) -> dict[str, Any]:
    return med(rid, code, medicationCodeableConcept={"coding": [{"system": RXNORM, "code": code, "display": display}]}, **extra)


def medication(mid: str, code: str, display: str) -> dict[str, Any]:
    return {"resourceType": "Medication", "id": mid, "code": {"coding": [{"system": RXNORM, "code": code, "display": display}]}}


def contained(rid: str, code: str, display: str) -> dict[str, Any]:
    r = med(rid, "unused")
    del r["medicationCodeableConcept"]
    r["contained"] = [medication("m1", code, display)]
    r["medicationReference"] = {"reference": "#m1", "display": display.upper()}
    return r


def referenced(rid: str, mid: str, display: str) -> dict[str, Any]:
    r = med(rid, "unused")
    del r["medicationCodeableConcept"]
    r["medicationReference"] = {"reference": f"Medication/{mid}", "display": display.upper()}
    return r


def with_included(pf: dict[str, Any], *meds: dict[str, Any]) -> dict[str, Any]:
    """The prefetch with Medications as `_include`d entries of the medicationRequests bundle
    (the seam with the service's own Medication fetch: fetched ones arrive the same way)."""
    pf = copy.deepcopy(pf)
    requests = pf.get("medicationRequests") or {"resourceType": "Bundle", "type": "searchset", "entry": []}
    requests["entry"] = [*requests.get("entry", []), *({"resource": m, "search": {"mode": "include"}} for m in meds)]
    pf["medicationRequests"] = requests
    return pf


def test_the_terminology_does_not_list_the_products_used_here():
    assert terminology.concept_for(RXNORM, CIPRO_500_TAB) is None
    assert terminology.concept_for(RXNORM, UNLISTED) is None


# -- the examples ------------------------------------------------------------------------


def test_ciprofloxacin_500_mg_tablets_get_the_mg_worsening_warning():
    cards = call("order-sign", [product("cip", CIPRO_500_TAB, "ciprofloxacin 500 MG Oral Tablet")])
    assert "safety.mg-worsening-drug" in all_codes(cards)
    card = next(c for c in cards if "safety.mg-worsening-drug" in c.finding_codes)
    assert card.indicator == "warning"
    assert "recognised by its name as" in card.detail and "ciprofloxacin 500 MG Oral Tablet" in card.detail


def test_the_ingredient_code_gives_the_same_warning_without_the_name_note():
    cards = call("order-sign", [med("cip", "2551")])
    card = next(c for c in cards if "safety.mg-worsening-drug" in c.finding_codes)
    assert "recognised by its name" not in card.detail


def test_a_contained_medication_gets_the_mg_worsening_warning():
    draft = contained("cip", CIPRO_500_TAB, "ciprofloxacin 500 MG Oral Tablet")
    for hook in ("order-select", "order-sign"):
        assert "safety.mg-worsening-drug" in all_codes(call(hook, [draft])), hook


def test_a_referenced_medication_in_the_prefetch_gets_the_mg_worsening_warning():
    pf = with_included(prefetch(), medication("med-cip", CIPRO_500_TAB, "ciprofloxacin 500 MG Oral Tablet"))
    for hook in ("order-select", "order-sign"):
        assert "safety.mg-worsening-drug" in all_codes(call(hook, [referenced("cip", "med-cip", "cipro 500")], pf)), hook


def test_a_reference_that_cannot_be_resolved_is_named_on_the_could_not_be_checked_card():
    cards = call("order-sign", [referenced("cip", "nowhere", "ciprofloxacin 500 mg tab")])
    assert all_codes(cards) == ["data-gap.draft-order"]
    assert "CIPROFLOXACIN 500 MG TAB" in cards[0].summary + cards[0].detail
    assert "does not resolve" in cards[0].detail


def test_a_pregnant_patients_mycophenolate_product_gets_the_teratogen_card():
    pf = prefetch(conditions=[condition(), condition("77386006", "preg")])
    cards = call("order-sign", [product("mmf", UNLISTED, "mycophenolate mofetil 250 MG/5ML Oral Suspension")], pf)
    assert "safety.pregnancy.teratogen" in all_codes(cards)
    card = next(c for c in cards if "safety.pregnancy.teratogen" in c.finding_codes)
    assert card.indicator == "critical" and "recognised by its name" in card.detail


# -- every order check, on every way of naming the drug --------------------------------------------


def _pregnant() -> dict[str, Any]:
    return prefetch(conditions=[condition(), condition("77386006", "preg")])


def _after_efgartigimod() -> dict[str, Any]:
    """Efgartigimod (an FcRn antagonist) given 5 days ago."""
    efgartigimod = terminology.coding_for("efgartigimod", RXNORM)
    assert efgartigimod is not None
    pf = prefetch()
    pf["medicationAdministrations"] = bundle({
        "resourceType": "MedicationAdministration", "id": "efg-given", "status": "completed",
        "subject": {"reference": f"Patient/{PID}"},
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": efgartigimod.code}]},
        "effectiveDateTime": (TODAY - timedelta(days=5)).isoformat(),
    })
    return pf


def _on_carbamazepine() -> dict[str, Any]:
    pf = prefetch()
    pf["medicationRequests"] = bundle({
        "resourceType": "MedicationRequest", "id": "cbz", "status": "active", "intent": "order",
        "subject": {"reference": f"Patient/{PID}"}, "authoredOn": (TODAY - timedelta(days=60)).isoformat(),
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "2002"}]},
    })
    return pf


# (check, RxNorm product name, context, expected finding); the ingredient code is the one the
# terminology lists for the drug the name names
CHECKS = [
    ("MG-worsening", "ciprofloxacin 500 MG Oral Tablet", prefetch, "safety.mg-worsening-drug"),
    ("MG-worsening (beta blocker salt)", "metoprolol tartrate 25 MG Oral Tablet", prefetch, "safety.mg-worsening-drug"),
    ("pregnancy", "mycophenolate mofetil 500 MG Oral Tablet", _pregnant, "safety.pregnancy.teratogen"),
    ("pregnancy (B cell)", "rituximab 10 MG/ML Injectable Solution", _pregnant, "safety.pregnancy.b-cell-depletion"),
    ("C5", "eculizumab 10 MG/ML Injectable Solution", prefetch, "safety.c5.meningococcal-vaccine-missing"),
    ("B-cell", "rituximab 10 MG/ML Injectable Solution", prefetch, "safety.b-cell.hbv-screen-missing"),
    ("IVIG", "immunoglobulin G, human 10000 MG Injection", prefetch, "safety.ivig.iga-missing"),
    ("FcRn", "rituximab 10 MG/ML Injectable Solution", _after_efgartigimod, "safety.fcrn.mab-washout"),
    ("tacrolimus", "tacrolimus 1 MG Oral Capsule", _on_carbamazepine, "safety.tacrolimus.cyp3a4"),
]


def _ingredient_code(name: str) -> str:
    concept = terminology.ingredient_by_name(name)
    assert concept is not None, name
    code = terminology.coding_for(concept.key, RXNORM)
    assert code is not None and code.role == "ingredient"
    return code.code


@pytest.mark.parametrize(("check", "name", "context", "expected"), CHECKS, ids=[c[0] for c in CHECKS])
@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_every_order_check_fires_on_products_and_medication_resources(check, name, context, expected, hook):
    by_ingredient = call(hook, [med("d", _ingredient_code(name))], context())
    assert expected in all_codes(by_ingredient), check
    shapes = {
        "product code": ([product("d", UNLISTED, name)], context()),
        "contained Medication": ([contained("d", UNLISTED, name)], context()),
        "referenced Medication": ([referenced("d", "m-d", name)], with_included(context(), medication("m-d", UNLISTED, name))),
    }
    for shape, (drafts, pf) in shapes.items():
        got = call(hook, drafts, pf)
        assert sorted(set(all_codes(got))) == sorted(set(all_codes(by_ingredient))), (check, shape)


# -- the mapping ---------------------------------------------------------------------------------


def test_the_draft_says_how_its_drug_was_recognised():
    context = {"draftOrders": bundle(product("cip", CIPRO_500_TAB, "ciprofloxacin 500 MG Oral Tablet [Cipro]"))}
    (o,) = draft_orders(context, "order-sign", TODAY)
    assert (o.concept, o.recognised_by, o.recognised_from) == (
        "ciprofloxacin", "name", "ciprofloxacin 500 MG Oral Tablet [Cipro]")


@pytest.mark.parametrize(("display", "expected"), [
    ("ciprofloxacin 500 MG Oral Tablet", "ciprofloxacin"),
    ("{21 (prednisone 5 MG Oral Tablet) } Pack", "prednisone"),
    ("100 ML immunoglobulin G, human 100 MG/ML Injection", "ivig"),
    ("hydrochlorothiazide 12.5 MG / metoprolol tartrate 50 MG Oral Tablet", "metoprolol"),
    ("efgartigimod alfa 180 MG/ML / hyaluronidase-qvfc 2000 UNT/ML Injectable Solution", "efgartigimod-hyaluronidase"),
    # not read: a non-systemic form (as the terminology lists systemic products only), another
    # ingredient that merely starts alike, and free text that is not an RxNorm name
    ("prednisolone acetate 10 MG/ML Ophthalmic Suspension", None),
    ("magnesium oxide 400 MG Oral Tablet", None),
    ("take ciprofloxacin if needed", None),
])
def test_product_names_name_their_ingredient(display, expected):
    found = terminology.ingredient_by_name(display)
    assert (found.key if found else None) == expected


def test_a_name_is_read_only_beside_an_rxnorm_code():
    """Text alone (no code) or a non-RxNorm code is not a product code: not recognised by name."""
    text_only = med("t", "x", medicationCodeableConcept={"text": "ciprofloxacin 500 MG Oral Tablet"})
    other = med("o", "x", medicationCodeableConcept={"coding": [
        {"system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.698288", "code": "1234", "display": "ciprofloxacin 500 MG Oral Tablet"}]})
    orders = draft_orders({"draftOrders": bundle(text_only, other)}, "order-sign", TODAY)
    assert [o.concept for o in orders] == [None, None]


def test_names_of_two_different_drugs_are_not_a_guess():
    r = product("x", UNLISTED, "ciprofloxacin 500 MG Oral Tablet")
    r["medicationCodeableConcept"]["text"] = "levofloxacin 500 MG Oral Tablet"
    (o,) = draft_orders({"draftOrders": bundle(r)}, "order-sign", TODAY)
    assert o.concept is None


# -- the patient's history ----------------------------------------------------------------------------


def test_history_on_product_codes_and_medication_references_is_read():
    history = [
        {"resourceType": "MedicationRequest", "id": "aza", "status": "active", "intent": "order",
         "subject": {"reference": f"Patient/{PID}"}, "authoredOn": "2026-01-05",
         "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": UNLISTED, "display": "azathioprine 75 MG Oral Tablet"}]}},
        {"resourceType": "MedicationRequest", "id": "pred", "status": "active", "intent": "order",
         "subject": {"reference": f"Patient/{PID}"}, "authoredOn": "2026-01-05",
         "medicationReference": {"reference": "Medication/pred-20", "display": "PREDNISONE 20 MG PO TABS"}},
        {"resourceType": "MedicationRequest", "id": "lost", "status": "active", "intent": "order",
         "subject": {"reference": f"Patient/{PID}"}, "authoredOn": "2026-02-01",
         "medicationReference": {"reference": "Medication/gone", "display": "TACROLIMUS 1 MG PO CAPS"}},
    ]
    pf = {"patient": {"resourceType": "Patient", "id": PID}, "medicationRequests": {
        "resourceType": "Bundle", "type": "searchset",
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in history]
        + [{"resource": medication("pred-20", "312615", "prednisone 20 MG Oral Tablet"), "search": {"mode": "include"}}]}}
    record = build_record(pf, PID, TODAY)
    assert {e.ingredient for e in record.exposures} == {"azathioprine", "prednisone"}
    (by_name,) = [r for r in record.recognitions if r.how == "name"]
    assert (by_name.source, by_name.concept) == ("MedicationRequest/aza", "azathioprine")
    (lost,) = record.unread_values
    assert (lost.kind, lost.text, lost.source) == ("medication", "TACROLIMUS 1 MG PO CAPS", "MedicationRequest/lost")


def test_an_unresolved_medication_is_named_on_the_patient_view_card():
    from hooks import patient_view
    from hooks.registry import HookCall

    pf = prefetch()
    pf["medicationRequests"] = bundle({
        "resourceType": "MedicationRequest", "id": "lost", "status": "active", "intent": "order",
        "subject": {"reference": f"Patient/{PID}"}, "authoredOn": "2026-02-01",
        "medicationReference": {"reference": "Medication/gone", "display": "TACROLIMUS 1 MG PO CAPS"}})
    cards = patient_view.handle(HookCall(service_id="gmg-patient-view", hook="patient-view", hook_instance="h",
                                         context={"patientId": PID, "userId": "Practitioner/1"}, prefetch=pf,
                                         unavailable=frozenset(), today=TODAY))
    (card,) = [c for c in cards if "data-gap.medication-unresolved" in c.finding_codes]
    assert "TACROLIMUS 1 MG PO CAPS" in card.detail
