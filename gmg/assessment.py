"""The refractory-gMG assessment of one patient: every rule family composed into one answer.

Guideline statement: the Chinese expert consensus on refractory gMG is the primary determination
(criteria 1 AND 2 AND any of 3-1 .. 3-4; gmg-rules.md §2), with ICG 2016 and the Japanese 2022
definition beside it (§3), the serotype and antibody revalidation (§4) and crisis handling (§9).
Each rule module opens with the statement it implements and its provenance tag.

Public API: `assess(record, params) -> Assessment`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .acute import acute_exacerbation
from .adequacy import ConventionalTherapy, conventional_therapy
from .criteria_cn import CnOutcome, cn_outcome
from .definitions_other import DefinitionResult, icg2016, jp2022
from .diagnosis import Diagnosis, mg_diagnosis
from .findings import Evidence, Finding
from .intolerance import IntoleranceAssessment, criterion_3_3, intolerant_of
from .parameters import Parameters
from .plausibility import findings as implausible_findings
from .record import CodedAssessment, PatientRecord
from .rescue import RescueAssessment, criterion_3_4
from .serotype import SerotypeAssessment, assess_serotype, revalidation_finding, serostatus_gap
from .severity import Severity, criterion_2, latest_pis
from .unread import unread_findings


@dataclass(frozen=True)
class Assessment:
    mg_status: str  # "no-mg" | "excluded" | "ocular-only" | "generalized"
    cn_status: str | None  # "met" | "not-met-severity" | "not-met-inadequate" | "not-met-response" | "indeterminate"
    criteria_fired: tuple[str, ...]  # "c1", "c2", "c3-1" .. "c3-4"
    serotype: str  # "achr" | "musk" | "lrp4" | "seronegative" | "unconfirmed" | "unknown"
    acute: bool
    icg2016_met: bool | None
    jp2022_met: bool | None
    findings: tuple[Finding, ...]
    reevaluate_on: date | None
    adequately_tried: frozenset[str] = frozenset()  # ingredient keys tried at adequate dose/duration
    intolerant_of: frozenset[str] = frozenset()  # ingredient keys not to suggest again
    parameter_version: str = ""
    deciding_parameters: tuple[str, ...] = ()  # parameter ids that decided the CN outcome
    # details for the cards (None when not applicable)
    diagnosis: Diagnosis | None = None
    severity: Severity | None = None
    pis: CodedAssessment | None = None
    conventional: ConventionalTherapy | None = None
    intolerance: IntoleranceAssessment | None = None
    rescue: RescueAssessment | None = None
    serotype_detail: SerotypeAssessment | None = None
    cn: CnOutcome | None = None
    icg2016: DefinitionResult | None = None
    jp2022: DefinitionResult | None = None

    @property
    def finding_codes(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.findings)

    def findings_with_prefix(self, *prefixes: str) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.code.startswith(prefixes))


def _not_applicable(record: PatientRecord, params: Parameters, diagnosis: Diagnosis, sero: SerotypeAssessment) -> Assessment:
    findings: tuple[Finding, ...] = ()
    if diagnosis.status == "ocular-only":
        evidence = tuple(Evidence("condition", c.concept, c.start, c.source) for c in diagnosis.conditions)
        if diagnosis.latest_mgfa_class is not None:
            a = diagnosis.latest_mgfa_class
            evidence += (Evidence("MGFA class", a.code, a.when, a.source),)
        findings = (
            Finding(
                "refractory.cn.not-met.diagnosis",
                "Ocular MG: the refractory generalized-MG criteria do not apply; follow the ocular-MG pathway.",
                "info",
                evidence,
            ),
        )
    return Assessment(
        mg_status=diagnosis.status,
        cn_status=None,
        criteria_fired=(),
        serotype=sero.serotype,
        acute=False,
        icg2016_met=None,
        jp2022_met=None,
        findings=findings,
        reevaluate_on=None,
        intolerant_of=intolerant_of(record, params),
        parameter_version=params.version,
        diagnosis=diagnosis,
        serotype_detail=sero,
    )


def assess(record: PatientRecord, params: Parameters) -> Assessment:
    """Assess one patient: MG diagnosis, CN consensus status, other definitions, serotype, acute."""
    diagnosis = mg_diagnosis(record)
    sero = assess_serotype(record)
    if diagnosis.status != "generalized":
        return _not_applicable(record, params, diagnosis, sero)

    severity = criterion_2(record, params)
    pis = latest_pis(record, params)
    conv = conventional_therapy(record, params)
    intol = criterion_3_3(record, params)
    rescue = criterion_3_4(record, params, conv.first_start)
    cn = cn_outcome(severity, conv, pis, intol, rescue)
    icg = icg2016(conv, pis, params)
    jp = jp2022(record, params, pis, intol, rescue)
    acute = acute_exacerbation(record, params)

    findings: list[Finding] = list(cn.findings)
    if acute is not None:
        findings.insert(0, acute)
    findings.append(
        Finding(
            {True: "refractory.icg2016.met", False: "refractory.icg2016.not-met"}.get(
                icg.met, "refractory.icg2016.indeterminate"  # type: ignore[arg-type]
            ),
            f"ICG 2016: {'met' if icg.met else 'not met' if icg.met is False else 'undetermined'} ({icg.explanation}).",
            parameters=icg.parameters,
            data={"met": icg.met},
        )
    )
    if jp.met is not None:
        findings.append(
            Finding(
                "refractory.jp2022.met" if jp.met else "refractory.jp2022.not-met",
                f"Japanese guideline 2022: {'met' if jp.met else 'not met'} ({jp.explanation}).",
                parameters=jp.parameters,
            )
        )
    findings.extend(sero.findings)
    findings.extend(implausible_findings(record))  # values set aside: named as data gaps
    if sero.serotype == "unconfirmed" and cn.status in ("met", "indeterminate"):
        findings.append(revalidation_finding(sero))
    if sero.serotype == "unknown":
        findings.append(serostatus_gap())
    findings.extend(unread_findings(record, params))

    return Assessment(
        mg_status="generalized",
        cn_status=cn.status,
        criteria_fired=cn.fired if cn.status == "met" else (),
        serotype=sero.serotype,
        acute=acute is not None,
        icg2016_met=icg.met,
        jp2022_met=jp.met,
        findings=tuple(findings),
        reevaluate_on=cn.reevaluate_on,
        adequately_tried=conv.adequately_tried,
        intolerant_of=intolerant_of(record, params) | intol.drugs,
        parameter_version=params.version,
        deciding_parameters=cn.deciding_parameters,
        diagnosis=diagnosis,
        severity=severity,
        pis=pis,
        conventional=conv,
        intolerance=intol,
        rescue=rescue,
        serotype_detail=sero,
        cn=cn,
        icg2016=icg,
        jp2022=jp,
    )
