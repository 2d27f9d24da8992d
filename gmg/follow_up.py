"""Follow-up after rituximab: B cells and IgG every 3-6 months, and when to consider redosing.

Guideline statements implemented (background/clinical-sources-2.md §1.1, §2; gmg-rules.md §5):
- CN consensus §1.8: monitor B cells "每3~6个月" (every 3-6 months; the month glyph is anchored,
  D-mid) and redose "每6个月" (about every 6 months, D-mid); the consensus and the Yale study
  monitor CD19+ B cells and immunoglobulins (IgG/IgM/IgA) every 3-6 months.
- Chinese practice: rituximab is given again when CD20+ B cells exceed 1% (a low-dose cohort,
  clinical-sources-2.md S13; K, not consensus text).

When: rituximab was given (a dose on record) within `rituximab_follow_up_window_days` (I).
Then: `follow-up.rituximab` with the dates of the last dose, of the last B-cell count (CD19,
absolute or percent: the LOINC codes the terminology has verified; no CD20 code is verified, so a
CD20 count is not read) and of the last IgG; when the next check is due (3-6 months after the last
count since the dose, else after the dose) - a warning once it is overdue, with the tests to
order; and from when redosing may be considered. Nothing is concluded from a missing count: the
card says it is missing.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from .exposure import effective_end, was_taken
from .findings import Evidence, Finding
from .parameters import Parameters
from .record import Measurement, PatientRecord

B_CELL_COUNTS = ("cd19-b-cells", "cd19-b-cells-percent")
PARAMETERS = ("rituximab_follow_up_window_days", "rituximab_bcell_monitor_months", "rituximab_redose_months",
              "rituximab_redose_cd20_pct")


def add_months(day: date, months: int) -> date:
    """The same day `months` later (the month's last day when it has no such day)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class LastDose:
    when: date
    source: str


def last_rituximab_dose(record: PatientRecord) -> LastDose | None:
    """The latest day rituximab was given, as far as the chart says (an infusion's date, else the
    end of a course, else its start)."""
    best: LastDose | None = None
    for e in record.exposures:
        if e.ingredient != "rituximab" or not was_taken(e, record.today):
            continue
        end = effective_end(e, record.today)
        when = end if end is not None and (e.kind == "administration" or e.end is not None) else e.start
        if when is not None and (best is None or when > best.when):
            best = LastDose(when, e.source)
    return best


def _latest(record: PatientRecord, concepts: tuple[str, ...]) -> Measurement | None:
    found = [m for c in concepts for m in record.measurements_of(c) if m.when <= record.today]
    return max(found, key=lambda m: m.when) if found else None


def _value(m: Measurement) -> str:
    if m.value is None:
        return m.interpretation or "result"
    return f"{m.value:g} {m.unit or ''}".strip()


def rituximab_follow_up(record: PatientRecord, params: Parameters) -> Finding | None:
    """The follow-up reminder for a patient given rituximab recently (None otherwise)."""
    last = last_rituximab_dose(record)
    if last is None or (record.today - last.when).days > int(params["rituximab_follow_up_window_days"]):
        return None
    lo, hi = (int(x) for x in params["rituximab_bcell_monitor_months"])
    redose_months = int(params["rituximab_redose_months"])
    cd20_pct = float(params["rituximab_redose_cd20_pct"])
    count = _latest(record, B_CELL_COUNTS)
    igg = _latest(record, ("igg",))
    count_since_dose = count if count is not None and count.when >= last.when else None
    checked = count_since_dose.when if count_since_dose else last.when
    due_from, due_by = add_months(checked, lo), add_months(checked, hi)
    overdue = record.today > due_by
    redose_from = add_months(last.when, redose_months)
    evidence = [Evidence("last rituximab dose", last.when.isoformat(), last.when, last.source)]
    if count is not None:
        evidence.append(Evidence("B-cell count", _value(count), count.when, count.source))
    if igg is not None:
        evidence.append(Evidence("IgG", _value(igg), igg.when, igg.source))
    state = f"overdue since {due_by.isoformat()}" if overdue else f"due {due_from.isoformat()} to {due_by.isoformat()}"
    text = (f"Rituximab last given {last.when.isoformat()}: B cells (CD19/CD20) and IgG every {lo}-{hi} months, next "
            f"check {state}; consider redosing from about {redose_months} months after the last dose "
            f"({redose_from.isoformat()}) when B cells return (Chinese practice: CD20+ B cells > {cd20_pct:g}%, K).")
    return Finding(
        "follow-up.rituximab",
        text,
        "warning" if overdue else "info",
        tuple(evidence),
        PARAMETERS,
        {
            "lastDose": last.when.isoformat(),
            "lastBCellCount": ({"concept": count.concept, "value": _value(count), "date": count.when.isoformat()}
                               if count else None),
            "bCellCountSinceDose": count_since_dose is not None,
            "lastIgG": {"value": _value(igg), "date": igg.when.isoformat()} if igg else None,
            "monitorMonths": [lo, hi],
            "checkDueFrom": due_from.isoformat(),
            "checkDueBy": due_by.isoformat(),
            "overdue": overdue,
            "redoseFrom": redose_from.isoformat(),
            "redoseMonths": redose_months,
            "redoseCd20Percent": cd20_pct,
            # from the opening of the check window on, the tests to order
            "orders": [{"kind": "lab", "concept": c} for c in ("cd19-b-cells", "igg")] if record.today >= due_from else [],
        },
    )
