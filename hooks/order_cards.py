"""Order-safety findings -> CDS Hooks cards (gmg-rules.md §6, §8, §9 "Orders").

Driven by the finding-code registry (`finding_codes.toml`): a finding's summary and detail
messages, the values they take and the suggestions it offers are data there; this module groups
findings into cards and builds the suggestion kinds the registry names (SUGGESTION_BUILDERS).

- One card per problem: findings are grouped by code, so several drafts with one problem give one
  card naming them all, and no problem is shown twice in one response. The IVIG dose (info) rides
  on the IVIG warning card when there is one.
- The card's indicator is the highest of its findings; every warning and critical card offers
  the standard override reasons.
- The summary says what is wrong and what to do; the detail says why, with the values and dates
  it rests on, names the same drugs and dates as the summary, gives any interim threshold that
  decided it in plain words, and the parameter-set version. Parameter ids, tags and codes stay in
  the extension.
- A check that could not run on a draft (`data-gap.draft-order`) gets its own info card naming the
  check and why; a draft whose dose unit is not a mass still gets every check that needs no dose.
- Suggestions fix the order: delete or update the draft (by its resourceId), create the missing
  lab (ServiceRequest, LOINC) or vaccine (MedicationRequest, CVX), or swap PLEX <-> IVIG. Each
  suggestion carries one change, except a swap, whose delete+create must go together (CDS Hooks
  actions in one suggestion are applied as one transaction).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Iterable, Mapping

from fhir_mappings import suggestions as fhir
from gmg.findings import Finding, highest_indicator
from gmg.safety import NOT_CHECKED_CODE
from gmg.orders import DraftOrder
from gmg.parameters import Parameters
from gmg.record import PatientRecord
from terminology import systems

from . import card_text
from .card_text import order_name, words
from .cards import Action, Card, Source, Suggestion
from .finding_codes import SuggestionSpec, entry, registry
from .i18n import concept_name, override_reasons, t


def safety_source() -> Source:
    return Source(label=t("source.safety"))


# The names the checks give missing labs and vaccines -> their concept keys (for the orders).
_LAB_NAMES = {"lipase": "lipase", "amylase": "amylase", "HBsAg": "hbsag", "anti-HBc": "anti-hbc"}
_VACCINE_NAMES = {"MenACWY": "menacwy", "MenB": "menb"}


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


def _own_name(o: DraftOrder) -> str:
    """The draft's own name (as ordered); in Chinese the concept's Chinese name when known."""
    return concept_name(o.concept, o.name) if o.concept else o.name


def _fit(summary: str) -> str:
    return summary if len(summary) <= 139 else summary[:136].rstrip() + "..."


# -- details ---------------------------------------------------------------------------------


def _detail(presented: list[Finding], by_id: Mapping[str, DraftOrder], params: Parameters) -> str:
    """What the card says: each finding's sentences, the facts behind them in one line, the interim
    thresholds that decided it (plain words) and the parameter-set version."""
    lines = [card_text.detail(f, orders_by_id=by_id, params=params) for f in presented]
    facts = card_text.evidence_line(e for f in presented if not registry().knows(f.code) or entry(f.code).facts
                                    for e in f.evidence)
    if facts:
        lines += ["", facts]
    lines += [""] + card_text.footer(params, (p for f in presented for p in f.parameters))
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


@dataclass(frozen=True)
class _Context:
    """What a suggestion builder may read: the finding, the drafts it is about, the record, the
    drafts' JSON (to update or delete them), the card's IVIG dose finding if it carries one."""

    finding: Finding
    primary: list[DraftOrder]  # the drafts the finding is about (not the co-ordered parties)
    concerned: list[DraftOrder]  # every draft on the card
    record: PatientRecord
    resources: Mapping[str, Any]
    ivig_dose: Finding | None

    @property
    def start(self) -> date:
        return min((o.planned_start for o in self.primary), default=self.record.today)


def _s_create_vaccines(c: _Context, spec: SuggestionSpec) -> list[Suggestion | None]:
    out = []
    for label in c.finding.data.get(spec.args.get("from", "missing_vaccines"), []):
        key = _VACCINE_NAMES.get(label, label)
        out.append(_create(t("suggestion.order-vaccine-short", vaccine=label), t("action.create-vaccine", vaccine=label),
                           vaccine_request(c.record, key), True))
    return out


def _s_remove_drafts(c: _Context, spec: SuggestionSpec) -> list[Suggestion | None]:
    only = tuple(spec.args.get("only", ()))
    why = t(str(spec.args["why"]))
    return [_delete(o, why, c.resources) for o in c.primary if not only or o.is_(*only)]


def _s_move_start(c: _Context, spec: SuggestionSpec) -> list[Suggestion | None]:
    value = c.finding.data.get(spec.args.get("from", "earliest_start"))
    if not value:
        return []
    earliest = date.fromisoformat(str(value))
    return [_move(o, earliest, c.resources) for o in c.primary if o.planned_start < earliest]


def _s_create_labs(c: _Context, spec: SuggestionSpec) -> list[Suggestion | None]:
    out = []
    for label in c.finding.data.get(spec.args.get("from", "missing_labs"), []):
        key = _LAB_NAMES.get(label, label)
        name = words(label)
        out.append(_create(t("suggestion.order-lab-short", name=name), t("action.create-lab", name=name),
                           lab_request(c.record, key), True))
    return out


def _s_create_lab(c: _Context, spec: SuggestionSpec) -> list[Suggestion | None]:
    return [_create(t(str(spec.args["label"])), t(str(spec.args["action"])), lab_request(c.record, str(spec.args["concept"])), True)]


def _s_swap_to_plex(c: _Context, spec: SuggestionSpec) -> list[Suggestion | None]:
    return [_swap(c.primary, procedure_request(c.record, "plex", c.start), t("suggestion.swap-to-plex"), c.resources)]


def _s_swap_to_ivig(c: _Context, spec: SuggestionSpec) -> list[Suggestion | None]:
    dose = c.ivig_dose.data if c.ivig_dose else {}
    return [_swap(c.primary, _ivig_resource(c.record, c.start, dose), t("suggestion.swap-to-ivig"), c.resources)]


def _s_create_supplemental(c: _Context, spec: SuggestionSpec) -> list[Suggestion | None]:
    d = c.finding.data
    if not d.get("first_exchange"):
        return []
    first = date.fromisoformat(d["first_exchange"])
    out: list[Suggestion | None] = []
    for drug, mg in (d.get("supplemental_mg") or {}).items():
        if mg is None:
            continue
        within = "60 minutes" if drug == "eculizumab" else "4 hours"
        text = f"{drug} {mg:g} mg IV within {within} after each plasma exchange"
        name = concept_name(drug, drug)
        out.append(_create(t("suggestion.supplemental", drug=name, mg=f"{mg:g}"), t("action.create-supplemental", drug=name),
                           drug_request(c.record, drug, first, mg, text)))
    return out


def _s_set_ivig_dose(c: _Context, spec: SuggestionSpec) -> list[Suggestion | None]:
    dose = c.ivig_dose
    if dose is None or dose.data.get("weight_missing"):
        return []
    daily = float(dose.data["daily_g"])
    mg = daily * 1000
    out: list[Suggestion | None] = []
    for o in c.concerned:
        if o.resource_id in dose.data.get("orders", []) and o.resource_id in c.resources and o.resource_type.startswith("Medication"):
            if o.mg_per_day is None or abs(o.mg_per_day - mg) > 1000:
                text = f"IVIG {daily:g} g/day IV for {dose.data['days']} days ({dose.data['total_g']} g = 2 g/kg)"
                out.append(Suggestion(
                    label=t("suggestion.set-ivig", daily=f"{daily:g}"),
                    actions=(Action("update", t("action.set-daily-dose", id=o.resource_id),
                                    resource=with_daily_dose(c.resources[o.resource_id], mg, text)),),
                ))
    return out


# Suggestion kinds named in finding_codes.toml -> what they build (one list per finding).
SUGGESTION_BUILDERS: dict[str, Callable[[_Context, SuggestionSpec], list[Suggestion | None]]] = {
    "create-vaccines": _s_create_vaccines,
    "remove-drafts": _s_remove_drafts,
    "move-start": _s_move_start,
    "create-labs": _s_create_labs,
    "create-lab": _s_create_lab,
    "swap-to-plex": _s_swap_to_plex,
    "swap-to-ivig": _s_swap_to_ivig,
    "create-supplemental": _s_create_supplemental,
    "set-ivig-dose": _s_set_ivig_dose,
}


def _suggestions(presented: list[Finding], c: _Context) -> list[Suggestion]:
    out: list[Suggestion] = []
    for f in presented:
        ctx = c if f is c.finding else _Context(f, c.primary, c.concerned, c.record, c.resources, c.ivig_dose)
        for spec in (entry(f.code).suggestions if registry().knows(f.code) else ()):
            out += [s for s in SUGGESTION_BUILDERS[spec.kind](ctx, spec) if s is not None]
    return out


# -- cards -----------------------------------------------------------------------------------


def _group_key(f: Finding) -> tuple[str, ...]:
    # A check that could not run: one card per check and reason (each names its drafts).
    if f.code == NOT_CHECKED_CODE:
        return (f.code, str(f.data.get("check")), str(f.data.get("reason")))
    return (f.code,)


def _groups(findings: Iterable[Finding]) -> list[list[Finding]]:
    by_key: dict[tuple[str, ...], list[Finding]] = {}
    for f in findings:
        by_key.setdefault(_group_key(f), []).append(f)
    groups = list(by_key.values())
    dose = by_key.get(("safety.ivig.dose",))
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
        main = _merge([f for f in group if _group_key(f) == _group_key(group[0])])
        presented = [main, *(f for f in group if _group_key(f) != _group_key(group[0]))]
        concerned = list(dict.fromkeys(by_id[r] for f in presented for r in f.data.get("orders", []) if r in by_id))
        parties = set(main.data.get("co_ordered", ()))
        primary = [by_id[r] for r in main.data.get("orders", []) if r in by_id and r not in parties]
        ivig_dose = next((f for f in presented if f.code == "safety.ivig.dose"), None)
        context = _Context(main, primary or concerned, concerned, record, resources, ivig_dose)
        suggestions = tuple(_suggestions(presented, context))
        indicator = highest_indicator(presented)
        summary = card_text.summary(main, orders_by_id=by_id, params=params) or main.code
        cards.append(
            Card(
                summary=_fit(summary),
                indicator=indicator,
                source=safety_source(),
                detail=_detail(presented, by_id, params),
                suggestions=suggestions,
                selection_behavior="any" if suggestions else None,
                override_reasons=override_reasons() if indicator != "info" else (),
                findings=tuple({**f.as_extension(), "parameterSet": params.version} for f in presented),
            )
        )
    rank = {"critical": 0, "warning": 1, "info": 2}
    cards.sort(key=lambda c: rank[c.indicator])
    return cards
