"""gmg-rules.md §9: "Several deficits of one kind on different drugs are several findings (one per
drug)". The V6-like patient: azathioprine 18 of 24 weeks and tacrolimus 10 of 12 weeks, each at an
adequate dose, gets two `optimise.nsist-duration` findings, each naming its drug and due date,
and the optimisation card lists both - with or without a tacrolimus trough on record."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest

from fhir_mappings import build_record
from fhir_mappings.prefetch import prefetch_from_bundle
from gmg.assessment import assess
from gmg.parameters import load
from hooks.assessment_cards import assessment_card, optimisation_card
from hooks.i18n import use_language
from tests.assessment_records import STEROID_OK, days_ago, exposure, gmg_record, trough, weight

P = load()
ROOT = Path(__file__).resolve().parents[1]


def v6_record(with_trough: bool):
    measurements = (weight(),) + ((trough("tacrolimus-trough", 6.0, days_ago(20)),) if with_trough else ())
    return gmg_record(
        exposures=(STEROID_OK,
                   exposure("azathioprine", days_ago(18 * 7), mg_per_day=140),
                   exposure("tacrolimus", days_ago(10 * 7), mg_per_day=3)),
        measurements=measurements,
    )


def _durations(a):
    return {f.data["drug"]: f for f in a.findings if f.code == "optimise.nsist-duration"}


@pytest.mark.parametrize("with_trough", [True, False])
def test_two_drugs_short_of_their_duration_give_one_finding_each(with_trough):
    a = assess(v6_record(with_trough), P)
    assert a.cn_status == "not-met-inadequate"  # a missing trough cannot make a 10-week course adequate
    by_drug = _durations(a)
    assert set(by_drug) == {"azathioprine", "tacrolimus"}
    assert by_drug["azathioprine"].data["dueOn"] == "2027-01-03" and by_drug["azathioprine"].data["minimumWeeks"] == 24
    assert by_drug["tacrolimus"].data["dueOn"] == "2026-12-06" and by_drug["tacrolimus"].data["minimumWeeks"] == 12
    assert a.reevaluate_on == date(2027, 1, 3)
    card = optimisation_card(v6_record(with_trough), a, P).to_json()
    codes = [f["code"] for f in card["extension"]["gmg-cds"]["findings"]]
    assert codes.count("optimise.nsist-duration") == 2
    assert "Azathioprine at adequate dose for 18 of 24 weeks" in card["detail"]
    assert "Tacrolimus (systemic) at adequate dose for 10 of 12 weeks" in card["detail"]
    with use_language("zh-CN"):
        zh = optimisation_card(v6_record(with_trough), a, P).to_json()
    assert "硫唑嘌呤" in zh["detail"] and "他克莫司" in zh["detail"]


def test_without_a_trough_the_card_still_asks_for_one():
    rec = v6_record(with_trough=False)
    a = assess(rec, P)
    gap = next(f for f in a.findings if f.code == "data-gap.drug-level")
    assert gap.data["drug"] == "tacrolimus"
    assert "No Tacrolimus (systemic) trough level" in assessment_card(rec, a, P).to_json()["detail"]
    suggestions = optimisation_card(rec, a, P).to_json()["suggestions"]
    assert any(s["actions"][0]["resource"]["code"]["coding"][0]["code"] == "11253-2" for s in suggestions)


def test_a_low_dose_without_a_trough_is_inadequate_not_unknown():
    rec = gmg_record(exposures=(STEROID_OK, exposure("tacrolimus", days_ago(200), mg_per_day=1)), measurements=(weight(),))
    a = assess(rec, P)
    assert a.cn_status == "not-met-inadequate"
    assert {"optimise.nsist-dose", "data-gap.drug-level"} <= set(a.finding_codes)


def test_the_v6_patient_from_fhir_gets_both_findings():
    sys.path.insert(0, str(ROOT / "demo"))
    from build_bundles import Patient

    p = Patient("v6", "Vera", "Six", "female", "1980-01-01")
    p.condition("mg-generalized", "2019-03-01")
    p.antibody("achr-binding", True, "cba", "2019-03-10")
    p.weight(70, "2026-10-01")
    p.medication("prednisone", "2025-01-10", None, 40)
    p.medication("azathioprine", "2026-07-19", None, 75, per_day=2)
    p.medication("tacrolimus", "2026-09-13", None, 1.5, per_day=2)
    p.mg_adl(9, 2, "2026-11-02")
    p.pis("U", "2026-11-02")
    prefetch, pid = prefetch_from_bundle(p.bundle())
    a = assess(build_record(prefetch, pid, date(2026, 11, 22)), P)
    assert set(_durations(a)) == {"azathioprine", "tacrolimus"}


def test_two_inducers_of_one_drug_are_two_findings():
    rec = gmg_record(
        exposures=(STEROID_OK, exposure("tacrolimus", date(2025, 1, 1), mg_per_day=3),
                   exposure("carbamazepine", date(2024, 1, 1)), exposure("rifampin", date(2025, 3, 1))),
        measurements=(weight(), trough("tacrolimus-trough", 3.0, date(2025, 6, 1))),
    )
    inducers = [f.data["inducer"] for f in assess(rec, P).findings if f.code == "optimise.cyp3a4-inducer"]
    assert sorted(inducers) == ["carbamazepine", "rifampin"]
