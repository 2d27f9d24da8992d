"""Patient-view card for clinical-trial matching (gmg-rules.md §7).

One card: candidates and possibles first, each with what is still unknown and what is left to the
screening visit; then one line per excluded trial saying why (and when a time-limited exclusion
lapses). Each trial's `trial.<NCT>.<outcome>` finding is listed in the card extension.
"""

from __future__ import annotations

from gmg.parameters import Parameters
from gmg.record import PatientRecord
from gmg.therapy import AssessmentView, is_refractory
from gmg.trials import TrialMatch, match_trials

from .cards import Card, Link, Source

TRIAL_SOURCE = Source(label="Trial registry criteria (ClinicalTrials.gov), matched by gmg-cds")
REGISTRY_URL = "https://clinicaltrials.gov/study/{nct}"


def _open_lines(m: TrialMatch) -> list[str]:
    lines = [f"**{m.trial.nct} — {m.outcome}**: {m.trial.title} ({m.finding.data['status']})"]
    for r in m.results:
        if r.state == "pass":
            continue
        mark = "to confirm at screening" if r.at_screening else r.state
        lines.append(f"- {r.id} ({r.type}) {r.text}: {mark}" + ("" if r.at_screening else f" — {r.reason}"))
    return lines


def _excluded_line(m: TrialMatch) -> str:
    why = "; ".join(f"{r.id} {r.reason}" for r in m.deciding)
    lapse = f" (re-check from {m.lapses_on.isoformat()})" if m.lapses_on else ""
    return f"- {m.trial.nct} ({m.trial.product}): excluded — {why}{lapse}"


def trial_card(record: PatientRecord, assessment: AssessmentView, params: Parameters,
               matches: tuple[TrialMatch, ...]) -> Card | None:
    open_ = [m for m in matches if m.outcome in ("candidate", "possible")]
    excluded = [m for m in matches if m.outcome == "excluded"]
    if not open_ and not is_refractory(assessment):
        return None
    if not matches:
        return None
    counts = {o: sum(1 for m in matches if m.outcome == o) for o in ("candidate", "possible", "excluded")}
    lead = ", ".join(m.trial.nct for m in open_[:2])
    summary = (f"Trials: {counts['candidate']} candidate, {counts['possible']} possible, {counts['excluded']} excluded"
               + (f" ({lead})" if lead else ""))
    lines: list[str] = []
    for m in open_:
        lines += _open_lines(m) + [""]
    if excluded:
        lines.append("**Excluded**")
        lines += [_excluded_line(m) for m in excluded]
        lines.append("")
    lines.append("_Missing data is never a pass. Criteria that only the trial site can check are listed as "
                 f"'to confirm at screening'. Parameter set {params.version}._")
    return Card(
        summary=summary[:139],
        indicator="info",
        source=TRIAL_SOURCE,
        detail="\n".join(lines),
        links=tuple(Link(f"{m.trial.nct} on ClinicalTrials.gov", REGISTRY_URL.format(nct=m.trial.nct))
                    for m in (*open_, *excluded)),
        findings=tuple(m.finding.as_extension() for m in matches),
    )


def trial_cards(record: PatientRecord, assessment: AssessmentView, params: Parameters) -> list[Card]:
    card = trial_card(record, assessment, params, match_trials(record, assessment, params))
    return [card] if card else []
