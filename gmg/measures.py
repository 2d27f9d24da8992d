"""The body measure a dose is computed from: one reading for the dose now and for the dose per kg
of a past exposure, which never falls back to a value the chart has since contradicted.

Statement implemented (this project's design, tag I; ../shared/knowledge/gmg-rules.md §2 "Doses
per kg use the weight nearest the exposure", §5 doses from the recorded weight, height and
haematocrit, §9 never conclude from missing or implausible data):

- Dose now (the options' doses, IVIG, PLEX/LPE volumes, the rapid options, the IVIG order check):
  the weight, height or haematocrit a dose is computed from is the latest readable one within its
  window. A value of the same kind recorded on or after its date (the same day included) that
  could not be read as one number (`record.unread_values`, a censored "> 150 kg") or that was set
  aside as implausible (`record.implausible`, gmg/plausibility.py) means the current value is
  unknown: no dose is computed from it, the card names the value set aside and asks for a current
  measurement, and an earlier value never stands in (the patient may no longer weigh what he did).
- Dose per kg of a past exposure (adequacy, gmg/adequacy.py): the weight nearest the start of
  the exposure. A weight that could not be read or was set aside, recorded at least as near to
  the start (the same day, or as many days away, included), makes that exposure's dose per kg
  unknown: a data gap naming it, never a figure from a farther weight.
- The same day: the record keeps days, so two values of one kind on one day cannot be put in
  order; an unreadable or implausible value on the day of the readable one therefore makes the
  value unknown. This is the reading gmg/unread.py's `latest_value` applies to MGFA class, PIS
  and scores, and gmg/plausibility.py's gap for a text-valued measurement names the same value.

`latest_measure` (dose now, through gmg/dosing.py `dosing_inputs`) and `nearest_measure` (dose per
kg, through gmg/exposure.py `weight_for`) are the only readers of these measures for doses; the
value set aside they return is named on the card by `unknown_now` / `unknown_near`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from .findings import Evidence
from .record import Measurement, PatientRecord

@dataclass(frozen=True)
class SetAside:
    """A value of a body measure the rules may not use: text that is not one number, a censored
    value, or a value outside the plausible range."""

    concept: str  # "weight" | "height" | "haematocrit" (also the word the card uses)
    reason: Literal["unreadable", "implausible"]
    shown: str  # as the card names it: the text as written ("about 75"), or "1000 kg"
    when: date
    source: str

    def as_data(self) -> dict[str, str]:
        """The value set aside as finding data, so a card can name it in its own words:
        `measure` (weight, height, haematocrit), `set_aside` (unreadable | implausible), the
        value as recorded (`set_aside_value`) and its date (`set_aside_date`)."""
        return {"measure": self.concept, "set_aside": self.reason, "set_aside_value": self.shown,
                "set_aside_date": self.when.isoformat()}


@dataclass(frozen=True)
class MeasureReading:
    """The measurement a rule may use, or (`set_aside`) the value that keeps it unknown. Both are
    None when nothing usable was recorded (a plain data gap)."""

    measurement: Measurement | None
    set_aside: SetAside | None = None


def _usable(m: Measurement) -> bool:
    return m.value is not None and m.comparator is None


def _shown(value: float, unit: str | None) -> str:
    return f"{value:g} {unit}".strip() if unit else f"{value:g}"


def set_aside_values(record: PatientRecord, concept: str) -> list[SetAside]:
    """Every value of `concept` dated not after today that the rules may not use."""
    today = record.today
    out = [SetAside(concept, "unreadable", u.text, u.when, u.source)
           for u in record.unread_values if u.kind == concept and u.when is not None and u.when <= today]
    out += [SetAside(concept, "implausible", _shown(float(v.value), v.unit) if _is_number(v.value) else v.value,
                     v.when, v.source)
            for v in record.implausible if v.concept == concept and v.when is not None and v.when <= today]
    out += [SetAside(concept, "unreadable", f"{m.comparator}{_shown(m.value, m.unit)}", m.when, m.source)
            for m in record.measurements_of(concept)
            if m.value is not None and m.comparator is not None and m.when <= today]
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def latest_usable(record: PatientRecord, concept: str, earliest: date = date.min) -> Measurement | None:
    """The latest measurement of `concept` that reads as one number, dated from `earliest` to
    today (what the latest value is when nothing on or after it was set aside)."""
    best: Measurement | None = None
    for m in record.measurements_of(concept):
        if _usable(m) and earliest <= m.when <= record.today and (best is None or m.when >= best.when):
            best = m
    return best


def latest_measure(record: PatientRecord, concept: str, max_age_days: int | None = None) -> MeasureReading:
    """The latest usable measurement of `concept` not after today (and, with `max_age_days`, no
    older than that), unless a value set aside was recorded on or after its date (within the
    window when there is none): then that value (the latest of them) and no measurement."""
    earliest = record.today - timedelta(days=max_age_days) if max_age_days is not None else date.min
    best = latest_usable(record, concept, earliest)
    since = best.when if best is not None else earliest
    later = [s for s in set_aside_values(record, concept) if s.when >= since]
    if later:
        return MeasureReading(None, max(later, key=lambda s: s.when))
    return MeasureReading(best)


def nearest_measure(record: PatientRecord, concept: str, day: date) -> MeasureReading:
    """The usable measurement of `concept` nearest to `day` (the earlier of two as near), unless
    a value set aside was recorded at least as near: then that value (the nearest of them; the
    later of two as near) and no measurement."""
    best: Measurement | None = None
    for m in record.measurements_of(concept):
        if _usable(m) and m.value > 0 and (best is None or abs((m.when - day).days) < abs((best.when - day).days)):  # type: ignore[operator]
            best = m
    reach = abs((best.when - day).days) if best is not None else None
    near = [s for s in set_aside_values(record, concept) if reach is None or abs((s.when - day).days) <= reach]
    if near:
        return MeasureReading(None, min(near, key=lambda s: (abs((s.when - day).days), -s.when.toordinal())))
    return MeasureReading(best)


def _what(s: SetAside) -> str:
    words = s.concept
    if s.reason == "unreadable":
        return f'{words} recorded as "{s.shown}" on {s.when.isoformat()} could not be read as a number'
    return f"{words} recorded as {s.shown} on {s.when.isoformat()} is outside the plausible range"


def unknown_now(s: SetAside) -> str:
    """'The latest weight is unknown: weight recorded as "about 75" on 2026-11-21 could not be read
    as a number, and an earlier weight does not stand in.' (what a dose-now gap says first)"""
    words = s.concept
    return f"The latest {words} is unknown: {_what(s)}, and an earlier {words} does not stand in."


def unknown_near(s: SetAside, drug: str, start: date) -> str:
    """'The weight nearest the start of Azathioprine (2025-11-22) is unknown: weight recorded as
    1000 kg on 2025-11-22 is outside the plausible range, and a farther weight does not stand in.'
    (what a past exposure's dose-per-kg gap says first)"""
    words = s.concept
    return (f"The {words} nearest the start of {drug} ({start.isoformat()}) is unknown: {_what(s)}, "
            f"and a farther {words} does not stand in.")


def set_aside_evidence(s: SetAside) -> Evidence:
    """The value set aside as a fact the gap rests on (with its date and source)."""
    value = f'"{s.shown}" (not one value)' if s.reason == "unreadable" else f"{s.shown} (outside the plausible range)"
    return Evidence(s.concept.capitalize(), value, s.when, s.source)
