"""GMG_CDS_FHIR_QUERIES (issue #14 point 6): the FHIR searches the service runs for a prefetch key
it fetches itself. Checked at start; several searches merged with each resource once; [] = the EHR
does not offer the data (nothing fetched, no data gap); default = the discovery templates.

The EHR is the loopback Epic-like server of tests/ehr_shapes (a real HTTP server on 127.0.0.1; the
EHR itself cannot run here): Observation searches without `category` are refused with 400 and
MedicationStatement is not offered, as ../shared/background/ehr-data-shapes.md §1 records."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from cds_service import prefetch
from cds_service.app import create_app
from cds_service.cli import main as cli_main
from cds_service.settings import ConfigError, Settings, site_fhir_queries
from hooks.registry import PREFETCH_TEMPLATES
from tests.conftest import hook_request, local_settings
from tests.ehr_shapes import server as ehr
from tests.ehr_shapes.reshape import epic_like
from tests.ehr_shapes.sites import SITES_DIR

ROOT = Path(__file__).resolve().parents[1]
EPIC_QUERIES = SITES_DIR / "epic" / "fhir-queries.json"
PV = "/cds-services/gmg-patient-view"
P = "{{context.patientId}}"


def _write(tmp_path: Path, doc: object, name: str = "queries.json") -> str:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def _auth() -> dict[str, object]:
    return {"access_token": ehr.TOKEN, "token_type": "Bearer", "expires_in": 300, "scope": "patient/*.read",
            "subject": "gmg-cds"}


@pytest.fixture(scope="module")
def epic_server():
    chart = epic_like(json.loads((ROOT / "demo" / "bundles" / "met-3-4.json").read_text()))
    with ehr.EhrFhirServer("epic", [chart]) as server:
        yield server, chart


# -- checked at start ----------------------------------------------------------------------------


@pytest.mark.parametrize("doc, message", [
    ("{not json", "not valid JSON"),
    ([], "must be a JSON object"),
    ({"labs": [f"Observation?patient={P}"]}, "key 'labs': not a prefetch key"),
    ({"observations": f"Observation?patient={P}"}, "key 'observations': must be a list"),
    ({"observations": []}, "key 'observations': the service cannot answer without"),
    ({"patient": []}, "key 'patient': the service cannot answer without"),
    ({"observations": [f"https://ehr.example.org/Observation?patient={P}"]}, "must be relative to fhirServer"),
    ({"observations": [f"Condition?patient={P}"]}, "searches Condition, but the key 'observations' holds Observation"),
    ({"observations": [f"observation?patient={P}"]}, "must start with a FHIR resource type"),
    ({"observations": ["Observation?patient={{context.draftOrders}}"]}, "{{context.draftOrders}}"),
    ({"observations": ["Observation?patient={{context.patientId}&category=laboratory"]}, "malformed"),
    ({"observations": ["Observation?category=laboratory"]}, "must name the patient"),
    ({"observations": [f"Observation?patient={P}", f"Observation?patient={P}"]}, "same search twice"),
    ({"observations": [3]}, "each search must be a non-empty string"),
])
def test_a_bad_queries_file_stops_the_start_naming_file_and_key(tmp_path, doc, message):
    path = _write(tmp_path, doc)
    with pytest.raises(ConfigError) as exc:
        Settings.from_env({"GMG_CDS_ENV": "local", "GMG_CDS_FHIR_QUERIES": path})
    assert message in str(exc.value)
    assert f"GMG_CDS_FHIR_QUERIES ({path})" in str(exc.value)


def test_a_missing_file_stops_the_start(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        site_fhir_queries(str(tmp_path / "nowhere.json"))


def test_check_config_reports_the_problem_and_the_queries_in_force(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GMG_CDS_ENV", "local")
    monkeypatch.setenv("GMG_CDS_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite3'}")
    monkeypatch.setenv("GMG_CDS_FHIR_QUERIES", _write(tmp_path, {"labs": []}))
    assert cli_main(["check-config"]) == 1
    assert "FAIL settings: GMG_CDS_FHIR_QUERIES" in capsys.readouterr().out
    monkeypatch.setenv("GMG_CDS_FHIR_QUERIES", str(EPIC_QUERIES))
    assert cli_main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "ok   site FHIR queries" in out and "observations: 3 searches" in out
    assert "medicationStatements: not offered" in out


def test_the_shipped_example_files_are_valid():
    epic = site_fhir_queries(str(EPIC_QUERIES))
    assert epic is not None and epic["medicationStatements"] == ()
    assert all("category=" in q for q in epic["observations"])
    assert site_fhir_queries(str(SITES_DIR / "cerner" / "fhir-queries.json"))["adverseEvents"] == ()


# -- resolution ------------------------------------------------------------------------------------


def _settings(tmp_path: Path, queries: dict[str, list[str]] | None) -> Settings:
    settings = local_settings(tmp_path)
    if queries is None:
        return settings
    return replace(settings, fhir_queries=site_fhir_queries(_write(tmp_path, queries, "site.json")))


def test_without_site_queries_an_epic_like_server_refuses_the_observation_search(tmp_path, epic_server):
    server, chart = epic_server
    body = hook_request("patient-view", {"userId": "Practitioner/u1", "patientId": chart.patient_id},
                        fhirServer=server.base, fhirAuthorization=_auth())
    resp = create_app(_settings(tmp_path, None)).test_client().post(PV, json=body)
    assert resp.status_code == 412
    assert "prefetch observations: not provided and could not be retrieved (http-400)" in resp.get_data(as_text=True)


def test_several_searches_are_merged_each_resource_once_in_the_sites_order(tmp_path, epic_server):
    server, chart = epic_server
    queries = {"observations": [f"Observation?patient={P}&category=laboratory",
                                f"Observation?patient={P}&category=survey,laboratory",
                                f"Observation?patient={P}&category=vital-signs"]}
    body = hook_request("patient-view", {"userId": "Practitioner/u1", "patientId": chart.patient_id},
                        fhirServer=server.base, fhirAuthorization=_auth())
    res = prefetch.resolve({"observations": PREFETCH_TEMPLATES["observations"]}, body, _settings(tmp_path, queries))
    ids = [e["resource"]["id"] for e in res.prefetch["observations"]["entry"]]
    expected = [r["id"] for r in chart.resources if r["resourceType"] == "Observation"]
    assert sorted(ids) == sorted(expected) and len(ids) == len(set(ids))
    labs = [r["id"] for r in chart.resources if r["resourceType"] == "Observation"
            and any(c.get("code") == "laboratory" for cat in r.get("category", []) for c in cat["coding"])]
    assert ids[:len(labs)] == labs  # the first search's results first
    assert res.prefetch["observations"]["total"] == len(ids)
    assert not res.unavailable and not res.incomplete


def test_an_empty_list_fetches_nothing_and_reports_no_gap(tmp_path, epic_server):
    server, chart = epic_server
    app = create_app(_settings(tmp_path, json.loads(EPIC_QUERIES.read_text())))
    body = hook_request("patient-view", {"userId": "Practitioner/u1", "patientId": chart.patient_id},
                        fhirServer=server.base, fhirAuthorization=_auth())
    before = len(server.requests)
    resp = app.test_client().post(PV, json=body)
    assert resp.status_code == 200
    paths = [p for p, _q in server.requests[before:]]
    assert not any("MedicationStatement" in p for p in paths)
    assert sum("Observation" in p for p in paths) >= 3  # one search per category, and their pages
    codes = {f["code"] for c in resp.get_json()["cards"] for f in c["extension"]["gmg-cds"]["findings"]}
    assert not any(code.startswith("data-gap.unavailable") for code in codes), codes
    res = prefetch.resolve(PREFETCH_TEMPLATES, body, _settings(tmp_path, json.loads(EPIC_QUERIES.read_text())))
    assert res.prefetch["medicationStatements"] is None and res.not_offered == {"medicationStatements"}
    assert "medicationStatements" not in res.unavailable


def test_the_default_template_asks_for_what_the_ehr_does_not_offer_and_says_so(tmp_path, epic_server):
    """Without `[]` for it, MedicationStatement is asked for, refused (404), and reported as a gap."""
    server, chart = epic_server
    queries = json.loads(EPIC_QUERIES.read_text())
    del queries["medicationStatements"]
    body = hook_request("patient-view", {"userId": "Practitioner/u1", "patientId": chart.patient_id},
                        fhirServer=server.base, fhirAuthorization=_auth())
    res = prefetch.resolve(PREFETCH_TEMPLATES, body, _settings(tmp_path, queries))
    assert res.unavailable == {"medicationStatements"} and res.problems["medicationStatements"] == "http-404"


def test_data_the_client_sent_is_used_even_for_a_key_the_site_does_not_offer(tmp_path, epic_server):
    server, chart = epic_server
    given = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    body = hook_request("patient-view", {"userId": "Practitioner/u1", "patientId": chart.patient_id},
                        prefetch={"medicationStatements": given}, fhirServer=server.base, fhirAuthorization=_auth())
    res = prefetch.resolve({"medicationStatements": PREFETCH_TEMPLATES["medicationStatements"]}, body,
                           _settings(tmp_path, {"medicationStatements": []}))
    assert res.prefetch["medicationStatements"] is given and not res.not_offered


def test_one_failing_search_of_several_keeps_the_others_as_partial_data(tmp_path, epic_server):
    server, chart = epic_server
    queries = {"observations": [f"Observation?patient={P}&category=laboratory",
                                f"Observation?patient={P}"]}  # refused: no category
    body = hook_request("patient-view", {"userId": "Practitioner/u1", "patientId": chart.patient_id},
                        fhirServer=server.base, fhirAuthorization=_auth())
    res = prefetch.resolve({"observations": PREFETCH_TEMPLATES["observations"]}, body, _settings(tmp_path, queries))
    assert res.incomplete == {"observations"} and res.problems["observations"] == "http-400"
    assert res.prefetch["observations"]["entry"]  # the laboratory results are kept
    assert not res.unavailable


def test_a_search_whose_token_cannot_be_filled_in_this_call_fails_that_key(tmp_path, epic_server):
    server, chart = epic_server
    queries = {"conditions": [f"Condition?patient={P}&encounter={{{{context.encounterId}}}}"]}
    body = hook_request("patient-view", {"userId": "Practitioner/u1", "patientId": chart.patient_id},
                        fhirServer=server.base, fhirAuthorization=_auth())
    res = prefetch.resolve({"conditions": PREFETCH_TEMPLATES["conditions"]}, body, _settings(tmp_path, queries))
    assert res.unavailable == {"conditions"} and res.problems["conditions"] == "template-not-renderable"
