"""IVIG orders: IgA, dose for this weight, renal risk, MuSK+.

Guideline and reviews (gmg-rules.md §5, §6; background/clinical-research.md §5):
- "Check serum IgA before IVIG; IgA deficiency can cause severe anaphylaxis; use IgA-depleted
  products if deficient" [S/K]; IgA < 7 mg/dL (0.07 g/L) or coded IgA deficiency [§6].
- "IVIG 2 g/kg over 5 days (0.4 g/kg/d); totals > 80 g over 3-5 days" [V / D-hi / K].
- "IVIG cautions: renal failure" [V PMC6690491; ICG 2016 K]: creatinine >= 1.5 mg/dL or
  eGFR < 60 -> non-sucrose product, slower rate, hydration [§6, I thresholds].
- "MuSK+ refractory gMG with exacerbation: PLEX or LPE is recommended; IVIG is NOT recommended"
  [D-hi for PLEX/LPE, D-lo for the strength of the IVIG exclusion].

When / Then (IVIG = immune globulin IV, or the IVIG-infusion procedure; SC/IM immune globulin is
not IVIG)
- IgA deficiency coded, or latest IgA < 7 mg/dL -> safety.ivig.iga-deficiency (critical).
- no readable IgA on record -> safety.ivig.iga-missing (warning).
- always -> safety.ivig.dose (info): 2 g/kg for the recorded weight, daily dose, split rule; the
  draft's own daily dose beside it; no weight -> said, not guessed.
- creatinine >= 1.5 mg/dL or eGFR < 60 (latest) -> safety.ivig.renal (warning).
- serotype MuSK+ -> safety.ivig.not-recommended-musk (warning): PLEX preferred.
"""

from __future__ import annotations

from ..dosing import dosing_inputs, ivig_course
from ..findings import Evidence, Finding
from ..measures import set_aside_evidence, unknown_now
from ..orders import DraftOrder
from ._common import CheckInput, active_conditions, fmt, latest_value, make_finding

_NOT_IV_ROUTES = frozenset({"sc", "im", "oral"})


def ivig_drafts(ci: CheckInput) -> tuple[DraftOrder, ...]:
    out = []
    for o in ci.orders:
        if o.concept == "ivig-infusion" or (
            (o.concept == "ivig" or "immune-globulin-iv" in o.drug_classes) and o.route not in _NOT_IV_ROUTES
        ):
            out.append(o)
    return tuple(out)


def iga(ci: CheckInput, drafts: tuple[DraftOrder, ...]) -> list[Finding]:
    limit = float(ci.params["iga_deficiency_mg_dl"])
    evidence: list[Evidence] = []
    coded = active_conditions(ci.record, "iga-deficiency")
    for c in coded:
        evidence.append(Evidence("IgA deficiency (condition)", "active", c.start, c.source))
    latest = latest_value(ci.record, "iga", "mg/dL")
    low = False
    if latest is not None:
        m, v = latest
        evidence.append(Evidence("Serum IgA", f"{fmt(v)} mg/dL" + (f" ({fmt(m.value)} {m.unit})" if m.unit != "mg/dL" and m.value is not None else ""), m.when, m.source))
        low = v < limit
    if coded or low:
        text = (
            "IVIG ordered in IgA deficiency ("
            + "; ".join(f"{e.label} {e.value}" for e in evidence)
            + f"; threshold < {fmt(limit)} mg/dL): anaphylaxis risk, use an IgA-depleted product only"
            " or choose PLEX."
        )
        return [
            make_finding(
                "safety.ivig.iga-deficiency", "critical", text, drafts, evidence=evidence,
                parameters=("iga_deficiency_mg_dl",),
            )
        ]
    if latest is None:
        unreadable = ci.record.measurements_of("iga")
        text = "IVIG ordered with no serum IgA on record: measure IgA before the first infusion (IgA deficiency: anaphylaxis risk)."
        if unreadable:
            text = "IVIG ordered but the serum IgA on record could not be read (value or unit): measure IgA before the first infusion."
        return [make_finding("safety.ivig.iga-missing", "warning", text, drafts, parameters=("iga_deficiency_mg_dl",),
                             iga_unreadable=True if unreadable else None)]
    return []


def dose(ci: CheckInput, drafts: tuple[DraftOrder, ...]) -> list[Finding]:
    inputs = dosing_inputs(ci.record, ci.params)
    w = inputs.weight_kg
    set_aside = inputs.set_aside_of("weight")
    if w is None and set_aside is not None:  # a later weight set aside: no earlier one stands in
        text = ("IVIG ordered: the dose is 2 g/kg over 5 days (0.4 g/kg/day), but it cannot be computed for this "
                f"patient. {unknown_now(set_aside)} Record a current weight.")
        return [make_finding("safety.ivig.dose", "info", text, drafts, evidence=(set_aside_evidence(set_aside),),
                             parameters=inputs.parameters, weight_missing=True, **set_aside.as_data())]
    if w is None:
        text = (
            "IVIG ordered: the dose is 2 g/kg over 5 days (0.4 g/kg/day), but no recent weight is"
            " on record, so it cannot be computed for this patient: record a weight."
        )
        return [
            make_finding("safety.ivig.dose", "info", text, drafts, parameters=inputs.parameters, weight_missing=True)
        ]
    course = ivig_course(w.value, ci.params)
    ordered = []
    for o in drafts:
        per_day = o.mg_per_day if o.mg_per_day is not None else o.dose_mg
        if per_day is not None:
            ordered.append(f"{o.name}: {fmt(per_day / 1000)} g" + ("/day" if o.mg_per_day is not None else " per dose"))
    text = (
        f"IVIG for {fmt(w.value)} kg ({w.when.isoformat()}): {fmt(course.total_g)} g in total"
        f" (2 g/kg) as {fmt(course.daily_g)} g/day over {course.days} days. {course.split}"
        + (f" Ordered: {'; '.join(ordered)}." if ordered else "")
    )
    return [
        make_finding(
            "safety.ivig.dose",
            "info",
            text,
            drafts,
            evidence=(Evidence("Weight", f"{fmt(w.value)} kg", w.when, w.source),),
            parameters=(*inputs.parameters[:1], *course.parameters),
            weight_kg=round(w.value, 1),
            total_g=course.total_g,
            daily_g=course.daily_g,
            days=course.days,
        )
    ]


def renal(ci: CheckInput, drafts: tuple[DraftOrder, ...]) -> list[Finding]:
    cr_limit = float(ci.params["creatinine_renal_mg_dl"])
    egfr_min = float(ci.params["egfr_renal_min"])
    reasons: list[Evidence] = []
    cr = latest_value(ci.record, "creatinine", "mg/dL")
    if cr is not None and cr[1] >= cr_limit:
        m, v = cr
        shown = f"{fmt(v)} mg/dL" + (f" ({fmt(m.value)} {m.unit})" if m.unit != "mg/dL" and m.value is not None else "")
        reasons.append(Evidence("Creatinine", shown, m.when, m.source))
    eg = latest_value(ci.record, "egfr", "mL/min/{1.73_m2}")
    if eg is not None and eg[1] < egfr_min:
        reasons.append(Evidence("eGFR", f"{fmt(eg[1])} mL/min/1.73 m²", eg[0].when, eg[0].source))
    if not reasons:
        return []
    text = (
        "IVIG ordered with impaired renal function ("
        + "; ".join(f"{e.label} {e.value}" for e in reasons)
        + "): use a sucrose-free product, infuse slowly, hydrate and recheck creatinine."
    )
    return [
        make_finding(
            "safety.ivig.renal", "warning", text, drafts, evidence=reasons,
            parameters=("creatinine_renal_mg_dl", "egfr_renal_min"),
        )
    ]


def musk(ci: CheckInput, drafts: tuple[DraftOrder, ...]) -> list[Finding]:
    if ci.serotype != "musk":
        return []
    text = (
        "IVIG ordered in MuSK-antibody-positive MG: the consensus recommends PLEX or LPE and not"
        " IVIG (D-lo for the strength of the IVIG exclusion): consider plasma exchange instead."
    )
    return [make_finding("safety.ivig.not-recommended-musk", "warning", text, drafts, serotype="musk")]


def check(ci: CheckInput) -> list[Finding]:
    drafts = ivig_drafts(ci)
    if not drafts:
        return []
    return [*iga(ci, drafts), *renal(ci, drafts), *musk(ci, drafts), *dose(ci, drafts)]
