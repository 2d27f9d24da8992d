"""IV methylprednisolone pulses: transient early worsening.

Guideline (gmg-rules.md §6; background/clinical-research.md §1.9 IVMP and recommendation (6)):
- "Methylprednisolone 1000 mg or 500 mg IV daily for 3-5 d" [D-hi]; "IVMP: watch for transient
  worsening; use where monitoring and respiratory support are available" [D-lo]; combine with or
  precede by IVIG/PLEX.

When / Then
- methylprednisolone ordered IV (or with no route, at a pulse dose) at >= 500 mg/day (the daily
  amount from dose x frequency; a single dose >= 500 mg counts, being at least that much that day).
  A draft without a route whose RxNorm product is an oral form ("... Oral Tablet") is oral, not
  unknown (fhir_mappings/orders.py), so a tablet is never taken for a possible pulse.
    -> safety.ivmp.transient-worsening (warning).
- a dose that was given but cannot be read as mg (a `{pill}` count, mL) is not guessed: whether the
  order is a pulse cannot be told, so this check could not run on it
    -> data-gap.draft-order (info) naming this check and the reason (`not_checked`).
"""

from __future__ import annotations

from ..findings import Finding
from ._common import CheckInput, fmt, make_finding


CODE = "safety.ivmp.transient-worsening"


def _may_be_pulse(o) -> bool:
    return o.route in (None, "iv")


def not_checked(ci: CheckInput) -> list[Finding]:
    """Methylprednisolone drafts (IV or no route) whose dose was given in a unit that is not a mass."""
    return [
        make_finding(
            "data-gap.draft-order",
            "info",
            f"The IV methylprednisolone pulse check could not be made for {o.name}: {o.dose_note}.",
            [o],
            check=CODE,
            reason=o.dose_note,
        )
        for o in ci.drafts("methylprednisolone")
        if _may_be_pulse(o) and o.dose_mg is None and o.mg_per_day is None and o.dose_note
    ]


def check(ci: CheckInput) -> list[Finding]:
    limit = float(ci.params["ivmp_caution_mg_per_day"])
    pulses = []
    for o in ci.drafts("methylprednisolone"):
        if not _may_be_pulse(o):
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
            CODE,
            "warning",
            text,
            [o for o, _ in pulses],
            parameters=("ivmp_caution_mg_per_day",),
            mg_per_day=[mg for _, mg in pulses],
        )
    ]
