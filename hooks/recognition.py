"""How the facts behind a card were recognised, when not by one of the service's own codes.

A fact recognised through the site's concept map (GMG_CDS_CONCEPT_MAPS) is shown with the site's
own display text (the flowsheet row or the tenant lab name the clinician knows), and a drug
recognised by its RxNorm product name says so (issue #14 points 1 and 5). One step after the
card builders: each card's evidence references and draft orders are looked up, and a short
"Recognised from the site's data" section is added to the detail. Cards whose facts all came
by the service's own codes are returned unchanged (the same objects).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Mapping

from gmg.orders import DraftOrder
from gmg.record import PatientRecord, RecognisedAs

from .cards import Card
from .i18n import concept_name, t


def _references(card: Card) -> list[str]:
    refs: list[str] = []
    for finding in card.findings:
        for e in finding.get("evidence") or ():
            ref = e.get("reference") if isinstance(e, dict) else None
            if isinstance(ref, str):
                refs.append(ref)
        for ref in finding.get("orders") or ():
            if isinstance(ref, str):
                refs.append(ref)
    return list(dict.fromkeys(refs))


def _line(ref: str, how: str, shown_as: str, concept: str) -> str:
    name = concept_name(concept, concept.replace("-", " "))
    key = "line.recognised-site-map" if how == "site-map" else "line.recognised-by-name"
    return t(key, reference=ref, shown=shown_as, concept=name)


def with_recognition(
    cards: list[Card], record: PatientRecord, orders: Iterable[DraftOrder] = ()
) -> list[Card]:
    """The cards, each naming how its facts were recognised when a site map or a product name
    was needed (unchanged otherwise)."""
    known: Mapping[str, RecognisedAs] = {r.source: r for r in record.recognitions}
    drafts = {o.resource_id: o for o in orders if o.recognised_by and o.recognised_from and o.concept}
    if not known and not drafts:
        return cards
    out: list[Card] = []
    for card in cards:
        lines = []
        for ref in _references(card):
            r = known.get(ref)
            if r is not None:
                lines.append(_line(ref, r.how, r.shown_as, r.concept))
            o = drafts.get(ref)
            if o is not None:
                lines.append(_line(ref, str(o.recognised_by), str(o.recognised_from), str(o.concept)))
        if not lines:
            out.append(card)
            continue
        head = [card.detail, ""] if card.detail else []
        detail = "\n".join([*head, t("heading.recognised"), *dict.fromkeys(lines)])
        out.append(replace(card, detail=detail))
    return out
