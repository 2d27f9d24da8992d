"""Site concept maps: a hospital's own codes -> the codes the service recognises.

A site names FHIR R4 ConceptMap JSON files (or folders of them) in `GMG_CDS_CONCEPT_MAPS`
(comma-separated). They are read and checked once, when the service (or the CLI) starts, and
folded into the terminology index (`terminology.use_concept_maps`): recognising a coding stays
one dictionary look-up per request, whatever the size of the maps.

Semantics (FHIR R4 ConceptMap, https://hl7.org/fhir/R4/conceptmap.html):
- `group.source` / `group.target` are the code systems; `group.element.code` -> `target.code`.
- `target.equivalence` (R4) is honoured when it says the source means the target: `equivalent`,
  `equal`, `wider` (the target is wider than the source: a site's "MG-ADL total, clinic form"
  is an MG-ADL total), `subsumes`, `specializes`, `inexact`; a missing equivalence is read as
  `equivalent` (STU3's default). `unmatched` and `disjoint` are ignored, as are `narrower` and
  `relatedto` (the source does not then mean the target). An R5 `relationship` is read the same
  way: `equivalent` and `source-is-narrower-than-target` are honoured, the others ignored.
- A target with `dependsOn` or `product` is conditional: the service cannot check the condition,
  so it is not used (a warning names it at start).
- Codes (and JSON numbers written where a code belongs) are read as strings; systems are
  normalised as the terminology normalises them (`urn:oid:` with or without the prefix, trailing
  slash, known aliases).

Checks (each stops the start with a message naming the file and the element):
- a path that does not exist, a file that is not JSON, a document that is not a ConceptMap (or a
  Bundle of ConceptMaps), a group without a source or target system, an element without a code,
  an honoured target without a code;
- a target in one of the project's own code systems (https://gmg-cds.github.io/fhir/CodeSystem/…,
  terminology/data/local.json) whose code does not exist there;
- one source code with two conflicting targets (in one file or across files): targets the
  service recognises as different concepts, two different codes of one target system, or a
  source code the service already recognises as another concept (a code it already recognises
  keeps that recognition; a map to an external code it does not use changes nothing).
Targets in external code systems (LOINC, RxNorm, SNOMED CT …) are accepted even when the service
does not use them: a site may map its whole lab catalogue (the readiness command lists them).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

log = logging.getLogger("gmg_cds.terminology")

HONOURED = frozenset({"equivalent", "equal", "wider", "subsumes", "specializes", "inexact"})
IGNORED = frozenset({"unmatched", "disjoint", "narrower", "relatedto"})
# R5 ConceptMap.group.element.target.relationship
R5_HONOURED = frozenset({"equivalent", "source-is-narrower-than-target"})
R5_IGNORED = frozenset({"source-is-broader-than-target", "related-to", "not-related-to"})
PROJECT_SYSTEMS = "https://gmg-cds.github.io/fhir/CodeSystem/"


class ConceptMapError(ValueError):
    """A site concept map that cannot be used; the message names the file and the element."""


@dataclass(frozen=True)
class SiteMapping:
    """One honoured mapping of one source code."""

    source_system: str  # normalised
    source_code: str
    target_system: str  # normalised
    target_code: str
    equivalence: str
    display: str | None  # the site's text for the source code (element.display), if given
    file: str
    element: str  # where in the file: 'ConceptMap "id" group[0] element[3]'


@dataclass(frozen=True)
class SiteConceptMaps:
    """The honoured mappings of a site's ConceptMap files, checked (one target per source code)."""

    files: tuple[str, ...]
    mappings: tuple[SiteMapping, ...]

    def __len__(self) -> int:
        return len(self.mappings)


def paths_of(setting: str | Iterable[str]) -> tuple[str, ...]:
    """The paths of GMG_CDS_CONCEPT_MAPS (comma-separated, or already a list)."""
    items = setting.split(",") if isinstance(setting, str) else list(setting)
    return tuple(p.strip() for p in items if isinstance(p, str) and p.strip())


def _files(paths: Iterable[str]) -> list[Path]:
    out: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".json")
            if not found:
                raise ConceptMapError(f"GMG_CDS_CONCEPT_MAPS: {raw}: folder holds no .json ConceptMap file")
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            raise ConceptMapError(f"GMG_CDS_CONCEPT_MAPS: {raw}: no such file or folder")
    return list(dict.fromkeys(out))


def _text(value: Any) -> str | None:
    """A code or system as a stripped string; a JSON number is read as its digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _concept_maps(doc: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    """(label, ConceptMap) of a document: a ConceptMap, or a Bundle of them."""
    if not isinstance(doc, dict):
        raise ConceptMapError(f"{where}: not a FHIR ConceptMap (a JSON object is needed)")
    rtype = doc.get("resourceType")
    if rtype == "ConceptMap":
        return [(_label(doc), doc)]
    if rtype == "Bundle":
        out = []
        for i, entry in enumerate(doc.get("entry") or []):
            res = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(res, dict) or res.get("resourceType") != "ConceptMap":
                raise ConceptMapError(f"{where}: entry[{i}] is not a ConceptMap")
            out.append((f"entry[{i}] {_label(res)}", res))
        if not out:
            raise ConceptMapError(f"{where}: Bundle without ConceptMap entries")
        return out
    raise ConceptMapError(f"{where}: resourceType is {rtype!r}, not ConceptMap")


def _label(cm: dict[str, Any]) -> str:
    for key in ("id", "name", "url"):
        if isinstance(cm.get(key), str) and cm[key].strip():
            return f'ConceptMap "{cm[key].strip()}"'
    return "ConceptMap"


def _equivalence(target: dict[str, Any], where: str) -> tuple[str, bool]:
    """(the stated equivalence, whether it is honoured)."""
    if "relationship" in target and "equivalence" not in target:
        rel = target.get("relationship")
        if rel in R5_HONOURED:
            return str(rel), True
        if rel in R5_IGNORED:
            return str(rel), False
        raise ConceptMapError(f"{where}: unknown relationship {rel!r}")
    eq = target.get("equivalence", "equivalent")
    if eq in HONOURED:
        return str(eq), True
    if eq in IGNORED:
        return str(eq), False
    raise ConceptMapError(f"{where}: unknown equivalence {eq!r}")


def _read_file(path: Path, normalise: Callable[[str], str]) -> list[SiteMapping]:
    name = str(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConceptMapError(f"GMG_CDS_CONCEPT_MAPS: {name}: cannot be read ({type(exc).__name__})") from exc
    except ValueError as exc:
        raise ConceptMapError(f"GMG_CDS_CONCEPT_MAPS: {name}: not valid JSON ({exc})") from exc
    out: list[SiteMapping] = []
    for label, cm in _concept_maps(doc, f"GMG_CDS_CONCEPT_MAPS: {name}"):
        groups = cm.get("group")
        if not isinstance(groups, list):
            raise ConceptMapError(f"GMG_CDS_CONCEPT_MAPS: {name}: {label}: no group list")
        for gi, group in enumerate(groups):
            gwhere = f"GMG_CDS_CONCEPT_MAPS: {name}: {label} group[{gi}]"
            if not isinstance(group, dict):
                raise ConceptMapError(f"{gwhere}: not an object")
            source = _text(group.get("source"))
            target_system = _text(group.get("target"))
            if source is None:
                raise ConceptMapError(f"{gwhere}: no source system (group.source)")
            elements = group.get("element")
            if not isinstance(elements, list):
                raise ConceptMapError(f"{gwhere}: no element list")
            for ei, element in enumerate(elements):
                ewhere = f"{gwhere} element[{ei}]"
                if not isinstance(element, dict):
                    raise ConceptMapError(f"{ewhere}: not an object")
                code = _text(element.get("code"))
                if code is None:
                    raise ConceptMapError(f"{ewhere}: no code")
                ewhere = f"{ewhere} (code {code!r})"
                display = element.get("display") if isinstance(element.get("display"), str) else None
                targets = element.get("target") or []
                if not isinstance(targets, list):
                    raise ConceptMapError(f"{ewhere}: target is not a list")
                for ti, target in enumerate(targets):
                    twhere = f"{ewhere} target[{ti}]"
                    if not isinstance(target, dict):
                        raise ConceptMapError(f"{twhere}: not an object")
                    equivalence, honoured = _equivalence(target, twhere)
                    if not honoured:
                        continue
                    if target.get("dependsOn") or target.get("product"):
                        log.warning("concept map target with dependsOn/product not used: %s", twhere)
                        continue
                    tcode = _text(target.get("code"))
                    if tcode is None:
                        raise ConceptMapError(f"{twhere}: {equivalence} target without a code")
                    if target_system is None:
                        raise ConceptMapError(f"{gwhere}: no target system (group.target)")
                    out.append(
                        SiteMapping(
                            source_system=normalise(source),
                            source_code=code,
                            target_system=normalise(target_system),
                            target_code=tcode,
                            equivalence=equivalence,
                            display=display.strip() if display and display.strip() else None,
                            file=name,
                            element=f"{label} group[{gi}] element[{ei}]",
                        )
                    )
    return out


def load_concept_maps(paths: str | Iterable[str]) -> SiteConceptMaps:
    """Read and check a site's ConceptMap files (GMG_CDS_CONCEPT_MAPS); ConceptMapError when one
    cannot be used. Checks against the project's own terminology (terminology/data)."""
    import terminology

    files = _files(paths_of(paths))
    mappings: list[SiteMapping] = []
    for path in files:
        mappings.extend(_read_file(path, terminology.normalise_system))
    return SiteConceptMaps(files=tuple(str(p) for p in files), mappings=tuple(_checked(mappings)))


def _where(m: SiteMapping) -> str:
    return f"GMG_CDS_CONCEPT_MAPS: {m.file}: {m.element} (code {m.source_code!r})"


def _checked(mappings: list[SiteMapping]) -> list[SiteMapping]:
    """One mapping per source code; raises on an unknown project code or a conflict."""
    import terminology

    static = terminology.static_concept_for
    chosen: dict[tuple[str, str], SiteMapping] = {}
    for m in mappings:
        target = static(m.target_system, m.target_code)
        if m.target_system.startswith(PROJECT_SYSTEMS) and target is None:
            raise ConceptMapError(
                f"{_where(m)}: target code {m.target_code!r} does not exist in {m.target_system} "
                "(the project's own codes: terminology/data/local.json)"
            )
        already = static(m.source_system, m.source_code)
        if already is not None:
            if target is not None and target.key != already.key:
                raise ConceptMapError(
                    f"{_where(m)}: {m.source_system}|{m.source_code} is already recognised as "
                    f"{already.key!r}; the map gives {m.target_system}|{m.target_code} ({target.key!r})"
                )
            continue  # the service's own recognition of a standard code stands
        key = (m.source_system, m.source_code)
        first = chosen.get(key)
        if first is None:
            chosen[key] = m
            continue
        if (first.target_system, first.target_code) == (m.target_system, m.target_code):
            continue
        first_concept = static(first.target_system, first.target_code)
        same_system = first.target_system == m.target_system
        differ = (
            first_concept is not None and target is not None and first_concept.key != target.key
        )
        if same_system or differ:
            raise ConceptMapError(
                f"{_where(m)}: conflicting targets for {m.source_system}|{m.source_code}: "
                f"{first.target_system}|{first.target_code} ({first.file}: {first.element}) and "
                f"{m.target_system}|{m.target_code}"
            )
        if first_concept is None and target is not None:
            chosen[key] = m  # the target the service recognises is the one that counts
    return list(chosen.values())
