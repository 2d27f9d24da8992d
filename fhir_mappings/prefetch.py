"""From the resolved prefetch to the patient's resource dicts, grouped by resource type.

A prefetch value may be one resource, a Bundle of any type (searchset with `search.mode`
match/include/outcome, or a transaction/collection bundle), an OperationOutcome, or None.
This step is cheap on purpose: it walks plain dicts only, drops entries of other patients,
removes duplicates (the same "Type/id" under several keys) and builds the reference index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .common import MappingContext, as_dict, as_list, relative_reference

PREFETCH_KEYS: tuple[str, ...] = (
    "patient",
    "conditions",
    "observations",
    "medicationStatements",
    "medicationRequests",
    "medicationAdministrations",
    "procedures",
    "immunizations",
    "adverseEvents",
    "allergies",
)

# The prefetch key a CDS client files each resource type under (hooks/registry.py templates).
KEY_FOR_TYPE: dict[str, str] = {
    "Patient": "patient",
    "Condition": "conditions",
    "Observation": "observations",
    "MedicationStatement": "medicationStatements",
    "MedicationRequest": "medicationRequests",
    "MedicationAdministration": "medicationAdministrations",
    "Procedure": "procedures",
    "Immunization": "immunizations",
    "AdverseEvent": "adverseEvents",
    "AllergyIntolerance": "allergies",
}


def prefetch_from_resources(resources: "list[dict[str, Any]]") -> dict[str, Any]:
    """Resources grouped as a CDS client sends them: the Patient resource, and one searchset
    Bundle per search key (empty when there is nothing). Other resource types are left out."""
    out: dict[str, Any] = {k: {"resourceType": "Bundle", "type": "searchset", "entry": []}
                           for k in KEY_FOR_TYPE.values() if k != "patient"}
    for r in resources:
        key = KEY_FOR_TYPE.get(r.get("resourceType", ""))
        if key == "patient":
            out["patient"] = r
        elif key is not None:
            out[key]["entry"].append({"resource": r, "search": {"mode": "match"}})
    for key, bundle in out.items():
        if key != "patient":
            bundle["total"] = len(bundle["entry"])
    return out


def prefetch_from_bundle(bundle: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A patient's transaction or collection Bundle (demo patients, Synthea) as the prefetch a
    CDS client would send, and the patient's id."""
    resources = [e["resource"] for e in bundle.get("entry", ())
                 if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    patient = next(r for r in resources if r.get("resourceType") == "Patient")
    return prefetch_from_resources(resources), str(patient.get("id", ""))


# Types references may point to (suspect drugs, medicationReference): indexed by "Type/id".
_INDEXED = frozenset(
    {"Medication", "MedicationStatement", "MedicationRequest", "MedicationAdministration"}
)
# The reference element that names the patient, per type.
_PATIENT_ELEMENT = {
    "Immunization": "patient",
    "AllergyIntolerance": "patient",
}
_USED = frozenset(
    {
        "Patient",
        "Condition",
        "Observation",
        "MedicationStatement",
        "MedicationRequest",
        "MedicationAdministration",
        "Procedure",
        "Immunization",
        "AdverseEvent",
        "AllergyIntolerance",
    }
)


@dataclass(frozen=True, slots=True)
class _TypeRule:
    """What collect does with a resource of one type, found with one look-up per resource."""

    indexed: bool  # kept in the reference index
    used: bool  # read by the mappings
    patient_element: str | None  # the reference naming the patient (None: it is the Patient)


_TYPE_RULES: dict[str, _TypeRule] = {
    rtype: _TypeRule(
        indexed=rtype in _INDEXED,
        used=rtype in _USED,
        patient_element=None if rtype == "Patient" else _PATIENT_ELEMENT.get(rtype, "subject"),
    )
    for rtype in _INDEXED | _USED
}


@dataclass
class PatientResources:
    by_type: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def of(self, resource_type: str) -> list[dict[str, Any]]:
        return self.by_type.get(resource_type, [])


def _patient_refs(patient_id: str) -> frozenset[str]:
    return frozenset({f"Patient/{patient_id}", f"urn:uuid:{patient_id}", patient_id})


def collect(
    prefetch: Mapping[str, Any], ctx: MappingContext
) -> PatientResources:
    out = PatientResources()
    seen: set[tuple[str, str]] = set()
    refs = _patient_refs(ctx.patient_id)
    own_reference = f"Patient/{ctx.patient_id}"
    if not isinstance(prefetch, Mapping):
        ctx.note("prefetch", "prefetch is not a JSON object; nothing read")
        return out
    # This loop runs once per resource of the chart: the checks are written out here rather
    # than in helpers called per resource.
    index = ctx.index
    by_type = out.by_type
    for key in PREFETCH_KEYS:
        value = prefetch.get(key)
        if value is None:
            continue
        where = f"prefetch:{key}"
        if not isinstance(value, dict):
            ctx.note(where, "not a FHIR resource or Bundle; ignored")
            continue
        rtype = value.get("resourceType")
        entries: list[Any]
        if rtype == "Bundle":
            if any(
                isinstance(link, dict) and link.get("relation") == "next"
                for link in as_list(value.get("link"))
            ):
                ctx.note(where, "Bundle has further pages that were not included; data may be incomplete")
            entries = as_list(value.get("entry"))
        elif rtype == "OperationOutcome":
            ctx.note(where, "server returned an OperationOutcome instead of data")
            continue
        else:
            entries = [{"resource": value}]  # a single resource, read as a one-entry Bundle
        other_patient = 0
        malformed = 0
        for entry in entries:
            res = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(res, dict):
                malformed += 1
                continue
            rt = res.get("resourceType")
            if not isinstance(rt, str):
                malformed += 1
                continue
            rule = _TYPE_RULES.get(rt)
            if rule is None:  # neither read nor referred to
                if rt == "OperationOutcome":
                    ctx.note(where, "Bundle carries an OperationOutcome entry; data may be incomplete")
                continue
            rid = res.get("id")
            has_id = isinstance(rid, str) and rid != ""
            if rule.indexed:
                if has_id:
                    index.setdefault(f"{rt}/{rid}", res)
                full_url = entry.get("fullUrl")
                if isinstance(full_url, str) and full_url:
                    index.setdefault(full_url, res)
                if not rule.used:
                    continue
            element = rule.patient_element
            if element is None:  # the Patient resource
                if rid != ctx.patient_id:
                    other_patient += 1
                    continue
            else:
                # The resource must name our patient, or name no patient at all: a resource
                # without a subject reference cannot come from a search by patient, so it is
                # taken as the patient's (the prefetch was asked for this patient).
                subject = res.get(element)
                ref = subject.get("reference") if isinstance(subject, dict) else None
                if isinstance(ref, str) and ref and ref not in refs and relative_reference(ref) != own_reference:
                    other_patient += 1
                    continue
            if has_id:
                # (type, id) rather than "Type/id": the same identity (a type has no "/"),
                # without building a string per resource
                ident = (rt, rid)
                if ident in seen:
                    continue
                seen.add(ident)
            resources = by_type.get(rt)
            if resources is None:
                by_type[rt] = [res]
            else:
                resources.append(res)
        if malformed:
            ctx.note(where, f"{malformed} Bundle entries without a resource; ignored")
        if other_patient:
            ctx.note(where, f"{other_patient} resources of another patient; ignored")
    return out
