"""FcRn antagonists: washout before IgG therapeutic antibodies and immune globulin.

Guideline and labels (gmg-rules.md §6; background/clinical-research.md §1.9 (5), §4.1):
- "FcRn antagonists lower the levels of IgG monoclonal antibodies (e.g. eculizumab, rituximab),
  so after an FcRn antagonist a time interval is required before starting a C5 inhibitor or
  anti-CD20 mAb" [D-hi concept]; "postpone ... to 2 weeks after the last dose of any given
  treatment cycle" [V, efgartigimod EU SmPC; rozanolixizumab Swiss information, also IVIG].

When / Then
- IgG therapeutic antibody (eculizumab, ravulizumab, rituximab, inebilizumab, ofatumumab) or
  immune globulin ordered with a planned start < 14 days after the last FcRn-antagonist dose on
  record -> safety.fcrn.mab-washout (warning) with the earliest start date.
- the same order next to an FcRn-antagonist draft in this session -> the same finding: start
  14 days after the last dose of that cycle.
"""

from __future__ import annotations

from datetime import timedelta

from ..findings import Evidence, Finding
from ..orders import DraftOrder
from ._common import CheckInput, exposure_is, last_dose_date, make_finding


def igg_drafts(ci: CheckInput) -> tuple[DraftOrder, ...]:
    return tuple(
        o
        for o in ci.orders
        if o.is_("igg-therapeutic-antibody", "ivig", "immune-globulin", "ivig-infusion")
        and not o.is_("fcrn-antagonist")
    )


def check(ci: CheckInput) -> list[Finding]:
    drafts = igg_drafts(ci)
    if not drafts:
        return []
    washout = int(ci.params["fcrn_washout_days"])
    last = None
    last_exp = None
    for e in ci.exposures:
        if not exposure_is(e, "fcrn-antagonist"):
            continue
        d = last_dose_date(e, ci.today)
        if d is not None and (last is None or d > last):
            last, last_exp = d, e
    findings: list[Finding] = []
    if last is not None and last_exp is not None:
        earliest = last + timedelta(days=washout)
        early = tuple(o for o in drafts if o.planned_start < earliest)
        if early:
            running = last_exp.kind != "administration" and (last_exp.end is None or last_exp.end >= ci.today)
            last_words = (
                f"the {last_exp.ingredient} course is still running (last dose up to {last.isoformat()})"
                if running
                else f"the last {last_exp.ingredient} dose was on {last.isoformat()}"
            )
            text = (
                f"An FcRn antagonist lowers IgG-based drugs and immune globulin, and {last_words}:"
                f" start {', '.join(o.name for o in early)} on or after {earliest.isoformat()}"
                f" ({washout} days after the last dose)"
                + (", or later if the cycle continues." if running else ".")
            )
            findings.append(
                make_finding(
                    "safety.fcrn.mab-washout",
                    "warning",
                    text,
                    early,
                    evidence=(Evidence(f"Last {last_exp.ingredient} dose", "FcRn antagonist", last, last_exp.source),),
                    parameters=("fcrn_washout_days",),
                    last_fcrn_dose=last,
                    fcrn_drug=last_exp.ingredient,
                    earliest_start=earliest,
                    fcrn_course_running=True if running else None,
                )
            )
    fcrn_drafts = ci.drafts("fcrn-antagonist")
    if fcrn_drafts and not findings:
        text = (
            f"{', '.join(o.name for o in fcrn_drafts)} (FcRn antagonist) is ordered together with"
            f" {', '.join(o.name for o in drafts)}: the FcRn antagonist lowers IgG-based drugs and"
            f" immune globulin; start them {washout} days after the last dose of the FcRn cycle."
        )
        findings.append(
            make_finding(
                "safety.fcrn.mab-washout",
                "warning",
                text,
                drafts,
                context_orders=fcrn_drafts,
                parameters=("fcrn_washout_days",),
                not_before=min(o.planned_start for o in fcrn_drafts) + timedelta(days=washout),
            )
        )
    return findings
