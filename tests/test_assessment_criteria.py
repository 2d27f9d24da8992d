"""Criteria 1, 2, 3-1..3-4 of the Chinese consensus and each outcome, at their boundaries."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from gmg.assessment import assess
from gmg.parameters import load
from tests.assessment_records import (
    AZA_OK,
    STEROID_OK,
    adl,
    adverse_event,
    condition,
    days_ago,
    exposure,
    gmg_record,
    intolerance,
    pis,
    rescue,
    with_,
)

P = load()


def codes(record) -> set[str]:
    return set(assess(record, P).finding_codes)


# -- criterion 1 ---------------------------------------------------------------------------------


def test_no_mg_condition_is_not_assessed():
    a = assess(gmg_record(conditions=(condition("hypertension"),)), P)
    assert a.mg_status == "no-mg" and a.cn_status is None and a.findings == ()


@pytest.mark.parametrize("mimic", ["lambert-eaton", "congenital-myasthenic-syndrome", "drug-induced-mg", "neonatal-mg"])
def test_excluded_mimics_get_no_conclusion(mimic):
    a = assess(gmg_record(conditions=(condition("mg"), condition(mimic))), P)
    assert a.mg_status == "excluded" and a.cn_status is None and a.findings == ()


def test_ocular_only_by_code_and_by_mgfa_class_i():
    a = assess(gmg_record(conditions=(condition("mg-ocular"),)), P)
    assert a.mg_status == "ocular-only"
    assert a.finding_codes == ("refractory.cn.not-met.diagnosis",)
    from gmg.record import CodedAssessment

    cls_i = CodedAssessment("mgfa-class", "I", days_ago(5), "Observation/c")
    assert assess(gmg_record(conditions=(condition("mg"),), mgfa_class=(cls_i,)), P).mg_status == "ocular-only"
    cls_ii = CodedAssessment("mgfa-class", "IIb", days_ago(5), "Observation/c")
    assert assess(gmg_record(conditions=(condition("mg-ocular"),), mgfa_class=(cls_ii,)), P).mg_status == "generalized"


def test_inactive_mg_condition_counts_as_no_mg():
    a = assess(gmg_record(conditions=(condition(clinical_status="resolved"),)), P)
    assert a.mg_status == "no-mg"


# -- criterion 2 ---------------------------------------------------------------------------------


def test_ocular_share_exactly_half_fails_with_ocular_dominant():
    a = assess(gmg_record(mg_adl=(adl(6, 3),)), P)
    assert a.cn_status == "not-met-severity"
    assert {"refractory.cn.not-met.severity", "refractory.cn.ocular-dominant"} <= set(a.finding_codes)


def test_ocular_share_just_below_half_passes():
    a = assess(gmg_record(mg_adl=(adl(7, 3),)), P)  # 3/7 = 0.43
    assert a.cn_status == "met" and "c2" in a.criteria_fired


def test_mg_adl_5_fails_and_6_passes():
    low = assess(gmg_record(mg_adl=(adl(5, 0),)), P)
    assert low.cn_status == "not-met-severity"
    assert "refractory.cn.ocular-dominant" not in low.finding_codes
    assert assess(gmg_record(mg_adl=(adl(6, 0),)), P).cn_status == "met"


def test_score_age_boundary_90_days_ok_91_stale():
    assert assess(gmg_record(mg_adl=(adl(8, 0, days_ago(90)),)), P).cn_status == "met"
    stale = assess(gmg_record(mg_adl=(adl(8, 0, days_ago(91)),)), P)
    assert stale.cn_status == "indeterminate"
    assert "data-gap.mg-adl" in stale.finding_codes


def test_latest_score_is_used():
    a = assess(gmg_record(mg_adl=(adl(12, 0, days_ago(60)), adl(4, 0, days_ago(5)))), P)
    assert a.cn_status == "not-met-severity"


def test_no_mg_adl_is_a_data_gap_not_a_conclusion():
    a = assess(gmg_record(mg_adl=()), P)
    assert a.cn_status == "indeterminate"
    assert {"refractory.cn.indeterminate", "data-gap.mg-adl"} <= set(a.finding_codes)


def test_total_without_items():
    a = assess(gmg_record(mg_adl=(adl(9, None),)), P)
    assert a.cn_status == "indeterminate" and "data-gap.mg-adl-items" in a.finding_codes
    # a low total decides criterion 2 even without the items
    assert assess(gmg_record(mg_adl=(adl(4, None),)), P).cn_status == "not-met-severity"


# -- 3-1 / 3-2 and the outcomes -------------------------------------------------------------------


def test_met_via_3_1():
    a = assess(gmg_record(), P)
    assert a.cn_status == "met" and a.criteria_fired == ("c1", "c2", "c3-1")
    assert {"refractory.cn.met", "refractory.cn.c3-1"} <= set(a.finding_codes)
    assert a.adequately_tried == frozenset({"prednisone", "azathioprine"})


@pytest.mark.parametrize("code", ["U", "W", "E"])
def test_3_1_pis_unchanged_worse_exacerbation(code):
    assert "c3-1" in assess(gmg_record(pis=(pis(code),)), P).criteria_fired


def test_met_via_3_2_improved_but_still_severe():
    a = assess(gmg_record(pis=(pis("I"),)), P)
    assert a.criteria_fired == ("c1", "c2", "c3-2")


def test_adequate_therapy_reaching_mm_is_not_refractory():
    a = assess(gmg_record(pis=(pis("MM"),)), P)
    assert a.cn_status == "not-met-response" and "refractory.cn.not-met.response" in a.finding_codes


def test_missing_pis_is_indeterminate():
    a = assess(gmg_record(pis=()), P)
    assert a.cn_status == "indeterminate" and "data-gap.pis" in a.finding_codes


def test_stale_pis_is_a_gap():
    a = assess(gmg_record(pis=(pis("U", days_ago(366)),)), P)
    assert "data-gap.pis" in a.finding_codes


# -- adequacy: doses, durations, levels ---------------------------------------------------------


def test_steroid_dose_boundary():
    ok = gmg_record(exposures=(exposure("prednisone", date(2025, 1, 1), mg_per_day=35), AZA_OK))
    low = gmg_record(exposures=(exposure("prednisone", date(2025, 1, 1), mg_per_day=34), AZA_OK))
    assert assess(ok, P).cn_status == "met"
    a = assess(low, P)
    assert a.cn_status == "not-met-inadequate"
    assert "optimise.steroid-dose" in a.finding_codes
    assert "refractory.cn.not-met.inadequate-treatment" in a.finding_codes
    assert a.reevaluate_on == date(2027, 1, 17)  # today + 8 weeks


def test_methylprednisolone_counts_with_its_equivalence():
    # 28 mg methylprednisolone = 35 mg prednisone = 0.5 mg/kg at 70 kg
    ok = gmg_record(exposures=(exposure("methylprednisolone", date(2025, 1, 1), mg_per_day=28), AZA_OK))
    assert assess(ok, P).cn_status == "met"


def test_steroid_duration_boundary_8_weeks():
    ok = gmg_record(exposures=(exposure("prednisone", days_ago(56), mg_per_day=35), AZA_OK))
    short = gmg_record(exposures=(exposure("prednisone", days_ago(55), mg_per_day=35), AZA_OK))
    assert assess(ok, P).cn_status == "met"
    a = assess(short, P)
    assert "optimise.steroid-duration" in a.finding_codes
    assert a.reevaluate_on == days_ago(55) + timedelta(weeks=8)


def test_azathioprine_dose_and_duration_boundaries():
    assert assess(gmg_record(exposures=(STEROID_OK, exposure("azathioprine", date(2025, 1, 1), mg_per_day=105))), P).cn_status == "met"
    low = assess(gmg_record(exposures=(STEROID_OK, exposure("azathioprine", date(2025, 1, 1), mg_per_day=104))), P)
    assert "optimise.nsist-dose" in low.finding_codes
    assert assess(gmg_record(exposures=(STEROID_OK, exposure("azathioprine", days_ago(168), mg_per_day=140))), P).cn_status == "met"
    short = assess(gmg_record(exposures=(STEROID_OK, exposure("azathioprine", days_ago(167), mg_per_day=140))), P)
    assert "optimise.nsist-duration" in short.finding_codes


def test_no_nsist_asks_to_add_one():
    a = assess(gmg_record(exposures=(STEROID_OK,)), P)
    assert a.cn_status == "not-met-inadequate" and "optimise.add-nsist" in a.finding_codes


def test_methotrexate_per_week_and_mmf_per_day():
    mtx_ok = exposure("methotrexate", date(2025, 1, 1), mg_per_week=15)
    mtx_low = exposure("methotrexate", date(2025, 1, 1), mg_per_week=12.5)
    assert assess(gmg_record(exposures=(STEROID_OK, mtx_ok)), P).cn_status == "met"
    assert "optimise.nsist-dose" in codes(gmg_record(exposures=(STEROID_OK, mtx_low)))
    mmf_ok = exposure("mycophenolate-mofetil", date(2025, 1, 1), mg_per_day=1500)
    mmf_low = exposure("mycophenolate-mofetil", date(2025, 1, 1), mg_per_day=1000)
    assert assess(gmg_record(exposures=(STEROID_OK, mmf_ok)), P).cn_status == "met"
    assert "optimise.nsist-dose" in codes(gmg_record(exposures=(STEROID_OK, mmf_low)))


def test_cyclophosphamide_cumulative_dose():
    doses = tuple(
        exposure("cyclophosphamide", days_ago(7 * i + 1), route="iv", kind="administration", dose_mg=800, status="completed", source=f"MedicationAdministration/c{i}")
        for i in range(19)
    )  # 15.2 g
    assert assess(gmg_record(exposures=(STEROID_OK,) + doses), P).cn_status == "met"
    a = assess(gmg_record(exposures=(STEROID_OK,) + doses[:18]), P)  # 14.4 g
    assert "optimise.nsist-duration" in a.finding_codes


def _tac_record(trough_value: float | None, inducer: bool = False, start=date(2026, 1, 1)):
    from tests.assessment_records import trough, weight

    ms = (weight(),) + ((trough("tacrolimus-trough", trough_value, date(2026, 6, 1)),) if trough_value is not None else ())
    ex = (STEROID_OK, exposure("tacrolimus", start, mg_per_day=3))
    if inducer:
        ex += (exposure("carbamazepine", date(2024, 1, 1), mg_per_day=400),)
    return gmg_record(exposures=ex, measurements=ms)


def test_tacrolimus_trough_boundary():
    assert assess(_tac_record(4.8), P).cn_status == "met"
    a = assess(_tac_record(4.7), P)
    assert a.cn_status == "not-met-inadequate" and "optimise.nsist-level" in a.finding_codes
    assert "optimise.cyp3a4-inducer" not in a.finding_codes


def test_cyp3a4_inducer_named_for_low_level():
    a = assess(_tac_record(3.0, inducer=True), P)
    f = next(f for f in a.findings if f.code == "optimise.cyp3a4-inducer")
    assert f.data["inducer"] == "carbamazepine" and "carbamazepine" in f.text.lower()


def test_tacrolimus_without_level_is_a_data_gap():
    a = assess(_tac_record(None), P)
    assert a.cn_status == "indeterminate" and "data-gap.drug-level" in a.finding_codes


def test_tacrolimus_12_week_boundary():
    from tests.assessment_records import trough, weight

    def rec(days):
        return gmg_record(
            exposures=(STEROID_OK, exposure("tacrolimus", days_ago(days), mg_per_day=3)),
            measurements=(weight(), trough("tacrolimus-trough", 6.0, days_ago(10))),
        )

    assert assess(rec(84), P).cn_status == "met"
    assert "optimise.nsist-duration" in codes(rec(83))


def test_missing_weight_and_dose_are_gaps():
    a = assess(gmg_record(measurements=()), P)
    assert a.cn_status == "indeterminate" and "data-gap.weight" in a.finding_codes
    assert [f.code for f in a.findings].count("data-gap.weight") == 1
    nodose = exposure("azathioprine", date(2025, 1, 1))
    b = assess(gmg_record(exposures=(STEROID_OK, nodose)), P)
    assert b.cn_status == "indeterminate" and "data-gap.medication-dose" in b.finding_codes


def test_stopped_without_end_date_has_unknown_duration():
    a = assess(gmg_record(exposures=(STEROID_OK, exposure("azathioprine", date(2025, 1, 1), mg_per_day=140, status="completed"))), P)
    assert a.cn_status == "indeterminate" and "data-gap.medication-period" in a.finding_codes


def test_unavailable_medications_are_unknown_not_absent():
    a = assess(gmg_record(exposures=(), unavailable=frozenset({"medicationStatements"})), P)
    assert a.cn_status == "indeterminate"
    assert "data-gap.unavailable.medicationStatements" in a.finding_codes
    assert a.jp2022_met is None and a.icg2016_met is None


# -- 3-3 intolerance --------------------------------------------------------------------------------

AZA_STOPPED = exposure("azathioprine", date(2025, 4, 1), date(2025, 6, 5), mg_per_day=140, status="stopped")


def test_grade_3_event_with_drug_stopped_fires_3_3():
    a = assess(gmg_record(exposures=(STEROID_OK, AZA_STOPPED), adverse_events=(adverse_event("azathioprine", 3),)), P)
    assert a.criteria_fired == ("c1", "c2", "c3-3")
    f = next(f for f in a.findings if f.code == "refractory.cn.c3-3")
    assert "no non-steroidal immunosuppressant reached adequacy" in f.text
    assert "azathioprine" in a.intolerant_of


def test_grade_2_needs_a_recorded_intolerance():
    base = dict(exposures=(STEROID_OK, AZA_STOPPED), adverse_events=(adverse_event("azathioprine", 2),))
    assert assess(gmg_record(**base), P).cn_status == "not-met-inadequate"
    a = assess(gmg_record(**base, intolerances=(intolerance("azathioprine"),)), P)
    assert "c3-3" in a.criteria_fired


def test_grade_3_while_still_on_adequate_dose_does_not_fire():
    a = assess(gmg_record(pis=(pis("MM"),), adverse_events=(adverse_event("azathioprine", 3),)), P)
    assert "c3-3" not in a.criteria_fired


def test_unavailable_adverse_events_make_3_3_unknown():
    r = gmg_record(exposures=(STEROID_OK, AZA_STOPPED), unavailable=frozenset({"adverseEvents"}))
    a = assess(r, P)
    assert a.cn_status == "indeterminate" and "data-gap.unavailable.adverseEvents" in a.finding_codes


def test_ungraded_event_is_a_gap():
    a = assess(gmg_record(exposures=(STEROID_OK, AZA_STOPPED), adverse_events=(adverse_event("azathioprine", None),)), P)
    assert "data-gap.adverse-event-grade" in a.finding_codes


# -- 3-4 rescue --------------------------------------------------------------------------------------

SHORT_AZA = exposure("azathioprine", days_ago(60), mg_per_day=140)


def _rescue_record(*courses, **kw):
    return gmg_record(exposures=(STEROID_OK, SHORT_AZA), rescue_courses=courses, **kw)


def test_two_courses_fire_3_4():
    a = assess(_rescue_record(rescue("ivig", days_ago(200)), rescue("plex", days_ago(100))), P)
    assert a.criteria_fired == ("c1", "c2", "c3-4")


def test_rescue_gap_14_days_is_one_course_15_two():
    end = days_ago(100)
    one = _rescue_record(rescue("plex", days_ago(110), end), rescue("plex", end + timedelta(days=14), days_ago(80)))
    two = _rescue_record(rescue("plex", days_ago(110), end), rescue("plex", end + timedelta(days=15), days_ago(80)))
    assert assess(one, P).cn_status == "not-met-inadequate"
    assert assess(two, P).criteria_fired == ("c1", "c2", "c3-4")


def test_rescue_outside_window_or_before_conventional_therapy_does_not_count():
    old = _rescue_record(rescue("ivig", days_ago(366)), rescue("plex", days_ago(100)))
    assert "c3-4" not in assess(old, P).criteria_fired
    early = gmg_record(
        exposures=(exposure("prednisone", days_ago(150), mg_per_day=35), SHORT_AZA),
        rescue_courses=(rescue("ivig", days_ago(200)), rescue("plex", days_ago(100))),
    )
    assert "c3-4" not in assess(early, P).criteria_fired


def test_ivmp_from_exposures_counts_at_500_mg():
    pulse = exposure("methylprednisolone", days_ago(200), days_ago(196), mg_per_day=500, route="iv", status="completed")
    low = exposure("methylprednisolone", days_ago(200), days_ago(196), mg_per_day=250, route="iv", status="completed")
    r = gmg_record(exposures=(STEROID_OK, SHORT_AZA, pulse), rescue_courses=(rescue("plex", days_ago(100)),))
    assert "c3-4" in assess(r, P).criteria_fired
    r2 = gmg_record(exposures=(STEROID_OK, SHORT_AZA, low), rescue_courses=(rescue("plex", days_ago(100)),))
    assert "c3-4" not in assess(r2, P).criteria_fired


def test_unavailable_procedures_make_3_4_unknown():
    a = assess(_rescue_record(rescue("ivig", days_ago(100)), unavailable=frozenset({"procedures"})), P)
    assert a.cn_status == "indeterminate" and "data-gap.unavailable.procedures" in a.finding_codes


# -- acute ---------------------------------------------------------------------------------------------


def test_crisis_within_30_days_is_acute():
    r = gmg_record(conditions=(condition(), condition("myasthenic-crisis", days_ago(30))))
    a = assess(r, P)
    assert a.acute and a.finding_codes[0] == "acute.exacerbation" and a.cn_status == "met"
    r31 = gmg_record(conditions=(condition(), condition("myasthenic-crisis", days_ago(31))))
    assert not assess(r31, P).acute


def test_mgfa_v_is_acute_but_pis_e_alone_is_not():
    from gmg.record import CodedAssessment

    v = CodedAssessment("mgfa-class", "V", days_ago(3), "Observation/v")
    assert assess(gmg_record(mgfa_class=(v,)), P).acute
    assert not assess(gmg_record(pis=(pis("E"),)), P).acute


# -- other definitions -----------------------------------------------------------------------------------


def test_icg_2016_needs_two_adequate_nsists():
    assert assess(gmg_record(), P).icg2016_met is False
    mmf = exposure("mycophenolate-mofetil", date(2025, 1, 1), mg_per_day=2000)
    a = assess(gmg_record(exposures=(STEROID_OK, AZA_OK, mmf)), P)
    assert a.icg2016_met is True and "refractory.icg2016.met" in a.finding_codes
    assert assess(gmg_record(exposures=(STEROID_OK, AZA_OK, mmf), pis=()), P).icg2016_met is None


def test_jp_2022_oral_agents_or_rescue():
    assert assess(gmg_record(), P).jp2022_met is True
    assert assess(gmg_record(pis=(pis("MM"),)), P).jp2022_met is False
    one_agent = gmg_record(exposures=(STEROID_OK,))
    assert assess(one_agent, P).jp2022_met is False


def _with_value(params, parameter_id: str, value):
    """The parameter set with one value changed, as a site override would change it."""
    from dataclasses import replace as dc_replace

    from gmg.parameters import Parameters

    entries = dict(params.entries)
    entries[parameter_id] = dc_replace(entries[parameter_id], value=value, overridden=True)
    return Parameters(params.version + "+test", entries)


def test_not_suggesting_a_drug_again_reads_its_own_threshold_not_criterion_3_3s():
    """Criterion 3-3's automatic grade and the options' "not suggested again" grade are separate
    parameters with separate meanings: changing one does not move the other."""
    from gmg.intolerance import intolerant_of

    rec = gmg_record(adverse_events=(adverse_event("azathioprine", 2),))
    assert intolerant_of(rec, P) == frozenset()
    assert intolerant_of(rec, _with_value(P, "intolerance_grade_auto", 2)) == frozenset()
    assert intolerant_of(rec, _with_value(P, "therapy_exclude_event_grade_min", 2)) == {"azathioprine"}
