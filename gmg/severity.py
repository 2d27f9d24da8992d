"""Criterion 2 of the Chinese consensus: severity by MG-ADL, with the ocular share.

Guideline statement (CN consensus, diagnostic criterion 2, tag D-hi): "MG-ADL total >= 6, with
the ocular items (ptosis + diplopia) making up < 50% of the total (Table 1)". The ocular items are
MG-ADL items 7 and 8, diplopia and ptosis (tag I). A share of exactly 50% fails.
Project reading (gmg-rules.md §2, §9, tag I): the latest MG-ADL no older than
`score_max_age_days`; a total without its 8 items leaves the share unknown; the same reading
applies during an exacerbation. PIS: the latest within `pis_max_age_days`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from .findings import Evidence, Finding
from .parameters import Parameters
from .record import CodedAssessment, MgAdlScore, PatientRecord
from .unread import latest_value, unread_evidence, unread_text


@dataclass(frozen=True)
class Severity:
    met: bool | None  # criterion 2: True, False, or None (unknown)
    score: MgAdlScore | None  # the score that was read (None when none in the window)
    latest_any: MgAdlScore | None  # the latest score on record, even if stale
    ocular_share: float | None
    ocular_dominant: bool
    gaps: tuple[Finding, ...]
    adl_at_least_min: bool | None = None  # MG-ADL total >= mg_adl_min (None without a score)


def score_evidence(score: MgAdlScore) -> Evidence:
    share = score.ocular_share
    value = f"{score.total}" + (f" (ocular share {share:.0%})" if share is not None else " (items not recorded)")
    return Evidence("MG-ADL total", value, score.when, score.source)


def criterion_2(record: PatientRecord, params: Parameters) -> Severity:
    """MG-ADL >= mg_adl_min and ocular share < ocular_share_max, from a recent enough score."""
    reading = latest_value(record, "mg-adl-total")
    latest: MgAdlScore | None = reading.value  # type: ignore[assignment]
    max_age = int(params["score_max_age_days"])
    if latest is None or (record.today - latest.when).days > max_age:
        unread = reading.unread
        if unread is not None:
            text = f"The latest {unread_text(unread)} does not read as one score: criterion 2 (severity) cannot be judged."
            evidence: tuple[Evidence, ...] = (unread_evidence(unread),)
        elif latest is None:
            text = "No MG-ADL score on record: criterion 2 (severity) cannot be judged."
            evidence = ()
        else:
            text = (
                f"Latest MG-ADL is from {latest.when.isoformat()}, older than {max_age} days: "
                "record a current MG-ADL to judge criterion 2."
            )
            evidence = (score_evidence(latest),)
        gap = Finding(
            "data-gap.mg-adl",
            text,
            evidence=evidence,
            parameters=("score_max_age_days",),
            data={"neededBy": (record.today - timedelta(days=max_age)).isoformat()},
        )
        return Severity(None, None, latest, None, False, (gap,))

    share = latest.ocular_share
    adl_ok = params.passes("mg_adl_min", latest.total)
    ocular_dominant = share is not None and not params.passes("ocular_share_max", share)
    if not adl_ok or ocular_dominant:
        return Severity(False, latest, latest, share, ocular_dominant, (), adl_at_least_min=adl_ok)
    if share is None:
        gap = Finding(
            "data-gap.mg-adl-items",
            f"MG-ADL total {latest.total} ({latest.when.isoformat()}) was recorded without its 8 items: "
            "the ocular share (criterion 2) is unknown.",
            evidence=(score_evidence(latest),),
            parameters=("ocular_share_max",),
        )
        return Severity(None, latest, latest, None, False, (gap,), adl_at_least_min=True)
    return Severity(True, latest, latest, share, False, (), adl_at_least_min=True)


def latest_pis(record: PatientRecord, params: Parameters) -> CodedAssessment | None:
    """The latest MGFA post-intervention status within pis_max_age_days (gmg-rules.md §9)."""
    return latest_value(record, "mgfa-pis", int(params["pis_max_age_days"])).value  # type: ignore[return-value]
