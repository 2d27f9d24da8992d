"""Tacrolimus and strong CYP3A4 inducers or inhibitors.

Guideline and label (gmg-rules.md §6, §9; background/clinical-research.md §1.8 (4), §4.1):
- The consensus flags the CYP3A4 interaction of tacrolimus [D-hi]. Prograf label [K]: levels rise
  with azole antifungals, clarithromycin, protease inhibitors; fall with rifampicin,
  carbamazepine, phenytoin, phenobarbital and St John's wort (St John's wort has no verified code
  in the terminology, so it is not recognised: terminology/data/medications.json).
- §9: fires on a tacrolimus order while a strong inducer or inhibitor is active or co-ordered, and
  on an order of a strong inducer or inhibitor while tacrolimus is active (or co-ordered).

When / Then
- tacrolimus (draft or active) together with a strong CYP3A4 inducer or inhibitor (draft or
  active), at least one of them a draft -> safety.tacrolimus.cyp3a4 (warning): trough level,
  dose adjustment, or another drug.
"""

from __future__ import annotations

from ..findings import Evidence, Finding
from ..orders import DraftOrder
from ._common import CheckInput, exposure_is, make_finding

_MODULATORS = ("cyp3a4-strong-inducer", "cyp3a4-strong-inhibitor")


def _effect(classes: frozenset[str]) -> str:
    if "cyp3a4-strong-inducer" in classes:
        return "lowers tacrolimus levels (strong CYP3A4 inducer)"
    return "raises tacrolimus levels (strong CYP3A4 inhibitor)"


def check(ci: CheckInput) -> list[Finding]:
    tac_drafts = ci.drafts("tacrolimus")
    mod_drafts = tuple(o for o in ci.drafts(*_MODULATORS) if o not in tac_drafts)
    tac_active = [e for e in ci.exposures if exposure_is(e, "tacrolimus") and e.active_on(ci.today)]
    mod_active = [e for e in ci.exposures if exposure_is(e, *_MODULATORS) and e.active_on(ci.today)]
    concerned: list[DraftOrder] = []
    context: list[DraftOrder] = []
    evidence: list[Evidence] = []
    effects: list[str] = []
    if tac_drafts and (mod_drafts or mod_active):
        concerned.extend(tac_drafts)
        context.extend(mod_drafts)
        for e in mod_active:
            evidence.append(Evidence(f"Active: {e.ingredient}", _effect(e.drug_classes), e.start, e.source))
            effects.append(f"{e.ingredient} {_effect(e.drug_classes)}")
    if mod_drafts and (tac_active or tac_drafts):
        concerned.extend(o for o in mod_drafts if o not in concerned)
        context = [o for o in context if o not in concerned]
        context.extend(o for o in tac_drafts if o not in concerned)
        for e in tac_active:
            evidence.append(Evidence("Active: tacrolimus", "CYP3A4 substrate", e.start, e.source))
    if not concerned:
        return []
    effects.extend(f"{o.name} {_effect(o.drug_classes)}" for o in mod_drafts)
    text = (
        "Tacrolimus with a strong CYP3A4 modulator: "
        + "; ".join(dict.fromkeys(effects))
        + ". Check a tacrolimus trough within days of the change and adjust the dose, or choose a"
        " drug without the interaction."
    )
    return [
        make_finding(
            "safety.tacrolimus.cyp3a4",
            "warning",
            text,
            concerned,
            context_orders=context,
            evidence=evidence,
            modulators=sorted({*(o.concept or o.name for o in mod_drafts), *(e.ingredient for e in mod_active)}),
            # the same drugs by effect, so a card can say which lowers and which raises the level
            inducers=sorted({*(o.concept or o.name for o in mod_drafts if "cyp3a4-strong-inducer" in o.drug_classes),
                             *(e.ingredient for e in mod_active if "cyp3a4-strong-inducer" in e.drug_classes)}) or None,
            inhibitors=sorted({*(o.concept or o.name for o in mod_drafts if "cyp3a4-strong-inducer" not in o.drug_classes),
                               *(e.ingredient for e in mod_active if "cyp3a4-strong-inducer" not in e.drug_classes)}) or None,
        )
    ]
