"""gmg-patient-view: the refractory-gMG assessment when a chart is opened."""

from __future__ import annotations

from .cards import Card
from .registry import HookCall, ServiceDefinition


def handle(call: HookCall) -> list[Card]:
    return []


SERVICE = ServiceDefinition(
    id="gmg-patient-view",
    hook="patient-view",
    title="Refractory generalized myasthenia gravis assessment",
    description=(
        "Assesses generalized myasthenia gravis against the Chinese expert consensus on refractory "
        "gMG (with ICG 2016 beside it): status with evidence and data gaps, antibody revalidation, "
        "next-line options with doses for this patient, and matching clinical trials."
    ),
    handler=handle,
)
