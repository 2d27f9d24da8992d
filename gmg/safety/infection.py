"""Starting immunotherapy during sepsis or a severe active infection.

Guideline (gmg-rules.md §6, §9; background/clinical-research.md §7 item 7): "active infection ...
before FcRn, anti-CD20 or anti-CD19"; inebilizumab label: "check for active infection before every
infusion" [V]; C5 inhibitors: serious infections (encapsulated bacteria) [K]. §9: with sepsis or a
severe active infection, starting C5, FcRn or B-cell therapy is deferred until it is controlled.

When / Then
- C5 inhibitor, FcRn antagonist or anti-CD20/CD19 ordered while sepsis or a severe infection is an
  active condition -> safety.active-infection (warning): defer until the infection is controlled.
"""

from __future__ import annotations

from ..findings import Evidence, Finding
from ._common import CheckInput, active_conditions, make_finding

THERAPY_CLASSES = ("c5-inhibitor", "fcrn-antagonist", "anti-cd20", "anti-cd19", "b-cell-depleting")


def check(ci: CheckInput) -> list[Finding]:
    drafts = ci.drafts(*THERAPY_CLASSES)
    if not drafts:
        return []
    infections = {c.source: c for c in (*active_conditions(ci.record, "sepsis"), *active_conditions(ci.record, "severe-infection"))}
    if not infections:
        return []
    evidence = [Evidence(f"Active: {c.concept.replace('-', ' ')}", "active", c.start, c.source) for c in infections.values()]
    text = (
        f"{', '.join(o.name for o in drafts)} ordered during "
        + ", ".join(sorted({c.concept.replace('-', ' ') for c in infections.values()}))
        + ": defer starting this immunotherapy until the infection is controlled."
    )
    return [make_finding("safety.active-infection", "warning", text, drafts, evidence=evidence)]
