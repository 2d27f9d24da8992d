"""What the handlers share: the clinical parameter set (read once per process) and the first
steps of every hook call — the patient record from the prefetch, and the assessment.

The parameter set is the default file plus the site override named by the environment variable
GMG_CDS_PARAMETERS_FILE, cached; `reset()` is for tests that change the variable.
"""

from __future__ import annotations

import os
from functools import lru_cache

from dataclasses import dataclass

from fhir_mappings import SeriesSelection, build_record, model_cache
from fhir_mappings.common import warm_models
from gmg import parameters as gmg_parameters
from gmg import plausibility
from gmg.assessment import Assessment, assess
from gmg.record import PatientRecord

from .registry import HookCall

PARAMETERS_ENV = "GMG_CDS_PARAMETERS_FILE"


@lru_cache(maxsize=1)
def parameters() -> gmg_parameters.Parameters:
    return gmg_parameters.load(os.environ.get(PARAMETERS_ENV) or None)


@lru_cache(maxsize=1)
def series_selection() -> SeriesSelection:
    """Which vital-sign and lab results can matter, from the parameter windows (built once)."""
    return SeriesSelection.from_parameters(parameters())


def warm() -> None:
    """Everything a first hook call would otherwise load: parameters, the series selection, and
    the fhir.resources element classes (imported lazily by fhir_core on first use)."""
    parameters()
    series_selection()
    warm_models()


def configure_model_cache(capacity: int) -> None:
    """How many validated FHIR models each process keeps (GMG_CDS_MODEL_CACHE_SIZE)."""
    model_cache.configure(capacity)


def reset() -> None:
    parameters.cache_clear()
    series_selection.cache_clear()


# Patients who get cards: generalized MG, and ocular-only MG (one pathway card). No MG, or an
# excluded mimic, gets none (gmg-rules.md §9, criterion 1).
MG_CARD_STATUSES = frozenset({"generalized", "ocular-only"})


@dataclass(frozen=True)
class Evaluation:
    params: gmg_parameters.Parameters
    record: PatientRecord
    assessment: Assessment

    @property
    def has_cards(self) -> bool:
        return self.assessment.mg_status in MG_CARD_STATUSES


def evaluate(call: HookCall) -> Evaluation:
    """The record from the call's prefetch, and the refractory assessment over it."""
    params = parameters()
    record = build_record(
        call.prefetch,
        str(call.context.get("patientId", "")),
        call.today,
        unavailable=call.unavailable,
        rescue_gap_days=int(params["rescue_gap_days"]),
        ivmp_min_mg_per_day=float(params["ivmp_min_mg_per_day"]),
        series=series_selection(),
    )
    # implausible weights, heights, haematocrits and birth dates set aside before any rule
    record = plausibility.screen(record, params)
    return Evaluation(params, record, assess(record, params))
