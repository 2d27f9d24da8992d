"""A draft order as the order-safety rules read it (order-select, order-sign).

`fhir_mappings.orders.draft_orders` builds these from the hook context's `draftOrders` Bundle
(MedicationRequest / MedicationOrder / ServiceRequest / ProcedureRequest); `gmg.safety` checks
them against the patient record. Like the record, a draft order holds plain data in the clinical
vocabulary (concept keys, classes, mg, dates), never FHIR JSON.

The planned start follows gmg-rules.md §9 "Orders": dosageInstruction[0].timing.repeat
.boundsPeriod.start, else occurrenceDateTime / occurrencePeriod.start (ServiceRequest), else
authoredOn, else the evaluation date. `planned_start_from` says which one was used, so a card can
say "planned start not given: assumed today".

What could not be read is kept apart by what it stops: `unreadable` names why the drug or service
itself is not known (then no check can run on the draft); `dose_note` names why a dose that was
given is not a mass (then only the checks that need the dose cannot run; gmg/safety says which).

The other direction: `ProposedOrder` is a drug regimen the rules propose (therapy options, rapid
therapy), which `fhir_mappings.suggestions` turns into a draft order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

OrderKind = Literal["medication", "vaccine", "procedure", "lab", "unknown"]
PlannedStartFrom = Literal["boundsPeriod", "occurrence", "authoredOn", "today"]


@dataclass(frozen=True)
class DraftOrder:
    resource_id: str  # relative reference as the client knows it: "MedicationRequest/abc"
    resource_type: str  # "MedicationRequest" | "MedicationOrder" | "ServiceRequest" | "ProcedureRequest"
    kind: OrderKind  # what the code says the order is ("unknown" when no code was recognised)
    concept: str | None  # concept key: ingredient ("eculizumab"), procedure ("plex"), vaccine ("menb")
    drug_classes: frozenset[str]  # terminology classes of the concept ({"c5-inhibitor", ...})
    route: str | None  # "iv" | "sc" | "oral" | "im" | ... | None when not coded
    dose_mg: float | None  # one dose in mg (None when absent or not a mass)
    mg_per_day: float | None  # from the dose and timing.repeat, when both are readable
    planned_start: date
    planned_start_from: PlannedStartFrom
    selected: bool  # order-select: named in `selections`; order-sign: every draft is checked
    status: str | None = None  # FHIR status as sent ("draft", or "active" on re-sign)
    code: str | None = None  # the code that was recognised, "system|code" (or the first one sent)
    label: str | None = None  # what the client called it (text/display), for naming on a card only
    unreadable: tuple[str, ...] = ()  # why the draft could not be identified (no usable code), in plain words
    dose_note: str | None = None  # why a dose that was given could not be read as mg (e.g. a {pill} count)
    start_note: str | None = None  # a start date that was given but is not a date (the next one was used)
    malformed: bool = False  # the draft's JSON is not readable FHIR (not merely incomplete)
    # how the drug was recognised when not by one of the service's own codes: "site-map" (the
    # site's concept map; recognised_from = the site's display) or "name" (an RxNorm product the
    # terminology does not list, by the ingredient its name begins with; recognised_from = the name)
    recognised_by: str | None = None
    recognised_from: str | None = None

    @property
    def name(self) -> str:
        """How a card names this draft: the client's label, else the concept key, else its id."""
        return self.label or (self.concept.replace("-", " ") if self.concept else self.resource_id)

    def is_(self, *keys_or_classes: str) -> bool:
        """True when the concept or one of its classes is among the given keys/classes."""
        return any(k == self.concept or k in self.drug_classes for k in keys_or_classes)


# -- orders the rules propose ------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """How often a dose is given: `frequency` times per `period` `period_unit` ("d", "wk"),
    `count` administrations in all (None = not limited). A single dose: count 1 and nothing else."""

    frequency: int | None = None
    period: int | None = None
    period_unit: str | None = None
    count: int | None = None

    def as_json(self) -> dict[str, Any]:
        items = (("frequency", self.frequency), ("period", self.period), ("periodUnit", self.period_unit),
                 ("count", self.count))
        return {k: v for k, v in items if v is not None}


@dataclass(frozen=True)
class LaterDose:
    """A later dose of a regimen of unequal doses (rituximab 100 mg, then 500 mg on day 2)."""

    dose_mg: float
    schedule: Schedule
    text: str


@dataclass(frozen=True)
class ProposedOrder:
    """One drug regimen the rules propose for this patient, in clinical terms: the first (or
    loading) dose in mg, how it is repeated, the route, the regimen in words, and any later doses
    that differ from the first. `fhir_mappings.suggestions` turns it into a draft MedicationRequest;
    findings carry it as JSON (`as_json`), the shape the suggestion builders read."""

    ingredient: str  # concept key
    display: str
    dose_mg: float
    route: str  # "iv" | "sc" | "oral"
    text: str  # the regimen in words
    schedule: Schedule
    label: str  # the suggestion's one-line label
    then: tuple[LaterDose, ...] = ()

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ingredient": self.ingredient,
            "display": self.display,
            "dose_mg": self.dose_mg,
            "route": self.route,
            "text": self.text,
            "timing": self.schedule.as_json(),
            "label": self.label,
        }
        if self.then:
            out["then"] = [{"dose_mg": d.dose_mg, "timing": d.schedule.as_json(), "text": d.text} for d in self.then]
        return out
