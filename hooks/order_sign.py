"""gmg-order-sign: safety checks on every draft order at signing.

Same flow as gmg-order-select (hooks.order_select.order_safety_cards), with order-sign semantics:
every draft is checked, each problem appears on one card naming all the drafts it concerns (so a
problem is never shown twice in one response), and drafts that could not be read are named on one
info card. Only patients with MG get cards (gmg-rules.md §9).
"""

from __future__ import annotations

from .cards import Card
from .i18n import use_language
from .order_select import order_safety_cards
from .registry import HookCall, ServiceDefinition


def handle(call: HookCall) -> list[Card]:
    with use_language(call.language):
        return order_safety_cards(call, "order-sign")


SERVICE = ServiceDefinition(
    id="gmg-order-sign",
    hook="order-sign",
    title="gMG order safety (at signing)",
    description=(
        "Checks every draft order at signing for a patient with myasthenia gravis: vaccination, "
        "IgA, HBV, washout, pregnancy, renal risk, drugs that worsen MG, and more."
    ),
    handler=handle,
)
