"""Reading draft orders from order-select / order-sign contexts (fhir_mappings.orders)."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path

import pytest

from fhir_mappings.orders import draft_orders, draft_resources

TODAY = date(2026, 11, 22)
EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "cds-hooks" / "examples"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SCT = "http://snomed.info/sct"


def med(rid: str, code: str, **extra):
    res = {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "draft",
        "intent": "proposal",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code}], "text": f"drug {code}"},
    }
    res.update(extra)
    return res


def ctx(*resources, selections=None, bundle_type="collection"):
    bundle = {"resourceType": "Bundle", "entry": [{"resource": r} for r in resources]}
    if bundle_type:
        bundle["type"] = bundle_type
    out = {"patientId": "p1", "userId": "Practitioner/1", "draftOrders": bundle}
    if selections is not None:
        out["selections"] = selections
    return out


def load(name):
    return json.loads((EXAMPLES / name).read_text())


# -- real client shapes ----------------------------------------------------------------------


def test_sandbox_order_select_with_medication_is_read():
    """No Bundle.type, category as an object (invalid R4), RxNorm product code."""
    req = load("sandbox-observed_order-select-request-with-medication.json")
    (o,) = draft_orders(req["context"], "order-select", TODAY)
    assert o.resource_id == "MedicationRequest/request-123"
    assert o.selected and o.planned_start == TODAY and o.planned_start_from == "authoredOn"
    assert o.code == f"{RXNORM}|435115"  # niacin: not an MG-relevant drug, not unreadable either
    assert o.concept is None and o.unreadable == ()


@pytest.mark.parametrize("name,hook", [
    ("sandbox-observed_order-select-request.json", "order-select"),
    ("sandbox-observed_order-sign-request.json", "order-sign"),
])
def test_sandbox_draft_without_medication_says_so(name, hook):
    req = load(name)
    (o,) = draft_orders(req["context"], hook, TODAY)
    assert o.kind == "unknown" and "no medication given" in o.unreadable


def test_intent_missing_and_category_object_do_not_matter():
    r = med("e1", "700384", category={"coding": [{"code": "inpatient"}]})
    del r["intent"]
    (o,) = draft_orders(ctx(r, bundle_type=None), "order-sign", TODAY)
    assert o.concept == "eculizumab"


@pytest.mark.parametrize("name", [
    "library_order-select-context-r4.json", "library_order-select-context-stu3.json",
    "library_order-select-context-dstu2.json", "library_order-sign-context-r4.json",
    "library_order-sign-context-stu3.json", "library_order-sign-context-dstu2.json",
])
def test_library_examples_keep_medication_drafts_and_leave_out_nutrition(name):
    context = load(name)["context"]
    hook = "order-select" if "select" in name else "order-sign"
    orders = draft_orders(context, hook, TODAY)
    assert len(orders) == 1 and orders[0].resource_type in ("MedicationRequest", "MedicationOrder")
    assert orders[0].planned_start == date(2005, 1, 4) and orders[0].planned_start_from == "boundsPeriod"
    assert orders[0].selected


# -- recognition by code ---------------------------------------------------------------------


@pytest.mark.parametrize("code,concept,cls", [
    ("591781", "eculizumab", "c5-inhibitor"),  # ingredient
    ("700384", "eculizumab", "c5-inhibitor"),  # SCD 30 ML eculizumab 10 MG/ML Injection
    ("700387", "eculizumab", "c5-inhibitor"),  # SBD [Soliris]
    ("2107320", "ravulizumab", "c5-inhibitor"),  # SCD ravulizumab-cwvz
    ("1657862", "rituximab", "b-cell-depleting"),  # SCD rituximab
    ("2105826", "rituximab", "b-cell-depleting"),  # SCD rituximab-abbs (biosimilar)
])
def test_product_level_rxnorm_maps_to_the_ingredient(code, concept, cls):
    (o,) = draft_orders(ctx(med("m", code)), "order-sign", TODAY)
    assert o.concept == concept and cls in o.drug_classes and o.kind == "medication"


def test_vaccine_coded_cvx():
    r = med("v", "x")
    r["medicationCodeableConcept"] = {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "163"}]}
    (o,) = draft_orders(ctx(r), "order-sign", TODAY)
    assert o.kind == "vaccine" and o.concept == "menb"


def test_plex_service_request_with_occurrence():
    sr = {"resourceType": "ServiceRequest", "id": "px", "status": "draft", "intent": "order",
          "code": {"coding": [{"system": SCT, "code": "225067007"}]},
          "occurrencePeriod": {"start": "2026-12-01T08:00:00Z"}, "authoredOn": "2026-11-22"}
    (o,) = draft_orders(ctx(sr), "order-sign", TODAY)
    assert (o.kind, o.concept, o.planned_start, o.planned_start_from) == ("procedure", "plex", date(2026, 12, 1), "occurrence")


def test_stu3_procedure_request_is_read():
    pr = {"resourceType": "ProcedureRequest", "id": "pr", "status": "draft",
          "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "36516"}]}}
    (o,) = draft_orders(ctx(pr), "order-sign", TODAY)
    assert o.concept == "immunoadsorption" and o.planned_start_from == "today"


def test_contained_medication_reference():
    r = med("c", "x")
    del r["medicationCodeableConcept"]
    r["contained"] = [{"resourceType": "Medication", "id": "m1", "code": {"coding": [{"system": RXNORM, "code": "2672489"}]}}]
    r["medicationReference"] = {"reference": "#m1"}
    (o,) = draft_orders(ctx(r), "order-sign", TODAY)
    assert o.concept == "zilucoplan"


def test_unresolvable_medication_reference_is_said():
    r = med("c", "x")
    del r["medicationCodeableConcept"]
    r["medicationReference"] = {"reference": "Medication/elsewhere"}
    (o,) = draft_orders(ctx(r), "order-sign", TODAY)
    assert o.concept is None and any("does not resolve" in u for u in o.unreadable)


# -- dose, route, planned start --------------------------------------------------------------


def test_r4_dose_route_and_bounds_period():
    r = med("mp", "6902", authoredOn="2026-11-20", dosageInstruction=[{
        "route": {"coding": [{"system": SCT, "code": "47625008"}]},
        "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d", "boundsPeriod": {"start": "2026-11-25"}}},
        "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "g", "system": "http://unitsofmeasure.org", "code": "g"}}],
    }])
    (o,) = draft_orders(ctx(r), "order-sign", TODAY)
    assert (o.route, o.dose_mg, o.mg_per_day) == ("iv", 1000, 1000)
    assert (o.planned_start, o.planned_start_from) == (date(2026, 11, 25), "boundsPeriod")


@pytest.mark.parametrize("code, display, route", [
    ("259966", None, "oral"),  # listed product: "methylprednisolone 4 MG Oral Tablet"
    ("207136", None, "oral"),  # listed branded product: "... 2 MG Oral Tablet [Medrol]"
    ("1743704", None, None),  # "methylprednisolone 125 MG Injection": IV, IM or SC
    ("6902", None, None),  # the ingredient names no dose form
    ("999999901", "methylprednisolone 8 MG Oral Tablet", "oral"),  # not listed: the RxNorm display
    ("999999902", "methylprednisolone 40 MG/ML Injectable Suspension", None),
])
def test_a_draft_without_a_route_takes_an_oral_route_from_its_products_dose_form(code, display, route):
    r = med("mp", code)
    if display:
        r["medicationCodeableConcept"] = {"coding": [{"system": RXNORM, "code": code, "display": display}]}
    (o,) = draft_orders(ctx(r), "order-sign", TODAY)
    assert o.concept == "methylprednisolone" and o.route == route


def test_a_stated_route_wins_over_the_dose_form_and_only_rxnorm_names_say_a_form():
    r = med("mp", "259966", dosageInstruction=[{"route": {"coding": [{"system": SCT, "code": "47625008"}]}}])
    (o,) = draft_orders(ctx(r), "order-sign", TODAY)
    assert o.route == "iv"  # what the order says, even if odd
    local = med("mp2", "x")
    local["medicationCodeableConcept"] = {"coding": [{"system": "urn:oid:1.2.3", "code": "7", "display": "methylprednisolone 4 MG Oral Tablet"}],
                                          "text": "methylprednisolone 4 MG Oral Tablet"}
    (o,) = draft_orders(ctx(local), "order-sign", TODAY)
    assert o.route is None  # a site's own display is not read for a dose form


def test_dose_and_rate_as_object_and_stu3_dose_quantity():
    dar_obj = med("a", "6902", dosageInstruction=[{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                                                   "doseAndRate": {"doseQuantity": {"value": 250, "unit": "mg"}}}])
    stu3 = med("b", "6902", dosageInstruction=[{"timing": {"repeat": {"frequency": 1, "period": 12, "periodUnit": "h"}},
                                                "doseQuantity": {"value": 250, "code": "mg", "system": "http://unitsofmeasure.org"}}])
    a, b = draft_orders(ctx(dar_obj, stu3), "order-sign", TODAY)
    assert a.mg_per_day == 500 and b.mg_per_day == 500


def test_dstu2_medication_order_period_units():
    mo = {"resourceType": "MedicationOrder", "id": "o1", "status": "draft", "dateWritten": "2026-11-21",
          "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "42316"}]},
          "dosageInstruction": [{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnits": "d"}},
                                 "doseQuantity": {"value": 1.5, "unit": "mg"}}]}
    (o,) = draft_orders(ctx(mo), "order-sign", TODAY)
    assert (o.concept, o.mg_per_day, o.planned_start, o.planned_start_from) == ("tacrolimus", 3.0, date(2026, 11, 21), "authoredOn")


def test_dose_in_ml_for_a_known_drug_is_unreadable_not_guessed():
    r = med("iv", "5666", dosageInstruction=[{"doseAndRate": [{"doseQuantity": {"value": 300, "unit": "mL"}}]}])
    (o,) = draft_orders(ctx(r), "order-sign", TODAY)
    # the drug is known (every check that needs no dose runs); only the dose is not a mass
    assert o.dose_mg is None and o.concept == "ivig" and o.unreadable == ()
    assert o.dose_note == "dose in mL, not a mass in mg"


def test_a_pill_count_is_named_as_sent_not_converted():
    r = med("t", "198377", dosageInstruction=[{"doseAndRate": [{"doseQuantity": {
        "value": 1, "system": "http://unitsofmeasure.org", "code": "{pill}"}}]}])
    (o,) = draft_orders(ctx(r), "order-sign", TODAY)
    assert (o.concept, o.dose_mg, o.unreadable) == ("tacrolimus", None, ())
    assert o.dose_note == "dose in {pill}, not a mass in mg"


def test_invalid_date_falls_back_and_is_said():
    r = med("d", "6902", authoredOn="not-a-date")
    (o,) = draft_orders(ctx(r), "order-sign", TODAY)
    assert o.planned_start == TODAY and o.planned_start_from == "today"
    assert o.start_note and "not a valid date" in o.start_note


# -- selections and odd input ----------------------------------------------------------------


def test_selections_mark_selected_drafts_only_on_order_select():
    context = ctx(med("a", "591781"), med("b", "121191"), selections=["https://ehr.example/fhir/MedicationRequest/b"])
    sel = {o.resource_id: o.selected for o in draft_orders(context, "order-select", TODAY)}
    assert sel == {"MedicationRequest/a": False, "MedicationRequest/b": True}
    assert all(o.selected for o in draft_orders(context, "order-sign", TODAY))


def test_order_select_without_selections_selects_all():
    assert all(o.selected for o in draft_orders(ctx(med("a", "591781")), "order-select", TODAY))


def test_draft_without_id_is_checked_but_not_offered_for_update():
    r = med("x", "591781")
    del r["id"]
    context = ctx(r)
    (o,) = draft_orders(context, "order-sign", TODAY)
    assert o.resource_id == "MedicationRequest/entry-0" and o.concept == "eculizumab"
    assert draft_resources(context) == {}


@pytest.mark.parametrize("bad", [None, "x", 3, [], {"resourceType": "Bundle", "entry": "x"},
                                 {"resourceType": "Bundle", "entry": [None, 1, {"resource": "x"}, {"resource": {"id": "no-type"}}]}])
def test_garbage_draft_orders_give_nothing_and_never_raise(bad):
    assert draft_orders({"draftOrders": bad}, "order-sign", TODAY) == ()


def test_entries_given_as_bare_resources_and_a_list():
    orders = draft_orders({"draftOrders": [med("a", "591781")]}, "order-sign", TODAY)
    assert [o.concept for o in orders] == ["eculizumab"]


def test_input_is_not_modified():
    context = ctx(med("a", "591781"))
    before = copy.deepcopy(context)
    draft_orders(context, "order-select", TODAY)
    assert context == before
