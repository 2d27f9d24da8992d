"""IVIG (IgA, dose, renal, MuSK) and PLEX (prefer IVIG, removes biologics) at their boundaries."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from safety_builders import TODAY, codes, condition, days_ago, draft, exposure, lab, one, record, run

NORMAL_IGA = (lab("iga", 200, "mg/dL", days_ago(30)),)


# -- IgA -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,unit,fires",
    [(6.9, "mg/dL", True), (7.0, "mg/dL", False), (0.069, "g/L", True), (0.07, "g/L", False)],
)
def test_iga_deficiency_boundary(value, unit, fires):
    rec = record(measurements=(lab("iga", value, unit, days_ago(30)),))
    found = run(rec, draft("ivig"))
    assert ("safety.ivig.iga-deficiency" in codes(found)) is fires
    assert "safety.ivig.iga-missing" not in codes(found)
    if fires:
        assert one(found, "safety.ivig.iga-deficiency").indicator == "critical"


def test_coded_iga_deficiency_is_critical_even_with_a_normal_value():
    rec = record(conditions=(record().conditions[0], condition("iga-deficiency")), measurements=NORMAL_IGA)
    assert "safety.ivig.iga-deficiency" in codes(run(rec, draft("ivig")))


def test_no_iga_on_record_warns():
    f = one(run(record(), draft("ivig")), "safety.ivig.iga-missing")
    assert f.indicator == "warning"


def test_iga_in_an_unknown_unit_is_said_unreadable():
    rec = record(measurements=(lab("iga", 5, "furlongs", days_ago(3)),))
    f = one(run(rec, draft("ivig")), "safety.ivig.iga-missing")
    assert "could not be read" in f.text


def test_subcutaneous_immune_globulin_is_not_ivig():
    assert not {c for c in codes(run(record(), draft("ivig", route="sc"))) if c.startswith("safety.ivig")}


# -- dose --------------------------------------------------------------------------------------


def test_ivig_dose_for_the_recorded_weight():
    rec = record(measurements=(*NORMAL_IGA, lab("weight", 70, "kg", days_ago(5))))
    f = one(run(rec, draft("ivig", mg_per_day=28000)), "safety.ivig.dose")
    assert f.indicator == "info"
    assert f.data["total_g"] == 140 and f.data["daily_g"] == 28 and f.data["days"] == 5
    assert "80" in f.text  # > 80 g: split over 3-5 days
    assert "28 g/day" in f.text  # the draft's own daily dose beside it


def test_ivig_dose_without_weight_says_so():
    f = one(run(record(measurements=NORMAL_IGA), draft("ivig")), "safety.ivig.dose")
    assert f.data["weight_missing"] is True and "no recent weight" in f.text


# -- renal -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,unit,fires",
    [(1.49, "mg/dL", False), (1.5, "mg/dL", True), (131.7, "umol/L", False), (132.6, "umol/L", True)],
)
def test_creatinine_boundary(value, unit, fires):
    rec = record(measurements=(*NORMAL_IGA, lab("creatinine", value, unit, days_ago(2))))
    assert ("safety.ivig.renal" in codes(run(rec, draft("ivig")))) is fires


@pytest.mark.parametrize("egfr,fires", [(59, True), (60, False)])
def test_egfr_boundary(egfr, fires):
    rec = record(measurements=(*NORMAL_IGA, lab("egfr", egfr, "mL/min/{1.73_m2}", days_ago(2))))
    found = run(rec, draft("ivig"))
    assert ("safety.ivig.renal" in codes(found)) is fires
    if fires:
        assert one(found, "safety.ivig.renal").indicator == "warning"


def test_ivig_in_musk_prefers_plex():
    rec = record(measurements=NORMAL_IGA)
    assert "safety.ivig.not-recommended-musk" in codes(run(rec, draft("ivig"), serotype="musk"))
    assert "safety.ivig.not-recommended-musk" not in codes(run(rec, draft("ivig"), serotype="achr"))


# -- PLEX prefer IVIG ------------------------------------------------------------------------


def born_years_ago(years: int) -> date:
    return date(TODAY.year - years, TODAY.month, TODAY.day)


@pytest.mark.parametrize("age,fires", [(65, False), (66, True), (18, False), (17, True)])
def test_plex_age_boundaries(age, fires):
    rec = record(birth_date=born_years_ago(age))
    assert rec.age == age
    assert ("safety.plex.prefer-ivig" in codes(run(rec, draft("plex")))) is fires


@pytest.mark.parametrize("sbp,fires", [(89, True), (90, False)])
def test_plex_systolic_boundary(sbp, fires):
    rec = record(measurements=(lab("bp-systolic", sbp, "mm[Hg]", days_ago(1)),))
    assert ("safety.plex.prefer-ivig" in codes(run(rec, draft("plex")))) is fires


def test_old_low_blood_pressure_does_not_count():
    rec = record(measurements=(lab("bp-systolic", 80, "mm[Hg]", days_ago(30)),))
    assert "safety.plex.prefer-ivig" not in codes(run(rec, draft("plex")))


def test_plex_in_sepsis_names_the_reason():
    rec = record(conditions=(record().conditions[0], condition("sepsis")))
    f = one(run(rec, draft("immunoadsorption")), "safety.plex.prefer-ivig")
    assert f.data["reasons"] == ["Sepsis"]


# -- PLEX removes biologics ------------------------------------------------------------------


@pytest.mark.parametrize("last_dose,supplement", [(300, 300), (600, 600), (1200, 600)])
def test_plex_on_eculizumab_gives_the_supplemental_dose(last_dose, supplement):
    rec = record(exposures=(exposure("eculizumab", days_ago(7), kind="administration", dose_mg=last_dose),))
    start = TODAY + timedelta(days=2)
    f = one(run(rec, draft("plex", start=start)), "safety.plex.removes-biologic")
    assert f.data["supplemental_mg"] == {"eculizumab": supplement}
    assert f.data["first_exchange"] == start.isoformat()
    assert "60 minutes" in f.text and start.isoformat() in f.text


@pytest.mark.parametrize("last_dose,supplement", [(2700, 1500), (3300, 1800), (3600, 1800)])
def test_plex_on_ravulizumab_uses_the_label_table(last_dose, supplement):
    rec = record(exposures=(exposure("ravulizumab", days_ago(40), kind="administration", dose_mg=last_dose),))
    f = one(run(rec, draft("plex")), "safety.plex.removes-biologic")
    assert f.data["supplemental_mg"] == {"ravulizumab": supplement}
    assert "4 hours" in f.text


def test_plex_on_an_fcrn_antagonist_or_rituximab_says_it_is_removed():
    rec = record(
        exposures=(
            exposure("efgartigimod", days_ago(5), kind="administration"),
            exposure("rituximab", days_ago(20), kind="administration"),
        )
    )
    f = one(run(rec, draft("plex")), "safety.plex.removes-biologic")
    assert f.data["removed_drugs"] == ["efgartigimod", "rituximab"]


def test_biologic_long_ago_is_not_removed():
    rec = record(exposures=(exposure("rituximab", days_ago(200), kind="administration"),))
    assert "safety.plex.removes-biologic" not in codes(run(rec, draft("plex")))


def test_co_ordered_eculizumab_takes_part():
    found = run(record(), draft("plex"), draft("eculizumab", dose_mg=900, selected=False))
    f = one(found, "safety.plex.removes-biologic")
    assert f.data["orders"] == ["ServiceRequest/plex", "MedicationRequest/eculizumab"]
    assert f.data["supplemental_mg"] == {"eculizumab": 600}
