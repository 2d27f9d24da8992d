"""Findings: what the clinical logic concludes, before anything is said on a card.

A finding carries a code from ../shared/knowledge/gmg-rules.md §8 (the public, machine-readable
contract that feedback and audit key on), the evidence it rests on (values, dates, source
references), and the parameters that decided it (so a card can name any D-lo or K default).
Cards are built from findings in `hooks`; this module knows nothing about CDS Hooks JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

Indicator = Literal["info", "warning", "critical"]
INDICATOR_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True)
class Evidence:
    """One fact a finding rests on, e.g. ("MG-ADL total", "8", 2026-10-01, "Observation/a1")."""

    label: str
    value: str
    when: date | None = None
    source: str | None = None


@dataclass(frozen=True)
class Finding:
    code: str
    text: str  # one clinical sentence: what and why
    indicator: Indicator = "info"
    evidence: tuple[Evidence, ...] = ()
    parameters: tuple[str, ...] = ()  # parameter ids that decided this finding
    data: dict[str, Any] = field(default_factory=dict)  # JSON-able extras (ISO dates, numbers)

    def as_extension(self) -> dict[str, Any]:
        """The finding object of the card extension (gmg-rules.md §8)."""
        out: dict[str, Any] = {"code": self.code}
        if self.evidence:
            out["evidence"] = [
                {
                    k: v
                    for k, v in (
                        ("label", e.label),
                        ("value", e.value),
                        ("date", e.when.isoformat() if e.when else None),
                        ("reference", e.source),
                    )
                    if v is not None
                }
                for e in self.evidence
            ]
        if self.parameters:
            out["parameters"] = list(self.parameters)
        out.update({k: v for k, v in self.data.items() if v is not None})
        return out


def one_per_drug(findings: list[Finding] | tuple[Finding, ...]) -> tuple[Finding, ...]:
    """The findings without repeats: one per code and drug (`data["drug"]`; for a co-medication
    finding also per co-medication, `data["inducer"]`), first kept.

    gmg-rules.md §9: several deficits of one kind on different drugs are several findings, one
    per drug; the same deficit found twice for one drug is said once."""
    seen: set[tuple[str, str, str]] = set()
    out: list[Finding] = []
    for f in findings:
        key = (f.code, str(f.data.get("drug")), str(f.data.get("inducer")))
        if key not in seen:
            seen.add(key)
            out.append(f)
    return tuple(out)


def highest_indicator(findings: list[Finding] | tuple[Finding, ...]) -> Indicator:
    best: Indicator = "info"
    for f in findings:
        if INDICATOR_RANK[f.indicator] > INDICATOR_RANK[best]:
            best = f.indicator
    return best
