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

from .cards import Action, Card, Link, Source, Suggestion
from .i18n import clinical, concept_name, evidence_label, evidence_value, override_reasons, t, t_or, unit_words

OCULAR_PATHWAY_URL = "http://www.kangpa.org/article/10.3760/cma.j.cn511434-20250707-00298"
SUMMARY_MAX = 139

STATUSES = ("met", "not-met-severity", "not-met-inadequate", "not-met-response", "indeterminate")
SEROTYPES = ("achr", "musk", "lrp4", "seronegative", "unconfirmed", "unknown")


def cn_source() -> Source:
    return Source(label=t("source.cn-criteria"))


def cba_source() -> Source:
    return Source(label=t("source.cn-antibody"))


def ocular_pathway() -> Link:
    return Link(label=t("link.ocular-pathway"), url=OCULAR_PATHWAY_URL)


def status_words(status: str | None) -> str:
    return t(f"status.{status}") if status in STATUSES else "—"


def serotype_words(serotype: str) -> str:
    return t(f"serotype.{serotype}") if serotype in SEROTYPES else serotype


def _clip(text: str) -> str:
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1].rstrip() + "…"


def _yes_no(value: bool | None) -> str:
    return t({True: "result.met", False: "result.not-met", None: "result.undetermined"}[value])


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")


def _evidence_text(evidence: tuple[Evidence, ...]) -> str:
    parts = []
    for e in evidence:
        when = f" ({e.when.isoformat()})" if e.when else ""
        parts.append(f"{evidence_label(e.label)}: {evidence_value(e.value)}{when}")
    return t("list.separator").join(parts)


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
        override_reasons=override_reasons() if indicator != "info" else (),
        links=links,
        findings=tuple(f.as_extension() for f in findings),
    )


# -- the assessment card -------------------------------------------------------------------------


def gap_name(code: str) -> str:
    """A data-gap finding's short name ("weight", "pis", ...) in the call's language."""
    name = code.removeprefix("data-gap.")
    return t_or(f"gap.{name}", name)


def assessment_summary(a: Assessment) -> str:
    sero = serotype_words(a.serotype)
    if a.cn_status == "met":
        fired = t("list.comma").join(c[1:] for c in a.criteria_fired if c.startswith("c3"))
        text = t("summary.cn-met", criteria=fired, icg=_yes_no(a.icg2016_met), serotype=sero)
    elif a.cn_status == "not-met-severity":
        sev = a.severity
        share = t("summary.ocular-share", share=f"{sev.ocular_share:.0%}") if sev and sev.ocular_share is not None else ""
        total = sev.score.total if sev and sev.score else "?"
        text = t("summary.cn-not-met-severity", total=total, share=share)
    elif a.cn_status == "not-met-inadequate":
        when = t("summary.reevaluate-from", date=a.reevaluate_on.isoformat()) if a.reevaluate_on else ""
        text = t("summary.cn-not-met-inadequate", reevaluate=when)
    elif a.cn_status == "indeterminate":
        missing = [gap_name(f.code) for f in a.findings if f.code.startswith("data-gap.") and f.code != "data-gap.serostatus"]
        text = t("summary.cn-indeterminate", missing=t("list.comma").join(dict.fromkeys(missing)))
    else:
        pis = a.pis.code if a.pis else "?"
        text = t("summary.cn-not-met-response", pis=pis)
    if a.acute:
        text = t("summary.acute", text=text)
    return text


def _criteria_table(a: Assessment) -> list[str]:
    assert a.cn is not None
    rows = [t("table.criteria-head"), "|---|---|---|"]
    dx = a.diagnosis
    sep = t("list.separator")
    dx_text = sep.join(
        t("text.since", name=terminology_display(c.concept), date=c.start.isoformat()) if c.start else terminology_display(c.concept)
        for c in (dx.conditions if dx else ())
    )
    for c in a.cn.criteria:
        based = dx_text if c.id == "c1" else _evidence_text(c.evidence)
        if c.note:
            note = clinical(c.note)
            based = f"{based}{sep}{note}" if based else note
        if c.met is None and c.gaps:
            based = (based + sep if based else "") + t("text.missing", what=t("list.comma").join(gap_name(g.code) for g in c.gaps))
        criterion = t(f"criterion.{c.id}") if c.id in CRITERION_TEXT else c.id
        rows.append(f"| {criterion} | **{_yes_no(c.met)}** | {_cell(based) or '—'} |")
    return rows


def terminology_display(key: str) -> str:
    return concept_name(key)


def _therapy_lines(a: Assessment) -> list[str]:
    conv = a.conventional
    if conv is None:
        return []
    lines = [t("heading.conventional")]
    for d in (conv.steroid, *conv.nsists):
        lines.append(f"- {clinical(d.summary)}")
    return lines


def _definitions(a: Assessment) -> list[str]:
    icg = a.icg2016.explanation if a.icg2016 else ""
    jp = a.jp2022.explanation if a.jp2022 else ""
    return [
        t("heading.definitions"),
        "",
        t("table.definitions-head"),
        "|---|---|---|",
        t("table.definitions-cn", status=status_words(a.cn_status)),
        t("table.definitions-icg", result=_yes_no(a.icg2016_met), reading=_cell(clinical(icg))),
        t("table.definitions-jp", result=_yes_no(a.jp2022_met), reading=_cell(clinical(jp))),
        "",
        t("text.definitions-differ"),
    ]


def interim_lines(parameter_ids: tuple[str, ...], params: Parameters) -> list[str]:
    known = tuple(p for p in parameter_ids if p in params.entries)
    interim = params.interim(*dict.fromkeys(known))
    if not interim:
        return []
    lines = [t("heading.interim-outcome")]
    for e in interim:
        unit = f" {unit_words(e.unit)}" if e.unit else ""
        lines.append(t("line.interim-outcome", id=e.id, value=e.value, unit=unit, tag=e.tag, source=e.source))
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
        lines += [f"**{clinical(acute.text)}** ({_evidence_text(acute.evidence)})", ""]
    lines += [t("heading.cn-status", status=status_words(a.cn_status)), ""]
    lines += _criteria_table(a) + [""]
    ocular = next((f for f in a.findings if f.code == "refractory.cn.ocular-dominant"), None)
    if ocular is not None:
        lines += [f"**{clinical(ocular.text)}**", ""]
    if a.cn_status == "not-met-inadequate" and a.reevaluate_on:
        lines += [t("text.reevaluate-see-optimisation", date=a.reevaluate_on.isoformat()), ""]
    if gaps:
        lines += [t("heading.missing-data")] + [f"- {clinical(g.text)}" for g in gaps] + [""]
    lines += _therapy_lines(a) + [""]
    sero = a.serotype_detail
    if sero is not None:
        lines += [t("heading.serotype", serotype=serotype_words(a.serotype)) + (
            f" — {_evidence_text(sero.findings[0].evidence)}" if sero.findings and sero.findings[0].evidence else ""
        ), ""]
    lines += _definitions(a) + [""]
    deciding = a.deciding_parameters
    lines += interim_lines(deciding, params)
    lines += ["", t("text.parameter-set", version=params.version)]
    links = (ocular_pathway(),) if ocular is not None else ()
    return _card(assessment_summary(a), presented, cn_source(), "\n".join(lines), links=links)


def ocular_card(a: Assessment, params: Parameters) -> Card:
    findings = list(a.findings)
    detail = (
        t("text.ocular-detail") + "\n\n"
        + (t("text.based-on", evidence=_evidence_text(findings[0].evidence)) + "\n\n" if findings and findings[0].evidence else "")
        + t("text.parameter-set", version=params.version)
    )
    return _card(t("summary.ocular"), findings, cn_source(), detail, links=(ocular_pathway(),))


# -- the optimisation card -----------------------------------------------------------------------


def _level_order(drug: str, record: PatientRecord, today: date) -> Suggestion | None:
    concept = {"tacrolimus": "tacrolimus-trough", "cyclosporine": "cyclosporine-trough"}.get(drug)
    if concept is None:
        return None
    coding = _coding(concept, systems.LOINC)
    if coding is None:
        return None
    english = terminology.concept(drug).display if drug in ("tacrolimus", "cyclosporine") else drug
    resource = _service_request(record, today, [coding], f"{english} trough level")
    return Suggestion(
        label=t("suggestion.order-trough", drug=terminology_display(drug)),
        actions=(Action("create", t("action.draft-trough", drug=terminology_display(drug)), resource),),
    )


def optimisation_card(record: PatientRecord, a: Assessment, params: Parameters) -> Card | None:
    deficits = list(a.findings_with_prefix("optimise."))
    if not deficits:
        return None
    levels = [f for f in a.findings if f.code in ("optimise.nsist-level", "data-gap.drug-level")]
    suggestions = tuple(
        s for s in (_level_order(str(f.data.get("drug")), record, record.today) for f in levels) if s is not None
    )
    when = t("summary.reevaluate-status-from", date=a.reevaluate_on.isoformat()) if a.reevaluate_on else ""
    summary = t("summary.optimise", count=len(deficits), reevaluate=when)
    lines = [t("heading.optimise")]
    lines += [f"- {clinical(f.text)}" for f in deficits]
    if a.reevaluate_on:
        lines += ["", t("text.reevaluation-from", date=a.reevaluate_on.isoformat())]
    lines += [""] + interim_lines(tuple(p for f in deficits for p in f.parameters), params)
    lines += ["", t("text.parameter-set", version=params.version)]
    return _card(summary, deficits, cn_source(), "\n".join(lines), suggestions)


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
            label=t("suggestion.order-cba"),
            actions=tuple(Action("create", t("action.draft-order", what=clinical(r["code"]["text"])), r) for r in orders),
            is_recommended=True,
        ),
    ) if orders else ()
    if findings[0].code == "antibody.revalidate-cba":
        summary = t("summary.antibody-revalidate")
    else:
        summary = t("summary.antibody-missing")
    lines = [clinical(findings[0].text), ""]
    ev = _evidence_text(findings[0].evidence)
    if ev:
        lines += [t("text.results-on-record", evidence=ev), ""]
    lines += [
        t("text.serotype-restricted"),
        "",
        t("text.parameter-set", version=params.version),
    ]
    return _card(summary, findings, cba_source(), "\n".join(lines), suggestions)


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
