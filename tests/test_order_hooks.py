"""order-select vs order-sign through handle(HookCall(...)): semantics, dedup, suggestions,
override reasons, and the sandbox-observed requests answered rather than rejected."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from hooks import order_select, order_sign
from hooks.registry import HookCall

TODAY = date(2026, 11, 22)
EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "cds-hooks" / "examples"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SCT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
CVX = "http://hl7.org/fhir/sid/cvx"
PID = "p1"


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def condition(code: str = "230686005", rid: str = "mg") -> dict[str, Any]:
    return {
        "resourceType": "Condition", "id": rid, "subject": {"reference": f"Patient/{PID}"},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "code": {"coding": [{"system": SCT, "code": code}]}, "onsetDateTime": "2020-01-01",
    }


def observation(rid: str, code: str, value: float, unit: str, when: date, interp: str | None = None) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Observation", "id": rid, "status": "final", "subject": {"reference": f"Patient/{PID}"},
        "code": {"coding": [{"system": LOINC, "code": code}]}, "effectiveDateTime": when.isoformat(),
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }
    if interp:
        res["interpretation"] = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": interp}]}]
    return res


def prefetch(*, conditions=None, observations=(), administrations=(), immunizations=()) -> dict[str, Any]:
    return {
        "patient": {"resourceType": "Patient", "id": PID, "gender": "female", "birthDate": "1980-05-17"},
        "conditions": bundle(*(conditions if conditions is not None else [condition()])),
        "observations": bundle(
            observation("achr", "11034-6", 8.2, "nmol/L", TODAY - timedelta(days=200), "POS"),
            observation("wt", "29463-7", 70, "kg", TODAY - timedelta(days=3)),
            *observations,
        ),
        "medicationStatements": None,
        "medicationRequests": None,
        "medicationAdministrations": bundle(*administrations),
        "procedures": None,
        "immunizations": bundle(*immunizations),
        "adverseEvents": None,
        "allergies": None,
    }


def med(rid: str, code: str, start: date | None = None, **extra: Any) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "MedicationRequest", "id": rid, "status": "draft", "intent": "order",
        "subject": {"reference": f"Patient/{PID}"}, "authoredOn": TODAY.isoformat(),
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code}]},
    }
    if start is not None:
        res["dosageInstruction"] = [{"timing": {"repeat": {"boundsPeriod": {"start": start.isoformat()}}}}]
    res.update(extra)
    return res


def call(hook: str, drafts: list[dict[str, Any]], pf: dict[str, Any] | None = None, selections: list[str] | None = None) -> list:
    context: dict[str, Any] = {
        "patientId": PID, "userId": "Practitioner/1",
        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": d} for d in drafts]},
    }
    if hook == "order-select":
        context["selections"] = selections if selections is not None else [f"{d['resourceType']}/{d['id']}" for d in drafts]
    hc = HookCall(
        service_id=f"gmg-{hook}", hook=hook, hook_instance="h1", context=context,
        prefetch=pf if pf is not None else prefetch(), unavailable=frozenset(), today=TODAY,
    )
    handler = order_select.handle if hook == "order-select" else order_sign.handle
    return handler(hc)


def all_codes(cards) -> list[str]:
    return [c for card in cards for c in card.finding_codes]


ECULIZUMAB_SCD = "700384"
IVIG_IN = "5666"
RITUXIMAB = "121191"
EFGARTIGIMOD = "2587717"


def test_order_sign_checks_every_draft():
    cards = call("order-sign", [med("ecu", ECULIZUMAB_SCD), med("ivig", IVIG_IN)])
    codes = all_codes(cards)
    assert "safety.c5.meningococcal-vaccine-missing" in codes
    assert "safety.ivig.iga-missing" in codes and "safety.ivig.dose" in codes
    assert cards[0].indicator == "critical"  # most severe first


def test_order_select_focuses_on_the_selection():
    cards = call("order-select", [med("ecu", ECULIZUMAB_SCD), med("ivig", IVIG_IN)], selections=["MedicationRequest/ecu"])
    codes = all_codes(cards)
    assert "safety.c5.meningococcal-vaccine-missing" in codes
    assert not [c for c in codes if c.startswith("safety.ivig")]


def test_order_select_unselected_draft_still_takes_part():
    """FcRn draft unselected, rituximab selected: the washout concerns the selected one."""
    cards = call("order-select", [med("rtx", RITUXIMAB), med("efg", EFGARTIGIMOD)], selections=["MedicationRequest/rtx"])
    assert "safety.fcrn.mab-washout" in all_codes(cards)
    cards = call("order-select", [med("efg", EFGARTIGIMOD), med("ptx", "9000")], selections=["MedicationRequest/ptx"])
    assert cards == []


def test_one_card_per_problem_naming_all_drafts():
    cards = call("order-sign", [med("ecu", ECULIZUMAB_SCD), med("ravu", "2107320")])
    vaccine_cards = [c for c in cards if "safety.c5.meningococcal-vaccine-missing" in c.finding_codes]
    assert len(vaccine_cards) == 1
    (finding,) = vaccine_cards[0].findings
    assert finding["orders"] == ["MedicationRequest/ecu", "MedicationRequest/ravu"]
    codes = all_codes(cards)
    assert len(codes) == len(set(codes))  # no problem shown twice in one response


def test_ivig_dose_rides_on_the_ivig_warning_card():
    cards = call("order-sign", [med("ivig", IVIG_IN)])
    (card,) = cards
    assert card.indicator == "warning"
    assert set(card.finding_codes) == {"safety.ivig.iga-missing", "safety.ivig.dose"}
    assert "140 g" in card.detail or "140" in card.detail


def test_suggestions_fix_the_order_and_override_reasons_are_offered():
    cards = call("order-sign", [med("ecu", ECULIZUMAB_SCD)])
    card = next(c for c in cards if "safety.c5.meningococcal-vaccine-missing" in c.finding_codes)
    j = card.to_json()
    assert j["overrideReasons"] and all(r["display"] for r in j["overrideReasons"])
    actions = [a for s in j["suggestions"] for a in s["actions"]]
    created = [a["resource"]["medicationCodeableConcept"]["coding"][0] for a in actions if a["type"] == "create"]
    assert {c["system"] for c in created} == {CVX} and len(created) == 2
    assert {"type": "delete", "resourceId": "MedicationRequest/ecu"}.items() <= next(a for a in actions if a["type"] == "delete").items()
    assert len(j["summary"]) < 140 and j["extension"]["gmg-cds"]["findings"][0]["code"].startswith("safety.")


def test_washout_gives_the_earliest_date_and_moves_the_draft():
    last = TODAY - timedelta(days=5)
    admin = {
        "resourceType": "MedicationAdministration", "id": "efg-1", "status": "completed",
        "subject": {"reference": f"Patient/{PID}"}, "effectiveDateTime": last.isoformat(),
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": EFGARTIGIMOD}]},
    }
    pf = prefetch(administrations=[admin], observations=[
        observation("hbs", "5196-1", 0, "1", TODAY - timedelta(days=10), "NEG"),
        observation("hbc", "16933-4", 0, "1", TODAY - timedelta(days=10), "NEG"),
    ])
    cards = call("order-sign", [med("rtx", RITUXIMAB, start=TODAY)], pf)
    card = next(c for c in cards if "safety.fcrn.mab-washout" in c.finding_codes)
    earliest = (last + timedelta(days=14)).isoformat()
    assert card.findings[0]["earliest_start"] == earliest and earliest in card.summary
    update = next(a for s in card.suggestions for a in s.actions if a.type == "update")
    assert update.resource["id"] == "rtx"
    assert update.resource["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]["start"] == earliest


def test_iga_deficiency_in_g_per_l_offers_the_swap_to_plex():
    pf = prefetch(observations=[observation("iga", "2458-8", 0.05, "g/L", TODAY - timedelta(days=20))])
    cards = call("order-sign", [med("ivig", IVIG_IN)], pf)
    card = cards[0]
    assert card.indicator == "critical" and "safety.ivig.iga-deficiency" in card.finding_codes
    swap = next(s for s in card.suggestions if len(s.actions) == 2)
    assert [a.type for a in swap.actions] == ["delete", "create"]
    assert swap.actions[1].resource["code"]["coding"][0]["code"] == "225067007"


def test_non_mg_patient_gets_no_cards():
    assert call("order-sign", [med("ecu", ECULIZUMAB_SCD)], prefetch(conditions=[])) == []


def test_lambert_eaton_gets_no_cards():
    lems = condition("193180002", "lems")  # a non-MG condition code: no MG on record
    assert call("order-sign", [med("ecu", ECULIZUMAB_SCD)], prefetch(conditions=[lems])) == []


# -- the sandbox-observed requests -----------------------------------------------------------


def sandbox(name: str, pf: dict[str, Any] | None) -> HookCall:
    req = json.loads((EXAMPLES / name).read_text())
    return HookCall(
        service_id=f"gmg-{req['hook']}", hook=req["hook"], hook_instance=req["hookInstance"],
        context=req["context"], prefetch=pf if pf is not None else req.get("prefetch", {}),
        unavailable=frozenset(), today=TODAY,
    )


@pytest.mark.parametrize("name", [
    "sandbox-observed_order-select-request.json",
    "sandbox-observed_order-select-request-with-medication.json",
    "sandbox-observed_order-sign-request.json",
])
def test_sandbox_requests_are_answered_for_a_patient_without_mg(name):
    hc = sandbox(name, None)
    handler = order_select.handle if hc.hook == "order-select" else order_sign.handle
    assert handler(hc) == []


def test_sandbox_order_sign_for_an_mg_patient_says_the_draft_could_not_be_read():
    cards = order_sign.handle(sandbox("sandbox-observed_order-sign-request.json", prefetch()))
    (card,) = cards
    assert card.indicator == "info" and card.finding_codes == ("data-gap.draft-order",)
    assert "no medication given" in card.detail


def test_sandbox_order_select_while_filling_in_is_quiet():
    assert order_select.handle(sandbox("sandbox-observed_order-select-request.json", prefetch())) == []
    assert order_select.handle(sandbox("sandbox-observed_order-select-request-with-medication.json", prefetch())) == []


def test_every_card_serialises_within_the_contract():
    pf = prefetch(conditions=[condition(), condition("77386006", "preg")])
    drafts = [
        med("ecu", ECULIZUMAB_SCD), med("zil", "2672489"), med("rtx", RITUXIMAB), med("ivig", IVIG_IN),
        med("mmf", "68149"), med("tac", "42316"), med("efg", EFGARTIGIMOD),
        {"resourceType": "ServiceRequest", "id": "px", "status": "draft", "intent": "order",
         "subject": {"reference": f"Patient/{PID}"}, "code": {"coding": [{"system": SCT, "code": "225067007"}]}},
        med("mp", "6902", dosageInstruction=[{"route": {"coding": [{"system": SCT, "code": "47625008"}]},
                                              "doseAndRate": [{"doseQuantity": {"value": 1000, "unit": "mg"}}]}]),
    ]
    cards = call("order-sign", drafts, pf)
    codes = all_codes(cards)
    assert len(codes) == len(set(codes)) and len(cards) >= 8
    for card in cards:
        j = card.to_json()
        json.dumps(j)
        assert len(j["summary"]) < 140
        if j["indicator"] != "info":
            assert j["overrideReasons"]
        for s in j.get("suggestions", []):
            for a in s["actions"]:
                assert a["description"] and (a.get("resource") or a.get("resourceId"))
