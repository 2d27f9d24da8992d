"""`gmg-cds readiness`: is a site's data ready for the service? For the integration team.

Over a FHIR server (base URL, token, patient ids: fetched exactly as the service fetches,
GMG_CDS_FHIR_QUERIES and Medication reads by reference included), a folder of Bulk Data NDJSON,
FHIR Bundles (one patient each, or several), or saved CDS Hooks requests, it reports:

- per concept the service reads (MG diagnosis, MG-ADL, QMG, MGFA class, PIS, each antibody, each
  lab and vital sign, each drug class, procedures, vaccines) how many patients have data the
  service recognises. "Recognised" is decided by the service's own mapping (`build_record`, the
  same terminology and site concept maps, values read the same way), not by a second list;
- the most frequent codings it did not recognise: resource type and element, system, code,
  display, count. An element is listed when none of its codings is recognised (a flowsheet row
  with an unmapped site code and an environment token shows both);
- the targets of the loaded site concept maps (GMG_CDS_CONCEPT_MAPS) in external code systems
  that the service does not use (a site may map its whole lab catalogue: those do nothing);
- with a FHIR server, the prefetch keys that could not be fetched and why (e.g. http-400 when
  Epic refuses an Observation search without `category`).

`--concept-map-template FILE` writes the unrecognised codings as a FHIR R4 ConceptMap skeleton,
one group per source system: a site fills in each group's target system and each element's
target code (docs/SITE-INTEGRATION.md), then names the file in GMG_CDS_CONCEPT_MAPS. The skeleton
cannot be loaded unfilled (its groups have no target system): nothing is ever mapped by accident.

No patient data is printed: counts and codes only (a code is not patient data; a display text is
the EHR's name of a code).
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, TextIO

import terminology
from fhir_mappings import build_record
from fhir_mappings.prefetch import KEY_FOR_TYPE, prefetch_from_resources
from gmg.record import PatientRecord

PROJECT_SYSTEMS = terminology.systems.GMG_BASE + "/CodeSystem/"
# Code systems every site shares: a code of theirs the service does not recognise is one it does
# not read (nothing to map), unlike a code of a site's own system.
STANDARD_SYSTEMS = frozenset({
    terminology.systems.LOINC, terminology.systems.SNOMED, terminology.systems.RXNORM,
    terminology.systems.ATC, terminology.systems.CVX, terminology.systems.ICD10CM,
    terminology.systems.ICD10, terminology.systems.CPT, terminology.systems.UCUM,
    "http://hl7.org/fhir/sid/ndc", "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
})


# Codings that identify a row in one environment only, never what it means: not worth mapping
# (Epic's hashed flowsheet id "changes between environments", ehr-data-shapes.md §1.1).
NOT_MAPPABLE = frozenset({"http://open.epic.com/FHIR/StructureDefinition/observation-flowsheet-id"})


def is_standard(system: str) -> bool:
    return terminology.normalise_system(system) in STANDARD_SYSTEMS


# -- what the service reads, per patient ---------------------------------------------------------


@dataclass(frozen=True)
class Row:
    label: str
    present: Callable[[PatientRecord], bool]


def _display(key: str) -> str:
    try:
        return terminology.concept(key).display
    except KeyError:
        return key


def concept_rows() -> list[Row]:
    """The concepts the service reads, in the order a clinician would look for them."""
    mg = terminology.members("mg") | terminology.members("mg-ocular")
    rows = [
        Row("MG diagnosis (Condition)", lambda r: any(c.concept in mg for c in r.conditions)),
        Row("MG-ADL total", lambda r: bool(r.mg_adl)),
        Row("MG-ADL items (all 8)", lambda r: any(s.items is not None for s in r.mg_adl)),
        Row("QMG total", lambda r: any(s.kind == "qmg-total" for s in r.scores)),
        Row("MGFA class", lambda r: bool(r.mgfa_class)),
        Row("MGFA post-intervention status (PIS)", lambda r: bool(r.pis)),
    ]
    antibodies = terminology.members("antibody") | terminology.members("mg-associated-antibody")
    for key in sorted(antibodies, key=_display):
        rows.append(Row(f"antibody: {_display(key)}", lambda r, k=key: any(a.target == k for a in r.antibodies)))
    rows.append(Row("antibody assay method known", lambda r: any(a.assay != "unknown" for a in r.antibodies)))
    vitals = terminology.members("vital-sign")
    labs = (terminology.members("lab") | terminology.members("vital-for-dosing")) - vitals
    for kind, keys in (("vital sign", vitals), ("lab", labs)):
        for key in sorted(keys, key=_display):
            rows.append(Row(f"{kind}: {_display(key)}", lambda r, k=key: any(m.concept == k for m in r.measurements)))
    drug_classes = sorted({cls for key in _medication_keys() for cls in terminology.concept(key).classes})
    for cls in drug_classes:
        rows.append(Row(f"drug class: {cls}", lambda r, c=cls: any(c in e.drug_classes for e in r.exposures)))
    for key in sorted(_keys_of_domain("procedures")):
        rows.append(Row(f"procedure: {_display(key)}", lambda r, k=key: any(p.concept == k for p in r.procedures)))
    for key in sorted(_keys_of_domain("immunizations")):
        rows.append(Row(f"vaccine: {_display(key)}", lambda r, k=key: any(i.concept == k for i in r.immunizations)))
    return rows


def _keys_of_domain(domain: str) -> set[str]:
    return {c.key for c in terminology.concepts_in_domain(domain)}


def _medication_keys() -> set[str]:
    return _keys_of_domain("medications")


# -- recognition (the service's terminology, site maps included) ---------------------------------


def _recognised(coding: Any) -> bool:
    """Whether the service recognises this coding (its terminology, the site maps folded in)."""
    if not isinstance(coding, dict):
        return False
    return terminology.recognise(coding.get("system"), coding.get("code")).concept is not None


def _codings(codeable: Any) -> list[dict[str, Any]]:
    if not isinstance(codeable, dict):
        return []
    items = codeable.get("coding")
    return [c for c in items if isinstance(c, dict)] if isinstance(items, list) else []


def _concept(codeable: Any) -> terminology.Concept | None:
    return terminology.concept_for_codings(_codings(codeable))


Unrecognised = tuple[str, str, str]  # (resource type and element, system, code)


@dataclass
class Findings:
    """What one patient's resources show: codings not recognised, references not resolved."""

    codings: Counter[Unrecognised] = field(default_factory=Counter)
    displays: dict[Unrecognised, Counter[str]] = field(default_factory=dict)
    unresolved_references: int = 0

    def add(self, where: str, codeable: Any) -> None:
        codings = _codings(codeable)
        if not codings or any(_recognised(c) for c in codings):
            return
        for c in codings:
            if c.get("system") in NOT_MAPPABLE:
                continue
            key = (where, str(c.get("system") or "(no system)"), terminology.code_text(c.get("code")) or "(no code)")
            self.codings[key] += 1
            if isinstance(c.get("display"), str) and c["display"].strip():
                self.displays.setdefault(key, Counter())[c["display"].strip()] += 1


_CODE_ELEMENT = {"Condition": "code", "Procedure": "code", "Immunization": "vaccineCode",
                 "AllergyIntolerance": "code"}
_MEDICATION_TYPES = ("MedicationStatement", "MedicationRequest", "MedicationAdministration")
_VALUE_READ = frozenset({"mg-classification"})  # MGFA class and PIS: the value is a code


def scan(resources: Iterable[dict[str, Any]], findings: Findings) -> None:
    """Add the unrecognised codings of one patient's resources to `findings`."""
    resources = list(resources)
    medications = {f"Medication/{r.get('id')}": r for r in resources if r.get("resourceType") == "Medication"}
    for res in resources:
        rtype = res.get("resourceType")
        if rtype == "Observation":
            found = _concept(res.get("code"))
            if found is None:
                findings.add("Observation.code", res.get("code"))
                continue
            if found.classes & _VALUE_READ and "valueString" not in res:
                findings.add("Observation.value", res.get("valueCodeableConcept"))
            if "antibody" in found.classes:
                findings.add("Observation.value", res.get("valueCodeableConcept"))
                findings.add("Observation.method", res.get("method"))
            for comp in res.get("component") or ():
                if isinstance(comp, dict):
                    findings.add("Observation.component.code", comp.get("code"))
        elif rtype in _CODE_ELEMENT:
            element = _CODE_ELEMENT[rtype]
            findings.add(f"{rtype}.{element}", res.get(element))
        elif rtype in _MEDICATION_TYPES:
            if isinstance(res.get("medicationCodeableConcept"), dict):
                findings.add(f"{rtype}.medication", res["medicationCodeableConcept"])
                continue
            med = _referenced(res, medications)
            if med is None:
                findings.unresolved_references += 1
            else:
                findings.add("Medication.code", med.get("code"))


def _referenced(res: dict[str, Any], medications: Mapping[str, dict[str, Any]]) -> dict[str, Any] | None:
    ref = res.get("medicationReference")
    target = ref.get("reference") if isinstance(ref, dict) else None
    if not isinstance(target, str):
        return None
    if target.startswith("#"):
        return next((c for c in res.get("contained") or () if isinstance(c, dict) and c.get("id") == target[1:]), None)
    return medications.get("/".join(target.split("/_history/")[0].split("/")[-2:]))


# -- patients from the sources --------------------------------------------------------------------


@dataclass
class PatientData:
    patient_id: str
    prefetch: dict[str, Any]
    unavailable: frozenset[str] = frozenset()
    problems: Mapping[str, str] = field(default_factory=dict)

    def resources(self) -> Iterator[dict[str, Any]]:
        for value in self.prefetch.values():
            if not isinstance(value, dict):
                continue
            if value.get("resourceType") != "Bundle":
                yield value
                continue
            for entry in value.get("entry") or ():
                res = entry.get("resource") if isinstance(entry, dict) else None
                if isinstance(res, dict):
                    yield res


def _patient_of(res: dict[str, Any]) -> str | None:
    if res.get("resourceType") == "Patient":
        return res.get("id") if isinstance(res.get("id"), str) else None
    for element in ("subject", "patient"):
        ref = res.get(element)
        target = ref.get("reference") if isinstance(ref, dict) else None
        if isinstance(target, str) and target:
            if target.startswith("urn:uuid:"):
                return target[len("urn:uuid:"):]
            if "Patient/" in target:
                return target.split("Patient/", 1)[1].split("/")[0]
    return None


def from_resources(resources: Iterable[dict[str, Any]]) -> Iterator[PatientData]:
    """Resources of any number of patients, grouped by patient; Medications go with every
    patient whose resources refer to them (a Bulk Data export keeps them apart)."""
    by_patient: dict[str, list[dict[str, Any]]] = {}
    medications: dict[str, dict[str, Any]] = {}
    for res in resources:
        if not isinstance(res, dict) or not isinstance(res.get("resourceType"), str):
            continue
        if res["resourceType"] == "Medication":
            if isinstance(res.get("id"), str):
                medications[res["id"]] = res
            continue
        pid = _patient_of(res)
        if pid is not None and res["resourceType"] in KEY_FOR_TYPE:
            by_patient.setdefault(pid, []).append(res)
    for pid, items in by_patient.items():
        yield _patient_data(pid, items, medications)


def _patient_data(pid: str, items: list[dict[str, Any]], medications: Mapping[str, dict[str, Any]]) -> PatientData:
    if not any(r.get("resourceType") == "Patient" for r in items):
        items = [{"resourceType": "Patient", "id": pid}, *items]
    prefetch = prefetch_from_resources(items)
    referred = {_medication_id(r) for r in items if r.get("resourceType") in _MEDICATION_TYPES}
    prefetch["medicationRequests"]["entry"].extend(
        {"resource": medications[m], "search": {"mode": "include"}} for m in sorted(m for m in referred if m in medications))
    return PatientData(pid, prefetch)


def _medication_id(res: dict[str, Any]) -> str | None:
    ref = res.get("medicationReference")
    target = ref.get("reference") if isinstance(ref, dict) else None
    if isinstance(target, str) and "Medication/" in target:
        return target.split("Medication/", 1)[1].split("/")[0]
    return None


def _json_files(paths: Iterable[str], suffixes: tuple[str, ...]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(suffixes))
        else:
            yield path


def _read_text(path: Path) -> str:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            return fh.read()
    return path.read_text(encoding="utf-8")


def from_bundles(paths: Iterable[str]) -> Iterator[PatientData]:
    """FHIR Bundles (.json, .json.gz): each Bundle's patients."""
    for path in _json_files(paths, (".json", ".json.gz")):
        doc = json.loads(_read_text(path))
        entries = doc.get("entry") if isinstance(doc, dict) else None
        resources = [e.get("resource") for e in entries or () if isinstance(e, dict)]
        resources = [r for r in resources if isinstance(r, dict)]
        patients = [r for r in resources if r.get("resourceType") == "Patient" and isinstance(r.get("id"), str)]
        if len(patients) == 1:  # one patient's bundle (Synthea, the demo patients): all of it is hers
            medications = {r["id"]: r for r in resources
                           if r.get("resourceType") == "Medication" and isinstance(r.get("id"), str)}
            yield _patient_data(patients[0]["id"], [r for r in resources if r.get("resourceType") in KEY_FOR_TYPE],
                                medications)
        else:
            yield from from_resources(resources)


def from_ndjson(folder: str) -> Iterator[PatientData]:
    """A Bulk Data export: one resource per line, in .ndjson or .ndjson.gz files."""

    def resources() -> Iterator[dict[str, Any]]:
        for path in _json_files([folder], (".ndjson", ".ndjson.gz")):
            for line in _read_text(path).splitlines():
                if line.strip():
                    yield json.loads(line)

    yield from from_resources(resources())


def from_requests(paths: Iterable[str]) -> Iterator[PatientData]:
    """Saved CDS Hooks requests: each request's prefetch (nothing is fetched)."""
    for path in _json_files(paths, (".json", ".json.gz")):
        doc = json.loads(_read_text(path))
        if not isinstance(doc, dict) or not isinstance(doc.get("prefetch"), dict):
            continue
        pid = str((doc.get("context") or {}).get("patientId", path.stem))
        yield PatientData(pid, doc["prefetch"])


def from_fhir_server(base: str, token: str | None, patient_ids: Iterable[str], settings: Any) -> Iterator[PatientData]:
    """Fetched as the service fetches them (its templates or GMG_CDS_FHIR_QUERIES, Medication
    reads by reference), one patient at a time, each within the prefetch budget."""
    from hooks.registry import PREFETCH_TEMPLATES

    from .prefetch import resolve

    for pid in patient_ids:
        body = {"hook": "patient-view", "hookInstance": "readiness", "fhirServer": base,
                "context": {"patientId": pid, "userId": "Practitioner/readiness"}}
        if token:
            body["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                                         "scope": "patient/*.read", "subject": "gmg-cds-readiness"}
        out = resolve(PREFETCH_TEMPLATES, body, settings)
        yield PatientData(pid, out.prefetch, frozenset(out.unavailable | out.incomplete), dict(out.problems))


def load_site_maps(paths: Iterable[str]) -> None:
    """The site concept maps (GMG_CDS_CONCEPT_MAPS), read, checked and folded in as the service
    does at start (terminology.ConceptMapError names the file and element of a bad one)."""
    terminology.configure_concept_maps(tuple(paths))


# -- the report ---------------------------------------------------------------------------------


@dataclass
class Report:
    patients: int = 0
    rows: list[tuple[str, int]] = field(default_factory=list)
    unrecognised: list[dict[str, Any]] = field(default_factory=list)  # site systems, most frequent first
    distinct_unrecognised: int = 0
    standard_unrecognised: list[dict[str, Any]] = field(default_factory=list)  # standard systems
    distinct_standard_unrecognised: int = 0
    unresolved_references: int = 0
    fetch_problems: Counter[str] = field(default_factory=Counter)  # "key: reason" -> patients
    unused_map_targets: list[dict[str, str]] = field(default_factory=list)
    concept_maps: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"patients": self.patients,
                "concepts": [{"concept": label, "patients": n} for label, n in self.rows],
                "unrecognised": self.unrecognised, "distinctUnrecognised": self.distinct_unrecognised,
                "standardUnrecognised": self.standard_unrecognised,
                "distinctStandardUnrecognised": self.distinct_standard_unrecognised,
                "unresolvedMedicationReferences": self.unresolved_references,
                "fetchProblems": dict(self.fetch_problems),
                "conceptMaps": list(self.concept_maps), "unusedMapTargets": self.unused_map_targets}


def analyse(patients: Iterable[PatientData], today: date, top: int = 25) -> tuple[Report, list[dict[str, Any]]]:
    """The report, and every unrecognised coding of a site's own systems (for the ConceptMap
    skeleton: codes of standard systems the service does not recognise are codes it does not
    read, nothing to map)."""
    rows = concept_rows()
    counts = [0] * len(rows)
    findings = Findings()
    report = Report()
    for patient in patients:
        report.patients += 1
        record = build_record(patient.prefetch, patient.patient_id, today, unavailable=patient.unavailable)
        for i, row in enumerate(rows):
            if row.present(record):
                counts[i] += 1
        scan(patient.resources(), findings)
        for key, reason in patient.problems.items():
            report.fetch_problems[f"{key}: {reason}"] += 1
    report.rows = [(row.label, n) for row, n in zip(rows, counts)]
    report.unresolved_references = findings.unresolved_references
    every = [
        {"element": where, "system": system, "code": code,
         "display": (findings.displays[(where, system, code)].most_common(1)[0][0]
                     if (where, system, code) in findings.displays else ""),
         "count": n}
        for (where, system, code), n in sorted(findings.codings.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    site = [u for u in every if not is_standard(u["system"])]
    standard = [u for u in every if is_standard(u["system"])]
    report.distinct_unrecognised, report.unrecognised = len(site), site[:top]
    report.distinct_standard_unrecognised, report.standard_unrecognised = len(standard), standard[:top]
    report.concept_maps, report.unused_map_targets = unused_map_targets()
    return report, site


def unused_map_targets() -> tuple[tuple[str, ...], list[dict[str, str]]]:
    """The loaded site maps' targets in external systems that no concept of the service has."""
    maps = terminology.active_concept_maps()
    if maps is None:
        return (), []
    out: dict[tuple[str, str], dict[str, str]] = {}
    for m in maps.mappings:
        if m.target_system.startswith(PROJECT_SYSTEMS):
            continue
        if terminology.static_concept_for(m.target_system, m.target_code) is not None:
            continue
        out.setdefault((m.target_system, m.target_code), {
            "targetSystem": m.target_system, "targetCode": m.target_code,
            "sourceSystem": m.source_system, "sourceCode": m.source_code, "file": Path(m.file).name})
    return tuple(maps.files), [out[k] for k in sorted(out)]


def render(report: Report, out: TextIO, source: str) -> None:
    out.write(f"gmg-cds data readiness: {report.patients} patient(s) from {source}\n")
    if report.concept_maps:
        out.write(f"site concept maps: {len(report.concept_maps)} file(s) (GMG_CDS_CONCEPT_MAPS)\n")
    else:
        out.write("site concept maps: none loaded (GMG_CDS_CONCEPT_MAPS)\n")
    if report.fetch_problems:
        out.write("\nPrefetch keys that could not be fetched (patients):\n")
        for what, n in sorted(report.fetch_problems.items()):
            out.write(f"  {n:>5}  {what}\n")
    out.write(f"\n{'What the service reads':<62} patients with recognised data\n")
    for label, n in report.rows:
        out.write(f"  {label[:60]:<60} {n:>5}\n")
    _codes_table(out, "Codes of the site's own systems not recognised (map them: --concept-map-template)",
                 report.unrecognised, report.distinct_unrecognised)
    _codes_table(out, "Codes of standard systems the service does not read (nothing to do unless one means "
                 "a concept above)", report.standard_unrecognised, report.distinct_standard_unrecognised)
    if report.unresolved_references:
        out.write(f"\nMedication references that resolve to no Medication: {report.unresolved_references}\n")
    if report.concept_maps:
        out.write(f"\nSite map targets in external code systems the service does not use: "
                  f"{len(report.unused_map_targets)}\n")
        for t in report.unused_map_targets:
            out.write(f"  {t['targetSystem']}|{t['targetCode']}  <- {t['sourceSystem']}|{t['sourceCode']}  ({t['file']})\n")


def _codes_table(out: TextIO, title: str, rows: list[dict[str, Any]], distinct: int) -> None:
    shown = f", the {len(rows)} most frequent" if rows and len(rows) < distinct else ""
    out.write(f"\n{title}: {distinct} distinct{shown}\n")
    if rows:
        out.write(f"  {'count':>6}  {'element':<28} {'system':<56} {'code':<16} display\n")
        for u in rows:
            out.write(f"  {u['count']:>6}  {u['element']:<28} {u['system']:<56} {u['code']:<16} {u['display'][:50]}\n")


def concept_map_template(every: list[dict[str, Any]], source: str) -> dict[str, Any]:
    """The unrecognised codings as a ConceptMap skeleton: one group per source system."""
    groups: dict[str, list[dict[str, Any]]] = {}
    seen: set[tuple[str, str]] = set()
    for u in every:
        if (u["system"], u["code"]) in seen or u["system"] == "(no system)" or u["code"] == "(no code)":
            continue
        seen.add((u["system"], u["code"]))
        element: dict[str, Any] = {"code": u["code"], "target": [{
            "equivalence": "unmatched",
            "comment": f"seen {u['count']} time(s) in {u['element']}: fill in the target code it "
                       "means and set equivalence to equivalent (or leave unmatched)"}]}
        if u["display"]:
            element["display"] = u["display"]
        groups.setdefault(u["system"], []).append(element)
    return {
        "resourceType": "ConceptMap",
        "id": "site-codes",
        "status": "draft",
        "title": "Site codes the service did not recognise (to fill in)",
        "description": (
            f"Written by gmg-cds readiness from {source}. For each group, set `target` to the code "
            "system the codes mean: https://gmg-cds.github.io/fhir/CodeSystem/mg-scores for MG-ADL "
            "(total and items), QMG, MGFA class and PIS rows; .../mgfa-class and .../mgfa-pis for coded "
            "answers; .../antibody-assay for assay methods; LOINC for labs; RxNorm for drugs; SNOMED CT "
            "for conditions and procedures; CVX for vaccines. A group left without a target stops the "
            "service's start: remove the groups you do not map. See docs/SITE-INTEGRATION.md."),
        "group": [{"source": system, "element": elements} for system, elements in groups.items()],
    }
