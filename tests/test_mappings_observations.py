"""Observations: antibodies, MG scores, MGFA class/PIS, labs and vitals, pregnancy."""

from __future__ import annotations

from datetime import date

import pytest

from gmg.record import MG_ADL_ITEMS
from tests.test_mappings_builders import (
    GMG,
    INTERP,
    LOINC,
    MG_SCORES,
    SCT,
    cc,
    condition,
    issues,
    obs,
    qty,
    record_of,
)

ASSAY = GMG + "/CodeSystem/antibody-assay"


def adl(rid: str, total: int, items: dict[str, int] | None, when: str = "2026-11-01") -> dict:
    res = obs(rid, MG_SCORES, "mg-adl-total", when, category="survey", valueInteger=total)
    if items is not None:
        res["component"] = [{"code": cc(MG_SCORES, k), "valueInteger": v} for k, v in items.items()]
    return res


# -- antibodies ------------------------------------------------------------------------------


def test_achr_binding_quantitative_above_reference_range_is_positive_with_method() -> None:
    o = obs(
        "ab1", LOINC, "11034-6", "2025-06-03",
        valueQuantity=qty(12.4, "nmol/L"),
        referenceRange=[{"high": qty(0.02, "nmol/L")}],
        method=cc(ASSAY, "ripa"),
    )
    (a,) = record_of(o).antibodies
    assert (a.target, a.assay, a.result, a.value, a.unit) == ("achr-binding", "ripa", "positive", 12.4, "nmol/L")
    assert a.when == date(2025, 6, 3) and a.source == "Observation/ab1"


def test_quantity_within_reference_range_is_negative_and_no_method_is_unknown() -> None:
    o = obs("ab2", LOINC, "51716-9", valueQuantity=qty(0.01, "nmol/L"), referenceRange=[{"high": qty(0.02, "nmol/L")}])
    (a,) = record_of(o).antibodies
    assert (a.target, a.assay, a.result) == ("musk", "unknown", "negative")


def test_coded_negative_result_by_cba() -> None:
    o = obs("ab3", LOINC, "43624-6", valueCodeableConcept=cc(SCT, "260385009", "Negative"), method=cc(ASSAY, "cba"))
    (a,) = record_of(o).antibodies
    assert (a.target, a.assay, a.result, a.value) == ("achr-binding", "cba", "negative", None)


@pytest.mark.parametrize("code,result", [("POS", "positive"), ("NEG", "negative"), ("H", "positive"), ("N", "negative"), ("A", "positive")])
def test_interpretation_codes_give_the_result(code: str, result: str) -> None:
    o = obs("ab4", LOINC, "11561-8", valueQuantity=qty(40, "%"), interpretation=[cc(INTERP, code)])
    (a,) = record_of(o).antibodies
    assert a.result == result


def test_local_lrp4_code_and_unreadable_result_is_unknown() -> None:
    o = obs("ab5", GMG + "/CodeSystem/mg-labs", "lrp4-ab", valueString="see report")
    (a,) = record_of(o).antibodies
    assert (a.target, a.result) == ("lrp4", "unknown")


# -- scores ----------------------------------------------------------------------------------


def test_mg_adl_with_items_gives_the_ocular_share() -> None:
    items = dict.fromkeys(MG_ADL_ITEMS, 1)
    items["mg-adl-diplopia"] = 2
    items["mg-adl-ptosis"] = 2
    (s,) = record_of(adl("adl1", 10, items)).mg_adl
    assert s.total == 10 and s.items == items
    assert s.ocular_share == pytest.approx(0.4)
    assert s.when == date(2026, 11, 1) and s.source == "Observation/adl1"


def test_mg_adl_total_without_items_leaves_ocular_share_unknown() -> None:
    (s,) = record_of(adl("adl2", 7, None)).mg_adl
    assert s.total == 7 and s.items is None and s.ocular_share is None


def test_mg_adl_with_missing_or_invalid_items_keeps_total_only() -> None:
    items = dict.fromkeys(MG_ADL_ITEMS[:7], 1)
    r = record_of(adl("adl3", 7, items))
    assert r.mg_adl[0].items is None
    assert any("items incomplete" in i for i in issues(r, "Observation/adl3"))
    bad = dict.fromkeys(MG_ADL_ITEMS, 1)
    bad["mg-adl-talking"] = 5
    assert record_of(adl("adl4", 12, bad)).mg_adl[0].items is None


def test_mg_adl_out_of_range_is_left_out() -> None:
    r = record_of(adl("adl5", 30, None))
    assert r.mg_adl == ()
    assert issues(r, "Observation/adl5")


def test_scores_are_dated_and_sorted_oldest_first() -> None:
    r = record_of(
        obs("q2", MG_SCORES, "qmg-total", "2026-09-01", valueInteger=14),
        obs("q1", MG_SCORES, "qmg-total", "2026-03-01", valueInteger=18),
        obs("m1", MG_SCORES, "mgc-total", valueInteger=12),
        obs("l1", MG_SCORES, "mg-qol15r-total", valueInteger=20),
    )
    qmg = [s for s in r.scores if s.kind == "qmg-total"]
    assert [(s.value, s.when) for s in qmg] == [(18, date(2026, 3, 1)), (14, date(2026, 9, 1))]
    assert {s.kind for s in r.scores} == {"qmg-total", "mgc-total", "mg-qol15r-total"}


def test_mgfa_class_and_pis() -> None:
    r = record_of(
        obs("c1", MG_SCORES, "mgfa-class", valueCodeableConcept=cc(GMG + "/CodeSystem/mgfa-class", "IIIb")),
        obs("p1", MG_SCORES, "mgfa-pis", valueCodeableConcept=cc(GMG + "/CodeSystem/mgfa-pis", "MM-1")),
        obs("p2", MG_SCORES, "mgfa-pis", valueCodeableConcept=cc(SCT, "12345")),
    )
    assert [(c.code, c.source) for c in r.mgfa_class] == [("IIIb", "Observation/c1")]
    assert [c.code for c in r.pis] == ["MM-1"]
    assert issues(r, "Observation/p2")


# -- labs and vitals -------------------------------------------------------------------------


def test_weight_in_pounds_and_height_in_inches_are_normalised() -> None:
    r = record_of(
        obs("w", LOINC, "29463-7", category="vital-signs", valueQuantity={"value": 154, "unit": "lbs"}),
        obs("h", LOINC, "8302-2", category="vital-signs", valueQuantity={"value": 65, "unit": "in", "system": "http://unitsofmeasure.org", "code": "[in_i]"}),
    )
    assert r.latest("weight").value == pytest.approx(69.853, abs=0.01) and r.latest("weight").unit == "kg"
    assert r.latest("height").value == pytest.approx(165.1) and r.latest("height").unit == "cm"


def test_creatinine_in_umol_per_litre_converts_with_molar_mass() -> None:
    r = record_of(obs("cr", LOINC, "2160-0", valueQuantity=qty(88.4, "umol/L"), referenceRange=[{"low": qty(45, "umol/L"), "high": qty(90, "umol/L")}]))
    m = r.latest("creatinine")
    assert m.unit == "mg/dL" and m.value == pytest.approx(1.0, abs=0.01)
    assert m.reference_high == pytest.approx(1.018, abs=0.01)


def test_haematocrit_as_fraction_and_iga_in_g_per_litre() -> None:
    r = record_of(
        obs("hct", LOINC, "4544-3", valueQuantity=qty(0.42, "L/L")),
        obs("iga", LOINC, "2458-8", valueQuantity=qty(0.05, "g/L", comparator="<")),
    )
    assert r.latest("haematocrit").value == pytest.approx(42.0)
    iga = r.latest("iga")
    assert iga.value == pytest.approx(5.0) and iga.unit == "mg/dL" and iga.comparator == "<"


def test_blood_pressure_panel_components() -> None:
    panel = obs(
        "bp", LOINC, "85354-9", category="vital-signs",
        component=[
            {"code": cc(LOINC, "8480-6"), "valueQuantity": qty(128, "mm[Hg]")},
            {"code": cc(LOINC, "8462-4"), "valueQuantity": qty(82, "mm[Hg]")},
        ],
    )
    r = record_of(panel)
    assert r.latest("bp-systolic").value == 128 and r.latest("bp-diastolic").value == 82
    assert r.latest("bp-systolic").source == "Observation/bp"


def test_qualitative_lab_keeps_interpretation() -> None:
    r = record_of(obs("hbs", LOINC, "5196-1", valueCodeableConcept=cc(SCT, "260385009")))
    m = r.latest("hbsag")
    assert m.value is None and m.interpretation == "negative"


def test_value_without_unit_or_unconvertible_unit_is_left_out_with_note() -> None:
    r = record_of(
        obs("w", LOINC, "29463-7", valueQuantity={"value": 70}),
        obs("alt", LOINC, "1742-6", valueQuantity=qty(40, "mg/dL")),
    )
    assert r.measurements == ()
    assert any("without a unit" in i for i in issues(r, "Observation/w"))
    assert any("not convertible" in i for i in issues(r, "Observation/alt"))


def test_measurements_over_time_and_nearest() -> None:
    r = record_of(
        obs("w1", LOINC, "29463-7", "2025-01-05", valueQuantity=qty(80, "kg")),
        obs("w2", LOINC, "29463-7", "2026-06-05", valueQuantity=qty(70, "kg")),
    )
    assert [m.value for m in r.measurements_of("weight")] == [80.0, 70.0]
    assert r.nearest("weight", date(2025, 2, 1)).value == 80.0


def test_active_pregnancy_condition_within_window() -> None:
    r = record_of(condition("preg", SCT, "77386006", onset="2026-08-01"))
    assert r.pregnancy.state == "pregnant" and r.pregnancy.source == "Condition/preg"


def test_old_pregnancy_condition_is_not_current() -> None:
    r = record_of(condition("preg", SCT, "77386006", onset="2024-01-01"))
    assert r.pregnancy.state == "unknown"


def test_pregnancy_status_observation() -> None:
    r = record_of(obs("ps", LOINC, "82810-3", "2026-11-01", category="social-history", valueCodeableConcept=cc(SCT, "77386006", "Pregnant")))
    assert r.pregnancy.state == "pregnant" and r.pregnancy.when == date(2026, 11, 1)


def test_positive_then_negative_hcg_latest_wins_and_window_is_a_parameter() -> None:
    pos = obs("h1", LOINC, "2106-3", "2026-06-01", valueCodeableConcept=cc(SCT, "10828004"))
    neg = obs("h2", LOINC, "2118-8", "2026-09-01", valueCodeableConcept=cc(SCT, "260385009"))
    assert record_of(pos).pregnancy.state == "pregnant"
    assert record_of(pos, neg).pregnancy.state == "not-pregnant"
    assert record_of(pos, pregnancy_window_days=30).pregnancy.state == "unknown"


def test_quantitative_hcg_above_reference_range() -> None:
    q = obs("hq", LOINC, "21198-7", "2026-11-10", valueQuantity=qty(1500, "m[IU]/mL"), referenceRange=[{"high": qty(5, "m[IU]/mL")}])
    r = record_of(q)
    assert r.pregnancy.state == "pregnant"
    assert r.latest("hcg-quantitative").value == 1500


def test_no_pregnancy_data_is_unknown_not_negative() -> None:
    assert record_of().pregnancy.state == "unknown"
