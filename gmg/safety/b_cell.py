"""B-cell depletion (rituximab, ofatumumab, inebilizumab): hepatitis B before the first dose.

Guideline and labels (gmg-rules.md §6; background/clinical-research.md §1.8, §4):
- "HBV screening before anti-CD20 is a label requirement (rituximab boxed warning: HBV
  reactivation; screen HBsAg and anti-HBc)" [K]; inebilizumab: "HBV ... screening required before
  the first dose" [V]. The project reads "screened" as an HBsAg AND an anti-HBc result within 12
  months [I, §6].
- HBsAg or anti-HBc positive: hepatology, antiviral prophylaxis, HBV DNA [K].

When / Then
- B-cell-depleting drug ordered, HBsAg or anti-HBc positive (latest result), or chronic/active
  hepatitis B coded -> safety.b-cell.hbv-positive (critical).
- otherwise, HBsAg or anti-HBc without a result in the window -> safety.b-cell.hbv-screen-missing
  (warning), naming the missing test(s).
"""

from __future__ import annotations

from datetime import timedelta

from ..findings import Evidence, Finding
from ._common import CheckInput, active_conditions, latest_result, make_finding

_TESTS: tuple[tuple[str, str], ...] = (("hbsag", "HBsAg"), ("anti-hbc", "anti-HBc"))


def _result_word(interpretation: str | None) -> str:
    return interpretation or "result without interpretation"


def check(ci: CheckInput) -> list[Finding]:
    drafts = ci.drafts("b-cell-depleting", "anti-cd20", "anti-cd19")
    if not drafts:
        return []
    positives: list[Evidence] = []
    for lab, label in _TESTS:
        m = latest_result(ci.record, lab)
        if m is not None and m.interpretation == "positive":
            positives.append(Evidence(label, "positive", m.when, m.source))
    for c in active_conditions(ci.record, "hepatitis-b"):
        positives.append(Evidence("Hepatitis B (condition)", "active", c.start, c.source))
    if positives:
        text = (
            "B-cell depletion ordered with hepatitis B markers positive ("
            + ", ".join(f"{e.label} {e.value}" for e in positives)
            + "): risk of HBV reactivation; check HBV DNA, involve hepatology and start antiviral"
            " prophylaxis before the first dose."
        )
        return [
            make_finding("safety.b-cell.hbv-positive", "critical", text, drafts, evidence=positives)
        ]
    window = int(ci.params["hbv_screen_max_age_days"])
    since = ci.today - timedelta(days=window)
    missing: list[str] = []
    evidence: list[Evidence] = []
    for lab, label in _TESTS:
        m = latest_result(ci.record, lab, since=since)
        if m is None or m.interpretation not in ("negative", "positive"):
            missing.append(label)
            old = latest_result(ci.record, lab)
            if old is not None:
                evidence.append(Evidence(f"{label} (outside the window or unreadable)", _result_word(old.interpretation), old.when, old.source))
        else:
            evidence.append(Evidence(label, _result_word(m.interpretation), m.when, m.source))
    if not missing:
        return []
    text = (
        f"B-cell depletion ordered without {' and '.join(missing)} in the last {window} days:"
        " screen for hepatitis B (HBsAg and anti-HBc) before the first dose (reactivation risk)."
    )
    return [
        make_finding(
            "safety.b-cell.hbv-screen-missing",
            "warning",
            text,
            drafts,
            evidence=evidence,
            parameters=("hbv_screen_max_age_days",),
            missing_labs=missing,
        )
    ]
