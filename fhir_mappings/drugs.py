"""Which drug a medication names: by code, through a site concept map, or by its RxNorm name.

Used for every medication the service reads (MedicationStatement / Request / Administration,
a referenced or contained Medication, an AdverseEvent's suspect drug, a draft order):

1. every coding of the CodeableConcept (medicationCodeableConcept, Medication.code) is looked
   up, a site's concept maps included (terminology); the first recognised drug counts;
2. else the Medication's ingredients (`ingredient[].itemCodeableConcept`, by code): the one
   drug they name (several different ones: not recognised);
3. else by name (issue #14 point 5), only when the medication carries an RxNorm code that the
   terminology does not list (a product: SCD/SBD/GPCK/BPCK): the RxNorm codings' displays, the
   text, then the ingredients' displays and text must together name exactly one drug the
   service knows (terminology.ingredient_by_name). The card then says so.
A drug recognised through a site map keeps the site's display text, so a card can show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import terminology
from terminology import systems

from .common import as_dict, as_list, concept_of

How = Literal["code", "site-map", "name"]
MEDICATION_DOMAINS: tuple[str, ...] = ("medications",)


@dataclass(frozen=True)
class DrugMatch:
    concept: terminology.Concept | None
    how: How | None = None  # None when not recognised
    shown_as: str | None = None  # the site's display (site-map) or the name it was read from (name)


NOT_RECOGNISED = DrugMatch(None)


def _by_code(codeable: Any, domains: tuple[str, ...]) -> DrugMatch:
    found = concept_of(codeable, *domains)
    if found is None:
        return NOT_RECOGNISED
    site = terminology.site_display(as_dict(codeable).get("coding"), found)
    return DrugMatch(found, "site-map", site) if site else DrugMatch(found, "code")


def _has_rxnorm_code(codeable: dict[str, Any]) -> bool:
    for coding in as_list(codeable.get("coding")):
        if (
            isinstance(coding, dict)
            and isinstance(coding.get("system"), str)
            and terminology.normalise_system(coding["system"]) == systems.RXNORM
            and terminology.code_text(coding.get("code"))
        ):
            return True
    return False


def _names(codeable: dict[str, Any], rxnorm_only: bool) -> list[str]:
    out: list[str] = []
    for coding in as_list(codeable.get("coding")):
        if not isinstance(coding, dict) or not isinstance(coding.get("display"), str):
            continue
        if rxnorm_only and not (
            isinstance(coding.get("system"), str)
            and terminology.normalise_system(coding["system"]) == systems.RXNORM
        ):
            continue
        out.append(coding["display"])
    if isinstance(codeable.get("text"), str):
        out.append(codeable["text"])
    return [n.strip() for n in out if n.strip()]


def _by_name(codeable: dict[str, Any], medication: dict[str, Any] | None) -> DrugMatch:
    names = _names(codeable, rxnorm_only=True)
    for item in as_list(as_dict(medication).get("ingredient")):
        names += _names(as_dict(as_dict(item).get("itemCodeableConcept")), rxnorm_only=False)
    found: dict[str, tuple[terminology.Concept, str]] = {}
    for name in names:
        concept = terminology.ingredient_by_name(name)
        if concept is not None:
            found.setdefault(concept.key, (concept, name))
    if len(found) != 1:
        return NOT_RECOGNISED  # no name, or names of different drugs: never a guess
    concept, name = next(iter(found.values()))
    return DrugMatch(concept, "name", name[:120])


def drug_of(
    codeable: Any, medication: dict[str, Any] | None = None, domains: tuple[str, ...] = MEDICATION_DOMAINS
) -> DrugMatch:
    """The drug a medication CodeableConcept (and, for a Medication resource, its ingredients)
    names; `domains` may add e.g. "immunizations" for a vaccine order (matched by code only)."""
    match = _by_code(codeable, domains)
    if match.concept is not None:
        return match
    if medication is not None:
        ingredients: dict[str, DrugMatch] = {}
        for item in as_list(medication.get("ingredient")):
            m = _by_code(as_dict(item).get("itemCodeableConcept"), MEDICATION_DOMAINS)
            if m.concept is not None:
                ingredients.setdefault(m.concept.key, m)
        if len(ingredients) == 1:
            return next(iter(ingredients.values()))
    cc = as_dict(codeable)
    if "medications" in domains and (_has_rxnorm_code(cc) or (medication and _ingredient_has_rxnorm(medication))):
        return _by_name(cc, medication)
    return NOT_RECOGNISED


def _ingredient_has_rxnorm(medication: dict[str, Any]) -> bool:
    return any(_has_rxnorm_code(as_dict(as_dict(item).get("itemCodeableConcept")))
               for item in as_list(medication.get("ingredient")))


def medication_of_resource(med: dict[str, Any]) -> DrugMatch:
    """The drug of a Medication resource (its code, else its ingredients, else by name)."""
    return drug_of(med.get("code"), med)


def reference_display(ref: Any) -> str | None:
    """How a Reference names what it points to (its display), for a card naming a drug that
    could not be resolved."""
    display = as_dict(ref).get("display")
    if isinstance(display, str) and display.strip():
        return display.strip()[:120]
    return None
