"""Code systems and value sets the rules need, read from data files.

The data lives in `terminology/data/*.json` (one file per domain: conditions, observations,
medications, procedures, immunizations, local code systems). Each concept has a key (the word
the rest of the project uses: "azathioprine", "achr-binding", "iga"), the classes it belongs to
("glucocorticoid", "nsist", "c5-inhibitor", ...) and its codes, each code with its display and
the source it was verified from (../shared/knowledge/terminology.md).

Everything is loaded once, at first use, into dictionaries; a lookup is a dict access.

Public API (the rest of the project uses only these):
    concept_for(system, code)        -> Concept | None
    concept_for_codings(codings, domains=()) -> Concept | None  # FHIR Coding dicts, first
                                                           recognised (of one of `domains`)
    concept(key)                     -> Concept          # KeyError for an unknown key
    members(drug_class)              -> frozenset[str]   # concept keys in a class
    coding_for(key, system)          -> Code | None      # e.g. the LOINC of a lab, the RxNorm
                                                           ingredient of a drug, a CVX
    units.convert(value, from_unit, to_unit, molar_mass=None) -> float | None

Helpers added for the mappings and rules (built on the above):
    ingredient_for(system, code)     -> Concept | None   # medication concept for an ingredient,
                                                           product (SCD/SBD), brand or ATC code
    in_class(system, code, cls)      -> bool
    value_set(cls, system=None)      -> frozenset[tuple[str, str]]  # (system, code) of a class
    canonical_unit(key)              -> str | None       # the UCUM unit a lab/vital maps to
    to_canonical(key, value, unit)   -> float | None     # value in canonical_unit(key)

Data format, sources and how to add a code: terminology/README.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Collection, Iterable

from . import systems  # noqa: F401  (re-exported system URIs)
from . import units  # noqa: F401

DATA_PACKAGE = "terminology.data"


@dataclass(frozen=True)
class Code:
    system: str
    code: str
    display: str
    source: str  # where the code and display were verified
    role: str = "concept"  # "ingredient" | "product" | "atc" | "atc-legacy" | "concept" | ...


@dataclass(frozen=True)
class Concept:
    key: str
    domain: str  # the data file it came from: "conditions", "observations", "medications", ...
    display: str
    classes: frozenset[str]
    codes: tuple[Code, ...]
    attributes: tuple[tuple[str, Any], ...] = ()  # extra per-concept data (e.g. default unit)

    def __post_init__(self) -> None:
        # attribute() is read per observation in the mappings: the dict is built once here
        # rather than at every call (not a field, so equality and hashing are unchanged).
        object.__setattr__(self, "_attribute_map", dict(self.attributes))

    def attribute(self, name: str, default: Any = None) -> Any:
        return self._attribute_map.get(name, default)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class _Index:
    by_code: dict[tuple[str, str], Concept]
    by_key: dict[str, Concept]
    by_class: dict[str, frozenset[str]]
    # system as it may be spelt (canonical URI and every alias) -> code -> concept: concept_for
    # finds the codes of a system with one dict access for the usual spellings (built from the
    # static data only; a spelling not listed here goes through _normalise_system).
    by_system: dict[str, dict[str, Concept]]


def _normalise_system(system: str) -> str:
    return systems.ALIASES.get(system.rstrip("/"), system.rstrip("/"))


@lru_cache(maxsize=1)
def _index() -> _Index:
    by_code: dict[tuple[str, str], Concept] = {}
    by_key: dict[str, Concept] = {}
    classes: dict[str, set[str]] = {}
    for entry in sorted(resources.files(DATA_PACKAGE).iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".json"):
            continue
        doc = json.loads(entry.read_text(encoding="utf-8"))
        domain = doc["domain"]
        for raw in doc["concepts"]:
            concept = Concept(
                key=raw["key"],
                domain=domain,
                display=raw["display"],
                classes=frozenset(raw.get("classes", ())),
                codes=tuple(
                    Code(
                        system=_normalise_system(c["system"]),
                        code=c["code"],
                        display=c["display"],
                        source=c["source"],
                        role=c.get("role", "concept"),
                    )
                    for c in raw["codes"]
                ),
                attributes=tuple(sorted(raw.get("attributes", {}).items())),
            )
            if concept.key in by_key:
                raise ValueError(f"terminology: concept key {concept.key!r} defined twice")
            by_key[concept.key] = concept
            for drug_class in concept.classes:
                classes.setdefault(drug_class, set()).add(concept.key)
            for c in concept.codes:
                k = (c.system, c.code)
                if k in by_code and by_code[k].key != concept.key:
                    raise ValueError(
                        f"terminology: code {c.system}|{c.code} maps to both "
                        f"{by_code[k].key!r} and {concept.key!r}"
                    )
                by_code[k] = concept
    codes_of_system: dict[str, dict[str, Concept]] = {}
    for (system, code), found in by_code.items():
        # a lookup strips the code it is given, so a data code with surrounding blanks (the data
        # tests forbid them) could never be found; leaving it out keeps concept_for exact
        if code and code == code.strip():
            codes_of_system.setdefault(system, {})[code] = found
    by_system = {
        spelling: codes_of_system.get(_normalise_system(spelling), {})
        for spelling in (*codes_of_system, *systems.ALIASES)
    }
    return _Index(
        by_code=by_code,
        by_key=by_key,
        by_class={k: frozenset(v) for k, v in classes.items()},
        by_system=by_system,
    )


def concept_for(system: str | None, code: str | None) -> Concept | None:
    if not isinstance(system, str) or not isinstance(code, str) or not system or not code:
        return None
    index = _index()
    codes = index.by_system.get(system)
    if codes is None:
        return index.by_code.get((_normalise_system(system), code.strip()))
    # the usual spelling of a system: its codes in one dict access, the code as sent tried
    # before its stripped form (same answer as by_code.get((_normalise_system(system), code.strip()))
    found = codes.get(code)
    if found is None:
        stripped = code.strip()
        if stripped is not code:
            found = codes.get(stripped)
    return found


def concept_for_codings(codings: Iterable[Any] | None, domains: Collection[str] = ()) -> Concept | None:
    """The concept of the first recognised Coding (dicts as in FHIR JSON); bad items are skipped.
    With `domains`, only a concept of one of those domains counts (others are passed over)."""
    if not codings or not isinstance(codings, (list, tuple)):
        return None
    for coding in codings:
        if isinstance(coding, dict):
            found = concept_for(coding.get("system"), coding.get("code"))
            if found is not None and (not domains or found.domain in domains):
                return found
    return None


def concept(key: str) -> Concept:
    return _index().by_key[key]


def members(drug_class: str) -> frozenset[str]:
    return _index().by_class.get(drug_class, frozenset())


def coding_for(key: str, system: str) -> Code | None:
    """The first code of a concept in a system (the preferred one is listed first in the data)."""
    system = _normalise_system(system)
    for c in concept(key).codes:
        if c.system == system:
            return c
    return None


def ingredient_for(system: str | None, code: str | None) -> Concept | None:
    """The medication concept (ingredient level) of an RxNorm ingredient/product/brand or ATC code."""
    found = concept_for(system, code)
    if found is None or found.domain != "medications":
        return None
    return found


def in_class(system: str | None, code: str | None, cls: str) -> bool:
    found = concept_for(system, code)
    return found is not None and cls in found.classes


def value_set(cls: str, system: str | None = None) -> frozenset[tuple[str, str]]:
    """Every (system, code) whose concept is in `cls`, optionally limited to one system."""
    wanted = _normalise_system(system) if system else None
    index = _index()
    return frozenset(
        (c.system, c.code)
        for key in index.by_class.get(cls, frozenset())
        for c in index.by_key[key].codes
        if wanted is None or c.system == wanted
    )


def canonical_unit(key: str) -> str | None:
    """The UCUM unit values of this concept are converted to (attribute "unit"), if it has one."""
    found = _index().by_key.get(key)
    return None if found is None else found.attribute("unit")


def to_canonical(key: str, value: Any, unit: str | None) -> float | None:
    """`value` (in `unit`) expressed in the concept's canonical unit; None if not convertible."""
    found = _index().by_key.get(key)
    if found is None or found.attribute("unit") is None:
        return None
    return units.convert(value, unit, found.attribute("unit"), found.attribute("molar_mass_g_per_mol"))


def warm() -> None:
    """Load every data file now (called at app start so no request pays for it)."""
    _index()
