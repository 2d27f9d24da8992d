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

from fhir_mappings import suggestions as fhir
from gmg.findings import Finding, highest_indicator
from gmg.orders import DraftOrder
from gmg.parameters import Parameters
from gmg.record import PatientRecord
from terminology import systems

from .cards import Action, Card, Source, Suggestion
from .i18n import clinical, concept_name, evidence_label, evidence_value, override_reasons, t, t_or


def safety_source() -> Source:
    return Source(label=t("source.safety"))


_LAB_NAMES = {"lipase": "lipase", "amylase": "amylase", "HBsAg": "hbsag", "anti-HBc": "anti-hbc"}


# -- resources for suggestions ---------------------------------------------------------------


def lab_request(record: PatientRecord, key: str) -> dict[str, Any] | None:
    if fhir.coding(key, systems.LOINC) is None:
        return None
    res = fhir.lab_proposal(record.patient_id, key)
    res["category"] = [{"coding": [{"system": systems.SNOMED, "code": "108252007", "display": "Laboratory procedure"}]}]
    return res


def vaccine_request(record: PatientRecord, key: str) -> dict[str, Any] | None:
    if fhir.coding(key, systems.CVX) is None:
        return None
    return fhir.vaccine_proposal(record.patient_id, key)


def procedure_request(record: PatientRecord, key: str, start: date) -> dict[str, Any] | None:
    if fhir.coding(key, systems.SNOMED) is None:
        return None
    res = fhir.procedure_proposal(record.patient_id, key, fhir.display(key))
    res["occurrenceDateTime"] = start.isoformat()
    return res


def drug_request(record: PatientRecord, key: str, start: date, dose_mg: float | None, text: str) -> dict[str, Any] | None:
    if fhir.coding(key, systems.RXNORM) is None:
        return None
    res = fhir.medication_proposal(
        record.patient_id, {"ingredient": key, "text": text, "route": "iv", "dose_mg": dose_mg}, start)
    res["authoredOn"] = start.isoformat()
    return res


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


def _order_name(o: DraftOrder) -> str:
    if o.concept:
        return concept_name(o.concept, o.concept.replace("-", " "))
    return o.name


def _own_name(o: DraftOrder) -> str:
    """The draft's own name (as ordered); in Chinese the concept's Chinese name when known."""
    return concept_name(o.concept, o.name) if o.concept else o.name


def _names(orders: Iterable[DraftOrder], limit: int = 48) -> str:
    names = list(dict.fromkeys(_order_name(o) for o in orders))
    text = t("list.comma").join(names)
    if len(text) <= limit:
        return text
    return names[0][: limit - 12] + t("text.more", count=len(names) - 1) if len(names) > 1 else names[0][:limit]


def _join(items: Iterable[str], key: str = "list.and") -> str:
    return t(key).join(clinical(str(i)) for i in items)


def _fit(summary: str) -> str:
    return summary if len(summary) <= 139 else summary[:136].rstrip() + "..."


def _summary(code: str, f: Finding, orders: list[DraftOrder]) -> str:
    n = _names(orders)
    d = f.data
    if code == "safety.c5.meningococcal-vaccine-missing":
        what = _join(d.get("missing_vaccines", ["meningococcal"]))
        return t("summary.c5-vaccine-missing", vaccines=what, orders=n)
    if code == "safety.c5.meningococcal-vaccine-recent":
        return t("summary.c5-vaccine-recent", orders=n, date=d.get("earliest_start"))
    if code == "safety.c5.not-indicated-serotype":
        return t("summary.c5-not-indicated", orders=n, serotype=d.get("serotype"))
    if code == "safety.zilucoplan.lipase-amylase-missing":
        return t("summary.zilucoplan-labs", labs=_join(d.get("missing_labs", [])))
    if code == "safety.b-cell.hbv-screen-missing":
        return t("summary.hbv-screen", labs=_join(d.get("missing_labs", []), "list.comma"), orders=n)
    if code == "safety.b-cell.hbv-positive":
        return t("summary.hbv-positive", orders=n)
    if code == "safety.ivig.iga-missing":
        return t("summary.iga-missing")
    if code == "safety.ivig.iga-deficiency":
        return t("summary.iga-deficiency")
    if code == "safety.ivig.dose":
        if d.get("weight_missing"):
            return t("summary.ivig-dose-no-weight")
        return t("summary.ivig-dose", weight=d.get("weight_kg"), total=d.get("total_g"), days=d.get("days"), daily=d.get("daily_g"))
    if code == "safety.ivig.renal":
        return t("summary.ivig-renal")
    if code == "safety.ivig.not-recommended-musk":
        return t("summary.ivig-musk")
    if code == "safety.plex.prefer-ivig":
        return t("summary.plex-prefer-ivig", reasons=clinical(", ".join(d.get("reasons", [])).lower()))
    if code == "safety.plex.removes-biologic":
        sup = d.get("supplemental_mg") or {}
        if sup:
            return t("summary.plex-supplement", drugs=t("list.comma").join(concept_name(k, k) for k in sup))
        removed = d.get("removed_drugs") or []
        drugs = t("list.comma").join(concept_name(k, k) for k in removed) if removed else t("text.the-biologic")
        return t("summary.plex-retime", drugs=drugs)
    if code == "safety.fcrn.mab-washout":
        if d.get("earliest_start"):
            return t("summary.fcrn-washout-date", orders=n, date=d["earliest_start"])
        return t("summary.fcrn-washout", orders=n)
    if code == "safety.pregnancy.teratogen":
        return t("summary.pregnancy-teratogen", orders=n)
    if code == "safety.pregnancy.b-cell-depletion":
        return t("summary.pregnancy-b-cell", orders=n)
    if code == "safety.tacrolimus.cyp3a4":
        mods = t("list.comma").join(concept_name(m, m) for m in d.get("modulators", []))
        return t("summary.tacrolimus-cyp3a4", modulators=mods)
    if code == "safety.ivmp.transient-worsening":
        return t("summary.ivmp-worsening")
    if code == "safety.mg-worsening-drug":
        return t("summary.mg-worsening-drug", orders=n)
    if code == "safety.active-infection":
        return t("summary.active-infection", orders=n)
    return clinical(f.text.split(":")[0])


# -- details ---------------------------------------------------------------------------------


def _detail(findings: list[Finding], orders: list[DraftOrder], params: Parameters) -> str:
    lines: list[str] = []
    for f in findings:
        lines.append(clinical(f.text))
    facts = []
    for f in findings:
        for e in f.evidence:
            line = f"- {evidence_label(e.label)}: {evidence_value(e.value)}"
            if e.when is not None and e.when.isoformat() not in e.value:
                line += f" ({e.when.isoformat()})"
            if e.source:
                line += f" [{e.source}]"
            facts.append(line)
    if facts:
        lines += ["", t("heading.based-on"), *dict.fromkeys(facts)]
    sep = t("list.separator")
    unreadable = [f"- {o.resource_id}: {sep.join(clinical(r) for r in o.unreadable)}" for o in orders if o.unreadable]
    if unreadable:
        lines += ["", t("heading.unreadable"), *unreadable]
    interim = []
    for f in findings:
        for p in f.parameters:
            if p in params.entries and params.entry(p).is_interim:
                e = params.entry(p)
                interim.append(t("line.interim-card", id=p, value=e.value, tag=e.tag, source=e.source))
    if interim:
        lines += ["", t("heading.interim-card"), *dict.fromkeys(interim)]
    lines += ["", t("text.parameter-set-italic", version=params.version)]
    return "\n".join(lines)


# -- suggestions -----------------------------------------------------------------------------


def _delete(o: DraftOrder, why: str, resources: Mapping[str, Any]) -> Suggestion | None:
    if o.resource_id not in resources:
        return None
    return Suggestion(
        label=t("suggestion.remove-order", name=_own_name(o)),
        actions=(Action("delete", t("action.delete-draft-why", id=o.resource_id, why=why), resource_id=o.resource_id),),
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
        label=t("suggestion.move", name=_own_name(o), date=start.isoformat()),
        actions=(Action("update", t("action.set-start", id=o.resource_id, date=start.isoformat()), resource=with_start(res, start)),),
        is_recommended=True,
    )


def _swap(
    drafts: list[DraftOrder], resource: dict[str, Any] | None, label: str, resources: Mapping[str, Any]
) -> Suggestion | None:
    deletable = [o for o in drafts if o.resource_id in resources]
    if resource is None or not deletable:
        return None
    actions = tuple(Action("delete", t("action.delete-draft", id=o.resource_id), resource_id=o.resource_id) for o in deletable)
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
                out.append(_create(t("suggestion.order-vaccine-short", vaccine=label), t("action.create-vaccine", vaccine=label), vaccine_request(record, key), True))
        out += [_delete(o, t("why.defer-until-vaccinated"), resources) for o in primary if o.is_("c5-inhibitor")]
    elif code == "safety.c5.meningococcal-vaccine-recent":
        earliest = date.fromisoformat(d["earliest_start"])
        out += [_move(o, earliest, resources) for o in primary]
    elif code in ("safety.c5.not-indicated-serotype", "safety.pregnancy.teratogen", "safety.pregnancy.b-cell-depletion",
                  "safety.mg-worsening-drug", "safety.active-infection"):
        out += [_delete(o, t_or(f"why.{code}", code.split(".", 1)[1]), resources) for o in primary]
    elif code in ("safety.zilucoplan.lipase-amylase-missing", "safety.b-cell.hbv-screen-missing"):
        for label in d.get("missing_labs", []):
            key = _LAB_NAMES.get(label, label)
            name = clinical(label)
            out.append(_create(t("suggestion.order-lab-short", name=name), t("action.create-lab", name=name), lab_request(record, key), True))
    elif code == "safety.b-cell.hbv-positive":
        out.append(_create(t("suggestion.order-hbv-dna"), t("action.create-hbv-dna"), lab_request(record, "hbv-dna"), True))
        out += [_delete(o, t("why.hbv-positive"), resources) for o in primary]
    elif code == "safety.ivig.iga-missing":
        out.append(_create(t("suggestion.order-iga"), t("action.create-iga"), lab_request(record, "iga"), True))
    elif code in ("safety.ivig.iga-deficiency", "safety.ivig.not-recommended-musk"):
        out.append(_swap(primary, procedure_request(record, "plex", start), t("suggestion.swap-to-plex"), resources))
    elif code == "safety.plex.prefer-ivig":
        out.append(_swap(primary, _ivig_resource(record, start, ivig_dose.data if ivig_dose else {}), t("suggestion.swap-to-ivig"), resources))
    elif code == "safety.plex.removes-biologic":
        first = date.fromisoformat(d["first_exchange"])
        for drug, mg in (d.get("supplemental_mg") or {}).items():
            if mg is None:
                continue
            within = "60 minutes" if drug == "eculizumab" else "4 hours"
            text = f"{drug} {mg:g} mg IV within {within} after each plasma exchange"
            name = concept_name(drug, drug)
            out.append(_create(t("suggestion.supplemental", drug=name, mg=f"{mg:g}"), t("action.create-supplemental", drug=name), drug_request(record, drug, first, mg, text)))
    elif code == "safety.fcrn.mab-washout" and d.get("earliest_start"):
        earliest = date.fromisoformat(d["earliest_start"])
        out += [_move(o, earliest, resources) for o in primary if o.planned_start < earliest]
    elif code == "safety.tacrolimus.cyp3a4":
        out.append(_create(t("suggestion.order-tacrolimus-trough"), t("action.create-tacrolimus-trough"), lab_request(record, "tacrolimus-trough"), True))
        out += [_delete(o, t("why.cyp3a4"), resources) for o in primary if o.is_("cyp3a4-strong-inducer", "cyp3a4-strong-inhibitor")]
    if ivig_dose is not None and not ivig_dose.data.get("weight_missing"):
        mg = float(ivig_dose.data["daily_g"]) * 1000
        for o in orders:
            if o.resource_id in ivig_dose.data.get("orders", []) and o.resource_id in resources and o.resource_type.startswith("Medication"):
                ordered = o.mg_per_day
                if ordered is None or abs(ordered - mg) > 1000:
                    text = f"IVIG {float(ivig_dose.data['daily_g']):g} g/day IV for {ivig_dose.data['days']} days ({ivig_dose.data['total_g']} g = 2 g/kg)"
                    out.append(
                        Suggestion(
                            label=t("suggestion.set-ivig", daily=f"{float(ivig_dose.data['daily_g']):g}"),
                            actions=(Action("update", t("action.set-daily-dose", id=o.resource_id), resource=with_daily_dose(resources[o.resource_id], mg, text)),),
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
                source=safety_source(),
                detail=_detail(presented, concerned, params),
                suggestions=suggestions,
                selection_behavior="any" if suggestions else None,
                override_reasons=override_reasons() if indicator != "info" else (),
                findings=tuple({**f.as_extension(), "parameterSet": params.version} for f in presented),
            )
        )
    rank = {"critical": 0, "warning": 1, "info": 2}
    cards.sort(key=lambda c: rank[c.indicator])
    return cards


def unreadable_orders_card(orders: Iterable[DraftOrder], hook: str, params: Parameters) -> Card | None:
    """An info card naming drafts the checks could not read (`data-gap.draft-order`).

    order-sign: every draft with a reason (no code, unresolvable medication, unreadable dose of a
    known drug). order-select: drafts whose drug is known but something in it is not readable,
    and drafts whose JSON is malformed (never silence); a draft still being filled in (no
    medication chosen yet) is normal there."""
    relevant = [
        o
        for o in orders
        if o.unreadable and o.selected
        and (hook == "order-sign" or o.concept is not None or o.malformed)
        and any(not r.startswith("no id") for r in o.unreadable)
    ]
    if not relevant:
        return None
    sep = t("list.separator")
    lines = [f"- {o.resource_id} ({o.name}): {sep.join(clinical(r) for r in o.unreadable)}" for o in relevant]
    summary = (
        t("summary.unreadable-many", count=len(relevant))
        if len(relevant) > 1
        else t("summary.unreadable-one", name=relevant[0].name[:60])
    )
    detail = "\n".join(
        [
            t("text.unreadable-1"),
            t("text.unreadable-2"),
            *lines,
            "",
            t("text.parameter-set-italic", version=params.version),
        ]
    )
    finding = {
        "code": "data-gap.draft-order",
        "orders": [o.resource_id for o in relevant],
        "parameterSet": params.version,
    }
    return Card(summary=_fit(summary), indicator="info", source=safety_source(), detail=detail, findings=(finding,))
