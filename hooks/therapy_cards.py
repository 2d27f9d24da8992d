"""Patient-view cards for next-line therapy options and rapid therapy (gmg-rules.md §5, §9).

Two cards: the long-term options for a refractory patient (each option's reason, dose for this
patient, prerequisites and their status, evidence and label notes; one suggestion per named drug
with a draft MedicationRequest, plus orders for missing prerequisite labs and vaccines), and the
rapid options (PLEX / IVIG / IVMP), either for an exacerbation now (shown first) or for one that
may occur. Both list their findings in `extension["gmg-cds"].findings`, name the parameter-set
version and any interim (D-lo/K) parameter used, and offer the standard override reasons.
"""

from __future__ import annotations

from typing import Any

from fhir_mappings import suggestions as fhir
from gmg.findings import Finding, highest_indicator
from gmg.parameters import Parameters
from gmg.rapid import rapid_options
from gmg.record import PatientRecord
from gmg.therapy import (
    OPTION_TITLE,
    SEROTYPE_LABEL,
    AssessmentView,
    prerequisite_orders,
    suggested_orders,
    therapy_options,
)

from .cards import STANDARD_OVERRIDE_REASONS, Action, Card, Source, Suggestion

THERAPY_SOURCE = Source(label="Chinese expert consensus on refractory gMG: treatment (gmg-cds)")
RAPID_SOURCE = Source(label="Chinese expert consensus on refractory gMG: fast-acting therapy (gmg-cds)")
STATUS_MARK = {"met": "✔ met", "missing": "✘ missing", "recent": "⏳ too recent", "positive": "⚠ positive",
               "unknown": "? unknown", "to-confirm": "… confirm"}
STATE_WORDS = {
    "current": "current therapy",
    "intolerance": "not suggested (intolerance / severe event on record)",
    "pregnancy-avoid": "avoid in pregnancy unless life-threatening",
    "pregnancy-specialist": "pregnancy: specialist decision",
    "deferred-infection": "deferred: active infection",
}


def _summary(text: str) -> str:
    return text if len(text) <= 139 else text[:136].rstrip(" ,;") + "…"


def _interim_line(findings: list[Finding], params: Parameters) -> str:
    ids = [p for f in findings for p in f.parameters if p in params.entries]
    interim = params.interim(*dict.fromkeys(ids))
    line = f"_Parameter set {params.version}._"
    if interim:
        line += " Interim defaults used (verify against the published consensus / label): " + ", ".join(
            f"`{e.id}` ({e.tag})" for e in interim) + "."
    return line


def _option_lines(f: Finding) -> list[str]:
    data = f.data
    state = data.get("state", "suggested")
    head = f"**{data.get('rank', '')}. {OPTION_TITLE.get(data.get('option', ''), f.code)}**"
    if state != "suggested":
        head += f" — {STATE_WORDS.get(state, state)}"
    lines = [head, data.get("why", f.text) if state == "suggested" else f.text]
    for d in data.get("drugs", []):
        dose = d.get("dose") or d.get("note") or ""
        extra = f" ({d['note']})" if d.get("note") and d.get("dose") else ""
        lines.append(f"- {d['display']}: {dose}{extra}. _Label:_ {d['label']}.")
    for p in data.get("prerequisites", []) if state == "suggested" else ():
        lines.append(f"  - Prerequisite — {p['name']}: {STATUS_MARK.get(p['status'], p['status'])} ({p['detail']})")
    if data.get("option") == "anti-cd20":
        lines.append("  - Evidence (Yale, J Neurol Sci 2020, 33 patients): remission 12/17 AChR+ vs 9/16 MuSK+; time to "
                     "remission 441.4 ± 336.6 d vs 230 ± 180.8 d (p = 0.049); relapse 58.8% vs 37.5%. Monitor CD19+ B "
                     "cells and IgG/IgM/IgA every 3–6 months.")
    return lines


def _order_suggestions(patient_id: str, orders: list[dict[str, Any]]) -> list[Suggestion]:
    return [
        Suggestion(
            label=str(o.get("label") or o.get("display") or o["ingredient"])[:200],
            actions=(Action("create", f"Draft order: {o.get('display', o['ingredient'])} {o.get('text', '')}".strip(),
                            fhir.medication_proposal(patient_id, o)),),
        )
        for o in orders
    ]


def _prerequisite_suggestions(patient_id: str, orders: list[dict[str, str]]) -> list[Suggestion]:
    out: list[Suggestion] = []
    for o in orders:
        name = fhir.display(o["concept"])
        if o["kind"] == "vaccine":
            resource = fhir.vaccine_proposal(patient_id, o["concept"], "before a C5 inhibitor (≥ 2 weeks)")
            out.append(Suggestion(f"Order vaccine: {name}", (Action("create", f"Vaccinate: {name}", resource),)))
        else:
            resource = fhir.lab_proposal(patient_id, o["concept"], "prerequisite for a next-line therapy")
            out.append(Suggestion(f"Order lab: {name}", (Action("create", f"Order {name}", resource),)))
    return out


def options_card(record: PatientRecord, assessment: AssessmentView, params: Parameters,
                 findings: tuple[Finding, ...]) -> Card | None:
    if not findings:
        return None
    sero = SEROTYPE_LABEL.get(assessment.serotype, assessment.serotype)
    offered = [OPTION_TITLE[f.data["option"]] for f in findings
               if f.data.get("option") and f.data.get("state") == "suggested"]
    summary = f"Refractory {sero} gMG: next-line options " + (", ".join(offered) if offered else "need clinician review")
    lines: list[str] = []
    for f in findings:
        if "option" in f.data:
            lines += _option_lines(f) + [""]
    for f in findings:
        if "option" not in f.data:
            lines += [f"**{f.code}** — {f.text}", ""]
    lines.append(_interim_line(list(findings), params))
    suggestions = _order_suggestions(record.patient_id, suggested_orders(findings))
    suggestions += _prerequisite_suggestions(record.patient_id, prerequisite_orders(findings))
    return Card(
        summary=_summary(summary),
        indicator=highest_indicator(findings),
        source=THERAPY_SOURCE,
        detail="\n".join(lines),
        suggestions=tuple(suggestions),
        selection_behavior="any" if suggestions else None,
        override_reasons=STANDARD_OVERRIDE_REASONS,
        findings=tuple({**f.as_extension(), "parameter_set": params.version} for f in findings),
    )


def rapid_card(record: PatientRecord, assessment: AssessmentView, params: Parameters,
               findings: tuple[Finding, ...]) -> Card | None:
    if not findings:
        return None
    codes = [f.code for f in findings]
    if assessment.acute:
        lead = "Exacerbation now"
    else:
        lead = "If an exacerbation occurs"
    if "rescue.prefer-plex" in codes:
        choice = "PLEX/LPE preferred (MuSK+), IVIG not recommended"
    elif "rescue.prefer-ivig" in codes:
        choice = "IVIG preferred over PLEX"
    else:
        choice = "IVIG or PLEX"
    summary = f"{lead}: {choice}; IVMP with caution"
    lines = [f"- **{f.code}** — {f.text}" for f in findings]
    for f in findings:
        for p in f.data.get("prerequisites", []) or []:
            lines.append(f"  - Before IVIG — {p['name']}: {STATUS_MARK.get(p['status'], p['status'])} ({p['detail']})")
    lines += ["", _interim_line(list(findings), params)]
    suggestions: list[Suggestion] = []
    for f in findings:
        order = f.data.get("order")
        if not isinstance(order, dict):
            continue
        if order.get("kind") == "procedure":
            resource = fhir.procedure_proposal(record.patient_id, order["concept"], order["text"])
            suggestions.append(Suggestion("Order therapeutic plasma exchange", (
                Action("create", order["text"], resource),), is_recommended="rescue.prefer-plex" in codes or None))
        else:
            suggestions += _order_suggestions(record.patient_id, [order])
    labs = [o for f in findings for p in f.data.get("prerequisites", []) or [] for o in p.get("orders", [])]
    suggestions += _prerequisite_suggestions(record.patient_id, labs)
    return Card(
        summary=_summary(summary),
        indicator=highest_indicator(findings),
        source=RAPID_SOURCE,
        detail="\n".join(lines),
        suggestions=tuple(suggestions),
        selection_behavior="any" if suggestions else None,
        override_reasons=STANDARD_OVERRIDE_REASONS,
        findings=tuple({**f.as_extension(), "parameter_set": params.version} for f in findings),
    )


def therapy_cards(record: PatientRecord, assessment: AssessmentView, params: Parameters) -> list[Card]:
    """The options card and the rapid-therapy card; during an exacerbation the rapid card first."""
    options = options_card(record, assessment, params, therapy_options(record, assessment, params))
    rapid = rapid_card(record, assessment, params, rapid_options(record, assessment, params))
    ordered = [rapid, options] if assessment.acute else [options, rapid]
    return [c for c in ordered if c is not None]
