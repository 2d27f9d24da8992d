"""The versioned clinical parameter set (gmg/parameters.toml) and site overrides.

Every threshold the rules use is read from here with its provenance tag, so that a card can
show the parameter-set version and name the D-lo / K defaults that decided it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

TAGS = frozenset({"V", "D-hi", "D-lo", "K", "I"})
INTERIM_TAGS = frozenset({"D-lo", "K"})  # named on a card when they decide its outcome


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
        out[key] = ParameterEntry(key, raw["value"], tag, raw["source"], raw.get("unit"))
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
        entries[key] = ParameterEntry(key, value, old.tag, source, old.unit, overridden=True)
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
