"""C5 inhibitors (eculizumab, ravulizumab, zilucoplan): meningococcal vaccination, serotype, lipase.

Guideline and labels (gmg-rules.md §6, §9; background/clinical-research.md §1.8, §4):
- "Meningococcal vaccination (MenACWY + MenB) >= 2 weeks before the first dose, unless delaying is
  riskier, then vaccinate and give antibiotic prophylaxis; REMS" [V, labels]. Vaccination counts as
  done with one dose of MenACWY (or MenABCWY) and one of MenB (or MenABCWY); the series must still
  be completed [I, §9].
- C5 inhibitors are for AChR-antibody-positive gMG; "MuSK+: C5 inhibitors NOT indicated" [D-hi].
- Zilucoplan: "baseline lipase and amylase (pancreatitis)" [V]; the check fires when either has no
  result in the last 90 days [I, §9].

When / Then
- C5 inhibitor ordered, and MenACWY or MenB missing from record and drafts
    -> safety.c5.meningococcal-vaccine-missing (critical), naming the missing component(s).
- both components present, but the later of their first doses is < 14 days before a C5 draft's
  planned start (a vaccine ordered in this session counts from its planned date)
    -> safety.c5.meningococcal-vaccine-recent (warning), with the earliest start date.
- C5 inhibitor ordered and the serotype is not AChR+ -> safety.c5.not-indicated-serotype (warning).
- zilucoplan ordered, lipase or amylase without a result in the window
    -> safety.zilucoplan.lipase-amylase-missing (warning).
"""

from __future__ import annotations

from datetime import date, timedelta

from ..findings import Evidence, Finding
from ..orders import DraftOrder
from ._common import CheckInput, make_finding, members

_COMPONENTS: tuple[tuple[str, str], ...] = (
    ("meningococcal-acwy", "MenACWY"),
    ("meningococcal-b", "MenB"),
)

_SEROTYPE_WORDS: dict[str, str] = {
    "musk": "the patient is MuSK-antibody positive, where C5 inhibitors are not indicated",
    "lrp4": "the patient is LRP4-antibody positive, not AChR positive",
    "seronegative": "the patient is seronegative by cell-based assay, not AChR positive",
    "unconfirmed": "AChR positivity is not confirmed (negative only by ELISA/RIPA or unknown method)",
    "unknown": "no AChR antibody result is on record",
}


def c5_drafts(ci: CheckInput) -> tuple[DraftOrder, ...]:
    return ci.drafts("c5-inhibitor")


def _component_dates(ci: CheckInput, group: str) -> tuple[list[tuple[date | None, str, str]], bool]:
    """(date, source, where) of every dose of a component on record or ordered; and whether any exists."""
    keys = members(group)
    found: list[tuple[date | None, str, str]] = []
    for imm in ci.record.immunizations:
        if imm.concept in keys and imm.status not in ("not-done", "entered-in-error"):
            found.append((imm.when, imm.source, "on record"))
    for o in ci.orders:
        if o.kind == "vaccine" and o.concept in keys:
            found.append((o.planned_start, o.resource_id, "ordered in this session"))
    return found, bool(found)


def meningococcal(ci: CheckInput) -> list[Finding]:
    drafts = c5_drafts(ci)
    if not drafts:
        return []
    lead = int(ci.params["meningococcal_lead_days"])
    missing: list[str] = []
    evidence: list[Evidence] = []
    first_dates: dict[str, date] = {}
    undated: list[str] = []
    for group, label in _COMPONENTS:
        doses, any_dose = _component_dates(ci, group)
        if not any_dose:
            missing.append(label)
            continue
        dated = [d for d in doses if d[0] is not None]
        for when, src, where in doses:
            evidence.append(Evidence(f"{label} dose ({where})", "given" if where == "on record" else "ordered", when, src))
        if dated:
            first_dates[label] = min(d[0] for d in dated if d[0] is not None)
        else:
            undated.append(label)
    if missing:
        unavailable = "immunizations" in ci.record.unavailable
        what = " and ".join(missing)
        text = (
            f"C5 inhibitor ordered without {what} vaccination on record"
            + (" (the immunization history could not be retrieved: confirm it)" if unavailable else "")
            + f": vaccinate (MenACWY and MenB) at least {lead} days before the first dose, or give"
            " antibiotic prophylaxis if treatment cannot wait; complete the series (REMS)."
        )
        return [
            make_finding(
                "safety.c5.meningococcal-vaccine-missing",
                "critical",
                text,
                drafts,
                evidence=evidence,
                parameters=("meningococcal_lead_days",),
                missing_vaccines=missing,
                immunizations_unavailable=True if unavailable else None,
            )
        ]
    if not first_dates:
        return []  # all doses on unknown dates: no earliest date can be computed
    # A component given on an unknown date cannot move the earliest date earlier than the dated
    # ones allow, so the dated doses still decide when the start is too early.
    protected_from = max(first_dates.values())
    earliest = protected_from + timedelta(days=lead)
    early = tuple(o for o in drafts if o.planned_start < earliest)
    if not early:
        return []
    starts = ", ".join(f"{o.name} {o.planned_start.isoformat()}" for o in early)
    text = (
        f"Meningococcal vaccination ({', '.join(f'{k} {v.isoformat()}' for k, v in first_dates.items())})"
        f" is less than {lead} days before the planned C5-inhibitor start ({starts}): start on or"
        f" after {earliest.isoformat()}, or give antibiotic prophylaxis until {lead} days after"
        " vaccination; complete the series."
    )
    return [
        make_finding(
            "safety.c5.meningococcal-vaccine-recent",
            "warning",
            text,
            early,
            evidence=evidence,
            parameters=("meningococcal_lead_days",),
            vaccinated_on=protected_from,
            earliest_start=earliest,
        )
    ]


def serotype(ci: CheckInput) -> list[Finding]:
    drafts = c5_drafts(ci)
    if not drafts or ci.serotype == "achr":
        return []
    why = _SEROTYPE_WORDS.get(ci.serotype, f"the serotype is {ci.serotype}")
    text = (
        f"C5 inhibitors are for AChR-antibody-positive gMG, but {why}: reconsider the order"
        + (" or confirm AChR antibodies (cell-based assay) first." if ci.serotype in ("unknown", "unconfirmed") else ".")
    )
    return [
        make_finding(
            "safety.c5.not-indicated-serotype", "warning", text, drafts, serotype=ci.serotype
        )
    ]


def zilucoplan_labs(ci: CheckInput) -> list[Finding]:
    drafts = ci.drafts("zilucoplan")
    if not drafts:
        return []
    window = int(ci.params["lipase_amylase_max_age_days"])
    since = ci.today - timedelta(days=window)
    missing: list[str] = []
    evidence: list[Evidence] = []
    for lab, label in (("lipase", "lipase"), ("amylase", "amylase")):
        recent = [m for m in ci.record.measurements_of(lab) if since <= m.when <= ci.today]
        if recent:
            m = max(recent, key=lambda x: x.when)
            evidence.append(Evidence(label, f"{m.value} {m.unit or ''}".strip(), m.when, m.source))
        else:
            missing.append(label)
    if not missing:
        return []
    text = (
        f"Zilucoplan ordered without a baseline {' and '.join(missing)} in the last {window} days"
        " (pancreatitis risk): order the missing test(s) before the first dose."
    )
    return [
        make_finding(
            "safety.zilucoplan.lipase-amylase-missing",
            "warning",
            text,
            drafts,
            evidence=evidence,
            parameters=("lipase_amylase_max_age_days",),
            missing_labs=missing,
        )
    ]


def check(ci: CheckInput) -> list[Finding]:
    return [*meningococcal(ci), *serotype(ci), *zilucoplan_labs(ci)]
