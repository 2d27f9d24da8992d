"""Reading medication exposures as courses: the small shared vocabulary of the adequacy rules.

Project reading (gmg-rules.md §1, §2, tag I): a period of a drug runs from its start to its end;
an active statement or request without an end runs to today; a single administration is one day;
a completed or stopped period without an end has an unknown length (never guessed). Periods of
one drug no more than `exposure_merge_gap_days` apart form one continuous course. Doses per kg use
the weight nearest the start of the exposure, and none when a weight as near could not be read or
is implausible (gmg/measures.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from .measures import SetAside, nearest_measure
from .record import MedicationExposure, PatientRecord

NOT_TAKEN = frozenset({"entered-in-error", "cancelled", "not-taken", "draft", "revoked"})
ONGOING = frozenset({"active", "on-hold", "intended"})


@dataclass(frozen=True)
class Course:
    """A continuous stretch of one drug (or drug group) meeting a condition such as its dose."""

    start: date
    end: date  # not after today
    ongoing: bool  # still running today
    sources: tuple[str, ...]

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def weeks(self) -> float:
        return self.days / 7


def was_taken(e: MedicationExposure, today: date) -> bool:
    """Counts as exposure: not cancelled/refuted, dated, and started by today."""
    return e.status not in NOT_TAKEN and e.start is not None and e.start <= today


def effective_end(e: MedicationExposure, today: date) -> date | None:
    """The last day of exposure, or None when the chart does not say (never guessed)."""
    if e.end is not None:
        return min(e.end, today)
    if e.kind == "administration":
        return e.start
    if e.status in ONGOING:
        return today
    return None


def is_active_on(e: MedicationExposure, day: date, today: date) -> bool:
    if not was_taken(e, today) or e.start is None or e.start > day:
        return False
    end = effective_end(e, today)
    return end is not None and end >= day


def overlaps(e: MedicationExposure, start: date, end: date, today: date) -> bool:
    if not was_taken(e, today) or e.start is None:
        return False
    e_end = effective_end(e, today) or e.start
    return e.start <= end and e_end >= start


def daily_mg(e: MedicationExposure) -> float | None:
    if e.mg_per_day is not None:
        return e.mg_per_day
    if e.mg_per_week is not None:
        return e.mg_per_week / 7
    return None


def weekly_mg(e: MedicationExposure) -> float | None:
    if e.mg_per_week is not None:
        return e.mg_per_week
    if e.mg_per_day is not None:
        return e.mg_per_day * 7
    return None


@dataclass(frozen=True)
class WeightForExposure:
    """The weight (kg) a dose per kg of one exposure is computed from, or the value set aside that
    keeps it unknown (gmg/measures.py): both None when no weight was recorded."""

    kg: float | None
    set_aside: SetAside | None = None


def weight_for(e: MedicationExposure, record: PatientRecord) -> WeightForExposure:
    """The weight nearest the start of the exposure (gmg/measures.py `nearest_measure`): unknown
    when a weight recorded as near or nearer could not be read or was set aside as implausible,
    even when the mapping computed a dose per kg from a farther one (`e.weight_kg`)."""
    if e.start is None:
        return WeightForExposure(e.weight_kg or None)
    reading = nearest_measure(record, "weight", e.start)
    if reading.set_aside is not None:
        return WeightForExposure(None, reading.set_aside)
    if e.weight_kg:
        return WeightForExposure(e.weight_kg)
    w = reading.measurement
    return WeightForExposure(w.value if w is not None and w.value and w.value > 0 else None)


def merge_courses(
    spans: list[tuple[date, date, str]], gap_days: int, today: date
) -> list[Course]:
    """Merge (start, end, source) spans no more than gap_days apart into courses, oldest first."""
    courses: list[Course] = []
    for start, end, source in sorted(spans):
        if courses and start <= courses[-1].end + timedelta(days=gap_days):
            last = courses[-1]
            new_end = max(last.end, end)
            courses[-1] = Course(last.start, new_end, new_end >= today, last.sources + (source,))
        else:
            courses.append(Course(start, end, end >= today, (source,)))
    return courses
