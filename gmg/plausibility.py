"""Plausibility of the body measures and the age the rules compute with (issue 15: F-2, F-6's
3-kg adult, F-11, F-13).

Statement implemented (a design decision of this project, tag I): a recorded weight, height or
haematocrit outside the range plausible for the patient's age on the day it was measured, and a
birth date in the future or more than `plausible_age_max_years` years ago, are taken as entry
errors (a wrong unit, grams for kilograms, a slipped digit, a placeholder date), not as facts:

- the value is set aside before any rule reads the record: no dose per kilogram (adequacy of
  glucocorticoid or NSIST, gmg/adequacy.py), no computed dose (gmg/dosing.py), no trial
  criterion and no age-dependent rule is ever computed from it; a birth date set aside leaves
  the age unknown;
- the card names it as a data gap (`data-gap.implausible-weight`, `-height`, `-haematocrit`,
  `-birth-date`) with the value, its date and the range, so the clinician can correct the chart;
- a rule that needed it then says what is missing, as for a value never recorded (never
  "not refractory" or "dose inadequate" from a weight of 1,000 kg).

Provenance: the ranges are the parameters `plausible_weight_kg`, `plausible_height_cm`,
`plausible_haematocrit_percent` and `plausible_age_max_years` in gmg/parameters.toml (tag I),
age-banded for weight and height: a plausible weight for a 6-year-old is not an adult's. They
follow the idea of the "biologically implausible value" flags of the CDC 2000 growth-chart
programs (extreme values are flagged, not corrected), with fixed age bands instead of z-scores,
wide enough that only entry errors fall outside. Values of the wrong JSON type (a weight sent
as the string "60") never reach the record: fhir_mappings reads a Quantity value only when it is
a JSON number, and keeps the text as an unread value, named here (`data-gap.unreadable-value`)
when it was recorded on or after the latest readable value of that kind (the same day included).
A value set aside here or left unread is never replaced by an earlier one for a dose: the doses
read these measures through gmg/measures.py.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date
from typing import Any

from terminology import units

from .findings import Finding
from .measures import latest_usable
from .parameters import Parameters
from .record import ImplausibleValue, Measurement, MedicationExposure, PatientRecord
from .unread import unread_evidence

# concept -> (parameter id, unit the ranges are stated in, words for the card)
MEASURES: dict[str, tuple[str, str, str]] = {
    "weight": ("plausible_weight_kg", "kg", "weight"),
    "height": ("plausible_height_cm", "cm", "height"),
    "haematocrit": ("plausible_haematocrit_percent", "%", "haematocrit"),
}
AGE_PARAMETER = "plausible_age_max_years"
GAP_CODE = "data-gap.implausible-{}"
NOT_USED_FOR = {
    "weight": "doses, doses per kg and dose adequacy",
    "height": "body-surface doses",
    "haematocrit": "plasma-volume doses",
}


def _bands(value: Any) -> list[tuple[int, float, float]]:
    """A range parameter: one [low, high] for every age, or rows [from age (years), low, high]."""
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return [(0, float(value[0]), float(value[1]))]
    return sorted((int(row[0]), float(row[1]), float(row[2])) for row in value)


def plausible_range(concept: str, age: int | None, params: Parameters) -> tuple[float, float]:
    """The range for this age in years; for an unknown age the widest range of all ages."""
    bands = _bands(params[MEASURES[concept][0]])
    if age is None:
        return min(b[1] for b in bands), max(b[2] for b in bands)
    chosen = bands[0]
    for band in bands:
        if age >= band[0]:
            chosen = band
    return chosen[1], chosen[2]


def _patient_words(age: int | None) -> str:
    return "a patient of unknown age" if age is None else f"a patient aged {age}"


def _num(value: float) -> str:
    return f"{value:g}"


def _birth_date_problem(record: PatientRecord, params: Parameters) -> str | None:
    birth = record.birth_date
    if birth is None:
        return None
    if birth > record.today:
        return "future"
    age = record.age_on(record.today)
    if age is not None and age > int(params[AGE_PARAMETER]):
        return "too-old"
    return None


def _in_range_unit(m: Measurement, unit: str) -> float | None:
    if m.value is None:
        return None
    value = m.value if m.unit == unit else units.convert(m.value, m.unit, unit)
    return float(value) if value is not None else None


def screen(record: PatientRecord, params: Parameters) -> PatientRecord:
    """The record with implausible weights, heights, haematocrits and birth dates set aside
    (listed in `record.implausible`); the same record when everything is plausible."""
    set_aside: list[ImplausibleValue] = []
    birth_problem = _birth_date_problem(record, params)
    birth = record.birth_date
    if birth_problem is not None:
        set_aside.append(ImplausibleValue(
            concept="birth-date", value=birth.isoformat() if birth else "", unit=None, when=None,
            source="Patient", low=None, high=None, age=None, parameter=AGE_PARAMETER,
            reason=birth_problem))
        birth = None

    def age_on(day: date) -> int | None:
        if birth is None:
            return None
        return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))

    kept: list[Measurement] = []
    for m in record.measurements:
        measure = MEASURES.get(m.concept)
        value = _in_range_unit(m, measure[1]) if measure is not None else None
        if measure is None or value is None:
            kept.append(m)  # not screened here, or not a number in a known unit (no rule reads it)
            continue
        age = age_on(m.when)
        low, high = plausible_range(m.concept, age, params)
        if math.isfinite(value) and low <= value <= high:
            kept.append(m)
            continue
        set_aside.append(ImplausibleValue(
            concept=m.concept, value=_num(value), unit=measure[1], when=m.when, source=m.source,
            low=low, high=high, age=age, parameter=measure[0], reason="out-of-range"))

    exposures = tuple(_without_implausible_weight(e, age_on, params) for e in record.exposures)
    changed_exposures = any(a is not b for a, b in zip(exposures, record.exposures))
    if not set_aside and not changed_exposures:
        return record
    return replace(record, birth_date=birth, measurements=tuple(kept), exposures=exposures,
                   implausible=record.implausible + tuple(set_aside))


def _without_implausible_weight(e: MedicationExposure, age_on: Any, params: Parameters) -> MedicationExposure:
    """An exposure whose dose per kg was computed (by the mapping) from an implausible weight
    loses that figure; the rules then look for a plausible weight or say none is usable."""
    if e.weight_kg is None and e.mg_per_kg_per_day is None:
        return e
    weight = e.weight_kg
    age = age_on(e.start) if e.start is not None else None
    low, high = plausible_range("weight", age, params)
    if weight is not None and math.isfinite(weight) and low <= weight <= high:
        return e
    return replace(e, weight_kg=None, mg_per_kg_per_day=None)


def findings(record: PatientRecord) -> tuple[Finding, ...]:
    """One data-gap finding per kind of value set aside, naming the most recent one; and one per
    kind whose latest value was not a number at all."""
    latest: dict[str, ImplausibleValue] = {}
    counts: dict[str, int] = {}
    for v in record.implausible:
        counts[v.concept] = counts.get(v.concept, 0) + 1
        current = latest.get(v.concept)
        if current is None or (v.when or date.min) >= (current.when or date.min):
            latest[v.concept] = v
    out = [_finding(v, counts[v.concept]) for v in latest.values()]
    for concept, (_param, _unit, words) in MEASURES.items():
        # recorded on or after the latest readable value (the same day included: gmg/measures.py)
        latest = latest_usable(record, concept)
        u = record.unread_since(concept, latest.when if latest is not None else None)
        if u is not None:
            out.append(Finding(
                "data-gap.unreadable-value",
                f'Not used: {words} recorded as "{u.text}" on {u.when.isoformat()} is not a number; '  # type: ignore[union-attr]
                "record it again as a number.",
                evidence=(unread_evidence(u),), data={"kind": concept}))
    return tuple(out)


def _finding(v: ImplausibleValue, count: int) -> Finding:
    data: dict[str, Any] = {"value": v.value, "unit": v.unit, "date": v.when.isoformat() if v.when else None,
                            "reference": v.source, "low": v.low, "high": v.high, "age": v.age,
                            "count": count if count > 1 else None}
    if v.concept == "birth-date":
        if v.reason == "future":
            text = (f"Recorded birth date {v.value} is in the future: the age is unknown, so no "
                    "age-dependent rule or dose is applied. Check the entry.")
        else:
            text = (f"Recorded birth date {v.value} gives an age over the plausible maximum: the age "
                    "is unknown, so no age-dependent rule or dose is applied. Check the entry.")
        return Finding(GAP_CODE.format("birth-date"), text, "info", parameters=(v.parameter,),
                       data={"value": v.value, "reason": v.reason})
    words = MEASURES[v.concept][2]
    low, high = _num(v.low or 0.0), _num(v.high or 0.0)
    text = (f"Recorded {words} {v.value} {v.unit} ({v.when.isoformat() if v.when else 'undated'}) is outside "
            f"the plausible range for {_patient_words(v.age)} ({low}–{high} {v.unit}): not used for "
            f"{NOT_USED_FOR[v.concept]}. Check the entry.")
    return Finding(GAP_CODE.format(v.concept), text, "info", parameters=(v.parameter,), data=data)
