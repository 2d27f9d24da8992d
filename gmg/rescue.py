"""Criterion 3-4 of the Chinese consensus: repeated need for fast-acting therapy.

Guideline statement (CN consensus, criterion 3-4, tag D-hi for the modalities): "repeated need for
fast-acting treatment - IVIG, plasma exchange and/or intravenous high-dose methylprednisolone
(IVMP) - to control MG symptoms despite conventional therapy"; the only number legible is "14 d".
Project reading (gmg-rules.md §2, §9): at least `rescue_courses_min` courses (D-lo) in the last
`rescue_window_days` (D-lo); days no more than `rescue_gap_days` (D-hi) apart form one course -
across modalities too (PLEX followed by IVIG within 14 days is one episode, tag I); IVMP counts at
>= `ivmp_min_mg_per_day` (D-hi); a course counts when it started on or after the start of
conventional immunotherapy. If procedures or administrations could not be retrieved and the count
is short, the criterion is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from .exposure import effective_end, was_taken
from .findings import Evidence, Finding
from .parameters import Parameters
from .record import PatientRecord, RescueCourse

RESCUE_KEYS = ("procedures", "medicationAdministrations")
PARAMETERS = ("rescue_courses_min", "rescue_window_days", "rescue_gap_days", "ivmp_min_mg_per_day")


@dataclass(frozen=True)
class RescueAssessment:
    met: bool | None
    counted: tuple[RescueCourse, ...]  # the courses (episodes) that counted
    all_courses: tuple[RescueCourse, ...]
    gaps: tuple[Finding, ...]
    parameters: tuple[str, ...] = PARAMETERS


def ivmp_courses(record: PatientRecord, params: Parameters, known_sources: set[str]) -> list[RescueCourse]:
    """IV methylprednisolone pulses from exposures not already read as rescue courses."""
    out: list[RescueCourse] = []
    for e in record.exposures:
        if e.ingredient != "methylprednisolone" or e.route != "iv" or e.source in known_sources:
            continue
        if not was_taken(e, record.today) or e.start is None:
            continue
        per_day = e.mg_per_day if e.mg_per_day is not None else (e.dose_mg if e.kind == "administration" else None)
        if per_day is None or per_day < params["ivmp_min_mg_per_day"]:
            continue
        out.append(RescueCourse("ivmp", e.start, effective_end(e, record.today) or e.start, (e.source,)))
    return out


def rescue_episodes(courses: list[RescueCourse], gap_days: int) -> list[RescueCourse]:
    """Merge courses (any modality) no more than gap_days apart into episodes, oldest first."""
    episodes: list[RescueCourse] = []
    for c in sorted(courses, key=lambda c: (c.start, c.end)):
        if episodes and c.start <= episodes[-1].end + timedelta(days=gap_days):
            last = episodes[-1]
            modality = last.modality if c.modality in last.modality.split("+") else f"{last.modality}+{c.modality}"
            episodes[-1] = RescueCourse(modality, last.start, max(last.end, c.end), last.sources + c.sources)
        else:
            episodes.append(c)
    return episodes


def criterion_3_4(record: PatientRecord, params: Parameters, conventional_start: date | None) -> RescueAssessment:
    known = {s for c in record.rescue_courses for s in c.sources}
    courses = list(record.rescue_courses) + ivmp_courses(record, params, known)
    episodes = rescue_episodes(courses, int(params["rescue_gap_days"]))
    window_start = record.today - timedelta(days=int(params["rescue_window_days"]))
    counted = tuple(
        ep
        for ep in episodes
        if window_start <= ep.start <= record.today
        and conventional_start is not None
        and ep.start >= conventional_start
    )
    if len(counted) >= int(params["rescue_courses_min"]):
        return RescueAssessment(True, counted, tuple(episodes), ())
    gaps = [
        Finding(
            f"data-gap.unavailable.{key}",
            f"{key} could not be retrieved: rescue courses (3-4) may be missing.",
            data={"dataKind": key},
        )
        for key in RESCUE_KEYS
        if key in record.unavailable
    ]
    return RescueAssessment(None if gaps else False, counted, tuple(episodes), tuple(gaps))


def course_evidence(c: RescueCourse) -> Evidence:
    return Evidence("rescue course", f"{c.modality.upper()} {c.start} to {c.end}", c.start, c.sources[0] if c.sources else None)
