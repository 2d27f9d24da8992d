"""Code systems and value sets the rules need, read from data files.

The data lives in `terminology/data/*.json` (one file per domain: conditions, observations,
medications, procedures, immunizations, local code systems). Each concept has a key (the word
the rest of the project uses: "azathioprine", "achr-binding", "iga"), the classes it belongs to
("glucocorticoid", "nsist", "c5-inhibitor", ...) and its codes, each code with its display and
the source it was verified from (../shared/knowledge/terminology.md).

Everything is loaded once, at first use, into dictionaries; a lookup is a dict access. A site's
concept maps (GMG_CDS_CONCEPT_MAPS, terminology/concept_maps.py) are folded into the same
dictionaries once, at start (`configure_concept_maps`): a site code is then recognised exactly
as its target, by the same single look-up.

Recognition reads codes liberally: a system is matched in every spelling real data uses
(`urn:oid:` with or without the prefix, http/https, trailing slash, known aliases:
`normalise_system`), and a JSON number sent where FHIR wants a code string is read as its
digits (`code_text`).

Public API (the rest of the project uses only these):
    concept_for(system, code)        -> Concept | None
    concept_for_codings(codings, domains=()) -> Concept | None  # FHIR Coding dicts, first
                                                           recognised (of one of `domains`)
    concepts_for_codings(codings)    -> list[Concept]    # every recognised coding, in order
    concept(key)                     -> Concept          # KeyError for an unknown key
    concepts_in_domain(domain)       -> tuple[Concept, ...]  # every concept of one data file's
                                                           domain ("medications", "procedures",
                                                           ...), in key order; () if unknown
    members(drug_class)              -> frozenset[str]   # concept keys in a class
    coding_for(key, system)          -> Code | None      # e.g. the LOINC of a lab, the RxNorm
                                                           ingredient of a drug, a CVX
    units.convert(value, from_unit, to_unit, molar_mass=None) -> float | None

Site concept maps (what a site's ConceptMaps make recognisable; the data-readiness command asks
"is this coding recognised, and as what"):
    configure_concept_maps(paths)    -> SiteConceptMaps | None  # read, check, fold in (at start);
                                                           ConceptMapError names file and element
    use_concept_maps(maps | None)    # fold already-loaded maps in (None: the project's codes only)
    recognise(system, code)          -> Recognition      # .concept (or None), .site_mapping (the
                                                           SiteMapping it came through, or None),
                                                           .via_site_map
    site_mapping(system, code)       -> SiteMapping | None  # the site map entry of a coding
    site_display(codings, concept)   -> str | None       # the site's text of the coding that a
                                                           site map recognised as `concept`
    active_concept_maps()            -> SiteConceptMaps | None  # what is folded in now

Helpers added for the mappings and rules (built on the above):
    ingredient_for(system, code)     -> Concept | None   # medication concept for an ingredient,
                                                           product (SCD/SBD), brand or ATC code
    ingredient_by_name(name)         -> Concept | None   # RxNorm product name -> its ingredient
                                                           ("ciprofloxacin 500 MG Oral Tablet")
    in_class(system, code, cls)      -> bool
    value_set(cls, system=None)      -> frozenset[tuple[str, str]]  # (system, code) of a class
    canonical_unit(key)              -> str | None       # the UCUM unit a lab/vital maps to
    to_canonical(key, value, unit)   -> float | None     # value in canonical_unit(key)
    normalise_system(system)         -> str              # the canonical spelling of a system
    code_text(code)                  -> str | None       # a code as a string (numbers read)

Data format, sources and how to add a code: terminology/README.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
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
    # finds the codes of a system with one dict access for the usual spellings; a spelling not
    # listed here goes through normalise_system. Site concept maps are folded in here too.
    by_system: dict[str, dict[str, Concept]]
    # normalised source system -> code -> the site mapping it came through (empty without maps)
    site: dict[str, dict[str, SiteMapping]] = field(default_factory=dict)


_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")


@lru_cache(maxsize=4096)
def normalise_system(system: str) -> str:
    """The canonical spelling of a code system URI: blanks and a trailing slash dropped, an OID
    written as `urn:oid:<oid>` (with or without the prefix, any case of it), known aliases
    (systems.ALIASES: OIDs of LOINC, SNOMED CT, RxNorm ..., https spellings) replaced."""
    s = system.strip().rstrip("/")
    if s[:8].lower() == "urn:oid:":
        s = "urn:oid:" + s[8:]
    elif _OID.fullmatch(s):
        s = "urn:oid:" + s
    return systems.ALIASES.get(s, s)


def code_text(code: Any) -> str | None:
    """A code as FHIR wants it, a string. A JSON number sent where a code belongs is read as its
    digits (an RxNorm code sent as 309309 is the code "309309"); anything else is not a code."""
    if type(code) is str:
        return code
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return str(code)
    if isinstance(code, float) and code == code and abs(code) < 1e18:
        return str(int(code)) if code.is_integer() else repr(code)
    if isinstance(code, str):
        return str(code)
    return None


@lru_cache(maxsize=1)
def _static_index() -> _Index:
    """The project's own codes (terminology/data), without any site map."""
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
                        system=normalise_system(c["system"]),
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
    return _Index(
        by_code=by_code,
        by_key=by_key,
        by_class={k: frozenset(v) for k, v in classes.items()},
        by_system=_by_system(by_code),
    )


def _by_system(by_code: dict[tuple[str, str], Concept]) -> dict[str, dict[str, Concept]]:
    codes_of_system: dict[str, dict[str, Concept]] = {}
    for (system, code), found in by_code.items():
        # a lookup strips the code it is given, so a data code with surrounding blanks (the data
        # tests forbid them) could never be found; leaving it out keeps concept_for exact
        if code and code == code.strip():
            codes_of_system.setdefault(system, {})[code] = found
    return {
        spelling: codes_of_system.get(normalise_system(spelling), {})
        for spelling in (*codes_of_system, *systems.ALIASES)
    }


# The index in use: the static one, or the static one with the site's concept maps folded in.
_current: _Index | None = None
_maps: SiteConceptMaps | None = None


def _index() -> _Index:
    global _current
    if _current is None:
        _current = _static_index()
    return _current


def static_concept_for(system: str, code: str) -> Concept | None:
    """concept_for over the project's own codes only (no site map): checks the site maps."""
    return _static_index().by_code.get((normalise_system(system), code.strip()))


def use_concept_maps(maps: SiteConceptMaps | None) -> None:
    """Fold checked site maps into the index used by every look-up (None: no site map).

    Each site code becomes a key of its system's dictionary pointing at the concept its target
    names, so recognising it costs what recognising a project code costs. A mapping whose target
    the service does not use (an external code it has no concept for) is kept for `recognise`
    only. Called at start, before requests are served (and before workers fork)."""
    global _current, _maps
    static = _static_index()
    if not maps:
        _current, _maps = static, None
        return
    by_code = dict(static.by_code)
    site: dict[str, dict[str, SiteMapping]] = {}
    for m in maps.mappings:
        site.setdefault(m.source_system, {})[m.source_code] = m
        target = static.by_code.get((m.target_system, m.target_code))
        if target is not None:
            by_code.setdefault((m.source_system, m.source_code), target)
    by_system = _by_system(by_code)
    _current = _Index(by_code=by_code, by_key=static.by_key, by_class=static.by_class,
                      by_system=by_system, site=site)
    _maps = maps


def configure_concept_maps(paths: str | Iterable[str]) -> SiteConceptMaps | None:
    """Read, check and fold in a site's ConceptMaps (GMG_CDS_CONCEPT_MAPS); none when no path is
    given. Raises ConceptMapError (naming the file and element) when one cannot be used."""
    found = paths_of(paths)
    maps = load_concept_maps(found) if found else None
    use_concept_maps(maps)
    return maps


def active_concept_maps() -> SiteConceptMaps | None:
    """The site concept maps folded in now (None: the project's codes only)."""
    return _maps


def concept_for(system: str | None, code: Any) -> Concept | None:
    if type(code) is not str:
        code = code_text(code)
        if code is None:
            return None
    if not isinstance(system, str) or not system or not code:
        return None
    index = _current or _index()
    codes = index.by_system.get(system)
    if codes is None:
        codes = index.by_system.get(normalise_system(system))
        if codes is None:
            return None
    # the code as sent is tried before its stripped form
    found = codes.get(code)
    if found is None:
        stripped = code.strip()
        if stripped is not code:
            found = codes.get(stripped)
    return found


def concept_for_codings(codings: Iterable[Any] | None, domains: Collection[str] = ()) -> Concept | None:
    """The concept of the first recognised Coding (dicts as in FHIR JSON); bad items are skipped.
    With `domains`, only a concept of one of those domains counts (others are passed over), so a
    later coding of the wanted kind is found behind an earlier one of another kind."""
    if not codings or not isinstance(codings, (list, tuple)):
        return None
    for coding in codings:
        if isinstance(coding, dict):
            found = concept_for(coding.get("system"), coding.get("code"))
            if found is not None and (not domains or found.domain in domains):
                return found
    return None


def concepts_for_codings(codings: Iterable[Any] | None) -> list[Concept]:
    """Every concept the Codings are recognised as, in order (each once)."""
    out: list[Concept] = []
    if not codings or not isinstance(codings, (list, tuple)):
        return out
    for coding in codings:
        if isinstance(coding, dict):
            found = concept_for(coding.get("system"), coding.get("code"))
            if found is not None and found not in out:
                out.append(found)
    return out


@dataclass(frozen=True)
class Recognition:
    """How the service reads one coding: as which concept, and whether through a site map."""

    concept: Concept | None
    site_mapping: SiteMapping | None = None  # the site map entry it came through, if any

    @property
    def via_site_map(self) -> bool:
        return self.site_mapping is not None


def site_mapping(system: Any, code: Any) -> SiteMapping | None:
    """The site concept map entry for a coding (None without one, or without site maps)."""
    index = _current or _index()
    if not index.site or not isinstance(system, str) or not system:
        return None
    text = code_text(code)
    if not text:
        return None
    codes = index.site.get(normalise_system(system))
    return codes.get(text.strip()) if codes else None


def recognise(system: Any, code: Any) -> Recognition:
    """Is this coding recognised, and as what (and through a site map or not)?"""
    # (a code the project itself knows never has a site mapping: load_concept_maps drops it)
    return Recognition(concept=concept_for(system, code), site_mapping=site_mapping(system, code))


def site_display(codings: Iterable[Any] | None, concept: Concept) -> str | None:
    """The site's text (the coding's display as sent, else the map's element display, else the
    site code) of the coding a site map recognised as `concept`; None when no site map did."""
    index = _current or _index()
    if not index.site or not isinstance(codings, (list, tuple)):
        return None
    for coding in codings:
        if not isinstance(coding, dict):
            continue
        mapping = site_mapping(coding.get("system"), coding.get("code"))
        if mapping is None or concept_for(coding.get("system"), coding.get("code")) is not concept:
            continue
        display = coding.get("display")
        if isinstance(display, str) and display.strip():
            return display.strip()[:120]
        return mapping.display or mapping.source_code
    return None


def concept(key: str) -> Concept:
    return _index().by_key[key]


def concepts_in_domain(domain: str) -> tuple[Concept, ...]:
    """Every concept of one domain (the `domain` of its data file: "conditions", "observations",
    "medications", "procedures", "immunizations", ...), in key order; () for an unknown domain.
    Site concept maps add codes to concepts, never concepts, so this does not depend on them."""
    return _concepts_by_domain().get(domain, ())


@lru_cache(maxsize=1)
def _concepts_by_domain() -> dict[str, tuple[Concept, ...]]:
    out: dict[str, list[Concept]] = {}
    for key in sorted(_static_index().by_key):
        found = _static_index().by_key[key]
        out.setdefault(found.domain, []).append(found)
    return {domain: tuple(found) for domain, found in out.items()}


def members(drug_class: str) -> frozenset[str]:
    return _index().by_class.get(drug_class, frozenset())


def coding_for(key: str, system: str) -> Code | None:
    """The first code of a concept in a system (the preferred one is listed first in the data)."""
    system = normalise_system(system)
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
    wanted = normalise_system(system) if system else None
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
    """Load every data file now (called at app start so no request pays for it): the codes, the
    ingredient names RxNorm product names are read by, and the words of MGFA class and PIS."""
    _index()
    product_names.warm()
    value_text.warm()


from .concept_maps import (  # noqa: E402  (uses the functions above when called)
    ConceptMapError,
    SiteConceptMaps,
    SiteMapping,
    load_concept_maps,
    paths_of,
)
from . import product_names, value_text  # noqa: E402
from .product_names import ingredient_by_name  # noqa: E402
from .value_text import value_for_text  # noqa: E402
