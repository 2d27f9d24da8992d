"""Regression tests for the defects found in the clinical QA review (cards read as a neurologist
would read them, against ../shared/knowledge/gmg-rules.md). One test (or a few) per defect."""

from __future__ import annotations

from datetime import date

import pytest

from gmg.parameters import load as load_parameters
from gmg.record import MedicationExposure
from gmg.therapy import therapy_options
from tests.therapy_fixtures import FakeAssessment, TODAY, cond, exposure, record, vaccine

P = load_parameters()


def administration(ingredient: str, when: date, dose_mg: float = 1000) -> MedicationExposure:
    return MedicationExposure(
        ingredient=ingredient, drug_classes=frozenset(), route="iv", kind="administration", status="completed",
        start=when, end=None, dose_mg=dose_mg, mg_per_day=None, mg_per_week=None, mg_per_kg_per_day=None,
        weight_kg=None, dose_text=None, source=f"MedicationAdministration/{ingredient}-{when}",
    )


def codes(findings) -> list[str]:
    return [f.code for f in findings]


def option(findings, prefix: str):
    return next(f for f in findings if f.code.startswith(prefix))


# -- current therapy: interval-dosed biologics recorded as infusions (gmg-rules.md §9) ----------


@pytest.mark.parametrize(
    ("ingredient", "given", "code"),
    [
        ("rituximab", date(2026, 9, 20), "therapy.anti-cd20.current"),  # B cells depleted for months
        ("eculizumab", date(2026, 11, 12), "therapy.c5-inhibitor.current"),  # every-2-week infusions
        ("ravulizumab", date(2026, 10, 1), "therapy.c5-inhibitor.current"),  # every 8 weeks
        ("efgartigimod", date(2026, 10, 20), "therapy.fcrn-antagonist.current"),  # between cycles
        ("inebilizumab", date(2026, 7, 1), "therapy.anti-cd19.current"),  # every 6 months
    ],
)
def test_recent_infusion_of_a_biologic_is_current_therapy_not_a_new_suggestion(ingredient, given, code):
    findings = therapy_options(record(exposures=(administration(ingredient, given),)), FakeAssessment(), P)
    assert code in codes(findings)
    f = option(findings, code)
    assert ingredient in f.data["current"]
    assert all(d["state"] != "suggest" for d in f.data["drugs"])
    assert "therapy_current_after_last_dose_days" in f.parameters


def test_biologic_given_long_ago_or_stopped_is_suggested_again():
    old = administration("rituximab", date(2025, 1, 10))
    findings = therapy_options(record(exposures=(old,)), FakeAssessment(), P)
    assert "therapy.anti-cd20" in codes(findings)
    stopped = exposure("eculizumab", start=date(2026, 6, 1), end=date(2026, 11, 1), status="stopped", route="iv")
    findings = therapy_options(record(exposures=(stopped,)), FakeAssessment(), P)
    assert "therapy.c5-inhibitor" in codes(findings)


# -- meningococcal prerequisite agrees with the order check (gmg-rules.md §6, §9) ---------------


def test_meningococcal_prerequisite_reads_completion_like_the_order_check():
    # Primary MenACWY 2020, MenB 2021, MenACWY booster last week: vaccination has long been complete;
    # the order check (gmg/safety/c5.py) lets a C5 start today, so the therapy card must not say "wait".
    r = record(immunizations=(vaccine("menacwy", date(2020, 1, 1)), vaccine("menb", date(2021, 1, 1)),
                              vaccine("menacwy", date(2026, 11, 15))))
    c5 = option(therapy_options(r, FakeAssessment(), P), "therapy.c5-inhibitor")
    men = next(p for p in c5.data["prerequisites"] if p["name"].startswith("Meningococcal"))
    assert men["status"] == "met"
    # Completion only last week (first MenB 2026-11-15): wait 14 days from then.
    r = record(immunizations=(vaccine("menacwy", date(2020, 1, 1)), vaccine("menb", date(2026, 11, 15))))
    c5 = option(therapy_options(r, FakeAssessment(), P), "therapy.c5-inhibitor")
    men = next(p for p in c5.data["prerequisites"] if p["name"].startswith("Meningococcal"))
    assert men["status"] == "recent" and men["earliest_start"] == "2026-11-29"


# -- pregnancy: C5 card gives a C5 reason, not the FcRn one ---------------------------------------


def test_pregnancy_c5_text_does_not_give_the_fcrn_reason():
    r = record(conditions=(cond("mg-generalized", date(2019, 1, 1)), cond("pregnancy", date(2026, 8, 1))))
    findings = therapy_options(r, FakeAssessment(), P)
    c5 = option(findings, "therapy.c5-inhibitor.pregnancy-specialist")
    fcrn = option(findings, "therapy.fcrn-antagonist.pregnancy-specialist")
    assert "FcRn" not in c5.text and "C5 inhibitor is a specialist decision" in c5.text
    assert "FcRn antagonists reduce maternal IgG transfer" in fcrn.text


def test_today_is_the_review_date():
    assert TODAY == date(2026, 11, 22)


# -- cards of the demo patients, read through the CLI as a clinician would see them --------------


def demo_cards(slug: str, tmp_path) -> list[dict]:
    import json

    from tests.test_cli import run, saved_request

    code, raw = run("evaluate", saved_request(slug, tmp_path), "--today", "2026-11-22", "--json")
    assert code == 0
    return json.loads(raw)["cards"]


def card_with(cards: list[dict], code: str) -> dict:
    return next(c for c in cards if any(f["code"] == code for f in c["extension"]["gmg-cds"]["findings"]))


def test_ocular_dominant_card_points_to_the_ocular_mg_pathway(tmp_path):
    # gmg-rules.md §2: criterion 2 fails with ocular share >= 0.50 -> refractory.cn.ocular-dominant
    # "(point to the ocular-MG pathway)": the finding's text and the pathway link must be on the card.
    card = card_with(demo_cards("not-met-severity-ocular-dominant", tmp_path), "refractory.cn.ocular-dominant")
    assert "ocular-MG pathway" in card["detail"]
    assert any("ocular MG" in link["label"] for link in card.get("links", []))


def test_excluded_trial_names_the_lapse_date_of_a_time_limited_criterion(tmp_path):
    # Thymectomy 2026-03-01 (E2, 12 months) and ongoing prednisone (E7, open-ended): E2's lapse date
    # must still be shown (gmg-rules.md §7).
    card = card_with(demo_cards("therapy-elderly", tmp_path), "trial.NCT05828225.excluded")
    line = next(x for x in card["detail"].splitlines() if x.startswith("- [NCT05828225]"))
    assert "E2" in line and "2027-03-01" in line


def test_prefer_ivig_reasons_read_as_words_with_their_values(tmp_path):
    card = card_with(demo_cards("therapy-elderly", tmp_path), "rescue.prefer-ivig")
    assert "age over 65: 72 years" in card["detail"]
    assert "65 72" not in card["detail"]


# -- draft orders say what the regimen says (gmg-rules.md §8, §9 Options) -------------------------


def _drug_orders(findings, ingredient: str) -> list[dict]:
    from gmg.therapy import suggested_orders

    return [o for o in suggested_orders(findings) if o["ingredient"] == ingredient]


def test_rituximab_low_dose_draft_is_100_mg_then_500_mg_not_twice_100_mg():
    from fhir.resources.R4B.medicationrequest import MedicationRequest

    from fhir_mappings.suggestions import medication_proposal

    findings = therapy_options(record(), FakeAssessment(), P)
    low = next(o for o in _drug_orders(findings, "rituximab") if "low dose" in o["text"])
    mr = medication_proposal("pt1", low)
    MedicationRequest.model_validate(mr)
    first, second = mr["dosageInstruction"]
    assert first["doseAndRate"][0]["doseQuantity"]["value"] == 100.0
    assert first["timing"]["repeat"]["count"] == 1
    assert second["doseAndRate"][0]["doseQuantity"]["value"] == 500.0
    assert (first["sequence"], second["sequence"]) == (1, 2)


def test_inebilizumab_draft_carries_the_day_15_interval():
    findings = therapy_options(record(), FakeAssessment(), P)
    (ineb,) = _drug_orders(findings, "inebilizumab")
    assert ineb["dose_mg"] == 300
    assert ineb["timing"] == {"frequency": 1, "period": 14, "periodUnit": "d", "count": 2}


# -- tacrolimus suggested next to a strong CYP3A4 modulator: say so on the option ----------------


def test_tacrolimus_option_names_an_active_strong_cyp3a4_inducer():
    # The order check (safety.tacrolimus.cyp3a4) warns when tacrolimus is ordered next to an active
    # inducer; the therapy card that proposes tacrolimus must not be silent about the same pair.
    r = record(exposures=(exposure("carbamazepine"),))
    tac = option(therapy_options(r, FakeAssessment(), P), "therapy.tacrolimus")
    (cyp,) = [p for p in tac.data["prerequisites"] if "CYP3A4" in p["name"]]
    assert cyp["status"] == "not-met" and "carbamazepine" in cyp["detail"]
    clean = option(therapy_options(record(), FakeAssessment(), P), "therapy.tacrolimus")
    assert [p["status"] for p in clean.data["prerequisites"]] == ["met"]


# -- criterion 3-3 never concluded from a dose that cannot be judged (gmg-rules.md §2, §9) --------


def test_grade3_event_on_a_drug_still_taken_at_an_unjudgeable_dose_is_not_criterion_3_3():
    from gmg.assessment import assess
    from tests.assessment_records import adverse_event, gmg_record

    # Azathioprine 140 mg/d is still taken; a grade 3 event is on record. With a weight (70 kg:
    # 2 mg/kg/d, adequate) it was not reduced -> 3-3 does not fire. Without any weight the dose per
    # kg is unknown, so whether it was reduced below adequacy is unknown: no "refractory" from 3-3.
    event = (adverse_event("azathioprine", 3, date(2025, 6, 1)),)
    with_weight = assess(gmg_record(adverse_events=event), P)
    assert "c3-3" not in with_weight.criteria_fired
    no_weight = assess(gmg_record(measurements=(), adverse_events=event), P)
    assert no_weight.cn_status == "indeterminate"
    assert no_weight.intolerance.met is None
    assert any(g.code == "data-gap.weight" and g.data.get("drug") == "azathioprine" for g in no_weight.intolerance.gaps)
    # A stopped drug after a grade 3 event still qualifies.
    from tests.assessment_records import STEROID_OK, exposure

    stopped = exposure("azathioprine", date(2025, 1, 1), end=date(2025, 6, 5), mg_per_day=140, status="stopped")
    qualified = assess(gmg_record(measurements=(), exposures=(STEROID_OK, stopped), adverse_events=event), P)
    assert qualified.intolerance.met is True


# -- a class tried before is named when it is offered again (therapy-hsct demo) --------------------


def test_option_offered_again_names_the_earlier_use(tmp_path):
    # HSCT is offered "after the main classes (C5, anti-CD20, FcRn)" because efgartigimod was given;
    # the FcRn option on the same card must not read as if the class had never been tried.
    card = card_with(demo_cards("therapy-hsct", tmp_path), "therapy.hsct")
    fcrn = next(x for x in card["detail"].splitlines() if x.startswith("- **FcRn antagonist**"))
    assert "Given before: efgartigimod (last 2025-03-01)" in fcrn
    f = next(x for x in card["extension"]["gmg-cds"]["findings"] if x["code"] == "therapy.fcrn-antagonist")
    assert f["previous"] == [{"ingredient": "efgartigimod", "last": "2025-03-01"}]
