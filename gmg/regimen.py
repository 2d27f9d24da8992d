"""A drug regimen in parts, and a note on a drug with its kind: what a card chooses from.

Statement implemented (this project's design, tag I; ../shared/knowledge/gmg-rules.md §5 "doses
for this patient", §9 "every card says why"): the dose table (gmg/dosing.py, gmg/dose_table.py)
writes each regimen once, as the whole sentence the MG summary page and the draft order show
(`text`) and as its parts: the first dose with how it is given ("900 mg IV weekly × 4"), what
follows ("1200 mg at week 5, then 1200 mg every 2 weeks"), the remark in brackets (what the dose
was computed from, "band 60–<100 kg, weight 75 kg", or a product note), when a next cycle may
start, and a name where a drug has several regimens ("low dose"). Notes on a drug say what kind
they are, so a card can leave out what another line of it says (an interim value to verify is
named by the card's interim line) without reading the sentence. No reader parses `text`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# verify: a label value taken as interim (the card's interim line names it); data-gap: a dose not
# computed for want of a measurement; age: outside or at the edge of the labelled ages;
# intolerance: a recorded intolerance or severe adverse event.
NoteKind = Literal["verify", "data-gap", "age", "intolerance"]
NOTE_KINDS: tuple[str, ...] = ("verify", "data-gap", "age", "intolerance")


@dataclass(frozen=True)
class Regimen:
    """One regimen of one drug for this patient, in parts (all in English; the cards render them
    through the phrase table)."""

    first: str  # the first dose and how it is given: "900 mg IV weekly × 4", "2700 mg IV loading dose"
    then: str | None = None  # what follows, as said after a comma: "then 3300 mg every 8 weeks ..."
    aside: str | None = None  # the bracketed remark: "band 60–<100 kg, weight 75 kg"
    cycle: str | None = None  # "next cycle ≥ 50 days after the previous cycle's start"
    name: str | None = None  # where a drug has several: "low dose"

    def as_json(self) -> dict[str, str]:
        items = (("name", self.name), ("first", self.first), ("then", self.then), ("aside", self.aside),
                 ("cycle", self.cycle))
        return {k: v for k, v in items if v}


@dataclass(frozen=True)
class DrugNote:
    """A remark on a drug's dose or state, with its kind."""

    kind: NoteKind
    text: str

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind, "text": self.text}
