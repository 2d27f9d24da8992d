"""Adequate conventional immunotherapy (足量足疗程), the gate of criteria 3-1 and 3-2.

Guideline statement (CN consensus, "adequate dose and adequate duration", research §1.3): "a
glucocorticoid at 0.5-1.0 mg/kg/d plus at least one of the following non-steroidal
immunosuppressants at adequate dose and duration": azathioprine 1.5-2.5 mg/kg/d; methotrexate
15 mg (per week); mycophenolate mofetil 0.75-1.00 g twice daily; cyclophosphamide 400-800 mg/week
IV or 100 mg/d orally (cumulative 15 g); tacrolimus 2-3 mg/d with a blood (trough) concentration
>= 4.8 ng/ml; cyclosporine 2-4 mg/kg/d with a trough > 100 ng/ml (strict: the glyph reads 大于,
clinical-sources-2.md §1.1). Doses D-hi; minimum durations in weeks (glucocorticoid 8; tacrolimus
12; others 24) D-mid, the unit anchored on the glyph of eculizumab's "every 2 weeks"; cumulative
cyclophosphamide 15 g D-lo; the NSIST count ("at least one") D-mid. The consensus flags CYP3A4 for
tacrolimus (D-hi).
Project reading (gmg-rules.md §2, §9, tag I): a calcineurin-inhibitor course counts only if a
trough in range was measured during it; a strong CYP3A4 inducer active during the course is named
as the likely cause of a low level; each deficit is one `optimise.*` finding per drug; a datum
whose absence could change the answer is a `data-gap.*` finding and the answer is "unknown". Doses
per kg use the weight nearest the exposure (§2); when a weight recorded as near or nearer could not
be read or is implausible, that exposure's dose per kg is unknown (a `data-gap.weight` naming it),
never computed from a farther weight (gmg/measures.py).
All thresholds are parameters (gmg/parameters.toml).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from .exposure import (
    Course,
    daily_mg,
    effective_end,
    merge_courses,
    overlaps,
    was_taken,
    weekly_mg,
    weight_for,
)
from .findings import Evidence, Finding, one_per_drug
from .measures import SetAside, set_aside_evidence, unknown_near
from .parameters import Parameters
from .record import Measurement, MedicationExposure, PatientRecord
from .vocabulary import display, members

AdequacyStatus = Literal["adequate", "inadequate", "unknown", "not-tried"]
MEDICATION_KEYS = ("medicationStatements", "medicationRequests")


@dataclass(frozen=True)
class DoseRule:
    basis: Literal["mg/kg/d", "mg/d", "mg/wk"]
    dose_param: str
    weeks_param: str
    trough_concept: str | None = None
    trough_param: str | None = None

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(p for p in (self.dose_param, self.weeks_param, self.trough_param) if p)


GLUCOCORTICOID_RULE = DoseRule(
    "mg/kg/d", "adequacy_glucocorticoid_mg_per_kg_day_min", "adequacy_glucocorticoid_min_weeks"
)
NSIST_RULES: dict[str, DoseRule] = {
    "azathioprine": DoseRule(
        "mg/kg/d", "adequacy_azathioprine_mg_per_kg_day_min", "adequacy_azathioprine_min_weeks"
    ),
    "methotrexate": DoseRule(
        "mg/wk", "adequacy_methotrexate_mg_per_week_min", "adequacy_methotrexate_min_weeks"
    ),
    "mycophenolate-mofetil": DoseRule(
        "mg/d",
        "adequacy_mycophenolate_mofetil_mg_per_day_min",
        "adequacy_mycophenolate_mofetil_min_weeks",
    ),
    "mycophenolic-acid": DoseRule(
        "mg/d",
        "adequacy_mycophenolic_acid_mg_per_day_min",
        "adequacy_mycophenolate_mofetil_min_weeks",
    ),
    "tacrolimus": DoseRule(
        "mg/d",
        "adequacy_tacrolimus_mg_per_day_min",
        "adequacy_tacrolimus_min_weeks",
        "tacrolimus-trough",
        "adequacy_tacrolimus_trough_min_ng_ml",
    ),
    "cyclosporine": DoseRule(
        "mg/kg/d",
        "adequacy_cyclosporine_mg_per_kg_day_min",
        "adequacy_cyclosporine_min_weeks",
        "cyclosporine-trough",
        "adequacy_cyclosporine_trough_min_ng_ml",
    ),
}
CYCLOPHOSPHAMIDE_PARAMETERS = (
    "adequacy_cyclophosphamide_iv_mg_per_week_min",
    "adequacy_cyclophosphamide_oral_mg_per_day_min",
    "adequacy_cyclophosphamide_cumulative_g_min",
)


@dataclass(frozen=True)
class DoseReading:
    value: float | None  # in the rule's basis (prednisone equivalent for glucocorticoids)
    unit: str
    adequate: bool | None
    gap: str | None  # "data-gap.weight" | "data-gap.medication-dose" when value is None
    set_aside: SetAside | None = None  # the weight as near the exposure that could not be used


@dataclass(frozen=True)
class DrugAdequacy:
    """Whether one drug (or the glucocorticoid group) reached adequacy, and if not, why."""

    drug: str  # ingredient key, or "glucocorticoid" for the steroid group
    role: Literal["glucocorticoid", "nsist"]
    status: AdequacyStatus
    ingredients: frozenset[str]  # ingredients seen (for the group: e.g. {"prednisone"})
    adequate_since: date | None  # the day the minimum duration was reached
    course: Course | None  # the adequate course, else the latest course at adequate dose
    summary: str  # one line for the card
    deficits: tuple[Finding, ...] = ()
    gaps: tuple[Finding, ...] = ()
    reevaluate_on: date | None = None
    parameters: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConventionalTherapy:
    adequate: bool | None
    steroid: DrugAdequacy
    nsists: tuple[DrugAdequacy, ...]
    deficits: tuple[Finding, ...]  # per drug, plus optimise.add-nsist
    gaps: tuple[Finding, ...]  # only what could change the answer
    reevaluate_on: date | None
    first_start: date | None  # start of conventional immunotherapy (criterion 3-4)
    parameters: tuple[str, ...]

    @property
    def adequately_tried(self) -> frozenset[str]:
        out: set[str] = set()
        for d in (self.steroid, *self.nsists):
            if d.status == "adequate":
                out |= d.ingredients if d.role == "glucocorticoid" else {d.drug}
        return frozenset(out)


# -- dose readings -------------------------------------------------------------------------


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def glucocorticoid_dose(e: MedicationExposure, record: PatientRecord, params: Parameters) -> DoseReading:
    """Prednisone-equivalent mg/kg/d of a glucocorticoid exposure."""
    minimum = params[GLUCOCORTICOID_RULE.dose_param]
    factor = params["prednisone_equivalent"].get(e.ingredient)
    if factor is None:
        return DoseReading(None, "mg/kg/d", None, "data-gap.medication-dose")
    per_day = daily_mg(e)
    if per_day is None:
        if e.mg_per_kg_per_day is not None:
            value = e.mg_per_kg_per_day * factor
            return DoseReading(value, "mg/kg/d", value >= minimum, None)
        return DoseReading(None, "mg/kg/d", None, "data-gap.medication-dose")
    weight = weight_for(e, record)
    if weight.kg is None:
        return DoseReading(None, "mg/kg/d", None, "data-gap.weight", weight.set_aside)
    value = per_day * factor / weight.kg
    return DoseReading(value, "mg/kg/d", value >= minimum, None)


def nsist_dose(e: MedicationExposure, rule: DoseRule, record: PatientRecord, params: Parameters) -> DoseReading:
    minimum = params[rule.dose_param]
    if rule.basis == "mg/wk":
        value = weekly_mg(e)
    elif rule.basis == "mg/d":
        value = daily_mg(e)
    else:
        per_day = daily_mg(e)
        if per_day is None:
            value = e.mg_per_kg_per_day
        else:
            weight = weight_for(e, record)
            if weight.kg is None:
                return DoseReading(None, rule.basis, None, "data-gap.weight", weight.set_aside)
            value = per_day / weight.kg
    if value is None:
        return DoseReading(None, rule.basis, None, "data-gap.medication-dose")
    return DoseReading(value, rule.basis, value >= minimum, None)


def cyclophosphamide_dose(e: MedicationExposure, params: Parameters) -> DoseReading:
    """IV: mg/week (one infusion read as the weekly dose); oral: mg/day."""
    if e.route == "iv":
        value = e.mg_per_week if e.mg_per_week is not None else (
            e.dose_mg if e.kind == "administration" else None
        )
        if value is None:
            return DoseReading(None, "mg/wk", None, "data-gap.medication-dose")
        return DoseReading(value, "mg/wk", value >= params["adequacy_cyclophosphamide_iv_mg_per_week_min"], None)
    value = daily_mg(e)
    if value is None:
        return DoseReading(None, "mg/d", None, "data-gap.medication-dose")
    return DoseReading(value, "mg/d", value >= params["adequacy_cyclophosphamide_oral_mg_per_day_min"], None)


# -- findings helpers ------------------------------------------------------------------------


def _gap(code: str, drug: str, e: MedicationExposure | None, text: str, parameters: tuple[str, ...] = ()) -> Finding:
    evidence = (Evidence(display(drug), "exposure on record", e.start, e.source),) if e else ()
    return Finding(code, text, "info", evidence, parameters, {"drug": drug})


def _dose_gap(reading: DoseReading, drug: str, e: MedicationExposure) -> Finding:
    name = display(drug)
    if reading.gap == "data-gap.weight" and reading.set_aside is not None and e.start is not None:
        # a weight as near the exposure was set aside: this exposure's dose per kg is unknown
        taken = display(e.ingredient)
        text = f"{unknown_near(reading.set_aside, taken, e.start)} Its dose per kg cannot be judged."
        return Finding("data-gap.weight", text, "info",
                       (Evidence(taken, "exposure on record", e.start, e.source), set_aside_evidence(reading.set_aside)),
                       (), {"drug": drug})
    if reading.gap == "data-gap.weight":
        text = "No body weight on record: doses per kg (glucocorticoid, azathioprine, cyclosporine) cannot be judged."
        return Finding("data-gap.weight", text, "info", (), ())  # one missing datum, whatever the drug
    text = f"{name.capitalize()} from {e.start} has no structured dose: its adequacy cannot be judged."
    return _gap("data-gap.medication-dose", drug, e, text)


def _period_gap(drug: str, e: MedicationExposure) -> Finding:
    text = f"{display(drug).capitalize()} from {e.start} ({e.status}) has no end date: its duration is unknown."
    return _gap("data-gap.medication-period", drug, e, text)


# -- per drug --------------------------------------------------------------------------------


def _troughs(record: PatientRecord, concept: str, course_start: date, course_end: date) -> list:
    return [
        m
        for m in record.measurements_of(concept)
        if m.value is not None and course_start <= m.when <= course_end
    ]


def trough_in_range(m: Measurement, params: Parameters, parameter_id: str) -> bool:
    """A trough in the consensus range: by the parameter's comparator (tacrolimus >= 4.8, cyclosporine
    > 100 ng/mL, clinical-sources-2.md §2); a result reported as "> x" passes a strict threshold x."""
    if m.value is None or m.comparator in ("<", "<="):
        return False
    if params.passes(parameter_id, m.value):
        return True
    return m.comparator == ">" and m.value >= params[parameter_id]


def _inducers_during(record: PatientRecord, start: date, end: date) -> list[MedicationExposure]:
    inducers = members("cyp3a4-strong-inducer")
    return [
        e
        for e in record.exposures
        if (e.ingredient in inducers or "cyp3a4-strong-inducer" in e.drug_classes)
        and overlaps(e, start, end, record.today)
    ]


def evaluate_drug(
    record: PatientRecord,
    params: Parameters,
    drug: str,
    role: Literal["glucocorticoid", "nsist"],
    rule: DoseRule,
    exposures: list[MedicationExposure],
) -> DrugAdequacy:
    """Adequacy of one drug (or the glucocorticoid group) from its exposures."""
    today = record.today
    name = "glucocorticoid" if role == "glucocorticoid" else display(drug)
    kind = "steroid" if role == "glucocorticoid" else "nsist"
    taken = sorted((e for e in exposures if was_taken(e, today)), key=lambda e: e.start or today)
    ingredients = frozenset(e.ingredient for e in taken)
    if not taken:
        return DrugAdequacy(drug, role, "not-tried", frozenset(), None, None, f"{name}: none on record")

    minimum = params[rule.dose_param]
    min_days = int(params[rule.weeks_param]) * 7
    readings = [
        (e, glucocorticoid_dose(e, record, params) if role == "glucocorticoid" else nsist_dose(e, rule, record, params))
        for e in taken
    ]
    gaps: list[Finding] = []
    spans: list[tuple[date, date, str]] = []
    for e, r in readings:
        end = effective_end(e, today)
        if r.adequate is None:
            gaps.append(_dose_gap(r, drug, e))
        elif r.adequate and end is None:
            gaps.append(_period_gap(drug, e))
        elif r.adequate and e.start is not None and end is not None:
            spans.append((e.start, end, e.source))
    courses = merge_courses(spans, int(params["exposure_merge_gap_days"]), today)

    def level_of(course: Course) -> tuple[str, list]:
        if rule.trough_concept is None:
            return "n/a", []
        troughs = _troughs(record, rule.trough_concept, course.start, course.end)
        if any(trough_in_range(m, params, rule.trough_param) for m in troughs):
            return "ok", troughs
        return ("low" if troughs else "missing"), troughs

    adequate = [c for c in courses if c.days >= min_days and level_of(c)[0] in ("ok", "n/a")]
    parameters = rule.parameters
    if adequate:
        first = adequate[0]
        since = first.start + timedelta(days=min_days)
        summary = f"{name}: adequate ({first.weeks:.0f} weeks at adequate dose from {first.start})"
        return DrugAdequacy(drug, role, "adequate", ingredients, since, first, summary, parameters=parameters)

    latest_e, latest_r = readings[-1]
    deficits: list[Finding] = []
    reeval: list[date] = []
    unit = rule.basis
    if latest_r.adequate is False:
        assert latest_r.value is not None
        text = (
            f"{name.capitalize()} {_fmt(latest_r.value)} {unit} (from {latest_e.start}) is below the adequate "
            f"{_fmt(minimum)} {unit}; adequacy then needs {min_days // 7} weeks at that dose."
        )
        deficits.append(
            Finding(
                f"optimise.{kind}-dose",
                text,
                "warning",
                (Evidence(f"{name} dose", f"{_fmt(latest_r.value)} {unit}", latest_e.start, latest_e.source),),
                (rule.dose_param, rule.weeks_param),
                {"drug": drug, "dose": round(latest_r.value, 3), "unit": unit, "minimum": minimum},
            )
        )
        reeval.append(today + timedelta(days=min_days))
    course = courses[-1] if courses else None
    if course is not None and course.days < min_days and latest_r.adequate:
        due = course.start + timedelta(days=min_days) if course.ongoing else today + timedelta(days=min_days)
        state = "ongoing" if course.ongoing else f"stopped {course.end}"
        text = (
            f"{name.capitalize()} at adequate dose for {course.weeks:.0f} of {min_days // 7} weeks "
            f"(from {course.start}, {state}); adequate duration reached on {due}."
        )
        deficits.append(
            Finding(
                f"optimise.{kind}-duration",
                text,
                "warning",
                (Evidence(f"{name} course", f"{course.weeks:.0f} weeks", course.start, course.sources[0]),),
                (rule.weeks_param,),
                {"drug": drug, "weeks": round(course.weeks, 1), "minimumWeeks": min_days // 7, "dueOn": due.isoformat()},
            )
        )
        reeval.append(due)
    if rule.trough_concept is not None:
        window_start = course.start if course else (latest_e.start or today)
        window_end = course.end if course else (effective_end(latest_e, today) or today)
        probe = Course(window_start, window_end, window_end >= today, (latest_e.source,))
        level, troughs = level_of(probe)
        trough_min = params[rule.trough_param]
        comparator = params.entry(rule.trough_param).comparator or ">="
        if level == "low":
            last = max(troughs, key=lambda m: m.when)
            short_of = "is below" if comparator == ">=" else "is not above"
            deficits.append(
                Finding(
                    "optimise.nsist-level",
                    f"{name.capitalize()} trough {_fmt(last.value)} {last.unit or 'ng/mL'} ({last.when}) {short_of} "
                    f"{_fmt(trough_min)} ng/mL; no trough in range during the course.",
                    "warning",
                    tuple(Evidence(f"{name} trough", f"{_fmt(m.value)} {m.unit or ''}".strip(), m.when, m.source) for m in troughs),
                    (rule.trough_param,),
                    {"drug": drug, "trough": last.value, "minimum": trough_min},
                )
            )
            reeval.append(today + timedelta(days=min_days))
            for inducer in _inducers_during(record, window_start, window_end):
                deficits.append(
                    Finding(
                        "optimise.cyp3a4-inducer",
                        f"{display(inducer.ingredient).capitalize()} (strong CYP3A4 inducer, from {inducer.start}) "
                        f"is the likely cause of the low {name} level: review the co-medication.",
                        "warning",
                        (Evidence("CYP3A4 inducer", display(inducer.ingredient), inducer.start, inducer.source),),
                        (rule.trough_param,),
                        {"drug": drug, "inducer": inducer.ingredient},
                    )
                )
        elif level == "missing":
            missing_level = _gap(
                "data-gap.drug-level",
                drug,
                latest_e,
                f"No {name} trough level during the course from {window_start}: adequacy needs a trough "
                f"{comparator} {_fmt(trough_min)} ng/mL.",
                (rule.trough_param,),
            )
            # A missing level decides nothing when the dose or the duration already falls short (the
            # drug is not adequate whatever the level): it is said with the deficits (a trough is
            # still needed), and the drug is "inadequate", not "unknown" - so the other drugs'
            # deficits are shown instead of an indeterminate status (gmg-rules.md §9).
            (deficits if deficits else gaps).append(missing_level)
    status: AdequacyStatus = "unknown" if gaps else "inadequate"
    summary = f"{name}: " + ("adequacy unknown" if gaps else "not adequate") + (
        f" (latest {_fmt(latest_r.value)} {unit} from {latest_e.start})" if latest_r.value is not None else ""
    )
    return DrugAdequacy(
        drug,
        role,
        status,
        ingredients,
        None,
        course,
        summary,
        one_per_drug(deficits),
        one_per_drug(gaps),
        max(reeval) if reeval else None,
        parameters,
    )


def evaluate_cyclophosphamide(record: PatientRecord, params: Parameters, exposures: list[MedicationExposure]) -> DrugAdequacy:
    """Cyclophosphamide: adequate dose, and a cumulative dose of at least 15 g (D-lo)."""
    today = record.today
    drug = "cyclophosphamide"
    taken = sorted((e for e in exposures if was_taken(e, today)), key=lambda e: e.start or today)
    if not taken:
        return DrugAdequacy(drug, "nsist", "not-tried", frozenset(), None, None, "cyclophosphamide: none on record")
    target_mg = float(params["adequacy_cyclophosphamide_cumulative_g_min"]) * 1000
    cumulative = 0.0
    gaps: list[Finding] = []
    for e in taken:
        end = effective_end(e, today)
        if e.kind == "administration" and e.dose_mg is not None:
            cumulative += e.dose_mg
        elif daily_mg(e) is not None and end is not None and e.start is not None:
            cumulative += (daily_mg(e) or 0.0) * ((end - e.start).days + 1)
        elif end is None:
            gaps.append(_period_gap(drug, e))
        else:
            gaps.append(_gap("data-gap.medication-dose", drug, e, f"Cyclophosphamide from {e.start} has no structured dose."))
    latest = taken[-1]
    latest_r = cyclophosphamide_dose(latest, params)
    if cumulative >= target_mg and latest_r.adequate is not False:
        return DrugAdequacy(
            drug, "nsist", "adequate", frozenset({drug}), today, None,
            f"cyclophosphamide: adequate (cumulative {cumulative / 1000:.1f} g)",
            parameters=CYCLOPHOSPHAMIDE_PARAMETERS,
        )
    deficits: list[Finding] = []
    if latest_r.adequate is False and latest_r.value is not None:
        deficits.append(
            Finding(
                "optimise.nsist-dose",
                f"Cyclophosphamide {_fmt(latest_r.value)} {latest_r.unit} (from {latest.start}) is below the adequate dose.",
                "warning",
                (Evidence("cyclophosphamide dose", f"{_fmt(latest_r.value)} {latest_r.unit}", latest.start, latest.source),),
                CYCLOPHOSPHAMIDE_PARAMETERS[:2],
                {"drug": drug},
            )
        )
    elif latest_r.adequate is None:
        gaps.append(_gap(latest_r.gap or "data-gap.medication-dose", drug, latest, "Cyclophosphamide dose unknown."))
    if cumulative < target_mg:
        deficits.append(
            Finding(
                "optimise.nsist-duration",
                f"Cyclophosphamide cumulative dose {cumulative / 1000:.1f} g of {target_mg / 1000:.0f} g.",
                "warning",
                (Evidence("cyclophosphamide cumulative", f"{cumulative / 1000:.1f} g", latest.start, latest.source),),
                ("adequacy_cyclophosphamide_cumulative_g_min",),
                {"drug": drug, "cumulativeG": round(cumulative / 1000, 2)},
            )
        )
    status: AdequacyStatus = "unknown" if gaps else "inadequate"
    return DrugAdequacy(
        drug, "nsist", status, frozenset({drug}), None, None,
        f"cyclophosphamide: {'adequacy unknown' if gaps else 'not adequate'} (cumulative {cumulative / 1000:.1f} g)",
        one_per_drug(deficits), one_per_drug(gaps), None, CYCLOPHOSPHAMIDE_PARAMETERS,
    )


# -- conventional therapy as a whole ---------------------------------------------------------


def maintenance_glucocorticoids(record: PatientRecord) -> list[MedicationExposure]:
    """Glucocorticoid exposures other than IV pulses (IV methylprednisolone is rescue, §2 3-4)."""
    group = members("glucocorticoid")
    return [
        e
        for e in record.exposures
        if (e.ingredient in group or "glucocorticoid" in e.drug_classes) and e.route != "iv"
    ]


def nsist_exposures(record: PatientRecord) -> dict[str, list[MedicationExposure]]:
    group = members("nsist")
    out: dict[str, list[MedicationExposure]] = {}
    for e in record.exposures:
        if e.ingredient in group or "nsist" in e.drug_classes:
            out.setdefault(e.ingredient, []).append(e)
    return out


def conventional_therapy(record: PatientRecord, params: Parameters) -> ConventionalTherapy:
    """Glucocorticoid plus at least `nsist_required` NSIST, each adequate (CN consensus §1.3)."""
    today = record.today
    steroid = evaluate_drug(
        record, params, "glucocorticoid", "glucocorticoid", GLUCOCORTICOID_RULE, maintenance_glucocorticoids(record)
    )
    nsists: list[DrugAdequacy] = []
    for ingredient, exps in sorted(nsist_exposures(record).items()):
        if ingredient == "cyclophosphamide":
            nsists.append(evaluate_cyclophosphamide(record, params, exps))
        elif ingredient in NSIST_RULES:
            nsists.append(evaluate_drug(record, params, ingredient, "nsist", NSIST_RULES[ingredient], exps))
    nsists = [n for n in nsists if n.status != "not-tried"]
    required = int(params["nsist_required"])
    n_adequate = sum(1 for n in nsists if n.status == "adequate")
    n_unknown = sum(1 for n in nsists if n.status == "unknown")
    parameters = ("nsist_required",) + steroid.parameters

    deficits: list[Finding] = list(steroid.deficits)
    if steroid.status == "not-tried":
        deficits.append(
            Finding(
                "optimise.steroid-dose",
                "No maintenance glucocorticoid on record: conventional therapy starts with "
                f"{_fmt(params[GLUCOCORTICOID_RULE.dose_param])} mg/kg/d prednisone equivalent.",
                "warning",
                parameters=(GLUCOCORTICOID_RULE.dose_param, GLUCOCORTICOID_RULE.weeks_param),
                data={"drug": "glucocorticoid"},
            )
        )
    for n in nsists:
        deficits.extend(n.deficits)
    reeval = [d for d in (steroid.reevaluate_on, *(n.reevaluate_on for n in nsists)) if d]
    if len(nsists) < required and n_adequate < required:
        fastest = min(int(params[r.weeks_param]) for r in NSIST_RULES.values())
        due = today + timedelta(days=fastest * 7)
        deficits.append(
            Finding(
                "optimise.add-nsist",
                f"{len(nsists)} non-steroidal immunosuppressant(s) on record, {required} needed at adequate dose "
                "and duration (e.g. azathioprine, tacrolimus, mycophenolate).",
                "warning",
                parameters=("nsist_required",),
                data={"tried": len(nsists), "required": required, "dueOn": due.isoformat()},
            )
        )
        reeval.append(due)
    if steroid.status == "not-tried":
        reeval.append(today + timedelta(days=int(params[GLUCOCORTICOID_RULE.weeks_param]) * 7))

    adequate: bool | None
    if steroid.status == "adequate" and n_adequate >= required:
        adequate = True
    elif steroid.status in ("inadequate", "not-tried") or n_adequate + n_unknown < required:
        adequate = False
    else:
        adequate = None
    gaps: list[Finding] = []
    if adequate is None:
        gaps = list(steroid.gaps) + [g for n in nsists if n.status == "unknown" for g in n.gaps]
    if adequate is not True:
        for key in MEDICATION_KEYS:
            if key in record.unavailable:
                adequate = None
                gaps.append(
                    Finding(
                        f"data-gap.unavailable.{key}",
                        f"{key} could not be retrieved: medication history is incomplete.",
                        data={"dataKind": key},
                    )
                )
    starts = [
        e.start
        for e in maintenance_glucocorticoids(record) + [x for v in nsist_exposures(record).values() for x in v]
        if was_taken(e, today) and e.start is not None
    ]
    return ConventionalTherapy(
        adequate,
        steroid,
        tuple(nsists),
        one_per_drug(deficits) if adequate is not True else (),
        one_per_drug(gaps),
        max(reeval) if reeval and adequate is not True else None,
        min(starts) if starts else None,
        parameters,
    )
