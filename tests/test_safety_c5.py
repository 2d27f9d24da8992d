"""C5 inhibitors: meningococcal vaccination (missing, 13/14 days), serotype, zilucoplan labs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from safety_builders import TODAY, codes, days_ago, draft, lab, one, record, run, vaccine

VACCINATED_LONG_AGO = (vaccine("menacwy", days_ago(400)), vaccine("menb", days_ago(380)))


def test_no_vaccine_on_record_is_critical_and_names_both_components():
    f = one(run(record(), draft("eculizumab")), "safety.c5.meningococcal-vaccine-missing")
    assert f.indicator == "critical"
    assert f.data["missing_vaccines"] == ["MenACWY", "MenB"]
    assert f.data["orders"] == ["MedicationRequest/eculizumab"]


def test_only_menacwy_on_record_names_menb_missing():
    rec = record(immunizations=(vaccine("menacwy", days_ago(400)),))
    f = one(run(rec, draft("ravulizumab")), "safety.c5.meningococcal-vaccine-missing")
    assert f.data["missing_vaccines"] == ["MenB"]


def test_menabcwy_covers_both_components():
    rec = record(immunizations=(vaccine("menabcwy", days_ago(100)),))
    assert not codes(run(rec, draft("zilucoplan"))) & {
        "safety.c5.meningococcal-vaccine-missing",
        "safety.c5.meningococcal-vaccine-recent",
    }


def test_not_done_vaccination_does_not_count():
    rec = record(immunizations=(vaccine("menacwy", days_ago(400), "not-done"), vaccine("menb", days_ago(400))))
    assert "safety.c5.meningococcal-vaccine-missing" in codes(run(rec, draft("eculizumab")))


@pytest.mark.parametrize("gap,fires", [(13, True), (14, False)])
def test_vaccination_13_or_14_days_before_the_planned_start(gap, fires):
    start = TODAY + timedelta(days=10)
    given = start - timedelta(days=gap)
    rec = record(immunizations=(vaccine("menacwy", given), vaccine("menb", days_ago(300))))
    found = run(rec, draft("eculizumab", start=start))
    assert ("safety.c5.meningococcal-vaccine-recent" in codes(found)) is fires
    assert "safety.c5.meningococcal-vaccine-missing" not in codes(found)
    if fires:
        f = one(found, "safety.c5.meningococcal-vaccine-recent")
        assert f.indicator == "warning"
        assert f.data["earliest_start"] == (given + timedelta(days=14)).isoformat()
        assert (given + timedelta(days=14)).isoformat() in f.text


def test_vaccines_ordered_in_the_same_session_give_the_earliest_start():
    found = run(record(), draft("eculizumab"), draft("menacwy"), draft("menb"))
    f = one(found, "safety.c5.meningococcal-vaccine-recent")
    assert f.data["earliest_start"] == (TODAY + timedelta(days=14)).isoformat()
    assert "safety.c5.meningococcal-vaccine-missing" not in codes(found)


def test_unavailable_immunizations_are_said_not_concluded():
    rec = record(unavailable=frozenset({"immunizations"}))
    f = one(run(rec, draft("eculizumab")), "safety.c5.meningococcal-vaccine-missing")
    assert "could not be retrieved" in f.text
    assert f.data["immunizations_unavailable"] is True


@pytest.mark.parametrize("serotype", ["musk", "seronegative", "unconfirmed", "unknown", "lrp4"])
def test_c5_not_indicated_unless_achr(serotype):
    rec = record(immunizations=VACCINATED_LONG_AGO)
    f = one(run(rec, draft("eculizumab"), serotype=serotype), "safety.c5.not-indicated-serotype")
    assert f.indicator == "warning" and f.data["serotype"] == serotype


def test_c5_in_achr_is_indicated():
    rec = record(immunizations=VACCINATED_LONG_AGO)
    assert run(rec, draft("eculizumab"), serotype="achr") == ()


@pytest.mark.parametrize("age_days,fires", [(90, False), (91, True)])
def test_zilucoplan_lipase_window_90_days(age_days, fires):
    rec = record(
        immunizations=VACCINATED_LONG_AGO,
        measurements=(lab("lipase", 30, "U/L", days_ago(age_days)), lab("amylase", 50, "U/L", days_ago(10))),
    )
    found = run(rec, draft("zilucoplan"))
    assert ("safety.zilucoplan.lipase-amylase-missing" in codes(found)) is fires
    if fires:
        assert one(found, "safety.zilucoplan.lipase-amylase-missing").data["missing_labs"] == ["lipase"]


def test_zilucoplan_without_either_lab_names_both():
    rec = record(immunizations=VACCINATED_LONG_AGO)
    f = one(run(rec, draft("zilucoplan")), "safety.zilucoplan.lipase-amylase-missing")
    assert f.data["missing_labs"] == ["lipase", "amylase"]


def test_eculizumab_does_not_need_lipase():
    rec = record(immunizations=VACCINATED_LONG_AGO)
    assert "safety.zilucoplan.lipase-amylase-missing" not in codes(run(rec, draft("eculizumab")))


def test_two_c5_drafts_give_one_finding_naming_both():
    f = one(run(record(), draft("eculizumab"), draft("ravulizumab")), "safety.c5.meningococcal-vaccine-missing")
    assert f.data["orders"] == ["MedicationRequest/eculizumab", "MedicationRequest/ravulizumab"]
