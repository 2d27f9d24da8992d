"""IV methylprednisolone pulses: transient early worsening.

Guideline (gmg-rules.md §6; background/clinical-research.md §1.9 IVMP and recommendation (6)):
- "Methylprednisolone 1000 mg or 500 mg IV daily for 3-5 d" [D-hi]; "IVMP: watch for transient
  worsening; use where monitoring and respiratory support are available" [D-lo]; combine with or
  precede by IVIG/PLEX.

When / Then
- methylprednisolone ordered IV (or with no route, at a pulse dose) at >= 500 mg/day (the daily
  amount from dose x frequency; a single dose >= 500 mg counts, being at least that much that day)
    -> safety.ivmp.transient-worsening (warning).
- a dose that cannot be read is not guessed: the draft carries the reason and the card layer says
  the check could not be made.
"""

from __future__ import annotations

from ..findings import Finding
from ._common import CheckInput, fmt, make_finding


def check(ci: CheckInput) -> list[Finding]:
    limit = float(ci.params["ivmp_caution_mg_per_day"])
    pulses = []
    for o in ci.drafts("methylprednisolone"):
        if o.route not in (None, "iv"):
            continue
        per_day = o.mg_per_day if o.mg_per_day is not None else o.dose_mg
        if per_day is not None and per_day >= limit:
            pulses.append((o, per_day))
    if not pulses:
        return []
    text = (
        "High-dose IV methylprednisolone ("
        + ", ".join(f"{fmt(mg)} mg/day" for _, mg in pulses)
        + ") can cause transient early worsening of MG: give it where breathing can be monitored"
        " and supported, and consider IVIG or PLEX first or alongside."
    )
    return [
        make_finding(
            "safety.ivmp.transient-worsening",
            "warning",
            text,
            [o for o, _ in pulses],
            parameters=("ivmp_caution_mg_per_day",),
            mg_per_day=[mg for _, mg in pulses],
        )
    ]
