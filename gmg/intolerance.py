"""Criterion 3-3 of the Chinese consensus: conventional therapy not tolerated.

Guideline statement (CN consensus, criterion 3-3, tag D-hi for the structure): the patient "cannot
tolerate adverse events of conventional immunotherapy, so it cannot be continued at adequate dose
and duration, and MG-ADL >= 6". The criterion names no CTCAE grade (clinical-sources-2.md §1.1: CTCAE
appears only in the treatment goal, adverse events <= grade 1), so any grade is this project's design.
Project reading (gmg-rules.md §2, §9; design decisions, tag I, said on the card): an adverse event of CTCAE grade >=
`intolerance_grade_auto` attributed to a glucocorticoid or NSIST counts when the drug was then
stopped or reduced below its adequate dose; grade >= `intolerance_grade_with_record` counts only
with a clinician-recorded intolerance (AllergyIntolerance type "intolerance") for that drug.
The suspect drug is read by code. If adverse events or allergies could not be retrieved, the
criterion is unknown, never "not met".
"""

from __future__ import annotations

from dataclasses import dataclass

from .adequacy import GLUCOCORTICOID_RULE, NSIST_RULES, glucocorticoid_dose, nsist_dose
from .exposure import is_active_on
from .findings import Evidence, Finding
from .parameters import Parameters
from .record import PatientRecord
from .vocabulary import display, members

EVENT_KEYS = ("adverseEvents", "allergies")
INACTIVE = frozenset({"inactive", "resolved"})


@dataclass(frozen=True)
class IntoleranceAssessment:
    met: bool | None  # a qualifying intolerance (criterion 3-3 also needs criterion 2)
    drugs: frozenset[str]  # conventional drugs with a qualifying intolerance
    evidence: tuple[Evidence, ...]
    gaps: tuple[Finding, ...]
    parameters: tuple[str, ...] = ("intolerance_grade_auto", "intolerance_grade_with_record")


def conventional_drugs() -> frozenset[str]:
    return members("glucocorticoid") | members("nsist")


def current_dose_status(record: PatientRecord, params: Parameters, drug: str) -> tuple[bool | None, str | None]:
    """Whether the drug is taken today at an adequate dose: True, False (stopped, or below the
    adequate dose), or None when it is taken today at a dose that cannot be judged (no weight, no
    readable dose) - with the data-gap code that says what is missing."""
    group = members("glucocorticoid") if drug in members("glucocorticoid") else frozenset({drug})
    unknown: str | None = None
    for e in record.exposures:
        if e.ingredient not in group or e.route == "iv":
            continue
        if not is_active_on(e, record.today, record.today):
            continue
        if e.ingredient in members("glucocorticoid"):
            reading = glucocorticoid_dose(e, record, params)
        elif e.ingredient in NSIST_RULES:
            reading = nsist_dose(e, NSIST_RULES[e.ingredient], record, params)
        else:
            continue
        if reading.adequate:
            return True, None
        if reading.adequate is None:
            unknown = reading.gap or "data-gap.medication-dose"
    return (None, unknown) if unknown else (False, None)


def recorded_intolerances(record: PatientRecord, drug: str):
    return [
        i
        for i in record.intolerances
        if i.ingredient == drug and i.category == "intolerance" and i.clinical_status not in INACTIVE
    ]


def design_statement(params: Parameters) -> Evidence:
    """What the card says beside criterion 3-3: its grades are this service's, not the consensus's."""
    return Evidence(
        "intolerance threshold (this service's design)",
        f"the consensus names no CTCAE grade; this service treats grade ≥ {int(params['intolerance_grade_auto'])} "
        f"(or grade ≥ {int(params['intolerance_grade_with_record'])} with a clinician-recorded intolerance) "
        "as intolerance",
    )


def criterion_3_3(record: PatientRecord, params: Parameters) -> IntoleranceAssessment:
    auto = int(params["intolerance_grade_auto"])
    with_record = int(params["intolerance_grade_with_record"])
    conventional = conventional_drugs()
    qualifying: set[str] = set()
    evidence: list[Evidence] = []
    ungraded: list[Finding] = []
    for ev in record.adverse_events:
        drug = ev.ingredient
        if drug is None or drug not in conventional:
            continue
        if ev.grade is None:
            ungraded.append(
                Finding(
                    "data-gap.adverse-event-grade",
                    f"An adverse event attributed to {display(drug)} has no CTCAE grade or severity.",
                    evidence=(Evidence("adverse event", display(drug), ev.when, ev.source),),
                    data={"drug": drug},
                )
            )
            continue
        on_adequate, gap_code = current_dose_status(record, params, drug) if ev.grade >= auto else (None, None)
        if ev.grade >= auto and on_adequate is False:
            qualifying.add(drug)
            evidence.append(Evidence(f"adverse event, CTCAE grade {ev.grade}", display(drug), ev.when, ev.source))
        elif ev.grade >= auto and on_adequate is None and not recorded_intolerances(record, drug):
            # Still taken today, dose not judgeable: whether it was reduced below adequacy is unknown
            # (never concluded from missing data).
            ungraded.append(
                Finding(
                    gap_code or "data-gap.medication-dose",
                    f"A grade {ev.grade} adverse event is attributed to {display(drug)}, which is still taken: "
                    "without a readable dose per kg it is unknown whether it was reduced below the adequate "
                    "dose (criterion 3-3).",
                    evidence=(Evidence(f"adverse event, CTCAE grade {ev.grade}", display(drug), ev.when, ev.source),),
                    parameters=("intolerance_grade_auto",),
                    data={"drug": drug},
                )
            )
        elif ev.grade >= with_record and recorded_intolerances(record, drug):
            qualifying.add(drug)
            rec = recorded_intolerances(record, drug)[0]
            evidence.append(Evidence(f"adverse event, CTCAE grade {ev.grade}", display(drug), ev.when, ev.source))
            evidence.append(Evidence("recorded intolerance", display(drug), rec.recorded, rec.source))
    for i in record.intolerances:
        if i.ingredient not in conventional or i.category != "intolerance" or i.clinical_status in INACTIVE:
            continue
        if i.grade is not None and i.grade >= with_record and i.ingredient not in qualifying:
            qualifying.add(i.ingredient)
            evidence.append(Evidence(f"recorded intolerance, grade {i.grade}", display(i.ingredient), i.recorded, i.source))
    if qualifying:
        evidence.append(design_statement(params))
        return IntoleranceAssessment(True, frozenset(qualifying), tuple(evidence), ())
    gaps = list(ungraded)
    for key in EVENT_KEYS:
        if key in record.unavailable:
            gaps.append(
                Finding(
                    f"data-gap.unavailable.{key}",
                    f"{key} could not be retrieved: intolerance of conventional therapy (3-3) is unknown.",
                    data={"dataKind": key},
                )
            )
    return IntoleranceAssessment(None if gaps else False, frozenset(), (), tuple(gaps))


def intolerant_of(record: PatientRecord, params: Parameters) -> frozenset[str]:
    """Drugs not to suggest again (gmg-rules.md §9): a recorded intolerance/allergy or an event of
    grade >= `therapy_exclude_event_grade_min` - the options' own threshold, not criterion 3-3's."""
    grade_min = int(params["therapy_exclude_event_grade_min"])
    out = {i.ingredient for i in record.intolerances if i.clinical_status not in INACTIVE}
    out |= {e.ingredient for e in record.adverse_events if e.ingredient and e.grade is not None and e.grade >= grade_min}
    return frozenset(out)


__all__ = ["IntoleranceAssessment", "criterion_3_3", "intolerant_of", "GLUCOCORTICOID_RULE"]
