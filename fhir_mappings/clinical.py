"""Patient, Condition, Procedure and Immunization -> record facts.

Only resources whose code is a known concept of the right domain are model-parsed; the rest of
the chart is passed over on the dict. Entered-in-error resources are left out with a note.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.immunization import Immunization
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.procedure import Procedure

import terminology
from gmg.record import ConditionFact, ImmunizationFact, ProcedureFact
from terminology import systems

from .common import (
    MappingContext,
    codings_of,
    day_of as _day,
    matching_code,
    recognised,
    source_of,
    status_code,
    validate,
)


# -- Patient ---------------------------------------------------------------------------------


def map_patient(raws: list[dict[str, Any]], ctx: MappingContext) -> tuple[date | None, str | None]:
    """(birth date, administrative gender) of the patient; (None, None) when not on record."""
    for raw in raws:
        source = source_of(raw, "prefetch:patient")
        patient = validate(Patient, raw, source, ctx)
        if patient is None:
            continue
        birth = _day(ctx, patient.birthDate, source, "birth date")
        gender = patient.gender if isinstance(patient.gender, str) else None
        return birth, gender
    return None, None


# -- Condition -------------------------------------------------------------------------------


def map_conditions(raws: list[dict[str, Any]], ctx: MappingContext) -> list[ConditionFact]:
    out: list[ConditionFact] = []

    def withdrawn(raw: dict[str, Any]) -> str | None:
        if status_code(raw.get("verificationStatus")) == "entered-in-error":
            return "condition entered in error; left out"
        return None

    for concept, source, cond in recognised(raws, "code", "conditions", "conditions", Condition, ctx, withdrawn):
        onset_value: Any = cond.onsetDateTime
        if onset_value is None and cond.onsetPeriod is not None:
            onset_value = cond.onsetPeriod.start
        abatement_value: Any = cond.abatementDateTime
        if abatement_value is None and cond.abatementPeriod is not None:
            abatement_value = cond.abatementPeriod.end or cond.abatementPeriod.start
        out.append(
            ConditionFact(
                concept=concept.key,
                code=matching_code(cond.code, concept),
                onset=_day(ctx, onset_value, source, "onset"),
                recorded=_day(ctx, cond.recordedDate, source, "recorded date"),
                abatement=_day(ctx, abatement_value, source, "abatement"),
                clinical_status=status_code(cond.clinicalStatus),
                verification_status=status_code(cond.verificationStatus),
                source=source,
            )
        )
    return out


# -- Procedure -------------------------------------------------------------------------------


def map_procedures(raws: list[dict[str, Any]], ctx: MappingContext) -> list[ProcedureFact]:
    out: list[ProcedureFact] = []

    def withdrawn(raw: dict[str, Any]) -> str | None:
        return "procedure entered in error; left out" if raw.get("status") == "entered-in-error" else None

    for concept, source, proc in recognised(raws, "code", "procedures", "procedures", Procedure, ctx, withdrawn):
        start_value: Any = proc.performedDateTime
        end_value: Any = None
        if proc.performedPeriod is not None:
            start_value = proc.performedPeriod.start
            end_value = proc.performedPeriod.end
        start = _day(ctx, start_value, source, "performed date")
        end = _day(ctx, end_value, source, "performed end") if end_value is not None else None
        if start is None and proc.status in ("completed", "in-progress", "stopped"):
            ctx.note(source, "procedure without a performed date")
        out.append(
            ProcedureFact(
                concept=concept.key,
                start=start,
                end=end if end is not None else (start if proc.performedDateTime is not None else None),
                status=proc.status,
                source=source,
            )
        )
    return out


# -- Immunization ----------------------------------------------------------------------------


def map_immunizations(raws: list[dict[str, Any]], ctx: MappingContext) -> list[ImmunizationFact]:
    out: list[ImmunizationFact] = []

    def withdrawn(raw: dict[str, Any]) -> str | None:
        return "immunization entered in error; left out" if raw.get("status") == "entered-in-error" else None

    for concept, source, imm in recognised(raws, "vaccineCode", "immunizations", "immunizations",
                                           Immunization, ctx, withdrawn):
        cvx = None
        for coding in codings_of(imm.vaccineCode):
            system = coding.get("system")
            if isinstance(system, str) and terminology.normalise_system(system) == systems.CVX:
                cvx = coding.get("code")
                break
            mapped = terminology.site_mapping(system, coding.get("code"))
            if mapped is not None and mapped.target_system == systems.CVX and cvx is None:
                cvx = mapped.target_code  # a site vaccine code read as the CVX it maps to
        when = _day(ctx, imm.occurrenceDateTime, source, "occurrence")
        if when is None:
            ctx.note(source, "immunization without an occurrence date")
        out.append(
            ImmunizationFact(concept=concept.key, cvx=cvx, when=when, status=imm.status, source=source)
        )
    return out
