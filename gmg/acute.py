"""Crisis or exacerbation: the assessment is read as usual but to be confirmed after stabilisation.

Guideline statement (gmg-rules.md §2, §9, tag I): `acute.exacerbation` when a myasthenic crisis or
MG-with-exacerbation Condition has its onset or recorded date within `acute_window_days`, or an
MGFA class V observation lies within that window; a PIS of "E" alone does not count. The scores
are read as everywhere else; the card says the status is to be confirmed after stabilisation and
the acute options come first.
"""

from __future__ import annotations

from datetime import timedelta

from .findings import Evidence, Finding
from .parameters import Parameters
from .record import PatientRecord
from .vocabulary import display, members


def acute_exacerbation(record: PatientRecord, params: Parameters) -> Finding | None:
    window_start = record.today - timedelta(days=int(params["acute_window_days"]))
    evidence: list[Evidence] = []
    for c in record.conditions_of(*sorted(members("mg-acute"))):
        when = c.onset or c.recorded
        if when is None or not (window_start <= when <= record.today):
            continue
        if c.abatement is not None and c.abatement < record.today:
            continue
        evidence.append(Evidence(display(c.concept), "active", when, c.source))
    for a in record.mgfa_class:
        if a.code == "V" and window_start <= a.when <= record.today:
            evidence.append(Evidence("MGFA class", "V", a.when, a.source))
    if not evidence:
        return None
    return Finding(
        "acute.exacerbation",
        "Myasthenic crisis or exacerbation in the last "
        f"{params['acute_window_days']} days: stabilise first (rapid therapy); confirm the refractory "
        "status after stabilisation.",
        "critical",
        tuple(evidence),
        ("acute_window_days",),
    )
