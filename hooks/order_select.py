"""gmg-order-select: safety checks on the orders a clinician has just selected.

request -> record (fhir_mappings.build_record) -> serotype (gmg.assessment) -> draft orders
(fhir_mappings.orders) -> checks (gmg.safety) -> cards (hooks.order_cards).

order-select semantics (CDS Hooks order-select; gmg-rules.md §9 "Orders"): a check counts when a
selected order takes part in it; the other party may be an unselected draft or the record. Order
details may still be incomplete here, so a draft whose drug is not identified yet is not reported
(order-sign does that); a check that needs something the draft gives in a form the service cannot
read (a dose in tablets) is reported in both hooks. Only patients with MG get cards (§9).
"""

from __future__ import annotations

from fhir_mappings.orders import draft_orders, draft_resources
from gmg.safety import NOT_CHECKED_CODE, check_orders

from . import context
from .cards import Card
from .i18n import use_language
from .order_cards import order_cards
from .recognition import with_recognition
from .registry import HookCall, ServiceDefinition


def order_safety_cards(call: HookCall, hook: str) -> list[Card]:
    """The shared flow of gmg-order-select and gmg-order-sign (`hook` decides the semantics)."""
    orders = draft_orders(call.context, hook, call.today, call.prefetch)
    if not orders:
        return []
    ev = context.evaluate(call)
    if not ev.has_cards:
        return []
    record, params = ev.record, ev.params
    findings = check_orders(record, orders, ev.assessment.serotype, params)
    if hook == "order-select":
        # A draft whose drug is not chosen or not coded yet is still being filled in: normal here;
        # one whose JSON is malformed is said in both hooks (never silence).
        findings = tuple(f for f in findings if not (f.code == NOT_CHECKED_CODE and f.data.get("check") == "all"
                                                      and not f.data.get("malformed")))
    cards = order_cards(record, orders, findings, params, resources=draft_resources(call.context))
    return with_recognition(cards, record, orders)


def handle(call: HookCall) -> list[Card]:
    with use_language(call.language):
        return order_safety_cards(call, "order-select")


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
