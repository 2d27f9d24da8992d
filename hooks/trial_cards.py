"""Patient-view card for clinical-trial matching (gmg-rules.md §7).

One card: candidates and possibles first, each with what is still unknown and what is left to the
screening visit; then one line per excluded trial saying why (and when a time-limited exclusion
lapses). Each trial's NCT number links to its ClinicalTrials.gov record. Each trial's
`trial.<NCT>.<outcome>` finding is listed in the card extension.
"""

from __future__ import annotations

import re
from datetime import date

from gmg.parameters import Parameters
from gmg.record import PatientRecord
from gmg.therapy import AssessmentView, is_refractory
from gmg.trials import TrialMatch, match_trials

from . import card_text
from .cards import Card, Source
from .i18n import clinical, is_chinese, t, t_or

REGISTRY_URL = "https://clinicaltrials.gov/study/{nct}"


def trial_title(m: TrialMatch) -> str:
    """The trial's title in the call's language (the trial file's `title_zh` in Chinese)."""
    if is_chinese() and m.trial.title_zh:
        return m.trial.title_zh
    return m.trial.title


def criterion_text(m: TrialMatch, criterion_id: str, english: str) -> str:
    """A criterion's text in the call's language (its `text_zh` in Chinese, when the English text
    shown is the criterion's own)."""
    c = m.trial.criterion(criterion_id)
    if is_chinese() and c is not None and c.text == english and c.text_zh:
        return c.text_zh
    return clinical(english)


def trial_source() -> Source:
    return Source(label=t("source.trials"))


# Criterion ids worth showing: the registry's own numbering (I3, E7); the project's descriptive ids
# (I-mgfa) stay in the extension.
_REGISTRY_ID = re.compile(r"^[IE]\d+[a-z]?$")


def _criterion_id(criterion_id: str) -> str:
    return f"{criterion_id} " if _REGISTRY_ID.match(criterion_id) else ""


def _status(m: TrialMatch, today: date) -> str:
    """The registry status ("Recruiting"), with a warning when the planned end has passed."""
    ended = t("trial.end-passed", date=m.trial.end_date) if m.trial.end_has_passed(today) else ""
    return clinical(m.trial.status) + ended


def _open_lines(m: TrialMatch, today: date) -> list[str]:
    """The trial with its outcome and registry status, and what is unknown (and why). What only
    the screening visit can check stays in the finding (`criteria`, `at_screening`) and on the
    registry record the NCT number links to."""
    lines = [t("line.trial-open", nct=m.trial.nct, url=REGISTRY_URL.format(nct=m.trial.nct),
               outcome=t_or(f"trial-outcome.{m.outcome}", m.outcome),
               product=clinical(m.trial.product), status=_status(m, today))]
    unknown = [t("text.trial-item", text=_criterion_id(r.id) + criterion_text(m, r.id, r.text), reason=clinical(r.reason))
               for r in m.results if r.state != "pass" and not r.at_screening]
    if unknown:
        lines.append(t("line.trial-unknown", items=t("list.separator").join(unknown)))
    return [card_text.join_sentences(lines)]


def _excluded_line(m: TrialMatch) -> str:
    # A time-limited criterion says when it lapses even when another, open-ended one still excludes
    # (gmg-rules.md §7: "for a time-limited exclusion the date it lapses").
    why = t("list.separator").join(
        f"{_criterion_id(r.id)}{clinical(r.reason)}"
        + (t("trial.criterion-lapses", date=r.lapses_on.isoformat()) if r.lapses_on and not m.lapses_on else "")
        for r in m.deciding
    )
    lapse = t("trial.recheck-from", date=m.lapses_on.isoformat()) if m.lapses_on else ""
    return t("line.trial-excluded", nct=m.trial.nct, url=REGISTRY_URL.format(nct=m.trial.nct), why=why, lapse=lapse)


def trial_card(record: PatientRecord, assessment: AssessmentView, params: Parameters,
               matches: tuple[TrialMatch, ...]) -> Card | None:
    open_ = [m for m in matches if m.outcome in ("candidate", "possible")]
    excluded = [m for m in matches if m.outcome == "excluded"]
    if not open_ and not is_refractory(assessment):
        return None
    if not matches:
        return None
    counts = {o: sum(1 for m in matches if m.outcome == o) for o in ("candidate", "possible", "excluded")}
    summary = t("summary.trials", counts=t("list.comma").join(t(f"trial-count.{o}", n=n) for o, n in counts.items() if n))
    lines: list[str] = []
    lines += [f"- {line}" for m in open_ for line in _open_lines(m, record.today)]
    lines += [_excluded_line(m) for m in excluded]
    lines.append("")
    lines.append(t("text.trials-footer", version=params.version))
    return Card(
        summary=summary[:139],
        indicator="info",
        source=trial_source(),
        # each trial's NCT number links to its registry record in the line itself (a card link
        # per trial would take a row of its own)
        detail="\n".join(lines),
        findings=tuple(m.finding.as_extension() for m in matches),
    )


def trial_cards(record: PatientRecord, assessment: AssessmentView, params: Parameters) -> list[Card]:
    card = trial_card(record, assessment, params, match_trials(record, assessment, params))
    return [card] if card else []
