"""AdverseEvent and AllergyIntolerance on drugs -> AdverseDrugEvent, Intolerance.

Grade: the CTCAE extension (https://gmg-cds.github.io/fhir/StructureDefinition/ctcae-grade,
valueInteger 1..5; on AdverseEvent, or on AllergyIntolerance.reaction), else severity
mild=1 / moderate=2 / severe=3 (gmg-rules.md §1). The suspect drug is read by code from
AdverseEvent.suspectEntity.instance: a Medication, MedicationStatement, MedicationRequest,
MedicationAdministration (bundled or contained). One AdverseDrugEvent per suspect drug; an
event with no drug recognised by code keeps `ingredient=None`.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.adverseevent import AdverseEvent
from fhir.resources.R4B.allergyintolerance import AllergyIntolerance

from gmg.record import AdverseDrugEvent, Intolerance
from terminology import systems

from .common import MappingContext, as_dict, as_list, day_of as _day, recognised, source_of, status_code, validate
from .medications import suspect_ingredient

_SEVERITY_GRADE = {"mild": 1, "moderate": 2, "severe": 3}
_GRADES = range(1, 6)


def _ctcae(extensions: list[Any]) -> int | None:
    for ext in extensions or ():
        if getattr(ext, "url", None) == systems.CTCAE_GRADE_EXTENSION:
            v = getattr(ext, "valueInteger", None)
            if isinstance(v, int) and v in _GRADES:
                return v
    return None


def map_adverse_events(raws: list[dict[str, Any]], ctx: MappingContext) -> list[AdverseDrugEvent]:
    out: list[AdverseDrugEvent] = []
    for raw in raws:
        source = source_of(raw, "prefetch:adverseEvents")
        if raw.get("actuality") == "potential":
            continue  # a near miss, not an event the patient had
        event = validate(AdverseEvent, raw, source, ctx)
        if event is None:
            continue
        grade = _ctcae(event.extension or [])
        if grade is None:
            sev = status_code(event.severity)
            grade = _SEVERITY_GRADE.get(sev) if sev else None
        when = _day(ctx, event.date or event.detected or event.recordedDate, source, "event date")
        drugs: dict[str, None] = {}
        for suspect in as_list(raw.get("suspectEntity")):
            found = suspect_ingredient(as_dict(suspect).get("instance"), raw, ctx)
            if found is not None:
                drugs[found.key] = None
        if not drugs and raw.get("suspectEntity"):
            ctx.note(source, "suspect drug not recognised by code")
        for key in drugs or [None]:
            out.append(AdverseDrugEvent(ingredient=key, grade=grade, when=when, source=source))
    return out


def map_intolerances(raws: list[dict[str, Any]], ctx: MappingContext) -> list[Intolerance]:
    out: list[Intolerance] = []

    def withdrawn(raw: dict[str, Any]) -> str | None:
        verification = status_code(raw.get("verificationStatus"))
        if verification in ("entered-in-error", "refuted"):
            return f"allergy/intolerance {verification}; left out"
        return None

    for concept, source, allergy in recognised(raws, "code", "medications", "allergies",
                                               AllergyIntolerance, ctx, withdrawn):
        grades: list[int] = []
        for reaction in allergy.reaction or ():
            g = _ctcae(reaction.extension or [])
            if g is None and isinstance(reaction.severity, str):
                g = _SEVERITY_GRADE.get(reaction.severity)
            if g is not None:
                grades.append(g)
        top_level = _ctcae(allergy.extension or [])
        if top_level is not None:
            grades.append(top_level)
        recorded_v = allergy.recordedDate or allergy.onsetDateTime
        out.append(
            Intolerance(
                ingredient=concept.key,
                category=allergy.type if isinstance(allergy.type, str) else "unspecified",
                grade=max(grades) if grades else None,
                recorded=_day(ctx, recorded_v, source, "recorded date"),
                clinical_status=status_code(allergy.clinicalStatus),
                source=source,
            )
        )
    return out
