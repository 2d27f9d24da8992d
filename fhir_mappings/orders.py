"""Draft orders of an order-select / order-sign context -> gmg.orders.DraftOrder.

Liberal in what it accepts (../shared/DESIGN.md, SPEC-NOTES §4.2, §6.5):
- `draftOrders` as a Bundle with or without `type` (the sandbox omits it), or a bare list;
  entries as `{"resource": {...}}` or as resources themselves;
- R4 MedicationRequest / ServiceRequest, STU3 MedicationRequest / ProcedureRequest, DSTU2
  MedicationOrder / ProcedureRequest; other request types (NutritionOrder, ...) are not ours and
  are left out;
- `MedicationRequest.category` as an object (sandbox), `intent` missing, `doseAndRate` as an
  object (library R4 example), `doseQuantity` on the dosage (STU3/DSTU2), `periodUnits` (DSTU2);
- the medication by medicationCodeableConcept, medicationReference to a contained Medication, or
  the R5 `medication.concept`; codes recognised by terminology, product-level RxNorm (SCD/SBD)
  included; vaccines coded CVX.
What cannot be read is listed in `DraftOrder.unreadable`, never guessed.

`selections` (order-select) name the drafts as "Type/id"; on order-sign every draft is checked. An
order-select request without a usable `selections` list is read as "all drafts selected".
"""

from __future__ import annotations

from datetime import date
from typing import Any

import terminology
from gmg.orders import DraftOrder, OrderKind, PlannedStartFrom
from terminology import units

from .common import PERIOD_UNIT_DAYS, as_dict, as_list, number, parse_date, relative_reference

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
    return [c for c in as_list(as_dict(codeable).get("coding")) if isinstance(c, dict)]


def _label(codeable: Any) -> str | None:
    cc = as_dict(codeable)
    if isinstance(cc.get("text"), str) and cc["text"].strip():
        return cc["text"].strip()[:120]
    for c in _codings(cc):
        if isinstance(c.get("display"), str) and c["display"].strip():
            return c["display"].strip()[:120]
    return None


def _medication_codeable(res: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """The medication CodeableConcept of a request, or (None, reason it cannot be read)."""
    mcc = res.get("medicationCodeableConcept")
    if isinstance(mcc, dict):
        return mcc, None
    r5 = res.get("medication")
    if isinstance(r5, dict) and isinstance(r5.get("concept"), dict):
        return r5["concept"], None
    ref = res.get("medicationReference") or (r5.get("reference") if isinstance(r5, dict) else None)
    if isinstance(ref, dict):
        target = ref.get("reference")
        if isinstance(target, str) and target.startswith("#"):
            for item in as_list(res.get("contained")):
                if isinstance(item, dict) and item.get("id") == target[1:] and item.get("resourceType") == "Medication":
                    code = item.get("code")
                    if isinstance(code, dict):
                        return code, None
        return None, "medication reference does not resolve to a coded Medication"
    return None, "no medication given"


def _concept(codeable: dict[str, Any] | None, domains: tuple[str, ...]) -> tuple[terminology.Concept | None, str | None]:
    for c in _codings(codeable):
        found = terminology.concept_for(c.get("system"), c.get("code"))
        if found is not None and found.domain in domains:
            return found, f"{c.get('system')}|{c.get('code')}"
    first = next(iter(_codings(codeable)), None)
    return None, (f"{first.get('system')}|{first.get('code')}" if first else None)


def _route(dosage: dict[str, Any]) -> str | None:
    for c in _codings(dosage.get("route")):
        found = terminology.concept_for(c.get("system"), c.get("code"))
        if found is not None and found.key.startswith("route-"):
            return found.key[len("route-"):]
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


def _draft(res: dict[str, Any], index: int, selected_ids: set[str] | None, today: date) -> DraftOrder | None:
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
    if rtype in MEDICATION_TYPES:
        codeable, why = _medication_codeable(res)
        if codeable is None:
            unreadable.append(why or "no medication given")
        elif not _codings(codeable):
            unreadable.append("medication as text only (no code)")
        concept, code = _concept(codeable, ("medications", "immunizations"))
        label = _label(codeable)
        if concept is not None:
            kind = "vaccine" if concept.domain == "immunizations" else "medication"
    else:
        codeable = res.get("code") if isinstance(res.get("code"), dict) else None
        if codeable is None or not _codings(codeable):
            unreadable.append("no coded service")
        concept, code = _concept(codeable, ("procedures", "observations"))
        label = _label(codeable)
        if concept is not None:
            kind = "procedure" if concept.domain == "procedures" else "lab"
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
        route=_route(dosage),
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
    )


def draft_orders(context: dict[str, Any], hook: str, today: date) -> tuple[DraftOrder, ...]:
    """The medication and service drafts of a hook context, in the order they were sent."""
    ctx = as_dict(context)
    selected_ids = _selected_ids(ctx, hook)
    out: list[DraftOrder] = []
    for i, res in enumerate(_resources(ctx.get("draftOrders"))):
        try:
            d = _draft(res, i, selected_ids, today)
        except Exception:  # never let one odd resource take the whole answer down
            rid, _ = _resource_id(res, i)
            d = DraftOrder(
                resource_id=rid, resource_type=str(res.get("resourceType")), kind="unknown", concept=None,
                drug_classes=frozenset(), route=None, dose_mg=None, mg_per_day=None, planned_start=today,
                planned_start_from="today", selected=selected_ids is None or rid in selected_ids,
                unreadable=("could not be read",),
            )
        if d is not None:
            out.append(d)
    return tuple(out)
