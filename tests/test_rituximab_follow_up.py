"""After rituximab (issue #17 point 4): a patient-view reminder of B-cell (CD19/CD20) and IgG
monitoring every 3-6 months and of the redosing considerations (about 6 months; CD20+ B cells > 1%
in Chinese practice, K), with the dates of the last dose and the last count."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from gmg.follow_up import add_months, rituximab_follow_up
from gmg.parameters import load
from gmg.record import MedicationExposure
from hooks.i18n import use_language
from hooks.therapy_cards import follow_up_card, therapy_cards
from therapy_fixtures import FakeAssessment, m, record

P = load()


def infusion(day: date, source: str | None = None) -> MedicationExposure:
    return MedicationExposure(
        ingredient="rituximab", drug_classes=frozenset({"anti-cd20"}), route="iv", kind="administration",
        status="completed", start=day, end=None, dose_mg=1000.0, mg_per_day=None, mg_per_week=None,
        mg_per_kg_per_day=None, weight_kg=None, dose_text=None, source=source or f"MedicationAdministration/rtx-{day}",
    )


def test_the_reminder_gives_the_dates_of_the_last_dose_and_count():
    rec = record(exposures=(infusion(date(2026, 5, 18)), infusion(date(2026, 6, 1))),
                 measurements=(m("cd19-b-cells", 2.0, "/uL", date(2026, 8, 15)), m("igg", 820.0, "mg/dL", date(2026, 8, 15))))
    f = rituximab_follow_up(rec, P)
    assert f.code == "follow-up.rituximab" and f.indicator == "info"
    d = f.data
    assert d["lastDose"] == "2026-06-01"
    assert d["lastBCellCount"] == {"concept": "cd19-b-cells", "value": "2 /uL", "date": "2026-08-15"}
    assert d["lastIgG"] == {"value": "820 mg/dL", "date": "2026-08-15"}
    assert (d["checkDueFrom"], d["checkDueBy"], d["overdue"]) == ("2026-11-15", "2027-02-15", False)
    assert d["redoseFrom"] == "2026-12-01" and d["redoseCd20Percent"] == 1.0
    assert [o["concept"] for o in d["orders"]] == ["cd19-b-cells", "igg"]  # the window opened on 2026-11-15
    card = follow_up_card(rec, P).to_json()
    assert "Last rituximab dose: **2026-06-01**" in card["detail"]
    assert "Last B-cell count (CD19): 2 /uL on 2026-08-15" in card["detail"]
    assert "next check due **2026-11-15** to **2027-02-15**" in card["detail"]
    assert "(**2026-12-01**)" in card["detail"] and "CD20+ B cells > 1%" in card["detail"]
    # the interim values in plain words (issue #16); ids and tags stay in the extension
    assert "CD20+ B cells above 1%" in card["detail"] and "B cells and IgG every 3–6 months" in card["detail"]
    assert "rituximab_redose_cd20_pct" not in card["detail"] and "D-mid" not in card["detail"]
    loinc = {a["resource"]["code"]["coding"][0]["code"] for s in card["suggestions"] for a in s["actions"]}
    assert loinc == {"8116-6", "2465-3"}
    with use_language("zh-CN"):
        zh = follow_up_card(rec, P).to_json()
    assert "末次利妥昔单抗给药：**2026-06-01**" in zh["detail"] and "下次复查时间 **2026-11-15** 至 **2027-02-15**" in zh["detail"]


def test_no_count_since_the_dose_is_said_and_an_overdue_check_warns():
    rec = record(exposures=(infusion(date(2026, 1, 10)),), measurements=(m("cd19-b-cells-percent", 12.0, "%", date(2025, 12, 1)),))
    f = rituximab_follow_up(rec, P)
    assert f.indicator == "warning" and f.data["overdue"] and f.data["checkDueBy"] == "2026-07-10"
    assert f.data["bCellCountSinceDose"] is False and f.data["lastIgG"] is None
    card = follow_up_card(rec, P).to_json()
    assert card["indicator"] == "warning" and card["summary"].endswith("(check overdue)")
    assert "No B-cell count since the last dose (the last, before it: 12 % on 2025-12-01)" in card["detail"]
    assert "No IgG on record." in card["detail"] and "due by **2026-07-10** and is overdue" in card["detail"]


def test_no_reminder_without_rituximab_or_long_after_it():
    assert rituximab_follow_up(record(), P) is None
    assert rituximab_follow_up(record(exposures=(infusion(date(2024, 2, 15)),)), P) is None  # > 730 days
    not_given = replace(infusion(date(2026, 6, 1)), status="not-taken")
    assert rituximab_follow_up(record(exposures=(not_given,)), P) is None


def test_the_reminder_is_on_the_patient_view_cards_even_when_not_refractory():
    rec = record(exposures=(infusion(date(2026, 6, 1)),))
    cards = therapy_cards(rec, FakeAssessment(cn_status="not-met-inadequate"), P, region="us")
    codes = [f["code"] for c in cards for f in c.to_json()["extension"]["gmg-cds"]["findings"]]
    assert codes == ["follow-up.rituximab"]


@pytest.mark.parametrize("day, months, expected", [
    (date(2026, 8, 31), 6, date(2027, 2, 28)), (date(2026, 1, 31), 1, date(2026, 2, 28)), (date(2026, 11, 15), 3, date(2027, 2, 15)),
])
def test_months_are_calendar_months(day, months, expected):
    assert add_months(day, months) == expected


def test_the_chinese_card_is_completely_chinese():
    from tests.test_i18n_cards import _texts
    from tests.test_i18n_complete import english_runs

    for rec in (record(exposures=(infusion(date(2026, 6, 1)),), measurements=(m("cd19-b-cells", 2.0, "/uL", date(2026, 8, 15)),)),
                record(exposures=(infusion(date(2026, 1, 10)),), measurements=(m("cd19-b-cells", 9.0, "/uL", date(2025, 12, 1)),))):
        with use_language("zh-CN"):
            card = follow_up_card(rec, P).to_json()
        left = [r for text in _texts(card) for r in english_runs(text)]
        assert not left, left
