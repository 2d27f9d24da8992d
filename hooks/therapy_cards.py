"""Patient-view cards for next-line therapy options and rapid therapy (gmg-rules.md §5, §9).

Three cards: the long-term options for a refractory patient (each option's reason, dose for this
patient, prerequisites and their status, evidence and label notes; one suggestion per named drug
with a draft MedicationRequest, plus orders for missing prerequisite labs and vaccines), and the
rapid options (PLEX / IVIG / IVMP), either for an exacerbation now (shown first) or for one that
may occur; and, after rituximab, the follow-up of B cells and IgG and when to consider redosing.
All list their findings in `extension["gmg-cds"].findings`, name the parameter-set
version and any interim (D-lo/K) parameter used, and offer the standard override reasons.
"""

from __future__ import annotations

from typing import Any

from fhir_mappings import suggestions as fhir
from gmg import dosing
from gmg.findings import Finding, highest_indicator
from gmg.follow_up import rituximab_follow_up
from gmg.parameters import Parameters
from gmg.rapid import rapid_options
from gmg.record import PatientRecord
from gmg.drugs import DEFAULT_REGION
from gmg.therapy import (
    OPTION_TITLE,
    SEROTYPE_LABEL,
    AssessmentView,
    prerequisite_orders,
    suggested_orders,
    therapy_options,
)

from . import context
from .cards import Action, Card, Source, Suggestion
from .i18n import clinical, concept_name, label_note, override_reasons, t, t_or

PREREQUISITE_STATUSES = ("met", "not-met", "missing", "recent", "positive", "unknown", "to-confirm")
OPTION_STATES = ("current", "intolerance", "pregnancy-avoid", "pregnancy-specialist", "deferred-infection")


def therapy_source() -> Source:
    return Source(label=t("source.therapy"))


def rapid_source() -> Source:
    return Source(label=t("source.rapid"))


def status_mark(status: str) -> str:
    return t(f"prerequisite.{status}") if status in PREREQUISITE_STATUSES else status


def option_title(option: str, fallback: str) -> str:
    return t_or(f"option.{option}", clinical(fallback))


def serotype_label(serotype: str) -> str:
    return t_or(f"serotype-label.{serotype}", serotype)


def _summary(text: str) -> str:
    return text if len(text) <= 139 else text[:136].rstrip(" ,;") + "…"


def _interim_line(findings: list[Finding], params: Parameters) -> str:
    ids = [p for f in findings for p in f.parameters if p in params.entries]
    interim = params.interim(*dict.fromkeys(ids))
    line = t("text.parameter-set-italic", version=params.version)
    if interim:
        line += t("text.interim-used", parameters=t("list.comma").join(f"`{e.id}` ({e.tag})" for e in interim))
    return line


def _option_lines(f: Finding) -> list[str]:
    data = f.data
    state = data.get("state", "suggested")
    option = data.get("option", "")
    head = f"**{data.get('rank', '')}. {option_title(option, OPTION_TITLE.get(option, f.code))}**"
    if state != "suggested":
        head += f" — {t(f'option-state.{state}') if state in OPTION_STATES else state}"
    lines = [head, clinical(data.get("why", f.text) if state == "suggested" else f.text)]
    if state == "suggested" and data.get("previous_text"):
        lines[-1] += " " + clinical(str(data["previous_text"]))
    for d in data.get("drugs", []):
        dose = clinical(d.get("dose") or d.get("note") or "")
        extra = f" ({clinical(d['note'])})" if d.get("note") and d.get("dose") else ""
        name = concept_name(d["ingredient"], d["display"]) if d.get("ingredient") else d["display"]
        label = label_note(d.get("label_id") or d.get("ingredient", ""), d["label"])
        lines.append(t("line.drug", drug=name, dose=dose, extra=extra, label=label))
    for p in data.get("prerequisites", []) if state == "suggested" else ():
        lines.append(t("line.prerequisite", name=clinical(p["name"]), status=status_mark(p["status"]), detail=clinical(p["detail"])))
    if data.get("option") == "anti-cd20":
        lines.append(t("line.rituximab-evidence"))
    return lines


def _order_suggestions(patient_id: str, orders: list[dict[str, Any]]) -> list[Suggestion]:
    out = []
    for o in orders:
        name = concept_name(o["ingredient"], o.get("display", o["ingredient"]))
        label = str(o.get("label") or o.get("display") or o["ingredient"])
        if o.get("display") and label.startswith(o["display"]):  # the drug's name, then its regimen
            label = name + clinical(label[len(o["display"]):])
        else:
            label = clinical(label)
        out.append(Suggestion(
            label=label[:200],
            actions=(Action("create", t("action.draft-order", what=f"{name} {clinical(o.get('text', ''))}".strip()),
                            fhir.medication_proposal(patient_id, o)),),
        ))
    return out


def _prerequisite_suggestions(patient_id: str, orders: list[dict[str, str]]) -> list[Suggestion]:
    out: list[Suggestion] = []
    for o in orders:
        name = concept_name(o["concept"], fhir.display(o["concept"]))
        if o["kind"] == "vaccine":
            resource = fhir.vaccine_proposal(patient_id, o["concept"], "before a C5 inhibitor (≥ 2 weeks)")
            out.append(Suggestion(t("suggestion.order-vaccine", name=name), (Action("create", t("action.vaccinate", name=name), resource),)))
        else:
            resource = fhir.lab_proposal(patient_id, o["concept"], "prerequisite for a next-line therapy")
            out.append(Suggestion(t("suggestion.order-lab", name=name), (Action("create", t("action.order", name=name), resource),)))
    return out


def dosing_basis(record: PatientRecord, params: Parameters, inputs: dosing.DosingInputs | None = None) -> str | None:
    """The recorded measurements the doses on the card were computed from, with their dates."""
    if inputs is None:
        inputs = dosing.dosing_inputs(record, params)
    items = []
    if inputs.weight_kg is not None:
        items.append(t("basis.weight", value=f"{inputs.weight_kg.value:g}", date=inputs.weight_kg.when.isoformat()))
    if inputs.height_cm is not None:
        items.append(t("basis.height", value=f"{inputs.height_cm.value:g}", date=inputs.height_cm.when.isoformat()))
    if inputs.haematocrit_fraction is not None:
        items.append(t("basis.haematocrit", value=f"{inputs.haematocrit_fraction.value * 100:.0f}",
                       date=inputs.haematocrit_fraction.when.isoformat()))
    return t("text.dosing-basis", items=t("list.comma").join(items)) if items else None


def options_card(record: PatientRecord, assessment: AssessmentView, params: Parameters,
                 findings: tuple[Finding, ...], inputs: dosing.DosingInputs | None = None,
                 region: str = DEFAULT_REGION) -> Card | None:
    if not findings:
        return None
    sero = serotype_label(assessment.serotype) if assessment.serotype in SEROTYPE_LABEL else assessment.serotype
    offered = [option_title(f.data["option"], OPTION_TITLE[f.data["option"]]) for f in findings
               if f.data.get("option") and f.data.get("state") == "suggested"]
    summary = t("summary.options", serotype=sero,
                options=t("list.comma").join(offered) if offered else t("summary.options-review"))
    lines: list[str] = []
    for f in findings:
        if "option" in f.data:
            lines += _option_lines(f) + [""]
    for f in findings:
        if "option" not in f.data:
            lines += [f"**{f.code}** — {clinical(f.text)}", ""]
    basis = dosing_basis(record, params, inputs)
    if basis:
        lines += [basis, ""]
    if region != DEFAULT_REGION:  # label facts of another regulator than the default's: say whose
        lines += [t("text.label-region", region=t(f"region.{region}")), ""]
    lines.append(_interim_line(list(findings), params))
    suggestions = _order_suggestions(record.patient_id, suggested_orders(findings))
    suggestions += _prerequisite_suggestions(record.patient_id, prerequisite_orders(findings))
    return _findings_card(summary, therapy_source(), lines, suggestions, findings, params)


def rapid_card(record: PatientRecord, assessment: AssessmentView, params: Parameters,
               findings: tuple[Finding, ...]) -> Card | None:
    if not findings:
        return None
    codes = [f.code for f in findings]
    lead = t("summary.rapid-now") if assessment.acute else t("summary.rapid-if")
    if "rescue.prefer-plex" in codes:
        choice = t("summary.rapid-prefer-plex")
    elif "rescue.prefer-ivig" in codes:
        choice = t("summary.rapid-prefer-ivig")
    else:
        choice = t("summary.rapid-either")
    summary = t("summary.rapid", lead=lead, choice=choice)
    lines = [f"- **{f.code}** — {clinical(f.text)}" for f in findings]
    for f in findings:
        for p in f.data.get("prerequisites", []) or []:
            lines.append(t("line.before-ivig", name=clinical(p["name"]), status=status_mark(p["status"]), detail=clinical(p["detail"])))
    lines += ["", _interim_line(list(findings), params)]
    suggestions: list[Suggestion] = []
    for f in findings:
        order = f.data.get("order")
        if not isinstance(order, dict):
            continue
        if order.get("kind") == "procedure":
            resource = fhir.procedure_proposal(record.patient_id, order["concept"], order["text"])
            suggestions.append(Suggestion(t("suggestion.order-plex"), (
                Action("create", clinical(order["text"]), resource),), is_recommended="rescue.prefer-plex" in codes or None))
        else:
            suggestions += _order_suggestions(record.patient_id, [order])
    labs = [o for f in findings for p in f.data.get("prerequisites", []) or [] for o in p.get("orders", [])]
    suggestions += _prerequisite_suggestions(record.patient_id, labs)
    return _findings_card(summary, rapid_source(), lines, suggestions, findings, params)


def _findings_card(summary: str, source: Source, lines: list[str], suggestions: list[Suggestion],
                   findings: tuple[Finding, ...], params: Parameters) -> Card:
    """The options and rapid cards' common shape: indicator from the findings, any suggestion
    may be taken, the standard override reasons, the findings with the parameter set."""
    return Card(
        summary=_summary(summary),
        indicator=highest_indicator(findings),
        source=source,
        detail="\n".join(lines),
        suggestions=tuple(suggestions),
        selection_behavior="any" if suggestions else None,
        override_reasons=override_reasons(),
        findings=tuple({**f.as_extension(), "parameter_set": params.version} for f in findings),
    )


def follow_up_card(record: PatientRecord, params: Parameters) -> Card | None:
    """After rituximab: B cells and IgG every 3-6 months, the dates on record, and redosing."""
    f = rituximab_follow_up(record, params)
    if f is None:
        return None
    d = f.data
    lo, hi = d["monitorMonths"]
    summary = t("summary.follow-up-rituximab", lo=lo, hi=hi,
                overdue=t("summary.follow-up-overdue") if d["overdue"] else "")
    lines = [t("follow-up.last-dose", date=d["lastDose"])]
    count = d["lastBCellCount"]
    if count and d["bCellCountSinceDose"]:
        lines.append(t("follow-up.last-count", value=count["value"], date=count["date"]))
    elif count:
        lines.append(t("follow-up.count-before-dose", value=count["value"], date=count["date"]))
    else:
        lines.append(t("follow-up.no-count"))
    igg = d["lastIgG"]
    lines.append(t("follow-up.last-igg", value=igg["value"], date=igg["date"]) if igg else t("follow-up.no-igg"))
    lines.append("")
    key = "follow-up.monitor-overdue" if d["overdue"] else "follow-up.monitor-due"
    lines.append(t(key, lo=lo, hi=hi, start=d["checkDueFrom"], end=d["checkDueBy"]))
    lines.append(t("follow-up.redose", months=d["redoseMonths"], date=d["redoseFrom"], pct=f"{d['redoseCd20Percent']:g}"))
    lines += ["", _interim_line([f], params)]
    suggestions = _prerequisite_suggestions(record.patient_id, list(d.get("orders") or []))
    return _findings_card(summary, Source(label=t("source.follow-up")), lines, suggestions, (f,), params)


def therapy_cards(record: PatientRecord, assessment: AssessmentView, params: Parameters,
                  region: str | None = None) -> list[Card]:
    """The options card and the rapid-therapy card; during an exacerbation the rapid card first.

    `region`: the regulatory region (label facts; default the site setting GMG_CDS_REGULATORY_REGION)."""
    region = region or context.regulatory_region()
    # The weight, height and haematocrit for dosing, read from the record once for both cards.
    inputs = dosing.dosing_inputs(record, params)
    options = options_card(record, assessment, params, therapy_options(record, assessment, params, inputs, region),
                           inputs, region)
    rapid = rapid_card(record, assessment, params, rapid_options(record, assessment, params, inputs))
    ordered = [rapid, options] if assessment.acute else [options, rapid]
    ordered.append(follow_up_card(record, params))
    return [c for c in ordered if c is not None]
