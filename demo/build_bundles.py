"""Write the synthetic demo patients (FHIR R4 transaction Bundles) to demo/bundles/<slug>.json.

Run: .venv/bin/python demo/build_bundles.py. The JSON files are committed; this script is how
they were made (one place for the shapes of gmg-rules.md §1). Dates are fixed, relative to the
evaluation date 2026-11-22. Codes come from terminology/data (verified rows of terminology.md).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from terminology import systems

OUT = Path(__file__).resolve().parent / "bundles"
# The code-system URIs the service itself reads (one definition: terminology/systems.py).
SNOMED, LOINC, RXNORM, UCUM = systems.SNOMED, systems.LOINC, systems.RXNORM, systems.UCUM
MG_SCORES, MGFA_CLASS, MGFA_PIS = systems.MG_SCORES, systems.MGFA_CLASS, systems.MGFA_PIS
ASSAY, MG_LABS, CTCAE = systems.ANTIBODY_ASSAY, systems.MG_LABS, systems.CTCAE_GRADE_EXTENSION
ICD10CM = systems.ICD10CM

CONDITIONS = {
    "mg-generalized": (SNOMED, "230686005", "Generalized myasthenia gravis"),
    "mg-ocular": (SNOMED, "230684008", "Ocular myasthenia gravis"),
    "myasthenic-crisis": (SNOMED, "80976008", "Myasthenic crisis"),
    "hypertension": (SNOMED, "38341003", "Hypertensive disorder, systemic arterial"),
}
DRUGS = {
    "prednisone": ("8640", "prednisone"),
    "azathioprine": ("1256", "azathioprine"),
    "mycophenolate-mofetil": ("68149", "mycophenolate mofetil"),
    "tacrolimus": ("42316", "tacrolimus"),
    "carbamazepine": ("2002", "carbamazepine"),
    "methylprednisolone": ("6902", "methylprednisolone"),
    "ivig": ("2102433", "immune globulin intravenous (human)"),
}
ROUTES = {"oral": (SNOMED, "26643006", "Oral route"), "iv": (SNOMED, "47625008", "Intravenous route")}
ANTIBODIES = {
    "achr-binding": (LOINC, "11034-6", "Acetylcholine receptor binding Ab [Moles/volume] in Serum"),
    "musk": (LOINC, "51716-9", "Muscle specific receptor tyrosine kinase Ab [Moles/volume] in Serum"),
    "lrp4": (MG_LABS, "lrp4-ab", "LRP4 antibody"),
}
ADL_ITEMS = (
    "mg-adl-talking",
    "mg-adl-chewing",
    "mg-adl-swallowing",
    "mg-adl-breathing",
    "mg-adl-brushing-combing",
    "mg-adl-arising-chair",
    "mg-adl-diplopia",
    "mg-adl-ptosis",
)


def cc(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


class Patient:
    def __init__(self, pid: str, given: str, family: str, gender: str, birth: str) -> None:
        self.pid = pid
        self.n = 0
        self.resources: list[dict[str, Any]] = [
            {
                "resourceType": "Patient",
                "id": pid,
                "name": [{"family": family, "given": [given]}],
                "gender": gender,
                "birthDate": birth,
            }
        ]

    @property
    def ref(self) -> dict[str, str]:
        return {"reference": f"Patient/{self.pid}"}

    def add(self, resource_type: str, body: dict[str, Any]) -> dict[str, Any]:
        self.n += 1
        res = {"resourceType": resource_type, "id": f"{self.pid}-{resource_type.lower()}-{self.n}"}
        res.update(body)
        self.resources.append(res)
        return res

    def condition(self, key: str, onset: str) -> None:
        system, code, display = CONDITIONS[key]
        self.add(
            "Condition",
            {
                "clinicalStatus": cc("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"),
                "verificationStatus": cc(
                    "http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed"
                ),
                "code": cc(system, code, display),
                "subject": self.ref,
                "onsetDateTime": onset,
                "recordedDate": onset,
            },
        )

    def _obs(self, code: dict[str, Any], when: str, **value: Any) -> dict[str, Any]:
        body = {"status": "final", "code": code, "subject": self.ref, "effectiveDateTime": when}
        body.update(value)
        return self.add("Observation", body)

    def weight(self, kg: float, when: str) -> None:
        self._obs(
            cc(LOINC, "29463-7", "Body weight"),
            when,
            category=[cc("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs", "Vital Signs")],
            valueQuantity={"value": kg, "unit": "kg", "system": UCUM, "code": "kg"},
        )

    def mg_adl(self, total: int, ocular: int | None, when: str) -> None:
        body: dict[str, Any] = {"valueInteger": total}
        if ocular is not None:
            items = dict.fromkeys(ADL_ITEMS, 0)
            items["mg-adl-diplopia"] = min(ocular, 3)
            items["mg-adl-ptosis"] = ocular - min(ocular, 3)
            rest = total - ocular
            for k in ADL_ITEMS[:6]:
                items[k] = min(rest, 3)
                rest -= items[k]
            body["component"] = [
                {"code": cc(MG_SCORES, k, k.removeprefix("mg-adl-").replace("-", " ")), "valueInteger": v}
                for k, v in items.items()
            ]
        self._obs(cc(MG_SCORES, "mg-adl-total", "MG-ADL total score"), when, **body)

    def mgfa_class(self, value: str, when: str) -> None:
        self._obs(
            cc(MG_SCORES, "mgfa-class", "MGFA clinical classification"),
            when,
            valueCodeableConcept=cc(MGFA_CLASS, value, f"MGFA class {value}"),
        )

    def pis(self, value: str, when: str) -> None:
        self._obs(
            cc(MG_SCORES, "mgfa-pis", "MGFA post-intervention status"),
            when,
            valueCodeableConcept=cc(MGFA_PIS, value, f"PIS {value}"),
        )

    def antibody(self, target: str, positive: bool, assay: str, when: str) -> None:
        system, code, display = ANTIBODIES[target]
        value = cc(SNOMED, "10828004", "Positive") if positive else cc(SNOMED, "260385009", "Negative")
        self._obs(
            cc(system, code, display),
            when,
            category=[cc("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory", "Laboratory")],
            valueCodeableConcept=value,
            method=cc(ASSAY, assay, {"cba": "Cell-based assay", "elisa": "ELISA", "ripa": "Radioimmunoprecipitation assay"}[assay]),
        )

    def trough(self, ng_ml: float, when: str) -> None:
        self._obs(
            cc(LOINC, "11253-2", "Tacrolimus [Mass/volume] in Blood"),
            when,
            category=[cc("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory", "Laboratory")],
            valueQuantity={"value": ng_ml, "unit": "ng/mL", "system": UCUM, "code": "ng/mL"},
        )

    def medication(
        self,
        drug: str,
        start: str,
        end: str | None,
        dose_mg: float | None,
        per_day: int = 1,
        status: str = "active",
        route: str = "oral",
    ) -> dict[str, Any]:
        rxcui, name = DRUGS[drug]
        dosage: dict[str, Any] = {
            "text": f"{dose_mg:g} mg {per_day}x daily" if dose_mg else "as directed",
            "route": cc(*ROUTES[route]),
        }
        if dose_mg is not None:
            dosage["timing"] = {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}}
            dosage["doseAndRate"] = [
                {"doseQuantity": {"value": dose_mg, "unit": "mg", "system": UCUM, "code": "mg"}}
            ]
        period = {"start": start}
        if end:
            period["end"] = end
        return self.add(
            "MedicationStatement",
            {
                "status": status,
                "medicationCodeableConcept": cc(RXNORM, rxcui, name),
                "subject": self.ref,
                "effectivePeriod": period,
                "dosage": [dosage],
            },
        )

    def plex(self, start: str, end: str) -> None:
        self.add(
            "Procedure",
            {
                "status": "completed",
                "code": cc(SNOMED, "225067007", "Therapeutic plasma exchange (procedure)"),
                "subject": self.ref,
                "performedPeriod": {"start": start, "end": end},
            },
        )

    def ivig(self, day: str, grams: float) -> None:
        rxcui, name = DRUGS["ivig"]
        self.add(
            "MedicationAdministration",
            {
                "status": "completed",
                "medicationCodeableConcept": cc(RXNORM, rxcui, name),
                "subject": self.ref,
                "effectiveDateTime": day,
                "dosage": {
                    "route": cc(*ROUTES["iv"]),
                    "dose": {"value": grams, "unit": "g", "system": UCUM, "code": "g"},
                },
            },
        )

    def adverse_event(self, suspect: dict[str, Any], grade: int, when: str, event: tuple[str, str, str]) -> None:
        self.add(
            "AdverseEvent",
            {
                "extension": [{"url": CTCAE, "valueInteger": grade}],
                "actuality": "actual",
                "event": cc(*event),
                "subject": self.ref,
                "date": when,
                "seriousness": cc(
                    "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness", "serious", "Serious"
                ),
                "suspectEntity": [{"instance": {"reference": f"MedicationStatement/{suspect['id']}"}}],
            },
        )

    def bundle(self) -> dict[str, Any]:
        return {
            "resourceType": "Bundle",
            "id": f"demo-{self.pid}",
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, systems.GMG_BASE + '/' + r['resourceType'] + '/' + r['id'])}",
                    "resource": r,
                    "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
                }
                for r in self.resources
            ],
        }


def standard_treatment(p: Patient, aza: bool = True) -> None:
    """Prednisone 40 mg/d (0.57 mg/kg at 70 kg) and azathioprine 150 mg/d (2.1 mg/kg) since 2025-01."""
    p.weight(70, "2025-01-05")
    p.weight(70, "2026-10-01")
    p.medication("prednisone", "2025-01-10", None, 40)
    if aza:
        p.medication("azathioprine", "2025-01-10", None, 75, per_day=2)


def build() -> dict[str, Patient]:
    out: dict[str, Patient] = {}

    p = Patient("gmg-demo-met-3-1", "Amelia", "Refractory", "female", "1978-04-12")
    p.condition("mg-generalized", "2019-03-01")
    p.antibody("achr-binding", True, "ripa", "2019-03-10")
    standard_treatment(p)
    p.mg_adl(9, 2, "2026-11-02")
    p.pis("U", "2026-11-02")
    p.mgfa_class("IIIb", "2026-11-02")
    out["met-3-1"] = p

    p = Patient("gmg-demo-met-3-2", "Bruno", "Improved", "male", "1969-09-30")
    p.condition("mg-generalized", "2018-06-01")
    p.antibody("achr-binding", True, "cba", "2018-06-10")
    p.weight(80, "2026-01-10")
    p.medication("prednisone", "2025-06-01", None, 40)
    p.medication("mycophenolate-mofetil", "2025-06-01", None, 1000, per_day=2)
    p.mg_adl(7, 1, "2026-10-20")
    p.pis("I", "2026-10-20")
    out["met-3-2"] = p

    p = Patient("gmg-demo-met-3-3", "Chen", "Intolerant", "female", "1985-02-14")
    p.condition("mg-generalized", "2021-01-15")
    p.antibody("achr-binding", True, "cba", "2021-01-20")
    p.weight(60, "2025-02-01")
    p.medication("prednisone", "2025-02-01", None, 30)
    aza = p.medication("azathioprine", "2025-02-10", "2025-04-20", 50, per_day=2, status="stopped")
    p.adverse_event(aza, 3, "2025-04-18", (SNOMED, "197354009", "Toxic liver disease"))
    p.mg_adl(8, 2, "2026-11-01")
    p.pis("U", "2026-11-01")
    out["met-3-3"] = p

    p = Patient("gmg-demo-met-3-4", "Dmitri", "Rescue", "male", "1974-07-07")
    p.condition("mg-generalized", "2020-09-01")
    p.antibody("achr-binding", True, "ripa", "2020-09-05")
    p.weight(75, "2026-01-05")
    p.medication("prednisone", "2026-01-05", None, 40)
    p.medication("azathioprine", "2026-08-01", None, 75, per_day=2)
    for day in ("2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06"):
        p.ivig(day, 30)
    p.plex("2026-07-01", "2026-07-10")
    p.mg_adl(10, 2, "2026-11-10")
    p.pis("W", "2026-11-10")
    out["met-3-4"] = p

    p = Patient("gmg-demo-ocular-dominant", "Eva", "Ptosis", "female", "1990-11-11")
    p.condition("mg-generalized", "2022-05-01")
    p.antibody("achr-binding", True, "cba", "2022-05-05")
    standard_treatment(p)
    p.mg_adl(6, 3, "2026-11-05")
    p.pis("U", "2026-11-05")
    out["not-met-severity-ocular-dominant"] = p

    p = Patient("gmg-demo-ocular-only", "Farid", "Ocular", "male", "1960-01-20")
    p.condition("mg-ocular", "2023-02-01")
    p.antibody("achr-binding", True, "ripa", "2023-02-05")
    p.mg_adl(3, 3, "2026-11-01")
    p.mgfa_class("I", "2026-11-01")
    out["ocular-only"] = p

    p = Patient("gmg-demo-inadequate", "Greta", "Undertreated", "female", "1982-08-08")
    p.condition("mg-generalized", "2022-02-01")
    p.antibody("achr-binding", True, "cba", "2022-02-05")
    p.weight(70, "2026-05-01")
    p.medication("prednisone", "2026-05-01", None, 20)
    p.medication("tacrolimus", "2026-05-01", None, 1.5, per_day=2)
    p.medication("carbamazepine", "2024-01-01", None, 200, per_day=2)
    p.medication("azathioprine", "2026-05-01", None, 50)
    p.trough(3.1, "2026-07-01")
    p.trough(3.4, "2026-10-01")
    p.mg_adl(9, 1, "2026-11-12")
    p.pis("U", "2026-11-12")
    out["inadequate-treatment"] = p

    p = Patient("gmg-demo-indeterminate", "Hugo", "Gaps", "male", "1971-03-03")
    p.condition("mg-generalized", "2020-04-01")
    p.antibody("achr-binding", True, "cba", "2020-04-05")
    p.medication("prednisone", "2025-01-01", None, 40)
    p.medication("azathioprine", "2025-01-01", None, 150)
    p.mg_adl(9, None, "2026-11-01")
    out["indeterminate"] = p

    p = Patient("gmg-demo-crisis", "Ines", "Crisis", "female", "1966-12-01")
    p.condition("mg-generalized", "2017-10-01")
    p.condition("myasthenic-crisis", "2026-11-12")
    p.antibody("achr-binding", True, "cba", "2017-10-05")
    standard_treatment(p)
    p.plex("2026-04-01", "2026-04-10")
    p.plex("2026-11-12", "2026-11-20")
    p.mgfa_class("V", "2026-11-12")
    p.mg_adl(16, 2, "2026-11-13")
    p.pis("E", "2026-11-13")
    out["acute-exacerbation"] = p

    p = Patient("gmg-demo-musk", "Jonas", "Musk", "male", "1988-05-05")
    p.condition("mg-generalized", "2021-07-01")
    p.antibody("achr-binding", False, "cba", "2021-07-05")
    p.antibody("musk", True, "cba", "2021-07-05")
    standard_treatment(p)
    p.mg_adl(8, 1, "2026-11-08")
    p.pis("U", "2026-11-08")
    out["musk-positive"] = p

    p = Patient("gmg-demo-seronegative", "Kira", "Seroneg", "female", "1979-10-10")
    p.condition("mg-generalized", "2020-01-10")
    p.antibody("achr-binding", False, "cba", "2024-02-01")
    p.antibody("musk", False, "cba", "2024-02-01")
    p.antibody("lrp4", False, "cba", "2024-02-01")
    standard_treatment(p)
    p.mg_adl(8, 2, "2026-11-03")
    p.pis("U", "2026-11-03")
    out["seronegative-cba"] = p

    p = Patient("gmg-demo-unconfirmed", "Lars", "Elisa", "male", "1975-06-06")
    p.condition("mg-generalized", "2019-08-01")
    p.antibody("achr-binding", False, "elisa", "2019-08-05")
    p.antibody("musk", False, "elisa", "2019-08-05")
    standard_treatment(p)
    p.mg_adl(9, 2, "2026-11-04")
    p.pis("W", "2026-11-04")
    out["unconfirmed-elisa"] = p

    p = Patient("gmg-demo-no-mg", "Maya", "Healthy", "female", "1970-02-02")
    p.condition("hypertension", "2015-01-01")
    p.weight(68, "2026-06-01")
    out["no-mg"] = p
    return out


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for slug, patient in build().items():
        (OUT / f"{slug}.json").write_text(json.dumps(patient.bundle(), indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
