"""Values on record that could not be read: named as data gaps, never guessed, never dropped.

Guideline (DESIGN, clinical safety; gmg-rules.md §9, tag I): never conclude from missing or
implausible data, and say what is missing. EHRs write MGFA class, post-intervention status and
scores as text; a text that does not read as one value ("Class II" without a/b, "improved?",
"7-8") leaves the latest value of that kind unknown, and an older readable value must not stand
in for it. A medication whose reference cannot be resolved (Epic's MedicationRequest points to a
Medication the EHR did not send) is a drug the checks could not see (issue #14 points 2 and 4).

When / Then
- the latest MGFA class, PIS (within `pis_max_age_days`), QMG, MGC or MG-QOL15r on record does
  not read as one value -> `data-gap.unreadable-value` naming it (MG-ADL: criterion 2's own gap
  names it, gmg/severity.py);
- medications whose reference did not resolve -> one `data-gap.medication-unresolved` naming
  them by their display text.
"""

from __future__ import annotations

from datetime import date, timedelta

from .findings import Evidence, Finding
from .parameters import Parameters
from .record import PatientRecord, UnreadValue

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


def superseding_unread(record: PatientRecord, kind: str, latest_when: date | None) -> UnreadValue | None:
    """The unread value of `kind` recorded on or after the latest readable one (any, without a
    readable one): while there is one, the latest value of that kind is unknown."""
    return record.unread_since(kind, latest_when)


def _latest_readable(record: PatientRecord, kind: str) -> date | None:
    if kind in ("mgfa-class", "mgfa-pis"):
        coded = record.mgfa_class if kind == "mgfa-class" else record.pis
        items = [a.when for a in coded if a.when <= record.today]
    else:
        items = [s.when for s in record.scores if s.kind == kind and s.when <= record.today]
    return max(items) if items else None


def unread_findings(record: PatientRecord, params: Parameters) -> tuple[Finding, ...]:
    out: list[Finding] = []
    pis_since = record.today - timedelta(days=int(params["pis_max_age_days"]))
    for kind in ("mgfa-class", "mgfa-pis", "qmg-total", "mgc-total", "mg-qol15r-total"):
        u = superseding_unread(record, kind, _latest_readable(record, kind))
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
