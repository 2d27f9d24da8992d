"""Site concept maps (GMG_CDS_CONCEPT_MAPS, issue #14 point 1): a site's own codes recognised
exactly as their targets, checked at start, folded into the one-dictionary look-up, and shown
with the site's display text on the card."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import terminology
from cds_service import cli
from cds_service.app import create_app
from fhir_mappings import build_record
from hooks import patient_view
from hooks.registry import HookCall
from terminology import ConceptMapError, systems
from tests.conftest import local_settings
from tests.test_order_hooks import PID, TODAY, all_codes, bundle, call, condition, med, prefetch

EPIC_ROWS = "urn:oid:1.2.840.114350.1.13.861.1.7.2.707679"  # a site's flowsheet-row system
CERNER_LABS = "https://fhir.cerner.com/ec2458f2-1e24-41c8-b71b-0e701af7583d/codeSet/72"
SITE_ANSWERS = "urn:oid:1.2.840.114350.1.13.861.1.7.4.707679.1"  # a site's answer list
SITE_DRUGS = "urn:oid:1.2.840.114350.1.13.861.1.7.2.698288"
SITE_PROBLEMS = "urn:oid:1.2.840.114350.1.13.861.1.7.2.728286"
SITE_PROCEDURES = "urn:oid:1.2.840.114350.1.13.861.1.7.2.696580"
PLEX_SNOMED = terminology.coding_for("plex", systems.SNOMED).code


@pytest.fixture(autouse=True)
def _no_site_maps_after():
    yield
    terminology.use_concept_maps(None)


def concept_map(groups: list[dict[str, Any]], cid: str = "site") -> dict[str, Any]:
    return {"resourceType": "ConceptMap", "id": cid, "status": "active", "group": groups}


def group(source: str, target: str, *elements: tuple[Any, ...]) -> dict[str, Any]:
    out = []
    for el in elements:
        code, display, targets = el
        out.append({"code": code, "display": display,
                    "target": [{"code": t, "equivalence": eq} for t, eq in targets]})
    return {"source": source, "target": target, "element": out}


def write(path: Path, doc: Any) -> str:
    path.write_text(json.dumps(doc) if not isinstance(doc, str) else doc)
    return str(path)


SITE_MAP = concept_map([
    group(EPIC_ROWS, systems.MG_SCORES,
          ("304", "MG ADL TOTAL SCORE", [("mg-adl-total", "equivalent")]),
          ("305", "QMG SCORE", [("qmg-total", "wider")]),
          ("306", "MGFA CLASS", [("mgfa-class", "equal")]),
          ("307", "MG PIS", [("mgfa-pis", "equivalent")]),
          ("399", "NOT THIS ONE", [("mg-adl-total", "disjoint")])),
    group(CERNER_LABS, systems.LOINC,
          ("21704910", "ACh Receptor Binding Ab", [("11034-6", "equivalent")]),
          ("21704911", "Potassium Level", [("2823-3", "equivalent")])),  # a lab the service does not use
    group(SITE_ANSWERS, systems.MGFA_CLASS, ("3B", "Class 3B", [("IIIb", "equivalent")])),
    group(SITE_DRUGS, systems.RXNORM, ("55512", "CIPRO 500 MG TABLET", [("2551", "equivalent")]),
          ("55513", "AZATHIOPRINE 50 MG TAB", [("1256", "equivalent")])),
    group(SITE_PROBLEMS, systems.SNOMED, ("MG-GEN", "Myasthenia gravis, generalized", [("230686005", "equivalent")])),
    group(SITE_PROCEDURES, systems.SNOMED, ("PLEX01", "PLASMAPHERESIS", [(PLEX_SNOMED, "equivalent")])),
    group(CERNER_LABS, systems.CVX, ("2758", "Meningococcal B (Bexsero)", [("163", "wider")])),
])


@pytest.fixture
def site_map(tmp_path: Path) -> str:
    path = write(tmp_path / "site.json", SITE_MAP)
    terminology.configure_concept_maps(path)
    return path


# -- semantics ----------------------------------------------------------------------------------


def test_a_mapped_code_is_recognised_exactly_as_its_target(site_map):
    assert terminology.concept_for(EPIC_ROWS, "304") is terminology.concept("mg-adl-total")
    assert terminology.concept_for(EPIC_ROWS, "305").key == "qmg-total"  # wider is honoured
    assert terminology.concept_for(CERNER_LABS, "21704910") is terminology.concept_for(systems.LOINC, "11034-6")
    assert terminology.concept_for(EPIC_ROWS, "399") is None  # disjoint is ignored
    # the OID spelt without its urn:oid: prefix, a code sent as a number
    assert terminology.concept_for(EPIC_ROWS.removeprefix("urn:oid:"), 304).key == "mg-adl-total"


def test_recognise_says_whether_a_site_map_was_used(site_map):
    via = terminology.recognise(CERNER_LABS, "21704910")
    assert via.concept.key == "achr-binding" and via.via_site_map
    assert via.site_mapping.target_code == "11034-6" and via.site_mapping.file == site_map
    unused = terminology.recognise(CERNER_LABS, "21704911")  # an external target the service does not use
    assert unused.concept is None and unused.via_site_map and unused.site_mapping.target_code == "2823-3"
    own = terminology.recognise(systems.LOINC, "11034-6")
    assert own.concept.key == "achr-binding" and not own.via_site_map
    assert terminology.recognise("http://example.org/x", "1").concept is None


def test_without_maps_site_codes_are_not_recognised(site_map):
    terminology.use_concept_maps(None)
    assert terminology.concept_for(EPIC_ROWS, "304") is None
    assert terminology.active_concept_maps() is None


@pytest.mark.parametrize(("equivalence", "honoured"), [
    ("equivalent", True), ("equal", True), ("wider", True), ("subsumes", True), ("specializes", True),
    ("inexact", True), ("unmatched", False), ("disjoint", False), ("narrower", False), ("relatedto", False),
])
def test_equivalences(tmp_path, equivalence, honoured):
    path = write(tmp_path / "m.json", concept_map([group("urn:site:x", systems.MG_SCORES, ("a", None, [("qmg-total", equivalence)]))]))
    terminology.configure_concept_maps(path)
    assert (terminology.concept_for("urn:site:x", "a") is not None) is honoured


def test_folders_bundles_and_r5_relationships(tmp_path):
    folder = tmp_path / "maps"
    folder.mkdir()
    write(folder / "a.json", concept_map([group("urn:site:a", systems.MG_SCORES, ("1", None, [("qmg-total", "equivalent")]))]))
    write(folder / "b.json", {"resourceType": "Bundle", "entry": [{"resource": {
        "resourceType": "ConceptMap", "id": "r5", "group": [{"source": "urn:site:b", "target": systems.MG_SCORES, "element": [
            {"code": "2", "target": [{"code": "mgc-total", "relationship": "source-is-narrower-than-target"}]},
            {"code": "3", "target": [{"code": "mgc-total", "relationship": "related-to"}]}]}]}}]})
    (folder / "README.txt").write_text("not a map")
    maps = terminology.configure_concept_maps(f" {folder} ,")
    assert len(maps.files) == 2 and len(maps) == 2
    assert terminology.concept_for("urn:site:a", "1").key == "qmg-total"
    assert terminology.concept_for("urn:site:b", "2").key == "mgc-total"
    assert terminology.concept_for("urn:site:b", "3") is None


# -- checked at start ------------------------------------------------------------------------------


@pytest.mark.parametrize(("doc", "expected"), [
    ("{not json", "not valid JSON"),
    ({"resourceType": "ValueSet"}, "not ConceptMap"),
    (concept_map([group("urn:site:x", systems.MG_SCORES, ("7", None, [("mg-adl-totl", "equivalent")]))]),
     "group[0] element[0] (code '7'): target code 'mg-adl-totl' does not exist in https://gmg-cds.github.io/fhir/CodeSystem/mg-scores"),
    (concept_map([group("urn:site:x", systems.MG_SCORES, ("7", None, [("qmg-total", "equivalent"), ("mgc-total", "equivalent")]))]),
     "conflicting targets for urn:site:x|7"),
    (concept_map([group("urn:site:x", systems.LOINC, ("7", None, [("2823-3", "equivalent")])),
                  group("urn:site:x", systems.LOINC, ("7", None, [("2951-2", "equivalent")]))]),
     "group[1] element[0] (code '7'): conflicting targets"),
    (concept_map([group(systems.LOINC, systems.MG_SCORES, ("11034-6", None, [("qmg-total", "equivalent")]))]),
     "already recognised as 'achr-binding'"),
    (concept_map([{"target": systems.MG_SCORES, "element": []}]), "group[0]: no source system"),
    (concept_map([group("urn:site:x", systems.MG_SCORES, ("7", None, [("qmg-total", "sort-of")]))]), "unknown equivalence"),
])
def test_a_bad_map_stops_the_start_naming_file_and_element(tmp_path, doc, expected):
    path = write(tmp_path / "bad.json", doc)
    with pytest.raises(ConceptMapError) as err:
        create_app(local_settings(tmp_path, concept_maps=(path,)))
    assert expected in str(err.value) and str(path) in str(err.value)


def test_conflicts_across_files_stop_the_start(tmp_path):
    a = write(tmp_path / "a.json", concept_map([group("urn:site:x", systems.MG_SCORES, ("7", None, [("qmg-total", "equivalent")]))], "a"))
    b = write(tmp_path / "b.json", concept_map([group("urn:site:x", systems.MG_SCORES, ("7", None, [("mgc-total", "equivalent")]))], "b"))
    with pytest.raises(ConceptMapError, match="conflicting targets"):
        terminology.configure_concept_maps(f"{a},{b}")


def test_a_missing_path_stops_the_start(tmp_path):
    with pytest.raises(ConceptMapError, match="no such file or folder"):
        create_app(local_settings(tmp_path, concept_maps=(str(tmp_path / "nowhere.json"),)))


def test_external_targets_are_accepted_even_when_unused(tmp_path):
    path = write(tmp_path / "labs.json", concept_map([group(CERNER_LABS, systems.LOINC, *[
        (str(21700000 + i), f"LAB {i}", [(f"{10000 + i}-{i % 10}", "equivalent")]) for i in range(50)])]))
    maps = terminology.configure_concept_maps(path)
    assert len(maps) == 50


def test_the_service_start_folds_the_maps_in_and_a_plain_start_takes_them_out(tmp_path, site_map):
    create_app(local_settings(tmp_path, concept_maps=(site_map,)))
    assert terminology.concept_for(EPIC_ROWS, "304") is not None
    create_app(local_settings(tmp_path))
    assert terminology.concept_for(EPIC_ROWS, "304") is None


def test_settings_read_the_variable():
    from cds_service.settings import Settings

    assert Settings.from_env({"GMG_CDS_ENV": "local", "GMG_CDS_CONCEPT_MAPS": "a.json, maps/ ,"}).concept_maps == ("a.json", "maps/")


def test_check_config_reports_the_maps(tmp_path, monkeypatch, capsys):
    good = write(tmp_path / "site.json", SITE_MAP)
    monkeypatch.setenv("GMG_CDS_ENV", "local")
    monkeypatch.setenv("GMG_CDS_DATABASE_URL", f"sqlite:///{tmp_path}/c.sqlite3")
    monkeypatch.setenv("GMG_CDS_CONCEPT_MAPS", good)
    assert cli.main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "ok   site concept maps: 12 mappings from 1 file(s), 11 to concepts the service reads, 1 to codes it does not use" in out
    bad = write(tmp_path / "bad.json", "{")
    monkeypatch.setenv("GMG_CDS_CONCEPT_MAPS", bad)
    assert cli.main(["check-config"]) == 1
    assert f"FAIL concept maps: GMG_CDS_CONCEPT_MAPS: {bad}: not valid JSON" in capsys.readouterr().out


def test_the_cli_evaluate_checks_the_maps_at_start(tmp_path, monkeypatch, capsys):
    request = tmp_path / "req.json"
    request.write_text(json.dumps({"hook": "patient-view", "hookInstance": "5b0f7e5c-6f5d-4f6f-9d0a-1b2c3d4e5f60",
                                   "context": {"patientId": PID, "userId": "Practitioner/1"}, "prefetch": prefetch()}))
    monkeypatch.setenv("GMG_CDS_CONCEPT_MAPS", write(tmp_path / "bad.json", {"resourceType": "ConceptMap"}))
    assert cli.main(["evaluate", str(request)]) == 2
    assert "FAIL concept maps" in capsys.readouterr().out


# -- every coding the service reads goes through the maps ---------------------------------------------


def _obs(rid: str, code: dict[str, Any], when, **value: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": rid, "status": "final", "subject": {"reference": f"Patient/{PID}"},
            "code": code, "effectiveDateTime": when.isoformat(), **value}


def _row(row: str, display: str) -> dict[str, Any]:
    """An Epic-like flowsheet row coding: the site OID first, the environment hash beside it."""
    return {"coding": [{"system": EPIC_ROWS, "code": row, "display": display},
                       {"system": "http://open.epic.com/FHIR/StructureDefinition/observation-flowsheet-id",
                        "code": "tOPa3Fx0Xk7bQ"}]}


def test_site_coded_observations_values_and_labs_are_read(site_map):
    when = TODAY - timedelta(days=10)
    pf = prefetch(observations=[
        _obs("adl", _row("304", "MG ADL TOTAL SCORE"), when, valueQuantity={"value": 9}),
        _obs("cls", _row("306", "MGFA CLASS"), when, valueCodeableConcept={"coding": [{"system": SITE_ANSWERS, "code": "3B", "display": "Class 3B"}]}),
        _obs("ach", {"coding": [{"system": CERNER_LABS, "code": "21704910", "display": "ACh Receptor Binding Ab"}]}, when,
             valueQuantity={"value": 12.5, "unit": "nmol/L", "system": "http://unitsofmeasure.org", "code": "nmol/L"},
             interpretation=[{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": "H"}]}]),
    ])
    pf["observations"]["entry"] = [e for e in pf["observations"]["entry"] if e["resource"]["id"] != "achr"]
    record = build_record(pf, PID, TODAY)
    assert [(s.total, s.source) for s in record.mg_adl] == [(9, "Observation/adl")]
    assert [(c.code, c.source) for c in record.mgfa_class] == [("IIIb", "Observation/cls")]
    assert [(a.target, a.result) for a in record.antibodies] == [("achr-binding", "positive")]
    shown = {r.source: (r.how, r.shown_as) for r in record.recognitions}
    assert shown["Observation/adl"] == ("site-map", "MG ADL TOTAL SCORE")
    assert shown["Observation/ach"] == ("site-map", "ACh Receptor Binding Ab")


def test_site_coded_drugs_conditions_and_drafts_are_read(site_map):
    pf = prefetch(conditions=[condition()])
    pf["medicationRequests"] = bundle({
        "resourceType": "MedicationRequest", "id": "cip-home", "status": "active", "intent": "plan",
        "subject": {"reference": f"Patient/{PID}"}, "authoredOn": "2026-10-01",
        "medicationCodeableConcept": {"coding": [{"system": SITE_DRUGS, "code": "55512", "display": "CIPRO 500 MG TABLET"}]}})
    record = build_record(pf, PID, TODAY)
    assert [e.ingredient for e in record.exposures] == ["ciprofloxacin"]
    draft = med("cip", "x", medicationCodeableConcept={"coding": [{"system": SITE_DRUGS, "code": "55512", "display": "CIPRO 500 MG TABLET"}]})
    cards = call("order-sign", [draft])
    assert "safety.mg-worsening-drug" in all_codes(cards)
    card = next(c for c in cards if "safety.mg-worsening-drug" in c.finding_codes)
    assert "CIPRO 500 MG TABLET" in card.detail and "site's concept map" in card.detail


def test_every_kind_of_resource_goes_through_the_maps(site_map):
    """Condition, Procedure, Immunization, AllergyIntolerance, AdverseEvent (suspect drug) and a
    MedicationAdministration, each coded with the site's codes only."""
    site = lambda system, code: {"coding": [{"system": system, "code": code}]}  # noqa: E731
    ref = {"reference": f"Patient/{PID}"}
    pf = prefetch(conditions=[{**condition(), "code": site(SITE_PROBLEMS, "MG-GEN")}])
    pf["procedures"] = bundle({"resourceType": "Procedure", "id": "px", "status": "completed", "subject": ref,
                               "code": site(SITE_PROCEDURES, "PLEX01"), "performedDateTime": "2026-10-01"})
    pf["immunizations"] = bundle({"resourceType": "Immunization", "id": "im", "status": "completed", "patient": ref,
                                  "vaccineCode": site(CERNER_LABS, "2758"), "occurrenceDateTime": "2026-09-01"})
    pf["allergies"] = bundle({"resourceType": "AllergyIntolerance", "id": "al", "patient": ref, "type": "intolerance",
                              "code": site(SITE_DRUGS, "55513"), "recordedDate": "2025-05-01"})
    pf["medicationAdministrations"] = bundle({
        "resourceType": "MedicationAdministration", "id": "ma", "status": "completed", "subject": ref,
        "medicationCodeableConcept": site(SITE_DRUGS, "55513"), "effectiveDateTime": "2025-04-01"})
    pf["adverseEvents"] = bundle({"resourceType": "AdverseEvent", "id": "ae", "actuality": "actual", "subject": ref,
                                  "date": "2025-04-20", "suspectEntity": [{"instance": {"reference": "MedicationAdministration/ma"}}]})
    r = build_record(pf, PID, TODAY)
    assert [c.concept for c in r.conditions] == ["mg-generalized"]
    assert [p.concept for p in r.procedures] == ["plex"]
    assert [(i.concept, i.cvx) for i in r.immunizations] == [("menb", "163")]
    assert [i.ingredient for i in r.intolerances] == ["azathioprine"]
    assert [e.ingredient for e in r.exposures] == ["azathioprine"]
    assert [a.ingredient for a in r.adverse_events] == ["azathioprine"]
    assert {x.source for x in r.recognitions} >= {"Condition/mg", "Procedure/px", "Immunization/im", "AllergyIntolerance/al",
                                                   "MedicationAdministration/ma"}


def test_the_card_shows_the_sites_display_text(site_map):
    when = TODAY - timedelta(days=10)
    pf = prefetch(observations=[_obs("adl", _row("304", "MG ADL TOTAL SCORE"), when, valueInteger=9)])
    cards = patient_view.handle(HookCall(service_id="gmg-patient-view", hook="patient-view", hook_instance="h",
                                         context={"patientId": PID, "userId": "Practitioner/1"}, prefetch=pf,
                                         unavailable=frozenset(), today=TODAY))
    card = next(c for c in cards if any(e.get("reference") == "Observation/adl"
                                         for f in c.findings for e in f.get("evidence", ())))
    assert "“MG ADL TOTAL SCORE” (the site's code, read as" in card.detail
    with_chinese = patient_view.handle(HookCall(service_id="gmg-patient-view", hook="patient-view", hook_instance="h",
                                                context={"patientId": PID, "userId": "Practitioner/1"}, prefetch=pf,
                                                unavailable=frozenset(), today=TODAY, language="zh-CN"))
    assert any("经本院概念映射识别为" in (c.detail or "") for c in with_chinese)


# -- performance: still one dictionary look-up ------------------------------------------------------


def test_a_5000_element_map_keeps_recognition_a_dictionary_look_up(tmp_path):
    from bench.concept_map import SITE_LABS, build_concept_map

    path = write(tmp_path / "big.json", build_concept_map(5000))
    codings = [("urn:oid:1.2.840.114350.1.13.0.1.7.2.768282", str(100000 + i)) for i in range(0, 5000, 50)]
    codings += [(systems.LOINC, "11034-6"), ("http://example.org/unknown", "x"), (SITE_LABS, "99001")]

    def per_lookup() -> float:
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(20):
                for system, code in codings:
                    terminology.concept_for(system, code)
            best = min(best, (time.perf_counter() - t0) / (20 * len(codings)))
        return best

    terminology.use_concept_maps(None)
    without = per_lookup()
    maps = terminology.configure_concept_maps(path)
    assert len(maps) == 5000
    with_map = per_lookup()
    # the maps are folded into the index: a look-up is a dict access, not a scan of the maps
    index = terminology._index()
    assert index.by_system[SITE_LABS]["99001"] is terminology.concept("achr-binding")
    assert sum(len(codes) for codes in index.site.values()) == 5000
    assert with_map < without * 3 + 2e-6, (with_map, without)
