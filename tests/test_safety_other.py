"""B-cell HBV, FcRn washout, pregnancy, tacrolimus CYP3A4, IVMP, MG-worsening drugs, infection,
and the semantics every check shares (MG patients only; order-select focus)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gmg.safety import SAFETY_CODES
from safety_builders import (
    TODAY,
    codes,
    condition,
    days_ago,
    draft,
    exposure,
    lab,
    mg_condition,
    one,
    pregnant,
    record,
    run,
)

# -- B-cell depletion / HBV ------------------------------------------------------------------


def hbv(hbsag_days: int = 30, anti_hbc_days: int = 30, hbsag="negative", anti_hbc="negative"):
    return (
        lab("hbsag", None, None, days_ago(hbsag_days), hbsag),
        lab("anti-hbc", None, None, days_ago(anti_hbc_days), anti_hbc),
    )


@pytest.mark.parametrize("drug", ["rituximab", "ofatumumab", "inebilizumab"])
@pytest.mark.parametrize("age_days,fires", [(365, False), (366, True)])
def test_hbv_screen_12_month_window(drug, age_days, fires):
    rec = record(measurements=hbv(hbsag_days=age_days))
    found = run(rec, draft(drug))
    assert ("safety.b-cell.hbv-screen-missing" in codes(found)) is fires
    if fires:
        assert one(found, "safety.b-cell.hbv-screen-missing").data["missing_labs"] == ["HBsAg"]


def test_hbv_screen_missing_entirely_names_both():
    f = one(run(record(), draft("rituximab")), "safety.b-cell.hbv-screen-missing")
    assert f.data["missing_labs"] == ["HBsAg", "anti-HBc"]


@pytest.mark.parametrize("which", ["hbsag", "anti_hbc"])
def test_hbv_positive_is_critical(which):
    rec = record(measurements=hbv(**{which: "positive"}))
    found = run(rec, draft("rituximab"))
    assert one(found, "safety.b-cell.hbv-positive").indicator == "critical"
    assert "safety.b-cell.hbv-screen-missing" not in codes(found)


def test_coded_hepatitis_b_is_positive():
    rec = record(conditions=(mg_condition(), condition("hepatitis-b")))
    assert "safety.b-cell.hbv-positive" in codes(run(rec, draft("inebilizumab")))


# -- FcRn washout ----------------------------------------------------------------------------


@pytest.mark.parametrize("gap,fires", [(13, True), (14, False)])
@pytest.mark.parametrize("drug", ["eculizumab", "rituximab", "ivig"])
def test_fcrn_washout_13_14_days(gap, fires, drug):
    last = days_ago(5)
    rec = record(
        exposures=(exposure("efgartigimod", last, kind="administration"),),
        measurements=(lab("iga", 100, "mg/dL", days_ago(10)),),
        immunizations=(),
    )
    found = run(rec, draft(drug, start=last + timedelta(days=gap)))
    assert ("safety.fcrn.mab-washout" in codes(found)) is fires
    if fires:
        f = one(found, "safety.fcrn.mab-washout")
        assert f.data["earliest_start"] == (last + timedelta(days=14)).isoformat()
        assert f.data["last_fcrn_dose"] == last.isoformat()


def test_running_fcrn_course_counts_up_to_today():
    rec = record(exposures=(exposure("rozanolixizumab", days_ago(20), None, kind="request", status="active"),))
    f = one(run(rec, draft("rituximab")), "safety.fcrn.mab-washout")
    assert f.data["earliest_start"] == (TODAY + timedelta(days=14)).isoformat()
    assert f.data["fcrn_course_running"] is True


def test_fcrn_ordered_together_with_an_igg_antibody():
    found = run(record(), draft("efgartigimod"), draft("rituximab", selected=False))
    f = one(found, "safety.fcrn.mab-washout")
    assert set(f.data["orders"]) == {"MedicationRequest/rituximab", "MedicationRequest/efgartigimod"}


# -- pregnancy -------------------------------------------------------------------------------


@pytest.mark.parametrize("drug", ["mycophenolate-mofetil", "methotrexate", "cyclophosphamide"])
def test_teratogen_in_pregnancy_is_critical(drug):
    f = one(run(pregnant(record()), draft(drug)), "safety.pregnancy.teratogen")
    assert f.indicator == "critical"
    assert run(record(), draft(drug)) == ()  # not pregnant: nothing


def test_pregnancy_condition_counts():
    rec = record(conditions=(mg_condition(), condition("pregnancy")))
    assert "safety.pregnancy.teratogen" in codes(run(rec, draft("methotrexate")))


@pytest.mark.parametrize("drug", ["rituximab", "inebilizumab"])
def test_b_cell_depletion_in_pregnancy_warns(drug):
    rec = pregnant(record(measurements=(lab("hbsag", None, None, days_ago(5), "negative"), lab("anti-hbc", None, None, days_ago(5), "negative"))))
    found = run(rec, draft(drug))
    assert one(found, "safety.pregnancy.b-cell-depletion").indicator == "warning"


# -- tacrolimus CYP3A4 -----------------------------------------------------------------------


@pytest.mark.parametrize("modulator", ["carbamazepine", "rifampin", "ketoconazole"])
def test_tacrolimus_ordered_while_modulator_active(modulator):
    rec = record(exposures=(exposure(modulator, days_ago(30), None, status="active", source=f"MedicationRequest/{modulator}-home"),))
    f = one(run(rec, draft("tacrolimus")), "safety.tacrolimus.cyp3a4")
    assert f.data["orders"] == ["MedicationRequest/tacrolimus"]
    assert f.data["modulators"] == [modulator]


@pytest.mark.parametrize("modulator", ["carbamazepine", "ketoconazole"])
def test_modulator_ordered_while_tacrolimus_active(modulator):
    rec = record(exposures=(exposure("tacrolimus", days_ago(100), None, status="active", source="MedicationRequest/tac-home"),))
    f = one(run(rec, draft(modulator)), "safety.tacrolimus.cyp3a4")
    assert f.data["orders"] == [f"MedicationRequest/{modulator}"]
    assert ("lowers" in f.text) is (modulator == "carbamazepine")


def test_tacrolimus_and_modulator_co_ordered():
    f = one(run(record(), draft("tacrolimus"), draft("rifampin")), "safety.tacrolimus.cyp3a4")
    assert set(f.data["orders"]) == {"MedicationRequest/tacrolimus", "MedicationRequest/rifampin"}


def test_stopped_modulator_does_not_count():
    rec = record(exposures=(exposure("carbamazepine", days_ago(300), days_ago(200), status="completed"),))
    assert run(rec, draft("tacrolimus")) == ()


# -- IVMP ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mg,fires", [(499, False), (500, True), (1000, True)])
def test_ivmp_499_500(mg, fires):
    found = run(record(), draft("methylprednisolone", route="iv", mg_per_day=mg, dose_mg=mg))
    assert ("safety.ivmp.transient-worsening" in codes(found)) is fires


def test_ivmp_single_dose_without_timing_counts():
    assert "safety.ivmp.transient-worsening" in codes(run(record(), draft("methylprednisolone", route="iv", dose_mg=500)))


def test_oral_methylprednisolone_is_not_a_pulse():
    assert run(record(), draft("methylprednisolone", route="oral", mg_per_day=600)) == ()


def test_ivmp_with_unreadable_dose_is_not_guessed():
    assert run(record(), draft("methylprednisolone", route="iv")) == ()


# -- MG-worsening drugs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "drug,subclass",
    [
        ("gentamicin", "aminoglycoside"),
        ("ciprofloxacin", "fluoroquinolone"),
        ("azithromycin", "macrolide"),
        ("telithromycin", "telithromycin"),
        ("magnesium-sulfate", "magnesium-sulfate"),
        ("metoprolol", "beta-blocker"),
        ("pembrolizumab", "checkpoint-inhibitor"),
    ],
)
def test_every_mg_worsening_subclass(drug, subclass):
    f = one(run(record(), draft(drug, route="iv" if drug == "magnesium-sulfate" else None)), "safety.mg-worsening-drug")
    assert f.data["subclasses"] == [subclass] and f.indicator == "warning"


def test_oral_magnesium_is_not_flagged():
    assert run(record(), draft("magnesium-sulfate", route="oral")) == ()


def test_several_worsening_drugs_give_one_finding():
    f = one(run(record(), draft("gentamicin"), draft("ciprofloxacin")), "safety.mg-worsening-drug")
    assert f.data["orders"] == ["MedicationRequest/gentamicin", "MedicationRequest/ciprofloxacin"]


def test_clarithromycin_is_both_worsening_and_cyp3a4():
    rec = record(exposures=(exposure("tacrolimus", days_ago(100), None, status="active", source="MedicationRequest/tac"),))
    assert codes(run(rec, draft("clarithromycin"))) == {"safety.mg-worsening-drug", "safety.tacrolimus.cyp3a4"}


# -- infection -------------------------------------------------------------------------------


@pytest.mark.parametrize("drug", ["eculizumab", "efgartigimod", "rituximab", "inebilizumab"])
def test_immunotherapy_during_sepsis(drug):
    rec = record(conditions=(mg_condition(), condition("sepsis")))
    assert "safety.active-infection" in codes(run(rec, draft(drug)))


def test_resolved_sepsis_does_not_count():
    rec = record(conditions=(mg_condition(), condition("sepsis", status="resolved")))
    assert "safety.active-infection" not in codes(run(rec, draft("efgartigimod")))


# -- shared semantics ------------------------------------------------------------------------


def test_non_mg_patient_gets_nothing():
    rec = record(conditions=(condition("lambert-eaton"),))
    assert run(rec, draft("gentamicin"), draft("eculizumab")) == ()


def test_ocular_mg_is_still_mg():
    rec = record(conditions=(mg_condition("mg-ocular"),))
    assert "safety.mg-worsening-drug" in codes(run(rec, draft("ciprofloxacin")))


def test_order_select_keeps_only_findings_a_selected_draft_takes_part_in():
    found = run(record(), draft("gentamicin", selected=False), draft("pyridostigmine"))
    assert found == ()
    found = run(record(), draft("gentamicin", selected=True), draft("pyridostigmine", selected=False))
    assert codes(found) == {"safety.mg-worsening-drug"}


def test_a_draft_that_is_also_in_the_record_is_not_its_own_context():
    rec = record(exposures=(exposure("tacrolimus", TODAY, None, status="active", source="MedicationRequest/tacrolimus"),))
    assert run(rec, draft("tacrolimus")) == ()


def test_every_emitted_code_is_in_the_rules_table_with_its_indicator():
    rec = pregnant(record(conditions=(mg_condition(), condition("sepsis"))))
    found = run(
        rec,
        draft("eculizumab"), draft("zilucoplan"), draft("rituximab"), draft("ivig"), draft("plex"),
        draft("methotrexate"), draft("tacrolimus"), draft("rifampin"), draft("gentamicin"),
        draft("methylprednisolone", route="iv", dose_mg=1000), serotype="musk",
    )
    assert len(codes(found)) >= 12
    for f in found:
        assert SAFETY_CODES[f.code] == f.indicator
