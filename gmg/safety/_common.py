"""Small readers the order-safety checks share (no rule of their own lives here).

- who the checks are for (a patient with myasthenia gravis: gmg-rules.md §9 criterion 1 and the
  service description: "for a patient with MG");
- what the patient is on (record exposures, minus those that are the drafts themselves, so a
  re-signed order is not its own context);
- lab values in the unit a threshold is written in (UCUM via terminology.units, with a small
  mass/molar fallback for the few units these checks compare);
- building a finding whose `data["orders"]` names the drafts it concerns.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Iterable

import terminology
from terminology import units

from ..findings import Evidence, Finding, Indicator
from ..orders import DraftOrder
from ..parameters import Parameters
from ..record import ConditionFact, Measurement, MedicationExposure, PatientRecord

def members(group: str) -> frozenset[str]:
    """Concept keys in a terminology class (the data files are the only authority)."""
    return terminology.members(group)


def is_mg_patient(record: PatientRecord) -> bool:
    """An active MG condition (generalised or ocular). The service is for MG patients only
    (gmg-rules.md §9: "a patient with no MG condition gets no card at all"); ocular MG is still MG,
    so drugs that worsen MG, C5/FcRn safety and the rest matter for it as much."""
    keys = members("mg") | members("mg-ocular")
    return bool(record.conditions_of(*keys))


def active_conditions(record: PatientRecord, group: str) -> tuple[ConditionFact, ...]:
    return record.conditions_of(*members(group))


# -- medication context ----------------------------------------------------------------------


def context_exposures(record: PatientRecord, orders: Iterable[DraftOrder]) -> tuple[MedicationExposure, ...]:
    """Record exposures that are not one of the drafts (a re-signed draft is not its own context)."""
    draft_ids = {o.resource_id for o in orders}
    return tuple(e for e in record.exposures if e.source not in draft_ids)


def exposure_is(e: MedicationExposure, *keys_or_classes: str) -> bool:
    return any(k == e.ingredient or k in e.drug_classes for k in keys_or_classes)


def last_dose_date(e: MedicationExposure, today: date) -> date | None:
    """When the last dose of this exposure was (or may have been) given, as far as the chart says.

    An administration: its end, else its start. A course that ended before today: its end. A
    course still running (no end, or an end from today on): today, since doses may be given up to
    now. A course marked completed/stopped without an end date: its start (all that is known)."""
    if e.status in ("entered-in-error", "cancelled", "not-taken", "draft"):
        return None
    if e.kind == "administration":
        return e.end or e.start
    if e.start is None or e.start > today:
        return None
    if e.end is not None and e.end < today:
        return e.end
    if e.end is None and e.status in ("completed", "stopped"):
        return e.start
    return today


def is_on(e: MedicationExposure, day: date, recent_days: int) -> bool:
    """Active on `day`, or a dose within `recent_days` before it (long-interval biologics)."""
    if e.active_on(day):
        return True
    last = last_dose_date(e, day)
    return last is not None and last <= day and (day - last).days <= recent_days


# -- lab values ------------------------------------------------------------------------------

def _molar_mass(concept: str) -> float | None:
    try:
        mm = terminology.concept(concept).attribute("molar_mass_g_per_mol")
    except Exception:
        return None
    return float(mm) if isinstance(mm, (int, float)) else None


def value_in(m: Measurement, unit: str) -> float | None:
    """The numeric value of a measurement in `unit` (UCUM, mass<->molar by the concept's molar
    mass); None when it has no value or its unit cannot be converted (never guessed). A censored
    value ("< 5") is read at its bound. A converted value is rounded to 2 decimals, the precision
    labs report in, so 132.6 µmol/L creatinine compares as the 1.50 mg/dL it is."""
    if m.value is None:
        return None
    if m.unit == unit:
        return float(m.value)
    try:
        converted = units.convert(m.value, m.unit, unit, _molar_mass(m.concept))
    except Exception:
        return None
    return None if converted is None else round(converted, 2)


def latest_value(
    record: PatientRecord, concept: str, unit: str, *, since: date | None = None
) -> tuple[Measurement, float] | None:
    """The most recent measurement of a concept readable in `unit` (optionally not before `since`)."""
    best: tuple[Measurement, float] | None = None
    for m in record.measurements_of(concept):
        if m.when > record.today or (since is not None and m.when < since):
            continue
        v = value_in(m, unit)
        if v is None:
            continue
        if best is None or m.when >= best[0].when:
            best = (m, v)
    return best


def latest_result(record: PatientRecord, concept: str, *, since: date | None = None) -> Measurement | None:
    """The most recent result of a concept (qualitative or numeric), not after today."""
    best: Measurement | None = None
    for m in record.measurements_of(concept):
        if m.when > record.today or (since is not None and m.when < since):
            continue
        if best is None or m.when >= best.when:
            best = m
    return best


def fmt(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".")


# -- findings --------------------------------------------------------------------------------


def draft_evidence(o: DraftOrder) -> Evidence:
    start = f"planned start {o.planned_start.isoformat()}"
    if o.start_note:
        start += f" ({o.start_note})"
    if o.planned_start_from == "today":
        start += " (not given: assumed today)"
    return Evidence(label=f"Draft order: {o.name}", value=start, when=o.planned_start, source=o.resource_id)


def make_finding(
    code: str,
    indicator: Indicator,
    text: str,
    orders: Iterable[DraftOrder],
    *,
    evidence: Iterable[Evidence] = (),
    parameters: Iterable[str] = (),
    context_orders: Iterable[DraftOrder] = (),
    **data: Any,
) -> Finding:
    """A finding naming the drafts it concerns (`orders`: the ordered drugs/procedures the check is
    about; `context_orders`: co-ordered drafts that take part, e.g. the inducer next to tacrolimus)."""
    concerned = list(dict.fromkeys(o.resource_id for o in (*orders, *context_orders)))
    ev = [draft_evidence(o) for o in orders] + [draft_evidence(o) for o in context_orders] + list(evidence)
    payload: dict[str, Any] = {"orders": concerned}
    parties = [o.resource_id for o in context_orders if o.resource_id not in {x.resource_id for x in orders}]
    if parties:
        payload["co_ordered"] = list(dict.fromkeys(parties))
    for k, v in data.items():
        if isinstance(v, date):
            payload[k] = v.isoformat()
        elif v is not None:
            payload[k] = v
    return Finding(
        code=code,
        text=text,
        indicator=indicator,
        evidence=tuple(dict.fromkeys(ev)),
        parameters=tuple(dict.fromkeys(parameters)),
        data=payload,
    )


@dataclass(frozen=True)
class CheckInput:
    """What every check reads: the record, all drafts (selected or not), the serotype, parameters."""

    record: PatientRecord
    orders: tuple[DraftOrder, ...]
    serotype: str
    params: Parameters

    @property
    def today(self) -> date:
        return self.record.today

    def drafts(self, *keys_or_classes: str) -> tuple[DraftOrder, ...]:
        return tuple(o for o in self.orders if o.is_(*keys_or_classes))

    @property
    def exposures(self) -> tuple[MedicationExposure, ...]:
        return context_exposures(self.record, self.orders)
