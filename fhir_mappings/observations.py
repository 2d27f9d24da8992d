"""Observation -> antibody results, MG scores, MGFA class/PIS, labs and vitals, pregnancy signals.

Shapes read (gmg-rules.md §1, and as EHRs write them: issue #14 point 2):
- MG-ADL: code `mg-adl-total` with the 8 items as components, or the 8 items as separate
  Observations (one flowsheet row each) recorded at the same time as the total: the same
  assessment. A total without all 8 valid items keeps `items=None` (ocular share unknown); the 8
  items without a total give the total as their sum (the score's definition).
- Scores (MG-ADL, QMG, MGC, MG-QOL15r, items): valueInteger, valueQuantity with or without a
  unit, or digits in valueString ("9", "9 points", "9/24"). MGFA class and PIS:
  valueCodeableConcept (the project's codes, or a site's answer codes through its concept map),
  or text ("IIIb", "Class IIIb", "Unchanged", "MM-1": terminology/value_text.py). A value that
  does not read as one value is a data gap naming it (record.unread_values), never a guess.
- Every coding of a CodeableConcept is read, not the first: a reader takes the first concept of
  the kind it wants wherever its coding stands (a site lab coding before LOINC).
- Antibodies: result from valueCodeableConcept (SNOMED positive/negative), else interpretation
  (v3 POS/NEG/H/N/A...), else valueQuantity against referenceRange; assay from `method` coded
  with the antibody-assay system, no (recognised) method = "unknown".
- Labs and vitals: valueQuantity converted to the concept's canonical unit (terminology concept
  attribute "unit"); a value without a unit, or in a unit that does not convert, is left out
  with a note (never guessed). The blood-pressure panel is read from its components.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any

from fhir.resources.R4B.observation import Observation

import terminology
from gmg.record import (
    BODY_MEASURES,
    MG_ADL_ITEMS,
    AntibodyResult,
    CodedAssessment,
    DatePrecision,
    Measurement,
    MgAdlScore,
    ScoreResult,
)
from terminology import units

from .common import (
    MappingContext,
    codings_of,
    first_concept,
    note_site_display,
    number,
    source_of,
    text_of,
    validate,
)
from .selection import Pending, Series, SeriesSelection, dict_date, series_targets

_SKIPPED_STATUS = frozenset({"entered-in-error", "cancelled"})
# The terminology domains an Observation.code may be recognised in (labs, vitals, the project's
# scores and classifications); a coding of another domain is passed over for a later one.
OBSERVATION_DOMAINS: tuple[str, ...] = ("observations", "local")
# A score written as text: digits, optionally "points"/"pts"/"分", or "/<maximum>".
_SCORE_TEXT = re.compile(r"^\s*(\d{1,3})\s*(?:points?|pts?\.?|分|/\s*(\d{1,3}))?\s*$", re.IGNORECASE)

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
    # MG-ADL items recorded as Observations of their own (item -> (value, source, clinical date)),
    # and totals recorded without items, by the instant they were recorded (join_mg_adl_items)
    _adl_items: dict[str, dict[str, tuple[int | None, str, date]]] = field(default_factory=dict, repr=False)
    _adl_totals: dict[str, int] = field(default_factory=dict, repr=False)

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
            if isinstance(system, str):
                system = terminology.normalise_system(system)
            if isinstance(code, str) and (system is None or system in _INTERPRETATION_SYSTEMS):
                word = _INTERPRETATION.get(code.upper() if len(code) <= 3 else code)
                if word:
                    return word
    return None


def qualitative_of(codeable: Any) -> str | None:
    """'positive' / 'negative' from a valueCodeableConcept (SNOMED qualifier values), read from
    whichever coding gives one."""
    found = first_concept(codeable, lambda c: c.key in ("result-positive", "result-negative"))
    if found is None:
        return None
    return "positive" if found.key == "result-positive" else "negative"


def _effective(obs: Observation, source: str, ctx: MappingContext) -> tuple[date, DatePrecision] | None:
    value = _effective_value(obs)
    if value is None:
        ctx.note(source, "observation without an effective date; left out")
        return None
    return ctx.date_of(value, source, "effective date")


def _effective_value(obs: Observation) -> Any:
    value: Any = obs.effectiveDateTime or obs.effectiveInstant
    if value is None and obs.effectivePeriod is not None:
        value = obs.effectivePeriod.start or obs.effectivePeriod.end
    return value


def _instant(obs: Observation) -> str | None:
    """The instant an Observation was recorded, comparable across Observations (UTC when a time
    zone is given): MG-ADL items recorded as their own rows join the total recorded with them."""
    value = _effective_value(obs)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value if isinstance(value, str) else None


def _integer(value_integer: Any, value_quantity: Any) -> int | None:
    if isinstance(value_integer, int) and not isinstance(value_integer, bool):
        return value_integer
    if value_quantity is not None:
        v = number(value_quantity.value)
        if v is not None and float(v).is_integer():
            return int(v)
    return None


def score_value(holder: Any, maximum: int | None = None) -> tuple[int | None, str | None]:
    """A score as EHRs write it (an Observation or a component): valueInteger, valueQuantity
    with or without a unit, or digits in valueString ("9", "9 points", "9/24" when 24 is the
    score's maximum). (value, None) when read; (None, the value as written) when a value is there
    but does not read as one whole number; (None, None) when there is no value."""
    found = _integer(getattr(holder, "valueInteger", None), getattr(holder, "valueQuantity", None))
    if found is not None:
        return found, None
    quantity = getattr(holder, "valueQuantity", None)
    if quantity is not None and quantity.value is not None:
        return None, str(quantity.value)
    text = getattr(holder, "valueString", None)
    if not isinstance(text, str) or not text.strip():
        cc = getattr(holder, "valueCodeableConcept", None)
        text = text_of(cc) if cc is not None else None
    if not isinstance(text, str) or not text.strip():
        return None, None
    m = _SCORE_TEXT.match(text)
    if m is not None and (m.group(2) is None or (maximum is not None and int(m.group(2)) == maximum)):
        return int(m.group(1)), None
    return None, text


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
    lo, hi = _range(concept) or (0, 24)
    total, written = score_value(obs, hi)
    if total is None or not lo <= total <= hi:
        if written is not None or total is not None:
            shown = written if written is not None else str(total)
            ctx.unreadable("mg-adl-total", shown, when, source,
                           f"MG-ADL total does not read as one whole number within {lo}-{hi}; left out")
        else:
            ctx.note(source, f"MG-ADL total missing, not an integer or out of range {lo}-{hi}; left out")
        return None
    items: dict[str, int] = {}
    bad = False
    for comp in obs.component or ():
        c = first_concept(comp.code, lambda k: k.key in MG_ADL_ITEMS)
        if c is None:
            continue
        item_lo, item_hi = _range(c) or (0, 3)
        v, _ = score_value(comp, item_hi)
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


def _mg_adl_item(
    obs: Observation, concept: terminology.Concept, source: str, when: date, facts: ObservationFacts
) -> None:
    """An MG-ADL item recorded as an Observation of its own (one flowsheet row): kept by the
    instant it was recorded, to join the total recorded at the same instant."""
    instant = _instant(obs)
    if instant is None:
        return
    lo, hi = _range(concept) or (0, 3)
    v, _ = score_value(obs, hi)
    value = v if v is not None and lo <= v <= hi else None
    facts._adl_items.setdefault(instant, {})[concept.key] = (value, source, when)


def join_mg_adl_items(facts: ObservationFacts, ctx: MappingContext) -> None:
    """MG-ADL items recorded as Observations of their own join the total recorded at the same
    instant (the same assessment as items written as components). 8 valid items without a
    total recorded with them give the total as their sum."""
    for instant, items in facts._adl_items.items():
        i = facts._adl_totals.get(instant)
        valid = {k: v for k, (v, _src, _day) in items.items() if v is not None}
        complete = len(valid) == len(MG_ADL_ITEMS)
        if i is not None:
            score = facts.mg_adl[i]
            if score.items is not None:
                continue  # the total's own components stand
            if not complete:
                ctx.note(score.source, "MG-ADL items recorded with this total are incomplete or invalid; ocular share left unknown")
                continue
            if sum(valid.values()) != score.total:
                ctx.note(score.source, "MG-ADL total differs from the sum of its items; total kept as sent")
            facts.mg_adl[i] = replace(score, items=dict(sorted(valid.items())))
        elif complete:
            _v, first, day = min(items.values(), key=lambda item: item[1])
            ctx.note(first, "MG-ADL total computed from its 8 items recorded together")
            facts.mg_adl.append(MgAdlScore(total=sum(valid.values()), items=dict(sorted(valid.items())),
                                           when=day, source=first))


def _score(
    obs: Observation, concept: terminology.Concept, source: str, when: date, ctx: MappingContext
) -> ScoreResult | None:
    kind = concept.key
    bounds = _range(concept)
    if bounds is None:
        return None
    lo, hi = bounds
    value, written = score_value(obs, hi)
    if value is None or not lo <= value <= hi:
        if written is not None or value is not None:
            ctx.unreadable(kind, written if written is not None else str(value), when, source,
                           f"{kind} does not read as one whole number within {lo}-{hi}; left out")
        else:
            ctx.note(source, f"{kind} missing, not an integer or out of range {lo}-{hi}; left out")
        return None
    return ScoreResult(kind=kind, value=value, when=when, source=source)


def _coded(obs: Observation, kind: str, source: str, when: date, ctx: MappingContext) -> CodedAssessment | None:
    """MGFA class / PIS from a coded answer (any coding, a site's answer codes through its
    concept map) or from text; text that does not read as one value is a data gap naming it."""
    prefix = "mgfa-class-" if kind == "mgfa-class" else "pis-"
    found = first_concept(obs.valueCodeableConcept, lambda c: c.key.startswith(prefix))
    if found is not None:
        note_site_display(ctx, source, _coding_dicts(obs.valueCodeableConcept), found)
        return CodedAssessment(kind=kind, code=found.key[len(prefix):], when=when, source=source)
    written = obs.valueString if isinstance(obs.valueString, str) and obs.valueString.strip() else None
    if written is None and obs.valueCodeableConcept is not None:
        written = text_of(obs.valueCodeableConcept)
    if written is None:
        ctx.note(source, f"{kind} without a value; left out")
        return None
    found = terminology.value_for_text(kind, written)
    if found is None:
        ctx.unreadable(kind, written, when, source, f"{kind} value does not read as one value; left out")
        return None
    return CodedAssessment(kind=kind, code=found.key[len(prefix):], when=when, source=source)


def _coding_dicts(codeable: Any) -> dict[str, Any]:
    return {"coding": codings_of(codeable)}


def _antibody(
    obs: Observation, concept: terminology.Concept, source: str, when: date, precision: DatePrecision
) -> AntibodyResult:
    assay = "unknown"
    method = first_concept(obs.method, lambda c: c.key.startswith("assay-"))
    if method is not None:
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
    written = raw_quantity.get("value") if isinstance(raw_quantity, dict) else None
    if written is not None and not _json_number(raw_quantity):  # a data gap naming it (gmg/plausibility.py)
        ctx.unreadable(concept.key, str(written), when, source,
                       f"{concept.key}: quantity value is not a JSON number; left out")
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
        value = first_concept(obs.valueCodeableConcept,
                              lambda c: c.key == "not-pregnant" or "pregnancy" in c.classes)
        if value is not None and value.key != "not-pregnant":
            return PregnancySignal("pregnant", when, source)
        if value is not None:
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
    """Cheap pre-selection on the dict: the concept of Observation.code, if the rules use it
    (the first coding recognised as an observation concept, wherever it stands)."""
    code = raw.get("code")
    if not isinstance(code, dict):
        return None
    codings = code.get("coding")
    if not isinstance(codings, list):
        return None
    return terminology.concept_for_codings(codings, OBSERVATION_DOMAINS)


def _read_one(raw: dict[str, Any], concept: terminology.Concept, ctx: MappingContext, facts: ObservationFacts) -> list[Measurement]:
    """Validate and map one relevant Observation into `facts`; returns the measurements it gave."""
    source = source_of(raw, "prefetch:observations")
    out: list[Measurement] = []
    obs = validate(Observation, raw, source, ctx)
    if obs is None:
        return out
    note_site_display(ctx, source, raw.get("code"), concept)
    dated = _effective(obs, source, ctx)
    if dated is None:
        return out
    when, precision = dated
    key = concept.key
    if key == "mg-adl-total":
        adl = _mg_adl(obs, concept, source, when, ctx)
        if adl:
            instant = _instant(obs)
            if instant is not None and adl.items is None:
                facts._adl_totals.setdefault(instant, len(facts.mg_adl))
            facts.mg_adl.append(adl)
    elif "mg-adl-item" in concept.classes:
        _mg_adl_item(obs, concept, source, when, facts)
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
            part = first_concept(comp.code, lambda c: c.key in wanted)
            if part is None:
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
        pass  # e.g. the project's value codes used as an Observation code: nothing to read
    elif key in BODY_MEASURES and obs.valueQuantity is None and _written(obs) is not None:
        # a weight, height or haematocrit written as text ("about 75 kg"): kept as an unread value,
        # so that no earlier value is dosed from in its place (gmg/measures.py)
        ctx.unreadable(key, _written(obs) or "", when, source, f"{key}: value written as text, not a quantity; left out")
    else:
        m = _measurement(obs.valueQuantity, obs.valueCodeableConcept, obs, concept, source, when, precision, ctx,
                         raw.get("valueQuantity"))
        if m is not None:
            out.append(m)
    return out


def _written(obs: Observation) -> str | None:
    text = obs.valueString
    return text if isinstance(text, str) and text.strip() else None


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
    join_mg_adl_items(facts, ctx)
    if selection is not None:
        for key, items in pending.items():
            series_ = Series(key, targets[key], items, read)
            series_.read_after(ctx.today - timedelta(days=max(0, selection.window(key))))
            series_.read_latest(ctx.today)
            facts._series[key] = series_
    facts.settle()
    return facts
