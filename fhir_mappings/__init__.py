"""FHIR R4 JSON -> the PatientRecord the clinical rules read (gmg/record.py).

Public API:
    build_record(prefetch, patient_id, today, *, unavailable=frozenset(), params=None,
                 series=None) -> PatientRecord   (thresholds from the parameter set)
    SeriesSelection.from_parameters(params): read vital-sign and lab series selectively

Body-size arithmetic (Mosteller BSA, plasma volume) is dose logic and lives in gmg/dosing.py.
"""

from . import model_cache
from .build import build_record
from .selection import SeriesSelection

__all__ = ["SeriesSelection", "build_record", "model_cache"]
