"""Therapy options (gmg/therapy.py): serotype rows, prerequisites, pregnancy, infection, current
therapy, intolerance, thymectomy and HSCT (gmg-rules.md §5, §9)."""

from __future__ import annotations

from datetime import date

from gmg import therapy
from gmg.parameters import load
from therapy_fixtures import (
    AdverseDrugEvent,
    FakeAssessment,
    Intolerance,
    ProcedureFact,
    cond,
    exposure,
    m,
    record,
    vaccine,
)

P = load()


def codes(findings):
    return [f.code for f in findings]


def by_code(findings, code):
    return next(f for f in findings if f.code == code)


def drug(finding, ingredient):
    return next(d for d in finding.data["drugs"] if d["ingredient"] == ingredient)


def test_not_refractory_gives_nothing():
    assert therapy.therapy_options(record(), FakeAssessment(cn_status="not-met-severity"), P) == ()
    assert therapy.therapy_options(record(), FakeAssessment(mg_status="ocular-only"), P) == ()


def test_achr_row_in_consensus_order_with_doses():
    fs = therapy.therapy_options(record(), FakeAssessment(serotype="achr"), P)
    opts = [c for c in codes(fs) if c.startswith("therapy.") and c.count(".") == 1]
    assert opts == ["therapy.c5-inhibitor", "therapy.anti-cd20", "therapy.fcrn-antagonist",
                    "therapy.anti-cd19", "therapy.tacrolimus"]
    c5 = by_code(fs, "therapy.c5-inhibitor")
    assert drug(c5, "ravulizumab")["orders"][0]["dose_mg"] == 2700.0  # 72 kg: 60-<100 band
    assert drug(c5, "zilucoplan")["orders"][0]["dose_mg"] == 23.0
    fcrn = by_code(fs, "therapy.fcrn-antagonist")
    assert drug(fcrn, "efgartigimod")["orders"][0]["dose_mg"] == 720.0
    assert drug(fcrn, "nipocalimab")["orders"][0]["dose_mg"] == 2160.0  # loading 30 mg/kg
    assert drug(fcrn, "rozanolixizumab")["orders"][0]["dose_mg"] == 560.0
    rtx = by_code(fs, "therapy.anti-cd20")
    bsa_dose = drug(rtx, "rituximab")["orders"][0]["dose_mg"]
    assert bsa_dose == round(375 * (170 * 72 / 3600) ** 0.5, 1)
    assert any("12/17 AChR+ vs 9/16 MuSK+" in e.value for e in rtx.evidence)
    assert "therapy.c5-inhibitor.not-indicated" not in codes(fs)


def test_tacrolimus_left_out_when_adequately_tried():
    fs = therapy.therapy_options(record(), FakeAssessment(adequately_tried=frozenset({"tacrolimus"})), P)
    assert "therapy.tacrolimus" not in codes(fs)


def test_musk_row_rituximab_first_and_c5_not_indicated():
    fs = therapy.therapy_options(record(), FakeAssessment(serotype="musk"), P)
    opts = [c for c in codes(fs) if c.startswith("therapy.") and c.count(".") == 1]
    assert opts == ["therapy.anti-cd20", "therapy.fcrn-antagonist", "therapy.anti-cd19"]
    fcrn = by_code(fs, "therapy.fcrn-antagonist")
    assert {d["ingredient"] for d in fcrn.data["drugs"]} == {"rozanolixizumab", "nipocalimab"}
    assert "therapy.c5-inhibitor.not-indicated" in codes(fs)


def test_seronegative_and_unconfirmed_no_restricted_drugs():
    for sero in ("seronegative", "unconfirmed", "lrp4"):
        fs = therapy.therapy_options(record(), FakeAssessment(serotype=sero), P)
        cs = codes(fs)
        assert "therapy.c5-inhibitor.not-indicated" in cs
        assert "therapy.serotype-review" in cs
        assert not any(c.startswith(("therapy.c5-inhibitor", "therapy.fcrn", "therapy.anti-cd")) and
                       not c.endswith("not-indicated") for c in cs)
    unknown = codes(therapy.therapy_options(record(), FakeAssessment(serotype="unknown"), P))
    assert "therapy.serotype-review" in unknown and "therapy.c5-inhibitor.not-indicated" not in unknown


def test_missing_weight_gives_data_gap_and_no_weight_based_orders():
    rec = record(measurements=())
    fs = therapy.therapy_options(rec, FakeAssessment(), P)
    assert "data-gap.weight" in codes(fs)
    c5 = by_code(fs, "therapy.c5-inhibitor")
    assert drug(c5, "ravulizumab")["state"] == "data-gap" and "orders" not in drug(c5, "ravulizumab")
    assert drug(c5, "eculizumab")["state"] == "suggest"  # not weight-based
    rtx = drug(by_code(fs, "therapy.anti-cd20"), "rituximab")
    assert [o["dose_mg"] for o in rtx["orders"]] == [1000.0, 100.0]  # no BSA regimen


def test_missing_height_gives_height_gap_only_for_bsa():
    rec = record(measurements=(m("weight", 72.0, "kg"),))
    fs = therapy.therapy_options(rec, FakeAssessment(), P)
    assert "data-gap.height" in codes(fs) and "data-gap.weight" not in codes(fs)


def prereq(finding, startswith):
    return next(p for p in finding.data["prerequisites"] if p["name"].startswith(startswith))


def test_meningococcal_states():
    fs = therapy.therapy_options(record(), FakeAssessment(), P)
    p = prereq(by_code(fs, "therapy.c5-inhibitor"), "Meningococcal")
    assert p["status"] == "missing" and {o["concept"] for o in p["orders"]} == {"menacwy", "menb"}
    recent = record(immunizations=(vaccine("menacwy", date(2026, 11, 15)), vaccine("menb", date(2026, 11, 15))))
    p = prereq(by_code(therapy.therapy_options(recent, FakeAssessment(), P), "therapy.c5-inhibitor"), "Meningococcal")
    assert p["status"] == "recent" and p["earliest_start"] == "2026-11-29"
    done = record(immunizations=(vaccine("menabcwy", date(2026, 10, 1)),))
    p = prereq(by_code(therapy.therapy_options(done, FakeAssessment(), P), "therapy.c5-inhibitor"), "Meningococcal")
    assert p["status"] == "met"
    unavailable = record(unavailable=frozenset({"immunizations"}))
    p = prereq(by_code(therapy.therapy_options(unavailable, FakeAssessment(), P), "therapy.c5-inhibitor"), "Meningococcal")
    assert p["status"] == "unknown"


def test_hbv_lipase_igg_prerequisites():
    rec = record(measurements=record().measurements + (
        m("hbsag", None, None, interpretation="negative"), m("anti-hbc", None, None, interpretation="positive"),
        m("lipase", 30.0, "U/L"), m("amylase", 60.0, "U/L"), m("igg", 900.0, "mg/dL")))
    fs = therapy.therapy_options(rec, FakeAssessment(), P)
    hbv = prereq(by_code(fs, "therapy.anti-cd20"), "Hepatitis B")
    assert hbv["status"] == "positive" and hbv["orders"] == [{"kind": "lab", "concept": "hbv-dna"}]
    assert prereq(by_code(fs, "therapy.c5-inhibitor"), "Baseline lipase")["status"] == "met"
    assert prereq(by_code(fs, "therapy.fcrn-antagonist"), "Baseline serum IgG")["status"] == "met"
    bare = therapy.therapy_options(record(), FakeAssessment(), P)
    hbv = prereq(by_code(bare, "therapy.anti-cd20"), "Hepatitis B")
    assert hbv["status"] == "missing" and {o["concept"] for o in hbv["orders"]} == {"hbsag", "anti-hbc"}
    assert prereq(by_code(bare, "therapy.c5-inhibitor"), "Baseline lipase")["status"] == "missing"


def test_pregnancy_changes_options():
    rec = record(conditions=record().conditions + (cond("pregnancy", date(2026, 9, 1)),))
    fs = therapy.therapy_options(rec, FakeAssessment(), P)
    cs = codes(fs)
    assert "therapy.anti-cd20.pregnancy-avoid" in cs and "therapy.anti-cd19.pregnancy-avoid" in cs
    assert "therapy.c5-inhibitor.pregnancy-specialist" in cs and "therapy.fcrn-antagonist.pregnancy-specialist" in cs
    assert "therapy.pregnancy-review" in cs
    assert therapy.suggested_orders(fs) and all(o["ingredient"] == "tacrolimus" for o in therapy.suggested_orders(fs))


def test_infection_defers_biologic_starts():
    rec = record(conditions=record().conditions + (cond("sepsis", date(2026, 11, 20)),))
    fs = therapy.therapy_options(rec, FakeAssessment(), P)
    cs = codes(fs)
    for opt in ("c5-inhibitor", "fcrn-antagonist", "anti-cd20", "anti-cd19"):
        assert f"therapy.{opt}.deferred-infection" in cs
    assert "therapy.tacrolimus" in cs


def test_current_class_is_shown_as_current_not_suggested():
    rec = record(exposures=(exposure("eculizumab", route="iv"),))
    fs = therapy.therapy_options(rec, FakeAssessment(), P)
    c5 = by_code(fs, "therapy.c5-inhibitor.current")
    assert c5.data["current"] == ["eculizumab"]
    assert not any(o["ingredient"] in ("eculizumab", "ravulizumab", "zilucoplan") for o in therapy.suggested_orders(fs))
    stopped = record(exposures=(exposure("eculizumab", end=date(2026, 3, 1), status="completed"),))
    assert "therapy.c5-inhibitor" in codes(therapy.therapy_options(stopped, FakeAssessment(), P))


def test_intolerance_and_grade3_event_not_suggested():
    rec = record(
        intolerances=(Intolerance("rituximab", "intolerance", 2, date(2025, 1, 1), "active", "AllergyIntolerance/1"),),
        adverse_events=(AdverseDrugEvent("zilucoplan", 3, date(2025, 6, 1), "AdverseEvent/2"),
                        AdverseDrugEvent("eculizumab", 2, date(2025, 6, 1), "AdverseEvent/3")),
    )
    fs = therapy.therapy_options(rec, FakeAssessment(), P)
    assert "therapy.anti-cd20.intolerance" in codes(fs)
    c5 = by_code(fs, "therapy.c5-inhibitor")
    assert drug(c5, "zilucoplan")["state"] == "intolerance"
    assert drug(c5, "eculizumab")["state"] == "suggest"  # grade 2 without a recorded intolerance


def test_thymectomy_rules():
    thymoma = record(conditions=record().conditions + (cond("thymoma"),))
    f = by_code(therapy.therapy_options(thymoma, FakeAssessment(serotype="musk"), P), "therapy.thymectomy")
    assert f.data["strength"] == "recommended"
    young = record(birth_date=date(1990, 1, 1), conditions=(cond("mg-generalized", date(2023, 1, 1)),))
    f = by_code(therapy.therapy_options(young, FakeAssessment(), P), "therapy.thymectomy")
    assert f.data["strength"] == "may-be-considered" and "thymectomy_max_age_years" in f.parameters
    old = record(birth_date=date(1950, 1, 1), conditions=(cond("mg-generalized", date(2023, 1, 1)),))
    assert not any(c.startswith("therapy.thymectomy") for c in codes(therapy.therapy_options(old, FakeAssessment(), P)))
    long = record(birth_date=date(1990, 1, 1), conditions=(cond("mg-generalized", date(2015, 1, 1)),))
    assert not any(c.startswith("therapy.thymectomy") for c in codes(therapy.therapy_options(long, FakeAssessment(), P)))
    done = record(birth_date=date(1990, 1, 1), conditions=(cond("mg-generalized", date(2023, 1, 1)),),
                  procedures=(ProcedureFact("thymectomy", date(2024, 1, 1), None, "completed", "Procedure/t"),))
    assert not any(c.startswith("therapy.thymectomy") for c in codes(therapy.therapy_options(done, FakeAssessment(), P)))
    no_birth = record(birth_date=None, conditions=(cond("mg-generalized", date(2023, 1, 1)),))
    assert "therapy.thymectomy.undetermined" in codes(therapy.therapy_options(no_birth, FakeAssessment(), P))


def test_hsct_after_main_classes_failed():
    tried = record(exposures=(
        exposure("eculizumab", end=date(2025, 1, 1), status="completed"),
        exposure("rituximab", end=date(2025, 6, 1), status="completed"),
        exposure("efgartigimod", end=date(2026, 6, 1), status="completed"),
    ))
    assert "therapy.hsct" in codes(therapy.therapy_options(tried, FakeAssessment(), P))
    assert "therapy.hsct" not in codes(therapy.therapy_options(record(), FakeAssessment(), P))


from hypothesis import given, settings, strategies as st  # noqa: E402

from hooks.therapy_cards import therapy_cards  # noqa: E402
from hooks.trial_cards import trial_cards  # noqa: E402

SEROTYPES = st.sampled_from(["achr", "musk", "lrp4", "seronegative", "unconfirmed", "unknown"])


@settings(max_examples=60, deadline=None)
@given(
    serotype=SEROTYPES,
    acute=st.booleans(),
    weight=st.one_of(st.none(), st.floats(min_value=-10, max_value=1e6, allow_nan=False)),
    unit=st.sampled_from(["kg", "g", "[lb_av]", None, "stone"]),
    hct=st.one_of(st.none(), st.floats(min_value=-5, max_value=500, allow_nan=False)),
    birth=st.one_of(st.none(), st.dates(min_value=date(1900, 1, 1), max_value=date(2030, 1, 1))),
    pregnant=st.booleans(),
    grade=st.one_of(st.none(), st.integers(min_value=-3, max_value=9)),
)
def test_messy_records_never_crash_the_cards(serotype, acute, weight, unit, hct, birth, pregnant, grade):
    ms = []
    if weight is not None:
        ms.append(m("weight", weight, unit))
    if hct is not None:
        ms.append(m("haematocrit", hct, "%"))
    conds = record().conditions + ((cond("pregnancy", date(2026, 9, 1)),) if pregnant else ())
    rec = record(measurements=tuple(ms), birth_date=birth, conditions=conds,
                 adverse_events=(AdverseDrugEvent("rituximab", grade, None, "AdverseEvent/x"),))
    a = FakeAssessment(serotype=serotype, acute=acute)
    cards = therapy_cards(rec, a, P) + trial_cards(rec, a, P)
    assert cards
    for c in cards:
        assert c.to_json()["extension"]["gmg-cds"]["findings"]


def test_pregnancy_defers_thymectomy_until_after_delivery():
    """Issue #17 point 5: in pregnancy thymectomy is shown as deferred until after delivery, not offered."""
    from datetime import date as _date

    from gmg.therapy import thymectomy_finding
    from therapy_fixtures import TODAY, cond as _cond

    achr = record(birth_date=_date(1990, 1, 1), conditions=(_cond("mg-generalized", _date(2024, 1, 1)),))
    assert thymectomy_finding(achr, "achr", P).data["strength"] == "may-be-considered"
    pregnant = record(birth_date=_date(1990, 1, 1), conditions=(_cond("mg-generalized", _date(2024, 1, 1)), _cond("pregnancy", TODAY)))
    f = thymectomy_finding(pregnant, "achr", P)
    assert f.code == "therapy.thymectomy.deferred-pregnancy" and f.data == {"strength": "deferred", "deferredStrength": "may-be-considered"}
    assert "deferred until after delivery; not offered now" in f.text
    thymoma = record(conditions=(_cond("mg-generalized"), _cond("thymoma"), _cond("pregnancy", TODAY)))
    assert thymectomy_finding(thymoma, "achr", P).data["deferredStrength"] == "recommended"
    codes = [x.code for x in therapy.therapy_options(pregnant, FakeAssessment(), P)]
    assert "therapy.thymectomy" not in codes and "therapy.thymectomy.deferred-pregnancy" in codes
    review = next(x for x in therapy.therapy_options(pregnant, FakeAssessment(), P) if x.code == "therapy.pregnancy-review")
    assert "thymectomy is deferred until after delivery" in review.text
