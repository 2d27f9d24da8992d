"""Draft orders of an order-select / order-sign context -> gmg.orders.DraftOrder.

Liberal in what it accepts (../shared/DESIGN.md, SPEC-NOTES §4.2, §6.5):
- `draftOrders` as a Bundle with or without `type` (the sandbox omits it), or a bare list;
  entries as `{"resource": {...}}` or as resources themselves;
- R4 MedicationRequest / ServiceRequest, STU3 MedicationRequest / ProcedureRequest, DSTU2
  MedicationOrder / ProcedureRequest; other request types (NutritionOrder, ...) are not ours and
  are left out;
- `MedicationRequest.category` as an object (sandbox), `intent` missing, `doseAndRate` as an
  object (library R4 example), `doseQuantity` on the dosage (STU3/DSTU2), `periodUnits` (DSTU2);
- the medication by medicationCodeableConcept, medicationReference to a contained Medication or
  to a Medication of the prefetch (an EHR's `_include`, or one the service fetched), or the R5
  `medication.concept`; every coding is read (fhir_mappings/drugs.py): codes recognised by
  terminology (product-level RxNorm SCD/SBD included, a site's codes through its concept map),
  an RxNorm product the terminology does not list by its ingredient name; vaccines coded CVX;
- a code sent as a JSON number is read as its digits (issue #15 F-5).
What cannot be read is listed in `DraftOrder.unreadable`, never guessed; a draft whose JSON is
malformed (a code that is neither text nor a number, a CodeableConcept that is not an object)
is marked `malformed`, so a card names it on order-select too (never silence).

`selections` (order-select) name the drafts as "Type/id"; on order-sign every draft is checked. An
order-select request without a usable `selections` list is read as "all drafts selected".
"""

from __future__ import annotations

from datetime import date
from typing import Any

from typing import Mapping

import terminology
from gmg.orders import DraftOrder, OrderKind, PlannedStartFrom
from terminology import units
from terminology.product_names import route_by_dose_form
from terminology.systems import RXNORM

from .common import PERIOD_UNIT_DAYS, MappingContext, as_dict, as_list, number, parse_date, relative_reference
from .drugs import NOT_RECOGNISED, DrugMatch, drug_of, reference_display

MEDICATION_TYPES = frozenset({"MedicationRequest", "MedicationOrder"})
SERVICE_TYPES = frozenset({"ServiceRequest", "ProcedureRequest"})


def _resources(draft_orders: Any) -> list[dict[str, Any]]:
    if isinstance(draft_orders, dict):
        if draft_orders.get("resourceType") not in (None, "Bundle"):
            return [draft_orders]  # a single resource instead of a Bundle
        items = as_list(draft_orders.get("entry"))
    elif isinstance(draft_orders, list):
        items = draft_orders
    else:
        return []
    out: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        res = item.get("resource") if isinstance(item.get("resource"), dict) else item
        if isinstance(res.get("resourceType"), str):
            out.append(res)
    return out


def _resource_id(res: dict[str, Any], index: int) -> tuple[str, bool]:
    rtype = res.get("resourceType")
    rid = res.get("id")
    if isinstance(rid, str) and rid.strip():
        return f"{rtype}/{rid.strip()}", True
    return f"{rtype}/entry-{index}", False


def draft_resources(context: Any) -> dict[str, dict[str, Any]]:
    """The draft resources by "Type/id" (only those with an id: suggestions need to name them)."""
    out: dict[str, dict[str, Any]] = {}
    for i, res in enumerate(_resources(as_dict(context).get("draftOrders"))):
        rid, has_id = _resource_id(res, i)
        if has_id:
            out[rid] = res
    return out


def _selected_ids(context: dict[str, Any], hook: str) -> set[str] | None:
    """Selected "Type/id"s; None = every draft counts (order-sign, or no usable selections)."""
    if hook != "order-select":
        return None
    selections = context.get("selections")
    if not isinstance(selections, list) or not selections:
        return None
    out: set[str] = set()
    for s in selections:
        if isinstance(s, str) and s.strip():
            out.add(relative_reference(s.strip()) or s.strip())
    return out or None


# -- codes -----------------------------------------------------------------------------------


def _codings(codeable: Any) -> list[dict[str, Any]]:
    coding = as_dict(codeable).get("coding")
    if isinstance(coding, dict):
        coding = [coding]  # one Coding sent without its list: read it (be liberal)
    return [c for c in as_list(coding) if isinstance(c, dict)]


def _malformed_codes(codeable: Any) -> str | None:
    """Why a CodeableConcept's codes cannot be read as FHIR JSON, or None when they can (a code
    sent as a number can: it is read as its digits)."""
    if codeable is None:
        return None
    if not isinstance(codeable, dict):
        return "code is not a CodeableConcept"
    coding = codeable.get("coding")
    if coding is not None and not isinstance(coding, (list, dict)):
        return "coding is not a list of Codings"
    for c in as_list(coding) if isinstance(coding, list) else [coding]:
        if not isinstance(c, dict):
            return "a coding is not a Coding"
        if c.get("code") is not None and terminology.code_text(c.get("code")) is None:
            return "a code is neither text nor a number"
    return None


def _label(codeable: Any) -> str | None:
    cc = as_dict(codeable)
    if isinstance(cc.get("text"), str) and cc["text"].strip():
        return cc["text"].strip()[:120]
    for c in _codings(cc):
        if isinstance(c.get("display"), str) and c["display"].strip():
            return c["display"].strip()[:120]
    return None


def _coding_text(c: dict[str, Any]) -> str:
    return f"{c.get('system')}|{terminology.code_text(c.get('code'))}"


def _medication(
    res: dict[str, Any], medications: Mapping[str, dict[str, Any]]
) -> tuple[DrugMatch, dict[str, Any] | None, str | None, str | None]:
    """(the drug, its CodeableConcept, why it cannot be read, how the draft names it)."""
    mcc = res.get("medicationCodeableConcept")
    if mcc is not None and not isinstance(mcc, dict):
        return NOT_RECOGNISED, None, "medicationCodeableConcept is not a CodeableConcept", None
    if isinstance(mcc, dict):
        return drug_of(mcc, domains=_DRUG_DOMAINS), mcc, None, _label(mcc)
    r5 = res.get("medication")
    if isinstance(r5, dict) and isinstance(r5.get("concept"), dict):
        return drug_of(r5["concept"], domains=_DRUG_DOMAINS), r5["concept"], None, _label(r5["concept"])
    ref = res.get("medicationReference") or (r5.get("reference") if isinstance(r5, dict) else None)
    if ref is not None:
        label = reference_display(ref)
        med = _resolve_medication(ref, res, medications)
        if med is None:
            return NOT_RECOGNISED, None, "medication reference does not resolve to a coded Medication", label
        code = med.get("code")
        codeable = code if isinstance(code, dict) else None
        return drug_of(code, med, domains=_DRUG_DOMAINS), codeable, None, _label(code) or label
    return NOT_RECOGNISED, None, "no medication given", None


_DRUG_DOMAINS = ("medications", "immunizations")


def _resolve_medication(
    ref: Any, res: dict[str, Any], medications: Mapping[str, dict[str, Any]]
) -> dict[str, Any] | None:
    """The Medication a draft's reference names: contained ("#id"), or one of the prefetch."""
    found = MappingContext(patient_id="", today=date.min, index=dict(medications)).resolve(ref, res)
    return found if as_dict(found).get("resourceType") == "Medication" else None


def _concept(codeable: dict[str, Any] | None, domains: tuple[str, ...]) -> tuple[terminology.Concept | None, str | None]:
    for c in _codings(codeable):
        found = terminology.concept_for(c.get("system"), c.get("code"))
        if found is not None and found.domain in domains:
            return found, _coding_text(c)
    first = next(iter(_codings(codeable)), None)
    return None, (_coding_text(first) if first else None)


def _route(dosage: dict[str, Any]) -> str | None:
    for c in _codings(dosage.get("route")):
        found = terminology.concept_for(c.get("system"), c.get("code"))
        if found is not None and found.key.startswith("route-"):
            return found.key[len("route-"):]
    return None


def _product_route(codeable: Any) -> str | None:
    """The route an RxNorm product's dose form implies ("oral" for "... 4 MG Oral Tablet"), for a
    draft that states none: the product name the terminology lists for the code, else the coding's
    own display (RxNorm displays are the normalised names). None for any other product."""
    for c in _codings(codeable):
        if terminology.normalise_system(str(c.get("system") or "")) != RXNORM:
            continue
        code = terminology.code_text(c.get("code"))
        concept = terminology.static_concept_for(RXNORM, code) if code else None
        listed = next((k.display for k in concept.codes if k.system == RXNORM and k.code == code), None) \
            if concept is not None else None
        route = route_by_dose_form(listed or c.get("display") or "")
        if route is not None:
            return route
    return None


# -- dose ------------------------------------------------------------------------------------


def _dose_quantity(dosage: dict[str, Any]) -> dict[str, Any] | None:
    dar = dosage.get("doseAndRate")
    for item in as_list(dar) or ([dar] if isinstance(dar, dict) else []):
        if isinstance(item, dict) and isinstance(item.get("doseQuantity"), dict):
            return item["doseQuantity"]
    dq = dosage.get("doseQuantity")
    return dq if isinstance(dq, dict) else None


def _per_day(dosage: dict[str, Any]) -> float | None:
    rep = as_dict(as_dict(dosage.get("timing")).get("repeat"))
    unit = rep.get("periodUnit", rep.get("periodUnits"))
    period = number(rep.get("period"))
    if period is None or period <= 0 or not isinstance(unit, str) or unit not in PERIOD_UNIT_DAYS:
        return None
    freq = rep.get("frequency")
    freq_n = float(freq) if isinstance(freq, int) and not isinstance(freq, bool) and freq > 0 else 1.0
    return freq_n / (period * PERIOD_UNIT_DAYS[unit])


def _dose(dosage: dict[str, Any], unreadable: list[str]) -> tuple[float | None, float | None]:
    dq = _dose_quantity(dosage)
    if dq is None:
        return None, None
    value = number(dq.get("value"))
    unit = units.quantity_unit(dq)
    if value is None:
        unreadable.append("dose without a numeric value")
        return None, None
    if unit is None:
        sent = next((u for u in (dq.get("code"), dq.get("unit")) if isinstance(u, str) and u.strip()), None)
        unreadable.append(f"dose in {sent.strip()[:40]}, not a mass in mg" if sent else "dose without a recognised unit")
        return None, None
    mg = units.convert(value, unit, "mg")
    if mg is None:
        unreadable.append(f"dose in {unit}, not a mass in mg")
        return None, None
    per_day = _per_day(dosage)
    return mg, (mg * per_day if per_day is not None else None)


# -- planned start ---------------------------------------------------------------------------


def _planned_start(res: dict[str, Any], dosage: dict[str, Any], today: date, unreadable: list[str]) -> tuple[date, PlannedStartFrom]:
    rep = as_dict(as_dict(dosage.get("timing")).get("repeat"))
    candidates: list[tuple[Any, PlannedStartFrom]] = [
        (as_dict(rep.get("boundsPeriod")).get("start"), "boundsPeriod"),
        (res.get("occurrenceDateTime"), "occurrence"),
        (as_dict(res.get("occurrencePeriod")).get("start"), "occurrence"),
        (res.get("scheduledDateTime"), "occurrence"),  # DSTU2 ProcedureRequest
        (as_dict(res.get("scheduledPeriod")).get("start"), "occurrence"),
        (res.get("authoredOn"), "authoredOn"),
        (res.get("dateWritten"), "authoredOn"),  # DSTU2 MedicationOrder
        (res.get("orderedOn"), "authoredOn"),  # DSTU2 ProcedureRequest
    ]
    for value, where in candidates:
        if value is None:
            continue
        parsed = parse_date(value)
        if parsed is None:
            unreadable.append(f"{where} is not a valid date; ignored")
            continue
        return parsed[0], where
    return today, "today"


# -- one draft -------------------------------------------------------------------------------


def _draft(
    res: dict[str, Any], index: int, selected_ids: set[str] | None, today: date,
    medications: Mapping[str, dict[str, Any]] | None = None,
) -> DraftOrder | None:
    rtype = res.get("resourceType")
    if rtype not in MEDICATION_TYPES and rtype not in SERVICE_TYPES:
        return None
    rid, has_id = _resource_id(res, index)
    unreadable: list[str] = [] if has_id else ["no id: suggestions cannot refer to it"]
    dosage = next((d for d in as_list(res.get("dosageInstruction")) if isinstance(d, dict)), {})
    kind: OrderKind = "unknown"
    concept = None
    code = None
    label = None
    malformed: str | None = None
    recognised_by: str | None = None
    recognised_from: str | None = None
    if rtype in MEDICATION_TYPES:
        match, codeable, why, label = _medication(res, medications or {})
        malformed = _malformed_codes(codeable) or (
            why if why and "not a CodeableConcept" in why else None)
        if why:
            unreadable.append(why)
        elif match.concept is None and (codeable is None or not _codings(codeable)):
            unreadable.append("medication as text only (no code)")
        if malformed and malformed not in unreadable:
            unreadable.append(malformed)
        concept = match.concept
        _, code = _concept(codeable, _DRUG_DOMAINS)
        if concept is not None:
            kind = "vaccine" if concept.domain == "immunizations" else "medication"
            if match.how in ("site-map", "name"):
                recognised_by, recognised_from = match.how, match.shown_as
    else:
        codeable = res.get("code") if isinstance(res.get("code"), dict) else None
        malformed = _malformed_codes(res.get("code"))
        if malformed:
            unreadable.append(malformed)
        elif codeable is None or not _codings(codeable):
            unreadable.append("no coded service")
        concept, code = _concept(codeable, ("procedures", "observations"))
        label = _label(codeable)
        if concept is not None:
            kind = "procedure" if concept.domain == "procedures" else "lab"
            shown = terminology.site_display(_codings(codeable), concept)
            if shown:
                recognised_by, recognised_from = "site-map", shown
    dose_notes: list[str] = []
    dose_mg, mg_per_day = _dose(dosage, dose_notes)
    start_notes: list[str] = []  # a date that is not a date is ignored (the next one is used)
    start, start_from = _planned_start(res, dosage, today, start_notes)
    status = res.get("status") if isinstance(res.get("status"), str) else None
    return DraftOrder(
        resource_id=rid,
        resource_type=str(rtype),
        kind=kind,
        concept=concept.key if concept is not None else None,
        drug_classes=concept.classes if concept is not None else frozenset(),
        route=_route(dosage) or (_product_route(codeable) if rtype in MEDICATION_TYPES else None),
        dose_mg=dose_mg,
        mg_per_day=mg_per_day,
        planned_start=start,
        planned_start_from=start_from,
        selected=selected_ids is None or rid in selected_ids,
        status=status,
        code=code,
        label=label,
        unreadable=tuple(dict.fromkeys(unreadable)),
        # a dose matters only for a drug the checks know
        dose_note=dose_notes[0] if dose_notes and concept is not None else None,
        start_note="; ".join(start_notes) or None,
        malformed=malformed is not None,
        recognised_by=recognised_by,
        recognised_from=recognised_from,
    )


def draft_orders(
    context: dict[str, Any], hook: str, today: date, prefetch: Mapping[str, Any] | None = None
) -> tuple[DraftOrder, ...]:
    """The medication and service drafts of a hook context, in the order they were sent.
    `prefetch`: the call's prefetch, whose Medication resources a draft may refer to."""
    ctx = as_dict(context)
    selected_ids = _selected_ids(ctx, hook)
    medications = medications_of(prefetch) if prefetch else {}
    out: list[DraftOrder] = []
    for i, res in enumerate(_resources(ctx.get("draftOrders"))):
        try:
            d = _draft(res, i, selected_ids, today, medications)
        except Exception:  # never let one odd resource take the whole answer down
            rid, _ = _resource_id(res, i)
            d = DraftOrder(
                resource_id=rid, resource_type=str(res.get("resourceType")), kind="unknown", concept=None,
                drug_classes=frozenset(), route=None, dose_mg=None, mg_per_day=None, planned_start=today,
                planned_start_from="today", selected=selected_ids is None or rid in selected_ids,
                unreadable=("could not be read",), malformed=True,
            )
        if d is not None:
            out.append(d)
    return tuple(out)


def medications_of(prefetch: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The Medication resources of a prefetch (any key, e.g. `_include`d with the requests or
    fetched by the service), by "Medication/id" and by fullUrl."""
    out: dict[str, dict[str, Any]] = {}
    if not isinstance(prefetch, Mapping):
        return out
    for value in prefetch.values():
        if not isinstance(value, dict):
            continue
        entries = as_list(value.get("entry")) if value.get("resourceType") == "Bundle" else [{"resource": value}]
        for entry in entries:
            res = as_dict(as_dict(entry).get("resource"))
            if res.get("resourceType") != "Medication":
                continue
            if isinstance(res.get("id"), str) and res["id"]:
                out.setdefault(f"Medication/{res['id']}", res)
            full_url = as_dict(entry).get("fullUrl")
            if isinstance(full_url, str) and full_url:
                out.setdefault(full_url, res)
    return out
