"""The next-line drugs the options name: what each one is, how it is given, what its gMG label covers.

Label facts (background/clinical-research.md §4, the FDA serotype matrix; clinical-sources-2.md
§3 for the Chinese approvals). Each drug belongs to one option class of gmg-rules.md §5; the
option rows per serotype and the reasons for them are in `gmg/therapy.py`, the dose of each drug
for this patient in `gmg/dose_table.py`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DrugInfo:
    ingredient: str  # concept key (terminology/data/medications.json)
    display: str
    option: str  # the option class: "c5-inhibitor", "anti-cd20", "fcrn-antagonist", "anti-cd19", "tacrolimus"
    route: str  # "iv" | "sc" | "oral"
    labelled_serotypes: frozenset[str]  # serotypes the gMG label covers ("" = off-label in MG)
    label_note: str


DRUGS: dict[str, DrugInfo] = {
    d.ingredient: d
    for d in (
        DrugInfo("eculizumab", "Eculizumab", "c5-inhibitor", "iv", frozenset({"achr"}),
                 "FDA: AChR+ gMG; EU: refractory AChR+ gMG ≥ 6 y; NMPA: adult AChR+ refractory gMG"),
        DrugInfo("ravulizumab", "Ravulizumab", "c5-inhibitor", "iv", frozenset({"achr"}),
                 "FDA/EU: AChR+ gMG, adults (K)"),
        DrugInfo("zilucoplan", "Zilucoplan", "c5-inhibitor", "sc", frozenset({"achr"}),
                 "FDA: AChR+ gMG adults; EU: add-on, AChR+ adults"),
        DrugInfo("rituximab", "Rituximab", "anti-cd20", "iv", frozenset(),
                 "off-label in MG; guideline-supported (ICG 2020 early option in MuSK+; CN consensus AChR+ and MuSK+)"),
        DrugInfo("efgartigimod", "Efgartigimod alfa IV", "fcrn-antagonist", "iv", frozenset({"achr"}),
                 "FDA: AChR+ gMG adults; seronegative indication filed 2026 (approval not verified: check the label)"),
        DrugInfo("efgartigimod-hyaluronidase", "Efgartigimod alfa + hyaluronidase SC", "fcrn-antagonist", "sc",
                 frozenset({"achr"}), "FDA: AChR+ gMG adults; not interchangeable with the IV product"),
        DrugInfo("rozanolixizumab", "Rozanolixizumab", "fcrn-antagonist", "sc", frozenset({"achr", "musk"}),
                 "FDA/EU: AChR+ or MuSK+ gMG adults"),
        DrugInfo("nipocalimab", "Nipocalimab", "fcrn-antagonist", "iv", frozenset({"achr", "musk"}),
                 "FDA 2025: AChR+ or MuSK+ gMG, age ≥ 12 y"),
        DrugInfo("inebilizumab", "Inebilizumab", "anti-cd19", "iv", frozenset({"achr", "musk"}),
                 "FDA Dec 2025: adults AChR+ or MuSK+ gMG; EU add-on AChR+/MuSK+"),
        DrugInfo("tacrolimus", "Tacrolimus", "tacrolimus", "oral", frozenset({"achr", "musk", "lrp4", "seronegative", "unconfirmed", "unknown"}),
                 "not serotype-restricted; CN consensus names it for AChR+ refractory gMG"),
    )
}


def display(ingredient: str) -> str:
    """The drug's name as the options write it (the key itself for a drug not in the catalog)."""
    info = DRUGS.get(ingredient)
    return info.display if info else ingredient


def route(ingredient: str) -> str:
    info = DRUGS.get(ingredient)
    return info.route if info else "iv"


def members_of_option(option: str) -> frozenset[str]:
    """The catalog's drugs of one option class."""
    return frozenset(d for d, info in DRUGS.items() if info.option == option)
