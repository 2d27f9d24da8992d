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
from gmg.record import MgAdlScore, PatientRecord
from gmg.vocabulary import members
from terminology import systems

from . import card_text
from .card_text import serotype_words
from .cards import Action, Card, Link, Source, Suggestion
from .i18n import clinical, concept_name, evidence_label, evidence_value, override_reasons, t, t_or

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


def _clip(text: str) -> str:
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1].rstrip() + "…"


def _yes_no(value: bool | None) -> str:
    return t({True: "result.met", False: "result.not-met", None: "result.undetermined"}[value])


def _evidence_text(evidence: tuple[Evidence, ...], labelled: bool = True) -> str:
    """Facts as "label: value (date)"; consecutive facts with one label share it
    ("rescue course: IVIG 2026-03-02 to 2026-03-06; PLEX 2026-07-01 to 2026-07-10"); without
    labels where the line already says what the values are (`labelled` False)."""
    groups: list[tuple[str, list[str]]] = []
    for e in evidence:
        value = card_text.fact_value(e.value)
        if e.when and e.when.isoformat() not in e.value:
            value += t("text.fact-date", date=e.when.isoformat())
        label = card_text.fact_label(e.label)
        if groups and groups[-1][0] == label:
            groups[-1][1].append(value)
        else:
            groups.append((label, [value]))
    if not labelled:
        return t("list.separator").join(v for _, values in groups for v in values)
    return t("list.separator").join(t("text.fact", label=label, value=t("list.separator").join(values))
                                    for label, values in groups)


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
        text = t("summary.cn-met", criteria=fired, serotype=sero)  # ICG 2016 and Japan 2022: in the detail
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


ANTIBODY_CARD_CODES = frozenset({"antibody.revalidate-cba", "data-gap.serostatus"})
# Criteria whose name says what their values are (MG-ADL; rescue courses): the values go without
# their label.
VALUES_NAMED_BY_CRITERION = frozenset({"c2", "c3-4"})
_MARK = {True: "criterion-mark.met", False: "criterion-mark.not-met", None: "criterion-mark.undetermined"}


def _criterion_lines(a: Assessment, params: Parameters | None = None) -> list[str]:
    """One line per criterion that holds or cannot be decided (with what it rests on or what is
    missing), and for a criterion 1/2 that fails; the 3-x criteria that do not hold on one line."""
    assert a.cn is not None
    dx = a.diagnosis
    # the conditions that make it generalized MG, with their onset ("since 2020-09-16" for the
    # generalized-MG diagnosis itself, which the criterion names)
    # (a crisis or exacerbation is said on the line above the criteria during one)
    acute = members("mg-acute") if a.acute else frozenset()
    dx_text = t("list.separator").join(
        (t("text.since-only", date=c.start.isoformat()) if c.concept == "mg-generalized"
         else t("text.since", name=concept_name(c.concept), date=c.start.isoformat())) if c.start
        else concept_name(c.concept)
        for c in (dx.conditions if dx else ()) if c.concept not in acute
    )
    lines, not_met = [], []
    for c in a.cn.criteria:
        if c.met is False and c.id.startswith("c3"):
            not_met.append(c.id[1:])
            continue
        if c.id == "c1":
            based = dx_text
        else:
            based = _evidence_text(c.evidence, labelled=c.id not in VALUES_NAMED_BY_CRITERION)
        if c.note:
            based = t("list.separator").join(x for x in (based, clinical(c.note)) if x)
        if c.met is None and c.gaps:
            missing = t("text.missing", what=t("list.comma").join(gap_name(g.code) for g in c.gaps))
            based = t("list.separator").join(x for x in (based, missing) if x)
        name = t(f"criterion.{c.id}") if c.id in CRITERION_TEXT else c.id
        if c.id == "c2" and a.severity is not None and a.severity.score is not None and params is not None:
            # the thresholds beside the values: "2 MG-ADL 9 (≥ 6), ocular share 22% (< 50%), 2026-11-02"
            lines.append(_c2_line(t(_MARK[c.met]), a.severity.score, params))
            continue
        lines.append(t("line.criterion", mark=t(_MARK[c.met]), criterion=name, based=based or "—"))
    if not_met and a.cn_status != "met":  # refractory: the criteria that hold are the reason
        lines.append(t("line.criteria-not-met", mark=t(_MARK[False]), criteria=t("list.comma").join(not_met)))
    return lines


def _c2_line(mark: str, score: MgAdlScore, params: Parameters) -> str:
    """Criterion 2 with its values beside its thresholds (from the parameters)."""
    minimum, share_max = card_text.number(params["mg_adl_min"]), f"{float(params['ocular_share_max']):.0%}"
    when = score.when.isoformat()
    if score.ocular_share is None:
        return t("line.criterion-c2-no-items", mark=mark, total=score.total, min=minimum, date=when)
    return t("line.criterion-c2", mark=mark, total=score.total, min=minimum, share=f"{score.ocular_share:.0%}",
             max=share_max, date=when)


def _conventional_line(a: Assessment) -> list[str]:
    conv = a.conventional
    if conv is None:
        return []
    drugs = t("list.separator").join(clinical(d.summary) for d in (conv.steroid, *conv.nsists))
    return [t("line.conventional", drugs=drugs)]


def _definitions_line(a: Assessment) -> str:
    return t("line.definitions", icg=_yes_no(a.icg2016_met), jp=_yes_no(a.jp2022_met))


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
        lines += [card_text.detail(acute, params=params), ""]
    lines += _criterion_lines(a, params) + [""]  # (the summary says the status)
    ocular = next((f for f in a.findings if f.code == "refractory.cn.ocular-dominant"), None)
    if ocular is not None:
        lines += [card_text.detail(ocular, params=params), ""]
    if a.cn_status == "not-met-inadequate" and a.reevaluate_on:
        lines += [t("text.reevaluate-see-optimisation", date=a.reevaluate_on.isoformat()), ""]
    if gaps:
        lines += [t("heading.missing-data")] + [f"- {card_text.detail(g, params=params)}" for g in gaps] + [""]
    if a.cn_status != "indeterminate" and not any(c.met and c.id in ("c3-1", "c3-2") for c in a.cn.criteria if a.cn):
        lines += _conventional_line(a)  # 3-1/3-2 name the adequate drugs; the gaps say what is unknown
    sero = a.serotype_detail
    if sero is not None and any(f.code in ANTIBODY_CARD_CODES for f in a.findings):
        # the antibody card gives the results on record and what to do
        lines.append(t("line.serotype-see-antibody", serotype=serotype_words(a.serotype)))
    elif sero is not None:
        evidence = _evidence_text(sero.findings[0].evidence) if sero.findings and sero.findings[0].evidence else ""
        lines.append(t("line.serotype", serotype=serotype_words(a.serotype), evidence=evidence) if evidence
                     else t("line.serotype-only", serotype=serotype_words(a.serotype)))
    lines.append(_definitions_line(a))  # the closing paragraph goes on with the interim values
    lines += card_text.footer(params, a.deciding_parameters)
    links = (ocular_pathway(),) if ocular is not None else ()
    return _card(assessment_summary(a), presented, cn_source(), "\n".join(lines), links=links)


def ocular_card(a: Assessment, params: Parameters) -> Card:
    findings = list(a.findings)
    lines = [card_text.detail(findings[0], params=params) if findings else t("text.ocular-detail")]
    if findings and findings[0].evidence:
        lines.append(t("text.based-on", evidence=_evidence_text(findings[0].evidence)))
    lines += [""] + card_text.footer(params)
    return _card(t("summary.ocular"), findings, cn_source(), "\n".join(lines), links=(ocular_pathway(),))


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
        label=t("suggestion.order-trough", drug=card_text.words(drug)),
        actions=(Action("create", t("action.draft-trough", drug=card_text.words(drug)), resource),),
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
    lines += [f"- {card_text.detail(f, params=params)}" for f in deficits]
    if a.reevaluate_on:
        lines += ["", t("text.reevaluation-from", date=a.reevaluate_on.isoformat())]
    lines += [""] + card_text.footer(params, (p for f in deficits for p in f.parameters))
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
    lead = findings[0]
    summary = card_text.summary(lead, params=params) or lead.code
    lines = [card_text.detail(lead, params=params)] + card_text.footer(params)  # one paragraph
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
