"""Builders for the order-safety tests: records and draft orders from the gmg dataclasses."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import terminology
from gmg.findings import Finding
from gmg.orders import DraftOrder
from gmg.parameters import load
from gmg.record import (
    ConditionFact,
    ImmunizationFact,
    Measurement,
    MedicationExposure,
    PatientRecord,
    PregnancyStatus,
)
from gmg.safety import check_orders

TODAY = date(2026, 11, 22)
PARAMS = load()

def classes_of(key: str) -> frozenset[str]:
    """A concept's classes as the terminology data has them (KeyError for a key it lacks: a test
    that names a drug the service cannot recognise fails here, not silently)."""
    return terminology.concept(key).classes

_KIND = {"plex": "procedure", "immunoadsorption": "procedure", "menacwy": "vaccine", "menb": "vaccine"}


def draft(
    concept: str,
    rid: str | None = None,
    *,
    start: date = TODAY,
    selected: bool = True,
    route: str | None = None,
    dose_mg: float | None = None,
    mg_per_day: float | None = None,
    **kw: Any,
) -> DraftOrder:
    kind = _KIND.get(concept, "medication")
    rtype = "ServiceRequest" if kind == "procedure" else "MedicationRequest"
    return DraftOrder(
        resource_id=f"{rtype}/{rid or concept}",
        resource_type=rtype,
        kind=kind,  # type: ignore[arg-type]
        concept=concept,
        drug_classes=classes_of(concept),
        route=route,
        dose_mg=dose_mg,
        mg_per_day=mg_per_day,
        planned_start=start,
        planned_start_from="boundsPeriod",
        selected=selected,
        **kw,
    )


def mg_condition(concept: str = "mg-generalized", source: str = "Condition/mg") -> ConditionFact:
    return ConditionFact(concept, "http://snomed.info/sct|230686005", date(2020, 1, 1), None, None, "active", "confirmed", source)


def condition(concept: str, source: str | None = None, status: str = "active") -> ConditionFact:
    return ConditionFact(concept, f"x|{concept}", date(2026, 11, 1), None, None, status, "confirmed", source or f"Condition/{concept}")


def lab(concept: str, value: float | None, unit: str | None, when: date, interpretation: str | None = None, source: str | None = None) -> Measurement:
    return Measurement(concept, value, unit, when, source or f"Observation/{concept}-{when.isoformat()}", interpretation)


def vaccine(concept: str, when: date | None, status: str = "completed") -> ImmunizationFact:
    return ImmunizationFact(concept, None, when, status, f"Immunization/{concept}-{when}")


def exposure(
    ingredient: str,
    start: date,
    end: date | None = None,
    *,
    kind: str = "request",
    status: str = "active",
    dose_mg: float | None = None,
    source: str | None = None,
) -> MedicationExposure:
    return MedicationExposure(
        ingredient=ingredient,
        drug_classes=classes_of(ingredient),
        route=None,
        kind=kind,  # type: ignore[arg-type]
        status=status,
        start=start,
        end=end,
        dose_mg=dose_mg,
        mg_per_day=None,
        mg_per_week=None,
        mg_per_kg_per_day=None,
        weight_kg=None,
        dose_text=None,
        source=source or f"MedicationAdministration/{ingredient}-{start.isoformat()}",
    )


def record(**kw: Any) -> PatientRecord:
    """An adult MG patient (born 1980) with nothing else on record, unless given."""
    base: dict[str, Any] = {
        "patient_id": "p1",
        "today": TODAY,
        "birth_date": date(1980, 5, 1),
        "sex": "female",
        "conditions": (mg_condition(),),
    }
    base.update(kw)
    return PatientRecord(**base)


def pregnant(rec: PatientRecord) -> PatientRecord:
    return replace(rec, pregnancy=PregnancyStatus("pregnant", TODAY - timedelta(days=20), "Observation/preg"))


def run(rec: PatientRecord, *orders: DraftOrder, serotype: str = "achr") -> tuple[Finding, ...]:
    return check_orders(rec, orders, serotype, PARAMS)


def codes(findings: tuple[Finding, ...] | list[Finding]) -> set[str]:
    return {f.code for f in findings}


def one(findings: tuple[Finding, ...] | list[Finding], code: str) -> Finding:
    hits = [f for f in findings if f.code == code]
    assert len(hits) == 1, f"expected one {code}, got {[f.code for f in findings]}"
    return hits[0]


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)
