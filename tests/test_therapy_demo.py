"""The therapy demo patients (demo/bundles/therapy-*.json) produce the therapy, rapid and trial
cards their README lines promise, through the real patient-view handler."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hooks.patient_view import handle
from hooks.registry import HookCall
from tests.conftest import TODAY
from tests.test_demo_patients import prefetch_of

DEMO = Path(__file__).resolve().parents[1] / "demo" / "bundles"
EXPECTED = {
    "therapy-achr": {"therapy.c5-inhibitor", "therapy.anti-cd20", "therapy.fcrn-antagonist", "therapy.anti-cd19",
                     "therapy.tacrolimus", "therapy.thymectomy", "rescue.ivig", "rescue.plex", "rescue.ivmp",
                     "trial.NCT06799247.candidate", "trial.NCT05828225.excluded"},
    "therapy-pregnant": {"therapy.anti-cd20.pregnancy-avoid", "therapy.c5-inhibitor.pregnancy-specialist",
                         "therapy.fcrn-antagonist.pregnancy-specialist", "therapy.pregnancy-review", "data-gap.height"},
    "therapy-elderly": {"rescue.prefer-ivig", "rescue.ivig", "rescue.plex", "rescue.ivmp", "trial.NCT05828225.excluded"},
    "therapy-hsct": {"therapy.c5-inhibitor.current", "therapy.anti-cd20.intolerance", "therapy.thymectomy",
                     "therapy.hsct", "data-gap.weight"},
    "musk-positive": {"therapy.anti-cd20", "therapy.c5-inhibitor.not-indicated", "rescue.prefer-plex",
                      "rescue.ivig.not-recommended-musk"},
    "seronegative-cba": {"therapy.serotype-review", "therapy.c5-inhibitor.not-indicated"},
    "unconfirmed-elisa": {"therapy.serotype-review", "therapy.c5-inhibitor.not-indicated"},
}


def cards_of(slug):
    pid, prefetch = prefetch_of(json.loads((DEMO / f"{slug}.json").read_text(encoding="utf-8")))
    return handle(HookCall("gmg-patient-view", "patient-view", "h", {"patientId": pid}, prefetch, frozenset(), TODAY))


@pytest.mark.parametrize("slug", sorted(EXPECTED))
def test_demo_patient_shows_therapy_cards(slug):
    cards = cards_of(slug)
    codes = {code for c in cards for code in c.finding_codes}
    assert EXPECTED[slug] <= codes, sorted(codes)


def test_elderly_crisis_puts_rapid_card_before_options():
    codes = [c.finding_codes[0] for c in cards_of("therapy-elderly")]
    assert codes.index("rescue.prefer-ivig") < codes.index("therapy.c5-inhibitor")


def test_lapse_dates_on_demo_trial_card():
    trial = next(c for c in cards_of("therapy-elderly") if c.finding_codes[0].startswith("trial."))
    excluded = next(f for f in trial.findings if f["code"] == "trial.NCT05828225.excluded")
    assert "E2" in excluded["deciding"]
    achr = next(c for c in cards_of("therapy-achr") if c.finding_codes[0].startswith("trial."))
    ex = next(f for f in achr.findings if f["code"] == "trial.NCT05828225.excluded")
    assert ex["lapses_on"] == "2026-12-08" and ex["deciding"] == ["E7"]
