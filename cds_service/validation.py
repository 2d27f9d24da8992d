"""JSON Schema validation of requests and responses against the project's own CDS Hooks 2.0.1
schemas (cds_service/schemas/*.json). No official schema exists for 2.0.1 (SPEC-NOTES §5), so
the project writes and owns these. Validators are built once per process.

Error messages name the field (a dotted path) and the reason, and never echo the value sent:
request values may be patient data.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

SCHEMA_FILES = (
    "request.json",
    "context-patient-view.json",
    "context-order-select.json",
    "context-order-sign.json",
    "feedback.json",
    "response.json",
    "discovery.json",
)
CONTEXT_SCHEMAS = {
    "patient-view": "context-patient-view.json",
    "order-select": "context-order-select.json",
    "order-sign": "context-order-sign.json",
}


@lru_cache(maxsize=1)
def _schemas() -> dict[str, dict[str, Any]]:
    base = resources.files("cds_service.schemas")
    return {name: json.loads(base.joinpath(name).read_text(encoding="utf-8")) for name in SCHEMA_FILES}


@lru_cache(maxsize=1)
def _registry() -> Registry:
    return Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in _schemas().values()
    )


@lru_cache(maxsize=None)
def validator(name: str) -> Draft202012Validator:
    schema = _schemas()[name]
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(
        schema, registry=_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def warm() -> None:
    for name in SCHEMA_FILES:
        validator(name)


def _path(parts: Iterable[Any], prefix: str) -> str:
    out = prefix
    for p in parts:
        out = f"{out}[{p}]" if isinstance(p, int) else (f"{out}.{p}" if out else str(p))
    return out or "(body)"


def describe(error: ValidationError, prefix: str = "") -> tuple[str, str]:
    """(field path, reason) for one schema error, without the offending value."""
    where = _path(error.absolute_path, prefix)
    kind = error.validator
    if kind == "required":
        present = error.instance if isinstance(error.instance, dict) else {}
        missing = [k for k in error.validator_value if k not in present]
        field = _path([*error.absolute_path, missing[0]], prefix) if missing else where
        return field, "is required"
    if kind == "dependentRequired":
        present = error.instance if isinstance(error.instance, dict) else {}
        for trigger, needed in error.validator_value.items():
            if trigger in present:
                for n in needed:
                    if n not in present:
                        return _path([*error.absolute_path, n], prefix), f"is required when {trigger} is present"
        return where, "is missing a dependent field"
    if kind == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return where, f"must be of type {expected}"
    if kind in ("pattern", "format"):
        return where, "has an invalid format"
    if kind == "const":
        return where, f"must be {json.dumps(error.validator_value)}"
    if kind == "enum":
        return where, "must be one of " + ", ".join(json.dumps(v) for v in error.validator_value)
    if kind in ("minLength", "minItems", "minProperties"):
        return where, "must not be empty"
    if kind in ("maxLength", "maxItems"):
        return where, f"is too long (max {error.validator_value})"
    if kind == "anyOf":
        return where, "must have at least one of the allowed shapes"
    return where, f"is invalid ({kind})"


def first_error(name: str, document: Any, prefix: str = "") -> tuple[str, str] | None:
    """The most relevant schema error as (field, reason), or None when the document is valid."""
    err = best_match(validator(name).iter_errors(document))
    return None if err is None else describe(err, prefix)


def errors(name: str, document: Any) -> list[str]:
    """All errors as readable strings (for tests and the CLI)."""
    return [
        "{}: {}".format(*describe(e))
        for e in sorted(validator(name).iter_errors(document), key=lambda e: list(e.absolute_path))
    ]
