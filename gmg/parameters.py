"""The versioned clinical parameter set (gmg/parameters.toml) and site overrides.

Every threshold the rules use is read from here with its provenance tag, so that a card can
show the parameter-set version and name the interim defaults (D-mid, D-lo, K) that decided it.

Tags (gmg-rules.md §0; background/clinical-sources-2.md for D-mid): V verified from a retrieved
source; D-hi decoded from the consensus OCR with high confidence; D-mid decoded with medium
confidence from anchored glyphs (a mis-read glyph whose reading is certain elsewhere in the same
text fixes it here) but not read in clean text; D-lo decoded with low confidence or an interim
default; K from a named label or paper, not re-read here; I a design decision of this project.
D-mid is still a decoding of a garbled copy, so cards name it beside D-lo and K ("interim: verify
against the published consensus") until a clean copy confirms it.

A threshold compared with a value has a `comparator` where the source fixes it (">=", ">", "<=",
"<": the value passes when `value <comparator> threshold`); `Parameters.passes` applies it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

TAGS = frozenset({"V", "D-hi", "D-mid", "D-lo", "K", "I"})
INTERIM_TAGS = frozenset({"D-mid", "D-lo", "K"})  # named on a card when they decide its outcome
COMPARATORS: dict[str, Any] = {
    ">=": lambda value, threshold: value >= threshold,
    ">": lambda value, threshold: value > threshold,
    "<=": lambda value, threshold: value <= threshold,
    "<": lambda value, threshold: value < threshold,
}


class ParameterError(ValueError):
    pass


@dataclass(frozen=True)
class ParameterEntry:
    id: str
    value: Any
    tag: str
    source: str
    unit: str | None = None
    overridden: bool = False
    comparator: str | None = None  # how a value is compared with this threshold (">=", ">", "<=", "<")

    @property
    def is_interim(self) -> bool:
        return self.tag in INTERIM_TAGS and not self.overridden


@dataclass(frozen=True)
class Parameters:
    version: str
    entries: dict[str, ParameterEntry]

    def __getitem__(self, parameter_id: str) -> Any:
        return self.entries[parameter_id].value

    def entry(self, parameter_id: str) -> ParameterEntry:
        return self.entries[parameter_id]

    def passes(self, parameter_id: str, value: float) -> bool:
        """`value <comparator> threshold` for a threshold parameter with a comparator."""
        e = self.entries[parameter_id]
        if e.comparator is None:
            raise ParameterError(f"parameter {parameter_id!r} has no comparator")
        return bool(COMPARATORS[e.comparator](value, e.value))

    def interim(self, *parameter_ids: str) -> tuple[ParameterEntry, ...]:
        """The D-lo / K entries among these ids (what a card must name when they decided it)."""
        return tuple(self.entries[p] for p in parameter_ids if self.entries[p].is_interim)


def _read_entries(doc: dict[str, Any], origin: str) -> dict[str, ParameterEntry]:
    out: dict[str, ParameterEntry] = {}
    for key, raw in doc.items():
        if key == "version":
            continue
        if not isinstance(raw, dict) or "value" not in raw:
            raise ParameterError(f"{origin}: parameter {key!r} needs a table with a value")
        tag = raw.get("tag")
        if tag not in TAGS:
            raise ParameterError(f"{origin}: parameter {key!r} has tag {tag!r}")
        if not raw.get("source"):
            raise ParameterError(f"{origin}: parameter {key!r} has no source")
        comparator = raw.get("comparator")
        if comparator is not None and comparator not in COMPARATORS:
            raise ParameterError(f"{origin}: parameter {key!r} has comparator {comparator!r}")
        out[key] = ParameterEntry(key, raw["value"], tag, raw["source"], raw.get("unit"), comparator=comparator)
    return out


def _apply_override(base: Parameters, override: dict[str, Any], origin: str) -> Parameters:
    entries = dict(base.entries)
    for key, raw in override.items():
        if key == "version":
            continue
        if key not in entries:
            raise ParameterError(f"{origin}: unknown parameter {key!r}")
        value = raw.get("value") if isinstance(raw, dict) else raw
        old = entries[key]
        if type(value) is not type(old.value) and not (
            isinstance(value, (int, float)) and isinstance(old.value, (int, float))
        ):
            raise ParameterError(f"{origin}: parameter {key!r} must keep the type of its default")
        source = raw.get("source", f"site override ({origin})") if isinstance(raw, dict) else (
            f"site override ({origin})"
        )
        entries[key] = ParameterEntry(key, value, old.tag, source, old.unit, overridden=True, comparator=old.comparator)
    site_version = str(override.get("version", "site"))
    return Parameters(version=f"{base.version}+{site_version}", entries=entries)


@lru_cache(maxsize=8)
def load(override_path: str | None = None) -> Parameters:
    """The default parameter set, with a site override file applied when given. Cached."""
    text = resources.files("gmg").joinpath("parameters.toml").read_text(encoding="utf-8")
    doc = tomllib.loads(text)
    params = Parameters(version=str(doc["version"]), entries=_read_entries(doc, "parameters.toml"))
    if override_path:
        path = Path(override_path)
        with path.open("rb") as fh:
            params = _apply_override(params, tomllib.load(fh), path.name)
    return params
