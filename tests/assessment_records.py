"""Builders for PatientRecords used by the assessment tests (records built directly, no FHIR)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import terminology
from gmg.record import (
    MG_ADL_ITEMS,
    AdverseDrugEvent,
    AntibodyResult,
    CodedAssessment,
    ConditionFact,
    Intolerance,
    Measurement,
    MedicationExposure,
    MgAdlScore,
    PatientRecord,
    RescueCourse,
)

TODAY = date(2026, 11, 22)


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)


def condition(concept: str = "mg-generalized", onset: date | None = date(2020, 5, 1), **kw) -> ConditionFact:
    base = dict(
        concept=concept,
        code=f"test|{concept}",
        onset=onset,
        recorded=None,
        abatement=None,
        clinical_status="active",
        verification_status="confirmed",
        source=f"Condition/{concept}",
    )
    base.update(kw)
    return ConditionFact(**base)


def adl(total: int, ocular: int | None = 0, when: date | None = None, source: str = "Observation/adl") -> MgAdlScore:
    """An MG-ADL total with `ocular` points on diplopia/ptosis, the rest spread over other items."""
    items = None
    if ocular is not None:
        items = {k: 0 for k in MG_ADL_ITEMS}
        items["mg-adl-diplopia"] = min(ocular, 3)
        items["mg-adl-ptosis"] = ocular - min(ocular, 3)
        rest = total - ocular
        for k in MG_ADL_ITEMS[:6]:
            step = min(rest, 3)
            items[k] = step
            rest -= step
    return MgAdlScore(total, items, when or days_ago(10), source)


def pis(code: str, when: date | None = None) -> CodedAssessment:
    return CodedAssessment("mgfa-pis", code, when or days_ago(10), f"Observation/pis-{code}")


def weight(kg: float = 70.0, when: date | None = None) -> Measurement:
    return Measurement("weight", kg, "kg", when or date(2025, 1, 1), "Observation/weight")


def trough(concept: str, value: float, when: date) -> Measurement:
    return Measurement(concept, value, "ng/mL", when, f"Observation/{concept}-{when}")


def classes_of(key: str) -> frozenset[str]:
    """A drug's classes from the terminology data (KeyError for a drug it does not know)."""
    return terminology.concept(key).classes


def exposure(
    ingredient: str,
    start: date,
    end: date | None = None,
    mg_per_day: float | None = None,
    mg_per_week: float | None = None,
    status: str = "active",
    route: str | None = "oral",
    kind: str = "statement",
    dose_mg: float | None = None,
    source: str | None = None,
) -> MedicationExposure:
    return MedicationExposure(
        ingredient=ingredient,
        drug_classes=classes_of(ingredient),
        route=route,
        kind=kind,  # type: ignore[arg-type]
        status=status,
        start=start,
        end=end,
        dose_mg=dose_mg,
        mg_per_day=mg_per_day,
        mg_per_week=mg_per_week,
        mg_per_kg_per_day=None,
        weight_kg=None,
        dose_text=None,
        source=source or f"MedicationStatement/{ingredient}-{start}",
    )


def antibody(target: str, result: str, assay: str = "cba", when: date = date(2021, 1, 1)) -> AntibodyResult:
    return AntibodyResult(target, assay, result, None, None, when, f"Observation/{target}-{assay}-{result}")


def rescue(modality: str, start: date, end: date | None = None) -> RescueCourse:
    return RescueCourse(modality, start, end or start + timedelta(days=4), (f"Procedure/{modality}-{start}",))


def adverse_event(ingredient: str, grade: int | None, when: date = date(2025, 6, 1)) -> AdverseDrugEvent:
    return AdverseDrugEvent(ingredient, grade, when, f"AdverseEvent/{ingredient}-{grade}")


def intolerance(ingredient: str, grade: int | None = None) -> Intolerance:
    return Intolerance(ingredient, "intolerance", grade, date(2025, 6, 2), "active", f"AllergyIntolerance/{ingredient}")


# A standard background: steroid 0.5 mg/kg/d (35 mg at 70 kg) and azathioprine 2 mg/kg/d for a year.
STEROID_OK = exposure("prednisone", date(2025, 1, 1), mg_per_day=35)
AZA_OK = exposure("azathioprine", date(2025, 1, 1), mg_per_day=140)


def gmg_record(**kw) -> PatientRecord:
    """A generalized-MG patient, severe (MG-ADL 8, no ocular points), adequately treated, PIS U."""
    base = dict(
        patient_id="p1",
        today=TODAY,
        birth_date=date(1980, 1, 1),
        sex="female",
        conditions=(condition(),),
        mg_adl=(adl(8),),
        pis=(pis("U"),),
        measurements=(weight(),),
        exposures=(STEROID_OK, AZA_OK),
        antibodies=(antibody("achr-binding", "positive", "ripa"),),
    )
    base.update(kw)
    return PatientRecord(**base)


def with_(record: PatientRecord, **kw) -> PatientRecord:
    return replace(record, **kw)
