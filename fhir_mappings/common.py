"""Small readers shared by the mappings: dates, references, codes, notes, model validation.

Everything here is defensive: FHIR JSON from an EHR may carry any JSON type anywhere, so each
reader checks what it gets and returns None rather than raising.
"""

from __future__ import annotations

import copy
import re
import typing
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Callable, Iterable, Iterator, TypeVar

from pydantic import BaseModel, ValidationError

import terminology
from gmg.record import DataQualityNote, DatePrecision, RecognisedAs, UnreadValue

from .model_cache import MODELS

M = TypeVar("M", bound=BaseModel)

# A FHIR date, dateTime or instant: the date part and how much of it is given.
_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")

# Pregnancy window etc. are parameters of build_record; these are FHIR facts, not clinical ones.
PERIOD_UNIT_DAYS: dict[str, float] = {
    # UCUM units of time allowed in Timing.repeat.periodUnit and Duration (FHIR "units-of-time")
    "s": 1 / 86400,
    "min": 1 / 1440,
    "h": 1 / 24,
    "d": 1.0,
    "wk": 7.0,
    "mo": 30.4375,  # UCUM mean Julian month
    "a": 365.25,  # UCUM mean Julian year
}


@dataclass
class MappingContext:
    """What one record build shares: the patient, the evaluation date, notes, references."""

    patient_id: str
    today: date
    notes: list[DataQualityNote] = field(default_factory=list)
    # "Type/id" and fullUrl -> resource dict, for the resource types references may point to
    index: dict[str, dict[str, Any]] = field(default_factory=dict)
    # sources whose partial date was already noted (one note per resource)
    _widened: set[str] = field(default_factory=set)
    # values that do not read as one value, and facts recognised through a site map or by name
    unread: list[UnreadValue] = field(default_factory=list)
    recognitions: dict[str, RecognisedAs] = field(default_factory=dict)

    def note(self, source: str, issue: str) -> None:
        self.notes.append(DataQualityNote(source=source, issue=issue))

    def unreadable(self, kind: str, text: str, when: date | None, source: str, issue: str) -> None:
        """A value that cannot be read as one value: noted, and kept for the data gap naming it."""
        self.note(source, issue)
        self.unread.append(UnreadValue(kind=kind, text=" ".join(text.split())[:80], when=when, source=source))

    def recognised_as(self, source: str, concept: str, how: str | None, shown_as: str | None) -> None:
        """Remember a fact recognised through a site concept map or by name (cards say so)."""
        if how in ("site-map", "name") and shown_as:
            self.recognitions.setdefault(source, RecognisedAs(source, concept, how, shown_as))  # type: ignore[arg-type]

    def date_of(self, value: Any, source: str, what: str) -> tuple[date, DatePrecision] | None:
        """A FHIR date value as (date, precision); notes invalid and widened (partial) dates."""
        if value is None:
            return None
        parsed = parse_date(value)
        if parsed is None:
            self.note(source, f"{what}: not a valid FHIR date; ignored")
            return None
        if parsed[1] != "day" and source not in self._widened:
            self._widened.add(source)
            self.note(source, f"{what}: partial date (precision {parsed[1]}) read as its first day")
        return parsed

    def resolve(self, ref: Any, container: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """The resource a Reference (or reference string) points to: contained, bundled, or None."""
        if isinstance(ref, dict):
            ref = ref.get("reference")
        elif isinstance(ref, BaseModel):
            ref = getattr(ref, "reference", None)
        if not isinstance(ref, str) or not ref:
            return None
        if ref.startswith("#"):
            if container is None:
                return None
            for item in as_list(container.get("contained")):
                if isinstance(item, dict) and item.get("id") == ref[1:]:
                    return item
            return None
        found = self.index.get(ref)
        if found is not None:
            return found
        key = relative_reference(ref)
        return self.index.get(key) if key else None


def as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return []


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def relative_reference(ref: str) -> str | None:
    """'Type/id' from a relative or absolute reference (history suffix dropped); else None."""
    ref = ref.split("/_history/", 1)[0].rstrip("/")
    parts = ref.split("/")
    if len(parts) >= 2 and parts[-2][:1].isupper():
        return f"{parts[-2]}/{parts[-1]}"
    return None


def source_of(resource: dict[str, Any], fallback: str) -> str:
    """'ResourceType/id' of a resource dict, or the fallback (e.g. 'prefetch:observations')."""
    rid = resource.get("id")
    rtype = resource.get("resourceType")
    if isinstance(rid, str) and rid and isinstance(rtype, str):
        return f"{rtype}/{rid}"
    return fallback


def parse_date(value: Any) -> tuple[date, DatePrecision] | None:
    """FHIR date/dateTime/instant (string, or date/datetime from a model) -> (date, precision).

    A dateTime keeps the calendar date as written in its own timezone (the clinical date).
    """
    if isinstance(value, datetime):
        return value.date(), "day"
    if isinstance(value, date):
        return value, "day"
    if not isinstance(value, str):
        return None
    m = _DATE_RE.match(value.strip())
    if m is None:
        return None
    year, month, day = m.group(1), m.group(2), m.group(3)
    try:
        if day is not None:
            return date(int(year), int(month), int(day)), "day"
        if month is not None:
            return date(int(year), int(month), 1), "month"
        return date(int(year), 1, 1), "year"
    except ValueError:
        return None


def codings_of(codeable: Any) -> list[dict[str, Any]]:
    """The Coding dicts of a CodeableConcept given as a dict or a model."""
    if isinstance(codeable, dict):
        return [c for c in as_list(codeable.get("coding")) if isinstance(c, dict)]
    if isinstance(codeable, BaseModel):
        out = []
        for c in getattr(codeable, "coding", None) or ():
            out.append({"system": c.system, "code": c.code, "display": c.display})
        return out
    return []


def concepts_of(codeable: Any) -> list[terminology.Concept]:
    """Every concept a CodeableConcept's codings are recognised as, in order: a reader that wants
    one kind of concept takes the first of that kind, wherever its coding stands."""
    return terminology.concepts_for_codings(codings_of(codeable))


def first_concept(codeable: Any, wanted: Callable[[terminology.Concept], bool]) -> terminology.Concept | None:
    """The first concept of a CodeableConcept that `wanted` accepts (any coding, not the first)."""
    return next((c for c in concepts_of(codeable) if wanted(c)), None)


def text_of(codeable: Any) -> str | None:
    """The words a CodeableConcept gives: its text, else the first coding display."""
    if isinstance(codeable, BaseModel):
        text = getattr(codeable, "text", None)
    else:
        text = as_dict(codeable).get("text")
    if isinstance(text, str) and text.strip():
        return text.strip()
    for coding in codings_of(codeable):
        display = coding.get("display")
        if isinstance(display, str) and display.strip():
            return display.strip()
    return None


def concept_of(codeable: Any, *domains: str) -> terminology.Concept | None:
    """The first recognised concept of a CodeableConcept (optionally only from some domains)."""
    if isinstance(codeable, dict):
        # the dict case runs for every coded resource of the chart: its codings are read in
        # place, without building the list codings_of gives (a non-list `coding` reads nothing)
        codings = codeable.get("coding")
        if not isinstance(codings, list):
            return None
    else:
        codings = codings_of(codeable)
    return terminology.concept_for_codings(codings, domains)


def matching_code(codeable: Any, concept: terminology.Concept) -> str:
    """'system|code' of the coding that identified the concept (as sent)."""
    for coding in codings_of(codeable):
        found = terminology.concept_for(coding.get("system"), coding.get("code"))
        if found is not None and found.key == concept.key:
            return f"{coding.get('system')}|{terminology.code_text(coding.get('code'))}"
    return ""


# HL7 code systems of the status CodeableConcepts the mappings read (Condition.clinicalStatus /
# verificationStatus, AllergyIntolerance.clinicalStatus / verificationStatus).
STATUS_SYSTEMS = frozenset(
    {
        "http://terminology.hl7.org/CodeSystem/condition-clinical",
        "http://terminology.hl7.org/CodeSystem/condition-ver-status",
        "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
        "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
    }
)


def status_code(codeable: Any) -> str | None:
    """The code of a status CodeableConcept (Condition.clinicalStatus etc.): the HL7 status
    coding wherever it stands (an EHR may put its own status coding first), else the first code."""
    first: str | None = None
    for coding in codings_of(codeable):
        code = terminology.code_text(coding.get("code"))
        if not code:
            continue
        system = coding.get("system")
        if isinstance(system, str) and terminology.normalise_system(system) in STATUS_SYSTEMS:
            return code
        if first is None:
            first = code
    return first


def number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    return None


def period_days(value: Any, unit: Any) -> float | None:
    v = number(value)
    if v is None or not isinstance(unit, str) or unit not in PERIOD_UNIT_DAYS:
        return None
    return v * PERIOD_UNIT_DAYS[unit]


def add_days(start: date, days: float) -> date:
    return start + timedelta(days=round(days))


# -- model validation with repair -----------------------------------------------------------


def _loc_text(loc: Iterable[Any]) -> str:
    return ".".join(str(p) for p in loc) or "(resource)"


def _drop(raw: dict[str, Any], loc: tuple[Any, ...]) -> bool:
    """Delete the element at loc (or the deepest step of it that exists); False if none can go."""
    node: Any = raw
    containers: list[Any] = [raw]
    steps: list[Any] = []
    for step in loc:
        if isinstance(node, dict) and isinstance(step, str) and step in node:
            child = node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            child = node[step]
        else:
            break
        steps.append(step)
        containers.append(child)
        node = child
    if not steps:
        return False
    parent, last = containers[len(steps) - 1], steps[-1]
    if parent is raw and last in ("resourceType", "id"):
        return False
    if isinstance(parent, dict):
        del parent[last]
    else:
        parent[last] = None  # removed by _compact once all errors are handled
    return True


_DATETIME_NO_TZ = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")


def _parent(raw: dict[str, Any], loc: tuple[Any, ...]) -> Any:
    """The element holding the one at `loc` (None when the path does not exist)."""
    node: Any = raw
    for step in loc[:-1]:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _date_part_only(raw: dict[str, Any], loc: tuple[Any, ...]) -> bool:
    """A dateTime written without a timezone (invalid FHIR, common in practice): keep its date,
    which the time zone cannot change as written. False when the value is anything else."""
    node = _parent(raw, loc)
    if not loc or not isinstance(node, (dict, list)):
        return False
    try:
        value = node[loc[-1]]
    except (KeyError, IndexError, TypeError):
        return False
    m = _DATETIME_NO_TZ.match(value) if isinstance(value, str) else None
    if m is None or parse_date(m.group(1)) is None:
        return False
    node[loc[-1]] = m.group(1)
    return True


def _number_as_code(raw: dict[str, Any], loc: tuple[Any, ...]) -> bool:
    """A code sent as a JSON number (FHIR wants a string): read as its digits (issue #15 F-5).
    False when the element is not a `code` or its value is not a number."""
    if not loc or loc[-1] != "code":
        return False
    node = _parent(raw, loc)
    if not isinstance(node, dict):
        return False
    value = node.get("code")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    text = terminology.code_text(value)
    if text is None:
        return False
    node["code"] = text
    return True


def _compact(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _compact(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_compact(v) for v in node if v is not None]
    return node


# The top-level elements each mapping reads, plus the ones FHIR requires (so a resource missing
# a required element is still invalid). Only these are validated: cost follows what is read,
# and a broken element the record never uses (narrative, performer, note...) loses nothing.
READ_ELEMENTS: dict[str, frozenset[str]] = {
    rtype: frozenset({"resourceType", "id", *elements})
    for rtype, elements in {
        "Patient": ("birthDate", "gender"),
        "Observation": (
            "status", "code", "effectiveDateTime", "effectivePeriod", "effectiveInstant",
            "valueQuantity", "valueCodeableConcept", "valueInteger", "valueString", "interpretation",
            "referenceRange", "method", "component",
        ),
        "Condition": (
            "subject", "code", "clinicalStatus", "verificationStatus", "onsetDateTime",
            "onsetPeriod", "recordedDate", "abatementDateTime", "abatementPeriod",
        ),
        "Procedure": ("status", "subject", "code", "performedDateTime", "performedPeriod"),
        "Immunization": (
            "status", "vaccineCode", "patient", "occurrenceDateTime", "occurrenceString",
        ),
        "MedicationRequest": (
            "status", "intent", "subject", "medicationCodeableConcept", "medicationReference",
            "authoredOn", "dosageInstruction", "dispenseRequest",
        ),
        "MedicationStatement": (
            "status", "subject", "medicationCodeableConcept", "medicationReference",
            "effectiveDateTime", "effectivePeriod", "dosage",
        ),
        "MedicationAdministration": (
            "status", "subject", "medicationCodeableConcept", "medicationReference",
            "effectiveDateTime", "effectivePeriod", "dosage",
        ),
        "AdverseEvent": (
            "actuality", "subject", "date", "detected", "recordedDate", "severity",
            "extension", "suspectEntity",
        ),
        "AllergyIntolerance": (
            "patient", "code", "type", "clinicalStatus", "verificationStatus", "recordedDate",
            "onsetDateTime", "reaction", "extension",
        ),
    }.items()
}


def warm_models() -> int:
    """Load every fhir.resources class the validated elements (READ_ELEMENTS) can hold, now.

    fhir_core imports the class of a nested element (CodeableConcept, Dosage, Timing...) on its
    first use; done here, at start, in the gunicorn master before it forks, instead of in each
    worker's first calls (measured ~50 ms spread over a worker's first hook calls). Returns the
    number of classes loaded.
    """
    from fhir.resources.R4B import get_fhir_model_class

    def element_classes(annotation: Any) -> list[type[BaseModel]]:
        found, stack = [], [annotation]
        while stack:
            node = stack.pop()
            if hasattr(node, "get_model_klass"):
                found.append(node.get_model_klass())
            stack.extend(typing.get_args(node))
        return found

    todo: list[type[BaseModel]] = []
    for rtype, elements in READ_ELEMENTS.items():
        for name, info in get_fhir_model_class(rtype).model_fields.items():
            if name in elements or info.alias in elements:
                todo.extend(element_classes(info.annotation))
    seen: set[type[BaseModel]] = set()
    while todo:
        klass = todo.pop()
        if klass not in seen:
            seen.add(klass)
            for info in klass.model_fields.values():
                todo.extend(element_classes(info.annotation))
    return len(seen)


def validate(model: type[M], raw: dict[str, Any], source: str, ctx: MappingContext) -> M | None:
    """Build the fhir.resources model of a resource dict (the elements in READ_ELEMENTS).

    On a validation error the offending elements are dropped (with one note each naming the
    element path, never its value) and validation is retried; a resource whose required
    elements are missing or wrong cannot be repaired and is skipped with a note. A resource
    valid at the first try is validated once per process (model_cache.MODELS).
    """
    keep = READ_ELEMENTS.get(str(raw.get("resourceType")))
    if keep is not None:
        raw = {k: v for k, v in raw.items() if k in keep}
    try:
        # validated once per distinct content in this process (model_cache.py)
        return MODELS.validated(model, raw, lambda: model.model_validate(raw))
    except ValidationError as exc:
        errors = exc.errors()
    except Exception:  # noqa: BLE001 - a model bug must not take the record down
        ctx.note(source, "resource could not be read; skipped")
        return None
    work = copy.deepcopy(raw)
    dropped: list[str] = []  # note texts, in order
    for _attempt in range(4):
        fixable = True
        for err in errors:
            loc = tuple(err.get("loc", ()))
            if "DateTime" in str(err.get("msg", "")) and _date_part_only(work, loc):
                dropped.append(f"element {_loc_text(loc)}: time without a timezone; date part read")
                continue
            if err.get("type") == "string_type" and _number_as_code(work, loc):
                dropped.append(f"element {_loc_text(loc)}: code sent as a number; read as its digits")
                continue
            if str(err.get("type", "")).endswith("missing"):
                loc = loc[:-1]  # a required child is missing: drop its parent element
            if len(loc) == 0 or not _drop(work, loc):
                fixable = False
                break
            dropped.append(f"element {_loc_text(loc)} is not valid FHIR; ignored")
        if not fixable:
            break
        work = _compact(work)
        try:
            result = model.model_validate(work)
        except ValidationError as exc:
            errors = exc.errors()
            continue
        except Exception:  # noqa: BLE001
            break
        for issue in dict.fromkeys(dropped):
            ctx.note(source, issue)
        return result
    paths = sorted({_loc_text(e.get("loc", ())) for e in errors})
    ctx.note(source, f"resource is not valid FHIR ({', '.join(paths)[:200]}); skipped")
    return None


def day_of(ctx: MappingContext, value: Any, source: str, what: str) -> date | None:
    """The calendar date of a FHIR date/dateTime element (a partial or bad date is noted)."""
    parsed = ctx.date_of(value, source, what)
    return parsed[0] if parsed else None


def note_site_display(ctx: MappingContext, source: str, codeable: Any, concept: terminology.Concept) -> None:
    """Remember the site's display text when a site concept map recognised `codeable`."""
    shown = terminology.site_display(as_dict(codeable).get("coding"), concept)
    if shown:
        ctx.recognised_as(source, concept.key, "site-map", shown)


def recognised(
    raws: list[dict[str, Any]],
    code_element: str,
    domain: str,
    prefetch_key: str,
    model: type[M],
    ctx: MappingContext,
    withdrawn: Callable[[dict[str, Any]], str | None],
) -> Iterator[tuple[terminology.Concept, str, M]]:
    """(concept, source, model) for each resource whose `code_element` names a concept of
    `domain`: recognised by code on the dict first, so only those are model-parsed. A resource
    the chart withdrew (`withdrawn` gives the note, e.g. entered in error) is left out, noted."""
    for raw in raws:
        concept = concept_of(raw.get(code_element), domain)
        if concept is None:
            continue
        source = source_of(raw, f"prefetch:{prefetch_key}")
        reason = withdrawn(raw)
        if reason:
            ctx.note(source, reason)
            continue
        note_site_display(ctx, source, raw.get(code_element), concept)
        resource = validate(model, raw, source, ctx)
        if resource is not None:
            yield concept, source, resource
