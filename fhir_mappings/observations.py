"""Observation -> antibody results, MG scores, MGFA class/PIS, labs and vitals, pregnancy signals.

Shapes read (gmg-rules.md §1):
- MG-ADL: code `mg-adl-total`, valueInteger total, the 8 items as components (valueInteger 0..3);
  a total without all 8 valid items keeps `items=None` (ocular share unknown).
- QMG / MGC / MG-QOL15r: valueInteger. MGFA class and PIS: valueCodeableConcept from the local
  code systems.
- Antibodies: result from valueCodeableConcept (SNOMED positive/negative), else interpretation
  (v3 POS/NEG/H/N/A...), else valueQuantity against referenceRange; assay from `method` coded
  with the antibody-assay system, no (recognised) method = "unknown".
- Labs and vitals: valueQuantity converted to the concept's canonical unit (terminology concept
  attribute "unit"); a value without a unit, or in a unit that does not convert, is left out
  with a note (never guessed). The blood-pressure panel is read from its components.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from fhir.resources.R4B.observation import Observation

import terminology
from gmg.record import (
    MG_ADL_ITEMS,
    AntibodyResult,
    CodedAssessment,
    DatePrecision,
    Measurement,
    MgAdlScore,
    ScoreResult,
)
from terminology import units

from .common import MappingContext, codings_of, concept_of, number, source_of, validate
from .selection import Pending, Series, SeriesSelection, dict_date, series_targets

_SKIPPED_STATUS = frozenset({"entered-in-error", "cancelled"})
_NOT_OBSERVATION_DOMAINS = frozenset(
    {"conditions", "medications", "procedures", "immunizations", "routes"}
)

# HL7 v3 ObservationInterpretation (and its v2 table 0078 spelling): code -> plain word.
_INTERPRETATION_SYSTEMS = frozenset(
    {
        "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
        "http://hl7.org/fhir/v3/ObservationInterpretation",
        "http://terminology.hl7.org/CodeSystem/v2-0078",
        "http://hl7.org/fhir/v2/0078",
    }
)
_INTERPRETATION: dict[str, str] = {
    "POS": "positive",
    "DET": "positive",
    "NEG": "negative",
    "ND": "negative",
    "H": "high",
    "HH": "high",
    "HU": "high",
    "L": "low",
    "LL": "low",
    "LU": "low",
    "N": "normal",
    "A": "abnormal",
    "AA": "abnormal",
    "IND": "indeterminate",
    "E": "equivocal",
}
# interpretation word -> antibody result
_ANTIBODY_RESULT = {
    "positive": "positive",
    "high": "positive",
    "abnormal": "positive",
    "negative": "negative",
    "normal": "negative",
    "equivocal": "equivocal",
    "indeterminate": "equivocal",
}


@dataclass(frozen=True)
class PregnancySignal:
    state: str  # "pregnant" | "not-pregnant"
    when: date
    source: str


@dataclass
class ObservationFacts:
    antibodies: list[AntibodyResult] = field(default_factory=list)
    mg_adl: list[MgAdlScore] = field(default_factory=list)
    scores: list[ScoreResult] = field(default_factory=list)
    mgfa_class: list[CodedAssessment] = field(default_factory=list)
    pis: list[CodedAssessment] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)  # in prefetch order
    pregnancy: list[PregnancySignal] = field(default_factory=list)
    # (prefetch position, measurement) as read, and the series read on demand (selection.py)
    _keyed: list[tuple[int, Measurement]] = field(default_factory=list, repr=False)
    _series: dict[str, Series] = field(default_factory=dict, repr=False)

    def settle(self) -> None:
        """measurements in prefetch order (as a full read would give them)."""
        self.measurements = [m for _pos, m in sorted(self._keyed, key=lambda pm: pm[0])]

    def read_near(self, concept: str, day: date) -> bool:
        """Read the results of a series concept around a day (nearest on each side); True when
        anything new was read."""
        series = self._series.get(concept)
        if series is None:
            return False
        before = len(self._keyed)
        series.read_nearest(day)
        if len(self._keyed) == before:
            return False
        self.settle()
        return True

    @property
    def not_read(self) -> int:
        """Series observations passed over (they cannot decide anything the rules read)."""
        return sum(s.unread for s in self._series.values())


# -- small readers ---------------------------------------------------------------------------


def quantity_unit(q: Any) -> str | None:
    """The unit of a Quantity model: its UCUM code (EHR spellings normalised by terminology),
    else the unit as written (which will then not convert), else None."""
    if q is None:
        return None
    code, unit, system = getattr(q, "code", None), getattr(q, "unit", None), getattr(q, "system", None)
    found = units.quantity_unit({"code": code, "unit": unit, "system": system})
    if found is not None:
        return found
    for text in (code, unit):
        if isinstance(text, str) and text.strip():
            return text.strip()
    return None


def _range(concept: terminology.Concept) -> tuple[int, int] | None:
    lo, hi = concept.attribute("min"), concept.attribute("max")
    if isinstance(lo, int) and isinstance(hi, int):
        return lo, hi
    return None


def to_concept_unit(
    value: float, unit: str | None, concept: terminology.Concept
) -> tuple[float, str | None] | None:
    """value in the concept's canonical unit; None when it cannot be expressed there."""
    target = concept.attribute("unit")
    if not isinstance(target, str) or not target:
        return value, unit
    if unit is None:
        return None
    converted = _convert(value, unit, target, concept)
    if converted is None:
        return None
    return converted, target


def _convert(value: float, unit: str, target: str, concept: terminology.Concept) -> float | None:
    return units.convert(value, unit, target, concept.attribute("molar_mass_g_per_mol"))


def interpretation_of(obs: Observation) -> str | None:
    for cc in obs.interpretation or ():
        for coding in codings_of(cc):
            system, code = coding.get("system"), coding.get("code")
            if isinstance(code, str) and (system is None or system in _INTERPRETATION_SYSTEMS):
                word = _INTERPRETATION.get(code.upper() if len(code) <= 3 else code)
                if word:
                    return word
    return None


def qualitative_of(codeable: Any) -> str | None:
    """'positive' / 'negative' from a valueCodeableConcept (SNOMED qualifier values)."""
    found = concept_of(codeable)
    if found is None:
        return None
    if found.key == "result-positive":
        return "positive"
    if found.key == "result-negative":
        return "negative"
    return None


def _effective(obs: Observation, source: str, ctx: MappingContext) -> tuple[date, DatePrecision] | None:
    value: Any = obs.effectiveDateTime or obs.effectiveInstant
    if value is None and obs.effectivePeriod is not None:
        value = obs.effectivePeriod.start or obs.effectivePeriod.end
    if value is None:
        ctx.note(source, "observation without an effective date; left out")
        return None
    return ctx.date_of(value, source, "effective date")


def _integer(value_integer: Any, value_quantity: Any) -> int | None:
    if isinstance(value_integer, int) and not isinstance(value_integer, bool):
        return value_integer
    if value_quantity is not None:
        v = number(value_quantity.value)
        if v is not None and float(v).is_integer():
            return int(v)
    return None


def _reference_range(obs: Observation, unit: str | None, concept: terminology.Concept | None) -> tuple[float | None, float | None]:
    for rr in obs.referenceRange or ():
        low = high = None
        for attr in ("low", "high"):
            q = getattr(rr, attr, None)
            v = number(q.value) if q is not None else None
            if v is None:
                continue
            q_unit = quantity_unit(q) or unit
            if concept is not None and concept.attribute("unit"):
                norm = to_concept_unit(v, q_unit, concept)
                v = norm[0] if norm else None
            elif q_unit != unit:
                v = None
            if attr == "low":
                low = v
            else:
                high = v
        if low is not None or high is not None:
            return low, high
    return None, None


# -- per kind --------------------------------------------------------------------------------


def _mg_adl(
    obs: Observation, concept: terminology.Concept, source: str, when: date, ctx: MappingContext
) -> MgAdlScore | None:
    total = _integer(obs.valueInteger, obs.valueQuantity)
    lo, hi = _range(concept) or (0, 24)
    if total is None or not lo <= total <= hi:
        ctx.note(source, f"MG-ADL total missing, not an integer or out of range {lo}-{hi}; left out")
        return None
    items: dict[str, int] = {}
    bad = False
    for comp in obs.component or ():
        c = concept_of(comp.code)
        if c is None or c.key not in MG_ADL_ITEMS:
            continue
        v = _integer(comp.valueInteger, comp.valueQuantity)
        item_lo, item_hi = _range(c) or (0, 3)
        if v is None or not item_lo <= v <= item_hi:
            bad = True
            continue
        items[c.key] = v
    if items and (bad or len(items) != len(MG_ADL_ITEMS)):
        ctx.note(source, "MG-ADL items incomplete or invalid; ocular share left unknown")
        return MgAdlScore(total=total, items=None, when=when, source=source)
    if not items:
        return MgAdlScore(total=total, items=None, when=when, source=source)
    if sum(items.values()) != total:
        ctx.note(source, "MG-ADL total differs from the sum of its items; total kept as sent")
    return MgAdlScore(total=total, items=items, when=when, source=source)


def _score(
    obs: Observation, concept: terminology.Concept, source: str, when: date, ctx: MappingContext
) -> ScoreResult | None:
    kind = concept.key
    value = _integer(obs.valueInteger, obs.valueQuantity)
    bounds = _range(concept)
    if bounds is None:
        return None
    lo, hi = bounds
    if value is None or not lo <= value <= hi:
        ctx.note(source, f"{kind} missing, not an integer or out of range {lo}-{hi}; left out")
        return None
    return ScoreResult(kind=kind, value=value, when=when, source=source)


def _coded(obs: Observation, kind: str, source: str, when: date, ctx: MappingContext) -> CodedAssessment | None:
    prefix = "mgfa-class-" if kind == "mgfa-class" else "pis-"
    found = concept_of(obs.valueCodeableConcept)
    if found is None or not found.key.startswith(prefix):
        ctx.note(source, f"{kind} value not coded with the {kind} code system; left out")
        return None
    return CodedAssessment(kind=kind, code=found.key[len(prefix):], when=when, source=source)


def _antibody(
    obs: Observation, concept: terminology.Concept, source: str, when: date, precision: DatePrecision
) -> AntibodyResult:
    assay = "unknown"
    method = concept_of(obs.method)
    if method is not None and method.key.startswith("assay-"):
        assay = method.key[len("assay-"):]
    value: float | None = None
    unit: str | None = None
    if obs.valueQuantity is not None:
        value = number(obs.valueQuantity.value)
        unit = quantity_unit(obs.valueQuantity)
    result = qualitative_of(obs.valueCodeableConcept)
    if result is None:
        word = interpretation_of(obs)
        result = _ANTIBODY_RESULT.get(word) if word else None
    if result is None and value is not None:
        low, high = _reference_range(obs, unit, None)
        comparator = obs.valueQuantity.comparator if obs.valueQuantity is not None else None
        if high is not None:
            if value <= high and comparator in (None, "<", "<="):
                result = "negative"
            elif value > high and comparator in (None, ">", ">="):
                result = "positive"
    if value is not None and concept.attribute("unit"):
        norm = to_concept_unit(value, unit, concept)
        if norm is not None:
            value, unit = norm
    return AntibodyResult(
        target=concept.key,
        assay=assay,
        result=result or "unknown",
        value=value,
        unit=unit,
        when=when,
        source=source,
        date_precision=precision,
    )


def _json_number(raw_quantity: Any) -> bool:
    """Whether a Quantity as sent has a JSON number as its value (FHIR: decimal). A string such
    as "60" is not read, though the model would coerce it (issue 15, F-13)."""
    value = raw_quantity.get("value") if isinstance(raw_quantity, dict) else None
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _measurement(
    obs_value: Any,
    value_cc: Any,
    obs: Observation,
    concept: terminology.Concept,
    source: str,
    when: date,
    precision: DatePrecision,
    ctx: MappingContext,
    raw_quantity: Any = None,
) -> Measurement | None:
    if obs_value is not None and not _json_number(raw_quantity):
        ctx.note(source, f"{concept.key}: quantity value is not a JSON number; left out")
        return None
    interpretation = qualitative_of(value_cc) or interpretation_of(obs)
    if obs_value is None:
        if interpretation is None:
            return None
        return Measurement(
            concept=concept.key, value=None, unit=None, when=when, source=source,
            interpretation=interpretation, date_precision=precision,
        )
    raw = number(obs_value.value)
    if raw is None:
        ctx.note(source, f"{concept.key}: quantity without a numeric value; left out")
        return None
    unit = quantity_unit(obs_value)
    norm = to_concept_unit(raw, unit, concept)
    if norm is None:
        issue = "value without a unit" if unit is None else "unit not convertible to the canonical unit"
        ctx.note(source, f"{concept.key}: {issue}; left out")
        return None
    value, norm_unit = norm
    low, high = _reference_range(obs, unit, concept)
    comparator = obs_value.comparator if isinstance(obs_value.comparator, str) else None
    return Measurement(
        concept=concept.key,
        value=value,
        unit=norm_unit,
        when=when,
        source=source,
        interpretation=interpretation,
        reference_low=low,
        reference_high=high,
        comparator=comparator,
        date_precision=precision,
    )


def _pregnancy_signal(
    obs: Observation, concept: terminology.Concept, source: str, when: date, ctx: MappingContext
) -> PregnancySignal | None:
    if concept.key == "pregnancy-status":
        value = concept_of(obs.valueCodeableConcept)
        if value is not None and "pregnancy" in value.classes and value.key != "not-pregnant":
            return PregnancySignal("pregnant", when, source)
        if value is not None and value.key == "not-pregnant":
            return PregnancySignal("not-pregnant", when, source)
        return None
    # hCG: qualitative value, interpretation, or a quantity above its reference range
    word = qualitative_of(obs.valueCodeableConcept) or interpretation_of(obs)
    if word in ("positive", "high"):
        return PregnancySignal("pregnant", when, source)
    if word in ("negative", "normal"):
        return PregnancySignal("not-pregnant", when, source)
    if obs.valueQuantity is not None:
        v = number(obs.valueQuantity.value)
        _low, high = _reference_range(obs, quantity_unit(obs.valueQuantity), None)
        if v is not None and high is not None:
            return PregnancySignal("pregnant" if v > high else "not-pregnant", when, source)
    return None


# -- entry point -----------------------------------------------------------------------------


def relevant_concept(raw: dict[str, Any]) -> terminology.Concept | None:
    """Cheap pre-selection on the dict: the concept of Observation.code, if the rules use it."""
    code = raw.get("code")
    if not isinstance(code, dict):
        return None
    found = concept_of(code)
    if found is None or found.domain in _NOT_OBSERVATION_DOMAINS:
        return None
    return found


def _read_one(raw: dict[str, Any], concept: terminology.Concept, ctx: MappingContext, facts: ObservationFacts) -> list[Measurement]:
    """Validate and map one relevant Observation into `facts`; returns the measurements it gave."""
    source = source_of(raw, "prefetch:observations")
    out: list[Measurement] = []
    obs = validate(Observation, raw, source, ctx)
    if obs is None:
        return out
    dated = _effective(obs, source, ctx)
    if dated is None:
        return out
    when, precision = dated
    key = concept.key
    if key == "mg-adl-total":
        adl = _mg_adl(obs, concept, source, when, ctx)
        if adl:
            facts.mg_adl.append(adl)
    elif "mg-score" in concept.classes:
        score = _score(obs, concept, source, when, ctx)
        if score:
            facts.scores.append(score)
    elif key in ("mgfa-class", "mgfa-pis"):
        coded = _coded(obs, key, source, when, ctx)
        if coded:
            (facts.mgfa_class if key == "mgfa-class" else facts.pis).append(coded)
    elif "antibody" in concept.classes:
        facts.antibodies.append(_antibody(obs, concept, source, when, precision))
    elif isinstance(concept.attribute("components"), dict):
        wanted = set(concept.attribute("components").values())
        raw_components = raw.get("component") if isinstance(raw.get("component"), list) else []
        for i, comp in enumerate(obs.component or ()):
            part = concept_of(comp.code)
            if part is None or part.key not in wanted:
                continue
            raw_comp = raw_components[i] if i < len(raw_components) and isinstance(raw_components[i], dict) else {}
            m = _measurement(comp.valueQuantity, None, obs, part, source, when, precision, ctx,
                             raw_comp.get("valueQuantity"))
            if m is not None:
                out.append(m)
    elif key == "pregnancy-status" or "pregnancy-test" in concept.classes:
        signal = _pregnancy_signal(obs, concept, source, when, ctx)
        if signal:
            facts.pregnancy.append(signal)
        if key != "pregnancy-status":
            m = _measurement(obs.valueQuantity, obs.valueCodeableConcept, obs, concept, source, when, precision, ctx,
                             raw.get("valueQuantity"))
            if m is not None:
                out.append(m)
    elif concept.domain != "observations":
        pass  # e.g. MG-ADL items, read as components of the total
    else:
        m = _measurement(obs.valueQuantity, obs.valueCodeableConcept, obs, concept, source, when, precision, ctx,
                         raw.get("valueQuantity"))
        if m is not None:
            out.append(m)
    return out


def map_observations(
    raws: list[dict[str, Any]], ctx: MappingContext, selection: SeriesSelection | None = None
) -> ObservationFacts:
    """Map the relevant Observations. With a `selection`, vital-sign and lab series are read as
    fhir_mappings/selection.py describes (what cannot decide is counted, not read); without
    one, every relevant Observation is read."""
    facts = ObservationFacts()
    keyed: list[tuple[int, Measurement]] = []

    def read(pos: int, raw: dict[str, Any], concept: terminology.Concept) -> list[Measurement]:
        got = _read_one(raw, concept, ctx, facts)
        keyed.extend((pos, m) for m in got)
        return got

    pending: dict[str, list[Pending]] = {}
    targets: dict[str, tuple[str, ...]] = {}
    dates_seen: dict[str, date | None] = {}  # this build's date strings (selection.dict_date)
    for pos, raw in enumerate(raws):
        concept = relevant_concept(raw)
        if concept is None:
            continue
        status = raw.get("status")
        if status in _SKIPPED_STATUS:
            ctx.note(source_of(raw, "prefetch:observations"), f"observation status {status}; left out")
            continue
        if selection is not None:
            series = series_targets(concept)
            when = dict_date(raw, dates_seen) if series else None
            if series and when is not None:
                targets[concept.key] = series
                pending.setdefault(concept.key, []).append((when, pos, raw, concept))
                continue
        read(pos, raw, concept)
    facts._keyed = keyed
    if selection is not None:
        for key, items in pending.items():
            series_ = Series(key, targets[key], items, read)
            series_.read_after(ctx.today - timedelta(days=max(0, selection.window(key))))
            series_.read_latest(ctx.today)
            facts._series[key] = series_
    facts.settle()
    return facts
