"""An RxNorm product name -> the ingredient concept it names.

Order entry sends product codes (RxNorm SCD/SBD/GPCK/BPCK: "ciprofloxacin 500 MG Oral Tablet",
code 309309) and the terminology lists only some products. RxNorm's normalised names begin with
the ingredient (product_names.json says how, with its source), so a product the terminology does
not list is still recognised by its ingredient when its name is an RxNorm product name:

- the name, lower-cased, loses a pack prefix ("{21 (") and a quantity ("100 ML ");
- it must then begin with an ingredient name the terminology lists (the displays of its
  ingredient codes: IN/PIN), optionally followed by a salt word ("metoprolol tartrate"), and
  what follows must be a strength, the end of the name, " / " (another ingredient) or "[";
- every ingredient of a multi-ingredient name (" / ") is read: the name is recognised when
  exactly one concept the service knows is named (several different ones: not recognised);
- a non-systemic dose form (ophthalmic, topical ...) is not recognised, as the terminology lists
  systemic products only.
An ingredient name shared by two concepts is left out (never a guess). Results are kept per
name (bounded), so a chart's repeated product names cost one parse each.

A product name also ends with its dose form: `route_by_dose_form` says "oral" for the oral forms
product_names.json lists, and nothing otherwise (an injection may be IV, IM or SC).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import Concept

_PACK = re.compile(r"^\{\s*\d+\s*\(\s*")
_QUANTITY = re.compile(r"^\d+(\.\d+)?\s+(ml|mg|g|l|actuat|hr|unt|meq|cm2)\s+")
_AFTER_NAME = re.compile(r"^(\d|\.\d|/|\[|\(|,|$)")


@lru_cache(maxsize=1)
def _rules() -> tuple[frozenset[str], frozenset[str]]:
    doc = json.loads(resources.files("terminology").joinpath("product_names.json").read_text(encoding="utf-8"))
    return (frozenset(doc["salt_words"]["words"]), frozenset(doc["non_systemic_dose_form_words"]["words"]))


@lru_cache(maxsize=1)
def _oral_forms() -> tuple[str, ...]:
    doc = json.loads(resources.files("terminology").joinpath("product_names.json").read_text(encoding="utf-8"))
    return tuple(sorted(doc["oral_dose_forms"]["forms"], key=len, reverse=True))


_BRAND = re.compile(r"\s*\[[^\]]*\]\s*$")  # "... Oral Tablet [Medrol]"
_PACK_END = re.compile(r"\s*\)\s*\}\s*pack$")  # "{21 (prednisone 5 MG Oral Tablet) } Pack"


@lru_cache(maxsize=4096)
def route_by_dose_form(name: str) -> str | None:
    """"oral" when an RxNorm product name ends with an oral dose form ("methylprednisolone 4 MG
    Oral Tablet", "... Oral Tablet [Medrol]", a pack of oral tablets); None otherwise."""
    if not isinstance(name, str):
        return None
    text = _PACK_END.sub("", _BRAND.sub("", " ".join(name.lower().split())))
    return "oral" if any(text.endswith(" " + form) for form in _oral_forms()) else None


@lru_cache(maxsize=1)
def _names() -> tuple[dict[str, "Concept"], dict[frozenset[str], "Concept"], int]:
    """Ingredient name (lower case) -> concept; the component names of a multi-ingredient
    ingredient ("efgartigimod alfa / hyaluronidase") -> its concept; the most words a name has."""
    from . import _static_index

    found: dict[str, set[str]] = {}
    combined: dict[frozenset[str], set[str]] = {}
    concepts: dict[str, "Concept"] = {}
    for concept in _static_index().by_key.values():
        if concept.domain != "medications":
            continue
        for code in concept.codes:
            if code.role != "ingredient" or not code.display.strip():
                continue
            concepts[concept.key] = concept
            name = " ".join(code.display.lower().split())
            parts = [" ".join(p.split()) for p in name.split(" / ")]
            if len(parts) > 1:
                combined.setdefault(frozenset(parts), set()).add(concept.key)
                for part in parts:
                    found.setdefault(part, set())  # a component name, known as a name only
            else:
                found.setdefault(name, set()).add(concept.key)
    names = {name: concepts[next(iter(keys))] if len(keys) == 1 else None for name, keys in found.items()
             if len(keys) <= 1}
    combos = {parts: concepts[next(iter(keys))] for parts, keys in combined.items() if len(keys) == 1}
    most = max((len(n.split()) for n in names), default=1)
    return names, combos, most  # type: ignore[return-value]


_SUFFIX = re.compile(r"-[a-z]{4}$")  # an FDA biologic suffix: "rituximab-abbs", "hyaluronidase-qvfc"


def _ingredient_at_start(text: str) -> tuple[str, "Concept | None"] | None:
    """(the ingredient name a name part begins with, its concept or None for a name known only
    as part of a combination), longest name first; None when the part begins with no name."""
    names, _, most = _names()
    salts, _ = _rules()
    words = text.split()
    for n in range(min(most, len(words)), 0, -1):
        head = words[:n]
        for candidate in (" ".join(head), " ".join([*head[:-1], _SUFFIX.sub("", head[-1])])):
            if candidate not in names:
                continue
            rest = words[n:]
            while rest and rest[0] in salts:
                rest = rest[1:]
            if _AFTER_NAME.match(" ".join(rest)):
                return candidate, names[candidate]
    return None


@lru_cache(maxsize=4096)
def ingredient_by_name(name: str) -> "Concept | None":
    """The medication concept an RxNorm product name names, or None (see the module text)."""
    if not isinstance(name, str):
        return None
    text = " ".join(name.lower().split())
    if not text:
        return None
    _, non_systemic = _rules()
    if any(word in non_systemic for word in re.split(r"[\s/\[\](){},]+", text)):
        return None
    text = _QUANTITY.sub("", _PACK.sub("", text))
    matched: list[tuple[str, "Concept | None"]] = []
    for part in text.split(" / "):
        found = _ingredient_at_start(_QUANTITY.sub("", part.strip()))
        if found is not None:
            matched.append(found)
    if not matched:
        return None
    _, combos, _ = _names()
    combo = combos.get(frozenset(n for n, _ in matched)) if len(matched) > 1 else None
    if combo is not None:
        return combo
    keys = {c.key: c for _, c in matched if c is not None}
    return next(iter(keys.values())) if len(keys) == 1 else None


def warm() -> None:
    """Build the name tables now (at start), not on a request's first product name."""
    _rules()
    _names()
    _oral_forms()
