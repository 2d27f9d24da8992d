"""The patient record the clinical rules read.

This module is the contract between `fhir_mappings` (which builds a record from FHIR R4 JSON)
and the clinical logic in `gmg` (which reads it and returns findings). It holds plain,
immutable data in the clinical vocabulary of ../shared/knowledge/gmg-rules.md §1: no FHIR JSON,
no web concerns. Every fact keeps `source`, a relative FHIR reference such as
"Observation/abc", so a card can cite the resource its evidence came from.

Conventions
- Dates are `datetime.date`. A partial FHIR date ("2025-03") is read as its first day and the
  fact carries `date_precision` ("year" | "month" | "day"); the mapping adds a data-quality
  note when it widened a date.
- Concept keys (strings such as "azathioprine", "achr-binding", "iga") are the keys of the
  terminology data files (`terminology/data/*.json`); facts are recognised by code, never by
  display text.
- `None` means "not on record". Nothing is guessed: a dose without a unit is `None`, with a
  data-quality note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

DatePrecision = Literal["year", "month", "day"]


@dataclass(frozen=True)
class DataQualityNote:
    """Something in the chart that could not be read and was therefore left out."""

    source: str  # "MedicationRequest/123", or "prefetch:observations" when no id
    issue: str  # plain words, no patient data: "dose without a unit", "invalid date"


@dataclass(frozen=True)
class ImplausibleValue:
    """A recorded value set aside as implausible (gmg/plausibility.py): never used by a rule."""

    concept: str  # "weight" | "height" | "haematocrit" | "birth-date"
    value: str  # as it will be shown: "-60", "1e+308", "9999-12-31"
    unit: str | None  # the unit of `value` and of the range
    when: date | None
    source: str  # "Observation/123", "Patient"
    low: float | None  # the plausible range applied
    high: float | None
    age: int | None  # the age (years) the range was chosen for; None when unknown
    parameter: str  # the parameter id of the range
    reason: str  # "out-of-range" | "future" | "too-old"


@dataclass(frozen=True)
class ConditionFact:
    concept: str  # e.g. "mg", "mg-generalized", "mg-ocular", "myasthenic-crisis", "thymoma"
    code: str  # the code as sent, "system|code"
    onset: date | None
    recorded: date | None
    abatement: date | None
    clinical_status: str | None  # "active", "recurrence", "relapse", "inactive", "remission", "resolved"
    verification_status: str | None  # "confirmed", "provisional", "refuted", "entered-in-error", ...
    source: str

    @property
    def is_active(self) -> bool:
        """Active unless the chart says it is over or wrong (a missing status counts as active)."""
        if self.verification_status in ("refuted", "entered-in-error"):
            return False
        return self.clinical_status in (None, "active", "recurrence", "relapse")

    @property
    def start(self) -> date | None:
        """Disease start as gmg-rules.md §9 reads it: onset, else recorded date."""
        return self.onset or self.recorded


# The measures doses are computed from (gmg/measures.py): a value of these written as text is kept
# as an unread value (UnreadValue.kind = the concept), never dropped unseen.
BODY_MEASURES: frozenset[str] = frozenset({"weight", "height", "haematocrit"})


@dataclass(frozen=True)
class Measurement:
    """A lab value or vital sign, in the normalised unit of its concept."""

    concept: str  # "weight", "height", "haematocrit", "iga", "creatinine", "tacrolimus-trough", ...
    value: float | None  # numeric value in `unit`; None for a qualitative-only result
    unit: str | None  # UCUM code after normalisation ("kg", "cm", "mg/dL", "ng/mL", "%", ...)
    when: date
    source: str
    interpretation: str | None = None  # "positive" | "negative" | "high" | "low" | "normal" | ...
    reference_low: float | None = None  # in `unit`
    reference_high: float | None = None  # in `unit`
    comparator: str | None = None  # "<", "<=", ">=", ">" when the value was censored
    date_precision: DatePrecision = "day"


@dataclass(frozen=True)
class AntibodyResult:
    target: str  # "achr-binding" | "achr-blocking" | "achr-modulating" | "achr" | "musk" | "lrp4" | "titin"
    assay: str  # "cba" | "ripa" | "elisa" | "other" | "unknown"
    result: str  # "positive" | "negative" | "equivocal" | "unknown"
    value: float | None
    unit: str | None
    when: date
    source: str
    date_precision: DatePrecision = "day"


MG_ADL_ITEMS: tuple[str, ...] = (
    "mg-adl-talking",
    "mg-adl-chewing",
    "mg-adl-swallowing",
    "mg-adl-breathing",
    "mg-adl-brushing-combing",
    "mg-adl-arising-chair",
    "mg-adl-diplopia",
    "mg-adl-ptosis",
)
MG_ADL_OCULAR_ITEMS: tuple[str, ...] = ("mg-adl-diplopia", "mg-adl-ptosis")


@dataclass(frozen=True)
class MgAdlScore:
    total: int
    items: dict[str, int] | None  # all 8 items keyed by MG_ADL_ITEMS, or None when not recorded
    when: date
    source: str

    @property
    def ocular_share(self) -> float | None:
        """(diplopia + ptosis) / total; unknown without the items or with a total of 0."""
        if self.items is None or self.total <= 0:
            return None
        return sum(self.items[i] for i in MG_ADL_OCULAR_ITEMS) / self.total


@dataclass(frozen=True)
class ScoreResult:
    kind: str  # "qmg-total" | "mgc-total" | "mg-qol15r-total"
    value: int
    when: date
    source: str


@dataclass(frozen=True)
class CodedAssessment:
    kind: str  # "mgfa-class" | "mgfa-pis"
    code: str  # "IIb", "MM-1", "U", ...
    when: date
    source: str


@dataclass(frozen=True)
class MedicationExposure:
    """One period (or one administration) of one drug, from one FHIR resource."""

    ingredient: str  # concept key, e.g. "prednisone", "azathioprine", "eculizumab", "ivig"
    drug_classes: frozenset[str]  # e.g. {"glucocorticoid"}, {"nsist"}, {"c5-inhibitor"}
    route: str | None  # "oral" | "iv" | "sc" | None
    kind: Literal["statement", "request", "administration"]
    status: str  # FHIR status as sent ("active", "completed", "stopped", ...)
    start: date | None
    end: date | None  # None = ongoing or unknown
    dose_mg: float | None  # one dose, in mg (None when no unit or not convertible)
    mg_per_day: float | None  # average daily amount, when the timing says it
    mg_per_week: float | None
    mg_per_kg_per_day: float | None  # with weight_kg, the weight nearest `start`
    weight_kg: float | None
    dose_text: str | None  # free-text dosage, kept when no structured dose was read
    source: str
    date_precision: DatePrecision = "day"

    def active_on(self, day: date) -> bool:
        """Taken on `day` by the chart's own words (status as sent by any of the three kinds).

        No end on record: an administration covers its start day only; a statement or request
        runs on while its status is active, on-hold or intended; a completed, stopped or unknown
        one has an unknown end and is not taken to be active after its start day (never
        guessed). Same reading as gmg/exposure.py.
        """
        if self.status in ("entered-in-error", "cancelled", "not-taken", "not-done", "draft", "revoked"):
            return False
        if self.start is None or self.start > day:
            return False
        if self.end is not None:
            return self.end >= day
        if self.kind != "administration" and self.status in ("active", "on-hold", "intended"):
            return True
        return day == self.start


@dataclass(frozen=True)
class RescueCourse:
    """Days of one fast-acting therapy no more than `rescue_gap_days` apart (gmg-rules.md §1)."""

    modality: str  # "ivig" | "plex" | "immunoadsorption" | "lpe" | "ivmp"
    start: date
    end: date
    sources: tuple[str, ...]


@dataclass(frozen=True)
class AdverseDrugEvent:
    ingredient: str | None  # suspect drug concept key; None when not attributable by code
    grade: int | None  # CTCAE grade 1..5 (extension, else severity mild=1/moderate=2/severe=3)
    when: date | None
    source: str


@dataclass(frozen=True)
class Intolerance:
    """AllergyIntolerance on a drug. `category` is the FHIR type: "intolerance" or "allergy"."""

    ingredient: str
    category: str
    grade: int | None
    recorded: date | None
    clinical_status: str | None
    source: str


@dataclass(frozen=True)
class ProcedureFact:
    concept: str  # concept key: "plex" | "immunoadsorption" | "lpe" | "ivig-infusion" | "thymectomy" | "hsct"
    start: date | None
    end: date | None
    status: str | None
    source: str


@dataclass(frozen=True)
class ImmunizationFact:
    concept: str  # "menacwy" | "menb" | "menabcwy" | "hepb" | ...
    cvx: str | None
    when: date | None
    status: str | None  # "completed" | "not-done" | "entered-in-error"
    source: str


@dataclass(frozen=True)
class PregnancyStatus:
    state: Literal["pregnant", "not-pregnant", "unknown"]
    when: date | None
    source: str | None


@dataclass(frozen=True)
class UnreadValue:
    """A value the chart holds for something the rules read, that could not be read: text that
    does not read as one MGFA class, one post-intervention status or one score, or a medication
    whose reference does not resolve. Never guessed: the rules treat it as a data gap naming it."""

    kind: str  # "mgfa-class" | "mgfa-pis" | "mg-adl-total" | "qmg-total" | ... | "medication"
    text: str  # as written (clipped), or the display text naming the drug
    when: date | None
    source: str


@dataclass(frozen=True)
class RecognisedAs:
    """A fact the service recognised other than by one of its own codes: through the site's
    concept map (the card shows the site's display text) or by an RxNorm product name."""

    source: str  # "Observation/abc", "MedicationRequest/x"
    concept: str  # the concept key it was recognised as
    how: Literal["site-map", "name"]
    shown_as: str  # the site's display text, or the name the drug was recognised by


@dataclass(frozen=True)
class PatientRecord:
    patient_id: str
    today: date  # the evaluation date (injectable for tests)
    birth_date: date | None = None
    sex: str | None = None  # administrative gender as sent
    conditions: tuple[ConditionFact, ...] = ()
    antibodies: tuple[AntibodyResult, ...] = ()
    mg_adl: tuple[MgAdlScore, ...] = ()  # oldest first
    scores: tuple[ScoreResult, ...] = ()  # QMG, MGC, MG-QOL15r; oldest first
    mgfa_class: tuple[CodedAssessment, ...] = ()  # oldest first
    pis: tuple[CodedAssessment, ...] = ()  # oldest first
    measurements: tuple[Measurement, ...] = ()  # labs and vitals, oldest first
    exposures: tuple[MedicationExposure, ...] = ()
    rescue_courses: tuple[RescueCourse, ...] = ()
    adverse_events: tuple[AdverseDrugEvent, ...] = ()
    intolerances: tuple[Intolerance, ...] = ()
    procedures: tuple[ProcedureFact, ...] = ()
    immunizations: tuple[ImmunizationFact, ...] = ()
    pregnancy: PregnancyStatus = field(
        default_factory=lambda: PregnancyStatus(state="unknown", when=None, source=None)
    )
    notes: tuple[DataQualityNote, ...] = ()
    # Kinds of data that could not be retrieved at all (prefetch keys such as "procedures"):
    # rules must treat what depends on them as unknown, never as absent.
    unavailable: frozenset[str] = frozenset()
    # Vital-sign/lab results the mapping passed over because later results of the same measure
    # supersede them for every rule (fhir_mappings/selection.py); a count, not a data gap.
    observations_not_read: int = 0
    # Values set aside as implausible before any rule read the record (gmg/plausibility.py).
    implausible: tuple[ImplausibleValue, ...] = ()
    # Values that could not be read as one value (data gaps naming them, never guesses) and facts
    # recognised through a site concept map or by name (cards show how).
    unread_values: tuple[UnreadValue, ...] = ()
    recognitions: tuple[RecognisedAs, ...] = ()

    # -- small readers the rules share -------------------------------------------------------

    def age_on(self, day: date) -> int | None:
        if self.birth_date is None:
            return None
        b = self.birth_date
        return day.year - b.year - ((day.month, day.day) < (b.month, b.day))

    @property
    def age(self) -> int | None:
        return self.age_on(self.today)

    def measurements_of(self, concept: str) -> tuple[Measurement, ...]:
        return tuple(m for m in self.measurements if m.concept == concept)

    def latest(self, concept: str, on_or_before: date | None = None) -> Measurement | None:
        """Most recent measurement of a concept (optionally not after a date)."""
        best: Measurement | None = None
        for m in self.measurements:
            if m.concept != concept or (on_or_before is not None and m.when > on_or_before):
                continue
            if best is None or m.when >= best.when:
                best = m
        return best

    def nearest(self, concept: str, day: date) -> Measurement | None:
        """The numeric measurement of a concept closest in time to `day`."""
        best: Measurement | None = None
        for m in self.measurements:
            if m.concept != concept or m.value is None:
                continue
            if best is None or abs((m.when - day).days) < abs((best.when - day).days):
                best = m
        return best

    def conditions_of(self, *concepts: str, active_only: bool = True) -> tuple[ConditionFact, ...]:
        return tuple(
            c for c in self.conditions if c.concept in concepts and (c.is_active or not active_only)
        )

    def unread_since(self, kind: str, since: date | None) -> UnreadValue | None:
        """The latest value of `kind` that could not be read, dated on or after `since` (any date
        when None) and not after today: when there is one, the latest value of that kind is
        unknown, and an older readable one must not stand in for it."""
        best: UnreadValue | None = None
        for u in self.unread_values:
            if u.kind != kind or u.when is None or u.when > self.today:
                continue
            if since is not None and u.when < since:
                continue
            if best is None or u.when >= best.when:  # type: ignore[operator]
                best = u
        return best

    def exposures_to(self, drug_class_or_ingredient: str) -> tuple[MedicationExposure, ...]:
        key = drug_class_or_ingredient
        return tuple(e for e in self.exposures if e.ingredient == key or key in e.drug_classes)
