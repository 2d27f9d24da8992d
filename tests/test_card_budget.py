"""Cards a neurologist reads in seconds (issue #16): a budget per card, and cards built from the
rules' structured pieces rather than from their sentences.

The budget is what the CDS Hooks sandbox showed to fit a refractory patient's page in 3,000 px at
1440 × 1000 (scripts/sandbox_measure.py, README "Measuring the cards in the sandbox"): about
1,200 characters of English per card (summary and detail as read: markdown link targets and
emphasis marks are not seen), short suggestion labels, and a trial's registry record linked from
its line instead of a card link per trial. Measured over every card of the test data
(tests/card_corpus.py: every demo patient, the demo orders, the §6 order scenarios, the sandbox's
own drafts). The real page heights need the built sandbox and stay a script.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import date
from typing import Any

import pytest

from fhir_mappings.prefetch import prefetch_from_bundle
from gmg.findings import Finding
from gmg.therapy import therapy_options
from hooks import context
from hooks.i18n import use_language
from hooks.registry import HookCall
from hooks.therapy_cards import options_card
from tests.card_corpus import cards
from tests.test_demo_patients import DEMO

CARD_CHARS_MAX = 1350  # "about 1,200 characters of English per card" (the longest, course-refractory: 1,332)
LABEL_CHARS_MAX = 40  # a patient-view suggestion: the drug's name, or what it orders in a few words
LINK = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")


def visible(card: dict[str, Any]) -> str:
    """The summary and detail as the reader sees them: a markdown link as its text, no ** marks."""
    text = card["summary"] + "\n" + card.get("detail", "")
    return LINK.sub(r"\1", text).replace("**", "")


def test_every_card_keeps_to_about_1200_characters_of_english() -> None:
    sizes = sorted(((len(visible(c)), where, c["summary"]) for where, c in cards("en")), reverse=True)
    assert sizes and sizes[0][0] <= CARD_CHARS_MAX, sizes[:3]
    # the budget is the therapy card's (the longest); the others stay well inside it
    assert all(n <= 1000 for n, _where, summary in sizes if not summary.startswith("Options:")), sizes[:5]


def test_patient_view_suggestions_have_short_labels_and_one_per_drug() -> None:
    for where, card in cards("en"):
        if not where.startswith("demo ") or "order" in where:
            continue
        labels = [s["label"] for s in card.get("suggestions", [])]
        assert all(len(label) <= LABEL_CHARS_MAX for label in labels), (where, labels)
        drafted = [a["resource"]["medicationCodeableConcept"]["coding"][0]["code"]
                   for s in card.get("suggestions", []) for a in s["actions"]
                   if a["resource"]["resourceType"] == "MedicationRequest"
                   and a["resource"]["medicationCodeableConcept"].get("coding")
                   and a["resource"]["medicationCodeableConcept"]["coding"][0]["system"].endswith("rxnorm")]
        assert len(drafted) == len(set(drafted)), (where, labels)  # one suggestion per drug


def test_each_trial_links_its_registry_record_from_its_line() -> None:
    seen = 0
    for where, card in cards("en"):
        ncts = {f["nct"] for f in card["extension"]["gmg-cds"]["findings"] if f["code"].startswith("trial.")}
        if not ncts:
            continue
        seen += 1
        linked = {m.group(1): m.group(2) for m in LINK.finditer(card["detail"])}
        assert {n: f"https://clinicaltrials.gov/study/{n}" for n in ncts} == linked, where
        assert all(link.get("type") == "smart" for link in card.get("links", [])), where  # no row per trial
    assert seen


# -- the therapy card reads a regimen by its parts and a note by its kind (never the sentence) -----


def _evaluation(slug: str) -> context.Evaluation:
    prefetch, pid = prefetch_from_bundle(json.loads((DEMO / f"{slug}.json").read_text()))
    call = HookCall("gmg-patient-view", "patient-view", "h", {"patientId": pid}, prefetch, frozenset(), date(2026, 11, 22))
    return context.evaluate(call)


def _detail(ev: context.Evaluation, findings: tuple[Finding, ...]) -> str:
    with use_language("en"):
        card = options_card(ev.record, ev.assessment, ev.params, findings)
    assert card is not None
    return card.detail or ""


def _with_drugs(findings: tuple[Finding, ...], change) -> tuple[Finding, ...]:
    out = []
    for f in findings:
        data = copy.deepcopy(f.data)
        for d in data.get("drugs", []) or []:
            change(d)
        out.append(Finding(f.code, f.text, f.indicator, f.evidence, f.parameters, data))
    return tuple(out)


@pytest.mark.parametrize("slug", ["therapy-achr", "met-3-4", "therapy-hsct"])
def test_the_options_card_never_reads_the_regimen_sentence(slug: str) -> None:
    ev = _evaluation(slug)
    findings = therapy_options(ev.record, ev.assessment, ev.params)
    baseline = _detail(ev, findings)

    def garble(d: dict[str, Any]) -> None:  # the sentences the card used to cut up
        if "dose" in d:
            d["dose"] = "SENTENCE NOT READ"
        if "note" in d:
            d["note"] = "SENTENCE NOT READ"

    assert _detail(ev, _with_drugs(findings, garble)) == baseline

    def first_dose(d: dict[str, Any]) -> None:
        for r in d.get("regimens", []):
            r["first"] = "FIRST DOSE PART"

    assert "FIRST DOSE PART" in _detail(ev, _with_drugs(findings, first_dose))


def test_a_value_to_verify_is_left_to_the_interim_line_only_when_that_line_names_it() -> None:
    ev = _evaluation("met-3-4")
    findings = therapy_options(ev.record, ev.assessment, ev.params)
    detail = _detail(ev, findings)
    assert "verify against the gMG label section" not in detail and "inebilizumab schedule" in detail

    def not_interim(d: dict[str, Any]) -> None:
        if d.get("ingredient") == "inebilizumab":
            d["parameters"] = []  # its dose no longer rests on an interim parameter

    assert "verify against the gMG label section" in _detail(ev, _with_drugs(findings, not_interim))
