"""Drugs known to worsen myasthenia gravis.

Guideline (gmg-rules.md §6; background/clinical-research.md §1.6 comorbidity checklist [I], drawn
from standard MG practice): "MG-worsening drugs (aminoglycosides, fluoroquinolones, macrolides,
Mg2+, beta-blockers, immune checkpoint inhibitors)", plus telithromycin (§6 table).

When / Then
- any draft of class mg-worsening (subclass aminoglycoside, fluoroquinolone, macrolide,
  telithromycin, magnesium-sulfate given IV or by an unknown route, beta-blocker,
  checkpoint-inhibitor) -> safety.mg-worsening-drug (warning); several such drafts -> one finding
  naming them all.
"""

from __future__ import annotations

from ..findings import Evidence, Finding
from ..orders import DraftOrder
from ._common import CheckInput, make_finding

SUBCLASSES: dict[str, str] = {
    "aminoglycoside": "aminoglycoside (blocks neuromuscular transmission)",
    "fluoroquinolone": "fluoroquinolone (boxed warning: exacerbation of MG)",
    "macrolide": "macrolide (can worsen MG)",
    "telithromycin": "telithromycin (contraindicated in MG)",
    "magnesium-sulfate": "IV magnesium (blocks acetylcholine release)",
    "beta-blocker": "beta blocker (can worsen MG)",
    "checkpoint-inhibitor": "immune checkpoint inhibitor (can trigger severe MG and myositis)",
}


def subclass_of(o: DraftOrder) -> str | None:
    for sub in SUBCLASSES:
        if sub in o.drug_classes or o.concept == sub:
            return sub
    return None


def check(ci: CheckInput) -> list[Finding]:
    hits: list[tuple[DraftOrder, str | None]] = []
    for o in ci.drafts("mg-worsening"):
        sub = subclass_of(o)
        if sub == "magnesium-sulfate" and o.route not in (None, "iv"):
            continue  # oral/topical magnesium is not the concern
        hits.append((o, sub))
    if not hits:
        return []
    named = "; ".join(f"{o.name}: {SUBCLASSES.get(sub or '', 'known to worsen MG')}" for o, sub in hits)
    text = (
        f"Drug known to worsen myasthenia gravis ordered ({named}): choose an alternative if one"
        " exists; otherwise warn the patient and watch for bulbar and respiratory weakness."
    )
    return [
        make_finding(
            "safety.mg-worsening-drug",
            "warning",
            text,
            [o for o, _ in hits],
            evidence=[Evidence("MG-worsening class", sub or "mg-worsening", None, o.resource_id) for o, sub in hits],
            subclasses=sorted({sub for _, sub in hits if sub}),
            class_of_order={o.resource_id: sub or "mg-worsening" for o, sub in hits},
        )
    ]
