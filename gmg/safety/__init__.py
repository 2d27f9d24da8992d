"""Order safety checks (gmg-rules.md §6, §9 "Orders"): draft orders against the patient record.

One module per check family, each opening with the guideline statement it implements:
c5, b_cell, ivig, plex, fcrn, pregnancy, tacrolimus, ivmp, mg_worsening, infection.

`check_orders(record, orders, serotype, params)` runs them all and returns findings whose
`data["orders"]` names the drafts each concerns (the ordered item first, co-ordered parties after).

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
from ._common import CheckInput, is_mg_patient

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

__all__ = ["check_orders", "is_mg_patient", "SAFETY_CODES", "CHECK_FAMILIES"]


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
    return tuple(out)
