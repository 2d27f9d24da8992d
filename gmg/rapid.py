"""Rapid therapy for an exacerbation or crisis: PLEX versus IVIG, doses, IVMP with caution.

Guideline statements implemented (gmg-rules.md §5, §9; background/clinical-research.md §1.9, §5):
- "AChR+ refractory gMG with exacerbation: IVIG, PLEX/LPE or IA may be used." (D-hi)
- "MuSK+ refractory gMG with exacerbation: PLEX or LPE is recommended; IVIG is NOT recommended."
  (D-hi for PLEX/LPE; D-lo for the strength of the IVIG exclusion)
- IVIG preferred over PLEX with hypotension, sepsis, age > 65 and in children (S, IVIG article;
  PLEX contraindicated in sepsis, K ICG 2016). A missing recent blood pressure is "not checked"
  only during an exacerbation (I: for one that may occur, it is measured then).
- Doses: IVIG 2 g/kg over 5 days (0.4 g/kg/d), totals > 80 g over 3–5 days; PLEX 1.0–1.5 plasma
  volumes per exchange, 3–6 exchanges in 10–14 days; LPE 70–80% of TPV, TPV = 0.065 × (1 − Hct)
  × weight; IVMP 500–1000 mg/day × 3–5 days, watch for transient worsening (D-hi / D-lo caution).

When: an acute exacerbation (`acute.exacerbation`), or a refractory patient (what to use if an
exacerbation occurs, §9).
Then: `rescue.ivig`, `rescue.plex`, `rescue.prefer-plex` + `rescue.ivig.not-recommended-musk`
(MuSK+), `rescue.prefer-ivig` (a factor that favours IVIG), `rescue.ivmp`; `data-gap.weight` /
`data-gap.haematocrit` when a dose cannot be computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import dosing
from .findings import Evidence, Finding, Indicator
from .measures import set_aside_evidence, unknown_now
from .orders import ProposedOrder, Schedule
from .parameters import Parameters
from .record import PatientRecord
from .prerequisites import lab_on_record, latest_within
from .therapy import AssessmentView, is_refractory


@dataclass(frozen=True)
class RescueChoice:
    """What favours which modality for this patient."""

    musk: bool
    ivig_factors: tuple[Evidence, ...]  # age > 65, child, sepsis, SBP < 90
    unchecked: tuple[str, ...]  # factors that could not be checked (missing data)


def rescue_choice(record: PatientRecord, assessment: AssessmentView, params: Parameters) -> RescueChoice:
    factors: list[Evidence] = []
    unchecked: list[str] = []
    age = record.age
    if age is None:
        unchecked.append("age (no birth date)")
    else:
        if age > int(params["rapid_prefer_ivig_age_over"]):
            factors.append(Evidence(f"age over {int(params['rapid_prefer_ivig_age_over'])}", f"{age} years"))
        if age < int(params["rapid_child_age_under"]):
            factors.append(Evidence(f"child (under {int(params['rapid_child_age_under'])})", f"{age} years"))
    if "conditions" in record.unavailable:
        unchecked.append("sepsis (problem list unavailable)")
    else:
        for c in record.conditions_of("sepsis"):
            if c.abatement is None:
                factors.append(Evidence("sepsis", "on problem list", c.start, c.source))
    # Hypotension is a sign of the exacerbation itself: read during one; for one that may occur it
    # is measured then (no "not checked" for a blood pressure that could not matter yet).
    sbp = latest_within(record, "bp-systolic", int(params["rapid_vitals_max_age_days"]))
    if (sbp is None or sbp.value is None) and assessment.acute:
        unchecked.append("systolic blood pressure (none recent)")
    elif sbp is not None and sbp.value is not None and sbp.value < float(params["rapid_hypotension_sbp_below"]):
        factors.append(Evidence("hypotension: systolic BP", f"{sbp.value:g} mm Hg", sbp.when, sbp.source))
    return RescueChoice(musk=assessment.serotype == "musk", ivig_factors=tuple(factors), unchecked=tuple(unchecked))


CHOICE_PARAMETERS = ("rapid_prefer_ivig_age_over", "rapid_child_age_under", "rapid_hypotension_sbp_below",
                     "rapid_vitals_max_age_days")


def _ivig_order(course: dosing.IvigCourse) -> dict[str, Any]:
    order = ProposedOrder(
        "ivig", "Immune globulin IV", course.daily_g * 1000.0, "iv", course.text,
        Schedule(frequency=1, period=1, period_unit="d", count=course.days),
        f"IVIG {course.daily_g:g} g/day × {course.days} days ({course.total_g:g} g total)",
    )
    return order.as_json()


def _ivmp_order(course: dosing.IvmpCourse) -> dict[str, Any]:
    lo, days = course.daily_mg[0], course.days[0]
    order = ProposedOrder(
        "methylprednisolone", "Methylprednisolone IV", float(lo), "iv",
        f"{course.text}; start at {lo} mg/day × {days} days (monitor for early worsening)",
        Schedule(frequency=1, period=1, period_unit="d", count=days),
        f"Methylprednisolone {lo} mg IV daily × {days} days",
    )
    return order.as_json()


def rapid_options(record: PatientRecord, assessment: AssessmentView, params: Parameters,
                  inputs: dosing.DosingInputs | None = None) -> tuple[Finding, ...]:
    """Rapid options during an exacerbation, or for a refractory patient should one occur.

    `inputs`: `dosing.dosing_inputs(record, params)` when the caller has it already."""
    if assessment.mg_status != "generalized" or not (assessment.acute or is_refractory(assessment)):
        return ()
    acute = bool(assessment.acute)
    when = "now (exacerbation or crisis)" if acute else "if an exacerbation occurs"
    choice = rescue_choice(record, assessment, params)
    if inputs is None:
        inputs = dosing.dosing_inputs(record, params)
    w = inputs.weight_kg.value if inputs.weight_kg else None
    hct = inputs.haematocrit_fraction.value if inputs.haematocrit_fraction else None
    findings: list[Finding] = []
    # cautions warn during an exacerbation; for a future one they inform
    caution: Indicator = "warning" if acute else "info"
    unchecked = f" Not checked (missing): {', '.join(choice.unchecked)}." if choice.unchecked else ""

    # PLEX / LPE / IA
    plex_data: dict[str, Any] = {"when": "now" if acute else "if-exacerbation", "modality": "plex"}
    plex_ids: tuple[str, ...] = ()
    if w is not None and hct is not None:
        course = dosing.plex_course(w, hct, params)
        plex_dose = course.text
        plex_ids = course.parameters
        plex_data.update(plasma_volume_l=course.plasma_volume_l, exchange_volume_l=list(course.exchange_volume_l),
                         exchanges=list(course.exchanges), lpe_volume_l=list(course.lpe_volume_l))
    else:
        without = [n for n, v in (("weight", w), ("haematocrit", hct)) if v is None]
        unusable = [n for n in without if inputs.set_aside_of(n)]  # a later value set aside (gmg/measures.py)
        missing = [n for n in without if n not in unusable]
        why = ([f"no {' or '.join(missing)} recorded"] if missing else []) + (
            [f"latest {' and '.join(unusable)} not usable"] if unusable else [])
        plex_dose = (f"1.0–1.5 plasma volumes per exchange, 3–6 exchanges in 10–14 days; volume not computed "
                     f"({'; '.join(why)})")
        plex_data["data_gap"] = without
    plex_data["dose"] = plex_dose
    plex_data["order"] = {"kind": "procedure", "concept": "plex", "text": f"Therapeutic plasma exchange: {plex_dose}"}

    # IVIG
    ivig_data: dict[str, Any] = {"when": plex_data["when"], "modality": "ivig"}
    ivig_ids: tuple[str, ...] = ()
    if w is not None:
        ivig = dosing.ivig_course(w, params)
        ivig_dose = ivig.text
        ivig_ids = ivig.parameters
        ivig_data.update(total_g=ivig.total_g, daily_g=ivig.daily_g, days=ivig.days, order=_ivig_order(ivig))
    else:
        why = "latest weight not usable" if inputs.set_aside_of("weight") else "no weight recorded"
        ivig_dose = f"2 g/kg over 5 days (0.4 g/kg/d); dose not computed ({why})"
        ivig_data["data_gap"] = ["weight"]
        if inputs.set_aside_of("weight"):
            ivig_data["weight_set_aside"] = True  # the gap line names the value (data-gap.weight)
    ivig_data["dose"] = ivig_dose
    prereq = [lab_on_record(record, "iga", int(params["rapid_iga_max_age_days"]), "Serum IgA (IgA deficiency: IgA-depleted product)"),
              lab_on_record(record, "creatinine", int(params["rapid_creatinine_max_age_days"]), "Creatinine (renal caution)")]
    ivig_data["prerequisites"] = [p.as_json() for p in prereq]
    if choice.unchecked:  # what could not be checked for the PLEX-versus-IVIG choice
        ivig_data["unchecked"] = list(choice.unchecked)

    plex_text = f"PLEX (or LPE / immunoadsorption) {when}: {plex_dose}."
    ivig_text = f"IVIG {when}: {ivig_dose}"
    if choice.musk:
        conflict = ""
        if choice.ivig_factors:
            conflict = (" IVIG-favouring factors are also present (" + ", ".join(e.label for e in choice.ivig_factors)
                        + "; PLEX is contraindicated in sepsis): specialist decision.")
        findings.append(Finding("rescue.prefer-plex",
                                "MuSK+: PLEX or LPE is the preferred rapid therapy (CN consensus D-hi)." + conflict,
                                "info", evidence=choice.ivig_factors, parameters=CHOICE_PARAMETERS,
                                data={"serotype": "musk"}))
        findings.append(Finding("rescue.plex", plex_text, "info", parameters=plex_ids, data=plex_data))
        findings.append(Finding("rescue.ivig.not-recommended-musk",
                                "MuSK+: IVIG is not recommended for exacerbations (CN consensus; strength D-lo); use PLEX/LPE.",
                                caution, data={"serotype": "musk"}))
    elif choice.ivig_factors:
        reasons = ", ".join(f"{e.label} ({e.value})" for e in choice.ivig_factors)
        findings.append(Finding("rescue.prefer-ivig",
                                f"IVIG preferred over PLEX: {reasons}.{unchecked}", "info",
                                evidence=choice.ivig_factors, parameters=CHOICE_PARAMETERS,
                                data={"factors": [e.label for e in choice.ivig_factors]}))
        findings.append(Finding("rescue.ivig", ivig_text, "info", parameters=ivig_ids, data=ivig_data))
        findings.append(Finding("rescue.plex", plex_text + " Not preferred for this patient: " + reasons + ".",
                                "info", parameters=plex_ids, data={**plex_data, "preferred": False}))
    else:
        either = f"IVIG or PLEX/LPE/IA may be used (CN consensus D-hi).{unchecked}"
        findings.append(Finding("rescue.ivig", f"{ivig_text} {either}", "info",
                                parameters=ivig_ids + CHOICE_PARAMETERS, data=ivig_data))
        findings.append(Finding("rescue.plex", plex_text, "info", parameters=plex_ids, data=plex_data))

    ivmp = dosing.ivmp_course(params)
    ivmp_text = (f"IVMP {ivmp.text}: caution, transient early worsening is common; give where breathing can be "
                 "monitored and supported, ideally with or after IVIG/PLEX (CN consensus; caution wording D-lo).")
    ivmp_data: dict[str, Any] = {"when": plex_data["when"], "order": _ivmp_order(ivmp)}
    ivmp_ids = ivmp.parameters
    age = record.age
    if age is not None and age < int(params["dosing_adult_min_age_years"]):
        # the 500-1000 mg/day course is an adult dose: no draft order for a child (issue #15 F-6)
        ivmp_text += (f" Child ({age} y): this is an adult dose; the paediatric dose is by weight "
                      "(not computed here).")
        del ivmp_data["order"]
        ivmp_ids += ("dosing_adult_min_age_years",)
    findings.append(Finding("rescue.ivmp", ivmp_text, caution, parameters=ivmp_ids, data=ivmp_data))
    weight_set_aside, hct_set_aside = inputs.set_aside_of("weight"), inputs.set_aside_of("haematocrit")
    if w is None and weight_set_aside is not None:
        findings.append(Finding("data-gap.weight",
                                f"{unknown_now(weight_set_aside)} IVIG and plasma-volume doses are not computed; "
                                "record a current weight.",
                                "info", (set_aside_evidence(weight_set_aside),), ("dosing_weight_max_age_days",),
                                {**weight_set_aside.as_data(), "stops": "ivig-plex"}))
    elif w is None:
        findings.append(Finding("data-gap.weight",
                                "No body weight recorded recently: IVIG and plasma-volume doses are not computed.",
                                "info", parameters=("dosing_weight_max_age_days",)))
    elif hct is None and hct_set_aside is not None:
        findings.append(Finding("data-gap.haematocrit",
                                f"{unknown_now(hct_set_aside)} The plasma volume (PLEX/LPE) is not computed; "
                                "record a current haematocrit.",
                                "info", (set_aside_evidence(hct_set_aside),), ("dosing_haematocrit_max_age_days",),
                                {**hct_set_aside.as_data(), "stops": "plasma-volume"}))
    elif hct is None:
        findings.append(Finding("data-gap.haematocrit",
                                f"No haematocrit in the last {params['dosing_haematocrit_max_age_days']} days: "
                                "plasma volume (PLEX/LPE) not computed.",
                                "info", parameters=("dosing_haematocrit_max_age_days",)))
    return tuple(findings)
