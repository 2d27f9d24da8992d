"""Values on record that could not be read: named as data gaps, never guessed, never dropped.

Guideline (DESIGN, clinical safety; gmg-rules.md §9, tag I): never conclude from missing or
implausible data, and say what is missing. EHRs write MGFA class, post-intervention status and
scores as text; a text that does not read as one value ("Class II" without a/b, "improved?",
"7-8") leaves the latest value of that kind unknown, and an older readable value must not stand
in for it. A medication whose reference cannot be resolved (Epic's MedicationRequest points to a
Medication the EHR did not send) is a drug the checks could not see (issue #14 points 2 and 4).

Every rule that reads "the latest" MGFA class, PIS or score reads it through `latest_value`
(criteria 1 to 3 and the other definitions, the trial criteria): one reading, so no rule can
fall back to an older value where another would not.

When / Then
- the latest MGFA class, PIS (within `pis_max_age_days`), QMG, MGC or MG-QOL15r on record does
  not read as one value -> `data-gap.unreadable-value` naming it (MG-ADL: criterion 2's own gap
  names it, gmg/severity.py);
- medications whose reference did not resolve -> one `data-gap.medication-unresolved` naming
  them by their display text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from .findings import Evidence, Finding
from .parameters import Parameters
from .record import CodedAssessment, MgAdlScore, PatientRecord, ScoreResult, UnreadValue

# What a kind is called on a card (the clinical words).
KIND_NAMES: dict[str, str] = {
    "mgfa-class": "MGFA class",
    "mgfa-pis": "MGFA PIS",
    "mg-adl-total": "MG-ADL total",
    "qmg-total": "QMG total",
    "mgc-total": "MG Composite total",
    "mg-qol15r-total": "MG-QOL15r total",
}
MEDICATIONS_NAMED = 8  # drug names listed on the card; the rest are counted


def unread_text(u: UnreadValue) -> str:
    """'MGFA class recorded as "Class II" on 2026-01-02' (how every gap names the value)."""
    when = f" on {u.when.isoformat()}" if u.when else ""
    return f'{KIND_NAMES.get(u.kind, u.kind)} recorded as "{u.text}"{when}'


def unread_evidence(u: UnreadValue) -> Evidence:
    return Evidence(KIND_NAMES.get(u.kind, u.kind), f'"{u.text}" (not one value)', u.when, u.source)


Dated = MgAdlScore | ScoreResult | CodedAssessment


@dataclass(frozen=True)
class Latest:
    """The latest value of one kind as every rule must read it: `value` is the latest readable
    one, unless a value recorded on or after it could not be read (`unread`): then the latest
    value is unknown and `value` is None (an older value never stands in for it)."""

    value: Dated | None
    unread: UnreadValue | None


def series(record: PatientRecord, kind: str) -> tuple[Dated, ...]:
    """The readable values of `kind` on record, oldest first."""
    if kind == "mgfa-class":
        return record.mgfa_class
    if kind == "mgfa-pis":
        return record.pis
    if kind == "mg-adl-total":
        return record.mg_adl
    return tuple(s for s in record.scores if s.kind == kind)


def latest_value(record: PatientRecord, kind: str, max_age_days: int | None = None) -> Latest:
    """The latest value of `kind` (MGFA class, PIS, MG-ADL, QMG, MGC, MG-QOL15r) not after today
    and, with `max_age_days`, no older than that: the one shared reading of "the latest" for every
    rule (criterion 1's MGFA class, criterion 2's MG-ADL, the PIS of criteria 3-1/3-2 and the other
    definitions, the trial criteria). A value of that kind recorded on or after it (within the
    window when there is no readable one) that could not be read makes it unknown."""
    today = record.today
    best: Dated | None = None
    for item in series(record, kind):
        if item.when > today or (max_age_days is not None and (today - item.when).days > max_age_days):
            continue
        if best is None or item.when >= best.when:
            best = item
    since = best.when if best is not None else (
        today - timedelta(days=max_age_days) if max_age_days is not None else None)
    unread = record.unread_since(kind, since)
    return Latest(None, unread) if unread is not None else Latest(best, None)


def unread_findings(record: PatientRecord, params: Parameters) -> tuple[Finding, ...]:
    out: list[Finding] = []
    pis_since = record.today - timedelta(days=int(params["pis_max_age_days"]))
    for kind in ("mgfa-class", "mgfa-pis", "qmg-total", "mgc-total", "mg-qol15r-total"):
        u = latest_value(record, kind).unread
        if u is None or (kind == "mgfa-pis" and u.when is not None and u.when < pis_since):
            continue
        out.append(
            Finding(
                "data-gap.unreadable-value",
                f"Not used: {unread_text(u)} does not read as one value; record it again as one value.",
                evidence=(unread_evidence(u),),
                parameters=("pis_max_age_days",) if kind == "mgfa-pis" else (),
                data={"kind": kind},
            )
        )
    drugs = [u for u in record.unread_values if u.kind == "medication"]
    if drugs:
        names = list(dict.fromkeys(u.text for u in drugs))
        shown = "; ".join(names[:MEDICATIONS_NAMED])
        more = f" and {len(names) - MEDICATIONS_NAMED} more" if len(names) > MEDICATIONS_NAMED else ""
        out.append(
            Finding(
                "data-gap.medication-unresolved",
                f"Medications not assessed (the Medication they refer to could not be read): {shown}{more}.",
                evidence=tuple(Evidence("medication", u.text, u.when, u.source) for u in drugs[:MEDICATIONS_NAMED]),
                data={"count": len(names)},
            )
        )
    return tuple(out)
