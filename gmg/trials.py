"""Trial matching: each trial's registry criteria, as data, evaluated against the record.

Rule implemented (gmg-rules.md §7): "Each criterion is pass, fail or unknown (missing data is never
a pass) ... Trials are data (one file per trial), not code. Outcome codes: trial.<NCT>.candidate
(all pass), trial.<NCT>.possible (no fail, some unknown), trial.<NCT>.excluded (a fail), each with
the deciding criteria, and for a time-limited exclusion the date it lapses." Criteria text:
background/clinical-research.md §6.1 (NCT05828225, all registry criteria) and §6.2.

Each file in gmg/trials/ holds one trial, checked against gmg/trial.schema.json when the service
starts (a broken file stops the start); each criterion has a `kind` from a small vocabulary
evaluated here (age_min, age_max, serotype_in, refractory, mgfa_class_in,
mg_adl_min_with_ocular_share, qmg_min, relapse_despite_therapy, pregnancy_absent,
condition_absent_within, infection_absent, drug_absent_within, procedure_absent_within, lab_max,
lab_max_times_uln, glucocorticoid_max_mg_per_day, therapy_stable_for, all_of, any_of, screening).

Project reading (gmg-rules.md §9, tag I): the MGFA class, MG-ADL and QMG criteria read the latest
value of the baseline window (`trial_baseline_max_age_days`) the way the assessment does
(gmg/unread.py `latest_value`): when a later value could not be read, the criterion is unknown
and names that value and its date; an older value never passes or fails it.

Design decision (I): criteria of kind `screening` (consent, investigator judgement, sponsor
laboratory, tests never coded in a chart) are always `unknown` and listed as "to confirm at
screening"; they do not by themselves turn a candidate into a possible, otherwise no trial could
ever be a candidate. Every other unknown does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, Callable

from jsonschema import Draft202012Validator

import terminology
from terminology import units

from . import exposure as exp
from .dosing import latest_within_days
from .findings import Evidence, Finding
from .parameters import Parameters
from .record import Measurement, PatientRecord
from .prerequisites import is_positive, is_pregnant
from .therapy import SEROTYPE_LABEL, AssessmentView
from .unread import Dated, latest_value, unread_evidence, unread_text

PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"


@dataclass(frozen=True)
class Criterion:
    id: str
    type: str  # "inclusion" | "exclusion"
    text: str
    kind: str
    args: dict[str, Any]
    text_zh: str | None = None  # the criterion in Simplified Chinese, for the card


@dataclass(frozen=True)
class Trial:
    nct: str
    title: str
    product: str
    status: str
    end_date: str | None  # as given ("2026-04-20", "2026-12")
    sources: tuple[str, ...]
    criteria: tuple[Criterion, ...]
    title_zh: str | None = None

    def criterion(self, criterion_id: str) -> Criterion | None:
        return next((c for c in self.criteria if c.id == criterion_id), None)

    def end_has_passed(self, today: date) -> bool:
        return bool(self.end_date) and self.end_date < today.isoformat()[: len(self.end_date or "")]


@dataclass(frozen=True)
class CriterionResult:
    id: str
    type: str
    text: str
    kind: str
    state: str  # pass | fail | unknown
    reason: str
    lapses_on: date | None = None  # a time-limited fail stops failing on this date
    evidence: tuple[Evidence, ...] = ()

    @property
    def at_screening(self) -> bool:
        return self.kind == "screening"

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "type": self.type, "state": self.state, "reason": self.reason}
        if self.lapses_on:
            out["lapses_on"] = self.lapses_on.isoformat()
        return out


@dataclass(frozen=True)
class TrialMatch:
    trial: Trial
    outcome: str  # candidate | possible | excluded
    results: tuple[CriterionResult, ...]
    deciding: tuple[CriterionResult, ...]
    lapses_on: date | None  # when every failing criterion is time-limited: the date the last one lapses
    finding: Finding


# --------------------------------------------------------------------------------------------
# Loading


def _criterion(raw: dict[str, Any]) -> Criterion:
    return Criterion(str(raw.get("id", "")), str(raw.get("type", "inclusion")), str(raw.get("text", "")),
                     str(raw["kind"]), dict(raw.get("args", {})), raw.get("text_zh") or None)


class TrialFileError(ValueError):
    """A trial file that does not follow gmg/trial.schema.json (or is not JSON)."""


TRIALS_FOLDER: Traversable = resources.files("gmg").joinpath("trials")


@lru_cache(maxsize=1)
def trial_schema() -> Draft202012Validator:
    schema = json.loads(resources.files("gmg").joinpath("trial.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def read_trial(name: str, text: str) -> Trial:
    """One trial file, checked against the schema: a clear error naming the file and the place."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise TrialFileError(f"trial file {name}: not JSON ({exc})") from exc
    errors = sorted(trial_schema().iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        where = "; ".join(f"{e.json_path}: {e.message}" for e in errors[:5])
        raise TrialFileError(f"trial file {name} does not follow gmg/trial.schema.json: {where}")
    return Trial(
        nct=doc["nct"], title=doc["title"], product=doc.get("product", ""), status=doc.get("status", ""),
        end_date=doc.get("end_date"), sources=tuple(doc.get("sources", ())),
        criteria=tuple(_criterion(c) for c in doc["criteria"]), title_zh=doc.get("title_zh") or None,
    )


@lru_cache(maxsize=1)
def load_trials() -> tuple[Trial, ...]:
    """Every trial file of gmg/trials/, checked (the service calls this when it starts)."""
    out: list[Trial] = []
    for entry in sorted(TRIALS_FOLDER.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".json"):
            out.append(read_trial(entry.name, entry.read_text(encoding="utf-8")))
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Evaluation of one criterion kind: (record, assessment, params, args) -> (state, reason, lapses_on, evidence)

Outcome = tuple[str, str, date | None, tuple[Evidence, ...]]
Evaluator = Callable[[PatientRecord, AssessmentView, Parameters, dict[str, Any]], Outcome]


def _r(state: str, reason: str, lapses: date | None = None, evidence: tuple[Evidence, ...] = ()) -> Outcome:
    return state, reason, lapses, evidence


def _window(params: Parameters) -> int:
    return int(params["trial_baseline_max_age_days"])


def _baseline(record: PatientRecord, kind: str, params: Parameters) -> tuple[Dated | None, Outcome | None]:
    """The latest MGFA class / MG-ADL / QMG of the baseline window as every rule reads it
    (gmg/unread.py): when a later one could not be read, the criterion is unknown and says which
    value on which date; an older value never decides it."""
    reading = latest_value(record, kind, _window(params))
    if reading.unread is not None:
        u = reading.unread
        return None, _r(UNKNOWN, f"the latest {unread_text(u)} does not read as one value",
                        evidence=(unread_evidence(u),))
    return reading.value, None



def age_min(record, assessment, params, args) -> Outcome:
    age = record.age
    if age is None:
        return _r(UNKNOWN, "no birth date")
    return _r(PASS if age >= args["years"] else FAIL, f"age {age} (≥ {args['years']} required)")


def age_max(record, assessment, params, args) -> Outcome:
    age = record.age
    if age is None:
        return _r(UNKNOWN, "no birth date")
    return _r(PASS if age <= args["years"] else FAIL, f"age {age} (≤ {args['years']} required)")


def serotype_in(record, assessment, params, args) -> Outcome:
    sero = assessment.serotype
    wanted = set(args["serotypes"])
    # serotypes as clinicians write them ("AChR+"), never as concept keys
    required = "/".join(SEROTYPE_LABEL.get(w, w) for w in sorted(wanted))
    if sero in ("unknown", "unconfirmed"):
        return _r(UNKNOWN, f"serotype {sero}")
    if sero not in wanted:
        return _r(FAIL, f"serotype {SEROTYPE_LABEL.get(sero, sero)} (requires {required})")
    within = args.get("result_within_days")
    if within:
        family = {"achr": ("achr", "achr-binding", "achr-blocking", "achr-modulating"), "musk": ("musk",), "lrp4": ("lrp4",)}
        targets = family.get(sero, (sero,))
        pos = [a for a in record.antibodies if a.target in targets and a.result == "positive"]
        recent = latest_within_days(pos, record.today, int(within))
        if recent is None:
            return _r(UNKNOWN, f"no positive result within {within} days")
        return _r(PASS, f"positive on {recent.when.isoformat()}",
                  evidence=(Evidence("antibody", recent.target, recent.when, recent.source),))
    return _r(PASS, f"serotype {SEROTYPE_LABEL.get(sero, sero)}")


def refractory(record, assessment, params, args) -> Outcome:
    status = assessment.cn_status
    if status == "met":
        return _r(PASS, "refractory by the Chinese consensus")
    if status and status.startswith("not-met"):
        return _r(FAIL, f"not refractory by the Chinese consensus ({status})")
    return _r(UNKNOWN, "refractory status indeterminate")


def mgfa_class_in(record, assessment, params, args) -> Outcome:
    latest, unread = _baseline(record, "mgfa-class", params)
    if unread is not None:
        return unread
    if latest is None:
        return _r(UNKNOWN, f"none in {_window(params)} days")
    ok = latest.code in args["classes"]
    return _r(PASS if ok else FAIL, f"MGFA class {latest.code} on {latest.when.isoformat()}",
              evidence=(Evidence("MGFA class", latest.code, latest.when, latest.source),))


def mg_adl_min_with_ocular_share(record, assessment, params, args) -> Outcome:
    latest, unread = _baseline(record, "mg-adl-total", params)
    if unread is not None:
        return unread
    if latest is None:
        return _r(UNKNOWN, f"none in {_window(params)} days")
    ev = (Evidence("MG-ADL total", str(latest.total), latest.when, latest.source),)
    if latest.total < args["min_total"]:
        return _r(FAIL, f"MG-ADL {latest.total} (< {args['min_total']})", evidence=ev)
    share_max = args.get("ocular_share_max")
    if share_max is None:
        return _r(PASS, f"MG-ADL {latest.total} (≥ {args['min_total']})", evidence=ev)
    share = latest.ocular_share
    if share is None:
        return _r(UNKNOWN, f"MG-ADL {latest.total}, items not recorded: ocular share unknown", evidence=ev)
    inclusive = bool(args.get("ocular_share_inclusive", False))
    ok = share <= share_max if inclusive else share < share_max
    return _r(PASS if ok else FAIL, f"MG-ADL {latest.total}, ocular share {share:.0%}", evidence=ev)


def qmg_min(record, assessment, params, args) -> Outcome:
    latest, unread = _baseline(record, "qmg-total", params)
    if unread is not None:
        return unread
    if latest is None:
        return _r(UNKNOWN, f"none in {_window(params)} days")
    ok = latest.value > args["min"] if args.get("strict") else latest.value >= args["min"]
    op = ">" if args.get("strict") else "≥"
    return _r(PASS if ok else FAIL, f"QMG {latest.value} ({op} {args['min']} required)",
              evidence=(Evidence("QMG", str(latest.value), latest.when, latest.source),))


@lru_cache(maxsize=256)
def _ingredient_keys(classes: tuple[str, ...], ingredients: tuple[str, ...]) -> frozenset[str]:
    """The ingredients of these drug classes plus the named ones (static vocabulary data)."""
    from .vocabulary import members

    keys = set(ingredients)
    for c in classes:
        keys |= members(c)
    return frozenset(keys)


def _exposures_of(record: PatientRecord, classes: list[str], ingredients: list[str] = ()) -> list:
    """Taken exposures to these classes or ingredients. The class lookup is done once per
    (classes, ingredients), and each exposure is tested with set operations, not new sets."""
    classes_t, ingredients_t = tuple(classes), tuple(ingredients)
    keys = _ingredient_keys(classes_t, ingredients_t)
    wanted = frozenset(classes_t)
    today = record.today
    return [e for e in record.exposures
            if (e.ingredient in keys or not wanted.isdisjoint(e.drug_classes)) and exp.was_taken(e, today)]


def relapse_despite_therapy(record, assessment, params, args) -> Outcome:
    on = _exposures_of(record, args["classes"])
    if not on:
        return _r(UNKNOWN, "no conventional therapy or rituximab on record")
    first = min(e.start for e in on if e.start)
    events = [c for c in record.conditions_of("mg-exacerbation", "myasthenic-crisis", active_only=False)
              if c.start and c.start >= first]
    pis = [p for p in record.pis if p.code in ("E", "W") and p.when >= first]
    rescues = [r for r in record.rescue_courses if r.start >= first]
    if events or pis or rescues:
        ev = tuple(Evidence("exacerbation", c.concept, c.start, c.source) for c in events) + tuple(
            Evidence("PIS", p.code, p.when, p.source) for p in pis) + tuple(
            Evidence("rescue course", r.modality, r.start, r.sources[0] if r.sources else None) for r in rescues)
        return _r(PASS, "exacerbation / worsening / rescue therapy after treatment start", evidence=ev)
    return _r(UNKNOWN, "no exacerbation recorded after treatment start")


def pregnancy_absent(record, assessment, params, args) -> Outcome:
    if is_pregnant(record):
        return _r(FAIL, "pregnant")
    if record.conditions_of("lactation"):
        return _r(FAIL, "lactating")
    if record.sex == "male":
        return _r(PASS, "male")
    if record.pregnancy.state == "not-pregnant":
        return _r(PASS, f"not pregnant ({record.pregnancy.when.isoformat() if record.pregnancy.when else 'date unknown'}); "
                        "lactation to confirm")
    return _r(UNKNOWN, "pregnancy status not recorded")


def condition_absent_within(record, assessment, params, args) -> Outcome:
    if "conditions" in record.unavailable:
        return _r(UNKNOWN, "problem list unavailable")
    found = [c for c in record.conditions_of(*args["concepts"]) if c.abatement is None]
    days = args.get("days")
    if days:
        found = [c for c in found if c.start is None or (record.today - c.start).days <= days]
    if found:
        return _r(FAIL, f"{found[0].concept} on the problem list",
                  evidence=tuple(Evidence(c.concept, "active", c.start, c.source) for c in found))
    return _r(PASS, "none on the problem list")


def infection_absent(record, assessment, params, args) -> Outcome:
    if "conditions" not in record.unavailable:
        active = record.conditions_of(*args.get("conditions", []))
        if active:
            return _r(FAIL, f"{active[0].concept} on the problem list",
                      evidence=(Evidence(active[0].concept, "active", active[0].start, active[0].source),))
    window = int(params["trial_infection_screen_max_age_days"])
    tests = {*args.get("fail_if_positive", []), *(x for g in args.get("pass_requires_negative", []) for x in g)}
    latest = {c: latest_within_days(record.measurements_of(c), record.today, window) for c in tests}
    for c in args.get("fail_if_positive", []):
        m = latest.get(c)
        if m is not None and is_positive(m):
            return _r(FAIL, f"{c} positive on {m.when.isoformat()}", evidence=(Evidence(c, "positive", m.when, m.source),))
    missing = [" or ".join(g) for g in args.get("pass_requires_negative", [])
               if not any(latest.get(c) is not None and is_positive(latest[c]) is False for c in g)]
    if missing or "conditions" in record.unavailable:
        return _r(UNKNOWN, "no negative result for " + ", ".join(missing) if missing else "problem list unavailable")
    return _r(PASS, "negative screening results")


def drug_absent_within(record, assessment, params, args) -> Outcome:
    if {"medicationStatements", "medicationRequests", "medicationAdministrations"} <= set(record.unavailable):
        return _r(UNKNOWN, "medication history unavailable")
    days = int(args["days"])
    since = record.today - timedelta(days=days)
    hits = [e for e in _exposures_of(record, args.get("classes", []), args.get("ingredients", []))
            if e.route not in ("inhaled", "topical") and exp.overlaps(e, since, record.today, record.today)]
    if not hits:
        return _r(PASS, f"none in the last {days} days")
    ev = tuple(Evidence(e.ingredient, e.status, e.start, e.source) for e in hits)
    ongoing = [e for e in hits if exp.is_active_on(e, record.today, record.today) and e.end is None]
    if ongoing:
        note = args.get("note") or f"lapses {days} days after stopping"
        return _r(FAIL, f"{ongoing[0].ingredient} ongoing: {note}", None, ev)
    ends = [exp.effective_end(e, record.today) for e in hits]
    if any(x is None for x in ends):
        return _r(FAIL, f"{hits[0].ingredient} in the last {days} days (end date unknown)", None, ev)
    last = max(x for x in ends if x is not None)
    return _r(FAIL, f"{hits[0].ingredient} until {last.isoformat()}", last + timedelta(days=days), ev)


def procedure_absent_within(record, assessment, params, args) -> Outcome:
    if "procedures" in record.unavailable:
        return _r(UNKNOWN, "surgical history unavailable")
    days = int(args["days"])
    found = [p for p in record.procedures if p.concept == args["concept"] and p.status in (None, "completed")]
    undated = [p for p in found if (p.end or p.start) is None]
    recent = [p for p in found if (p.end or p.start) and (record.today - (p.end or p.start)).days < days]
    if recent:
        last = max((p.end or p.start) for p in recent)
        return _r(FAIL, f"{args['concept']} on {last.isoformat()} (< {days} days)", last + timedelta(days=days),
                  tuple(Evidence(p.concept, "done", p.end or p.start, p.source) for p in recent))
    if undated:
        return _r(UNKNOWN, f"{args['concept']} on record without a date")
    return _r(PASS, f"no {args['concept']} in the last {days} days")


def _lab(record: PatientRecord, concept: str, params: Parameters) -> Measurement | None:
    exact = [x for x in record.measurements_of(concept) if x.value is not None]
    return latest_within_days(exact, record.today, _window(params))


def _in_unit(m: Measurement, concept: str, unit: str) -> float | None:
    if m.unit == unit:
        return m.value
    try:
        molar_mass = terminology.concept(concept).attribute("molar_mass_g_per_mol")
    except KeyError:
        molar_mass = None
    return units.convert(m.value, m.unit, unit, molar_mass=molar_mass)


def lab_max(record, assessment, params, args) -> Outcome:
    m = _lab(record, args["concept"], params)
    if m is None:
        return _r(UNKNOWN, f"no {args['concept']} in the last {_window(params)} days")
    value = _in_unit(m, args["concept"], args["unit"])
    if value is None:
        return _r(UNKNOWN, f"{args['concept']} in an unconvertible unit ({m.unit})")
    ev = (Evidence(args["concept"], f"{value:g} {args['unit']}", m.when, m.source),)
    return _r(PASS if value <= args["max"] else FAIL, f"{args['concept']} {value:g} {args['unit']} (limit {args['max']:g})",
              evidence=ev)


def lab_max_times_uln(record, assessment, params, args) -> Outcome:
    m = _lab(record, args["concept"], params)
    if m is None:
        return _r(UNKNOWN, f"no {args['concept']} in the last {_window(params)} days")
    if m.reference_high is None:
        return _r(UNKNOWN, f"{args['concept']} {m.value:g} without an upper reference limit")
    limit = args["times"] * m.reference_high
    ev = (Evidence(args["concept"], f"{m.value:g} {m.unit or ''}".strip(), m.when, m.source),)
    return _r(PASS if m.value <= limit else FAIL,
              f"{args['concept']} {m.value:g} (limit {args['times']} × ULN = {limit:g})", evidence=ev)


def glucocorticoid_max_mg_per_day(record, assessment, params, args) -> Outcome:
    factors = params["prednisone_equivalent"]
    active = [e for e in _exposures_of(record, ["glucocorticoid"]) if exp.is_active_on(e, record.today, record.today)]
    total = 0.0
    for e in active:
        mg = exp.daily_mg(e)
        factor = factors.get(e.ingredient)
        if mg is None or factor is None:
            return _r(UNKNOWN, f"{e.ingredient}: daily dose or prednisone equivalent not known")
        total += mg * factor
    return _r(PASS if total <= args["max"] else FAIL, f"prednisone equivalent {total:g} mg/day (≤ {args['max']} required)")


def therapy_stable_for(record, assessment, params, args) -> Outcome:
    days = int(args["days"])
    active = [e for e in _exposures_of(record, args["classes"]) if exp.is_active_on(e, record.today, record.today)]
    if not active:
        return _r(PASS, f"no current {'/'.join(args['classes'])}")
    starts = [e.start for e in active]
    if any(s is None for s in starts):
        return _r(UNKNOWN, "start date of current therapy unknown")
    latest = max(s for s in starts if s is not None)
    if (record.today - latest).days >= days:
        return _r(PASS, f"unchanged since {latest.isoformat()}")
    return _r(FAIL, f"changed on {latest.isoformat()} (< {days} days)", latest + timedelta(days=days))


def screening(record, assessment, params, args) -> Outcome:
    return _r(UNKNOWN, "to confirm at screening (not assessable from the record)")


def _combine(record, assessment, params, args, mode: str) -> Outcome:
    parts = [EVALUATORS[c["kind"]](record, assessment, params, c.get("args", {})) for c in args["criteria"]]
    states = [p[0] for p in parts]
    ev = tuple(e for p in parts for e in p[3])

    def reasons(state: str | None = None) -> str:
        """The reasons of the parts that decided it (all parts when `state` is None)."""
        return "; ".join(p[1] for p in parts if state is None or p[0] == state)

    if mode == "all":  # said by what fails, else by what is unknown ("age 72 (≤ 65 required)")
        fails = [p for p in parts if p[0] == FAIL]
        if fails:
            lapses = [p[2] for p in fails]
            return _r(FAIL, reasons(FAIL), max(lapses) if all(lapses) else None, ev)  # type: ignore[type-var]
        if all(s == PASS for s in states):
            return _r(PASS, reasons(), None, ev)
        return _r(UNKNOWN, reasons(UNKNOWN), None, ev)
    if PASS in states:
        return _r(PASS, reasons(PASS), None, ev)
    if all(s == FAIL for s in states):
        lapses = [p[2] for p in parts]
        return _r(FAIL, reasons(), min(lapses) if all(lapses) else None, ev)  # type: ignore[type-var]
    return _r(UNKNOWN, reasons(UNKNOWN), None, ev)


EVALUATORS: dict[str, Evaluator] = {
    "age_min": age_min,
    "age_max": age_max,
    "serotype_in": serotype_in,
    "refractory": refractory,
    "mgfa_class_in": mgfa_class_in,
    "mg_adl_min_with_ocular_share": mg_adl_min_with_ocular_share,
    "qmg_min": qmg_min,
    "relapse_despite_therapy": relapse_despite_therapy,
    "pregnancy_absent": pregnancy_absent,
    "condition_absent_within": condition_absent_within,
    "infection_absent": infection_absent,
    "drug_absent_within": drug_absent_within,
    "procedure_absent_within": procedure_absent_within,
    "lab_max": lab_max,
    "lab_max_times_uln": lab_max_times_uln,
    "glucocorticoid_max_mg_per_day": glucocorticoid_max_mg_per_day,
    "therapy_stable_for": therapy_stable_for,
    "screening": screening,
    "all_of": lambda r, a, p, args: _combine(r, a, p, args, "all"),
    "any_of": lambda r, a, p, args: _combine(r, a, p, args, "any"),
}


def evaluate(criterion: Criterion, record: PatientRecord, assessment: AssessmentView, params: Parameters) -> CriterionResult:
    evaluator = EVALUATORS.get(criterion.kind)
    if evaluator is None:
        state, reason, lapses, ev = UNKNOWN, f"criterion kind {criterion.kind!r} not evaluated", None, ()
    else:
        try:
            state, reason, lapses, ev = evaluator(record, assessment, params, criterion.args)
        except (KeyError, TypeError, ValueError):  # a malformed trial file never crashes a card
            state, reason, lapses, ev = UNKNOWN, "criterion could not be evaluated", None, ()
    return CriterionResult(criterion.id, criterion.type, criterion.text, criterion.kind, state, reason, lapses, ev)


# --------------------------------------------------------------------------------------------
# Outcome


def match_trial(trial: Trial, record: PatientRecord, assessment: AssessmentView, params: Parameters) -> TrialMatch:
    results = tuple(evaluate(c, record, assessment, params) for c in trial.criteria)
    fails = tuple(r for r in results if r.state == FAIL)
    unknowns = tuple(r for r in results if r.state == UNKNOWN and not r.at_screening)
    screening_items = [r.id for r in results if r.at_screening]
    lapses_on: date | None = None
    if fails:
        outcome, deciding = "excluded", fails
        if all(r.lapses_on for r in fails):
            lapses_on = max(r.lapses_on for r in fails if r.lapses_on)
    elif unknowns:
        outcome, deciding = "possible", unknowns
    else:
        outcome, deciding = "candidate", ()
    why = "; ".join(f"{r.id} {r.reason}" for r in deciding)
    text = {
        "excluded": f"{trial.nct} ({trial.product}): excluded — {why}."
                    + (f" Time-limited: re-check from {lapses_on.isoformat()}." if lapses_on else ""),
        "possible": f"{trial.nct} ({trial.product}): possible — unknown: {why}.",
        "candidate": f"{trial.nct} ({trial.product}): candidate — every criterion checkable from the record passes.",
    }[outcome]
    if screening_items:
        text += f" To confirm at screening: {', '.join(screening_items)}."
    status_note = f"registry status {trial.status}" + (
        f"; planned end {trial.end_date} has passed: verify recruitment" if trial.end_has_passed(record.today) else "")
    finding = Finding(
        code=f"trial.{trial.nct}.{outcome}",
        text=text,
        indicator="info",
        evidence=tuple(e for r in deciding for e in r.evidence),
        parameters=("trial_baseline_max_age_days",),
        data={
            "nct": trial.nct,
            "title": trial.title,
            "outcome": outcome,
            "deciding": [r.id for r in deciding],
            "lapses_on": lapses_on.isoformat() if lapses_on else None,
            "status": status_note,
            "criteria": [r.as_json() for r in results],
        },
    )
    return TrialMatch(trial, outcome, results, deciding, lapses_on, finding)


OUTCOME_ORDER = {"candidate": 0, "possible": 1, "excluded": 2}


def match_trials(record: PatientRecord, assessment: AssessmentView, params: Parameters) -> tuple[TrialMatch, ...]:
    """Every trial on file against a generalized-MG patient: candidates, then possibles, then excluded."""
    if assessment.mg_status != "generalized":
        return ()
    matches = [match_trial(t, record, assessment, params) for t in load_trials()]
    return tuple(sorted(matches, key=lambda m: (OUTCOME_ORDER[m.outcome], m.trial.nct)))
