"""The next-line drugs the options name: what each one is, how it is given, what its gMG label covers.

Label facts (background/clinical-research.md §4, the FDA serotype matrix; clinical-sources-2.md
§3 for the Chinese approvals). Each drug belongs to one option class of gmg-rules.md §5; the
option rows per serotype and the reasons for them are in `gmg/therapy.py`, the dose of each drug
for this patient in `gmg/dose_table.py`.

Label facts differ by regulator, so a site's regulatory region (GMG_CDS_REGULATORY_REGION; not
the card language) chooses them: the label note shown per drug, where a drug is offered at all
(telitacicept: approved in China only), and regional product strengths (the efgartigimod SC vial:
1000 mg in China, 1008 mg in the US - parameter `efgartigimod_sc_mg`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The regulatory regions whose label facts the service knows (the default: "us", the labels the
# drug facts were first verified against; clinical-sources-2.md §3 adds China's).
REGIONS: dict[str, str] = {"us": "United States (FDA)", "cn": "China (NMPA)"}
DEFAULT_REGION = "us"


@dataclass(frozen=True)
class DrugInfo:
    ingredient: str  # concept key (terminology/data/medications.json)
    display: str
    option: str  # the option class: "c5-inhibitor", "anti-cd20", "fcrn-antagonist", "anti-cd19", "tacrolimus"
    route: str  # "iv" | "sc" | "oral"
    labelled_serotypes: frozenset[str]  # serotypes the gMG label covers ("" = off-label in MG)
    label_note: str
    # The labelled minimum age (a parameter id, `<drug>_min_age_years`; None: no labelled MG
    # population, e.g. rituximab and tacrolimus, off-label in MG) ...
    min_age_parameter: str | None = None
    # ... and whether the dose computed here is the label's dose from that age on (nipocalimab:
    # the same mg/kg from 12 y). Otherwise the computed dose is an adult dose: a child gets none.
    dose_from_min_age: bool = False
    # Label notes that differ by region (region -> note; the default note otherwise) and the
    # regions where the drug is offered (None: everywhere the options apply).
    regional_notes: dict[str, str] = field(default_factory=dict)
    offered_in: frozenset[str] | None = None

    def label(self, region: str) -> str:
        return self.regional_notes.get(region, self.label_note)

    def offered(self, region: str) -> bool:
        return self.offered_in is None or region in self.offered_in


DRUGS: dict[str, DrugInfo] = {
    d.ingredient: d
    for d in (
        DrugInfo("eculizumab", "Eculizumab", "c5-inhibitor", "iv", frozenset({"achr"}),
                 "FDA: AChR+ gMG; EU: refractory AChR+ gMG ≥ 6 y; NMPA: adult AChR+ refractory gMG",
                 "eculizumab_min_age_years",
                 regional_notes={"cn": "NMPA: refractory AChR+ gMG only (adults 2023, from 6 y 2026); the patient is refractory by the CN consensus"}),
        DrugInfo("ravulizumab", "Ravulizumab", "c5-inhibitor", "iv", frozenset({"achr"}),
                 "FDA/EU: AChR+ gMG, adults (from background knowledge: check the label)", "ravulizumab_min_age_years",
                 regional_notes={"cn": "NMPA April 2025: adult AChR+ gMG, with conventional therapy"}),
        DrugInfo("zilucoplan", "Zilucoplan", "c5-inhibitor", "sc", frozenset({"achr"}),
                 "FDA: AChR+ gMG adults; EU: add-on, AChR+ adults", "zilucoplan_min_age_years",
                 regional_notes={"cn": "NMPA Oct 2025: add-on for adult AChR+ gMG"}),
        DrugInfo("rituximab", "Rituximab", "anti-cd20", "iv", frozenset(),
                 "off-label in MG; guideline-supported (ICG 2020 early option in MuSK+; CN consensus AChR+ and MuSK+)"),
        DrugInfo("efgartigimod", "Efgartigimod alfa IV", "fcrn-antagonist", "iv", frozenset({"achr"}),
                 "FDA: AChR+ gMG adults; seronegative indication filed 2026 (approval not verified: check the label)",
                 "efgartigimod_min_age_years",
                 regional_notes={"cn": "NMPA June 2023: adult AChR+ gMG, with conventional therapy"}),
        DrugInfo("efgartigimod-hyaluronidase", "Efgartigimod alfa + hyaluronidase SC", "fcrn-antagonist", "sc",
                 frozenset({"achr"}), "FDA: AChR+ gMG adults; not interchangeable with the IV product",
                 "efgartigimod_min_age_years",
                 regional_notes={"cn": "NMPA July 2024: adult AChR+ gMG, 1000 mg (5.6 mL) vial; not interchangeable with the IV product"}),
        DrugInfo("rozanolixizumab", "Rozanolixizumab", "fcrn-antagonist", "sc", frozenset({"achr", "musk"}),
                 "FDA/EU: AChR+ or MuSK+ gMG adults", "rozanolixizumab_min_age_years",
                 regional_notes={"cn": "no Chinese gMG approval found (as far as verified); FDA/EU: AChR+ or MuSK+ gMG adults"}),
        DrugInfo("nipocalimab", "Nipocalimab", "fcrn-antagonist", "iv", frozenset({"achr", "musk"}),
                 "FDA 2025: AChR+ or MuSK+ gMG, age ≥ 12 y", "nipocalimab_min_age_years", dose_from_min_age=True,
                 regional_notes={"cn": "no Chinese gMG approval found (as far as verified); FDA 2025: AChR+ or MuSK+ gMG, age ≥ 12 y"}),
        DrugInfo("inebilizumab", "Inebilizumab", "anti-cd19", "iv", frozenset({"achr", "musk"}),
                 "FDA Dec 2025: adults AChR+ or MuSK+ gMG; EU add-on AChR+/MuSK+", "inebilizumab_min_age_years",
                 regional_notes={"cn": "no Chinese gMG approval found (as far as verified); FDA Dec 2025: adults AChR+ or MuSK+ gMG"}),
        DrugInfo("telitacicept", "Telitacicept", "blys-april", "sc", frozenset({"achr"}),
                 "NMPA 27 May 2025: adult AChR+ gMG, with conventional therapy", "telitacicept_min_age_years",
                 offered_in=frozenset({"cn"})),
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
    return _MEMBERS.get(option, frozenset())


# The catalog is fixed at import: each class's members are gathered once, not on every option of
# every call.
_MEMBERS: dict[str, frozenset[str]] = {
    option: frozenset(d for d, info in DRUGS.items() if info.option == option)
    for option in {info.option for info in DRUGS.values()}
}
