"""Codes added in the second terminology pass: each maps to its concept and classes, and the
order-safety checks that depend on them now fire on real FHIR codings (not only on concept keys)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

import terminology
from fhir_mappings.common import MappingContext
from fhir_mappings.observations import map_observations
from fhir_mappings.orders import draft_orders
from gmg.safety import check_orders
from safety_builders import PARAMS, TODAY, codes, exposure, record
from terminology import systems

RX, ATC, SCT, ICD, LOINC = systems.RXNORM, systems.ATC, systems.SNOMED, systems.ICD10CM, systems.LOINC


@pytest.mark.parametrize(
    ("system", "code", "key", "classes"),
    [
        # strong CYP3A4 inhibitors
        (RX, "21212", "clarithromycin", {"cyp3a4-strong-inhibitor", "macrolide", "mg-worsening"}),
        (RX, "197517", "clarithromycin", {"cyp3a4-strong-inhibitor", "macrolide"}),
        (RX, "359385", "clarithromycin", {"cyp3a4-strong-inhibitor"}),
        (RX, "1291987", "clarithromycin", {"cyp3a4-strong-inhibitor"}),  # H. pylori pack
        (RX, "282446", "posaconazole", {"cyp3a4-strong-inhibitor"}),
        (RX, "1482908", "posaconazole", {"cyp3a4-strong-inhibitor"}),
        (RX, "356772", "posaconazole", {"cyp3a4-strong-inhibitor"}),  # Noxafil
        # aminoglycoside
        (RX, "1596450", "gentamicin", {"aminoglycoside", "mg-worsening"}),
        (RX, "1870650", "gentamicin", {"aminoglycoside", "mg-worsening"}),
        # IV magnesium
        (RX, "6585", "magnesium-sulfate", {"magnesium-sulfate", "mg-worsening"}),
        (RX, "1658244", "magnesium-sulfate", {"magnesium-sulfate", "mg-worsening"}),
        # beta blockers (VSAC 2.16.840.1.113883.3.526.2.1921)
        (RX, "1202", "atenolol", {"beta-blocker", "mg-worsening"}),
        (RX, "19484", "bisoprolol", {"beta-blocker", "mg-worsening"}),
        (RX, "20352", "carvedilol", {"beta-blocker", "mg-worsening"}),
        (RX, "6185", "labetalol", {"beta-blocker", "mg-worsening"}),
        (RX, "7226", "nadolol", {"beta-blocker", "mg-worsening"}),
        (RX, "49737", "esmolol", {"beta-blocker", "mg-worsening"}),
        (RX, "9947", "sotalol", {"beta-blocker", "mg-worsening"}),
        # checkpoint inhibitors: current and pre-2022 ATC
        (ATC, "L01FX04", "ipilimumab", {"checkpoint-inhibitor", "mg-worsening"}),
        (ATC, "L01XC11", "ipilimumab", {"checkpoint-inhibitor"}),
        (ATC, "L01FF05", "atezolizumab", {"checkpoint-inhibitor", "mg-worsening"}),
        (ATC, "L01FF03", "durvalumab", {"checkpoint-inhibitor", "mg-worsening"}),
        (ATC, "L01XC17", "nivolumab", {"checkpoint-inhibitor"}),
        (ATC, "L01XC18", "pembrolizumab", {"checkpoint-inhibitor"}),
        # conditions and observations
        (ICD, "R65.20", "sepsis", {"sepsis", "severe-infection"}),
        (ICD, "R65.21", "sepsis", {"sepsis", "severe-infection"}),
        (SCT, "60001007", "not-pregnant", {"pregnancy-status-answer"}),
        (LOINC, "LA26683-5", "not-pregnant", {"pregnancy-status-answer"}),
        (LOINC, "LA15173-0", "pregnancy", {"pregnancy"}),
        (LOINC, "11011-4", "hcv-rna", {"lab"}),
    ],
)
def test_added_code_maps_to_its_concept_and_classes(system: str, code: str, key: str, classes: set[str]) -> None:
    found = terminology.concept_for(system, code)
    assert found is not None and found.key == key
    assert classes <= found.classes


def test_class_memberships_the_rules_depend_on() -> None:
    m = terminology.members
    assert {"clarithromycin", "posaconazole", "ketoconazole", "itraconazole", "voriconazole", "ritonavir"} <= m(
        "cyp3a4-strong-inhibitor"
    )
    assert "clarithromycin" in m("macrolide") and "clarithromycin" in m("mg-worsening")
    assert "posaconazole" not in m("mg-worsening")
    assert {"atenolol", "bisoprolol", "carvedilol", "labetalol", "nadolol", "esmolol"} <= m("beta-blocker")
    assert {"ipilimumab", "atezolizumab", "durvalumab", "nivolumab", "pembrolizumab"} <= m("checkpoint-inhibitor")
    assert m("magnesium-sulfate") == {"magnesium-sulfate"} and "magnesium-sulfate" in m("mg-worsening")
    # the answer "not pregnant" must never count as pregnancy
    assert "not-pregnant" not in m("pregnancy")


def test_preferred_codings_and_attributes() -> None:
    assert terminology.coding_for("clarithromycin", RX).code == "21212"
    assert terminology.coding_for("gentamicin", RX).code == "1596450"
    assert terminology.coding_for("ipilimumab", ATC).code == "L01FX04"
    roles = {c.code: c.role for c in terminology.concept("ipilimumab").codes}
    assert roles == {"L01FX04": "atc", "L01XC11": "atc-legacy"}
    assert terminology.concept("magnesium-sulfate").attribute("mg_worsening_route") == "iv"
    assert terminology.canonical_unit("hcv-rna") == "[IU]/mL"


def test_topical_and_ophthalmic_gentamicin_are_not_mapped() -> None:
    for code in ("310465", "197735", "310466", "310467", "310469"):
        assert terminology.concept_for(RX, code) is None, code


# -- end to end: real FHIR codings through the order mapping into the safety checks -----------


def _med_request(rid: str, rxcui: str, route: tuple[str, str] | None = None) -> dict:
    res: dict = {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"coding": [{"system": RX, "code": rxcui}]},
    }
    if route is not None:
        res["dosageInstruction"] = [{"route": {"coding": [{"system": SCT, "code": route[0], "display": route[1]}]}}]
    return res


def _orders(*resources: dict) -> tuple:
    context = {"patientId": "p1", "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": r} for r in resources]}}
    return draft_orders(context, "order-sign", TODAY)


def test_clarithromycin_order_fires_worsening_and_tacrolimus_interaction_on_its_rxnorm_code() -> None:
    orders = _orders(_med_request("clari", "197517"))
    assert orders[0].concept == "clarithromycin"
    rec = record(exposures=(exposure("tacrolimus", start=TODAY - timedelta(days=200)),))
    found = codes(check_orders(rec, orders, "achr", PARAMS))
    assert {"safety.mg-worsening-drug", "safety.tacrolimus.cyp3a4"} <= found


def test_posaconazole_order_with_active_tacrolimus_fires_the_interaction() -> None:
    orders = _orders(_med_request("posa", "282446"))
    rec = record(exposures=(exposure("tacrolimus", start=TODAY - timedelta(days=200)),))
    assert "safety.tacrolimus.cyp3a4" in codes(check_orders(rec, orders, "achr", PARAMS))


@pytest.mark.parametrize("rxcui", ["1202", "20352", "1596450"])
def test_beta_blocker_and_aminoglycoside_orders_fire_on_real_codes(rxcui: str) -> None:
    assert codes(check_orders(record(), _orders(_med_request("x", rxcui)), "achr", PARAMS)) == {"safety.mg-worsening-drug"}


def test_magnesium_sulfate_warns_iv_or_unknown_route_only() -> None:
    iv = _orders(_med_request("mg", "6585", ("47625008", "Intravenous route")))
    oral = _orders(_med_request("mg", "6585", ("26643006", "Oral route")))
    none = _orders(_med_request("mg", "1658244"))
    assert iv[0].route == "iv" and oral[0].route == "oral"
    assert "safety.mg-worsening-drug" in codes(check_orders(record(), iv, "achr", PARAMS))
    assert "safety.mg-worsening-drug" in codes(check_orders(record(), none, "achr", PARAMS))
    assert check_orders(record(), oral, "achr", PARAMS) == ()


# -- pregnancy status answers ----------------------------------------------------------------


def _pregnancy_status(answer_system: str, answer_code: str) -> dict:
    return {
        "resourceType": "Observation",
        "id": f"ps-{answer_code}",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "82810-3"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": (TODAY - timedelta(days=3)).isoformat(),
        "valueCodeableConcept": {"coding": [{"system": answer_system, "code": answer_code}]},
    }


@pytest.mark.parametrize(
    ("system", "code", "state"),
    [(SCT, "60001007", "not-pregnant"), (LOINC, "LA26683-5", "not-pregnant"),
     (SCT, "77386006", "pregnant"), (LOINC, "LA15173-0", "pregnant")],
)
def test_pregnancy_status_answers_are_read(system: str, code: str, state: str) -> None:
    facts = map_observations([_pregnancy_status(system, code)], MappingContext(patient_id="p1", today=TODAY))
    assert [s.state for s in facts.pregnancy] == [state]
    assert facts.pregnancy[0].when == TODAY - timedelta(days=3)


def test_unknown_pregnancy_answer_gives_no_signal() -> None:
    facts = map_observations([_pregnancy_status(LOINC, "LA4489-6")], MappingContext(patient_id="p1", today=date(2026, 11, 22)))
    assert facts.pregnancy == []
