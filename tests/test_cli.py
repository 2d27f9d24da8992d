"""The gmg-cds command-line tool: offline evaluation, demo patients, parameters, config check."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from cds_service.app import create_app
from cds_service.cli import main
from cds_service.demo_fhir import ANCHOR, DEMO_DIR, DemoStore
from fhir_mappings.prefetch import prefetch_from_bundle
from tests.conftest import local_settings


def saved_request(slug: str, tmp_path) -> str:
    prefetch, pid = prefetch_from_bundle(json.loads((DEMO_DIR / f"{slug}.json").read_text()))
    body = {"hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "hook": "patient-view",
            "fhirServer": "http://192.0.2.1/fhir",  # must never be called offline
            "context": {"userId": "Practitioner/x", "patientId": pid}, "prefetch": prefetch}
    path = tmp_path / f"{slug}.json"
    path.write_text(json.dumps(body))
    return str(path)


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out)
    return code, out.getvalue()


def test_evaluate_prints_cards_as_text_and_json(tmp_path):
    path = saved_request("met-3-4", tmp_path)
    code, text = run("evaluate", path, "--today", "2026-11-22")
    assert code == 0
    assert "refractory.cn.met" in text and "refractory.cn.c3-4" in text
    assert text.splitlines()[0].startswith("[1] ")
    code, raw = run("evaluate", path, "--today", "2026-11-22", "--json")
    doc = json.loads(raw)
    codes = {f["code"] for c in doc["cards"] for f in c["extension"]["gmg-cds"]["findings"]}
    assert "refractory.cn.met" in codes


def test_evaluate_without_required_data_reports_412(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "hook": "patient-view",
                                "context": {"userId": "Practitioner/x", "patientId": "p1"}}))
    code, text = run("evaluate", str(path))
    assert code == 1 and "HTTP 412" in text and "prefetch patient" in text


def test_evaluate_no_mg_patient_prints_no_cards(tmp_path):
    code, text = run("evaluate", saved_request("no-mg", tmp_path), "--today", "2026-11-22")
    assert code == 0 and text.strip() == "No cards."


def test_demo_list_names_every_bundle():
    code, text = run("demo", "list")
    assert code == 0
    for p in DemoStore(DEMO_DIR, ANCHOR).patients:
        assert p["id"] in text and p["slug"] in text


@pytest.fixture
def served(tmp_path):
    app = create_app(local_settings(tmp_path))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_demo_fire_at_a_running_service(served):
    code, text = run("demo", "fire", "gmg-demo-unconfirmed", "--url", served)
    assert code == 0, text
    assert "antibody.revalidate-cba" in text
    code, text = run("demo", "fire", "gmg-demo-no-mg", "--url", served, "--json")
    assert json.loads(text) == {"cards": []}


def test_demo_fire_reports_an_unreachable_service():
    code, text = run("demo", "fire", "gmg-demo-musk", "--url", "http://127.0.0.1:9")
    assert code == 1 and "could not reach" in text


def test_parameters_with_provenance_and_a_site_override(tmp_path, monkeypatch):
    code, text = run("parameters")
    assert code == 0
    assert text.startswith("parameter set ")
    line = next(l for l in text.splitlines() if l.startswith("mg_adl_min "))
    assert " 6 " in line and "D-hi" in line
    override = tmp_path / "site.toml"
    override.write_text('version = "site-1"\n[mg_adl_min]\nvalue = 7\nsource = "site review board 2026"\n')
    monkeypatch.setenv("GMG_CDS_PARAMETERS_FILE", str(override))
    code, raw = run("parameters", "--json")
    doc = json.loads(raw)
    assert doc["version"].endswith("+site-1")
    assert doc["parameters"]["mg_adl_min"] == {"value": 7, "unit": doc["parameters"]["mg_adl_min"]["unit"],
                                               "tag": "D-hi", "source": "site review board 2026", "overridden": True,
                                               "comparator": ">="}


def test_parameters_show_the_second_pass_tags_and_comparators():
    """D-mid (glyph-anchored) entries are listed as interim like D-lo and K; comparators are shown."""
    code, text = run("parameters")
    lines = {l.split()[0]: l for l in text.splitlines()[1:] if l.strip()}
    assert " D-mid " in lines["adequacy_azathioprine_min_weeks"] and "(interim: verify)" in lines["adequacy_azathioprine_min_weeks"]
    assert "> 100" in lines["adequacy_cyclosporine_trough_min_ng_ml"]
    assert "< 0.5" in lines["ocular_share_max"]
    assert " I " in lines["intolerance_grade_auto"] and "(interim" not in lines["intolerance_grade_auto"]


def test_check_config_reports_a_writable_database_and_a_broken_one(tmp_path, monkeypatch):
    monkeypatch.setenv("GMG_CDS_ENV", "local")
    monkeypatch.setenv("GMG_CDS_DATABASE_URL", f"sqlite:///{tmp_path / 'ok.sqlite3'}")
    code, text = run("check-config")
    assert "ok   database writable (sqlite)" in text
    assert code == 0, text
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("GMG_CDS_DATABASE_URL", f"sqlite:///{blocker}/db.sqlite3")
    code, text = run("check-config")
    assert code == 1 and "FAIL database" in text
    monkeypatch.setenv("GMG_CDS_ENV", "staging")
    code, text = run("check-config")
    assert code == 1 and "GMG_CDS_ENV" in text


def test_check_config_reads_each_trusted_issuers_key_set(tmp_path, monkeypatch):
    from tests.security_helpers import signing_key, write_jwks

    monkeypatch.setenv("GMG_CDS_ENV", "production")
    monkeypatch.setenv("GMG_CDS_PUBLIC_BASE_URL", "https://cds.example.org")
    monkeypatch.setenv("GMG_CDS_DATABASE_URL", f"sqlite:///{tmp_path / 'p.sqlite3'}")
    good = write_jwks(tmp_path / "good.json", signing_key("ES384"))
    (tmp_path / "bad.json").write_text("{not json")
    monkeypatch.setenv("GMG_CDS_TRUSTED_ISSUERS", json.dumps([
        {"iss": "https://ehr-a.example.org", "jwks_file": good},
        {"iss": "https://ehr-b.example.org", "jwks_file": str(tmp_path / "bad.json")},
    ]))
    code, text = run("check-config")
    assert "ok   issuer https://ehr-a.example.org: 1 signing key(s)" in text
    assert "FAIL issuer https://ehr-b.example.org" in text
    assert code == 1
    monkeypatch.delenv("GMG_CDS_TRUSTED_ISSUERS")
    code, text = run("check-config")
    assert code == 1 and "every call will be refused" in text


def test_demo_fire_order_hooks_with_the_files_the_readme_names(served):
    """README: `gmg-cds demo fire gmg-demo-met-3-1 --hook order-sign --orders demo/orders/met-3-1.json`
    (the file is a request with context.draftOrders, not a bare Bundle)."""
    orders = str(Path(__file__).resolve().parents[1] / "demo" / "orders" / "met-3-1.json")
    code, text = run("demo", "fire", "gmg-demo-met-3-1", "--hook", "order-sign", "--orders", orders, "--url", served)
    assert code == 0, text
    assert "safety.c5.meningococcal-vaccine-missing" in text and "safety.ivig.iga-missing" in text
    code, text = run("demo", "fire", "met-3-1", "--hook", "order-select", "--orders", orders, "--url", served)
    assert code == 0 and "safety.c5.meningococcal-vaccine-missing" in text, text  # slug, first draft selected
    code, text = run("demo", "fire", "met-3-1", "--hook", "order-sign", "--url", served)
    assert code == 2 and "--orders" in text


def test_demo_fire_explains_a_service_that_checks_tokens(tmp_path):
    from cds_service.settings import Settings

    app = create_app(Settings.from_env({"GMG_CDS_ENV": "production", "GMG_CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
                                        "GMG_CDS_PUBLIC_BASE_URL": "http://127.0.0.1"}))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code, text = run("demo", "fire", "gmg-demo-musk", "--url", f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
    assert code == 1 and "HTTP 401" in text and "local mode" in text and "--token" in text
