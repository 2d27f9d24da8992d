"""Write the therapy / rapid-therapy / trial demo patients to demo/bundles/therapy-<slug>.json.

Run: .venv/bin/python demo/build_therapy_bundles.py. Builds on the Patient helper of
demo/build_bundles.py (same FHIR shapes); adds the labs, vitals, vaccines, intolerances and
conditions the therapy cards read. Dates are fixed relative to the evaluation date 2026-11-22.
Codes come from terminology/data (verified rows of terminology.md).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from terminology import systems

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("demo_build_bundles", HERE / "build_bundles.py")
assert _spec and _spec.loader
base = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(base)

cc, LOINC, SNOMED, UCUM, RXNORM, MG_SCORES = base.cc, base.LOINC, base.SNOMED, base.UCUM, base.RXNORM, base.MG_SCORES
CVX = systems.CVX
LAB = [cc("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory", "Laboratory")]
VITAL = [cc("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs", "Vital Signs")]
POS = cc(SNOMED, "10828004", "Positive")
NEG = cc(SNOMED, "260385009", "Negative")

base.CONDITIONS.update({
    "thymoma": (SNOMED, "444231005", "Thymoma (disorder)"),
    "pregnancy": (SNOMED, "77386006", "Pregnancy"),
})
base.DRUGS.update({
    "eculizumab": ("591781", "eculizumab"),
    "rituximab": ("121191", "rituximab"),
    "efgartigimod": ("2587717", "efgartigimod alfa"),
})
QUANT = {  # concept: (LOINC, display, UCUM unit)
    "height": ("8302-2", "Body height", "cm"),
    "haematocrit": ("4544-3", "Hematocrit [Volume Fraction] of Blood by Automated count", "%"),
    "igg": ("2465-3", "IgG [Mass/volume] in Serum or Plasma", "mg/dL"),
    "iga": ("2458-8", "IgA [Mass/volume] in Serum or Plasma", "mg/dL"),
    "lipase": ("3040-3", "Lipase [Enzymatic activity/volume] in Serum or Plasma", "U/L"),
    "amylase": ("1798-8", "Amylase [Enzymatic activity/volume] in Serum or Plasma", "U/L"),
    "creatinine": ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL"),
    "alt": ("1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "U/L"),
    "ast": ("1920-8", "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "U/L"),
    "bilirubin-total": ("1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma", "mg/dL"),
}
QUAL = {
    "hbsag": ("5196-1", "Hepatitis B virus surface Ag [Presence] in Serum or Plasma by Immunoassay"),
    "anti-hbc": ("16933-4", "Hepatitis B virus core Ab [Presence] in Serum"),
    "hcv-antibody": ("16128-1", "Hepatitis C virus Ab [Presence] in Serum"),
    "hiv-ag-ab": ("56888-1", "HIV 1+2 Ab+HIV1 p24 Ag [Presence] in Serum or Plasma by Immunoassay"),
}
VACCINES = {"menacwy": ("136", "Meningococcal MCV4O"), "menb": ("163", "meningococcal B, OMV")}


class TherapyPatient(base.Patient):
    def quantity(self, concept: str, value: float, when: str, high: float | None = None) -> None:
        code, display, unit = QUANT[concept]
        body: dict[str, Any] = {
            "category": VITAL if concept == "height" else LAB,
            "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
        }
        if high is not None:
            body["referenceRange"] = [{"high": {"value": high, "unit": unit, "system": UCUM, "code": unit}}]
        self._obs(cc(LOINC, code, display), when, **body)

    def qualitative(self, concept: str, positive: bool, when: str) -> None:
        code, display = QUAL[concept]
        self._obs(cc(LOINC, code, display), when, category=LAB, valueCodeableConcept=POS if positive else NEG)

    def qmg(self, total: int, when: str) -> None:
        self._obs(cc(MG_SCORES, "qmg-total", "QMG total score"), when, valueInteger=total)

    def systolic(self, mm_hg: float, when: str) -> None:
        self._obs(
            cc(LOINC, "85354-9", "Blood pressure panel with all children optional"), when, category=VITAL,
            component=[
                {"code": cc(LOINC, "8480-6", "Systolic blood pressure"),
                 "valueQuantity": {"value": mm_hg, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"}},
                {"code": cc(LOINC, "8462-4", "Diastolic blood pressure"),
                 "valueQuantity": {"value": 50, "unit": "mm[Hg]", "system": UCUM, "code": "mm[Hg]"}},
            ],
        )

    def vaccine(self, key: str, when: str) -> None:
        code, display = VACCINES[key]
        self.add("Immunization", {"status": "completed", "vaccineCode": cc(CVX, code, display),
                                  "patient": self.ref, "occurrenceDateTime": when})

    def intolerance(self, drug: str, when: str) -> None:
        rxcui, name = base.DRUGS[drug]
        self.add("AllergyIntolerance", {
            "clinicalStatus": cc("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active"),
            "verificationStatus": cc("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                                     "confirmed", "Confirmed"),
            "type": "intolerance",
            "category": ["medication"],
            "code": cc(RXNORM, rxcui, name),
            "patient": self.ref,
            "recordedDate": when,
        })

    def thymectomy(self, when: str) -> None:
        self.add("Procedure", {"status": "completed", "code": cc(SNOMED, "43450002", "Total thymectomy (procedure)"),
                               "subject": self.ref, "performedDateTime": when})

    def infusion(self, drug: str, day: str, mg: float) -> None:
        rxcui, name = base.DRUGS[drug]
        self.add("MedicationAdministration", {
            "status": "completed",
            "medicationCodeableConcept": cc(RXNORM, rxcui, name),
            "subject": self.ref,
            "effectiveDateTime": day,
            "dosage": {"route": cc(*base.ROUTES["iv"]), "dose": {"value": mg, "unit": "mg", "system": UCUM, "code": "mg"}},
        })


def screening_labs(p: TherapyPatient, when: str) -> None:
    for concept, value, high in (("creatinine", 0.9, 1.2), ("alt", 24.0, 40.0), ("ast", 22.0, 40.0),
                                 ("bilirubin-total", 0.6, 1.2), ("igg", 950.0, None), ("iga", 210.0, None)):
        p.quantity(concept, value, when, high)
    for concept in ("hbsag", "anti-hbc", "hcv-antibody", "hiv-ag-ab"):
        p.qualitative(concept, False, when)


def build() -> dict[str, TherapyPatient]:
    out: dict[str, TherapyPatient] = {}

    # AChR+, refractory via 3-1, everything on record: doses for every drug, prerequisites met or
    # timed (MenB 7 days ago), thymectomy may be considered, trial candidates and a time-limited
    # exclusion (prednisone stopped 2026-11-10: NCT05828225 E7 lapses 2026-12-08).
    p = TherapyPatient("gmg-demo-therapy-achr", "Noah", "Options", "male", "1984-03-15")
    p.condition("mg-generalized", "2023-02-01")
    p.antibody("achr-binding", True, "cba", "2023-02-10")
    p.weight(82, "2024-06-01")
    p.weight(82, "2026-11-10")
    p.quantity("height", 178, "2026-11-10")
    p.quantity("haematocrit", 43.0, "2026-11-18")
    p.medication("prednisone", "2024-06-01", "2026-11-10", 45, status="completed")
    p.medication("azathioprine", "2024-06-01", None, 100, per_day=2)
    p.vaccine("menacwy", "2026-10-01")
    p.vaccine("menb", "2026-11-15")
    screening_labs(p, "2026-11-10")
    p.quantity("lipase", 32.0, "2026-11-10")
    p.quantity("amylase", 60.0, "2026-11-10")
    p.mg_adl(9, 1, "2026-11-10")
    p.qmg(17, "2026-11-10")
    p.pis("U", "2026-11-10")
    p.mgfa_class("IIIa", "2026-11-10")
    out["therapy-achr"] = p

    # AChR+, refractory, pregnant: teratogens out, B-cell depletion avoided, FcRn/C5 specialist
    # decisions; only tacrolimus is proposed; IVIG preferred by nothing, PLEX or IVIG for flares.
    p = TherapyPatient("gmg-demo-therapy-pregnant", "Olivia", "Expecting", "female", "1992-07-21")
    p.condition("mg-generalized", "2018-05-01")
    p.condition("pregnancy", "2026-08-20")
    p.antibody("achr-binding", True, "cba", "2018-05-10")
    base.standard_treatment(p)
    p.quantity("haematocrit", 36.0, "2026-11-15")
    p.mg_adl(8, 1, "2026-11-05")
    p.pis("U", "2026-11-05")
    out["therapy-pregnant"] = p

    # AChR+, refractory, age 72 with SBP 86 today and a myasthenic exacerbation: rapid card first,
    # IVIG preferred (age > 65, hypotension), IVIG 2 g/kg split (> 80 g); thymectomy 2026-03 makes
    # the CAR-T trial a time-limited exclusion (and age excludes NCT06688435).
    p = TherapyPatient("gmg-demo-therapy-elderly", "Pavel", "Elder", "male", "1954-02-02")
    p.condition("mg-generalized", "2016-01-01")
    p.condition("myasthenic-crisis", "2026-11-19")
    p.antibody("achr-binding", True, "ripa", "2016-01-10")
    base.standard_treatment(p)
    p.quantity("haematocrit", 38.0, "2026-11-20")
    p.systolic(86, "2026-11-22")
    p.thymectomy("2026-03-01")
    p.mg_adl(14, 2, "2026-11-20")
    p.mgfa_class("IVb", "2026-11-20")
    p.pis("U", "2026-11-20")
    out["therapy-elderly"] = p

    # AChR+ with thymoma, refractory after C5 (on eculizumab now), rituximab (intolerance) and
    # efgartigimod: C5 shown as current therapy, rituximab not suggested, HSCT may be considered,
    # thymectomy recommended; the only weight is from 2023 (too old to dose from) -> data-gap.weight.
    p = TherapyPatient("gmg-demo-therapy-hsct", "Quinn", "Thymoma", "female", "1976-09-09")
    p.condition("mg-generalized", "2015-04-01")
    p.condition("thymoma", "2015-04-01")
    p.antibody("achr-binding", True, "cba", "2015-04-10")
    p.weight(66, "2023-01-01")
    p.medication("prednisone", "2023-01-01", None, 40)
    p.medication("azathioprine", "2023-01-01", None, 75, per_day=2)
    p.infusion("rituximab", "2024-02-01", 1000)
    p.infusion("rituximab", "2024-02-15", 1000)
    p.intolerance("rituximab", "2024-02-16")
    p.infusion("efgartigimod", "2025-03-01", 700)
    p.medication("eculizumab", "2025-09-01", None, None, route="iv")
    p.mg_adl(10, 2, "2026-11-01")
    p.pis("W", "2026-11-01")
    out["therapy-hsct"] = p
    return out


def main() -> None:
    for slug, patient in build().items():
        (HERE / "bundles" / f"{slug}.json").write_text(json.dumps(patient.bundle(), indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
