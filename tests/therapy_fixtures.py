"""Shared builders for the therapy, rapid and trial tests (records from gmg/record.py dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

import terminology
from gmg.record import (
    AdverseDrugEvent,
    ConditionFact,
    ImmunizationFact,
    Intolerance,
    Measurement,
    MedicationExposure,
    PatientRecord,
    ProcedureFact,
)

TODAY = date(2026, 11, 22)


@dataclass(frozen=True)
class FakeAssessment:
    mg_status: str = "generalized"
    cn_status: str | None = "met"
    serotype: str = "achr"
    acute: bool = False
    adequately_tried: frozenset[str] = field(default_factory=frozenset)
    intolerant_of: frozenset[str] = field(default_factory=frozenset)
    icg2016_met: bool = False
    criteria_fired: tuple[str, ...] = ("3-1",)


def m(concept, value, unit, when=date(2026, 11, 1), interpretation=None, ref_high=None):
    return Measurement(concept, value, unit, when, f"Observation/{concept}", interpretation=interpretation,
                       reference_high=ref_high)


def cond(concept, onset=date(2023, 1, 1), status="active"):
    return ConditionFact(concept, f"x|{concept}", onset, onset, None, status, "confirmed", f"Condition/{concept}")


def exposure(ingredient, start=date(2026, 1, 1), end=None, status="active", route="oral", mg_per_day=None):
    """A medication statement; its classes come from the terminology data (not a copy)."""
    return MedicationExposure(
        ingredient=ingredient, drug_classes=terminology.concept(ingredient).classes, route=route, kind="statement",
        status=status,
        start=start, end=end, dose_mg=None, mg_per_day=mg_per_day, mg_per_week=None, mg_per_kg_per_day=None,
        weight_kg=None, dose_text=None, source=f"MedicationStatement/{ingredient}",
    )


def vaccine(concept, when):
    return ImmunizationFact(concept, None, when, "completed", f"Immunization/{concept}")


def record(**kw) -> PatientRecord:
    base = PatientRecord(
        patient_id="pt1",
        today=TODAY,
        birth_date=date(1980, 5, 1),
        sex="female",
        conditions=(cond("mg-generalized", date(2019, 1, 1)),),
        measurements=(m("weight", 72.0, "kg"), m("height", 170.0, "cm"), m("haematocrit", 40.0, "%", date(2026, 11, 20))),
    )
    return replace(base, **kw)


__all__ = ["FakeAssessment", "record", "m", "cond", "exposure", "vaccine", "TODAY", "AdverseDrugEvent",
           "Intolerance", "ProcedureFact", "ImmunizationFact"]
