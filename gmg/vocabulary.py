"""Concept-key groups the assessment rules use (gmg-rules.md §1; keys: terminology/README.md).

The terminology data files are the authority: each group is the members of a terminology class.
The keys agreed for the rules are kept as a floor, so a rule never silently loses a drug or a
condition while the data files are being completed.
"""

from __future__ import annotations

from functools import lru_cache

import terminology

_FLOOR: dict[str, frozenset[str]] = {
    "mg": frozenset({"mg", "mg-generalized", "mg-exacerbation", "myasthenic-crisis", "mg-thymoma"}),
    "mg-acute": frozenset({"mg-exacerbation", "myasthenic-crisis"}),
    "mg-ocular": frozenset({"mg-ocular"}),
    "mg-excluded": frozenset(
        {"mg-ocular", "congenital-myasthenic-syndrome", "drug-induced-mg", "neonatal-mg", "lambert-eaton"}
    ),
    "glucocorticoid": frozenset({"prednisone", "prednisolone", "methylprednisolone"}),
    "nsist": frozenset(
        {
            "azathioprine",
            "mycophenolate-mofetil",
            "mycophenolic-acid",
            "methotrexate",
            "cyclophosphamide",
            "tacrolimus",
            "cyclosporine",
        }
    ),
    "calcineurin-inhibitor": frozenset({"tacrolimus", "cyclosporine"}),
    "cyp3a4-strong-inducer": frozenset(
        {"carbamazepine", "phenytoin", "phenobarbital", "rifampin", "st-johns-wort"}
    ),
}


@lru_cache(maxsize=None)
def members(group: str) -> frozenset[str]:
    """Concept keys in a terminology class, never fewer than the agreed floor."""
    try:
        found = terminology.members(group)
    except Exception:  # terminology data being written: fall back to the agreed keys
        found = frozenset()
    return found | _FLOOR.get(group, frozenset())


def display(key: str) -> str:
    """A human name for a concept key (terminology display, else the key in words)."""
    try:
        return terminology.concept(key).display
    except Exception:
        return key.replace("-", " ")
