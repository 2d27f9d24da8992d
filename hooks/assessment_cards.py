"""Patient-view cards of the refractory assessment: the assessment card (readable in ten
seconds), the conventional-therapy optimisation card, and the antibody (re)testing card.

Every card lists the findings it presents in its `extension["gmg-cds"].findings` (gmg-rules.md
§8); the assessment card names the parameter-set version and any interim (D-lo/K) parameter that
decided the outcome; warning and critical cards offer the standard override reasons.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import terminology
from gmg.assessment import Assessment
from gmg.criteria_cn import CRITERION_TEXT, CriterionResult
from gmg.findings import Evidence, Finding, highest_indicator
from gmg.parameters import Parameters
from gmg.record import PatientRecord
from terminology import systems

from .cards import STANDARD_OVERRIDE_REASONS, Action, Card, Link, Source, Suggestion

CN_SOURCE = Source(
    label="Chinese expert consensus on refractory gMG (diagnostic criteria)",
)
CBA_SOURCE = Source(label="Chinese expert consensus on refractory gMG (antibody revalidation)")
OCULAR_PATHWAY = Link(
    label="Chinese consensus on ocular MG (2025)",
    url="http://www.kangpa.org/article/10.3760/cma.j.cn511434-20250707-00298",
)
SUMMARY_MAX = 139

STATUS_WORDS = {
    "met": "met",
    "not-met-severity": "not met (severity)",
    "not-met-inadequate": "not met (therapy not yet adequate)",
    "not-met-response": "not met (responded)",
    "indeterminate": "undetermined (data missing)",
}
SEROTYPE_WORDS = {
    "achr": "AChR+",
    "musk": "MuSK+",
    "lrp4": "LRP4+",
    "seronegative": "seronegative (CBA)",
    "unconfirmed": "serotype unconfirmed",
    "unknown": "serotype unknown",
}


def _clip(text: str) -> str:
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1].rstrip() + "…"


def _yes_no(value: bool | None) -> str:
    return {True: "met", False: "not met", None: "undetermined"}[value]


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")


def _evidence_text(evidence: tuple[Evidence, ...]) -> str:
    parts = []
    for e in evidence:
        when = f" ({e.when.isoformat()})" if e.when else ""
        parts.append(f"{e.label}: {e.value}{when}")
    return "; ".join(parts)


def _card(
    summary: str,
    findings: list[Finding],
    source: Source,
    detail: str,
    suggestions: tuple[Suggestion, ...] = (),
    links: tuple[Link, ...] = (),
) -> Card:
    indicator = highest_indicator(findings)
    return Card(
        summary=_clip(summary),
        indicator=indicator,
        source=source,
        detail=detail,
        suggestions=suggestions,
        selection_behavior="any" if suggestions else None,
        override_reasons=STANDARD_OVERRIDE_REASONS if indicator != "info" else (),
        links=links,
        findings=tuple(f.as_extension() for f in findings),
    )


# -- the assessment card -------------------------------------------------------------------------


def assessment_summary(a: Assessment) -> str:
    sero = SEROTYPE_WORDS.get(a.serotype, a.serotype)
    if a.cn_status == "met":
        fired = ", ".join(c[1:] for c in a.criteria_fired if c.startswith("c3"))
        text = f"Refractory gMG by Chinese consensus ({fired}); ICG 2016 {_yes_no(a.icg2016_met)}; {sero}"
    elif a.cn_status == "not-met-severity":
        sev = a.severity
        share = f", ocular share {sev.ocular_share:.0%}" if sev and sev.ocular_share is not None else ""
        total = sev.score.total if sev and sev.score else "?"
        text = f"Not refractory gMG (Chinese consensus): criterion 2 not met, MG-ADL {total}{share}"
    elif a.cn_status == "not-met-inadequate":
        when = f"; re-evaluate from {a.reevaluate_on.isoformat()}" if a.reevaluate_on else ""
        text = f"Not refractory yet: conventional therapy not adequate{when}"
    elif a.cn_status == "indeterminate":
        missing = [f.code.removeprefix("data-gap.") for f in a.findings if f.code.startswith("data-gap.") and f.code != "data-gap.serostatus"]
        text = "Refractory status undetermined: missing " + ", ".join(dict.fromkeys(missing))
    else:
        pis = a.pis.code if a.pis else "?"
        text = f"Not refractory gMG: adequate conventional therapy, PIS {pis}"
    if a.acute:
        text = "Exacerbation/crisis: stabilise first. " + text + " (confirm after stabilisation)"
    return text


def _criteria_table(a: Assessment) -> list[str]:
    assert a.cn is not None
    rows = ["| Criterion | Result | Based on |", "|---|---|---|"]
    dx = a.diagnosis
    dx_text = "; ".join(
        f"{terminology_display(c.concept)} (since {c.start.isoformat()})" if c.start else terminology_display(c.concept)
        for c in (dx.conditions if dx else ())
    )
    for c in a.cn.criteria:
        based = dx_text if c.id == "c1" else _evidence_text(c.evidence)
        if c.note:
            based = f"{based}; {c.note}" if based else c.note
        if c.met is None and c.gaps:
            based = (based + "; " if based else "") + "missing: " + ", ".join(g.code.removeprefix("data-gap.") for g in c.gaps)
        rows.append(f"| {CRITERION_TEXT[c.id]} | **{_yes_no(c.met)}** | {_cell(based) or '—'} |")
    return rows


def terminology_display(key: str) -> str:
    try:
        return terminology.concept(key).display
    except KeyError:
        return key


def _therapy_lines(a: Assessment) -> list[str]:
    conv = a.conventional
    if conv is None:
        return []
    lines = ["**Conventional therapy** (adequacy by the consensus dose/level/duration table):"]
    for d in (conv.steroid, *conv.nsists):
        lines.append(f"- {d.summary}")
    return lines


def _definitions(a: Assessment) -> list[str]:
    icg = a.icg2016.explanation if a.icg2016 else ""
    jp = a.jp2022.explanation if a.jp2022 else ""
    return [
        "**Definitions side by side**",
        "",
        "| Definition | Result | Reading |",
        "|---|---|---|",
        f"| Chinese consensus (primary) | **{STATUS_WORDS.get(a.cn_status or '', '—')}** | criteria 1 + 2 + any of 3-1..3-4 |",
        f"| ICG 2016 (Sanders et al.) | {_yes_no(a.icg2016_met)} | {_cell(icg)} |",
        f"| Japanese guideline 2022 | {_yes_no(a.jp2022_met)} | {_cell(jp)} |",
        "",
        "_Definitions differ widely (one cohort: about 40% refractory by the broadest definition, 9.7% by "
        "ICG, 3% by REGAIN); this card applies the Chinese consensus._",
    ]


def interim_lines(parameter_ids: tuple[str, ...], params: Parameters) -> list[str]:
    known = tuple(p for p in parameter_ids if p in params.entries)
    interim = params.interim(*dict.fromkeys(known))
    if not interim:
        return []
    lines = ["**Interim defaults that decided this outcome** (verify against the published consensus):"]
    for e in interim:
        unit = f" {e.unit}" if e.unit else ""
        lines.append(f"- `{e.id}` = {e.value}{unit} ({e.tag}; {e.source}) — interim default")
    return lines


def assessment_card(record: PatientRecord, a: Assessment, params: Parameters) -> Card:
    presented = [
        f
        for f in a.findings
        if not f.code.startswith(("optimise.", "antibody.")) and f.code != "data-gap.serostatus"
    ]
    gaps = [f for f in presented if f.code.startswith("data-gap.")]
    lines: list[str] = []
    if a.acute:
        acute = next(f for f in a.findings if f.code == "acute.exacerbation")
        lines += [f"**{acute.text}** ({_evidence_text(acute.evidence)})", ""]
    lines += [f"**Chinese consensus: refractory gMG {STATUS_WORDS.get(a.cn_status or '', '')}**", ""]
    lines += _criteria_table(a) + [""]
    if a.cn_status == "not-met-inadequate" and a.reevaluate_on:
        lines += [f"Re-evaluate refractory status from **{a.reevaluate_on.isoformat()}** (see the optimisation card).", ""]
    if gaps:
        lines += ["**Missing data** (no conclusion is drawn from it):"] + [f"- {g.text}" for g in gaps] + [""]
    lines += _therapy_lines(a) + [""]
    sero = a.serotype_detail
    if sero is not None:
        lines += [f"**Serotype:** {SEROTYPE_WORDS.get(a.serotype, a.serotype)}" + (
            f" — {_evidence_text(sero.findings[0].evidence)}" if sero.findings and sero.findings[0].evidence else ""
        ), ""]
    lines += _definitions(a) + [""]
    deciding = a.deciding_parameters
    lines += interim_lines(deciding, params)
    lines += ["", f"Parameter set {params.version}."]
    return _card(assessment_summary(a), presented, CN_SOURCE, "\n".join(lines))


def ocular_card(a: Assessment, params: Parameters) -> Card:
    findings = list(a.findings)
    detail = (
        "Ocular-only MG: the Chinese refractory **generalized** MG criteria (criterion 1) do not apply. "
        "Follow the ocular-MG pathway.\n\n"
        + (f"Based on: {_evidence_text(findings[0].evidence)}\n\n" if findings and findings[0].evidence else "")
        + f"Parameter set {params.version}."
    )
    return _card("Ocular MG: refractory gMG criteria do not apply (ocular-MG pathway)", findings, CN_SOURCE, detail, links=(OCULAR_PATHWAY,))


# -- the optimisation card -----------------------------------------------------------------------


def _level_order(drug: str, record: PatientRecord, today: date) -> Suggestion | None:
    concept = {"tacrolimus": "tacrolimus-trough", "cyclosporine": "cyclosporine-trough"}.get(drug)
    if concept is None:
        return None
    coding = _coding(concept, systems.LOINC)
    if coding is None:
        return None
    resource = _service_request(record, today, [coding], f"{terminology_display(drug)} trough level")
    return Suggestion(
        label=f"Order a {terminology_display(drug)} trough level",
        actions=(Action("create", f"Draft order: {terminology_display(drug)} trough level", resource),),
    )


def optimisation_card(record: PatientRecord, a: Assessment, params: Parameters) -> Card | None:
    deficits = list(a.findings_with_prefix("optimise."))
    if not deficits:
        return None
    levels = [f for f in a.findings if f.code in ("optimise.nsist-level", "data-gap.drug-level")]
    suggestions = tuple(
        s for s in (_level_order(str(f.data.get("drug")), record, record.today) for f in levels) if s is not None
    )
    when = f"; re-evaluate refractory status from {a.reevaluate_on.isoformat()}" if a.reevaluate_on else ""
    summary = f"Optimise conventional therapy: {len(deficits)} deficit(s){when}"
    lines = ["**Before refractory status can be judged, conventional therapy needs:**"]
    lines += [f"- {f.text}" for f in deficits]
    if a.reevaluate_on:
        lines += ["", f"Re-evaluation makes sense from **{a.reevaluate_on.isoformat()}** if the deficits are corrected now."]
    lines += [""] + interim_lines(tuple(p for f in deficits for p in f.parameters), params)
    lines += ["", f"Parameter set {params.version}."]
    return _card(summary, deficits, CN_SOURCE, "\n".join(lines), suggestions)


# -- the antibody card -----------------------------------------------------------------------------


def _coding(key: str, system: str) -> dict[str, Any] | None:
    try:
        c = terminology.coding_for(key, system)
    except KeyError:
        return None
    return {"system": c.system, "code": c.code, "display": c.display} if c else None


def _service_request(record: PatientRecord, today: date, codings: list[dict[str, Any]], text: str, cba: bool = False) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "code": {"coding": codings, "text": text},
        "subject": {"reference": f"Patient/{record.patient_id}"},
        "authoredOn": today.isoformat(),
    }
    if cba:
        method = _coding("assay-cba", systems.ANTIBODY_ASSAY) or {
            "system": systems.ANTIBODY_ASSAY,
            "code": "cba",
            "display": "Cell-based assay",
        }
        resource["orderDetail"] = [{"coding": [method], "text": "cell-based assay (CBA)"}]
    return resource


CBA_TESTS = (
    ("achr", systems.LOINC, "AChR antibody, clustered AChR by cell-based assay"),
    ("musk", systems.LOINC, "MuSK antibody by cell-based assay"),
    ("lrp4", systems.MG_LABS, "LRP4 antibody by cell-based assay"),
)


def cba_orders(record: PatientRecord) -> list[dict[str, Any]]:
    out = []
    for key, system, text in CBA_TESTS:
        coding = _coding(key, system)
        if coding is not None:
            out.append(_service_request(record, record.today, [coding], text, cba=True))
    return out


def antibody_card(record: PatientRecord, a: Assessment, params: Parameters) -> Card | None:
    findings = list(a.findings_with_prefix("antibody.revalidate-cba", "data-gap.serostatus"))
    if not findings:
        return None
    orders = cba_orders(record)
    suggestions = (
        Suggestion(
            label="Order CBA antibody tests: clustered AChR, MuSK, LRP4",
            actions=tuple(Action("create", f"Draft order: {r['code']['text']}", r) for r in orders),
            is_recommended=True,
        ),
    ) if orders else ()
    if findings[0].code == "antibody.revalidate-cba":
        summary = "Antibody-negative by ELISA/RIPA only: retest AChR (clustered), MuSK, LRP4 by CBA"
    else:
        summary = "No MG antibody result on record: test AChR, MuSK and LRP4 (CBA)"
    lines = [findings[0].text, ""]
    ev = _evidence_text(findings[0].evidence)
    if ev:
        lines += [f"Results on record: {ev}", ""]
    lines += [
        "Serotype-restricted therapies (C5 inhibitors, MuSK-labelled FcRn antagonists) are not "
        "recommended on an unconfirmed serotype.",
        "",
        f"Parameter set {params.version}.",
    ]
    return _card(summary, findings, CBA_SOURCE, "\n".join(lines), suggestions)


def assessment_cards(record: PatientRecord, assessment: Assessment, params: Parameters) -> list[Card]:
    """The assessment, optimisation and antibody cards; none for a patient without (eligible) MG."""
    if assessment.mg_status == "ocular-only":
        return [ocular_card(assessment, params)]
    if assessment.mg_status != "generalized":
        return []
    cards = [assessment_card(record, assessment, params)]
    for extra in (optimisation_card(record, assessment, params), antibody_card(record, assessment, params)):
        if extra is not None:
            cards.append(extra)
    return cards
