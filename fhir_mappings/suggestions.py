"""Findings -> FHIR R4 resources for one-click suggestions (gmg-rules.md §8, §9).

- a drug: a draft `MedicationRequest` (status draft, intent proposal, subject Patient/<id>,
  RxNorm ingredient code, the computed dose in dosageInstruction[0].doseAndRate[0].doseQuantity
  in mg (UCUM), timing, route);
- a missing lab: a draft `ServiceRequest` coded with LOINC;
- a missing vaccine: a draft `MedicationRequest` coded with CVX;
- a procedure (plasma exchange): a draft `ServiceRequest` coded with SNOMED CT.

Inputs are the orders the clinical findings propose: `gmg.orders.ProposedOrder` (the regimen in
clinical terms, built by gmg/dose_table.py and gmg/rapid.py), as the JSON the findings carry
(`ProposedOrder.as_json()`: {"ingredient", "dose_mg", "route", "text", "timing": {frequency,
period, periodUnit, count}, "then": [later doses]}). Everything FHIR is decided here: codings,
Timing, dose Quantity in UCUM, route, sequenced dosages for unequal doses.
Codes come from the terminology data (verified rows of terminology.md only). The resources
validate against the FHIR R4B models (tests/test_suggestions.py).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import terminology
from gmg.orders import ProposedOrder
from terminology import systems

PROPOSAL_NOTE = "Proposed by gmg-cds; review before signing."
ROUTE_KEYS = {"iv": "route-iv", "sc": "route-sc", "oral": "route-oral"}
ROUTE_TEXT = {"iv": "Intravenous", "sc": "Subcutaneous", "oral": "Oral"}
# Codes preferred for a new order where a concept has several (active products; terminology.md
# §4-5), in order: MenACWY-CRM (Menveo) then MenACWY-TT (MenQuadfi) — MenACWY-D (Menactra, CVX 114)
# is discontinued in the US; MenB-4C (Bexsero) then MenB-FHbp (Trumenba); therapeutic plasma
# exchange. One policy for every draft the service proposes (patient-view and order hooks).
PREFERRED_CODES: dict[tuple[str, str], tuple[str, ...]] = {
    ("menacwy", systems.CVX): ("136", "203"),
    ("menb", systems.CVX): ("163", "162"),
    ("plex", systems.SNOMED): ("225067007",),
}
TIMING_KEYS = ("frequency", "period", "periodUnit", "count")


# (concept key, system) -> (the Concept it was chosen from, chosen Code or None): the choice
# depends only on the terminology data, so it is made once per concept object.
_CHOSEN: dict[tuple[str, str], tuple[Any, Any]] = {}


def coding(key: str, system: str) -> dict[str, str] | None:
    """The Coding a new order uses for a concept in a system (None when it has no such code)."""
    return _coding(key, system)


def _coding(key: str, system: str) -> dict[str, str] | None:
    try:
        concept = terminology.concept(key)
    except KeyError:
        return None
    kept = _CHOSEN.get((key, system))
    if kept is not None and kept[0] is concept:
        code = kept[1]
    else:
        codes = [c for c in concept.codes if c.system == system]
        preferred = PREFERRED_CODES.get((key, system), ())
        codes.sort(key=lambda c: (preferred.index(c.code) if c.code in preferred else len(preferred),
                                  c.role != "ingredient"))
        code = codes[0] if codes else None
        _CHOSEN[(key, system)] = (concept, code)
    if code is None:
        return None
    return {"system": system, "code": code.code, "display": code.display}


def _display(key: str) -> str:
    try:
        return terminology.concept(key).display
    except KeyError:
        return key.replace("-", " ")


def _concept(key: str, system: str, text: str | None = None) -> dict[str, Any]:
    coding = _coding(key, system)
    out: dict[str, Any] = {"text": text or _display(key)}
    if coding:
        out["coding"] = [coding]
    return out


def _route(route: str | None) -> dict[str, Any] | None:
    if route not in ROUTE_KEYS:
        return None
    return _concept(ROUTE_KEYS[route], systems.SNOMED, ROUTE_TEXT[route])


def _timing(timing: dict[str, Any] | None, start: date | None) -> dict[str, Any] | None:
    repeat = {k: timing[k] for k in TIMING_KEYS if timing and timing.get(k) is not None}
    if start is not None:
        repeat["boundsPeriod"] = {"start": start.isoformat()}
    return {"repeat": repeat} if repeat else None


def _dose(dosage: dict[str, Any], dose: Any) -> None:
    if isinstance(dose, (int, float)) and dose > 0:
        dosage["doseAndRate"] = [
            {"doseQuantity": {"value": float(round(dose, 3)), "unit": "mg", "system": systems.UCUM, "code": "mg"}}
        ]


def medication_proposal(patient_id: str, order: dict[str, Any] | ProposedOrder, start: date | None = None) -> dict[str, Any]:
    """A draft MedicationRequest for one drug with the dose computed for this patient."""
    if isinstance(order, ProposedOrder):
        order = order.as_json()
    dosage: dict[str, Any] = {"text": str(order.get("text") or _display(order["ingredient"]))}
    timing = _timing(order.get("timing"), start)
    if timing:
        dosage["timing"] = timing
    route = _route(order.get("route"))
    if route:
        dosage["route"] = route
    _dose(dosage, order.get("dose_mg"))
    dosages = [dosage]
    # A regimen of unequal doses (rituximab 100 mg then 500 mg): each later dose is its own
    # sequenced dosage after the first (dosageInstruction[0] stays the first dose).
    for step in order.get("then") or ():
        later: dict[str, Any] = {"text": str(step.get("text") or "")}
        step_timing = _timing(step.get("timing"), None)
        if step_timing:
            later["timing"] = step_timing
        if route:
            later["route"] = route
        _dose(later, step.get("dose_mg"))
        dosages.append(later)
    if len(dosages) > 1:
        for n, d in enumerate(dosages, start=1):
            d["sequence"] = n
    return {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "proposal",
        "medicationCodeableConcept": _concept(order["ingredient"], systems.RXNORM, order.get("display")),
        "subject": {"reference": f"Patient/{patient_id}"},
        "dosageInstruction": dosages,
        "note": [{"text": PROPOSAL_NOTE}],
    }


def vaccine_proposal(patient_id: str, concept: str, reason: str | None = None) -> dict[str, Any]:
    """A draft MedicationRequest for a vaccine, coded with CVX."""
    out: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "proposal",
        "medicationCodeableConcept": _concept(concept, systems.CVX),
        "subject": {"reference": f"Patient/{patient_id}"},
        "dosageInstruction": [{"text": "one dose now; complete the series per schedule",
                               "route": {"text": "Intramuscular"}}],
        "note": [{"text": PROPOSAL_NOTE}],
    }
    if reason:
        out["reasonCode"] = [{"text": reason}]
    return out


def lab_proposal(patient_id: str, concept: str, reason: str | None = None) -> dict[str, Any]:
    """A draft ServiceRequest for a laboratory test, coded with LOINC."""
    out: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "code": _concept(concept, systems.LOINC),
        "subject": {"reference": f"Patient/{patient_id}"},
        "note": [{"text": PROPOSAL_NOTE}],
    }
    if reason:
        out["reasonCode"] = [{"text": reason}]
    return out


def procedure_proposal(patient_id: str, concept: str, text: str) -> dict[str, Any]:
    """A draft ServiceRequest for a procedure (plasma exchange), coded with SNOMED CT."""
    return {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "code": _concept(concept, systems.SNOMED),
        "subject": {"reference": f"Patient/{patient_id}"},
        "note": [{"text": text}, {"text": PROPOSAL_NOTE}],
    }


def display(key: str) -> str:
    """A human name for a concept key (for suggestion labels)."""
    return _display(key)
