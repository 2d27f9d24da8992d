"""A demo patient, coded the way the service expects, rewritten the way an Epic-like or a
Cerner-like EHR would hold it (test support: the fixtures of issue #14 point 10).

What changes, and the fact of ../shared/background/ehr-data-shapes.md each change imitates:

Epic-like (§1):
- MG-ADL, QMG, MGFA class and post-intervention status are rows of a site-built flowsheet:
  code = the flowsheet-row OID (organisation segment included) + row id, beside the environment's
  hashed flowsheet id (§1.1); scores as unitless `valueQuantity`; MGFA class and PIS as the text
  the row shows ("Class IIIb", "Unchanged"); the eight MG-ADL items as one Observation each,
  recorded at the same instant as the total (a flowsheet row per item). Instants, not dates.
- Labs: the site's lab-component coding beside LOINC and before it (§1.1 "receivers must scan all
  coding[] entries"); the `laboratory` category plus Epic's own "Lab" category coding; the assay
  method from the site's method list. LRP4 antibody has no LOINC: the component coding only.
- Vital signs: the standard flowsheet rows (14 = Weight) before LOINC.
- No MedicationStatement in R4 (§1.2): history is MedicationRequest (intent order, the course as
  `dosageInstruction.timing.repeat.boundsPeriod`, `authoredOn`), infusions MedicationAdministration,
  both with `medicationReference` to a Medication the searches do not return (display only); the
  Medication (ERX id, RxNorm product and ingredient codes) is read by id (`medications`).
- Draft orders carry the Medication contained, coded with an RxNorm product (SCD) (§1.2, February
  2024); procedures come as procedure records (EAP ids, the "CPT substitute" OID, §1.3).
- AdverseEvent stays (Epic lists AdverseEvent.Search R4, §1.3), its suspect now the request.

Cerner-like (§2):
- Labs coded only with the tenant's event code (`.../codeSet/72`); vital signs event code + LOINC.
- MG scores are the tenant's event codes too; values `valueQuantity` with the unit "{score}",
  MG-ADL items as components of the total; MGFA class, PIS and antibody results as the tenant's
  coded answers (nomenclature) with their text; the assay method from the tenant's method list.
- No MedicationStatement (§2): history is MedicationRequest (intent plan, as documented home
  medications are), infusions MedicationAdministration, both with `medicationCodeableConcept`:
  RxNorm (product when there is one) + the order synonym. Drafts the same way.
- No AdverseEvent in the R4 API (§2 lists none): a drug's adverse event is recorded where
  Millennium keeps it, as an AllergyIntolerance of type intolerance with the reaction.
- Immunizations: event code (userSelected) + CVX.

The patient id, dates, values and doses are unchanged: the finding codes must be the same.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable

import terminology

from . import sites as s

SHAPES = ("canonical", "epic", "cerner")


@dataclass
class Chart:
    """One patient as an EHR holds it: what its searches return, what is only read by id."""

    shape: str
    patient_id: str
    resources: list[dict[str, Any]]  # every resource a patient search can return
    medications: dict[str, dict[str, Any]] = field(default_factory=dict)  # Medication id -> resource
    drafts: dict[str, Any] = field(default_factory=dict)  # the draftOrders Bundle of order hooks


def _hash(text: str, n: int = 16) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def _epic_id(canonical: str) -> str:
    return "e" + _hash(canonical, 20)


def _cerner_id(canonical: str, prefix: str) -> str:
    return f"{prefix}-{int(_hash(canonical, 9), 16) % 10**9}"


def _coding(system: str, code: str, display: str | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"system": system, "code": code}
    if display:
        out["display"] = display
    out.update(extra)
    return out


def _first(codeable: dict[str, Any] | None) -> tuple[str, str, str]:
    c = ((codeable or {}).get("coding") or [{}])[0]
    return c.get("system", ""), c.get("code", ""), c.get("display", "")


def _instant(day: Any, minute: int = 0) -> Any:
    """An EHR records an instant; the date part stays the day it was."""
    if isinstance(day, str) and len(day) == 10:
        return f"{day}T09:{minute % 60:02d}:00Z"
    return day


# -- drugs -----------------------------------------------------------------------------------

# RxNorm products (SCD) not in the terminology data, named where the issue names them.
EXTRA_PRODUCTS = {"2551": ("309309", "ciprofloxacin 500 MG Oral Tablet")}  # issue #14


def product_of(ingredient_code: str) -> tuple[str, str] | None:
    """An RxNorm clinical drug (SCD) of the ingredient: from the terminology data (a clinical
    drug whose name starts with the ingredient's, not a pack or a branded drug), else EXTRA."""
    if ingredient_code in EXTRA_PRODUCTS:
        return EXTRA_PRODUCTS[ingredient_code]
    concept = terminology.concept_for(s.RXNORM, ingredient_code)
    if concept is None:
        return None
    names = [c.display.lower() for c in concept.codes if c.role == "ingredient"]
    candidates = [
        ("Oral" not in code.display, len(code.display), code.code, code.display) for code in concept.codes
        if code.role == "product" and "[" not in code.display and "{" not in code.display
        and any(f" {n} " in f" {code.display.lower()} " for n in names)]
    return (min(candidates)[2], min(candidates)[3]) if candidates else None


def _drug(mcc: dict[str, Any]) -> tuple[str, str]:
    _sys, code, display = _first(mcc)
    return code, (mcc.get("text") or display)


def epic_medication(code: str, name: str) -> dict[str, Any]:
    """The organisation's Medication record: ERX id, then RxNorm product and ingredient codes
    (§1.2: several RxNorm codes plus other drug-database codes)."""
    erx = str(100000 + int(_hash("erx" + code, 6), 16) % 900000)
    codings = [_coding(s.EPIC_ERX, erx, name.upper())]
    product = product_of(code)
    if product is not None:
        codings.append(_coding(s.RXNORM, product[0], product[1]))
    codings.append(_coding(s.RXNORM, code, name))
    return {
        "resourceType": "Medication", "id": _epic_id("medication:" + code),
        "identifier": [{"use": "usual", "system": s.EPIC_ERX, "value": erx}],
        "code": {"coding": codings, "text": (product[1] if product else name)},
    }


def cerner_medication_concept(code: str, name: str, *, product: bool = True) -> dict[str, Any]:
    found = product_of(code) if product else None
    rx = _coding(s.RXNORM, *found) if found else _coding(s.RXNORM, code, name)
    synonym = _coding(s.CERNER_SYNONYM, str(int(_hash("syn" + code, 7), 16) % 10**8), name, userSelected=True)
    return {"coding": [rx, synonym], "text": found[1] if found else name}


# -- the standard draft orders of every patient ----------------------------------------------

# (draft id, RxNorm ingredient, name, (dose mg, times per day) or None)
DRAFT_DRUGS: tuple[tuple[str, str, str, tuple[float, int] | None], ...] = (
    ("ecu-1", "591781", "eculizumab", None),
    ("ivig-1", "5666", "immunoglobulin G", None),
    ("rtx-1", "121191", "rituximab", None),
    ("cipro-1", "2551", "ciprofloxacin", (500, 2)),
    ("mmf-1", "68149", "mycophenolate mofetil", (1000, 2)),
)


def _draft(pid: str, rid: str, dose: tuple[float, int] | None, today: str) -> dict[str, Any]:
    res: dict[str, Any] = {"resourceType": "MedicationRequest", "id": rid, "status": "draft",
                           "intent": "order", "subject": {"reference": f"Patient/{pid}"}, "authoredOn": today}
    if dose is not None:
        res["dosageInstruction"] = [{
            "timing": {"repeat": {"frequency": dose[1], "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": dose[0], "unit": "mg",
                                              "system": "http://unitsofmeasure.org", "code": "mg"}}]}]
    return res


def draft_orders(shape: str, pid: str, today: str = "2026-11-22") -> dict[str, Any]:
    entries = []
    for rid, code, name, dose in DRAFT_DRUGS:
        res = _draft(pid, rid, dose, today)
        product = product_of(code)
        if shape == "canonical":
            res["medicationCodeableConcept"] = {"coding": [_coding(s.RXNORM, code)], "text": name}
        elif shape == "epic":  # contained, RxNorm product only (order entry sends SCD/SBD)
            assert product is not None, f"no RxNorm product for {name}"
            res["contained"] = [{"resourceType": "Medication", "id": "med1",
                                 "code": {"coding": [_coding(s.RXNORM, *product)], "text": product[1]}}]
            res["medicationReference"] = {"reference": "#med1", "display": product[1]}
        else:
            res["medicationCodeableConcept"] = cerner_medication_concept(code, name)
        entries.append({"resource": res})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


# -- Epic-like ---------------------------------------------------------------------------------


def _epic_observation(res: dict[str, Any], ids: dict[str, str]) -> list[dict[str, Any]]:
    system, code, display = _first(res.get("code"))
    out = copy.deepcopy(res)
    out["id"] = ids[res["id"]]
    out["effectiveDateTime"] = _instant(res.get("effectiveDateTime"))
    if system == s.MG_SCORES and code in s.EPIC_ROWS:
        return _epic_flowsheet(out, code)
    categories = {c.get("code") for cat in res.get("category", []) for c in cat.get("coding", [])}
    if "vital-signs" in categories and code in s.EPIC_VITAL_ROWS:
        row, name = s.EPIC_VITAL_ROWS[code]
        out["code"] = {"coding": [_coding(s.EPIC_FLOWSHEET_ROW, row, name),
                                  _coding(s.EPIC_FLOWSHEET_ID, "t" + _hash("flo" + row, 23)),
                                  *res["code"]["coding"]], "text": name}
        return [out]
    if code in s.EPIC_LAB_COMPONENTS:
        comp, name = s.EPIC_LAB_COMPONENTS[code]
        codings = [_coding(s.EPIC_LAB_COMPONENT, comp, name)]
        if system == s.LOINC:
            codings.append(res["code"]["coding"][0])
        out["code"] = {"coding": codings, "text": name}
        out["category"] = [{"coding": [_coding(s.OBS_CATEGORY, "laboratory", "Laboratory")], "text": "Laboratory"},
                           {"coding": [_coding(s.EPIC_LAB_CATEGORY, "Lab", "Lab")], "text": "Lab"}]
        if "method" in res:
            method, mname = s.EPIC_METHODS[_first(res["method"])[1]]
            out["method"] = {"coding": [_coding(s.EPIC_LAB_METHOD, method, mname)], "text": mname}
        return [out]
    raise ValueError(f"no Epic-like shape for Observation code {system}|{code}")


def _epic_flowsheet(out: dict[str, Any], code: str) -> list[dict[str, Any]]:
    row, name = s.EPIC_ROWS[code]
    out["code"] = {"coding": [_coding(s.EPIC_FLOWSHEET_ROW, row, name),
                              _coding(s.EPIC_FLOWSHEET_ID, "t" + _hash("flo" + row, 23))], "text": name}
    out["category"] = [{"coding": [_coding(s.OBS_CATEGORY, "survey", "Survey")], "text": "Survey"}]
    if "valueInteger" in out:
        out["valueQuantity"] = {"value": out.pop("valueInteger")}  # unitless, as flowsheets send
    if code == "mgfa-class":
        out["valueString"] = s.EPIC_MGFA_TEXT.format(code=_first(out.pop("valueCodeableConcept"))[1])
    elif code == "mgfa-pis":
        out["valueString"] = s.EPIC_PIS_TEXT[_first(out.pop("valueCodeableConcept"))[1]]
    items = out.pop("component", [])
    result = [out]
    for n, comp in enumerate(items):  # each MG-ADL item is its own flowsheet row, same instant
        item_code = _first(comp.get("code"))[1]
        irow, iname = s.EPIC_ROWS[item_code]
        item = {k: v for k, v in out.items() if k not in ("valueQuantity", "code", "id")}
        item["id"] = _epic_id(f"{out['id']}:{item_code}")
        item["code"] = {"coding": [_coding(s.EPIC_FLOWSHEET_ROW, irow, iname),
                                   _coding(s.EPIC_FLOWSHEET_ID, "t" + _hash("flo" + irow, 23))], "text": iname}
        item["valueQuantity"] = {"value": comp["valueInteger"]}
        result.append(item)
    return result


def _course_request(res: dict[str, Any], rid: str, intent: str) -> dict[str, Any]:
    """A MedicationStatement's course written as the MedicationRequest an EHR keeps."""
    period = res.get("effectivePeriod") or {}
    start = period.get("start") or res.get("effectiveDateTime")
    out: dict[str, Any] = {"resourceType": "MedicationRequest", "id": rid,
                           "status": {"active": "active", "completed": "completed", "stopped": "stopped",
                                      "intended": "active", "on-hold": "on-hold"}.get(res.get("status"), "unknown"),
                           "intent": intent, "subject": res["subject"]}
    if start:
        out["authoredOn"] = start
    dosages = copy.deepcopy(res.get("dosage", []))
    for d in dosages:
        if period:
            d.setdefault("timing", {}).setdefault("repeat", {})["boundsPeriod"] = dict(period)
    if dosages:
        out["dosageInstruction"] = dosages
    elif period:
        out["dosageInstruction"] = [{"timing": {"repeat": {"boundsPeriod": dict(period)}}}]
    return out


def epic_like(bundle: dict[str, Any]) -> Chart:
    resources = [e["resource"] for e in bundle["entry"]]
    pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    ids = {r["id"]: _epic_id(r["id"]) for r in resources if r["resourceType"] != "Patient"}
    out: list[dict[str, Any]] = []
    medications: dict[str, dict[str, Any]] = {}

    def reference_to(mcc: dict[str, Any]) -> dict[str, Any]:
        code, name = _drug(mcc)
        med = epic_medication(code, name)
        medications[med["id"]] = med
        return {"reference": f"Medication/{med['id']}", "display": med["code"]["text"].upper()}

    for r in resources:
        t = r["resourceType"]
        if t == "Patient":
            out.append(copy.deepcopy(r))
        elif t == "Observation":
            out.extend(_epic_observation(r, ids))
        elif t == "MedicationStatement":
            req = _course_request(r, ids[r["id"]], "order")
            req["medicationReference"] = reference_to(r["medicationCodeableConcept"])
            out.append(req)
        elif t == "MedicationAdministration":
            adm = copy.deepcopy(r)
            adm["id"] = ids[r["id"]]
            adm["medicationReference"] = reference_to(adm.pop("medicationCodeableConcept"))
            adm["effectiveDateTime"] = _instant(adm.get("effectiveDateTime"), 30)
            out.append(adm)
        elif t == "Condition":
            cond = copy.deepcopy(r)
            cond["id"] = ids[r["id"]]
            cond["category"] = [{"coding": [_coding("http://terminology.hl7.org/CodeSystem/condition-category",
                                                    "problem-list-item", "Problem List Item")]}]
            out.append(cond)
        elif t == "Procedure":
            proc = copy.deepcopy(r)
            proc["id"] = ids[r["id"]]
            eap, name = s.EPIC_PROCEDURES[_first(r["code"])[1]]
            proc["code"] = {"coding": [_coding(s.EPIC_PROCEDURE, eap, name)], "text": name}
            out.append(proc)
        elif t == "AdverseEvent":
            ae = copy.deepcopy(r)
            ae["id"] = ids[r["id"]]
            for suspect in ae.get("suspectEntity", []):
                ref = suspect["instance"]["reference"]
                rtype, rid = ref.split("/", 1)
                suspect["instance"]["reference"] = f"{'MedicationRequest' if rtype == 'MedicationStatement' else rtype}/{ids[rid]}"
            out.append(ae)
        else:  # Immunization (CVX), AllergyIntolerance: as US Core has them
            other = copy.deepcopy(r)
            other["id"] = ids[r["id"]]
            out.append(other)
    return Chart("epic", pid, out, medications, draft_orders("epic", pid))


# -- Cerner-like -------------------------------------------------------------------------------


def _cerner_code(system: str, code: str, fallback: dict[str, Any] | None = None) -> dict[str, Any]:
    event, name = s.CERNER_EVENTS[code]
    codings = [_coding(s.CERNER_EVENT, event, name, userSelected=True)]
    return {"coding": codings, "text": name}


def _cerner_answer(codeable: dict[str, Any]) -> dict[str, Any]:
    system, code, _display = _first(codeable)
    nid, text = s.CERNER_ANSWERS[(system, code)]
    return {"coding": [_coding(s.CERNER_NOMENCLATURE, nid, text)], "text": text}


def _score(value: Any) -> dict[str, Any]:
    return {"value": value, "unit": "{score}", "system": "http://unitsofmeasure.org", "code": "{score}"}


def _cerner_observation(res: dict[str, Any], rid: str) -> dict[str, Any]:
    system, code, _display = _first(res.get("code"))
    out = copy.deepcopy(res)
    out["id"] = rid
    out["effectiveDateTime"] = _instant(res.get("effectiveDateTime"), 15)
    categories = {c.get("code") for cat in res.get("category", []) for c in cat.get("coding", [])}
    out["code"] = _cerner_code(system, code)
    if "vital-signs" in categories:  # vital signs keep LOINC beside the event code (§2)
        out["code"]["coding"].append(res["code"]["coding"][0])
        for comp in out.get("component", []):
            csys, ccode, _ = _first(comp["code"])
            comp["code"] = _cerner_code(csys, ccode)
            comp["code"]["coding"].append(_coding(csys, ccode))
        return out
    if "valueInteger" in out:
        out["valueQuantity"] = _score(out.pop("valueInteger"))
    if "valueCodeableConcept" in out:
        out["valueCodeableConcept"] = _cerner_answer(out["valueCodeableConcept"])
    if "method" in out:
        method, name = s.CERNER_METHODS[_first(out["method"])[1]]
        out["method"] = {"coding": [_coding(s.CERNER_METHOD, method, name)], "text": name}
    for comp in out.get("component", []):  # MG-ADL items stay components, with event codes
        comp["code"] = _cerner_code(*_first(comp["code"])[:2])
        if "valueInteger" in comp:
            comp["valueQuantity"] = _score(comp.pop("valueInteger"))
    return out


def cerner_like(bundle: dict[str, Any]) -> Chart:
    resources = [e["resource"] for e in bundle["entry"]]
    pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    prefix = {"Observation": "L", "MedicationStatement": "M", "MedicationAdministration": "MA",
              "Condition": "p", "Procedure": "P", "Immunization": "I", "AllergyIntolerance": "A",
              "AdverseEvent": "A"}
    ids = {r["id"]: _cerner_id(r["id"], prefix.get(r["resourceType"], "X"))
           for r in resources if r["resourceType"] != "Patient"}
    by_id = {r["id"]: r for r in resources}
    out: list[dict[str, Any]] = []
    for r in resources:
        t = r["resourceType"]
        if t == "Observation":
            out.append(_cerner_observation(r, ids[r["id"]]))
        elif t == "MedicationStatement":
            req = _course_request(r, ids[r["id"]], "plan")
            req["reportedBoolean"] = True
            req["medicationCodeableConcept"] = cerner_medication_concept(*_drug(r["medicationCodeableConcept"]))
            out.append(req)
        elif t == "MedicationAdministration":
            adm = copy.deepcopy(r)
            adm["id"] = ids[r["id"]]
            adm["medicationCodeableConcept"] = cerner_medication_concept(*_drug(r["medicationCodeableConcept"]))
            out.append(adm)
        elif t == "Immunization":
            imm = copy.deepcopy(r)
            imm["id"] = ids[r["id"]]
            cvx = _first(r["vaccineCode"])
            event, name = s.CERNER_VACCINES[cvx[1]]
            imm["vaccineCode"] = {"coding": [_coding(s.CERNER_EVENT, event, name, userSelected=True),
                                             _coding(s.CVX, cvx[1], cvx[2])], "text": name}
            out.append(imm)
        elif t == "AdverseEvent":
            out.append(_cerner_intolerance(r, ids[r["id"]], by_id))
        else:  # Patient, Condition (SNOMED), Procedure (SNOMED), AllergyIntolerance
            other = copy.deepcopy(r)
            if t != "Patient":
                other["id"] = ids[r["id"]]
            out.append(other)
    return Chart("cerner", pid, out, {}, draft_orders("cerner", pid))


_SEVERITY = {1: "mild", 2: "moderate", 3: "severe", 4: "severe", 5: "severe"}


def _cerner_intolerance(ae: dict[str, Any], rid: str, by_id: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A drug's adverse event as Millennium records it: an intolerance with the reaction."""
    suspect = by_id[ae["suspectEntity"][0]["instance"]["reference"].split("/", 1)[1]]
    grade = next((e["valueInteger"] for e in ae.get("extension", []) if "ctcae-grade" in e.get("url", "")), None)
    code, name = _drug(suspect["medicationCodeableConcept"])
    return {
        "resourceType": "AllergyIntolerance", "id": rid,
        "clinicalStatus": {"coding": [_coding("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                              "active", "Active")]},
        "verificationStatus": {"coding": [_coding("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                                                  "confirmed", "Confirmed")]},
        "type": "intolerance", "category": ["medication"],
        "code": cerner_medication_concept(code, name, product=False),
        "patient": ae["subject"], "recordedDate": ae.get("date"),
        "reaction": [{"manifestation": [ae["event"]], "severity": _SEVERITY.get(grade or 0, "moderate"),
                      "onset": ae.get("date")}],
    }


def canonical(bundle: dict[str, Any]) -> Chart:
    resources = [copy.deepcopy(e["resource"]) for e in bundle["entry"]]
    pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    return Chart("canonical", pid, resources, {}, draft_orders("canonical", pid))


RESHAPERS: dict[str, Callable[[dict[str, Any]], Chart]] = {
    "canonical": canonical, "epic": epic_like, "cerner": cerner_like,
}
