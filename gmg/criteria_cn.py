"""Refractory gMG by the Chinese expert consensus: criteria 1, 2 and 3-1 .. 3-4 combined.

Guideline statement (CN consensus, diagnostic criteria; research §1.2): refractory gMG requires
criterion 1 (diagnosis of MG, D-hi) AND criterion 2 (MG-ADL >= 6 with < 50% from ocular items,
D-hi) AND any one of: 3-1 PIS unchanged or worse after adequate conventional immunotherapy (D-hi);
3-2 PIS improved but MG-ADL still >= 6 (D-hi); 3-3 adverse events prevent adequate conventional
therapy, MG-ADL >= 6 (D-hi); 3-4 repeated need for fast-acting therapy (D-hi). The AND structure
is D-lo (it fits the text).
Outcomes (gmg-rules.md §2, §8): met (with the criteria that fired); not met for severity (with
ocular-dominant); not met, inadequately treated (with `optimise.*` per deficit and a re-evaluation
date); indeterminate (with one `data-gap.*` per missing datum). Never a conclusion from missing
data. One further outcome of this project (tag I): adequate therapy reached MM or better
(`not-met-response`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from .adequacy import ConventionalTherapy
from .definitions_other import PIS_NOT_IMPROVED
from .findings import Evidence, Finding, one_per_drug
from .intolerance import IntoleranceAssessment
from .record import CodedAssessment
from .rescue import RescueAssessment, course_evidence
from .severity import Severity, score_evidence

CnStatus = Literal["met", "not-met-severity", "not-met-inadequate", "not-met-response", "indeterminate"]
SEVERITY_PARAMETERS = ("mg_adl_min", "ocular_share_max", "score_max_age_days")


@dataclass(frozen=True)
class CriterionResult:
    id: str  # "c1", "c2", "c3-1", ...
    met: bool | None
    evidence: tuple[Evidence, ...] = ()
    gaps: tuple[Finding, ...] = ()
    parameters: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class CnOutcome:
    status: CnStatus
    criteria: tuple[CriterionResult, ...]
    findings: tuple[Finding, ...]  # outcome, criteria, ocular-dominant, optimise.*, data-gap.*
    reevaluate_on: date | None
    deciding_parameters: tuple[str, ...]

    @property
    def fired(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.criteria if c.met is True)


def _pis_evidence(pis: CodedAssessment | None) -> tuple[Evidence, ...]:
    return (Evidence("MGFA PIS", pis.code, pis.when, pis.source),) if pis else ()


def _pis_gap() -> Finding:
    return Finding(
        "data-gap.pis",
        "No MGFA post-intervention status (PIS) in the last year: criteria 3-1/3-2 cannot be judged.",
        parameters=("pis_max_age_days",),
    )


def _conventional_evidence(conv: ConventionalTherapy) -> tuple[Evidence, ...]:
    out = []
    for d in (conv.steroid, *conv.nsists):
        if d.status == "adequate" and d.course is not None:
            # under "adequate therapy": how long at adequate dose, from when
            out.append(Evidence(d.drug, f"{d.course.weeks:.0f} weeks", d.course.start, d.course.sources[0]))
        elif d.status == "adequate":
            out.append(Evidence(d.drug, "adequate", d.adequate_since))
    return tuple(out)


def _conventional_parameters(conv: ConventionalTherapy) -> tuple[str, ...]:
    out = list(conv.parameters)
    for d in (conv.steroid, *conv.nsists):
        out.extend(d.parameters)
    return tuple(dict.fromkeys(out))


def criterion_3_1(conv: ConventionalTherapy, pis: CodedAssessment | None) -> CriterionResult:
    params = _conventional_parameters(conv) + ("pis_max_age_days",)
    if conv.adequate is False:
        return CriterionResult("c3-1", False, parameters=params)
    if pis is None:
        return CriterionResult("c3-1", None, gaps=conv.gaps + (_pis_gap(),), parameters=params)
    if conv.adequate is None:
        return CriterionResult("c3-1", None if pis.code in PIS_NOT_IMPROVED else False, gaps=conv.gaps, parameters=params)
    met = pis.code in PIS_NOT_IMPROVED
    return CriterionResult("c3-1", met, _conventional_evidence(conv) + _pis_evidence(pis), parameters=params)


def criterion_3_2(conv: ConventionalTherapy, pis: CodedAssessment | None, severity: Severity) -> CriterionResult:
    params = _conventional_parameters(conv) + ("pis_max_age_days",) + SEVERITY_PARAMETERS
    if conv.adequate is False or (pis is not None and pis.code != "I"):
        return CriterionResult("c3-2", False, parameters=params)
    if pis is None:
        return CriterionResult("c3-2", None, gaps=conv.gaps + (_pis_gap(),), parameters=params)
    if conv.adequate is None:
        return CriterionResult("c3-2", None, gaps=conv.gaps, parameters=params)
    evidence = _conventional_evidence(conv) + _pis_evidence(pis)
    if severity.score is not None:
        evidence += (score_evidence(severity.score),)
    return CriterionResult("c3-2", severity.met, evidence, parameters=params)


def criterion_3_3_result(intol: IntoleranceAssessment, conv: ConventionalTherapy) -> CriterionResult:
    note = ""
    if intol.met and not any(n.status == "adequate" for n in conv.nsists):
        note = "no non-steroidal immunosuppressant reached adequacy before it was stopped"
    return CriterionResult("c3-3", intol.met, intol.evidence, intol.gaps, intol.parameters, note)


def criterion_3_4_result(rescue: RescueAssessment) -> CriterionResult:
    return CriterionResult("c3-4", rescue.met, tuple(course_evidence(c) for c in rescue.counted), rescue.gaps, rescue.parameters)


CRITERION_TEXT = {
    "c1": "1 diagnosis of generalized MG",
    "c2": "2 MG-ADL >= 6 with ocular share < 50%",
    "c3-1": "3-1 PIS unchanged/worse after adequate conventional therapy",
    "c3-2": "3-2 PIS improved but MG-ADL still >= 6",
    "c3-3": "3-3 adverse events prevent adequate conventional therapy",
    "c3-4": "3-4 repeated fast-acting therapy",
}


def cn_outcome(
    severity: Severity,
    conv: ConventionalTherapy,
    pis: CodedAssessment | None,
    intol: IntoleranceAssessment,
    rescue: RescueAssessment,
) -> CnOutcome:
    """Combine the criteria of a patient with generalized MG (criterion 1 holds)."""
    c1 = CriterionResult("c1", True)
    c2 = CriterionResult(
        "c2",
        severity.met,
        (score_evidence(severity.score),) if severity.score else (),
        severity.gaps,
        SEVERITY_PARAMETERS,
    )
    c31 = criterion_3_1(conv, pis)
    c32 = criterion_3_2(conv, pis, severity)
    c33 = criterion_3_3_result(intol, conv)
    c34 = criterion_3_4_result(rescue)
    third = (c31, c32, c33, c34)
    criteria = (c1, c2) + third
    findings: list[Finding] = []
    deciding: list[str] = []
    reevaluate_on: date | None = None

    if severity.met is False:
        status: CnStatus = "not-met-severity"
        deciding += SEVERITY_PARAMETERS
        share = f", ocular share {severity.ocular_share:.0%}" if severity.ocular_share is not None else ""
        total = severity.score.total if severity.score else "?"
        findings.append(
            Finding(
                "refractory.cn.not-met.severity",
                f"Not refractory by the Chinese consensus: criterion 2 not met (MG-ADL {total}{share}).",
                "info",
                c2.evidence,
                SEVERITY_PARAMETERS,
            )
        )
        if severity.ocular_dominant:
            findings.append(
                Finding(
                    "refractory.cn.ocular-dominant",
                    "Ocular items make up half or more of the MG-ADL: consider the ocular-MG pathway.",
                    "info",
                    c2.evidence,
                    ("ocular_share_max",),
                    {"ocularShare": round(severity.ocular_share or 0.0, 3)},
                )
            )
    elif severity.met is None:
        status = "indeterminate"
    elif any(c.met for c in third):
        status = "met"
    elif any(c.met is None for c in third):
        status = "indeterminate"
    elif conv.adequate is False:
        status = "not-met-inadequate"
    else:
        status = "not-met-response"

    if status == "met":
        fired = [c for c in criteria if c.met]
        for c in fired:
            deciding += c.parameters
        labels = ", ".join(c.id[1:] for c in fired[2:])
        findings.append(
            Finding(
                "refractory.cn.met",
                f"Refractory gMG by the Chinese consensus: criteria 1, 2 and {labels}.",
                "warning",
                parameters=tuple(dict.fromkeys(deciding)),
                data={"criteria": [c.id for c in fired]},
            )
        )
        for c in fired:
            text = f"Criterion {CRITERION_TEXT[c.id]}" + (f" ({c.note})" if c.note else "") + "."
            findings.append(
                Finding(f"refractory.cn.{c.id}", text, "info", c.evidence, c.parameters, {"note": c.note or None})
            )
    elif status == "indeterminate":
        gaps: list[Finding] = list(severity.gaps)
        if severity.met is not False and not any(c.met for c in third):
            for c in third:
                if c.met is None:
                    gaps.extend(c.gaps)
                    deciding += c.parameters
        gaps_t = one_per_drug(gaps)
        deciding += [p for g in gaps_t for p in g.parameters]
        findings.append(
            Finding(
                "refractory.cn.indeterminate",
                "Refractory status cannot be decided: " + "; ".join(g.code.removeprefix("data-gap.") for g in gaps_t) + " missing.",
                "info",
                parameters=tuple(dict.fromkeys(deciding)),
                data={"missing": [g.code for g in gaps_t]},
            )
        )
        findings.extend(gaps_t)
        if conv.adequate is False:
            findings.extend(conv.deficits)
            reevaluate_on = conv.reevaluate_on
    elif status == "not-met-inadequate":
        deciding += list(_conventional_parameters(conv))
        deciding += [p for d in conv.deficits for p in d.parameters]
        findings.append(
            Finding(
                "refractory.cn.not-met.inadequate-treatment",
                "Not refractory yet: conventional therapy has not been adequate in dose, level or duration"
                + (f"; re-evaluate from {conv.reevaluate_on}." if conv.reevaluate_on else "."),
                "warning",
                parameters=tuple(dict.fromkeys(deciding)),
                data={"reevaluateOn": conv.reevaluate_on.isoformat() if conv.reevaluate_on else None},
            )
        )
        findings.extend(conv.deficits)
        reevaluate_on = conv.reevaluate_on
    elif status == "not-met-response":
        deciding += list(_conventional_parameters(conv)) + ["pis_max_age_days"]
        findings.append(
            Finding(
                "refractory.cn.not-met.response",
                f"Not refractory: adequate conventional therapy with PIS {pis.code if pis else '?'}.",
                "info",
                _pis_evidence(pis),
                tuple(dict.fromkeys(deciding)),
            )
        )
    return CnOutcome(status, criteria, tuple(findings), reevaluate_on, tuple(dict.fromkeys(deciding)))
