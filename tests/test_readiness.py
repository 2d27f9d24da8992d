"""`gmg-cds readiness` (issue #14 point 8): per concept the service reads, how many patients have
data it recognises; the most frequent codes it does not recognise; a ConceptMap skeleton of them.
Over FHIR Bundles (Synthea), a Bulk Data NDJSON folder, saved CDS Hooks requests and a FHIR
server (the loopback Epic-like server of tests/ehr_shapes: a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from pathlib import Path

import pytest

import terminology
from cds_service.cli import main as cli_main
from fhir_mappings.prefetch import prefetch_from_bundle
from tests.conftest import SHARED
from tests.ehr_shapes import server as ehr
from tests.ehr_shapes import sites as s
from tests.ehr_shapes.reshape import cerner_like, epic_like

ROOT = Path(__file__).resolve().parents[1]
DEMO = sorted((ROOT / "demo" / "bundles").glob("*.json"))
SYNTHEA = SHARED / "fixtures" / "synthea-r4"


def _run(capsys, *args: str) -> str:
    assert cli_main(["readiness", "--today", "2026-11-22", *args]) == 0
    return capsys.readouterr().out


def _count(out: str, label: str) -> int:
    line = next(line for line in out.splitlines() if line.strip().startswith(label))
    return int(line.split()[-1])


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("GMG_CDS_ENV", "local")
    monkeypatch.setenv("GMG_CDS_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite3'}")
    monkeypatch.delenv("GMG_CDS_FHIR_QUERIES", raising=False)
    monkeypatch.delenv("GMG_CDS_CONCEPT_MAPS", raising=False)
    yield monkeypatch
    terminology.use_concept_maps(None)  # the command folds a site's maps into this process


def test_synthea_bundles_have_labs_and_vitals_but_no_mg_data(env, capsys):
    out = _run(capsys, "--bundles", str(SYNTHEA), "--top", "5")
    assert "46 patient(s) from FHIR Bundles" in out
    assert _count(out, "vital sign: Body weight") == 46 and _count(out, "lab: Haematocrit") == 46
    assert _count(out, "MG-ADL total") == 0 and _count(out, "MG diagnosis") == 0
    assert "Codes of the site's own systems not recognised (map them: --concept-map-template): 0 distinct" in out
    standard = out.split("Codes of standard systems")[1]
    assert "http://loinc.org" in standard and "72514-3" in standard  # pain score: not read by the service


def test_the_demo_patients_as_sent_are_recognised(env, capsys, tmp_path):
    out = _run(capsys, "--bundles", *map(str, DEMO))
    assert f"{len(DEMO)} patient(s)" in out
    with_mg_adl = sum(any(e["resource"].get("code", {}).get("coding", [{}])[0].get("code") == "mg-adl-total"
                          for e in json.loads(p.read_text())["entry"]) for p in DEMO)
    assert _count(out, "MG-ADL total") == with_mg_adl > 10
    assert _count(out, "drug class: glucocorticoid") > 10
    assert "0 distinct" in out.split("Codes of the site's own systems")[1].splitlines()[0]
    # the same patients as saved CDS Hooks requests
    for p in DEMO:
        prefetch, pid = prefetch_from_bundle(json.loads(p.read_text()))
        request = {"hook": "patient-view", "hookInstance": "x", "context": {"patientId": pid}, "prefetch": prefetch}
        (tmp_path / f"{p.stem}.json").write_text(json.dumps(request))
    again = _run(capsys, "--requests", str(tmp_path))
    assert _count(again, "MG-ADL total") == with_mg_adl
    assert again.split("What the service reads")[1] == out.split("What the service reads")[1]


def _write_ndjson(folder: Path, charts) -> None:
    """The charts as a Bulk Data export: one gzipped NDJSON file per resource type."""
    by_type: dict[str, list[dict]] = defaultdict(list)
    for chart in charts:
        for r in chart.resources:
            by_type[r["resourceType"]].append(r)
        for m in chart.medications.values():
            if m not in by_type["Medication"]:
                by_type["Medication"].append(m)
    for rtype, items in by_type.items():
        with gzip.open(folder / f"{rtype}.ndjson.gz", "wt") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in items)


@pytest.fixture(scope="module")
def epic_charts():
    return [epic_like(json.loads(p.read_text())) for p in DEMO]


def test_epic_like_codes_without_a_site_map_are_listed_and_written_as_a_concept_map_skeleton(
        env, capsys, tmp_path, epic_charts):
    _write_ndjson(tmp_path, epic_charts)
    template = tmp_path / "site-codes.json"
    out = _run(capsys, "--ndjson", str(tmp_path), "--concept-map-template", str(template), "--top", "100")
    assert f"{len(DEMO)} patient(s) from Bulk Data NDJSON" in out
    site = out.split("Codes of the site's own systems")[1].split("Codes of standard systems")[0]
    total_row, total_name = s.EPIC_ROWS["mg-adl-total"]
    line = next(line for line in site.splitlines() if f" {total_row} " in line)
    assert "Observation.code" in line and s.EPIC_FLOWSHEET_ROW in line and total_name in line
    assert any(s.EPIC_PROCEDURES["225067007"][0] in line for line in site.splitlines())
    skeleton = json.loads(template.read_text())
    assert skeleton["resourceType"] == "ConceptMap"
    groups = {g["source"]: g for g in skeleton["group"]}
    assert "target" not in groups[s.EPIC_FLOWSHEET_ROW]  # cannot be loaded before it is filled in
    rows = {e["code"]: e for e in groups[s.EPIC_FLOWSHEET_ROW]["element"]}
    assert rows[total_row]["display"] == total_name
    assert rows[total_row]["target"][0]["equivalence"] == "unmatched"
    assert set(rows) >= {row for row, _ in s.EPIC_ROWS.values()}
    assert s.EPIC_FLOWSHEET_ID not in groups  # an environment's row token means nothing elsewhere


def test_a_fhir_server_is_read_as_the_service_reads_it(env, capsys, tmp_path, epic_charts):
    token = tmp_path / "token"
    token.write_text(ehr.TOKEN + "\n")
    with ehr.EhrFhirServer("epic", epic_charts) as server:
        ids = [c.patient_id for c in epic_charts]
        out = _run(capsys, "--fhir", server.base, "--token-file", str(token), *sum((["--patient", i] for i in ids), []))
        assert "observations: http-400" in out  # Epic refuses Observation?patient= without category
        assert "medicationStatements: http-404" in out
        env.setenv("GMG_CDS_FHIR_QUERIES", str(s.SITES_DIR / "epic" / "fhir-queries.json"))
        (tmp_path / "ids").write_text("\n".join(ids))
        out = _run(capsys, "--fhir", server.base, "--token-file", str(token), "--patients-file", str(tmp_path / "ids"))
        assert "Prefetch keys that could not be fetched" not in out
        assert any("/Medication/" in p for p, _q in server.requests)  # Medications read by reference
    assert _count(out, "vital sign: Body weight") > 10  # LOINC beside the flowsheet row
    assert "Medication references that resolve to no Medication" not in out


def test_json_output(env, capsys):
    out = _run(capsys, "--bundles", str(DEMO[0]), "--json")
    doc = json.loads(out)
    assert doc["patients"] == 1 and {"concept": "MG-ADL total", "patients": 1} in doc["concepts"]


def _what_is_read(out: str) -> str:
    return out.split("What the service reads")[1].split("Codes of the site")[0]


def test_with_the_sites_maps_the_epic_like_export_reads_as_the_canonical_charts(env, capsys, tmp_path, epic_charts):
    canonical = _run(capsys, "--bundles", *map(str, DEMO))
    _write_ndjson(tmp_path, epic_charts)
    env.setenv("GMG_CDS_CONCEPT_MAPS", str(s.SITES_DIR / "epic" / "concept-maps"))
    out = _run(capsys, "--ndjson", str(tmp_path))
    assert "site concept maps: 4 file(s)" in out
    assert _what_is_read(out) == _what_is_read(canonical)
    assert "Codes of the site's own systems not recognised (map them: --concept-map-template): 0 distinct" in out
    unused = out.split("Site map targets in external code systems the service does not use: ")[1]
    assert unused.startswith("2\n") and "http://loinc.org|2823-3" in unused and "http://loinc.org|2951-2" in unused


def test_with_its_queries_and_maps_a_cerner_like_server_reads_as_the_canonical_charts(env, capsys, tmp_path):
    canonical = _run(capsys, "--bundles", *map(str, DEMO))
    charts = [cerner_like(json.loads(p.read_text())) for p in DEMO]
    token = tmp_path / "token"
    token.write_text(ehr.TOKEN)
    env.setenv("GMG_CDS_FHIR_QUERIES", str(s.SITES_DIR / "cerner" / "fhir-queries.json"))
    env.setenv("GMG_CDS_CONCEPT_MAPS", str(s.SITES_DIR / "cerner" / "concept-maps"))
    with ehr.EhrFhirServer("cerner", charts) as server:
        out = _run(capsys, "--fhir", server.base, "--token-file", str(token),
                   *sum((["--patient", c.patient_id] for c in charts), []))
        assert all("_count=200" in q for p, q in server.requests if p.endswith("/Observation"))
    assert _what_is_read(out) == _what_is_read(canonical)


def test_a_bad_site_map_stops_the_command_naming_the_file(env, capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"resourceType": "ConceptMap", "group": [{"source": "urn:x", "target": '
                   '"https://gmg-cds.github.io/fhir/CodeSystem/mg-scores", "element": [{"code": "1", '
                   '"target": [{"code": "no-such-score", "equivalence": "equivalent"}]}]}]}')
    env.setenv("GMG_CDS_CONCEPT_MAPS", str(bad))
    assert cli_main(["readiness", "--bundles", str(DEMO[0])]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAIL concept maps") and "bad.json" in out and "no-such-score" in out
