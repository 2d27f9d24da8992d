"""Order-safety findings -> CDS Hooks cards (gmg-rules.md §6, §8, §9 "Orders").

- One card per problem: findings are grouped by code, so several drafts with one problem give one
  card naming them all, and no problem is shown twice in one response. The IVIG dose (info) rides
  on the IVIG warning card when there is one.
- The card's indicator is the highest of its findings; every warning and critical card offers
  the standard override reasons.
- The summary says what is wrong and what to do; the detail gives the facts (values, dates,
  sources), the computed dates, any interim (D-lo/K) parameter that decided it, and the
  parameter-set version.
- Suggestions fix the order: delete or update the draft (by its resourceId), create the missing
  lab (ServiceRequest, LOINC) or vaccine (MedicationRequest, CVX), or swap PLEX <-> IVIG. Each
  suggestion carries one change, except a swap, whose delete+create must go together (CDS Hooks
  actions in one suggestion are applied as one transaction).
"""

from __future__ import annotations

import copy
from datetime import date
from typing import Any, Iterable, Mapping

import terminology
from gmg.findings import Finding, highest_indicator
from gmg.orders import DraftOrder
from gmg.parameters import Parameters
from gmg.record import PatientRecord
from terminology import systems

from .cards import STANDARD_OVERRIDE_REASONS, Action, Card, Source, Suggestion

SAFETY_SOURCE = Source(label="gmg-cds order safety (refractory gMG consensus and drug labels)")

# Codes preferred when proposing a vaccine or a procedure (active products; terminology.md §4-5).
_PREFERRED_CODES: dict[str, tuple[str, ...]] = {
    "menacwy": ("203", "136"),  # MenACWY-TT (MenQuadfi), MenACWY-CRM (Menveo)
    "menb": ("163", "162"),  # MenB-4C (Bexsero), MenB-FHbp (Trumenba)
    "plex": ("225067007",),  # therapeutic plasma exchange
}
_LAB_NAMES = {"lipase": "lipase", "amylase": "amylase", "HBsAg": "hbsag", "anti-HBc": "anti-hbc"}
_IV_ROUTE = {"system": systems.SNOMED, "code": "47625008", "display": "Intravenous route"}


# -- resources for suggestions ---------------------------------------------------------------


def _coding(key: str, system: str) -> dict[str, str] | None:
    try:
        concept = terminology.concept(key)
    except KeyError:
        return None
    wanted = [c for c in concept.codes if c.system == system]
    for preferred in _PREFERRED_CODES.get(key, ()):
        for c in wanted:
            if c.code == preferred:
                return {"system": c.system, "code": c.code, "display": c.display}
    ingredient = [c for c in wanted if c.role == "ingredient"] or wanted
    if not ingredient:
        return None
    c = ingredient[0]
    return {"system": c.system, "code": c.code, "display": c.display}


def _patient(record: PatientRecord) -> dict[str, str]:
    return {"reference": f"Patient/{record.patient_id}"}


def lab_request(record: PatientRecord, key: str) -> dict[str, Any] | None:
    coding = _coding(key, systems.LOINC)
    if coding is None:
        return None
    return {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "category": [{"coding": [{"system": systems.SNOMED, "code": "108252007", "display": "Laboratory procedure"}]}],
        "code": {"coding": [coding], "text": coding["display"]},
        "subject": _patient(record),
    }


def vaccine_request(record: PatientRecord, key: str) -> dict[str, Any] | None:
    coding = _coding(key, systems.CVX)
    if coding is None:
        return None
    return {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "proposal",
        "medicationCodeableConcept": {"coding": [coding], "text": coding["display"]},
        "subject": _patient(record),
    }


def procedure_request(record: PatientRecord, key: str, start: date) -> dict[str, Any] | None:
    coding = _coding(key, systems.SNOMED)
    if coding is None:
        return None
    return {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "code": {"coding": [coding], "text": coding["display"]},
        "subject": _patient(record),
        "occurrenceDateTime": start.isoformat(),
    }


def drug_request(record: PatientRecord, key: str, start: date, dose_mg: float | None, text: str) -> dict[str, Any] | None:
    coding = _coding(key, systems.RXNORM)
    if coding is None:
        return None
    dosage: dict[str, Any] = {
        "text": text,
        "route": {"coding": [_IV_ROUTE]},
        "timing": {"repeat": {"boundsPeriod": {"start": start.isoformat()}}},
    }
    if dose_mg is not None:
        dosage["doseAndRate"] = [
            {"doseQuantity": {"value": round(dose_mg, 1), "unit": "mg", "system": systems.UCUM, "code": "mg"}}
        ]
    return {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "proposal",
        "medicationCodeableConcept": {"coding": [coding], "text": coding["display"]},
        "subject": _patient(record),
        "authoredOn": start.isoformat(),
        "dosageInstruction": [dosage],
    }


def _first_dosage(res: dict[str, Any]) -> dict[str, Any]:
    """dosageInstruction[0].timing.repeat of a copied draft, created where missing or malformed."""
    dosages = res.get("dosageInstruction")
    if not isinstance(dosages, list) or not dosages or not isinstance(dosages[0], dict):
        dosages = [{}]
    res["dosageInstruction"] = dosages
    dosage = dosages[0]
    if not isinstance(dosage.get("timing"), dict):
        dosage["timing"] = {}
    if not isinstance(dosage["timing"].get("repeat"), dict):
        dosage["timing"]["repeat"] = {}
    return dosage


def with_start(resource: Mapping[str, Any], start: date) -> dict[str, Any]:
    """A copy of a draft with its planned start moved (the field §9 reads first for its type)."""
    res = copy.deepcopy(dict(resource))
    if res.get("resourceType") in ("ServiceRequest", "ProcedureRequest"):
        res.pop("occurrencePeriod", None)
        res["occurrenceDateTime"] = start.isoformat()
        return res
    repeat = _first_dosage(res)["timing"]["repeat"]
    bounds = repeat.get("boundsPeriod") if isinstance(repeat.get("boundsPeriod"), dict) else {}
    bounds["start"] = start.isoformat()
    repeat["boundsPeriod"] = bounds
    return res


def with_daily_dose(resource: Mapping[str, Any], mg: float, text: str) -> dict[str, Any]:
    """A copy of a draft with one daily dose in mg (doseAndRate, R4 shape)."""
    res = copy.deepcopy(dict(resource))
    dosage = _first_dosage(res)
    dosage.pop("doseQuantity", None)
    dosage["doseAndRate"] = [{"doseQuantity": {"value": round(mg, 1), "unit": "mg", "system": systems.UCUM, "code": "mg"}}]
    dosage["timing"]["repeat"].update({"frequency": 1, "period": 1, "periodUnit": "d"})
    dosage["text"] = text
    return res


# -- naming ----------------------------------------------------------------------------------


def _names(orders: Iterable[DraftOrder], limit: int = 48) -> str:
    names = list(dict.fromkeys(o.concept.replace("-", " ") if o.concept else o.name for o in orders))
    text = ", ".join(names)
    if len(text) <= limit:
        return text
    return names[0][: limit - 12] + f" +{len(names) - 1} more" if len(names) > 1 else names[0][:limit]


def _fit(summary: str) -> str:
    return summary if len(summary) <= 139 else summary[:136].rstrip() + "..."


def _summary(code: str, f: Finding, orders: list[DraftOrder]) -> str:
    n = _names(orders)
    d = f.data
    if code == "safety.c5.meningococcal-vaccine-missing":
        what = " and ".join(d.get("missing_vaccines", ["meningococcal"]))
        return f"No {what} vaccination before {n}: vaccinate 2 weeks ahead or give prophylaxis"
    if code == "safety.c5.meningococcal-vaccine-recent":
        return f"Start {n} on or after {d.get('earliest_start')}: meningococcal vaccine too recent"
    if code == "safety.c5.not-indicated-serotype":
        return f"{n}: C5 inhibitors are for AChR+ gMG (serotype {d.get('serotype')}); reconsider"
    if code == "safety.zilucoplan.lipase-amylase-missing":
        return f"Zilucoplan: order baseline {' and '.join(d.get('missing_labs', []))} before the first dose"
    if code == "safety.b-cell.hbv-screen-missing":
        return f"Screen hepatitis B ({', '.join(d.get('missing_labs', []))}) before {n}"
    if code == "safety.b-cell.hbv-positive":
        return f"Hepatitis B positive: {n} risks HBV reactivation; HBV DNA, hepatology, prophylaxis"
    if code == "safety.ivig.iga-missing":
        return "Check serum IgA before IVIG (IgA deficiency: anaphylaxis risk)"
    if code == "safety.ivig.iga-deficiency":
        return "IgA deficiency: IVIG only as an IgA-depleted product, or use plasma exchange"
    if code == "safety.ivig.dose":
        if d.get("weight_missing"):
            return "IVIG 2 g/kg over 5 days: record a weight to compute this patient's dose"
        return f"IVIG for {d.get('weight_kg')} kg: {d.get('total_g')} g over {d.get('days')} days ({d.get('daily_g')} g/day)"
    if code == "safety.ivig.renal":
        return "Renal impairment: IVIG sucrose-free, infuse slowly, hydrate, recheck creatinine"
    if code == "safety.ivig.not-recommended-musk":
        return "MuSK+ MG: plasma exchange is preferred over IVIG"
    if code == "safety.plex.prefer-ivig":
        return f"IVIG preferred over plasma exchange ({', '.join(d.get('reasons', [])).lower()})"
    if code == "safety.plex.removes-biologic":
        sup = d.get("supplemental_mg") or {}
        if sup:
            return "Plasma exchange removes " + ", ".join(sup) + ": give a supplemental dose after each exchange"
        return "Plasma exchange removes " + ", ".join(d.get("removed_drugs") or ["the biologic"]) + ": re-time the dose"
    if code == "safety.fcrn.mab-washout":
        if d.get("earliest_start"):
            return f"Start {n} on or after {d['earliest_start']}: 14-day FcRn antagonist washout"
        return f"FcRn antagonist co-ordered: start {n} 14 days after its last dose"
    if code == "safety.pregnancy.teratogen":
        return f"{n}: teratogenic, contraindicated in pregnancy; stop the order"
    if code == "safety.pregnancy.b-cell-depletion":
        return f"{n} in pregnancy: avoid B-cell depletion unless life-threatening"
    if code == "safety.tacrolimus.cyp3a4":
        mods = ", ".join(d.get("modulators", []))
        return f"Tacrolimus with strong CYP3A4 modulator ({mods}): check trough, adjust dose"
    if code == "safety.ivmp.transient-worsening":
        return "IV methylprednisolone pulse can worsen MG early: monitor breathing, consider IVIG/PLEX"
    if code == "safety.mg-worsening-drug":
        return f"{n} can worsen myasthenia gravis: choose an alternative or monitor closely"
    if code == "safety.active-infection":
        return f"Active infection: defer {n} until it is controlled"
    return f.text.split(":")[0]


# -- details ---------------------------------------------------------------------------------


def _detail(findings: list[Finding], orders: list[DraftOrder], params: Parameters) -> str:
    lines: list[str] = []
    for f in findings:
        lines.append(f.text)
    facts = []
    for f in findings:
        for e in f.evidence:
            line = f"- {e.label}: {e.value}"
            if e.when is not None and e.when.isoformat() not in e.value:
                line += f" ({e.when.isoformat()})"
            if e.source:
                line += f" [{e.source}]"
            facts.append(line)
    if facts:
        lines += ["", "Based on:", *dict.fromkeys(facts)]
    unreadable = [f"- {o.resource_id}: {'; '.join(o.unreadable)}" for o in orders if o.unreadable]
    if unreadable:
        lines += ["", "Could not be read:", *unreadable]
    interim = []
    for f in findings:
        for p in f.parameters:
            if p in params.entries and params.entry(p).is_interim:
                e = params.entry(p)
                interim.append(f"- {p} = {e.value} ({e.tag}: interim default; verify against the source: {e.source})")
    if interim:
        lines += ["", "Interim defaults that decided this card:", *dict.fromkeys(interim)]
    lines += ["", f"_Parameter set {params.version}._"]
    return "\n".join(lines)


# -- suggestions -----------------------------------------------------------------------------


def _delete(o: DraftOrder, why: str, resources: Mapping[str, Any]) -> Suggestion | None:
    if o.resource_id not in resources:
        return None
    return Suggestion(
        label=f"Remove the {o.name} order",
        actions=(Action("delete", f"Delete draft {o.resource_id} ({why})", resource_id=o.resource_id),),
    )


def _create(label: str, description: str, resource: dict[str, Any] | None, recommended: bool = False) -> Suggestion | None:
    if resource is None:
        return None
    return Suggestion(label=label, actions=(Action("create", description, resource=resource),), is_recommended=recommended or None)


def _move(o: DraftOrder, start: date, resources: Mapping[str, Any]) -> Suggestion | None:
    res = resources.get(o.resource_id)
    if res is None:
        return None
    return Suggestion(
        label=f"Move {o.name} to {start.isoformat()}",
        actions=(Action("update", f"Set the planned start of {o.resource_id} to {start.isoformat()}", resource=with_start(res, start)),),
        is_recommended=True,
    )


def _swap(
    drafts: list[DraftOrder], resource: dict[str, Any] | None, label: str, resources: Mapping[str, Any]
) -> Suggestion | None:
    deletable = [o for o in drafts if o.resource_id in resources]
    if resource is None or not deletable:
        return None
    actions = tuple(Action("delete", f"Delete draft {o.resource_id}", resource_id=o.resource_id) for o in deletable)
    return Suggestion(label=label, actions=(*actions, Action("create", label, resource=resource)))


def _ivig_resource(record: PatientRecord, start: date, findings_data: dict[str, Any]) -> dict[str, Any] | None:
    daily = findings_data.get("daily_g")
    text = (
        f"IVIG {daily} g/day IV for {findings_data.get('days')} days (2 g/kg total {findings_data.get('total_g')} g)"
        if daily
        else "IVIG 0.4 g/kg/day IV for 5 days (2 g/kg): record a weight to compute the dose"
    )
    return drug_request(record, "ivig", start, daily * 1000 if daily else None, text)


def _suggestions(
    code: str,
    group: list[Finding],
    orders: list[DraftOrder],
    record: PatientRecord,
    resources: Mapping[str, Any],
    ivig_dose: Finding | None,
) -> list[Suggestion | None]:
    f = group[0]
    d = f.data
    primary = [o for o in orders if o.resource_id in d.get("orders", []) and o.resource_id not in d.get("co_ordered", ())]
    start = min((o.planned_start for o in primary), default=record.today)
    out: list[Suggestion | None] = []
    if code == "safety.c5.meningococcal-vaccine-missing":
        for label, key in (("MenACWY", "menacwy"), ("MenB", "menb")):
            if label in d.get("missing_vaccines", []):
                out.append(_create(f"Order {label} vaccine", f"Create a {label} vaccine order (CVX)", vaccine_request(record, key), True))
        out += [_delete(o, "defer until vaccinated", resources) for o in primary if o.is_("c5-inhibitor")]
    elif code == "safety.c5.meningococcal-vaccine-recent":
        earliest = date.fromisoformat(d["earliest_start"])
        out += [_move(o, earliest, resources) for o in primary]
    elif code in ("safety.c5.not-indicated-serotype", "safety.pregnancy.teratogen", "safety.pregnancy.b-cell-depletion",
                  "safety.mg-worsening-drug", "safety.active-infection"):
        out += [_delete(o, code.split(".", 1)[1], resources) for o in primary]
    elif code in ("safety.zilucoplan.lipase-amylase-missing", "safety.b-cell.hbv-screen-missing"):
        for label in d.get("missing_labs", []):
            key = _LAB_NAMES.get(label, label)
            out.append(_create(f"Order {label}", f"Create a {label} test order (LOINC)", lab_request(record, key), True))
    elif code == "safety.b-cell.hbv-positive":
        out.append(_create("Order HBV DNA", "Create an HBV DNA viral load order (LOINC)", lab_request(record, "hbv-dna"), True))
        out += [_delete(o, "HBV positive: defer until hepatology review", resources) for o in primary]
    elif code == "safety.ivig.iga-missing":
        out.append(_create("Order serum IgA", "Create a serum IgA test order (LOINC)", lab_request(record, "iga"), True))
    elif code in ("safety.ivig.iga-deficiency", "safety.ivig.not-recommended-musk"):
        out.append(_swap(primary, procedure_request(record, "plex", start), "Replace IVIG with plasma exchange", resources))
    elif code == "safety.plex.prefer-ivig":
        out.append(_swap(primary, _ivig_resource(record, start, ivig_dose.data if ivig_dose else {}), "Replace plasma exchange with IVIG", resources))
    elif code == "safety.plex.removes-biologic":
        first = date.fromisoformat(d["first_exchange"])
        for drug, mg in (d.get("supplemental_mg") or {}).items():
            if mg is None:
                continue
            within = "60 minutes" if drug == "eculizumab" else "4 hours"
            text = f"{drug} {mg:g} mg IV within {within} after each plasma exchange"
            out.append(_create(f"Order supplemental {drug} {mg:g} mg", f"Create a supplemental {drug} order", drug_request(record, drug, first, mg, text)))
    elif code == "safety.fcrn.mab-washout" and d.get("earliest_start"):
        earliest = date.fromisoformat(d["earliest_start"])
        out += [_move(o, earliest, resources) for o in primary if o.planned_start < earliest]
    elif code == "safety.tacrolimus.cyp3a4":
        out.append(_create("Order a tacrolimus trough", "Create a tacrolimus level order (LOINC)", lab_request(record, "tacrolimus-trough"), True))
        out += [_delete(o, "CYP3A4 interaction with tacrolimus", resources) for o in primary if o.is_("cyp3a4-strong-inducer", "cyp3a4-strong-inhibitor")]
    if ivig_dose is not None and not ivig_dose.data.get("weight_missing"):
        mg = float(ivig_dose.data["daily_g"]) * 1000
        for o in orders:
            if o.resource_id in ivig_dose.data.get("orders", []) and o.resource_id in resources and o.resource_type.startswith("Medication"):
                ordered = o.mg_per_day
                if ordered is None or abs(ordered - mg) > 1000:
                    text = f"IVIG {float(ivig_dose.data['daily_g']):g} g/day IV for {ivig_dose.data['days']} days ({ivig_dose.data['total_g']} g = 2 g/kg)"
                    out.append(
                        Suggestion(
                            label=f"Set IVIG to {float(ivig_dose.data['daily_g']):g} g/day",
                            actions=(Action("update", f"Set the daily dose of {o.resource_id}", resource=with_daily_dose(resources[o.resource_id], mg, text)),),
                        )
                    )
    return out


# -- cards -----------------------------------------------------------------------------------


def _groups(findings: Iterable[Finding]) -> list[list[Finding]]:
    by_code: dict[str, list[Finding]] = {}
    for f in findings:
        by_code.setdefault(f.code, []).append(f)
    groups = list(by_code.values())
    dose = by_code.get("safety.ivig.dose")
    if dose:
        host = next((g for g in groups if g[0].code.startswith("safety.ivig.") and g is not dose
                     and g[0].indicator != "info"), None)
        if host is not None:
            host.extend(dose)
            groups.remove(dose)
    return groups


def _merge(group: list[Finding]) -> Finding:
    """Several findings of one code (one per check run) as one: drafts, evidence, data united."""
    if len(group) == 1:
        return group[0]
    first = group[0]
    orders = list(dict.fromkeys(r for f in group for r in f.data.get("orders", [])))
    data = {**first.data, "orders": orders}
    return Finding(
        code=first.code,
        text=" ".join(dict.fromkeys(f.text for f in group)),
        indicator=highest_indicator(group),
        evidence=tuple(dict.fromkeys(e for f in group for e in f.evidence)),
        parameters=tuple(dict.fromkeys(p for f in group for p in f.parameters)),
        data=data,
    )


def order_cards(
    record: PatientRecord,
    orders: Iterable[DraftOrder],
    findings: Iterable[Finding],
    params: Parameters,
    *,
    resources: Mapping[str, Any] | None = None,
) -> list[Card]:
    """One card per problem, most severe first; `resources` (draft JSON by "Type/id") lets
    suggestions update or delete the drafts themselves."""
    orders = list(orders)
    resources = resources or {}
    by_id = {o.resource_id: o for o in orders}
    cards: list[Card] = []
    for group in _groups(findings):
        main_code = group[0].code
        main = _merge([f for f in group if f.code == main_code])
        extra = [f for f in group if f.code != main_code]
        presented = [main, *extra]
        concerned = [by_id[r] for f in presented for r in f.data.get("orders", []) if r in by_id]
        concerned = list(dict.fromkeys(concerned))
        parties = set(main.data.get("co_ordered", ()))
        primary = [by_id[r] for r in main.data.get("orders", []) if r in by_id and r not in parties]
        ivig_dose = next((f for f in presented if f.code == "safety.ivig.dose"), None)
        suggestions = tuple(s for s in _suggestions(main_code, [main], concerned, record, resources, ivig_dose) if s is not None)
        indicator = highest_indicator(presented)
        cards.append(
            Card(
                summary=_fit(_summary(main_code, main, primary or concerned)),
                indicator=indicator,
                source=SAFETY_SOURCE,
                detail=_detail(presented, concerned, params),
                suggestions=suggestions,
                selection_behavior="any" if suggestions else None,
                override_reasons=STANDARD_OVERRIDE_REASONS if indicator != "info" else (),
                findings=tuple({**f.as_extension(), "parameterSet": params.version} for f in presented),
            )
        )
    rank = {"critical": 0, "warning": 1, "info": 2}
    cards.sort(key=lambda c: rank[c.indicator])
    return cards


def unreadable_orders_card(orders: Iterable[DraftOrder], hook: str, params: Parameters) -> Card | None:
    """An info card naming drafts the checks could not read (`data-gap.draft-order`).

    order-sign: every draft with a reason (no code, unresolvable medication, unreadable dose of a
    known drug). order-select: only drafts whose drug is known but something in it is not
    readable; a draft still being filled in (no medication chosen yet) is normal there."""
    relevant = [
        o
        for o in orders
        if o.unreadable and o.selected
        and (hook == "order-sign" or o.concept is not None)
        and any(not r.startswith("no id") for r in o.unreadable)
    ]
    if not relevant:
        return None
    lines = [f"- {o.resource_id} ({o.name}): {'; '.join(o.unreadable)}" for o in relevant]
    summary = (
        f"{len(relevant)} draft order(s) could not be fully checked for MG safety"
        if len(relevant) > 1
        else f"Draft {relevant[0].name[:60]} could not be fully checked for MG safety"
    )
    detail = "\n".join(
        [
            "The order-safety checks read drugs and procedures by code. These drafts could not be read,",
            "so they were not checked (nothing was guessed):",
            *lines,
            "",
            f"_Parameter set {params.version}._",
        ]
    )
    finding = {
        "code": "data-gap.draft-order",
        "orders": [o.resource_id for o in relevant],
        "parameterSet": params.version,
    }
    return Card(summary=_fit(summary), indicator="info", source=SAFETY_SOURCE, detail=detail, findings=(finding,))
