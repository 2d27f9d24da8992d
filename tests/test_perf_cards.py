"""The shortcuts taken for speed in the card models give exactly what the plain code gave.

- `_prune` returns a value with nothing to drop as it is, after a read-only check; the result
  must equal the full walk's for every shape (also ones with an empty part deep inside, leaves
  of other types, and dict/list subclasses), and the contract (no null, "", [] or {}) holds.
- uuids come straight from random bytes: valid version-4 RFC 4122 uuids, fresh each time.
- override reasons are made once per language: the same codes and displays as before.
"""

from __future__ import annotations

import random
import uuid
from collections import OrderedDict
from datetime import date

import pytest

from hooks import cards, i18n
from hooks.cards import Action, Card, Coding, Source, Suggestion


def _full_walk(value):
    """The full pruning walk alone (what `_prune` did before the shortcut)."""
    if isinstance(value, dict):
        return cards._prune_dict(value)
    if isinstance(value, list):
        return cards._prune_list(value)
    return value


def _random_value(rng: random.Random, depth: int = 0):
    leaves = ["", "x", "null", "annulled", None, 0, 1.5, True, False, date(2026, 1, 2), (), ("a", None)]
    if depth > 3 or rng.random() < 0.45:
        return rng.choice(leaves)
    if rng.random() < 0.5:
        kind = OrderedDict if rng.random() < 0.1 else dict
        return kind((f"k{i}", _random_value(rng, depth + 1)) for i in range(rng.randint(0, 4)))
    return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]


def _has_empty(value) -> bool:
    if value is None or (isinstance(value, (str, list, dict)) and not value):
        return True
    if isinstance(value, dict):
        return any(_has_empty(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_empty(v) for v in value)
    return False


def test_prune_shortcut_equals_full_walk_on_random_shapes():
    rng = random.Random(20261122)
    shortcut_taken = 0
    for _ in range(3000):
        value = _random_value(rng)
        expected = _full_walk(value)
        got = cards._prune(value)
        assert got == expected
        if isinstance(value, (dict, list)) and got is value:
            shortcut_taken += 1
            assert not _has_empty(value)
        if isinstance(got, (dict, list)) and got:
            assert not _has_empty(got)
    assert shortcut_taken > 50  # the shortcut is exercised, not only the walk


@pytest.mark.parametrize("value", [
    {"a": {"b": [{"c": "x"}, {"d": ""}]}},
    {"a": [1, 2, [None]]},
    {"a": {"b": {}}},
    [{"a": "x"}, []],
    {"a": ("x", None)},  # a tuple is a leaf for the walk: kept as it is
    OrderedDict(a="x"),
])
def test_prune_with_something_deep_to_drop_or_odd_types(value):
    assert cards._prune(value) == _full_walk(value)


def test_card_json_still_drops_empty_parts_of_resources_and_findings():
    resource = {"resourceType": "ServiceRequest", "status": "draft", "note": [], "code": {"text": "x", "coding": [None]}}
    card = Card(
        summary="s", indicator="info", source=Source("src"),
        suggestions=(Suggestion("go", (Action("create", "do", resource),)),), selection_behavior="any",
        findings=({"code": "c", "data": None, "deciding": [], "evidence": [{"label": "l", "value": ""}]},),
    )
    out = card.to_json()
    assert out["suggestions"][0]["actions"][0]["resource"] == {
        "resourceType": "ServiceRequest", "status": "draft", "code": {"text": "x"}}
    assert out["extension"]["gmg-cds"]["findings"] == [{"code": "c", "evidence": [{"label": "l"}]}]


def test_card_with_clean_parts_serialises_them_unchanged():
    resource = {"resourceType": "MedicationRequest", "status": "draft", "dosageInstruction": [{"text": "1 mg"}]}
    finding = {"code": "c", "parameters": ["p"], "rank": 1}
    card = Card(summary="s", indicator="info", source=Source("src"),
                suggestions=(Suggestion("go", (Action("create", "do", resource),)),), selection_behavior="any",
                findings=(finding,))
    out = card.to_json()
    assert out["suggestions"][0]["actions"][0]["resource"] == resource
    assert out["extension"] == {"gmg-cds": {"findings": [finding]}}


def test_uuids_are_fresh_version_4():
    made = {cards._new_uuid() for _ in range(2000)}
    assert len(made) == 2000
    for text in list(made)[:200]:
        u = uuid.UUID(text)
        assert str(u) == text and u.version == 4 and u.variant == uuid.RFC_4122


def test_coding_json_with_and_without_display():
    assert Coding("s", "c", "d").to_json() == {"system": "s", "code": "c", "display": "d"}
    assert Coding("s", "c").to_json() == {"system": "s", "code": "c"}
    assert Coding("s", "c", "").to_json() == {"system": "s", "code": "c"}


def test_override_reasons_per_language_match_the_catalog():
    for language in i18n.LANGUAGES:
        with i18n.use_language(language):
            reasons = i18n.override_reasons()
            assert [r.code for r in reasons] == [r.code for r in cards.STANDARD_OVERRIDE_REASONS]
            assert [r.display for r in reasons] == [i18n.t(f"override.{r.code}") for r in reasons]
    with i18n.use_language("en"):
        assert i18n.override_reasons() == cards.STANDARD_OVERRIDE_REASONS
