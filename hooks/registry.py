"""The one registry of CDS services: discovery is generated from it, dispatch reads it.

A service is declared once (id, hook, title, description, prefetch templates, which prefetch
keys it cannot do without, and its handler), in the style of AHRQ CDS Connect's
`config/hooks/*.json`. The prefetch key names are a public contract (../shared/DESIGN.md):
EHRs configure them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable

from .cards import Card

# Prefetch templates shared by the three services (CDS Hooks 2.0.1 tokens; searches use only the
# recommended query subset: reference parameters).
PREFETCH_TEMPLATES: dict[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}",
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}",
    "medicationAdministrations": "MedicationAdministration?patient={{context.patientId}}",
    "procedures": "Procedure?patient={{context.patientId}}",
    "immunizations": "Immunization?patient={{context.patientId}}",
    "adverseEvents": "AdverseEvent?subject=Patient/{{context.patientId}}",
    "allergies": "AllergyIntolerance?patient={{context.patientId}}",
}

# Without these the service cannot say anything safe: when they can be had neither from prefetch
# nor from the FHIR server, the answer is 412. The other keys degrade to a stated data gap.
REQUIRED_KEYS: frozenset[str] = frozenset({"patient", "conditions", "observations"})


@dataclass(frozen=True)
class HookCall:
    """One hook invocation after validation and prefetch resolution (no web objects)."""

    service_id: str
    hook: str
    hook_instance: str
    context: dict[str, Any]
    # key -> resource, Bundle, or None (no data). Keys that could not be had are absent and
    # listed in `unavailable`.
    prefetch: dict[str, Any]
    unavailable: frozenset[str]
    today: date
    language: str = "en"
    # The SMART launch URL of the MG summary page (cds_service/smart); patient-view cards link to
    # it. None when the page cannot be launched here or the site turned the link off.
    summary_url: str | None = None


Handler = Callable[[HookCall], list[Card]]


@dataclass(frozen=True)
class ServiceDefinition:
    id: str
    hook: str
    title: str
    description: str
    handler: Handler
    prefetch: dict[str, str] = field(default_factory=lambda: dict(PREFETCH_TEMPLATES))
    required_keys: frozenset[str] = REQUIRED_KEYS

    def discovery_entry(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "prefetch": dict(self.prefetch),
        }


def services() -> dict[str, ServiceDefinition]:
    """All services by id, in discovery order."""
    from . import order_select, order_sign, patient_view

    return {
        s.id: s
        for s in (patient_view.SERVICE, order_select.SERVICE, order_sign.SERVICE)
    }
