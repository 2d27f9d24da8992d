"""The typed card models refuse to build a card that would break the CDS Hooks contract, and
serialise without null or empty values."""

from __future__ import annotations

import pytest

from cds_service import validation
from hooks.cards import (
    STANDARD_OVERRIDE_REASONS,
    Action,
    Card,
    CardContractError,
    Coding,
    Link,
    Source,
    Suggestion,
)

SRC = Source("Chinese expert consensus on refractory gMG")
FINDINGS = ({"code": "refractory.cn.met"},)


def _card(**kw):
    base = dict(summary="Refractory gMG (Chinese consensus)", indicator="warning", source=SRC, findings=FINDINGS)
    base.update(kw)
    return Card(**base)


def test_a_full_card_serialises_schema_valid_without_empties():
    card = _card(
        detail="**Why**: MG-ADL 8 on 2026-10-01",
        suggestions=(Suggestion("Order IgA", (Action("create", "Order serum IgA", resource={"resourceType": "ServiceRequest", "status": "draft"}),)),),
        selection_behavior="any",
        override_reasons=STANDARD_OVERRIDE_REASONS,
        links=(Link("Consensus", "https://example.org/consensus"),),
    )
    doc = {"cards": [card.to_json()]}
    assert validation.errors("response.json", doc) == []
    out = doc["cards"][0]
    assert out["uuid"] != out["suggestions"][0]["uuid"]
    assert out["extension"] == {"gmg-cds": {"findings": [{"code": "refractory.cn.met"}]}}
    assert "topic" not in out["source"] and "isRecommended" not in out["suggestions"][0]


def test_empty_optionals_are_omitted():
    out = _card().to_json()
    assert set(out) == {"uuid", "summary", "indicator", "source", "extension"}


@pytest.mark.parametrize(
    "build",
    [
        lambda: _card(summary="x" * 140),
        lambda: _card(summary=""),
        lambda: _card(summary="a\nb"),
        lambda: _card(indicator="hard-stop"),
        lambda: _card(findings=()),
        lambda: _card(suggestions=(Suggestion("x"),)),  # no selectionBehavior
        lambda: _card(suggestions=(Suggestion("x", is_recommended=True), Suggestion("y", is_recommended=True)),
                      selection_behavior="at-most-one"),
        lambda: _card(override_reasons=(Coding("s", "c"),)),
        lambda: Source(""),
        lambda: Action("delete", "remove the draft"),
        lambda: Action("delete", "remove", resource={"resourceType": "MedicationRequest"}, resource_id="MedicationRequest/1"),
        lambda: Action("create", "create nothing"),
        lambda: Action("create", "", resource={"resourceType": "ServiceRequest"}),
        lambda: Link("l", "https://x", type="absolute", app_context="ctx"),
        lambda: Link("l", "https://x", type="web"),  # type: ignore[arg-type]
    ],
)
def test_contract_breaches_raise(build):
    with pytest.raises(CardContractError):
        build()


def test_summary_of_139_characters_is_allowed():
    assert len(_card(summary="x" * 139).to_json()["summary"]) == 139
