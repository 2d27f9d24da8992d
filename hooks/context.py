"""What the handlers share: the clinical parameter set (read once per process) and the first
steps of every hook call — the patient record from the prefetch, and the assessment.

The parameter set is the default file plus the site override named by the environment variable
GMG_CDS_PARAMETERS_FILE, cached; the regulatory region (GMG_CDS_REGULATORY_REGION, default "us")
chooses label facts and where a drug is offered; `reset()` is for tests that change them.
"""

from __future__ import annotations

import os
from functools import lru_cache

from dataclasses import dataclass

from fhir_mappings import SeriesSelection, build_record, model_cache
from fhir_mappings.common import warm_models
from gmg import parameters as gmg_parameters
from gmg import plausibility, trials
from gmg.drugs import DEFAULT_REGION, REGIONS
from gmg.assessment import Assessment, assess
from gmg.record import PatientRecord

from .registry import HookCall

PARAMETERS_ENV = "GMG_CDS_PARAMETERS_FILE"
REGION_ENV = "GMG_CDS_REGULATORY_REGION"


@lru_cache(maxsize=1)
def parameters() -> gmg_parameters.Parameters:
    return gmg_parameters.load(os.environ.get(PARAMETERS_ENV) or None)


@lru_cache(maxsize=1)
def regulatory_region() -> str:
    """The site's regulatory region ("us", "cn"): whose label facts the cards give and where a
    drug is offered - a site setting, never taken from the card language."""
    value = (os.environ.get(REGION_ENV) or DEFAULT_REGION).strip().lower()
    if value not in REGIONS:
        raise ValueError(f"{REGION_ENV} must be one of {', '.join(REGIONS)}, got {value!r}")
    return value


@lru_cache(maxsize=1)
def series_selection() -> SeriesSelection:
    """Which vital-sign and lab results can matter, from the parameter windows (built once)."""
    return SeriesSelection.from_parameters(parameters())


def warm() -> None:
    """Everything a first hook call would otherwise load: parameters, the series selection, the
    trial files (checked against their schema), and the fhir.resources element classes (imported
    lazily by fhir_core on first use)."""
    parameters()
    regulatory_region()
    series_selection()
    trials.load_trials()
    warm_models()


def configure_model_cache(capacity: int) -> None:
    """How many validated FHIR models each process keeps (GMG_CDS_MODEL_CACHE_SIZE)."""
    model_cache.configure(capacity)


def reset() -> None:
    parameters.cache_clear()
    regulatory_region.cache_clear()
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
        params=params,
        series=series_selection(),
    )
    # implausible weights, heights, haematocrits and birth dates set aside before any rule
    record = plausibility.screen(record, params)
    return Evaluation(params, record, assess(record, params))
