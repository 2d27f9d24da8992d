"""Patient-view cards of the assessment: content, findings extension, interim defaults, gating."""

from __future__ import annotations

from datetime import date

from gmg.assessment import assess
from gmg.parameters import load
from hooks.assessment_cards import assessment_cards
from hooks.cards import STANDARD_OVERRIDE_REASONS
from tests.assessment_records import (
    STEROID_OK,
    condition,
    days_ago,
    exposure,
    gmg_record,
    rescue,
    trough,
    weight,
)

P = load()


def cards_for(record):
    return assessment_cards(record, assess(record, P), P)


def test_met_card_names_criteria_values_dates_definitions_and_version():
    cards = cards_for(gmg_record())
    assert len(cards) == 1
    card = cards[0]
    assert card.indicator == "warning" and card.override_reasons == STANDARD_OVERRIDE_REASONS
    assert len(card.summary) < 140 and "3-1" in card.summary
    d = card.detail or ""
    assert "MG-ADL 8 (≥ 6)" in d and days_ago(10).isoformat() in d
    assert "ICG 2016 not met" in d and "Japan 2022" in d
    assert f"Parameter set {P.version}" in d
    assert card.source.label.startswith("Chinese expert consensus")
    ext = card.to_json()["extension"]["gmg-cds"]["findings"]
    assert [f["code"] for f in ext][:2] == ["refractory.cn.met", "refractory.cn.c1"]
    assert any(f["code"] == "refractory.cn.c3-1" and f.get("evidence") for f in ext)


def test_interim_default_that_decided_is_named():
    r = gmg_record(
        exposures=(STEROID_OK, exposure("azathioprine", days_ago(60), mg_per_day=140)),
        rescue_courses=(rescue("ivig", days_ago(200)), rescue("plex", days_ago(100))),
    )
    d = cards_for(r)[0].detail or ""
    # named in plain words, with what to do about it; the ids stay in the extension
    assert "Interim, to verify: " in d
    assert "≥ 2 rescue courses" in d and "within 365 days" in d
    assert "rescue_courses_min" not in d and "D-lo" not in d
    ext = cards_for(r)[0].to_json()["extension"]["gmg-cds"]["findings"]
    assert any("rescue_courses_min" in f.get("parameters", ()) for f in ext)


def test_severity_card_is_info_without_override_reasons():
    from tests.assessment_records import adl

    card = cards_for(gmg_record(mg_adl=(adl(6, 3),)))[0]
    assert card.indicator == "info" and not card.override_reasons
    assert "ocular share 50%" in card.summary
    assert "refractory.cn.ocular-dominant" in card.finding_codes


def test_inadequate_gives_an_optimisation_card_with_level_order():
    r = gmg_record(
        exposures=(exposure("prednisone", date(2025, 1, 1), mg_per_day=20), exposure("tacrolimus", date(2026, 1, 1), mg_per_day=3)),
        measurements=(weight(), trough("tacrolimus-trough", 3.0, date(2026, 6, 1))),
    )
    cards = cards_for(r)
    assert len(cards) == 2
    opt = cards[1]
    assert set(opt.finding_codes) == {"optimise.steroid-dose", "optimise.nsist-level"}
    assert opt.indicator == "warning" and opt.override_reasons
    assert "re-evaluate" in opt.summary
    sr = opt.suggestions[0].actions[0].resource
    assert sr["resourceType"] == "ServiceRequest" and sr["code"]["coding"][0]["code"] == "11253-2"
    assert "refractory.cn.not-met.inadequate-treatment" in cards[0].finding_codes


def test_indeterminate_card_lists_what_is_missing():
    card = cards_for(gmg_record(pis=(), measurements=()))[0]
    assert "undetermined" in card.summary
    assert "Missing data" in (card.detail or "")
    assert {"data-gap.pis", "data-gap.weight"} <= set(card.finding_codes)


def test_acute_card_is_critical_and_says_confirm_after_stabilisation():
    r = gmg_record(conditions=(condition(), condition("myasthenic-crisis", days_ago(3))))
    card = cards_for(r)[0]
    assert card.indicator == "critical" and card.override_reasons
    assert card.finding_codes[0] == "acute.exacerbation"
    assert "stabilise first" in card.summary
    assert "confirm the refractory status after stabilisation" in (card.detail or "")


def test_no_card_without_mg_and_one_info_card_for_ocular_mg():
    assert cards_for(gmg_record(conditions=(condition("hypertension"),))) == []
    assert cards_for(gmg_record(conditions=(condition("lambert-eaton"),))) == []
    cards = cards_for(gmg_record(conditions=(condition("mg-ocular"),)))
    assert len(cards) == 1 and cards[0].indicator == "info"
    assert cards[0].finding_codes == ("refractory.cn.not-met.diagnosis",)
    assert cards[0].links


def test_every_card_serialises_with_the_findings_extension():
    for r in (gmg_record(), gmg_record(pis=()), gmg_record(exposures=(STEROID_OK,))):
        for card in cards_for(r):
            j = card.to_json()
            assert j["extension"]["gmg-cds"]["findings"] and all("code" in f for f in j["extension"]["gmg-cds"]["findings"])
            assert len(j["summary"]) < 140
