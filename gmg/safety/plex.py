"""Plasma exchange, immunoadsorption and lymphoplasmapheresis orders.

Guideline and reviews (gmg-rules.md §6; background/clinical-research.md §1.9 (5), §4.1, §5):
- "IVIG preferred over PLEX: hypotension, autonomic instability, sepsis, elderly (> 65 y),
  children" [S/K]; "PLEX cannot be used in patients with sepsis" [K, ICG 2016]; a child is a
  patient under 18 [I, §9].
- "Patients on C5 inhibitors or FcRn antagonists who need PLEX will have the drug removed, so
  supplemental dosing or re-timing is needed" [D-hi]; eculizumab: after each PE give 300 mg (last
  dose 300 mg) or 600 mg (last dose >= 600 mg) within 60 min [K]; ravulizumab: 1200-1800 mg by the
  last dose within 4 h [K, verify]; "PLEX also removes rituximab; schedule PLEX before rituximab"
  [K]. Other B-cell-depleting IgG antibodies (ofatumumab, inebilizumab) are removed the same way
  [I].

When / Then (PLEX = plex, immunoadsorption or LPE order)
- sepsis, hypotension (coded, or SBP < 90 within the last days), age > 65 or < 18
    -> safety.plex.prefer-ivig (warning), naming each reason.
- on eculizumab/ravulizumab, an FcRn antagonist or a B-cell-depleting antibody (active course,
  last dose within the recent-dose window, or co-ordered)
    -> safety.plex.removes-biologic (warning), with the supplemental C5 dose per exchange.
"""

from __future__ import annotations

from datetime import timedelta

from ..findings import Evidence, Finding
from ..orders import DraftOrder
from ..record import MedicationExposure
from ._common import (
    CheckInput,
    active_conditions,
    exposure_is,
    fmt,
    is_on,
    latest_value,
    make_finding,
)

_REMOVED_CLASSES = ("fcrn-antagonist", "b-cell-depleting", "anti-cd20", "anti-cd19")
_C5_ANTIBODIES = ("eculizumab", "ravulizumab")


def plex_drafts(ci: CheckInput) -> tuple[DraftOrder, ...]:
    return tuple(o for o in ci.orders if o.concept in ("plex", "immunoadsorption", "lpe") or "apheresis" in o.drug_classes)


def prefer_ivig(ci: CheckInput, drafts: tuple[DraftOrder, ...]) -> list[Finding]:
    reasons: list[Evidence] = []
    for c in active_conditions(ci.record, "sepsis"):
        reasons.append(Evidence("Sepsis", "active", c.start, c.source))
    for c in active_conditions(ci.record, "hypotension"):
        reasons.append(Evidence("Hypotension (condition)", "active", c.start, c.source))
    sbp_below = float(ci.params["rapid_hypotension_sbp_below"])
    since = ci.today - timedelta(days=int(ci.params["rapid_vitals_max_age_days"]))
    sbp = latest_value(ci.record, "bp-systolic", "mm[Hg]", since=since)
    if sbp is not None and sbp[1] < sbp_below:
        reasons.append(Evidence("Systolic BP", f"{fmt(sbp[1])} mmHg", sbp[0].when, sbp[0].source))
    age = ci.record.age
    if age is not None and age > int(ci.params["rapid_prefer_ivig_age_over"]):
        reasons.append(Evidence("Age", f"{age} years", None, None))
    if age is not None and age < int(ci.params["rapid_child_age_under"]):
        reasons.append(Evidence("Age (child)", f"{age} years", None, None))
    if not reasons:
        return []
    text = (
        "Plasma exchange ordered where IVIG is preferred ("
        + "; ".join(f"{e.label} {e.value}" for e in reasons)
        + "): consider IVIG instead (PLEX risks with sepsis, hypotension, older age and children)."
    )
    return [
        make_finding(
            "safety.plex.prefer-ivig",
            "warning",
            text,
            drafts,
            evidence=reasons,
            parameters=(
                "rapid_hypotension_sbp_below",
                "rapid_vitals_max_age_days",
                "rapid_prefer_ivig_age_over",
                "rapid_child_age_under",
            ),
            reasons=[e.label for e in reasons],
        )
    ]


def _supplement(params_table: list[list[float]], last_dose_mg: float | None, exact: bool) -> float | None:
    """The supplemental dose for the most recent dose: the row with the largest threshold <= dose
    (eculizumab, 'at least'), or the exact row (ravulizumab table)."""
    if last_dose_mg is None:
        return None
    best: float | None = None
    for threshold, supplement in params_table:
        if exact and abs(last_dose_mg - float(threshold)) < 0.5:
            return float(supplement)
        if not exact and last_dose_mg >= float(threshold):
            best = float(supplement)
    return best


def _latest_dose(exposures: list[MedicationExposure]) -> MedicationExposure | None:
    dated = [e for e in exposures if e.start is not None]
    return max(dated, key=lambda e: e.start) if dated else None  # type: ignore[arg-type, return-value]


def removes_biologic(ci: CheckInput, drafts: tuple[DraftOrder, ...]) -> list[Finding]:
    window = int(ci.params["biologic_recent_dose_days"])
    first_exchange = min(o.planned_start for o in drafts)
    on: dict[str, list[MedicationExposure]] = {}
    for e in ci.exposures:
        if exposure_is(e, *_C5_ANTIBODIES, *_REMOVED_CLASSES) and is_on(e, first_exchange, window):
            on.setdefault(e.ingredient, []).append(e)
    co_ordered = tuple(o for o in ci.orders if o.is_(*_C5_ANTIBODIES, *_REMOVED_CLASSES) and o not in drafts)
    if not on and not co_ordered:
        return []
    evidence: list[Evidence] = []
    for ingredient, exps in on.items():
        last = _latest_dose(exps)
        if last is not None:
            dose = f"{fmt(last.dose_mg)} mg" if last.dose_mg is not None else "dose not recorded"
            evidence.append(Evidence(f"On {ingredient}", f"last recorded {dose}", last.start, last.source))
    sentences: list[str] = []
    supplements: dict[str, float | None] = {}
    for drug in _C5_ANTIBODIES:
        last_exp = _latest_dose(on.get(drug, []))
        co = [o for o in co_ordered if o.concept == drug]
        if last_exp is None and not co:
            continue
        last_mg = last_exp.dose_mg if last_exp is not None else (co[0].dose_mg if co else None)
        if drug == "eculizumab":
            mg = _supplement(ci.params["eculizumab_plex_supplement_mg"], last_mg, exact=False)
            within = f"within {ci.params['eculizumab_plex_supplement_within_min']} minutes"
        else:
            mg = _supplement(ci.params["ravulizumab_plex_supplement_mg"], last_mg, exact=True)
            within = f"within {ci.params['ravulizumab_plex_supplement_within_h']} hours"
        supplements[drug] = mg
        amount = f"{fmt(mg)} mg" if mg is not None else "a supplemental dose per the label table (most recent dose not readable)"
        sentences.append(
            f"give {drug} {amount} {within} after each exchange, from {first_exchange.isoformat()}"
        )
    removed = sorted({*on.keys(), *(o.concept or o.name for o in co_ordered)} - set(supplements))
    if removed:
        sentences.append(
            f"{', '.join(removed)} is removed by the exchange: schedule the exchange before the next"
            " dose or re-time the dose after the course"
        )
    text = "Plasma exchange removes therapeutic antibodies the patient is on: " + "; ".join(sentences) + "."
    return [
        make_finding(
            "safety.plex.removes-biologic",
            "warning",
            text,
            drafts,
            context_orders=co_ordered,
            evidence=evidence,
            parameters=(
                "biologic_recent_dose_days",
                *(("eculizumab_plex_supplement_mg", "eculizumab_plex_supplement_within_min") if "eculizumab" in supplements else ()),
                *(("ravulizumab_plex_supplement_mg", "ravulizumab_plex_supplement_within_h") if "ravulizumab" in supplements else ()),
            ),
            first_exchange=first_exchange,
            supplemental_mg={k: v for k, v in supplements.items()} or None,
            removed_drugs=removed or None,
        )
    ]


def check(ci: CheckInput) -> list[Finding]:
    drafts = plex_drafts(ci)
    if not drafts:
        return []
    return [*prefer_ivig(ci, drafts), *removes_biologic(ci, drafts)]
