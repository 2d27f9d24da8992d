"""Dose calculations of gmg/dosing.py against the gmg-rules.md §5 table (band edges, caps, units)."""

from __future__ import annotations

from datetime import date

import pytest

from gmg import dosing
from gmg.parameters import load
from gmg.record import Measurement, PatientRecord

P = load()
TODAY = date(2026, 11, 22)


@pytest.mark.parametrize(
    "weight,loading,maintenance",
    [(40.0, 2400, 3000), (59.9, 2400, 3000), (60.0, 2700, 3300), (99.9, 2700, 3300), (100.0, 3000, 3600), (150, 3000, 3600)],
)
def test_ravulizumab_bands(weight, loading, maintenance):
    d = dosing.ravulizumab_dose(weight, P)
    assert (d.loading_mg, d.maintenance_mg) == (loading, maintenance)
    assert d.maintenance_interval_weeks == 8 and d.maintenance_start_weeks == 2
    assert "ravulizumab_weight_bands_kg" in d.parameters


def test_ravulizumab_below_lowest_band_has_no_dose():
    d = dosing.ravulizumab_dose(39.9, P)
    assert d.loading_mg is None and d.maintenance_mg is None
    assert "no labelled" in d.text


@pytest.mark.parametrize(
    "weight,mg", [(40, 16.6), (55.9, 16.6), (56.0, 23.0), (76.9, 23.0), (77.0, 32.4), (120, 32.4)]
)
def test_zilucoplan_bands(weight, mg):
    d = dosing.zilucoplan_dose(weight, P)
    assert d.dose_mg == mg
    assert "daily" in d.schedule


@pytest.mark.parametrize("weight,mg", [(45, 420), (49.9, 420), (50, 560), (99.9, 560), (100, 840)])
def test_rozanolixizumab_bands_and_k_tag(weight, mg):
    d = dosing.rozanolixizumab_dose(weight, P)
    assert d.dose_mg == mg
    assert "× 6" in d.schedule
    assert P.entry("rozanolixizumab_weekly_mg").tag == "K"


@pytest.mark.parametrize(
    "weight,mg,capped", [(70, 700.0, False), (119.9, 1199.0, False), (120, 1200.0, False), (135, 1200.0, True)]
)
def test_efgartigimod_iv_cap(weight, mg, capped):
    d = dosing.efgartigimod_iv_dose(weight, P)
    assert d.dose_mg == mg
    assert d.capped is capped


def test_nipocalimab_load_and_maintenance():
    d = dosing.nipocalimab_dose(80, P)
    assert d.loading_mg == 2400 and d.dose_mg == 1200
    assert "every 2 weeks" in d.schedule


def test_mosteller_bsa():
    assert dosing.mosteller_bsa(180, 80) == pytest.approx(2.0, abs=1e-9)
    assert dosing.mosteller_bsa(170, 70) == pytest.approx(1.8181, abs=1e-3)
    with pytest.raises(ValueError):
        dosing.mosteller_bsa(0, 70)


def test_rituximab_regimens_with_and_without_bsa():
    regs = dosing.rituximab_regimens(2.0, P)
    assert [r.key for r in regs] == ["bsa-weekly", "fixed-1g", "low-dose"]
    assert regs[0].doses_mg == (750.0,) * 4 and regs[0].interval_days == 7
    assert regs[1].doses_mg == (1000.0, 1000.0) and regs[1].interval_days == 14
    assert regs[2].doses_mg == (100.0, 500.0)
    assert [r.key for r in dosing.rituximab_regimens(None, P)] == ["fixed-1g", "low-dose"]


def test_ivig_small_and_large_totals():
    small = dosing.ivig_course(40, P)
    assert (small.total_g, small.daily_g, small.days) == (80.0, 16.0, 5)
    assert small.large_total is False
    large = dosing.ivig_course(70, P)
    assert (large.total_g, large.daily_g) == (140.0, 28.0)
    assert large.large_total is True and "3–5 days" in large.split


def test_plasma_volume_and_plex_course():
    assert dosing.plasma_volume_l(70, 0.40, P) == pytest.approx(2.73)
    c = dosing.plex_course(70, 0.40, P)
    assert c.exchange_volume_l == (pytest.approx(2.73), pytest.approx(4.1, abs=0.01))
    assert c.exchanges == (3, 6) and c.course_days == (10, 14)
    assert c.lpe_volume_l == (pytest.approx(1.91, abs=0.01), pytest.approx(2.18, abs=0.01))
    with pytest.raises(ValueError):
        dosing.plasma_volume_l(70, 40, P)  # percent passed as fraction


def test_ivmp_and_tacrolimus_and_eculizumab():
    assert dosing.ivmp_course(P).daily_mg == (500, 1000)
    t = dosing.tacrolimus_target(P)
    assert t.daily_mg == 3.0 and t.target_trough_ng_ml == 4.8
    e = dosing.eculizumab_dose(P)
    assert (e.induction_mg, e.maintenance_mg) == (900, 1200)


def _m(concept, value, unit, when, comparator=None):
    return Measurement(concept, value, unit, when, f"Observation/{concept}-{when}", comparator=comparator)


def test_dosing_inputs_from_record_units_and_windows():
    rec = PatientRecord(
        patient_id="p",
        today=TODAY,
        measurements=(
            _m("weight", 150.0, "[lb_av]", date(2026, 10, 1)),
            _m("weight", 80.0, "kg", date(2020, 1, 1)),
            _m("height", 1.75, "m", date(2025, 1, 1)),
            _m("haematocrit", 42.0, "%", date(2026, 11, 20)),
        ),
    )
    got = dosing.dosing_inputs(rec, P)
    assert got.weight_kg.value == pytest.approx(68.04, abs=0.01)
    assert got.height_cm.value == pytest.approx(175.0)
    assert got.haematocrit_fraction.value == pytest.approx(0.42)


def test_dosing_inputs_missing_or_stale_is_none():
    rec = PatientRecord(
        patient_id="p",
        today=TODAY,
        measurements=(
            _m("weight", 80.0, "kg", date(2024, 1, 1)),  # older than the window
            _m("haematocrit", 40.0, "%", date(2026, 6, 1)),  # older than 30 days
            _m("height", 170.0, None, date(2026, 6, 1)),  # no unit
        ),
    )
    got = dosing.dosing_inputs(rec, P)
    assert got.weight_kg is None and got.height_cm is None and got.haematocrit_fraction is None


def test_implausible_weight_or_height_is_not_dosed_from():
    rec = PatientRecord(
        patient_id="p",
        today=TODAY,
        measurements=(_m("weight", 7000.0, "kg", date(2026, 11, 1)), _m("height", 1.75, "cm", date(2026, 11, 1))),
    )
    got = dosing.dosing_inputs(rec, P)
    assert got.weight_kg is None and got.height_cm is None


from hypothesis import given, strategies as st  # noqa: E402


@given(st.floats(min_value=2, max_value=350, allow_nan=False))
def test_band_and_per_kg_invariants(weight):
    rav = dosing.ravulizumab_dose(weight, P)
    assert (rav.loading_mg is None) == (weight < 40)
    assert dosing.zilucoplan_dose(weight, P).dose_mg in (16.6, 23.0, 32.4)
    assert dosing.rozanolixizumab_dose(weight, P).dose_mg in (420, 560, 840)
    efg = dosing.efgartigimod_iv_dose(weight, P)
    assert 0 < efg.dose_mg <= 1200.0 and efg.capped == (weight * 10 > 1200)
    ivig = dosing.ivig_course(weight, P)
    assert ivig.daily_g * ivig.days == pytest.approx(ivig.total_g, abs=0.5)
    assert ivig.large_total == (ivig.total_g > 80)


# -- each regimen also in parts (gmg/regimen.py): what a card with room for one line takes --------


@pytest.mark.parametrize("weight", [45.0, 75.0, 130.0])
@pytest.mark.parametrize("region", ["us", "cn"])
def test_every_regimen_is_given_in_parts_that_name_its_first_dose(weight, region):
    """Every dose builder gives one regimen (in parts) per proposed order; its first dose names the
    order's first dose in mg, the sentence starts with it, and what the card leaves out (the band or
    weight the dose came from, when a next cycle may start) is a part of its own, never in `first`."""
    from gmg.dose_table import DOSE_BUILDERS

    inputs = dosing.DosingInputs(dosing.BodyMeasure(weight, TODAY, "w"), dosing.BodyMeasure(175, TODAY, "h"),
                                 dosing.BodyMeasure(0.42, TODAY, "hct"), ())
    for ingredient, build in DOSE_BUILDERS.items():
        option = build(inputs, P, region)
        assert option.state == "suggest", ingredient
        assert len(option.regimens) == len(option.orders) >= 1, ingredient
        for regimen, order in zip(option.regimens, option.orders):
            s = order.schedule  # a daily dose in divided doses (tacrolimus) is said per day
            per = order.dose_mg * (s.frequency or 1) if (s.period, s.period_unit) == (1, "d") else order.dose_mg
            assert regimen.first.split()[0] == f"{per:g}" and " mg" in regimen.first, (ingredient, regimen)
            assert "band" not in regimen.first and "weight" not in regimen.first and "cycle" not in regimen.first
            assert f"{per:g} mg" in order.text
        if ingredient in ("ravulizumab", "zilucoplan", "rozanolixizumab", "efgartigimod", "nipocalimab"):
            assert f"weight {weight:g} kg" in option.regimens[0].aside, ingredient  # computed from this weight
        if ingredient in ("efgartigimod", "rozanolixizumab"):
            assert option.regimens[0].cycle and option.regimens[0].cycle in option.dose_text


def test_notes_carry_their_kind():
    from gmg.dose_table import dose_for

    none = dosing.DosingInputs(None, None, None, ())
    assert [n.kind for n in dose_for("efgartigimod", none, P, 40).notes] == ["data-gap"]
    assert [n.kind for n in dose_for("rozanolixizumab", dosing.DosingInputs(
        dosing.BodyMeasure(70, TODAY, "w"), None, None, ()), P, 40).notes] == ["verify"]
    assert [n.kind for n in dose_for("inebilizumab", none, P, None).notes] == ["verify", "age"]  # no birth date
    assert [n.kind for n in dose_for("zilucoplan", none, P, 10).notes] == ["age"]  # below its labelled age
    assert dose_for("zilucoplan", none, P, 10).as_json()["note"] == dose_for("zilucoplan", none, P, 10).notes[0].text
