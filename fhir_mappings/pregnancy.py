"""Pregnancy status from the chart.

Signals, each dated:
- an active Condition in the class "pregnancy" (onset, else recorded date);
- a pregnancy-status Observation (LOINC 82810-3) answered pregnant / not pregnant;
- an hCG result: positive (qualitative value, interpretation POS/H, or a quantity above its
  reference range) or negative.
Only signals within `window_days` before the evaluation date count (parameter
`pregnancy_window_days`, 280 days = 40 weeks, the length of a pregnancy: an older positive test
or an "active" pregnancy condition with an older onset says nothing about today). The latest signal decides; with none the state
is "unknown" (never "not pregnant" by absence).
"""

from __future__ import annotations

from datetime import date, timedelta

from gmg.record import ConditionFact, PregnancyStatus

from .observations import PregnancySignal

def pregnancy_status(
    conditions: list[ConditionFact],
    signals: list[PregnancySignal],
    today: date,
    window_days: int,
) -> PregnancyStatus:
    from terminology import concept  # local: only needed when conditions are present

    earliest = today - timedelta(days=window_days)
    candidates: list[PregnancySignal] = list(signals)
    for c in conditions:
        try:
            is_pregnancy = "pregnancy" in concept(c.concept).classes
        except KeyError:
            continue
        if not is_pregnancy or not c.is_active or c.start is None:
            continue
        if c.abatement is not None and c.abatement <= today:
            continue
        candidates.append(PregnancySignal("pregnant", c.start, c.source))
    in_window = [s for s in candidates if earliest <= s.when <= today]
    if not in_window:
        return PregnancyStatus(state="unknown", when=None, source=None)
    latest = max(in_window, key=lambda s: (s.when, s.state == "pregnant"))
    state = "pregnant" if latest.state == "pregnant" else "not-pregnant"
    return PregnancyStatus(state=state, when=latest.when, source=latest.source)
