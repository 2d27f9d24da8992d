"""Next-line therapy options for refractory gMG, by serotype, with doses for this patient.

Guideline statements implemented (gmg-rules.md §5, §9; background/clinical-research.md §1.8, §1.10):
- "AChR-Ab+ refractory gMG: C5 inhibitor (e.g. eculizumab), anti-CD20 mAb (e.g. rituximab), or
  another agent (e.g. tacrolimus) is recommended." (D-hi for the pairing)
- "MuSK-Ab+ refractory gMG: anti-CD20 mAb (e.g. rituximab) is recommended"; FcRn antagonists
  labelled for MuSK+ (rozanolixizumab, nipocalimab); inebilizumab; C5 inhibitors NOT indicated. (D-hi)
- Seronegative / unconfirmed: revalidate first; no serotype-restricted drug; trials; clinician
  review. (D-hi)
- Telitacicept (BLyS/APRIL), NMPA May 2025: adult AChR+ gMG with conventional therapy
  (clinical-sources-2.md S9); offered for AChR+ only where approved (regulatory region "cn"), its
  dose the phase 3 dose (K). Batoclimab: in the terminology (history, FcRn washout), never offered
  (no approval verified, S11).
- Thymectomy: thymoma not yet resected (D-hi); AChR+ without thymoma, age < 65 and disease < 5
  years (strict: "病程小于5年、年龄小于65岁", glyph-anchored, clinical-sources-2.md §1.1), not yet
  done: may be considered (D-hi). HSCT only after the main classes failed, in experienced centres
  (D-lo).
- §9 Options: a class the patient currently receives is current therapy, not suggested again; a
  drug with a recorded intolerance or a grade ≥ 3 event is not suggested; in pregnancy teratogens
  are never suggested, B-cell depletion is "avoid unless life-threatening", FcRn and C5 are
  specialist decisions, thymectomy is deferred until after delivery (I); with sepsis or a severe active infection C5/FcRn/B-cell starts are
  deferred.

When: the patient is refractory by the Chinese consensus (`cn_status == "met"`).
Then: one `therapy.<class>` finding per option in the consensus order (state suffixes
`.current`, `.intolerance`, `.pregnancy-avoid`, `.pregnancy-specialist`, `.deferred-infection`),
`therapy.c5-inhibitor.not-indicated` where a clinician might expect it, `therapy.thymectomy`
(`.deferred-pregnancy` in pregnancy, `.undetermined` when it cannot be judged),
`therapy.hsct`, `therapy.serotype-review`, `therapy.pregnancy-review`, and `data-gap.weight` /
`data-gap.height` when a dose cannot be computed. Each drug carries its dose, and a JSON `order`
(ingredient, dose in mg, route, timing) that the suggestion builders turn into a draft order.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Protocol

from . import dosing
from .dose_table import DrugOption, dose_for
from .drugs import DEFAULT_REGION, DRUGS, members_of_option
from .exposure import effective_end, is_active_on, was_taken
from .findings import Evidence, Finding
from .measures import set_aside_evidence, unknown_now
from .parameters import Parameters
from .prerequisites import B_CELL_OPTIONS, is_pregnant, prerequisites_for, severe_infection
from .record import MedicationExposure, PatientRecord
from .regimen import DrugNote

# --------------------------------------------------------------------------------------------
# What the options read from the assessment (gmg/assessment.py provides these fields)


class AssessmentView(Protocol):
    mg_status: str  # "no-mg" | "excluded" | "ocular-only" | "generalized"
    cn_status: str | None  # "met" | "not-met-..." | "indeterminate" | None
    serotype: str  # "achr" | "musk" | "lrp4" | "seronegative" | "unconfirmed" | "unknown"
    acute: bool
    adequately_tried: frozenset[str]
    intolerant_of: frozenset[str]


def is_refractory(assessment: AssessmentView) -> bool:
    return assessment.mg_status == "generalized" and assessment.cn_status == "met"


SEROTYPE_LABEL = {
    "achr": "AChR+",
    "musk": "MuSK+",
    "lrp4": "LRP4+",
    "seronegative": "seronegative (CBA)",
    "unconfirmed": "unconfirmed serotype",
    "unknown": "unknown serotype",
}

OPTION_TITLE = {
    "c5-inhibitor": "C5 inhibitor",
    "anti-cd20": "Anti-CD20 (rituximab)",
    "fcrn-antagonist": "FcRn antagonist",
    "anti-cd19": "Anti-CD19 (inebilizumab)",
    "blys-april": "BLyS/APRIL inhibitor (telitacicept)",
    "tacrolimus": "Tacrolimus",
}

# The consensus row per serotype, in its order (gmg-rules.md §5).
SEROTYPE_ROWS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "achr": (
        ("c5-inhibitor", ("eculizumab", "ravulizumab", "zilucoplan")),
        ("anti-cd20", ("rituximab",)),
        ("fcrn-antagonist", ("efgartigimod", "efgartigimod-hyaluronidase", "rozanolixizumab", "nipocalimab")),
        ("anti-cd19", ("inebilizumab",)),
        ("blys-april", ("telitacicept",)),  # approved in China only: offered by region
        ("tacrolimus", ("tacrolimus",)),
    ),
    "musk": (
        ("anti-cd20", ("rituximab",)),
        ("fcrn-antagonist", ("rozanolixizumab", "nipocalimab")),
        ("anti-cd19", ("inebilizumab",)),
    ),
}
# Serotypes without a consensus drug row: only drugs that are not serotype-restricted.
NON_RESTRICTED_ROW: tuple[tuple[str, tuple[str, ...]], ...] = (("tacrolimus", ("tacrolimus",)),)

WHY = {
    ("achr", "c5-inhibitor"): "AChR+ refractory gMG: the consensus recommends a C5 inhibitor (D-hi).",
    ("achr", "anti-cd20"): "AChR+ refractory gMG: the consensus names anti-CD20 rituximab (D-hi).",
    ("achr", "fcrn-antagonist"): "AChR+ gMG: FcRn antagonists are labelled for AChR+ and named as fast-acting/long-term options (D-hi).",
    ("achr", "anti-cd19"): "AChR+ gMG: inebilizumab is labelled for AChR+ gMG.",
    ("achr", "tacrolimus"): "AChR+ refractory gMG: the consensus names tacrolimus; not yet tried at adequate dose/level.",
    ("musk", "anti-cd20"): "MuSK+ refractory gMG: the consensus recommends rituximab first (D-hi); response is better than in AChR+.",
    ("musk", "fcrn-antagonist"): "MuSK+ gMG: rozanolixizumab and nipocalimab are labelled for MuSK+ (efgartigimod is not).",
    ("musk", "anti-cd19"): "MuSK+ gMG: inebilizumab is labelled for MuSK+ gMG.",
    ("achr", "blys-april"): "AChR+ gMG: telitacicept (BLyS/APRIL) is approved in China for adult AChR+ gMG with conventional therapy (NMPA, May 2025); it postdates the consensus.",
}

INFECTION_DEFERRED_OPTIONS = frozenset({"c5-inhibitor", "fcrn-antagonist", "anti-cd20", "anti-cd19", "blys-april"})
# The main classes whose failure opens HSCT, per serotype (gmg-rules.md §5).
MAIN_CLASSES = {"achr": ("c5-inhibitor", "anti-cd20", "fcrn-antagonist"), "musk": ("anti-cd20", "fcrn-antagonist")}

RITUXIMAB_EVIDENCE = (
    Evidence("Yale rituximab study (J Neurol Sci 2020), remission", "12/17 AChR+ vs 9/16 MuSK+"),
    Evidence("Time to remission", "441.4 ± 336.6 d AChR+ vs 230 ± 180.8 d MuSK+ (p = 0.049)"),
    Evidence("Relapse", "58.8% AChR+ vs 37.5% MuSK+"),
    Evidence("Monitoring", "CD19+ B cells and IgG/IgM/IgA every 3–6 months"),
)

# --------------------------------------------------------------------------------------------
# Patient state the options read


def current_ingredients(record: PatientRecord) -> frozenset[str]:
    return frozenset(e.ingredient for e in record.exposures if is_active_on(e, record.today, record.today))


def not_suggestible(record: PatientRecord, assessment: AssessmentView, params: Parameters) -> dict[str, str]:
    """Ingredient -> reference of a recorded intolerance or a grade ≥ N event on it."""
    grade_min = int(params["therapy_exclude_event_grade_min"])
    out: dict[str, str] = {}
    for i in record.intolerances:
        if i.clinical_status not in ("inactive", "resolved"):
            out.setdefault(i.ingredient, i.source)
    for ev in record.adverse_events:
        if ev.ingredient and ev.grade is not None and ev.grade >= grade_min:
            out.setdefault(ev.ingredient, ev.source)
    for ingredient in getattr(assessment, "intolerant_of", frozenset()) or frozenset():
        out.setdefault(ingredient, "assessment")
    return out


# --------------------------------------------------------------------------------------------
# The options


@dataclass(frozen=True)
class _Context:
    record: PatientRecord
    assessment: AssessmentView
    params: Parameters
    inputs: dosing.DosingInputs
    current: frozenset[str]
    blocked: dict[str, str]
    pregnant: bool
    infection: tuple[str, ...]
    serotype_evidence: tuple[Evidence, ...] = field(default_factory=tuple)
    region: str = DEFAULT_REGION  # the site's regulatory region (label facts, where a drug is offered)


def last_dose_within(e: MedicationExposure, today: date, days: int) -> date | None:
    """The last dose of an exposure that is not running today, when it lies within `days`.

    An interval-dosed biologic is given on single days (MedicationAdministration, or a course that
    ended): the patient is still on it until its dosing interval has passed."""
    if days <= 0 or not was_taken(e, today) or e.status == "stopped":
        return None  # a course stopped on purpose is no longer the patient's therapy
    last = effective_end(e, today)
    if last is None and e.kind == "administration":
        last = e.start
    if last is None or last > today or (today - last).days > days:
        return None
    return last


def _class_current(ctx: _Context, option: str, drugs: tuple[str, ...]) -> list[str]:
    """Drugs of the class the patient is on: running today, or (for an interval-dosed biologic)
    last given within `therapy_current_after_last_dose_days` of the class (gmg-rules.md §9)."""
    members = set(drugs) | members_of_option(option)
    windows = ctx.params["therapy_current_after_last_dose_days"]
    window = int(windows.get(option, 0)) if isinstance(windows, dict) else 0
    today = ctx.record.today
    out: set[str] = set()
    for e in ctx.record.exposures:
        if not (e.ingredient in members or option in e.drug_classes):
            continue
        if is_active_on(e, today, today) or last_dose_within(e, today, window) is not None:
            out.add(e.ingredient)
    return sorted(out)


def _class_previous(ctx: _Context, option: str, drugs: tuple[str, ...]) -> list[tuple[str, date]]:
    """Drugs of the class given before (not current): ingredient and the last known dose date."""
    members = set(drugs) | members_of_option(option)
    today = ctx.record.today
    last: dict[str, date] = {}
    for e in ctx.record.exposures:
        if not (e.ingredient in members or option in e.drug_classes) or not was_taken(e, today):
            continue
        when = effective_end(e, today) or e.start
        if when is not None and (e.ingredient not in last or when > last[e.ingredient]):
            last[e.ingredient] = when
    return sorted(last.items())


def _option_finding(ctx: _Context, rank: int, option: str, drugs: tuple[str, ...]) -> Finding | None:
    sero = ctx.assessment.serotype
    # tacrolimus: only when not yet tried adequately
    if option == "tacrolimus" and "tacrolimus" in (ctx.assessment.adequately_tried or frozenset()):
        return None
    current = _class_current(ctx, option, drugs)
    prereqs = prerequisites_for(option, drugs, ctx.record, ctx.params)
    options: list[DrugOption] = []
    for ingredient in drugs:
        if ingredient in ctx.blocked:
            options.append(DrugOption(ingredient, "intolerance", None, notes=(DrugNote(
                "intolerance",
                f"recorded intolerance or grade ≥ {ctx.params['therapy_exclude_event_grade_min']} event ({ctx.blocked[ingredient]})"),)))
            continue
        options.append(dose_for(ingredient, ctx.inputs, ctx.params, ctx.record.age, ctx.region))
    title = OPTION_TITLE[option]
    why = WHY.get((sero, option), f"{SEROTYPE_LABEL.get(sero, sero)} refractory gMG: {title} is not serotype-restricted.")
    suffix = ""
    state_text = ""
    if current:
        suffix, state_text = ".current", f"Current therapy ({', '.join(current)}): not suggested again; review response and dose."
        if option == "tacrolimus":
            t = dosing.tacrolimus_target(ctx.params)
            state_text += f" Target trough ≥ {t.target_trough_ng_ml:g} ng/mL."
    elif options and all(o.state == "intolerance" for o in options):
        suffix, state_text = ".intolerance", "Not suggested: intolerance or a severe adverse event is on record."
    elif ctx.pregnant and option in B_CELL_OPTIONS:
        suffix, state_text = ".pregnancy-avoid", "Pregnancy: avoid B-cell depletion unless life-threatening (neonatal B-cell depletion); not suggested."
    elif ctx.pregnant and option == "fcrn-antagonist":
        suffix, state_text = ".pregnancy-specialist", "Pregnancy: a specialist decision (FcRn antagonists reduce maternal IgG transfer); not suggested."
    elif ctx.pregnant and option == "c5-inhibitor":
        suffix, state_text = ".pregnancy-specialist", "Pregnancy: starting a C5 inhibitor is a specialist decision; not suggested."
    elif ctx.pregnant and option == "blys-april":
        suffix, state_text = ".pregnancy-specialist", "Pregnancy: telitacicept has not been studied in pregnancy; a specialist decision; not suggested."
    elif ctx.infection and option in INFECTION_DEFERRED_OPTIONS:
        suffix, state_text = ".deferred-infection", "Sepsis / severe active infection on record: defer the start until the infection is controlled; not suggested."
    if suffix:
        options = [o if o.state in ("intolerance", "not-labelled") else
                   replace(o, state="current" if suffix == ".current" and o.ingredient in current else "withheld",
                           orders=())
                   for o in options]
    previous = [] if current else _class_previous(ctx, option, drugs)
    if previous and suffix == "":
        state_text = ("Previously given: " + ", ".join(f"{ing} (last {d.isoformat()})" for ing, d in previous)
                      + "; review the response and why it was stopped before choosing this class again.")
    names = ", ".join(DRUGS[d].display for d in drugs)
    text = f"{title} ({names}): {why}" + (f" {state_text}" if state_text else "")
    evidence: tuple[Evidence, ...] = ctx.serotype_evidence
    if option == "anti-cd20":
        evidence = evidence + RITUXIMAB_EVIDENCE
    if option == "c5-inhibitor" and ctx.region == "cn" and "eculizumab" in drugs:
        # NMPA restricts eculizumab to refractory AChR+ gMG (clinical-sources-2.md S5); options are
        # only given to a refractory patient, so the label's condition is met - and said.
        evidence = evidence + (Evidence("eculizumab NMPA indication", "refractory AChR+ gMG (met: refractory by the CN consensus)"),)
    evidence = evidence + tuple(e for p in prereqs for e in p.evidence)
    params = tuple(dict.fromkeys(p for o in options for p in o.parameters))
    if current:
        params = params + ("therapy_current_after_last_dose_days",)
    if option == "tacrolimus":
        params = params + ("tacrolimus_target_trough_ng_ml",)
    return Finding(
        code=f"therapy.{option}{suffix}",
        text=text,
        indicator="info",
        evidence=evidence,
        parameters=tuple(dict.fromkeys(params)),
        data={
            "rank": rank,
            "option": option,
            "state": suffix[1:] if suffix else "suggested",
            "serotype": sero,
            "why": why,
            "drugs": [o.as_json(ctx.region) for o in options],
            "prerequisites": [p.as_json() for p in prereqs],
            "current": current or None,
            "previous": [{"ingredient": i, "last": d.isoformat()} for i, d in previous] or None,
            "previous_text": state_text if previous and suffix == "" else None,
        },
    )


def _c5_not_indicated(serotype: str) -> Finding:
    reason = {
        "musk": "C5 inhibitors are not indicated in MuSK+ gMG (complement plays no major role; not labelled).",
        "lrp4": "C5 inhibitors are labelled only for AChR+ gMG; LRP4+ is not covered.",
        "seronegative": "C5 inhibitors are labelled only for AChR+ gMG; not indicated when seronegative.",
        "unconfirmed": "C5 inhibitors are labelled only for AChR+ gMG; the serotype is unconfirmed (negative only by ELISA/RIPA or unknown method): revalidate by CBA first.",
    }[serotype]
    return Finding("therapy.c5-inhibitor.not-indicated", reason, "info",
                   data={"serotype": serotype, "drugs": ["eculizumab", "ravulizumab", "zilucoplan"]})


def _serotype_review(serotype: str) -> Finding:
    text = {
        "seronegative": "Seronegative (CBA-confirmed) refractory gMG: no serotype-restricted drug; clinician review and trials (efgartigimod's seronegative indication: check the current label).",
        "unconfirmed": "Serotype unconfirmed: revalidate AChR, MuSK and LRP4 by CBA before any serotype-restricted drug; clinician review and trials.",
        "lrp4": "LRP4+ refractory gMG: no consensus drug row and no labelled biologic; clinician review and trials.",
        "unknown": "No antibody result on record: test AChR, MuSK and LRP4 (CBA) before any serotype-restricted drug.",
    }[serotype]
    return Finding("therapy.serotype-review", text, "info", data={"serotype": serotype})


def _onset(record: PatientRecord) -> date | None:
    starts = [c.start for c in record.conditions_of("mg", "mg-generalized", "mg-thymoma", "mg-exacerbation",
                                                     "myasthenic-crisis", active_only=False) if c.start]
    return min(starts) if starts else None


def _years_between(a: date, b: date) -> int:
    return b.year - a.year - ((b.month, b.day) < (a.month, a.day))


def thymectomy_finding(record: PatientRecord, serotype: str, params: Parameters) -> Finding | None:
    """Thymoma not resected -> recommended (D-hi); AChR+, < 65 y, < 5 y disease -> may be considered
    (D-hi); in pregnancy either is deferred until after delivery, not offered (I: elective surgery
    waits for delivery)."""
    f = _thymectomy(record, serotype, params)
    if f is None or f.code != "therapy.thymectomy" or not is_pregnant(record):
        return f
    strength = f.data.get("strength")
    why = "thymoma not resected" if strength == "recommended" else "AChR+ without thymoma, within the age and disease-duration limits"
    evidence = f.evidence + ((Evidence("pregnancy", "on record", record.pregnancy.when, record.pregnancy.source),)
                             if record.pregnancy.source else ())
    return Finding(
        "therapy.thymectomy.deferred-pregnancy",
        f"Pregnancy on record: thymectomy ({why}) is deferred until after delivery; not offered now.",
        "info", evidence, f.parameters, {"strength": "deferred", "deferredStrength": strength},
    )


def _thymectomy(record: PatientRecord, serotype: str, params: Parameters) -> Finding | None:
    done = [p for p in record.procedures if p.concept == "thymectomy" and p.status in (None, "completed")]
    if done:
        return None
    thymoma = record.conditions_of("thymoma", "mg-thymoma")
    procedures_known = "procedures" not in record.unavailable
    if thymoma:
        if not procedures_known:
            return Finding("therapy.thymectomy.undetermined",
                           "Thymoma on record; surgical history could not be retrieved: confirm whether it was resected.",
                           data={"missing": ["procedures"]})
        return Finding("therapy.thymectomy",
                       "Thymoma on record and no thymectomy: thymectomy is recommended (CN consensus).",
                       evidence=tuple(Evidence("thymoma", c.concept, c.start, c.source) for c in thymoma),
                       data={"strength": "recommended"})
    if serotype != "achr":
        return None
    age, onset = record.age, _onset(record)
    missing = [n for n, v in (("age", age), ("MG onset date", onset)) if v is None]
    if not procedures_known:
        missing.append("surgical history")
    max_age = int(params["thymectomy_max_age_years"])
    max_years = int(params["thymectomy_max_disease_years"])
    ids = ("thymectomy_max_age_years", "thymectomy_max_disease_years")
    if missing:
        return Finding("therapy.thymectomy.undetermined",
                       f"Thymectomy (AChR+, no thymoma) cannot be judged: {', '.join(missing)} not on record.",
                       parameters=ids, data={"missing": missing})
    assert age is not None and onset is not None
    years = _years_between(onset, record.today)
    if params.passes("thymectomy_max_age_years", age) and params.passes("thymectomy_max_disease_years", years):
        return Finding(
            "therapy.thymectomy",
            f"AChR+ without thymoma, age {age} (< {max_age}) and disease {years} y (< {max_years}), no thymectomy on "
            "record: thymectomy may be considered (CN consensus; matches MGTX).",
            evidence=(Evidence("age", str(age)), Evidence("MG onset", onset.isoformat(), onset)),
            parameters=ids, data={"strength": "may-be-considered", "age": age, "diseaseYears": years},
        )
    return None


def hsct_finding(record: PatientRecord, serotype: str) -> Finding | None:
    classes = MAIN_CLASSES.get(serotype)
    if not classes:
        return None
    tried: dict[str, list[str]] = {c: [] for c in classes}
    for e in record.exposures:
        option = DRUGS[e.ingredient].option if e.ingredient in DRUGS else None
        for c in classes:
            if (option == c or c in e.drug_classes) and e.status not in ("entered-in-error", "cancelled", "draft", "not-taken"):
                tried[c].append(e.source)
    if not all(tried.values()):
        return None
    return Finding(
        "therapy.hsct",
        "Refractory after the main classes (" + ", ".join(OPTION_TITLE[c] for c in classes) + "): HSCT may be "
        "considered in an experienced centre (CN consensus, interim reading: verify against the published consensus).",
        evidence=tuple(Evidence(f"{c} tried", "on record", None, s[0]) for c, s in tried.items()),
        data={"classes_tried": list(classes)},
    )


def _data_gaps(inputs: dosing.DosingInputs, needs_weight: bool, needs_height: bool, params: Parameters) -> list[Finding]:
    out: list[Finding] = []
    weight_set_aside, height_set_aside = inputs.set_aside_of("weight"), inputs.set_aside_of("height")
    if needs_weight and inputs.weight_kg is None and weight_set_aside is not None:
        out.append(Finding("data-gap.weight",
                           f"{unknown_now(weight_set_aside)} Weight-based doses are not computed; record a current weight.",
                           "info", (set_aside_evidence(weight_set_aside),), ("dosing_weight_max_age_days",),
                           {**weight_set_aside.as_data(), "stops": "weight-based"}))
    elif needs_weight and inputs.weight_kg is None:
        out.append(Finding("data-gap.weight",
                           f"No body weight recorded in the last {params['dosing_weight_max_age_days']} days: "
                           "weight-based doses are not computed. Record a weight.",
                           "info", parameters=("dosing_weight_max_age_days",)))
    if needs_height and inputs.height_cm is None and height_set_aside is not None:
        out.append(Finding("data-gap.height",
                           f"{unknown_now(height_set_aside)} The rituximab 375 mg/m² (BSA) dose is not computed; "
                           "record a current height.",
                           "info", (set_aside_evidence(height_set_aside),), ("dosing_height_max_age_days",),
                           {**height_set_aside.as_data(), "stops": "bsa"}))
    elif needs_height and inputs.height_cm is None:
        out.append(Finding("data-gap.height",
                           "No height on record: the rituximab 375 mg/m² (BSA) dose is not computed.",
                           "info", parameters=("dosing_height_max_age_days",)))
    return out


def therapy_options(record: PatientRecord, assessment: AssessmentView, params: Parameters,
                    inputs: dosing.DosingInputs | None = None, region: str = DEFAULT_REGION) -> tuple[Finding, ...]:
    """The long-term options for a refractory patient (empty when not refractory).

    `inputs`: `dosing.dosing_inputs(record, params)` when the caller has it already (the card
    builders read it once per call for the options, the rapid options and the dosing basis).
    `region`: the site's regulatory region (gmg/drugs.py REGIONS): which label facts are shown and
    which drugs are offered (a drug approved elsewhere only is left out of the row)."""
    if not is_refractory(assessment):
        return ()
    serotype = assessment.serotype
    if inputs is None:
        inputs = dosing.dosing_inputs(record, params)
    ctx = _Context(
        record=record, assessment=assessment, params=params, inputs=inputs,
        current=current_ingredients(record), blocked=not_suggestible(record, assessment, params),
        pregnant=is_pregnant(record), infection=severe_infection(record),
        serotype_evidence=(Evidence("serotype", SEROTYPE_LABEL.get(serotype, serotype)),
                           Evidence("refractory (CN consensus)", "met")),
        region=region,
    )
    row = tuple((option, offered) for option, drugs in SEROTYPE_ROWS.get(serotype, NON_RESTRICTED_ROW)
                if (offered := tuple(d for d in drugs if DRUGS[d].offered(region))))
    findings: list[Finding] = []
    if serotype in ("musk", "lrp4", "seronegative", "unconfirmed", "unknown"):
        if serotype != "musk":
            findings.append(_serotype_review(serotype))
    for rank, (option, drugs) in enumerate(row, start=1):
        f = _option_finding(ctx, rank, option, drugs)
        if f is not None:
            findings.append(f)
    if serotype in ("musk", "lrp4", "seronegative", "unconfirmed"):
        findings.append(_c5_not_indicated(serotype))
    for extra in (thymectomy_finding(record, serotype, params), hsct_finding(record, serotype)):
        if extra is not None:
            findings.append(extra)
    if ctx.pregnant:
        findings.append(Finding(
            "therapy.pregnancy-review",
            "Pregnancy on record: mycophenolate, methotrexate and cyclophosphamide are never suggested; B-cell "
            "depletion avoided unless life-threatening; FcRn and C5 inhibitors are specialist decisions; thymectomy "
            "is deferred until after delivery. IVIG and PLEX remain acceptable for exacerbations.",
            "warning", data={"source": record.pregnancy.source} if record.pregnancy.source else {},
        ))
    drug_states = [d for f in findings for d in f.data.get("drugs", []) if isinstance(d, dict)]
    needs_weight = any(d.get("data_gap") == "weight" for d in drug_states)
    needs_height = any(d.get("data_gap") == "height" for d in drug_states)
    findings.extend(_data_gaps(inputs, needs_weight, needs_height, params))
    return tuple(findings)


def suggested_orders(findings: tuple[Finding, ...] | list[Finding]) -> list[dict[str, Any]]:
    """Every drug order the options propose (state "suggest"), in option order."""
    out: list[dict[str, Any]] = []
    for f in findings:
        for d in f.data.get("drugs", []) or []:
            if isinstance(d, dict) and d.get("state") == "suggest":
                out.extend(d.get("orders", []))
    return out


def prerequisite_orders(findings: tuple[Finding, ...] | list[Finding]) -> list[dict[str, str]]:
    """Missing labs and vaccines across the suggested options, each once."""
    seen: dict[tuple[str, str], dict[str, str]] = {}
    for f in findings:
        if f.data.get("state") not in ("suggested",):
            continue
        for p in f.data.get("prerequisites", []) or []:
            for o in p.get("orders", []) or []:
                seen.setdefault((o["kind"], o["concept"]), o)
    return list(seen.values())
