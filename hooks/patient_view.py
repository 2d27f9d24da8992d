"""gmg-patient-view: the refractory-gMG assessment when a chart is opened."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from gmg.assessment import Assessment
from gmg.parameters import Parameters
from gmg.record import PatientRecord

from . import context
from .assessment_cards import assessment_cards
from .cards import Card, Link
from .i18n import t, use_language
from .recognition import with_recognition
from .therapy_cards import therapy_cards
from .trial_cards import trial_cards
from .registry import HookCall, ServiceDefinition

CardBuilder = Callable[[PatientRecord, Assessment, Parameters], list[Card]]

# The card builders of this service, in display order. Each receives the record, the assessment
# and the parameters and returns its cards (possibly none). Therapy options and trials add their
# builders here.
CARD_BUILDERS: list[CardBuilder] = [assessment_cards, therapy_cards, trial_cards]

def handle(call: HookCall) -> list[Card]:
    with use_language(call.language):
        cards = _cards(call)
        if call.summary_url and cards:
            cards = with_summary_link(cards, call.summary_url)
        return cards


def with_summary_link(cards: list[Card], url: str) -> list[Card]:
    """Every card links to the MG summary page (a SMART app launched by the EHR with the
    patient in context): the whole course in charts, where a card can only say it in text."""
    link = Link(label=t("link.mg-summary"), url=url, type="smart")
    return [replace(card, links=card.links + (link,)) for card in cards]


def _cards(call: HookCall) -> list[Card]:
    ev = context.evaluate(call)
    if not ev.has_cards:
        return []
    cards = [card for build in CARD_BUILDERS for card in build(ev.record, ev.assessment, ev.params)]
    cards = with_recognition(cards, ev.record)
    if ev.assessment.acute:  # during an exacerbation the rapid options come first (gmg-rules.md §2)
        cards.sort(key=lambda c: not any(code.startswith("rescue.") for code in c.finding_codes))
    return cards


SERVICE = ServiceDefinition(
    id="gmg-patient-view",
    hook="patient-view",
    title="Refractory generalized myasthenia gravis assessment",
    description=(
        "Assesses generalized myasthenia gravis against the Chinese expert consensus on refractory "
        "gMG (with ICG 2016 beside it): status with evidence and data gaps, antibody revalidation, "
        "next-line options with doses for this patient, and matching clinical trials."
    ),
    handler=handle,
)

