"""Rescue (fast-acting) therapy days -> courses, as gmg-rules.md §1 reads them.

Modalities and where their days come from:
- ivig: immune globulin IV given (MedicationAdministration; MedicationStatement or
  MedicationRequest with a given-status) and IVIG-infusion procedures (SNOMED 698802001);
  an immune globulin exposure recorded with a subcutaneous or oral route is not IVIG.
- plex, immunoadsorption, lpe: procedures whose concept is in the class "rescue-procedure".
- ivmp: IV methylprednisolone at >= `ivmp_min_mg_per_day` mg on a day (administrations on the
  same day are summed; statements and requests use their mg/day). The route must be recorded
  as IV: a high methylprednisolone dose without a route is not counted, and is noted.
Days of one modality no more than `rescue_gap_days` apart form one course (D-hi, 14 days).
Only days up to the evaluation date count (a planned infusion is not a rescue course).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from gmg.record import MedicationExposure, ProcedureFact, RescueCourse

from .common import MappingContext

_GIVEN_STATUS = frozenset({"completed", "in-progress", "stopped", "active"})
_PROCEDURE_MODALITY = {
    "plex": "plex",
    "immunoadsorption": "immunoadsorption",
    "lpe": "lpe",
    "ivig-infusion": "ivig",
}
_NOT_IV = frozenset({"sc", "oral"})


def _days(start: date, end: date | None, today: date) -> list[date]:
    last = min(end or start, today)
    if last < start:
        return [start] if start <= today else []
    return [start + timedelta(days=i) for i in range((last - start).days + 1)]


def rescue_courses(
    exposures: list[MedicationExposure],
    procedures: list[ProcedureFact],
    ctx: MappingContext,
    *,
    rescue_gap_days: int,
    ivmp_min_mg_per_day: float,
) -> list[RescueCourse]:
    days: dict[str, dict[date, set[str]]] = defaultdict(lambda: defaultdict(set))
    today = ctx.today

    for p in procedures:
        modality = _PROCEDURE_MODALITY.get(p.concept)
        if modality is None or p.start is None or p.status not in _GIVEN_STATUS:
            continue
        for d in _days(p.start, p.end, today):
            days[modality][d].add(p.source)

    ivmp_by_day: dict[date, float] = defaultdict(float)
    ivmp_sources: dict[date, set[str]] = defaultdict(set)
    for e in exposures:
        if e.start is None or e.status not in _GIVEN_STATUS:
            continue
        if e.ingredient == "ivig":
            if e.route in _NOT_IV:
                continue
            for d in _days(e.start, e.end, today):
                days["ivig"][d].add(e.source)
        elif e.ingredient == "methylprednisolone":
            if e.kind == "administration":
                if e.dose_mg is None:
                    continue
                amount = e.dose_mg
            else:
                if e.mg_per_day is None:
                    continue
                amount = e.mg_per_day
            if e.route != "iv":
                if amount >= ivmp_min_mg_per_day:
                    ctx.note(e.source, "high-dose methylprednisolone without an IV route; not counted as IVMP")
                continue
            span = [e.start] if e.kind == "administration" else _days(e.start, e.end, today)
            for d in span:
                if d > today:
                    continue
                ivmp_by_day[d] += amount
                ivmp_sources[d].add(e.source)
    for d, amount in ivmp_by_day.items():
        if amount >= ivmp_min_mg_per_day:
            days["ivmp"][d] |= ivmp_sources[d]

    courses: list[RescueCourse] = []
    for modality, by_day in days.items():
        ordered = sorted(by_day)
        start = prev = ordered[0]
        sources: dict[str, None] = dict.fromkeys(sorted(by_day[start]))
        for d in ordered[1:]:
            if (d - prev).days > rescue_gap_days:
                courses.append(RescueCourse(modality, start, prev, tuple(sources)))
                start, sources = d, {}
            sources.update(dict.fromkeys(sorted(by_day[d])))
            prev = d
        courses.append(RescueCourse(modality, start, prev, tuple(sources)))
    courses.sort(key=lambda c: (c.start, c.modality))
    return courses
