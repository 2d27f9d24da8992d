"""The Epic-like and Cerner-like fixtures and the loopback EHR server (issue #14 point 10) are
what they claim to be: every demo patient reshaped as ../shared/background/ehr-data-shapes.md
says each EHR sends it, the site files agree with the site's codes, and the server refuses what
the real ones refuse. (The server is a test double: Epic and Oracle Health cannot run here.)"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.request import Request, urlopen
from urllib.error import HTTPError

import pytest

from hooks.registry import PREFETCH_TEMPLATES
from tests.ehr_shapes import server as ehr
from tests.ehr_shapes import sites as s
from tests.ehr_shapes.reshape import cerner_like, epic_like, product_of

ROOT = Path(__file__).resolve().parents[1]
DEMO = sorted((ROOT / "demo" / "bundles").glob("*.json"))


def _bundle(slug: str) -> dict:
    return json.loads((ROOT / "demo" / "bundles" / f"{slug}.json").read_text())


def _systems(codeable: dict | None) -> list[str]:
    return [c["system"] for c in (codeable or {}).get("coding", [])]


@pytest.mark.parametrize("path", DEMO, ids=lambda p: p.stem)
def test_every_demo_patient_reshapes_as_each_ehr_keeps_it(path):
    bundle = json.loads(path.read_text())
    epic, cerner = epic_like(bundle), cerner_like(bundle)
    for chart in (epic, cerner):
        types = {r["resourceType"] for r in chart.resources}
        assert "MedicationStatement" not in types  # neither offers it in R4
        ids = [(r["resourceType"], r["id"]) for r in chart.resources]
        assert len(ids) == len(set(ids))
    for r in epic.resources:
        if r["resourceType"] == "Observation":
            systems = _systems(r["code"])
            assert s.LOINC not in systems[:1] and s.MG_SCORES not in systems  # site coding first, no project code
            assert r["effectiveDateTime"].endswith("Z")
            if s.EPIC_FLOWSHEET_ROW in systems[:1] and r["code"]["coding"][0]["code"] in {v[0] for v in s.EPIC_ROWS.values()}:
                assert "valueInteger" not in r and "component" not in r
                assert "unit" not in r.get("valueQuantity", {})
        if r["resourceType"] in ("MedicationRequest", "MedicationAdministration"):
            ref = r["medicationReference"]
            assert ref["reference"].split("/")[1] in epic.medications and ref["display"]
            assert "medicationCodeableConcept" not in r
    for r in cerner.resources:
        if r["resourceType"] == "Observation":
            systems = _systems(r["code"])
            assert systems[0] == s.CERNER_EVENT
            is_vital = any(c["code"] == "vital-signs" for cat in r.get("category", []) for c in cat["coding"])
            assert (s.LOINC in systems) == is_vital  # labs by event code only
        if r["resourceType"] == "MedicationRequest":
            assert _systems(r["medicationCodeableConcept"]) == [s.RXNORM, s.CERNER_SYNONYM]
    assert cerner.medications == {}


def test_mg_adl_items_are_separate_rows_at_the_totals_instant_at_epic_and_components_at_cerner():
    bundle = _bundle("met-3-4")
    total_row = s.EPIC_ROWS["mg-adl-total"][0]
    item_rows = {s.EPIC_ROWS[k][0] for k in s.EPIC_ROWS if k.startswith("mg-adl-") and k != "mg-adl-total"}
    epic = epic_like(bundle)
    total = next(r for r in epic.resources if r["resourceType"] == "Observation"
                 and r["code"]["coding"][0]["code"] == total_row)
    items = [r for r in epic.resources if r["resourceType"] == "Observation"
             and r["code"]["coding"][0]["code"] in item_rows]
    assert len(items) == 8 and {i["effectiveDateTime"] for i in items} == {total["effectiveDateTime"]}
    assert sum(i["valueQuantity"]["value"] for i in items) == total["valueQuantity"]["value"] == 10
    cerner = cerner_like(bundle)
    ctotal = next(r for r in cerner.resources if r["resourceType"] == "Observation"
                  and r["code"]["coding"][0]["code"] == s.CERNER_EVENTS["mg-adl-total"][0])
    assert len(ctotal["component"]) == 8 and ctotal["valueQuantity"]["unit"] == "{score}"


def test_epic_like_mgfa_class_and_pis_are_text_and_cerner_like_are_tenant_answers():
    epic = epic_like(_bundle("met-3-4"))
    values = {r["code"]["coding"][0]["code"]: r.get("valueString") for r in epic.resources
              if r["resourceType"] == "Observation"}
    assert values[s.EPIC_ROWS["mgfa-pis"][0]] == "Worse"
    cerner = cerner_like(_bundle("met-3-1"))
    classes = [r["valueCodeableConcept"] for r in cerner.resources if r["resourceType"] == "Observation"
               and r["code"]["coding"][0]["code"] == s.CERNER_EVENTS["mgfa-class"][0]]
    assert classes and all(_systems(v) == [s.CERNER_NOMENCLATURE] for v in classes)


def test_drafts_carry_the_medication_as_each_ehr_sends_it():
    epic, cerner = epic_like(_bundle("therapy-pregnant")), cerner_like(_bundle("therapy-pregnant"))
    cipro = next(e["resource"] for e in epic.drafts["entry"] if e["resource"]["id"] == "cipro-1")
    assert cipro["medicationReference"]["reference"] == "#med1"
    assert cipro["contained"][0]["code"]["coding"] == [
        {"system": s.RXNORM, "code": "309309", "display": "ciprofloxacin 500 MG Oral Tablet"}]
    mmf = next(e["resource"] for e in cerner.drafts["entry"] if e["resource"]["id"] == "mmf-1")
    assert mmf["medicationCodeableConcept"]["coding"][0]["code"] == product_of("68149")[0] != "68149"


def _local_codes() -> dict[tuple[str, str], tuple[str, str]]:
    """Every site code of the tables -> the (system, code) it means."""
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for canon, (row, _n) in s.EPIC_ROWS.items():
        out[(s.EPIC_FLOWSHEET_ROW, row)] = (s.MG_SCORES, canon)
    for canon, (comp, _n) in s.EPIC_LAB_COMPONENTS.items():
        out[(s.EPIC_LAB_COMPONENT, comp)] = (s.MG_LABS if canon == "lrp4-ab" else s.LOINC, canon)
    for canon, (code, _n) in s.EPIC_METHODS.items():
        out[(s.EPIC_LAB_METHOD, code)] = (s.ASSAY, canon)
    for canon, (code, _n) in s.EPIC_PROCEDURES.items():
        out[(s.EPIC_PROCEDURE, code)] = (s.SNOMED, canon)
    for canon, (code, _n) in s.CERNER_EVENTS.items():
        system = s.LOINC if canon[0].isdigit() else (s.MG_LABS if canon == "lrp4-ab" else s.MG_SCORES)
        out[(s.CERNER_EVENT, code)] = (system, canon)
    for (system, canon), (code, _n) in s.CERNER_ANSWERS.items():
        out[(s.CERNER_NOMENCLATURE, code)] = (system, canon)
    for canon, (code, _n) in s.CERNER_METHODS.items():
        out[(s.CERNER_METHOD, code)] = (s.ASSAY, canon)
    return out


def test_the_site_concept_maps_map_every_site_code_to_what_it_means():
    mapped: dict[tuple[str, str], tuple[str, str]] = {}
    for path in sorted(s.SITES_DIR.glob("*/concept-maps/*.json")):
        doc = json.loads(path.read_text())
        assert doc["resourceType"] == "ConceptMap" and doc["status"] == "active"
        for group in doc["group"]:
            for element in group["element"]:
                for target in element["target"]:
                    if target["equivalence"] != "unmatched":
                        mapped[(group["source"], element["code"])] = (group["target"], target["code"])
    needed = _local_codes()
    assert {k: mapped.get(k) for k in needed} == needed
    extra = {k: v for k, v in mapped.items() if k not in needed}  # the catalogue beyond the service
    assert extra and all(system == s.LOINC for system, _c in extra.values())


# -- the loopback server's restrictions ------------------------------------------------------


def _get(url: str, token: str | None = ehr.TOKEN) -> tuple[int, dict]:
    req = Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def servers():
    bundle = _bundle("therapy-achr")  # 21 observations: several pages at either EHR
    with ehr.EhrFhirServer("epic", [epic_like(bundle)]) as epic, \
            ehr.EhrFhirServer("cerner", [cerner_like(bundle)]) as cerner:
        yield epic, cerner


def test_epic_like_refuses_an_observation_search_without_category(servers):
    epic, _ = servers
    status, doc = _get(f"{epic.base}/Observation?patient=gmg-demo-therapy-achr")
    assert status == 400 and doc["resourceType"] == "OperationOutcome"
    status, doc = _get(f"{epic.base}/Observation?patient=gmg-demo-therapy-achr&category=laboratory&_count=100")
    assert status == 200 and doc["entry"] and all(
        any(c["code"] == "laboratory" for cat in e["resource"]["category"] for c in cat["coding"]) for e in doc["entry"])


def test_neither_offers_medication_statement_and_both_want_a_token(servers):
    for server in servers:
        assert _get(f"{server.base}/MedicationStatement?patient=gmg-demo-therapy-achr")[0] == 404
        assert _get(f"{server.base}/Condition?patient=gmg-demo-therapy-achr", token=None)[0] == 401
        assert _get(f"{server.base}/Condition")[0] == 400  # searches by patient only


def test_an_empty_epic_like_result_is_an_operation_outcome_entry(servers):
    epic, cerner = servers
    status, doc = _get(f"{epic.base}/Procedure?patient=nobody")
    assert status == 200 and doc["total"] == 0
    assert [e["search"]["mode"] for e in doc["entry"]] == ["outcome"]
    assert doc["entry"][0]["resource"]["issue"][0]["details"]["coding"][0]["code"] == "4101"
    status, doc = _get(f"{cerner.base}/Procedure?patient=nobody")
    assert status == 200 and doc["entry"] == []


def test_both_page_and_cerner_like_caps_count_and_returns_newest_first(servers):
    epic, cerner = servers
    url, seen = f"{epic.base}/Observation?patient=gmg-demo-therapy-achr&category=laboratory,vital-signs,survey", []
    pages = 0
    while url and pages < 20:
        status, doc = _get(url)
        assert status == 200
        seen += [e["resource"]["id"] for e in doc["entry"]]
        url = next((link["url"] for link in doc["link"] if link["relation"] == "next"), None)
        pages += 1
    assert pages > 1 and len(seen) == len(set(seen)) == doc["total"]
    assert _get(f"{cerner.base}/Observation?patient=gmg-demo-therapy-achr&_count=201")[0] == 400
    status, doc = _get(f"{cerner.base}/Observation?patient=gmg-demo-therapy-achr&_count=5")
    dates = [e["resource"]["effectiveDateTime"] for e in doc["entry"]]
    assert dates == sorted(dates, reverse=True) and len(dates) == 5
    assert any(link["relation"] == "next" for link in doc["link"])


def test_epic_like_reads_a_medication_by_id(servers):
    epic, _ = servers
    mid = next(iter(next(c for c in epic.charts).medications))
    status, doc = _get(f"{epic.base}/Medication/{mid}")
    assert status == 200 and doc["resourceType"] == "Medication"
    assert _get(f"{epic.base}/Medication/nope")[0] == 404


def test_the_prefetch_an_ehr_sends_is_what_its_searches_return():
    chart = epic_like(_bundle("met-3-4"))
    queries = json.loads((s.SITES_DIR / "epic" / "fhir-queries.json").read_text())
    given = ehr.prefetch_for(chart, queries, PREFETCH_TEMPLATES)
    assert "medicationStatements" not in given  # the site does not configure what Epic lacks
    observations = [e["resource"]["id"] for e in given["observations"]["entry"]]
    assert sorted(observations) == sorted(r["id"] for r in chart.resources if r["resourceType"] == "Observation")
    assert [e["search"]["mode"] for e in given["immunizations"]["entry"]] == ["outcome"]
