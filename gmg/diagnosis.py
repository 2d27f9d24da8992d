"""Criterion 1 of the Chinese consensus: the diagnosis of (generalized) MG.

Guideline statement (CN consensus, diagnostic criterion 1, tag D-hi): the patient "meets the
diagnostic criteria of the Chinese MG diagnosis and treatment guideline (2020 edition)".
Project reading (gmg-rules.md §2 and §9, tag I): an active MG Condition that is not ocular-only,
congenital, drug-induced or neonatal (nor Lambert-Eaton). Ocular-only MG (SNOMED 230684008 /
414927004, or a latest MGFA class I) gets no refractory conclusion and points to the ocular-MG
pathway; the other MG-like conditions get no card; a patient without MG gets no card.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .record import CodedAssessment, ConditionFact, PatientRecord
from .unread import latest_value
from .vocabulary import members

MgStatus = Literal["no-mg", "excluded", "ocular-only", "generalized"]

GENERALIZED_MGFA_CLASSES = frozenset({"IIa", "IIb", "IIIa", "IIIb", "IVa", "IVb", "V", "II", "III", "IV"})


@dataclass(frozen=True)
class Diagnosis:
    status: MgStatus
    conditions: tuple[ConditionFact, ...]  # the conditions that decided it
    latest_mgfa_class: CodedAssessment | None

    @property
    def criterion_1(self) -> bool:
        return self.status == "generalized"


def latest_mgfa_class(record: PatientRecord) -> CodedAssessment | None:
    """The latest MGFA class on record; None when a later one does not read as one class
    (gmg/unread.py: an older class must not stand in for it)."""
    return latest_value(record, "mgfa-class").value  # type: ignore[return-value]


def mg_diagnosis(record: PatientRecord) -> Diagnosis:
    """Classify the MG diagnosis as criterion 1 reads it."""
    mg_like = members("mg") | members("mg-excluded")
    active = record.conditions_of(*sorted(mg_like))
    latest_class = latest_mgfa_class(record)
    excluded_other = members("mg-excluded") - members("mg-ocular")
    ocular = [c for c in active if c.concept in members("mg-ocular")]
    mg = [c for c in active if c.concept in members("mg") and c.concept not in members("mg-excluded")]
    other = [c for c in active if c.concept in excluded_other]

    if other:
        return Diagnosis("excluded", tuple(other), latest_class)
    if not mg and not ocular:
        return Diagnosis("no-mg", (), latest_class)
    later_generalized = latest_class is not None and latest_class.code in GENERALIZED_MGFA_CLASSES
    class_i = latest_class is not None and latest_class.code == "I"
    if class_i or (ocular and not later_generalized):
        return Diagnosis("ocular-only", tuple(ocular or mg), latest_class)
    return Diagnosis("generalized", tuple(mg or ocular), latest_class)
