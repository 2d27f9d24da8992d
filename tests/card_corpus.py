"""Every card text the service can show for the project's test data, in both languages.

The corpus of the card-text tests (tests/test_card_text.py): every demo patient through
patient-view and the demo orders through order-select and order-sign (tests/test_i18n_cards.py
CALLS), the §6 order scenarios (tests/test_i18n_complete.py SAFETY_SCENARIOS), the checks that
could not run, and the drafts the CDS Hooks sandbox's order form sends (a `{pill}` dose, an
object-valued category) for the drugs it offers.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from hooks import order_select, order_sign
from hooks.registry import HookCall
from tests.conftest import TODAY
from tests.test_i18n_cards import CALLS, _bundle, _cards
from tests.test_i18n_complete import SAFETY_SCENARIOS, safety_cards, unreadable_cards

ROOT = Path(__file__).resolve().parents[1]
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"

# (demo slug, RxNorm code, name as the sandbox's list writes it): drugs its order form offers.
SANDBOX_ORDERS: tuple[tuple[str, str, str], ...] = (
    ("inadequate-treatment", "198377", "Tacrolimus 1 MG Oral Capsule"),
    ("met-3-1", "197517", "Clarithromycin 500 MG Oral Tablet"),
    ("therapy-pregnant", "200060", "mycophenolate mofetil 500 MG Oral Tablet"),
    ("met-3-1", "259966", "Methylprednisolone 4 MG Oral Tablet"),
)


def sandbox_draft(patient_id: str, code: str, name: str) -> dict[str, Any]:
    """A MedicationRequest exactly as the sandbox's Rx View builds it (src/reducers/medication-
    reducers.js): dose 1 {pill} twice daily, a category object (invalid R4), no route."""
    return {
        "resourceType": "MedicationRequest", "id": "request-123", "status": "draft", "intent": "order",
        "subject": {"reference": f"Patient/{patient_id}"}, "authoredOn": TODAY.isoformat(),
        "dosageInstruction": [{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                               "doseAndRate": [{"doseQuantity": {"value": 1, "system": "http://unitsofmeasure.org",
                                                                 "code": "{pill}"}}]}],
        "dispenseRequest": {"expectedSupplyDuration": {"value": 30, "unit": "days",
                                                       "system": "http://unitsofmeasure.org", "code": "d"}},
        "category": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                                 "code": "community"}]},
        "medicationCodeableConcept": {"text": name, "coding": [{"display": name, "system": RXNORM, "code": code}]},
    }


def sandbox_cards(slug: str, code: str, name: str, hook: str, language: str) -> list[dict[str, Any]]:
    pid, prefetch = _bundle(slug)
    context: dict[str, Any] = {"patientId": pid, "userId": "Practitioner/COREPRACTITIONER1",
                               "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": sandbox_draft(pid, code, name)}]}}
    if hook == "order-select":
        context["selections"] = ["MedicationRequest/request-123"]
    handler = order_select.handle if hook == "order-select" else order_sign.handle
    call = HookCall(f"gmg-{hook}", hook, "h", context, prefetch, frozenset(), TODAY, language=language)
    return [c.to_json() for c in handler(call)]


@lru_cache(maxsize=None)
def corpus(language: str) -> tuple[tuple[str, str], ...]:
    """(where, card JSON as text) for every card of the test data in one language."""
    out: list[tuple[str, dict[str, Any]]] = []
    for name, handler, context, prefetch in CALLS:
        out += [(f"demo {name}", c) for c in _cards(handler, context, prefetch, language)]
    for name in SAFETY_SCENARIOS:
        out += [(f"§6 {name}", c) for c in safety_cards(name, language)]
    out += [("not checked", c) for c in unreadable_cards(language)]
    for slug, code, name in SANDBOX_ORDERS:
        for hook in ("order-select", "order-sign"):
            out += [(f"sandbox {slug} {name} {hook}", c) for c in sandbox_cards(slug, code, name, hook, language)]
    return tuple((where, json.dumps(card, ensure_ascii=False)) for where, card in out)


def cards(language: str) -> list[tuple[str, dict[str, Any]]]:
    return [(where, json.loads(text)) for where, text in corpus(language)]


def texts(card: dict[str, Any]) -> list[str]:
    """What a clinician reads on a card: summary, detail, suggestion labels and action
    descriptions, link labels (not the extension, which keeps the ids on purpose)."""
    out = [card["summary"], card.get("detail", "")]
    out += [s["label"] for s in card.get("suggestions", [])]
    out += [a["description"] for s in card.get("suggestions", []) for a in s["actions"]]
    out += [link["label"] for link in card.get("links", [])]
    return out
