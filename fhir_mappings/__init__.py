"""FHIR R4 JSON -> the PatientRecord the clinical rules read (gmg/record.py).

Public API:
    build_record(prefetch, patient_id, today, *, unavailable=frozenset(), rescue_gap_days=14,
                 ivmp_min_mg_per_day=500, pregnancy_window_days=280) -> PatientRecord
    mosteller_bsa(height_cm, weight_kg) -> float | None      (m², from fhir_mappings.vitals)
"""

from .build import build_record
from .vitals import mosteller_bsa

__all__ = ["build_record", "mosteller_bsa"]
