"""Typed CDS Hooks 2.0.1 response models that enforce the spec's invariants on construction.

The handlers build cards from these; `cds_service` serialises them with `to_json()` and the
tests validate the JSON against the project's response schema. Invariants enforced (CDS Hooks
2.0.1, ../shared/cds-hooks/SPEC-NOTES.md §2.6 and §2.10):
- summary is one line of fewer than 140 characters;
- indicator is info | warning | critical; source.label is required;
- every card and every suggestion has a uuid (feedback needs both);
- suggestions require selectionBehavior (at-most-one | any), and at-most-one allows at most
  one recommended suggestion;
- every action has a description; create/update carry a resource, delete a resourceId;
- a link is absolute | smart, appContext only for smart;
- override reasons are Codings with system, code and display;
- nothing serialises as null, "", [] or {} (empty optionals are omitted).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

SUMMARY_MAX = 139  # the spec says "<140 characters"
INDICATORS = ("info", "warning", "critical")
SELECTION_BEHAVIORS = ("at-most-one", "any")
ACTION_TYPES = ("create", "update", "delete")
LINK_TYPES = ("absolute", "smart")


class CardContractError(ValueError):
    """A card that would break the CDS Hooks contract (a programming error, never user input)."""


class _RandomUuids:
    """Fresh random (version 4, RFC 4122 variant) uuids as strings, made straight from 16 random
    bytes: the same values `str(uuid.uuid4())` gives at less than half its cost (it builds a
    UUID object first; a patient-view call makes ~30 of them)."""

    @staticmethod
    def uuid4() -> str:
        b = bytearray(os.urandom(16))
        b[6] = (b[6] & 0x0F) | 0x40  # version 4
        b[8] = (b[8] & 0x3F) | 0x80  # variant RFC 4122
        h = b.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# The uuid source (bench.golden swaps in a numbering one to compare outputs across changes).
uuid_mod: Any = _RandomUuids


def _new_uuid() -> str:
    return str(uuid_mod.uuid4())


_CONTAINERS = (dict, list)
_EMPTIABLE = (str, list, dict)


def _has_nothing_to_prune(value: Any) -> bool:
    """True when the value certainly holds no None and no empty string/list/dict anywhere: the
    full walk would then return an equal copy. It only reads (no new containers) and stops at
    the first doubt; any type other than dict, list, str, int, float and bool is a doubt (the
    full walk decides). About half the cost of the walk on a patient-view call's ~1,600
    elements, nearly all of which have nothing to drop."""
    if type(value) is dict:
        value = value.values()
    elif type(value) is not list:
        return False
    for v in value:
        kind = type(v)
        if kind is str:
            if not v:
                return False
        elif kind is dict or kind is list:
            if not v or not _has_nothing_to_prune(v):
                return False
        elif kind not in _KEPT_LEAVES:  # None, and anything not plainly JSON
            return False
    return True


def _prune(value: Any) -> Any:
    """Drop None and empty containers/strings recursively (the spec forbids them).

    A dict or list with nothing to drop is returned as it is, not copied (what the rules and the
    suggestion builders hand to a card is built fresh for each call and only serialised);
    otherwise one pass per container, only dicts and lists walked (a leaf is returned as is).
    """
    if isinstance(value, _CONTAINERS) and value and _has_nothing_to_prune(value):
        return value
    if isinstance(value, dict):
        return _prune_dict(value)
    if isinstance(value, list):
        return _prune_list(value)
    return value


# Exact types that are kept as they are (never empty, never walked).
_KEPT_LEAVES = frozenset({int, float, bool})


def _prune_dict(value: dict[Any, Any]) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for k, v in value.items():
        kind = type(v)  # exact-type fast paths; anything else takes the general test
        if kind is str:
            if v:
                out[k] = v
        elif v is None:
            continue
        elif kind is dict:
            v = _prune_dict(v)
            if v:
                out[k] = v
        elif kind is list:
            v = _prune_list(v)
            if v:
                out[k] = v
        elif kind in _KEPT_LEAVES:
            out[k] = v
        else:
            if isinstance(v, _CONTAINERS):
                v = _prune(v)
            if v is None or (isinstance(v, _EMPTIABLE) and not v):
                continue
            out[k] = v
    return out


def _prune_list(value: list[Any]) -> list[Any]:
    items: list[Any] = []
    for v in value:
        kind = type(v)
        if kind is str:
            if v:
                items.append(v)
        elif v is None:
            continue
        elif kind is dict:
            v = _prune_dict(v)
            if v:
                items.append(v)
        elif kind is list:
            v = _prune_list(v)
            if v:
                items.append(v)
        elif kind in _KEPT_LEAVES:
            items.append(v)
        else:
            if isinstance(v, _CONTAINERS):
                v = _prune(v)
            if v is None or (isinstance(v, _EMPTIABLE) and not v):
                continue
            items.append(v)
    return items


def _pruned_items(items: tuple[Any, ...] | list[Any]) -> list[Any]:
    """`_prune` of a list, item by item (each item may take the shortcut on its own)."""
    out = []
    for item in items:
        item = _prune(item)
        if item is None or (isinstance(item, _EMPTIABLE) and not item):
            continue
        out.append(item)
    return out


def _pruned_parts(parts: dict[str, Any]) -> dict[str, Any]:
    """`_prune` for a dict whose values are leaves, already pruned dicts, or lists of already
    pruned dicts (what the models' own `to_json` return): the same result as `_prune`, without
    walking the children a second time."""
    out: dict[str, Any] = {}
    for k, v in parts.items():
        kind = type(v)  # exact-type fast paths for what the models hold; the general test after
        if kind is str or kind is dict:
            if v:
                out[k] = v
            continue
        if v is None:
            continue
        if isinstance(v, list):
            v = [item for item in v if item is not None and not (isinstance(item, _EMPTIABLE) and not item)]
        if isinstance(v, _EMPTIABLE) and not v:
            continue
        out[k] = v
    return out


@dataclass(frozen=True)
class Coding:
    system: str
    code: str
    display: str | None = None

    def to_json(self) -> dict[str, Any]:
        return _pruned_parts({"system": self.system, "code": self.code, "display": self.display})


@dataclass(frozen=True)
class Source:
    label: str
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None

    def __post_init__(self) -> None:
        if not self.label:
            raise CardContractError("source.label is required")

    def to_json(self) -> dict[str, Any]:
        return _pruned_parts(
            {
                "label": self.label,
                "url": self.url,
                "icon": self.icon,
                "topic": self.topic.to_json() if self.topic else None,
            }
        )


@dataclass(frozen=True)
class Action:
    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = None
    resource_id: str | None = None  # "MedicationRequest/123" (relative reference)

    def __post_init__(self) -> None:
        if self.type not in ACTION_TYPES:
            raise CardContractError(f"action type {self.type!r}")
        if not self.description:
            raise CardContractError("action.description is required")
        if self.type in ("create", "update") and not self.resource:
            raise CardContractError(f"{self.type} action needs a resource")
        if self.type == "delete" and (not self.resource_id or self.resource):
            raise CardContractError("delete action needs a resourceId and no resource")

    def to_json(self) -> dict[str, Any]:
        return _pruned_parts(
            {
                "type": self.type,
                "description": self.description,
                "resource": _prune(self.resource) if self.resource is not None else None,
                "resourceId": self.resource_id,
            }
        )


@dataclass(frozen=True)
class Suggestion:
    label: str
    actions: tuple[Action, ...] = ()
    is_recommended: bool | None = None
    uuid: str = field(default_factory=_new_uuid)

    def __post_init__(self) -> None:
        if not self.label:
            raise CardContractError("suggestion.label is required")

    def to_json(self) -> dict[str, Any]:
        return _pruned_parts(
            {
                "label": self.label,
                "uuid": self.uuid,
                "isRecommended": self.is_recommended,
                "actions": [a.to_json() for a in self.actions],
            }
        )


@dataclass(frozen=True)
class Link:
    label: str
    url: str
    type: Literal["absolute", "smart"] = "absolute"
    app_context: str | None = None
    autolaunchable: bool | None = None

    def __post_init__(self) -> None:
        if not self.label or not self.url:
            raise CardContractError("link label and url are required")
        if self.type not in LINK_TYPES:
            raise CardContractError(f"link type {self.type!r}")
        if self.app_context and self.type != "smart":
            raise CardContractError("appContext is only valid for smart links")

    def to_json(self) -> dict[str, Any]:
        return _pruned_parts(
            {
                "label": self.label,
                "url": self.url,
                "type": self.type,
                "appContext": self.app_context,
                "autolaunchable": self.autolaunchable,
            }
        )


@dataclass(frozen=True)
class Card:
    summary: str
    indicator: Literal["info", "warning", "critical"]
    source: Source
    detail: str | None = None
    suggestions: tuple[Suggestion, ...] = ()
    selection_behavior: Literal["at-most-one", "any"] | None = None
    override_reasons: tuple[Coding, ...] = ()
    links: tuple[Link, ...] = ()
    findings: tuple[dict[str, Any], ...] = ()  # the gmg-cds findings extension (gmg-rules §8)
    uuid: str = field(default_factory=_new_uuid)

    def __post_init__(self) -> None:
        if not self.summary or "\n" in self.summary:
            raise CardContractError("summary must be one non-empty line")
        if len(self.summary) > SUMMARY_MAX:
            raise CardContractError(f"summary has {len(self.summary)} characters (max {SUMMARY_MAX})")
        if self.indicator not in INDICATORS:
            raise CardContractError(f"indicator {self.indicator!r}")
        if self.suggestions and self.selection_behavior not in SELECTION_BEHAVIORS:
            raise CardContractError("suggestions need selectionBehavior at-most-one or any")
        if self.selection_behavior is not None and self.selection_behavior not in SELECTION_BEHAVIORS:
            raise CardContractError(f"selectionBehavior {self.selection_behavior!r}")
        if self.selection_behavior == "at-most-one" and (
            sum(1 for s in self.suggestions if s.is_recommended) > 1
        ):
            raise CardContractError("at-most-one allows at most one recommended suggestion")
        for reason in self.override_reasons:
            if not reason.display:
                raise CardContractError("override reasons need a display")
        if not self.findings or any("code" not in f for f in self.findings):
            raise CardContractError("every card carries at least one finding with a code")

    @property
    def finding_codes(self) -> tuple[str, ...]:
        return tuple(f["code"] for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        # The parts are pruned by their own to_json; the findings (dicts from the rules) here, one
        # by one, so that one finding with an empty part does not send all of them down the walk.
        findings = _pruned_items(self.findings)
        return _pruned_parts(
            {
                "uuid": self.uuid,
                "summary": self.summary,
                "detail": self.detail,
                "indicator": self.indicator,
                "source": self.source.to_json(),
                "suggestions": [s.to_json() for s in self.suggestions],
                "selectionBehavior": self.selection_behavior if self.suggestions else None,
                "overrideReasons": [r.to_json() for r in self.override_reasons],
                "links": [link.to_json() for link in self.links],
                "extension": {"gmg-cds": {"findings": findings}} if findings else None,
            }
        )


# Override reasons offered on every warning and critical card (gmg-rules.md §9). The CDS Hooks
# 3.0 ballot points to a Non-Adherence Reason code system; until it is published these are the
# project's own codes, stable like the finding codes.
OVERRIDE_REASON_SYSTEM = "https://gmg-cds.github.io/fhir/CodeSystem/override-reason"
STANDARD_OVERRIDE_REASONS: tuple[Coding, ...] = (
    Coding(OVERRIDE_REASON_SYSTEM, "already-addressed", "Already addressed / done elsewhere"),
    Coding(OVERRIDE_REASON_SYSTEM, "data-out-of-date", "Chart data is incomplete or out of date"),
    Coding(OVERRIDE_REASON_SYSTEM, "clinical-judgement", "Benefit outweighs risk for this patient"),
    Coding(OVERRIDE_REASON_SYSTEM, "specialist-decision", "Decided with the treating specialist"),
    Coding(OVERRIDE_REASON_SYSTEM, "patient-declined", "Patient declined"),
)
