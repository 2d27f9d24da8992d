"""Which vital-sign and lab results are read in detail: cost follows what can decide.

A chart of thousands of resources holds hundreds of weights, heights, blood-pressure panels and
routine labs. Building a fhir.resources model costs ~70-170 µs per Observation, so validating
every one of them costs more than the rest of the hook call. The rules read these series in
only three ways (gmg, 2026-11):

- the latest result of a concept passing a filter, usually within a window
  (dosing._recent_numeric, therapy.latest_within, trials._lab / infection_absent,
  safety._common.latest_value / latest_result, safety.c5 lipase/amylase);
- the weight nearest an exposure start (mapping mg/kg/day; exposure.weight_for);
- every drug level within a treatment course (adequacy._troughs) — drug levels are therefore
  never selected: they are always read.

Every filter above accepts a *usable* result: numeric, non-zero, no comparator, in the
concept's canonical unit. So, per concept, on the plain JSON dicts (date of effective[x]):

1. results dated after today, results whose date cannot be read cleanly from the dict, and
   results within the concept's longest result-age window (parameter ids in WINDOW_PARAMETERS,
   values from the parameter set the hook passes) are read;
2. older results are read newest first until one usable result (per component for a panel)
   has been read, plus any others of that same day: any older result cannot be the latest
   passing a filter that the usable one passes;
3. weights: for each exposure start, read outwards on both sides until a usable weight (same
   day included): any farther weight cannot be the nearest.

What is not read is counted (PatientRecord.observations_not_read), never noted one by one.
A read result whose mapped date differs from its dict date (cannot happen for a clean FHIR
dateTime, but checked) makes the whole concept fall back to being read in full.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable, Mapping

import terminology
from gmg.record import Measurement

from .common import parse_date

# Result-age windows the rules apply, by concept (parameter ids of gmg/parameters.toml). Every
# series concept also gets DEFAULT_WINDOW_PARAMETERS (trial baseline labs read any lab).
DEFAULT_WINDOW_PARAMETERS: tuple[str, ...] = ("trial_baseline_max_age_days",)
WINDOW_PARAMETERS: dict[str, tuple[str, ...]] = {
    "weight": ("dosing_weight_max_age_days",),
    "height": ("dosing_height_max_age_days",),
    "haematocrit": ("dosing_haematocrit_max_age_days",),
    "bp-panel": ("rapid_vitals_max_age_days",),
    "bp-systolic": ("rapid_vitals_max_age_days",),
    "bp-diastolic": ("rapid_vitals_max_age_days",),
    "iga": ("rapid_iga_max_age_days",),
    "igg": ("igg_baseline_max_age_days",),
    "creatinine": ("rapid_creatinine_max_age_days",),
    "egfr": ("rapid_creatinine_max_age_days",),
    "lipase": ("lipase_amylase_max_age_days",),
    "amylase": ("lipase_amylase_max_age_days",),
}
# Read over whole treatment courses (adequacy), so never selected.
ALWAYS_READ_CLASSES = frozenset({"drug-level"})

# A FHIR date / dateTime / instant as written (the date part is what the mapping keeps).
_CLEAN_DATE = re.compile(
    r"^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?)?)?$"
)
_EFFECTIVE_KEYS = ("effectiveDateTime", "effectiveInstant", "effectivePeriod", "effectiveTiming")


@dataclass(frozen=True)
class SeriesSelection:
    """The selection policy: result-age windows (days) by concept key."""

    windows: Mapping[str, int] = field(default_factory=dict)
    default_window: int = 0

    @classmethod
    def from_parameters(cls, params: Any) -> "SeriesSelection":
        """Windows from the parameter set (anything indexable by parameter id)."""

        def longest(ids: tuple[str, ...]) -> int:
            return max((int(params[i]) for i in ids), default=0)

        default = longest(DEFAULT_WINDOW_PARAMETERS)
        return cls(
            windows={c: max(default, longest(ids)) for c, ids in WINDOW_PARAMETERS.items()},
            default_window=default,
        )

    def window(self, concept: str) -> int:
        return int(self.windows.get(concept, self.default_window))


# concept key -> (the concept, its series targets): series_targets runs for every relevant
# Observation of the chart and depends on the terminology data only (never on the patient).
_TARGETS_OF: dict[str, tuple[terminology.Concept, tuple[str, ...] | None]] = {}


def series_targets(concept: terminology.Concept) -> tuple[str, ...] | None:
    """The measurement concepts a series observation yields, or None when it is not a series
    (scores, antibodies, coded assessments, pregnancy, qualitative labs, drug levels)."""
    known = _TARGETS_OF.get(concept.key)
    if known is not None and known[0] is concept:
        return known[1]
    targets = _series_targets(concept)
    _TARGETS_OF[concept.key] = (concept, targets)
    return targets


def _series_targets(concept: terminology.Concept) -> tuple[str, ...] | None:
    if concept.domain != "observations" or concept.classes & ALWAYS_READ_CLASSES:
        return None
    if concept.classes & {"mg-score", "antibody", "pregnancy-test"} or concept.key in (
        "mg-adl-total", "mgfa-class", "mgfa-pis", "pregnancy-status",
    ):
        return None
    components = concept.attribute("components")
    if isinstance(components, dict):
        keys = tuple(sorted(set(components.values())))
        for key in keys:
            try:
                part = terminology.concept(key)
            except KeyError:
                return None
            if not isinstance(part.attribute("unit"), str) or not part.attribute("unit"):
                return None
        return keys or None
    unit = concept.attribute("unit")
    if isinstance(unit, str) and unit:
        return (concept.key,)
    return None


def dict_date(raw: dict[str, Any], seen: dict[str, date | None] | None = None) -> date | None:
    """The date the mapping will give this Observation, read on the dict; None when it cannot
    be told cheaply and for sure (then the observation is simply read).

    `seen`: the dates of the date strings already read in this record build (a chart's
    observations share few distinct timestamps: about 26 for 143 series results at ~500
    resources), so each distinct string is checked and parsed once. Kept by the caller for one
    build only, never across patients."""
    present: str | None = None  # the one effective[x] element, if exactly one is present
    for key in _EFFECTIVE_KEYS:
        if key in raw:
            if present is not None:
                return None
            present = key
    if present is None or present == "effectiveTiming":
        return None
    value = raw[present]
    if present == "effectivePeriod":
        if not isinstance(value, dict) or set(value) - {"start", "end"}:
            return None
        start, end = value.get("start"), value.get("end")
        if start is not None and not (isinstance(start, str) and _CLEAN_DATE.match(start)):
            return None
        value = start if start else end
    if not isinstance(value, str):
        return None
    if seen is None:
        return _clean_day(value)
    day = seen.get(value, _NOT_SEEN)
    if day is _NOT_SEEN:
        day = seen[value] = _clean_day(value)
    return day  # type: ignore[return-value]


_NOT_SEEN = object()


def _clean_day(value: str) -> date | None:
    """The date part of a cleanly written FHIR date/dateTime/instant; None for anything else."""
    if not _CLEAN_DATE.match(value):
        return None
    parsed = parse_date(value)
    return parsed[0] if parsed else None


def usable(m: Measurement, target: str) -> bool:
    """A result every series filter of the rules accepts."""
    if m.concept != target or m.value is None or not m.value or m.comparator is not None:
        return False
    try:
        unit = terminology.concept(target).attribute("unit")
    except KeyError:
        return False
    return bool(unit) and m.unit == unit


# One pending observation: (dict date, position in the prefetch, resource dict, concept).
Pending = tuple[date, int, dict[str, Any], terminology.Concept]
# Maps one observation (its position, dict, concept) and returns the measurements it yielded.
Reader = Callable[[int, dict[str, Any], terminology.Concept], list[Measurement]]


class Series:
    """The observations of one series concept, read on demand."""

    def __init__(self, key: str, targets: tuple[str, ...], items: list[Pending], read: Reader):
        self.key = key
        self.targets = targets
        self.items = sorted(items, key=lambda p: (p[0], p[1]))  # oldest first
        self.done = [False] * len(self.items)
        self._read = read
        self.fallen_back = False

    def _take(self, i: int) -> list[Measurement]:
        if self.done[i]:
            return []
        self.done[i] = True
        when, pos, raw, concept = self.items[i]
        got = self._read(pos, raw, concept)
        if any(m.when != when for m in got):
            self.fallen_back = True  # the dict date was not the mapped date: no shortcut here
        return got

    def read_all(self) -> None:
        self.fallen_back = True
        for i in range(len(self.items)):
            self._take(i)

    def read_after(self, day: date) -> None:
        for i, item in enumerate(self.items):
            if item[0] >= day:
                self._take(i)
        if self.fallen_back:
            self.read_all()

    def _walk(self, order: list[int]) -> None:
        """Read in `order` until every target has a usable result, then the rest of that day."""
        missing = set(self.targets)
        stop_day: date | None = None
        for i in order:
            when = self.items[i][0]
            if stop_day is not None and when != stop_day:
                return
            for m in self._take(i):
                if m.concept in missing and usable(m, m.concept):
                    missing.discard(m.concept)
            if self.fallen_back:
                self.read_all()
                return
            if not missing and stop_day is None:
                stop_day = when

    def read_latest(self, today: date) -> None:
        order = [i for i in range(len(self.items) - 1, -1, -1) if self.items[i][0] <= today]
        self._walk(order)

    def read_nearest(self, day: date) -> None:
        before = [i for i in range(len(self.items) - 1, -1, -1) if self.items[i][0] <= day]
        after = [i for i in range(len(self.items)) if self.items[i][0] > day]
        self._walk(before)
        self._walk(after)

    @property
    def unread(self) -> int:
        return self.done.count(False)
