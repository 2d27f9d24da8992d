"""Plausibility before use (issue 15: F-2, the 3-kg adult of F-6, F-11, F-13), through the real
endpoint with demo patients, and gmg/plausibility.py's rules directly.

- F-2: a weight of -60 kg, 1,000 kg or 1e308 kg gives a data gap for weight, no dose per kg, and
  the assessment does not flip to "not refractory yet (inadequate treatment)";
- F-6: a 42-year-old recorded at 3 kg is not dosed (no efgartigimod 30 mg, no IVIG 6 g);
- F-11: a birth date of 9999-12-31 is a data gap, not "age -7974";
- F-13: a weight sent as the string "60" is not read (the weight gap as for no weight at all).
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from gmg import parameters as gmg_parameters
from gmg.plausibility import findings, plausible_range, screen
from gmg.record import Measurement, MedicationExposure, PatientRecord
from tests.test_demo_patients import prefetch_of

ROOT = Path(__file__).resolve().parents[1]
PV = "/cds-services/gmg-patient-view"
WEIGHT_LOINC = "29463-7"
PARAMS = gmg_parameters.load(None)


def bundle(name: str) -> dict[str, Any]:
    return json.loads((ROOT / "demo" / "bundles" / f"{name}.json").read_text(encoding="utf-8"))


def with_weight(b: dict[str, Any], value: Any) -> dict[str, Any]:
    b = copy.deepcopy(b)
    n = 0
    for e in b["entry"]:
        r = e["resource"]
        if r["resourceType"] == "Observation" and any(c.get("code") == WEIGHT_LOINC for c in r["code"]["coding"]):
            r["valueQuantity"]["value"] = value
            n += 1
    assert n > 0
    return b


def call(client, b: dict[str, Any], language: str = "en") -> tuple[list[dict[str, Any]], set[str], str]:
    pid, prefetch = prefetch_of(b)
    resp = client.post(PV, json={"hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "hook": "patient-view",
                                 "context": {"userId": "Practitioner/doc1", "patientId": pid}, "prefetch": prefetch},
                       headers={"Accept-Language": language})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    cards = resp.get_json()["cards"]
    codes = {f["code"] for c in cards for f in c["extension"]["gmg-cds"]["findings"]}
    text = "\n".join(c["summary"] + "\n" + c.get("detail", "") for c in cards)
    return cards, codes, text


def finding(cards: list[dict[str, Any]], code: str) -> dict[str, Any]:
    return next(f for c in cards for f in c["extension"]["gmg-cds"]["findings"] if f["code"] == code)


# -- F-2 ------------------------------------------------------------------------------------------

def test_a_plausible_weight_gives_the_refractory_assessment(client) -> None:
    _cards, codes, _text = call(client, bundle("met-3-1"))
    assert "refractory.cn.met" in codes and "data-gap.implausible-weight" not in codes


@pytest.mark.parametrize("weight", [-60, 1000, 1e308, 0])
def test_an_impossible_weight_is_a_data_gap_and_never_a_dose_per_kg(client, weight) -> None:
    cards, codes, text = call(client, with_weight(bundle("met-3-1"), weight))
    assert "data-gap.implausible-weight" in codes
    gap = finding(cards, "data-gap.implausible-weight")
    assert gap["parameters"] == ["plausible_weight_kg"] and gap["date"] and gap["reference"].startswith("Observation/")
    assert "Recorded weight" in text and "outside the plausible range for a patient aged" in text
    # no adequacy verdict from that weight: neither "not refractory yet" nor a per-kg figure
    assert "refractory.cn.not-met.inadequate-treatment" not in codes
    assert not any(c.startswith("optimise.steroid-dose") or c.startswith("optimise.nsist-dose") for c in codes)
    assert not re.search(r"-?[\d.]+(e[+-]?\d+)? mg/kg/d", text.replace("0.5 mg/kg/d", "")), text
    assert "not adequate (latest" not in text
    assert codes & {"refractory.cn.indeterminate", "refractory.cn.met"}


def test_the_gap_is_in_chinese_too(client) -> None:
    _cards, codes, text = call(client, with_weight(bundle("met-3-1"), 1000), language="zh-CN")
    assert "data-gap.implausible-weight" in codes
    assert "Recorded weight" not in text and "合理范围" in text


# -- F-6: the 3-kg adult --------------------------------------------------------------------------

def test_an_adult_recorded_at_3_kg_is_not_dosed(client) -> None:
    cards, codes, text = call(client, with_weight(bundle("therapy-achr"), 3))
    assert "data-gap.implausible-weight" in codes
    assert "Doses for weight 3 kg" not in text and "30 mg (10 mg/kg)" not in text and "6 g" not in text
    doses = [a["resource"] for c in cards for s in c.get("suggestions", []) for a in s.get("actions", [])
             if a.get("resource", {}).get("resourceType") == "MedicationRequest"]
    for r in doses:  # no computed dose came from 3 kg
        for d in r.get("dosageInstruction", []):
            assert "3 kg" not in d.get("text", "")
    baseline_cards, _codes, baseline = call(client, bundle("therapy-achr"))
    assert "Doses for weight 82 kg" in baseline  # the same patient at a plausible weight is dosed


# -- F-11 -----------------------------------------------------------------------------------------

def test_a_birth_date_in_the_future_is_a_data_gap_not_a_negative_age(client) -> None:
    b = copy.deepcopy(bundle("met-3-1"))
    next(e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == "Patient")["birthDate"] = "9999-12-31"
    cards, codes, text = call(client, b)
    assert "data-gap.implausible-birth-date" in codes
    assert not re.search(r"(-|−)79\d\d", text) and not re.search(r"age[ d:]*(-|−)\d", text, re.I), text
    assert "9999-12-31" in text and "in the future" in text
    assert "Unknown: Age ≥ 18 years" in text  # the trial's age criterion is unknown, not passed


# -- F-13 -----------------------------------------------------------------------------------------

def test_a_weight_sent_as_a_string_is_not_read(client) -> None:
    cards, codes, text = call(client, with_weight(bundle("met-3-1"), "60"))
    assert "data-gap.weight" in codes  # no usable weight, as if none had been recorded
    assert "refractory.cn.not-met.inadequate-treatment" not in codes
    unread = finding(cards, "data-gap.unreadable-value")
    assert unread["kind"] == "weight" and 'weight recorded as "60"' in text and "is not a number" in text
    _cards, _codes, zh = call(client, with_weight(bundle("met-3-1"), "60"), language="zh-CN")
    assert "不是数值" in zh and "is not a number" not in zh
    _cards, numeric_codes, _ = call(client, with_weight(bundle("met-3-1"), 60))
    assert "data-gap.weight" not in numeric_codes  # the same value as a JSON number is read


# -- the rules themselves -------------------------------------------------------------------------

TODAY = date(2026, 11, 22)


def record(birth: date | None, *measurements: Measurement, exposures: tuple[MedicationExposure, ...] = ()) -> PatientRecord:
    return PatientRecord(patient_id="p1", today=TODAY, birth_date=birth, measurements=measurements,
                         exposures=exposures)


def weight(value: float, when: date = date(2026, 11, 1), unit: str = "kg") -> Measurement:
    return Measurement("weight", value, unit, when, "Observation/w")


@pytest.mark.parametrize("age, kg, plausible", [
    (42, 3.0, False), (42, 20.0, True), (42, 350.0, True), (42, 351.0, False),
    (6, 20.0, True), (6, 130.0, False), (6, 9.0, True), (6, 5.0, False),
    (0, 3.0, True), (15, 200.0, True), (None, 3.0, True), (None, 400.0, False),
])
def test_weight_ranges_depend_on_age(age, kg, plausible) -> None:
    birth = None if age is None else date(2026 - age, 1, 1)
    screened = screen(record(birth, weight(kg)), PARAMS)
    assert (screened.measurements_of("weight") != ()) is plausible


def test_height_and_haematocrit_ranges() -> None:
    adult = date(1980, 1, 1)
    for concept, value, unit, plausible in (("height", 170.0, "cm", True), ("height", 17.0, "cm", False),
                                             ("height", 1.7, "m", True), ("haematocrit", 45.0, "%", True),
                                             ("haematocrit", 0.45, "%", False), ("haematocrit", 450.0, "%", False)):
        m = Measurement(concept, value, unit, date(2026, 11, 1), "Observation/x")
        assert (screen(record(adult, m), PARAMS).measurements_of(concept) != ()) is plausible, (concept, value)


def test_a_dose_per_kg_from_an_implausible_weight_is_dropped() -> None:
    e = MedicationExposure(ingredient="prednisone", drug_classes=frozenset({"glucocorticoid"}), route="oral",
                           kind="statement", status="active", start=date(2026, 1, 1), end=None, dose_mg=40,
                           mg_per_day=40, mg_per_week=None, mg_per_kg_per_day=-0.67, weight_kg=-60,
                           dose_text=None, source="MedicationStatement/1")
    screened = screen(record(date(1980, 1, 1), weight(-60), exposures=(e,)), PARAMS)
    assert screened.exposures[0].mg_per_kg_per_day is None and screened.exposures[0].weight_kg is None
    assert screened.exposures[0].mg_per_day == 40  # the dose itself stays
    (gap,) = findings(screened)
    assert gap.code == "data-gap.implausible-weight" and gap.data["value"] == "-60"


def test_a_plausible_record_is_returned_unchanged() -> None:
    r = record(date(1980, 1, 1), weight(70))
    assert screen(r, PARAMS) is r


def test_the_ranges_are_parameters_with_provenance() -> None:
    for pid in ("plausible_weight_kg", "plausible_height_cm", "plausible_haematocrit_percent", "plausible_age_max_years"):
        entry = PARAMS.entry(pid)
        assert entry.tag == "I" and entry.source
    assert plausible_range("weight", 6, PARAMS) == (8.0, 120.0)
    assert plausible_range("weight", None, PARAMS) == (0.3, 350.0)
    site = replace(PARAMS, entries={**PARAMS.entries, "plausible_age_max_years": replace(
        PARAMS.entry("plausible_age_max_years"), value=100)})
    assert screen(record(date(1920, 1, 1)), site).birth_date is None  # 106 > 100
    assert screen(record(date(1920, 1, 1)), PARAMS).birth_date == date(1920, 1, 1)
