"""Other definitions of refractory MG, shown beside the Chinese consensus.

ICG 2016 (Sanders et al., Neurology 2016;87:419-425; wording tag K): "Refractory MG:
post-intervention status is unchanged or worse after corticosteroids and at least 2 other IS
agents, used in adequate doses for an adequate duration, with persistent symptoms or side effects
that limit functioning." Project reading (gmg-rules.md §9, tag I): only conventional NSISTs count
towards the 2 agents, each at the adequacy of §2; biologics do not count; PIS unchanged, worse or
exacerbation (U, W, E) as for criterion 3-1.

Japanese guideline 2022 (Murai et al., Clin Exp Neuroimmunol 2023; tag V): refractory MG is when,
despite a period of treatment with multiple oral immunotherapies, or oral immunotherapy combined
with repeated parenteral fast-acting treatment, there is insufficient improvement, or adequate
treatment cannot be continued because of side effects or burden. Project reading (tag I):
"multiple" = at least `jp2022_oral_agents_min` distinct oral agents (the oral glucocorticoid
counts as one), "a period" = each agent's minimum duration of §2 at any dose; "repeated
fast-acting" = criterion 3-4's count and window; "insufficient improvement" = latest PIS not MM or
better; "cannot be continued" = a qualifying intolerance (criterion 3-3 reading).
"""

from __future__ import annotations

from dataclasses import dataclass

from .adequacy import GLUCOCORTICOID_RULE, NSIST_RULES, ConventionalTherapy, maintenance_glucocorticoids, nsist_exposures
from .exposure import effective_end, merge_courses, was_taken
from .intolerance import IntoleranceAssessment
from .parameters import Parameters
from .record import CodedAssessment, MedicationExposure, PatientRecord
from .rescue import RescueAssessment

PIS_NOT_IMPROVED = frozenset({"U", "W", "E"})
PIS_GOAL = frozenset({"CSR", "PR", "MM", "MM-0", "MM-1", "MM-2", "MM-3"})


@dataclass(frozen=True)
class DefinitionResult:
    met: bool | None
    explanation: str
    parameters: tuple[str, ...]


def _all(*values: bool | None) -> bool | None:
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def icg2016(conventional: ConventionalTherapy, pis: CodedAssessment | None, params: Parameters) -> DefinitionResult:
    required = int(params["icg2016_nsist_required"])
    n_ok = sum(1 for n in conventional.nsists if n.status == "adequate")
    n_unknown = sum(1 for n in conventional.nsists if n.status == "unknown")
    steroid = conventional.steroid.status
    agents: bool | None
    if steroid == "adequate" and n_ok >= required:
        agents = True
    elif steroid in ("inadequate", "not-tried") or n_ok + n_unknown < required:
        agents = False
    else:
        agents = None
    if agents is False and any(g.code.startswith("data-gap.unavailable") for g in conventional.gaps):
        agents = None
    pis_ok = None if pis is None else pis.code in PIS_NOT_IMPROVED
    met = _all(agents, pis_ok)
    why = (
        f"steroid {steroid}, {n_ok} of {required} NSISTs adequate, "
        f"PIS {pis.code if pis else 'not recorded'}"
    )
    return DefinitionResult(met, why, ("icg2016_nsist_required",))


def _oral(e: MedicationExposure) -> bool:
    return e.route in (None, "oral")


def _agent_given_for_period(
    record: PatientRecord, exposures: list[MedicationExposure], weeks: int, gap_days: int
) -> bool | None:
    spans = []
    unknown = False
    for e in exposures:
        if not was_taken(e, record.today) or not _oral(e):
            continue
        end = effective_end(e, record.today)
        if end is None:
            unknown = True
            continue
        spans.append((e.start, end, e.source))
    courses = merge_courses(spans, gap_days, record.today)
    if any(c.days >= weeks * 7 for c in courses):
        return True
    return None if unknown else False


def jp2022(
    record: PatientRecord,
    params: Parameters,
    pis: CodedAssessment | None,
    intolerance: IntoleranceAssessment,
    rescue: RescueAssessment,
) -> DefinitionResult:
    gap_days = int(params["exposure_merge_gap_days"])
    agents: list[bool | None] = [
        _agent_given_for_period(
            record, maintenance_glucocorticoids(record), int(params[GLUCOCORTICOID_RULE.weeks_param]), gap_days
        )
    ]
    for ingredient, exps in nsist_exposures(record).items():
        rule = NSIST_RULES.get(ingredient)
        weeks = int(params[rule.weeks_param]) if rule else 24
        agents.append(_agent_given_for_period(record, exps, weeks, gap_days))
    n_ok = sum(1 for a in agents if a is True)
    n_unknown = sum(1 for a in agents if a is None)
    minimum = int(params["jp2022_oral_agents_min"])
    rescue_ok = len(rescue.counted) >= int(params["rescue_courses_min"])
    treatment: bool | None
    if n_ok >= minimum or (n_ok >= 1 and rescue_ok):
        treatment = True
    elif n_ok + n_unknown >= 1 and (n_ok + n_unknown >= minimum or rescue_ok or rescue.met is None):
        treatment = None
    else:
        treatment = False
    if treatment is not True and any(k in record.unavailable for k in ("medicationStatements", "medicationRequests")):
        treatment = None
    if intolerance.met:
        outcome: bool | None = True
    elif pis is not None and pis.code not in PIS_GOAL:
        outcome = True
    elif pis is not None and intolerance.met is False:
        outcome = False
    else:
        outcome = None
    met = _all(treatment, outcome)
    why = (
        f"{n_ok} oral agent(s) for their minimum period, "
        f"{len(rescue.counted)} rescue course(s), PIS {pis.code if pis else 'not recorded'}"
        + (", intolerance" if intolerance.met else "")
    )
    return DefinitionResult(met, why, ("jp2022_oral_agents_min", "rescue_courses_min", "rescue_window_days"))
