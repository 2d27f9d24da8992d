"""Pregnancy: teratogenic immunosuppressants and B-cell depletion.

Guideline and labels (gmg-rules.md §6, §9; background/clinical-research.md §4.1 "Pregnancy" [K],
ICG 2016 and labels):
- "Methotrexate and mycophenolate are contraindicated (teratogenic); cyclophosphamide is also to
  be avoided."
- "Rituximab and other B-cell depleters should be avoided (neonatal B-cell depletion)."

When / Then (pregnant = the record's pregnancy status says pregnant, or an active pregnancy
condition; an unknown status is not pregnancy and fires nothing)
- mycophenolate, methotrexate or cyclophosphamide ordered -> safety.pregnancy.teratogen (critical).
- rituximab, inebilizumab (or another B-cell-depleting antibody) ordered
    -> safety.pregnancy.b-cell-depletion (warning): avoid unless life-threatening.
"""

from __future__ import annotations

from ..findings import Evidence, Finding
from ._common import CheckInput, active_conditions, make_finding


def pregnancy_evidence(ci: CheckInput) -> list[Evidence]:
    out: list[Evidence] = []
    p = ci.record.pregnancy
    if p.state == "pregnant":
        out.append(Evidence("Pregnancy status", "pregnant", p.when, p.source))
    for c in active_conditions(ci.record, "pregnancy"):
        out.append(Evidence("Pregnancy (condition)", "active", c.start, c.source))
    return out


def check(ci: CheckInput) -> list[Finding]:
    teratogens = ci.drafts("teratogen")
    depleting = tuple(o for o in ci.drafts("b-cell-depleting", "anti-cd20", "anti-cd19") if o not in teratogens)
    if not teratogens and not depleting:
        return []
    evidence = pregnancy_evidence(ci)
    if not evidence:
        return []
    findings: list[Finding] = []
    if teratogens:
        text = (
            f"{', '.join(o.name for o in teratogens)} ordered in pregnancy: teratogenic and"
            " contraindicated; stop the order and choose a pregnancy-compatible option"
            " (glucocorticoid, azathioprine; IVIG or PLEX for exacerbations)."
        )
        findings.append(make_finding("safety.pregnancy.teratogen", "critical", text, teratogens, evidence=evidence))
    if depleting:
        text = (
            f"{', '.join(o.name for o in depleting)} ordered in pregnancy: B-cell depletion reaches"
            " the fetus (neonatal B-cell depletion); avoid unless the situation is life-threatening."
        )
        findings.append(make_finding("safety.pregnancy.b-cell-depletion", "warning", text, depleting, evidence=evidence))
    return findings
