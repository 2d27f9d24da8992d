"""Rapid therapy (gmg/rapid.py): PLEX/IVIG choice edges, MuSK+, sepsis, doses, when shown."""

from __future__ import annotations

from datetime import date

import pytest

from gmg import rapid
from gmg.parameters import load
from therapy_fixtures import FakeAssessment, cond, m, record

P = load()


def codes(fs):
    return [f.code for f in fs]


def born_aged(age):
    return date(2026 - age, 1, 1)  # birthday already passed by 2026-11-22


@pytest.mark.parametrize("age,prefer_ivig", [(65, False), (66, True), (18, False), (17, True)])
def test_age_edges(age, prefer_ivig):
    fs = rapid.rapid_options(record(birth_date=born_aged(age)), FakeAssessment(), P)
    assert ("rescue.prefer-ivig" in codes(fs)) is prefer_ivig
    assert "rescue.ivig" in codes(fs) and "rescue.plex" in codes(fs)


@pytest.mark.parametrize("sbp,prefer_ivig", [(89, True), (90, False)])
def test_sbp_edge(sbp, prefer_ivig):
    rec = record(measurements=record().measurements + (m("bp-systolic", float(sbp), "mm[Hg]", date(2026, 11, 21)),))
    fs = rapid.rapid_options(rec, FakeAssessment(acute=True), P)
    assert ("rescue.prefer-ivig" in codes(fs)) is prefer_ivig


def test_old_sbp_is_not_used():
    rec = record(measurements=record().measurements + (m("bp-systolic", 80.0, "mm[Hg]", date(2026, 10, 1)),))
    fs = rapid.rapid_options(rec, FakeAssessment(acute=True), P)
    assert "rescue.prefer-ivig" not in codes(fs)
    assert "systolic blood pressure" in next(f for f in fs if f.code == "rescue.ivig").text


def test_sepsis_prefers_ivig():
    rec = record(conditions=record().conditions + (cond("sepsis", date(2026, 11, 20)),))
    fs = rapid.rapid_options(rec, FakeAssessment(acute=True), P)
    assert codes(fs)[0] == "rescue.prefer-ivig"
    assert next(f for f in fs if f.code == "rescue.plex").data["preferred"] is False


def test_musk_prefers_plex_and_ivig_not_recommended():
    fs = rapid.rapid_options(record(), FakeAssessment(serotype="musk"), P)
    cs = codes(fs)
    assert cs[:3] == ["rescue.prefer-plex", "rescue.plex", "rescue.ivig.not-recommended-musk"]
    assert "rescue.ivig" not in cs and "rescue.prefer-ivig" not in cs
    septic = record(conditions=record().conditions + (cond("sepsis", date(2026, 11, 20)),))
    f = rapid.rapid_options(septic, FakeAssessment(serotype="musk", acute=True), P)[0]
    assert f.code == "rescue.prefer-plex" and "specialist decision" in f.text


def test_doses_ivig_and_plex():
    fs = rapid.rapid_options(record(), FakeAssessment(acute=True), P)
    ivig = next(f for f in fs if f.code == "rescue.ivig")
    assert ivig.data["total_g"] == 144.0 and ivig.data["daily_g"] == 28.8
    assert ivig.data["order"]["dose_mg"] == 28800.0 and ivig.data["order"]["timing"]["count"] == 5
    assert "3–5 days" in ivig.data["dose"]  # > 80 g
    plex = next(f for f in fs if f.code == "rescue.plex")
    assert plex.data["plasma_volume_l"] == pytest.approx(0.065 * 0.6 * 72, abs=1e-3)
    ivmp = next(f for f in fs if f.code == "rescue.ivmp")
    assert ivmp.indicator == "warning" and "transient" in ivmp.text
    later = rapid.rapid_options(record(), FakeAssessment(), P)
    assert next(f for f in later if f.code == "rescue.ivmp").indicator == "info"


def test_missing_weight_and_haematocrit_gaps():
    fs = rapid.rapid_options(record(measurements=()), FakeAssessment(acute=True), P)
    assert "data-gap.weight" in codes(fs)
    assert "order" not in next(f for f in fs if f.code == "rescue.ivig").data
    fs = rapid.rapid_options(record(measurements=(m("weight", 70.0, "kg"),)), FakeAssessment(acute=True), P)
    assert "data-gap.haematocrit" in codes(fs)


def test_when_shown():
    assert rapid.rapid_options(record(), FakeAssessment(cn_status="not-met-severity"), P) == ()
    assert rapid.rapid_options(record(), FakeAssessment(cn_status="not-met-severity", acute=True), P)
    assert rapid.rapid_options(record(), FakeAssessment(mg_status="ocular-only", acute=True), P) == ()
    later = rapid.rapid_options(record(), FakeAssessment(), P)
    assert next(f for f in later if f.code == "rescue.ivig").data["when"] == "if-exacerbation"
