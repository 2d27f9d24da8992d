"""The second source pass applied (../shared/knowledge/background/clinical-sources-2.md §2):
tags, comparators and the values they leave unchanged; D-mid named on cards like D-lo and K;
the strict comparators at their boundaries; the intolerance grades said to be this service's design."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from gmg.assessment import assess
from gmg.parameters import INTERIM_TAGS, ParameterError, load
from gmg.therapy import thymectomy_finding
from hooks.assessment_cards import assessment_card
from hooks.i18n import use_language
from tests.assessment_records import (
    STEROID_OK,
    adverse_event,
    antibody,
    condition,
    days_ago,
    exposure,
    gmg_record,
    trough,
    weight,
)

P = load()

# parameter id -> (value, tag, comparator) after the second pass
SECOND_PASS = {
    "mg_adl_min": (6, "D-hi", ">="),
    "ocular_share_max": (0.5, "D-hi", "<"),
    "nsist_required": (1, "D-mid", None),
    "adequacy_glucocorticoid_min_weeks": (8, "D-mid", None),
    "adequacy_azathioprine_min_weeks": (24, "D-mid", None),
    "adequacy_methotrexate_min_weeks": (24, "D-mid", None),
    "adequacy_mycophenolate_mofetil_min_weeks": (24, "D-mid", None),
    "adequacy_cyclosporine_min_weeks": (24, "D-mid", None),
    "adequacy_tacrolimus_min_weeks": (12, "D-mid", None),
    "adequacy_cyclosporine_trough_min_ng_ml": (100, "D-hi", ">"),
    "adequacy_tacrolimus_trough_min_ng_ml": (4.8, "D-hi", ">="),
    "adequacy_cyclophosphamide_cumulative_g_min": (15, "D-lo", None),
    "intolerance_grade_auto": (3, "I", None),
    "intolerance_grade_with_record": (2, "I", None),
    "rescue_courses_min": (2, "D-mid", None),
    "rescue_window_days": (365, "D-lo", None),
    "rescue_gap_days": (14, "D-hi", None),
    "thymectomy_max_age_years": (65, "D-hi", "<"),
    "thymectomy_max_disease_years": (5, "D-hi", "<"),
    "rituximab_bsa_weekly_doses": (4, "D-mid", None),
    "rituximab_low_dose_mg": ([100.0, 500.0], "D-mid", None),
    "fcrn_washout_days": (14, "V", None),
    "rozanolixizumab_weekly_mg": ([420, 560, 840], "K", None),
    "icg2016_nsist_required": (2, "K", None),
}


@pytest.mark.parametrize("pid", sorted(SECOND_PASS))
def test_the_second_pass_table_is_applied(pid):
    value, tag, comparator = SECOND_PASS[pid]
    e = P.entry(pid)
    assert (e.value, e.tag, e.comparator) == (value, tag, comparator)
    assert "sources-2" in e.source, pid  # each entry cites the second pass


def test_d_mid_is_named_on_cards_like_d_lo_and_k():
    assert "D-mid" in INTERIM_TAGS and P.entry("adequacy_azathioprine_min_weeks").is_interim
    assert not P.entry("intolerance_grade_auto").is_interim  # a design decision (I) is not "interim"
    # azathioprine 18 of 24 weeks: the outcome rests on the D-mid duration, and the card says so
    rec = gmg_record(exposures=(STEROID_OK, exposure("azathioprine", days_ago(18 * 7), mg_per_day=140)))
    a = assess(rec, P)
    assert a.cn_status == "not-met-inadequate"
    detail = assessment_card(rec, a, P).to_json()["detail"]
    # said in plain words (issue #16); the parameter id and its tag stay in the card extension
    assert "azathioprine ≥ 24 weeks" in detail and "D-mid" not in detail
    ext = assessment_card(rec, a, P).to_json()["extension"]["gmg-cds"]["findings"]
    assert any("adequacy_azathioprine_min_weeks" in f.get("parameters", ()) for f in ext)


def test_passes_needs_a_comparator_and_an_override_keeps_it(tmp_path):
    with pytest.raises(ParameterError):
        P.passes("rescue_courses_min", 3)
    f = tmp_path / "site.toml"
    f.write_text("[adequacy_cyclosporine_trough_min_ng_ml]\nvalue = 120\n", encoding="utf-8")
    site = load(str(f))
    assert site.entry("adequacy_cyclosporine_trough_min_ng_ml").comparator == ">"
    assert not site.passes("adequacy_cyclosporine_trough_min_ng_ml", 120) and site.passes("adequacy_cyclosporine_trough_min_ng_ml", 121)


def _cyclosporine_patient(level: float):
    return gmg_record(
        exposures=(STEROID_OK, exposure("cyclosporine", date(2025, 1, 1), mg_per_day=210)),  # 3 mg/kg/d at 70 kg
        measurements=(weight(), trough("cyclosporine-trough", level, date(2025, 6, 1))),
    )


def test_cyclosporine_trough_is_strictly_above_100():
    """'浓度大于100 ng/ml': exactly 100 is not in range (it was, read as >= 100, before the second pass)."""
    assert "cyclosporine" in assess(_cyclosporine_patient(100.5), P).adequately_tried
    at_100 = assess(_cyclosporine_patient(100.0), P)
    assert "cyclosporine" not in at_100.adequately_tried
    level = next(f for f in at_100.findings if f.code == "optimise.nsist-level")
    assert "is not above 100 ng/mL" in level.text and level.data["drug"] == "cyclosporine"


def test_tacrolimus_trough_of_exactly_4_8_is_in_range():
    rec = gmg_record(
        exposures=(STEROID_OK, exposure("tacrolimus", date(2025, 1, 1), mg_per_day=3)),
        measurements=(weight(), trough("tacrolimus-trough", 4.8, date(2025, 6, 1))),
    )
    assert "tacrolimus" in assess(rec, P).adequately_tried


@pytest.mark.parametrize("born, onset, considered", [
    (date(1962, 1, 1), date(2023, 1, 1), True),    # 64 y, disease 3 y
    (date(1961, 11, 22), date(2023, 1, 1), False),  # 65 today: not < 65
    (date(1980, 1, 1), date(2021, 11, 23), True),   # disease 4 y
    (date(1980, 1, 1), date(2021, 11, 22), False),  # disease 5 y today: not < 5
])
def test_thymectomy_is_strictly_under_65_and_under_5_years(born, onset, considered):
    rec = gmg_record(birth_date=born, conditions=(condition(onset=onset),), antibodies=(antibody("achr-binding", "positive"),))
    f = thymectomy_finding(rec, "achr", P)
    assert (f is not None and f.data["strength"] == "may-be-considered") is considered
    if considered:
        # decided by D-hi limits (not interim): no interim wording; tags stay out of the sentence
        assert "Interim" not in f.text and "D-hi" not in f.text
        assert {P.entry(p).tag for p in f.parameters} == {"D-hi"}


def test_the_card_says_the_intolerance_grades_are_this_services_design():
    rec = gmg_record(
        exposures=(STEROID_OK, exposure("azathioprine", date(2025, 2, 1), date(2025, 4, 1), mg_per_day=140, status="stopped")),
        adverse_events=(adverse_event("azathioprine", 3, date(2025, 3, 30)),),
    )
    a = assess(rec, P)
    assert "c3-3" in a.criteria_fired
    c33 = next(f for f in a.findings if f.code == "refractory.cn.c3-3")
    statement = next(e for e in c33.evidence if e.label.startswith("intolerance threshold"))
    assert statement.value == ("the consensus names no CTCAE grade; this service treats grade ≥ 3 (or grade ≥ 2 "
                               "with a clinician-recorded intolerance) as intolerance")
    en = assessment_card(rec, a, P).to_json()["detail"]
    assert "the consensus names no CTCAE grade" in en
    with use_language("zh-CN"):
        zh = assessment_card(rec, a, P).to_json()["detail"]
    assert "共识未规定 CTCAE 分级；本服务将 ≥ 3 级" in zh


def test_unchanged_values_keep_their_outcomes():
    """No value changed in the second pass: an adequate steroid for 8 weeks and azathioprine for 24
    weeks still make the patient's therapy adequate (the dates are the boundaries)."""
    start = date(2026, 11, 22) - timedelta(weeks=24)
    rec = gmg_record(exposures=(exposure("prednisone", start, mg_per_day=35), exposure("azathioprine", start, mg_per_day=140)))
    assert {"prednisone", "azathioprine"} <= assess(rec, P).adequately_tried
