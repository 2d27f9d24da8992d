"""The one entry point: resolved prefetch -> PatientRecord.

Cost follows the relevant data, not the chart: resources are first selected on the plain JSON
dicts by code (a dictionary look-up in terminology per resource) and only the selected ones are
validated as fhir.resources R4B models. A selected resource that fails validation is repaired
by dropping the invalid elements (one DataQualityNote per element path) or, when a required
element is missing or invalid, skipped with a note. Nothing raises on messy input: an
unexpected error in one mapping step leaves that kind of fact out and says so in a note.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any, Callable, Mapping, TypeVar

from gmg.parameters import Parameters, load as load_parameters
from gmg.record import Measurement, PatientRecord

from .clinical import map_conditions, map_immunizations, map_patient, map_procedures
from .common import MappingContext
from .events import map_adverse_events, map_intolerances
from .medications import Weights, _nearest_weight, map_medications
from .observations import ObservationFacts, map_observations
from .pregnancy import pregnancy_status
from .prefetch import collect
from .rescue import rescue_courses
from .selection import SeriesSelection

log = logging.getLogger(__name__)
T = TypeVar("T")



def _guarded(step: str, ctx: MappingContext, fn: Callable[[], T], empty: T) -> T:
    try:
        return fn()
    except Exception:  # noqa: BLE001 - one broken step must not take the record down
        log.exception("fhir_mappings: step %s failed", step)  # no patient data in the message
        ctx.note(f"mapping:{step}", "could not be read because of an internal error; left out")
        return empty


def build_record(
    prefetch: Mapping[str, Any],
    patient_id: str,
    today: date,
    *,
    unavailable: frozenset[str] = frozenset(),
    params: Parameters | None = None,
    rescue_gap_days: int | None = None,
    ivmp_min_mg_per_day: float | None = None,
    pregnancy_window_days: int | None = None,
    series: SeriesSelection | None = None,
) -> PatientRecord:
    """Map the prefetch (keys patient, conditions, observations, medicationStatements,
    medicationRequests, medicationAdministrations, procedures, immunizations, adverseEvents,
    allergies; each a resource, a Bundle or None) to the record of one patient.

    `series`: read vital-sign and lab series selectively (selection.py: only results that can
    decide what a rule reads; the hooks pass SeriesSelection.from_parameters(params)). None reads
    every relevant Observation.

    The readings that depend on a clinical threshold (days of one rescue course, the IVMP dose
    that makes a pulse a rescue course, how long a pregnancy signal counts) come from `params`
    (the service's parameter set; the default set when None): `rescue_gap_days`,
    `ivmp_min_mg_per_day`, `pregnancy_window_days`. The keyword arguments of the same names
    override one value (tests)."""
    p = params if params is not None else load_parameters()
    if rescue_gap_days is None:
        rescue_gap_days = int(p["rescue_gap_days"])
    if ivmp_min_mg_per_day is None:
        ivmp_min_mg_per_day = float(p["ivmp_min_mg_per_day"])
    if pregnancy_window_days is None:
        pregnancy_window_days = int(p["pregnancy_window_days"])
    ctx = MappingContext(patient_id=patient_id, today=today)
    res = collect(prefetch, ctx)

    birth_date, sex = _guarded("patient", ctx, lambda: map_patient(res.of("Patient"), ctx), (None, None))
    conditions = _guarded("conditions", ctx, lambda: map_conditions(res.of("Condition"), ctx), [])
    obs = _guarded(
        "observations", ctx, lambda: map_observations(res.of("Observation"), ctx, series), ObservationFacts()
    )

    def in_order(items: list[Measurement]) -> list[Measurement]:
        return sorted(items, key=lambda m: (m.when, m.concept, m.source))

    def weights_of(items: list[Measurement]) -> list[tuple[date, float]]:
        return [(m.when, m.value) for m in in_order(items) if m.concept == "weight" and m.value]

    weights: Weights = weights_of(obs.measurements)
    if series is not None:
        known = [weights]

        def nearest_weight(day: date | None) -> float | None:
            if day is not None and obs.read_near("weight", day):
                known[0] = weights_of(obs.measurements)  # weights read on demand around `day`
            return _nearest_weight(known[0], day)

        weights = nearest_weight
    med_raws = res.of("MedicationStatement") + res.of("MedicationRequest") + res.of("MedicationAdministration")
    exposures = _guarded("medications", ctx, lambda: map_medications(med_raws, weights, ctx), [])
    measurements = in_order(obs.measurements)
    procedures = _guarded("procedures", ctx, lambda: map_procedures(res.of("Procedure"), ctx), [])
    courses = _guarded(
        "rescue-courses",
        ctx,
        lambda: rescue_courses(
            exposures, procedures, ctx,
            rescue_gap_days=rescue_gap_days, ivmp_min_mg_per_day=ivmp_min_mg_per_day,
        ),
        [],
    )
    events = _guarded("adverse-events", ctx, lambda: map_adverse_events(res.of("AdverseEvent"), ctx), [])
    intolerances = _guarded("allergies", ctx, lambda: map_intolerances(res.of("AllergyIntolerance"), ctx), [])
    immunizations = _guarded("immunizations", ctx, lambda: map_immunizations(res.of("Immunization"), ctx), [])
    pregnancy = _guarded(
        "pregnancy",
        ctx,
        lambda: pregnancy_status(conditions, obs.pregnancy, today, pregnancy_window_days),
        None,
    )

    def oldest_first(items: list[Any]) -> tuple[Any, ...]:
        return tuple(sorted(items, key=lambda x: (x.when, x.source)))

    record = PatientRecord(
        patient_id=patient_id,
        today=today,
        birth_date=birth_date,
        sex=sex,
        conditions=tuple(conditions),
        antibodies=oldest_first(obs.antibodies),
        mg_adl=oldest_first(obs.mg_adl),
        scores=oldest_first(obs.scores),
        mgfa_class=oldest_first(obs.mgfa_class),
        pis=oldest_first(obs.pis),
        measurements=tuple(measurements),
        exposures=tuple(exposures),
        rescue_courses=tuple(courses),
        adverse_events=tuple(events),
        intolerances=tuple(intolerances),
        procedures=tuple(procedures),
        immunizations=tuple(immunizations),
        notes=tuple(ctx.notes),
        unavailable=frozenset(unavailable),
        observations_not_read=obs.not_read,
        unread_values=tuple(ctx.unread),
        recognitions=tuple(ctx.recognitions.values()),
    )
    if pregnancy is not None:
        from dataclasses import replace

        record = replace(record, pregnancy=pregnancy)
    return record
