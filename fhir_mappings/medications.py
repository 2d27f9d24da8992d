"""MedicationStatement, MedicationRequest, MedicationAdministration -> MedicationExposure.

- Ingredient (fhir_mappings/drugs.py): medicationCodeableConcept, or medicationReference to a
  contained or bundled Medication (its code, else its single recognised ingredient, else an
  RxNorm product name naming one ingredient). Product RxNorm codes map to the ingredient through
  terminology; site codes through the site's concept maps. Drugs the rules do not know are
  passed over on the dict; a reference that does not resolve is a data gap naming its display.
- Dose: dosage.doseAndRate.doseQuantity (or MedicationAdministration.dosage.dose) in a mass unit
  converted to mg by `terminology.units.convert`; a dose without a unit, or in a non-mass unit,
  is unknown (None) with a note. Amount per day = dose x timing.repeat frequency / period
  (or the number of timeOfDay / when entries, or a GTS timing code). mg/week = mg/day x 7.
  mg/kg/day uses the recorded weight nearest the exposure start.
- Dates: MedicationStatement.effective[x]; MedicationRequest
  dosageInstruction.timing.repeat.boundsPeriod (or boundsDuration), else
  dispenseRequest.validityPeriod, else authoredOn (start); MedicationAdministration.effective[x].
  Partial dates are read as their first day (noted). Epic and Oracle Health offer no
  MedicationStatement in R4: a history written as MedicationRequests (intent order, plan,
  original-order ...; status active, completed, stopped) gives the same exposures as the same
  history written as MedicationStatements (tests/test_history_requests.py, drug by drug).
- Status is kept as sent. Resources that are not exposures (entered-in-error, cancelled, draft,
  not-taken, not-done; requests with intent proposal/option) are left out with a note.
- A MedicationStatement and a MedicationRequest for the same ingredient with overlapping
  periods are one exposure: the one with the structured dose is kept (on a tie, the request),
  and the other is noted as a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Literal

from fhir.resources.R4B.medicationadministration import MedicationAdministration
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.medicationstatement import MedicationStatement

import terminology
from gmg.record import DatePrecision, MedicationExposure
from terminology import units

from .common import (
    MappingContext,
    add_days,
    as_dict,
    as_list,
    concept_of,
    number,
    parse_date,
    period_days,
    source_of,
    validate,
)
from .drugs import NOT_RECOGNISED, DrugMatch, drug_of, medication_of_resource, reference_display
from .observations import quantity_unit

Kind = Literal["statement", "request", "administration"]

_NOT_EXPOSURE = frozenset({"entered-in-error", "cancelled", "draft", "not-taken", "not-done"})
# A proposal or option is a suggestion (e.g. from decision support), not a prescription.
_NOT_EXPOSURE_INTENT = frozenset({"proposal", "option"})

# HL7 v3 GTSAbbreviation timing codes (Timing.code) -> administrations per day.
_GTS_PER_DAY: dict[str, float] = {
    "QD": 1, "AM": 1, "PM": 1, "QOD": 0.5, "BID": 2, "TID": 3, "QID": 4,
    "Q4H": 6, "Q6H": 4, "Q8H": 3, "Q12H": 2, "WK": 1 / 7,  # "WK" = weekly
}

_MODEL: dict[str, Any] = {
    "MedicationStatement": MedicationStatement,
    "MedicationRequest": MedicationRequest,
    "MedicationAdministration": MedicationAdministration,
}
_KIND: dict[str, Kind] = {
    "MedicationStatement": "statement",
    "MedicationRequest": "request",
    "MedicationAdministration": "administration",
}


# -- ingredient ------------------------------------------------------------------------------


def _medication_resource_concept(med: dict[str, Any]) -> terminology.Concept | None:
    return medication_of_resource(med).concept


def drug_of_resource(
    raw: dict[str, Any], ctx: MappingContext, source: str, *, note: bool = True
) -> DrugMatch:
    """The drug of a medication resource (dict): medicationCodeableConcept, or the Medication
    its medicationReference points to (contained, or in any prefetch bundle: fhir_mappings
    .prefetch indexes them, fetched ones included). A reference that does not resolve is a data
    gap naming the drug's display text (never silently dropped)."""
    mcc = raw.get("medicationCodeableConcept")
    if isinstance(mcc, dict):
        found = drug_of(mcc)
        if found.concept is None and note and not as_list(mcc.get("coding")):
            ctx.note(source, "medication given as text only (no code); not assessed")
        return found
    mref = raw.get("medicationReference")
    if isinstance(mref, dict):
        med = ctx.resolve(mref, raw)
        if med is None or med.get("resourceType") != "Medication":
            if note:
                name = reference_display(mref) or "medication without a name"
                ctx.unreadable("medication", name, _recorded_day(raw), source,
                               "medication reference does not resolve; not assessed")
            return NOT_RECOGNISED
        return medication_of_resource(med)
    if note:
        ctx.note(source, "no medication given; not assessed")
    return NOT_RECOGNISED


def ingredient_of(
    raw: dict[str, Any], ctx: MappingContext, source: str, *, note: bool = True
) -> terminology.Concept | None:
    """The medication concept of a medication resource (dict), or None (noted when unreadable)."""
    return drug_of_resource(raw, ctx, source, note=note).concept


def _recorded_day(raw: dict[str, Any]) -> date | None:
    """The date a medication resource is recorded for, read on the dict (for naming a gap)."""
    for value in (
        as_dict(raw.get("effectivePeriod")).get("start"), raw.get("effectiveDateTime"),
        raw.get("authoredOn"), raw.get("dateAsserted"),
    ):
        parsed = parse_date(value)
        if parsed is not None:
            return parsed[0]
    return None


def suspect_ingredient(ref: Any, container: dict[str, Any], ctx: MappingContext) -> terminology.Concept | None:
    """The drug an AdverseEvent suspectEntity.instance points to (by code, or by RxNorm name)."""
    target = ctx.resolve(ref, container)
    if target is None:
        return None
    rtype = target.get("resourceType")
    if rtype == "Medication":
        return _medication_resource_concept(target)
    if rtype in _MODEL:
        return ingredient_of(target, ctx, source_of(target, "suspect"), note=False)
    return None


# -- dose ------------------------------------------------------------------------------------


def _route(codeable: Any) -> str | None:
    found = concept_of(codeable, "routes")
    if found is None or not found.key.startswith("route-"):
        return None
    return found.key[len("route-"):]


def _per_day(timing: Any) -> float | None:
    """Administrations per day from a Timing model."""
    if timing is None:
        return None
    rep = timing.repeat
    if rep is not None:
        days = period_days(rep.period, rep.periodUnit)
        if days is not None and days > 0:
            freq = rep.frequency if isinstance(rep.frequency, int) and rep.frequency > 0 else 1
            return freq / days
        if rep.timeOfDay:
            return float(len(rep.timeOfDay))
        if rep.when:
            return float(len(rep.when))
    if timing.code is not None:
        for coding in timing.code.coding or ():
            if isinstance(coding.code, str) and coding.code.upper() in _GTS_PER_DAY:
                return float(_GTS_PER_DAY[coding.code.upper()])
    return None


def dose_in_mg(q: Any, source: str, ctx: MappingContext) -> float | None:
    """A dose Quantity model in mg; None (noted) without a unit or in a non-mass unit."""
    if q is None:
        return None
    value = number(q.value)
    if value is None:
        ctx.note(source, "dose without a numeric value; dose unknown")
        return None
    unit = quantity_unit(q)
    if unit is None:
        ctx.note(source, "dose without a unit; dose unknown")
        return None
    mg = units.convert(value, unit, "mg")
    if mg is None:
        ctx.note(source, "dose unit is not a mass unit convertible to mg; dose unknown")
    return mg


@dataclass(frozen=True)
class DoseReading:
    dose_mg: float | None = None
    mg_per_day: float | None = None
    route: str | None = None
    text: str | None = None


def read_dosages(dosages: list[Any], source: str, ctx: MappingContext) -> DoseReading:
    route = next((r for r in (_route(d.route) for d in dosages) if r), None)
    text = next((d.text.strip() for d in dosages if isinstance(d.text, str) and d.text.strip()), None)
    structured: list[tuple[Any, float, float | None]] = []  # (dosage, mg, mg/day)
    for d in dosages:
        for dr in d.doseAndRate or ():
            if dr.doseQuantity is None:
                if dr.doseRange is not None:
                    ctx.note(source, "dose given as a range; dose unknown")
                continue
            mg = dose_in_mg(dr.doseQuantity, source, ctx)
            if mg is None:
                continue
            per_day = _per_day(d.timing)
            structured.append((d, mg, mg * per_day if per_day is not None else None))
            break
    if not structured:
        return DoseReading(route=route, text=text)
    first = structured[0]
    if len(structured) > 1:
        sequences = {d.sequence for d, _, _ in structured}
        if len(sequences) == 1 and None not in sequences and all(p is not None for _, _, p in structured):
            total = sum(p for _, _, p in structured if p is not None)
            return DoseReading(dose_mg=first[1], mg_per_day=total, route=route, text=text)
        ctx.note(source, "several sequential dosage instructions; the first one was read")
    return DoseReading(dose_mg=first[1], mg_per_day=first[2], route=route, text=text)


# -- dates -----------------------------------------------------------------------------------


def _dates(res: Any, kind: Kind, source: str, ctx: MappingContext) -> tuple[date | None, date | None, DatePrecision]:
    start_v: Any = None
    end_v: Any = None
    duration_days: float | None = None
    if kind == "request":
        for d in res.dosageInstruction or ():
            rep = d.timing.repeat if d.timing is not None else None
            if rep is None:
                continue
            if rep.boundsPeriod is not None:
                start_v, end_v = rep.boundsPeriod.start, rep.boundsPeriod.end
            elif rep.boundsDuration is not None:
                duration_days = period_days(rep.boundsDuration.value, rep.boundsDuration.code or rep.boundsDuration.unit)
            if start_v is not None or end_v is not None or duration_days is not None:
                break
        # Epic and Oracle Health write a course's dates as the order's validity period when
        # the timing has no bounds (issue #14 point 7): read after the bounds, before authoredOn.
        validity = res.dispenseRequest.validityPeriod if res.dispenseRequest is not None else None
        if validity is not None:
            if start_v is None:
                start_v = validity.start
            if end_v is None and duration_days is None:
                end_v = validity.end
        if start_v is None:
            start_v = res.authoredOn
    else:
        if res.effectivePeriod is not None:
            start_v, end_v = res.effectivePeriod.start, res.effectivePeriod.end
        elif res.effectiveDateTime is not None:
            start_v = res.effectiveDateTime
            if kind == "administration":
                end_v = start_v
    start = ctx.date_of(start_v, source, "start date") if start_v is not None else None
    end = ctx.date_of(end_v, source, "end date") if end_v is not None else None
    if start is None:
        ctx.note(source, "medication without a start date")
    end_day = end[0] if end else None
    if end_day is None and duration_days is not None and start is not None:
        end_day = add_days(start[0], duration_days - 1)
    if start is not None and end_day is not None and end_day < start[0]:
        ctx.note(source, "end date before start date; end ignored")
        end_day = None
    return (start[0] if start else None), end_day, (start[1] if start else "day")


# -- entry point -----------------------------------------------------------------------------


# Recorded weights as (date, kg) oldest first, or a function giving the nearest weight to a day
# (build_record's on-demand reader when vital signs are selected, see selection.py).
Weights = list[tuple[date, float]] | Callable[[date | None], float | None]


def _nearest_weight(weights: Weights, day: date | None) -> float | None:
    if callable(weights):
        return weights(day)
    if day is None or not weights:
        return None
    return min(weights, key=lambda w: abs((w[0] - day).days))[1]


def _exposure(
    raw: dict[str, Any],
    concept: terminology.Concept,
    weights: Weights,
    ctx: MappingContext,
) -> MedicationExposure | None:
    rtype = raw["resourceType"]
    kind = _KIND[rtype]
    source = source_of(raw, f"prefetch:{rtype}")
    res = validate(_MODEL[rtype], raw, source, ctx)
    if res is None:
        return None
    if kind == "administration":
        dosage = res.dosage
        dose_mg = dose_in_mg(dosage.dose, source, ctx) if dosage is not None else None
        reading = DoseReading(
            dose_mg=dose_mg,
            route=_route(dosage.route) if dosage is not None else None,
            text=dosage.text.strip() if dosage is not None and isinstance(dosage.text, str) and dosage.text.strip() else None,
        )
    elif kind == "request":
        reading = read_dosages(list(res.dosageInstruction or ()), source, ctx)
    else:
        reading = read_dosages(list(res.dosage or ()), source, ctx)
    start, end, precision = _dates(res, kind, source, ctx)
    mg_per_day = reading.mg_per_day
    if kind == "administration" and reading.dose_mg is not None and start is not None and end == start:
        mg_per_day = reading.dose_mg  # one administration on one day
    weight = _nearest_weight(weights, start)
    return MedicationExposure(
        ingredient=concept.key,
        drug_classes=concept.classes,
        route=reading.route,
        kind=kind,
        status=res.status,
        start=start,
        end=end,
        dose_mg=reading.dose_mg,
        mg_per_day=mg_per_day,
        mg_per_week=mg_per_day * 7 if mg_per_day is not None else None,
        mg_per_kg_per_day=mg_per_day / weight if mg_per_day is not None and weight else None,
        weight_kg=weight if mg_per_day is not None else None,
        dose_text=reading.text if mg_per_day is None else None,
        source=source,
        date_precision=precision,
    )


def _structure_score(e: MedicationExposure) -> int:
    return 2 if e.mg_per_day is not None else 1 if e.dose_mg is not None else 0


def _overlap(a: MedicationExposure, b: MedicationExposure, today: date) -> bool:
    if a.start is None or b.start is None:
        return False
    a_end = a.end or max(today, a.start)
    b_end = b.end or max(today, b.start)
    return a.start <= b_end and b.start <= a_end


def drop_duplicates(exposures: list[MedicationExposure], ctx: MappingContext) -> list[MedicationExposure]:
    """One exposure per drug and period across MedicationStatement and MedicationRequest."""
    dropped: set[int] = set()
    statements = [i for i, e in enumerate(exposures) if e.kind == "statement"]
    requests = [i for i, e in enumerate(exposures) if e.kind == "request"]
    for si in statements:
        for ri in requests:
            if si in dropped or ri in dropped:
                continue
            s, r = exposures[si], exposures[ri]
            if s.ingredient != r.ingredient or not _overlap(s, r, ctx.today):
                continue
            loser, keeper = (si, r) if _structure_score(r) >= _structure_score(s) else (ri, s)
            dropped.add(loser)
            ctx.note(
                exposures[loser].source,
                f"duplicate of {keeper.source} (same drug, overlapping period); "
                "the one with the structured dose was kept",
            )
    return [e for i, e in enumerate(exposures) if i not in dropped]


def map_medications(
    raws: list[dict[str, Any]], weights: Weights, ctx: MappingContext
) -> list[MedicationExposure]:
    out: list[MedicationExposure] = []
    for raw in raws:
        source = source_of(raw, f"prefetch:{raw.get('resourceType')}")
        match = drug_of_resource(raw, ctx, source)
        concept = match.concept
        if concept is None:
            continue
        ctx.recognised_as(source, concept.key, match.how, match.shown_as)
        status = raw.get("status")
        if status in _NOT_EXPOSURE:
            ctx.note(source, f"medication status {status}; not an exposure, left out")
            continue
        if raw.get("resourceType") == "MedicationRequest" and raw.get("intent") in _NOT_EXPOSURE_INTENT:
            ctx.note(source, f"request intent {raw.get('intent')}; not an exposure, left out")
            continue
        exposure = _exposure(raw, concept, weights, ctx)
        if exposure is not None:
            out.append(exposure)
    return drop_duplicates(out, ctx)

