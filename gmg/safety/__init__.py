"""Order safety checks (gmg-rules.md §6, §9 "Orders"): draft orders against the patient record.

One module per check family, each opening with the guideline statement it implements:
c5, b_cell, ivig, plex, fcrn, pregnancy, tacrolimus, ivmp, mg_worsening, infection.

`check_orders(record, orders, serotype, params)` runs them all and returns findings whose
`data["orders"]` names the drafts each concerns (the ordered item first, co-ordered parties after).

A check that could not run on a draft says so, and only then: `data-gap.draft-order` with
`data["check"]` naming the check (or "all" when the drug or service itself could not be identified,
so no check could run) and `data["reason"]`. A family that needs something only some drafts carry
(the dose, for the IV methylprednisolone pulse check) defines `not_checked(ci)`; a dose in a unit
that is not a mass blocks nothing else.

Semantics (§9):
- The service is for patients with myasthenia gravis: a record without an active MG condition
  (generalised or ocular) gets no findings at all, so a non-MG patient gets no cards.
- order-sign checks every draft (all `selected`). order-select: a check counts when a selected
  order takes part in it; the other party may be an unselected draft or the record. Every check
  therefore runs over all drafts, and findings that concern no selected draft are dropped.
"""

from __future__ import annotations

from ..findings import Finding
from ..orders import DraftOrder
from ..parameters import Parameters
from ..record import PatientRecord
from . import b_cell, c5, fcrn, infection, ivig, ivmp, mg_worsening, plex, pregnancy, tacrolimus
from ._common import CheckInput, is_mg_patient, make_finding

CHECK_FAMILIES = (c5, b_cell, ivig, plex, fcrn, pregnancy, tacrolimus, ivmp, mg_worsening, infection)

# Every code the checks can emit (gmg-rules.md §6 table), with its indicator.
SAFETY_CODES: dict[str, str] = {
    "safety.c5.meningococcal-vaccine-missing": "critical",
    "safety.c5.meningococcal-vaccine-recent": "warning",
    "safety.c5.not-indicated-serotype": "warning",
    "safety.zilucoplan.lipase-amylase-missing": "warning",
    "safety.b-cell.hbv-screen-missing": "warning",
    "safety.b-cell.hbv-positive": "critical",
    "safety.ivig.iga-missing": "warning",
    "safety.ivig.iga-deficiency": "critical",
    "safety.ivig.dose": "info",
    "safety.ivig.renal": "warning",
    "safety.ivig.not-recommended-musk": "warning",
    "safety.plex.prefer-ivig": "warning",
    "safety.plex.removes-biologic": "warning",
    "safety.fcrn.mab-washout": "warning",
    "safety.pregnancy.teratogen": "critical",
    "safety.pregnancy.b-cell-depletion": "warning",
    "safety.tacrolimus.cyp3a4": "warning",
    "safety.ivmp.transient-worsening": "warning",
    "safety.mg-worsening-drug": "warning",
    "safety.active-infection": "warning",
}

NOT_CHECKED_CODE = "data-gap.draft-order"

__all__ = ["check_orders", "is_mg_patient", "SAFETY_CODES", "CHECK_FAMILIES", "NOT_CHECKED_CODE"]


def _not_identified(ci: CheckInput) -> list[Finding]:
    """Drafts whose drug or service could not be identified: none of the checks could run on them."""
    out = []
    for o in ci.orders:
        reasons = [r for r in o.unreadable if not r.startswith("no id")]
        if o.concept is None and reasons:
            out.append(make_finding(NOT_CHECKED_CODE, "info",
                                    f"No order-safety check could be made for {o.name}: {'; '.join(reasons)}.",
                                    [o], check="all", reason="; ".join(reasons), malformed=True if o.malformed else None))
    return out


def check_orders(
    record: PatientRecord,
    orders: tuple[DraftOrder, ...] | list[DraftOrder],
    serotype: str,
    params: Parameters,
) -> tuple[Finding, ...]:
    """All safety findings for these drafts; for order-select only those a selected draft is in."""
    orders = tuple(orders)
    if not orders or not is_mg_patient(record):
        return ()
    ci = CheckInput(record=record, orders=orders, serotype=serotype or "unknown", params=params)
    selected = {o.resource_id for o in orders if o.selected}
    out: list[Finding] = []
    for family in CHECK_FAMILIES:
        for f in family.check(ci):
            if selected.intersection(f.data.get("orders", ())):
                out.append(f)
    unchecked = _not_identified(ci) + [f for family in CHECK_FAMILIES if hasattr(family, "not_checked")
                                       for f in family.not_checked(ci)]
    out += [f for f in unchecked if selected.intersection(f.data.get("orders", ()))]
    return tuple(out)
