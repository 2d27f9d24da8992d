"""Serotype and antibody revalidation.

Guideline statement (CN consensus, "antibody revalidation", research §1.5, tag D-hi): in
refractory gMG, if earlier RIPA or ELISA testing was antibody-negative, retest with a cell-based
assay (CBA). Project reading (gmg-rules.md §4, tag I): the serotype is AChR+, MuSK+ or LRP4+ from
any positive result; "seronegative" only when AChR and MuSK are both negative by CBA;
"unconfirmed" when negative only by ELISA/RIPA or an unknown method; "unknown" with no result.
Revalidation (`antibody.revalidate-cba`) asks for clustered-AChR, MuSK and LRP4 testing by CBA.
Serotype-restricted therapies are never recommended on an unconfirmed serotype.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .findings import Evidence, Finding
from .record import AntibodyResult, PatientRecord

Serotype = Literal["achr", "musk", "lrp4", "seronegative", "unconfirmed", "unknown"]
ACHR_TARGETS = frozenset({"achr", "achr-binding", "achr-blocking", "achr-modulating"})
TARGET_NAMES = {"achr": "AChR", "musk": "MuSK", "lrp4": "LRP4"}


@dataclass(frozen=True)
class SerotypeAssessment:
    serotype: Serotype
    positives: tuple[str, ...]  # "achr", "musk", "lrp4" with a positive result
    findings: tuple[Finding, ...]  # serotype.* (one per positive, or the status)
    negative_results: tuple[AntibodyResult, ...]
    cba_negative: frozenset[str]  # targets ("achr", "musk", "lrp4") negative by CBA

    @property
    def needs_revalidation(self) -> bool:
        return self.serotype == "unconfirmed"


def family(target: str) -> str | None:
    if target in ACHR_TARGETS:
        return "achr"
    return target if target in ("musk", "lrp4") else None


def _evidence(r: AntibodyResult) -> Evidence:
    assay = r.assay.upper() if r.assay != "unknown" else "method not recorded"
    value = f"{r.result} ({assay})"
    if r.value is not None:
        value = f"{r.result} {r.value:g} {r.unit or ''} ({assay})".replace(" (", " (").strip()
    return Evidence(f"{TARGET_NAMES.get(family(r.target) or '', r.target)} antibody", value, r.when, r.source)


def assess_serotype(record: PatientRecord) -> SerotypeAssessment:
    results = [r for r in record.antibodies if family(r.target) is not None and r.when <= record.today]
    positives: list[str] = []
    findings: list[Finding] = []
    for fam in ("achr", "musk", "lrp4"):
        pos = [r for r in results if family(r.target) == fam and r.result == "positive"]
        if pos:
            positives.append(fam)
            findings.append(
                Finding(
                    f"serotype.{fam}",
                    f"{TARGET_NAMES[fam]} antibody positive.",
                    evidence=tuple(_evidence(r) for r in sorted(pos, key=lambda r: r.when)),
                )
            )
    negatives = tuple(r for r in results if r.result == "negative")
    cba_negative = frozenset(family(r.target) or "" for r in negatives if r.assay == "cba")
    if positives:
        return SerotypeAssessment(positives[0], tuple(positives), tuple(findings), negatives, cba_negative)  # type: ignore[arg-type]
    if {"achr", "musk"} <= cba_negative:
        f = Finding(
            "serotype.seronegative",
            "AChR and MuSK antibodies negative by cell-based assay (CBA): seronegative.",
            evidence=tuple(_evidence(r) for r in negatives),
        )
        return SerotypeAssessment("seronegative", (), (f,), negatives, cba_negative)
    if negatives:
        missing = [TARGET_NAMES[t] for t in ("achr", "musk") if t not in cba_negative]
        f = Finding(
            "serotype.unconfirmed",
            "Antibody-negative, but not by CBA for " + " and ".join(missing)
            + ": serotype unconfirmed (ELISA/RIPA or unknown method).",
            evidence=tuple(_evidence(r) for r in negatives),
            data={"notByCba": [m.lower() for m in missing]},
        )
        return SerotypeAssessment("unconfirmed", (), (f,), negatives, cba_negative)
    f = Finding("serotype.unknown", "No AChR, MuSK or LRP4 antibody result on record.")
    return SerotypeAssessment("unknown", (), (f,), (), frozenset())


def revalidation_finding(sero: SerotypeAssessment) -> Finding:
    """antibody.revalidate-cba: retest by CBA (clustered AChR, MuSK, LRP4) before 'seronegative'."""
    return Finding(
        "antibody.revalidate-cba",
        "Negative only by ELISA/RIPA or an unknown method: retest clustered AChR, MuSK and LRP4 "
        "antibodies by cell-based assay before calling this seronegative refractory gMG.",
        "warning",
        tuple(_evidence(r) for r in sero.negative_results),
        data={"tests": ["achr-clustered-cba", "musk-cba", "lrp4-cba"]},
    )


def serostatus_gap() -> Finding:
    return Finding(
        "data-gap.serostatus",
        "No AChR, MuSK or LRP4 antibody result on record: the serotype decides the next-line options.",
    )
