"""FHIR R4 JSON -> the PatientRecord the clinical rules read (gmg/record.py).

Public API:
    build_record(prefetch, patient_id, today, *, unavailable=frozenset(), rescue_gap_days=14,
                 ivmp_min_mg_per_day=500, pregnancy_window_days=280, series=None) -> PatientRecord
    SeriesSelection.from_parameters(params): read vital-sign and lab series selectively

Body-size arithmetic (Mosteller BSA, plasma volume) is dose logic and lives in gmg/dosing.py.
"""

from . import model_cache
from .build import build_record
from .selection import SeriesSelection

__all__ = ["SeriesSelection", "build_record", "model_cache"]
