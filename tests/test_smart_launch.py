"""The MG summary's SMART App Launch against a loopback EHR (tests/smart_ehr.py: an authorization
server and a FHIR server over real HTTP on 127.0.0.1), the service in the production profile.

The test plays the browser: it asks the service for /smart/launch, follows the redirect to the
EHR's authorization endpoint over HTTP, and brings the code back to /smart/callback with the
cookie the service set. Shown here: PKCE S256 is sent and verified by the EHR (and a code
injected into another launch fails on it), a wrong `state`, a missing or expired launch cookie
and an untrusted `iss` are refused before any token is asked for, the scopes are only patient
read/search, the callback works on another instance sharing the database, the token never
reaches the page, the cookies, the database or the logs, and the demo routes do not exist in
production.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.fernet import Fernet

from cds_service.app import create_app
from cds_service.settings import TrustedIssuer
from cds_service.smart import oauth
from cds_service.smart.config import LAUNCH_SECONDS
from cds_service.smart.state import LaunchState, cookie_name, seal
from tests.security_helpers import PUBLIC_BASE, TODAY, LogCapture, production_settings, signing_key, write_jwks
from tests.smart_ehr import LoopbackEhr, s256

CLIENT_ID = "gmg-summary-test-client"
REDIRECT_URI = PUBLIC_BASE + "/smart/callback"
PATIENT = "gmg-demo-course"
READ_SCOPES = {"patient/Patient.r", "patient/Medication.r"} | {
    f"patient/{t}.rs" for t in ("Condition", "Observation", "MedicationStatement", "MedicationRequest",
                                "MedicationAdministration", "Procedure", "Immunization", "AdverseEvent",
                                "AllergyIntolerance")}


@pytest.fixture(autouse=True)
def _fresh_discovery():
    oauth.clear_discovery_cache()
    yield
    oauth.clear_discovery_cache()


def start_ehr(**options) -> LoopbackEhr:
    ehr = LoopbackEhr(client_id=CLIENT_ID, redirect_uri=REDIRECT_URI, today=TODAY,
                      patient_for_launch={"launch-123": PATIENT}, **options)
    return ehr.start()


@pytest.fixture
def ehr():
    server = start_ehr()
    yield server
    server.stop()


def settings_for(tmp_path: Path, ehr: LoopbackEhr, **overrides):
    issuer = TrustedIssuer(iss="https://ehr.example.org/cds-hooks",
                           jwks_file=write_jwks(tmp_path / "ehr-jwks.json", signing_key("ES384")),
                           fhir_servers=(ehr.fhir_base,))
    base = production_settings(tmp_path, issuers=(issuer,), smart_client_id=CLIENT_ID,
                               prefetch_budget_seconds=5.0, fhir_timeout_seconds=3.0)
    return replace(base, **overrides)


def launch(client, iss: str, launch_value: str | None = "launch-123", path: str = "/smart/launch"):
    query = {"iss": iss} if launch_value is None else {"iss": iss, "launch": launch_value}
    return client.get(path, query_string=query, base_url=PUBLIC_BASE)


def authorize(location: str) -> str:
    """The browser at the EHR: the authorization endpoint redirects back with a code."""
    resp = requests.get(location, allow_redirects=False, timeout=5)
    assert resp.status_code == 302, resp.text
    return resp.headers["Location"]


def callback(client, url: str):
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == REDIRECT_URI
    return client.get(parts.path, query_string=parts.query, base_url=PUBLIC_BASE)


def params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_ehr_launch_shows_the_page_with_pkce_state_and_patient_read_scopes(tmp_path, ehr):
    app = create_app(settings_for(tmp_path, ehr))
    client = app.test_client()
    with LogCapture() as logs:
        started = launch(client, ehr.fhir_base)
        assert started.status_code == 302
        location = started.headers["Location"]
        assert location.startswith(ehr.base + "/oauth2/authorize?")
        sent = params(location)
        assert sent["response_type"] == "code" and sent["client_id"] == CLIENT_ID
        assert sent["redirect_uri"] == REDIRECT_URI and sent["aud"] == ehr.fhir_base
        assert sent["launch"] == "launch-123" and len(sent["state"]) >= 32
        assert sent["code_challenge_method"] == "S256" and re.fullmatch(r"[A-Za-z0-9_-]{43}", sent["code_challenge"])
        scopes = set(sent["scope"].split())
        assert scopes == {"launch"} | READ_SCOPES  # nothing to write, no user identity, no wildcard
        cookie = started.headers["Set-Cookie"]
        for attribute in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/smart/callback"):
            assert attribute in cookie

        page = callback(client, authorize(location))
        assert page.status_code == 200, page.get_data(as_text=True)[:500]

    html = page.get_data(as_text=True)
    assert "Rosa Course" in html and "Refractory gMG (Chinese consensus 3-1, 3-4)" in html
    # PKCE: the verifier sent with the code hashes to the challenge sent with the authorization
    assert ehr.pkce_results == [True]
    assert s256(ehr.token_requests[0]["code_verifier"]) == sent["code_challenge"]
    assert ehr.token_requests[0]["redirect_uri"] == REDIRECT_URI
    # every FHIR read carried the launch's token; the prefetch templates were all read
    token = ehr.issued_tokens[0]
    assert ehr.fhir_requests and all(auth == f"Bearer {token}" for _, auth in ehr.fhir_requests)
    assert {path.split("?")[0] for path, _ in ehr.fhir_requests} >= {
        f"/fhir/Patient/{PATIENT}", "/fhir/Condition", "/fhir/Observation", "/fhir/MedicationStatement",
        "/fhir/MedicationAdministration", "/fhir/Procedure"}
    # the token reaches neither the browser, nor the logs, nor the database
    headers = "\n".join(f"{k}: {v}" for k, v in page.headers.items())
    assert token not in html and token not in headers and token not in cookie
    assert token not in logs.text and "Rosa" not in logs.text and PATIENT not in logs.text
    assert token.encode() not in (tmp_path / "gmg-cds.sqlite3").read_bytes()
    # the launch cookie is cleared, the page is not cached and loads nothing from elsewhere
    assert cookie_name(sent["state"]) in page.headers["Set-Cookie"] and "Max-Age=0" in page.headers["Set-Cookie"]
    assert page.headers["Cache-Control"] == "no-store"
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self';" in csp and "style-src 'self';" in csp
    assert "unsafe" not in csp and "http" not in csp and "*" not in csp
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "<script>" not in html and " style=" not in html  # no inline script or style


def test_a_code_injected_into_another_launch_fails_on_pkce(tmp_path, ehr):
    """An attacker's code (from launch A) brought to the callback of launch B: the service sends
    B's verifier, which does not hash to A's challenge, so the EHR refuses the exchange."""
    client = create_app(settings_for(tmp_path, ehr)).test_client()
    code_a = params(authorize(launch(client, ehr.fhir_base).headers["Location"]))["code"]
    state_b = params(launch(client, ehr.fhir_base).headers["Location"])["state"]
    resp = client.get("/smart/callback", query_string={"code": code_a, "state": state_b}, base_url=PUBLIC_BASE)
    assert resp.status_code == 502
    assert "did not exchange the authorization code" in resp.get_data(as_text=True)
    assert ehr.pkce_results == [False] and ehr.issued_tokens == [] and ehr.fhir_requests == []


def test_wrong_state_is_refused_before_any_token_request(tmp_path, ehr):
    client = create_app(settings_for(tmp_path, ehr)).test_client()
    back = authorize(launch(client, ehr.fhir_base).headers["Location"])
    forged = back.replace("state=", "state=x")
    resp = callback(client, forged)
    assert resp.status_code == 400
    assert "does not belong to this browser" in resp.get_data(as_text=True)
    assert ehr.token_requests == []
    # and without the launch cookie (another browser), the right state is refused too
    other_browser = create_app(settings_for(tmp_path, ehr)).test_client()
    assert callback(other_browser, back).status_code == 400
    assert ehr.token_requests == []
    # the real browser still completes; a reload afterwards (cookie cleared, code used) is refused
    assert callback(client, back).status_code == 200
    assert callback(client, back).status_code == 400
    assert len(ehr.token_requests) == 1


def test_expired_or_altered_launch_state_is_refused(tmp_path, ehr):
    settings = settings_for(tmp_path, ehr)
    app = create_app(settings)
    client = app.test_client()
    back = authorize(launch(client, ehr.fhir_base).headers["Location"])
    state = params(back)["state"]
    from cds_service.smart.config import SmartConfig

    key = SmartConfig.from_settings(settings, app.config["GMG_STORE"]).state_key
    old = LaunchState(state, "v" * 64, ehr.fhir_base, ehr.base + "/oauth2/token", "en", True)
    stale = Fernet(key).encrypt_at_time(json.dumps(old.__dict__).encode(), int(time.time()) - LAUNCH_SECONDS - 5)
    client.set_cookie(cookie_name(state), stale.decode(), domain="cds.example.org", path="/smart/callback")
    assert callback(client, back).status_code == 400
    client.set_cookie(cookie_name(state), seal(key, old)[:-4] + "AAAA", domain="cds.example.org", path="/smart/callback")
    assert callback(client, back).status_code == 400
    assert ehr.token_requests == []


@pytest.mark.parametrize("make_iss", [
    lambda ehr, other: other.fhir_base,  # another server altogether
    lambda ehr, other: ehr.fhir_base + "-evil",  # a prefix of the trusted path, not below it
    lambda ehr, other: ehr.fhir_base.replace("http://", "http://user:pw@"),  # credentials
    lambda ehr, other: ehr.fhir_base + "?x=1",  # a query
    lambda ehr, other: "javascript:alert(1)",
    lambda ehr, other: "https://ehr.example.org/cds-hooks",  # the JWT issuer is not a FHIR server
])
def test_untrusted_iss_is_refused_without_calling_it(tmp_path, ehr, make_iss):
    other = start_ehr()
    try:
        client = create_app(settings_for(tmp_path, ehr)).test_client()
        resp = launch(client, make_iss(ehr, other))
        assert resp.status_code == 403
        assert "not one this service is configured to trust" in resp.get_data(as_text=True)
        assert other.discovery_requests == 0 and ehr.discovery_requests == 0
        assert "Set-Cookie" not in resp.headers
    finally:
        other.stop()


def test_iss_outside_the_site_ceiling_is_refused(tmp_path, ehr):
    client = create_app(settings_for(tmp_path, ehr, fhir_allowed_bases=("https://fhir.example.org",))).test_client()
    assert launch(client, ehr.fhir_base).status_code == 403
    assert ehr.discovery_requests == 0


def test_standalone_launch_asks_for_patient_context_and_v1_scopes_when_only_v1(tmp_path):
    ehr = start_ehr(capabilities=("launch-standalone", "permission-v1"))
    try:
        client = create_app(settings_for(tmp_path, ehr)).test_client()
        started = launch(client, ehr.fhir_base, launch_value=None)
        sent = params(started.headers["Location"])
        assert "launch" not in sent
        scopes = set(sent["scope"].split())
        assert "launch/patient" in scopes and "launch" not in scopes
        assert {s for s in scopes if s.startswith("patient/")} == {
            s.rsplit(".", 1)[0] + ".read" for s in READ_SCOPES}
        page = callback(client, authorize(started.headers["Location"]))
        assert page.status_code == 200 and "Rosa Course" in page.get_data(as_text=True)
    finally:
        ehr.stop()


def test_without_a_server_the_standalone_launch_lists_the_trusted_ones(tmp_path, ehr):
    resp = create_app(settings_for(tmp_path, ehr)).test_client().get("/smart/launch", base_url=PUBLIC_BASE)
    assert resp.status_code == 200
    assert ehr.fhir_base in resp.get_data(as_text=True)
    assert ehr.discovery_requests == 0


@pytest.mark.parametrize("case", ["denied", "no-patient", "plain-pkce-only"])
def test_the_ehr_refusing_or_misbehaving_gives_a_page_not_a_crash(tmp_path, case):
    ehr = start_ehr(deny=case == "denied", give_patient=case != "no-patient",
                    methods=("plain",) if case == "plain-pkce-only" else ("S256",))
    try:
        client = create_app(settings_for(tmp_path, ehr)).test_client()
        started = launch(client, ehr.fhir_base)
        if case == "plain-pkce-only":  # a server without S256 is not used
            assert started.status_code == 502 and ehr.authorize_requests == []
            return
        resp = callback(client, authorize(started.headers["Location"]))
        text = resp.get_data(as_text=True)
        if case == "denied":
            assert resp.status_code == 403 and "access_denied" in text and ehr.token_requests == []
        else:
            assert resp.status_code == 502 and "did not give a patient" in text and ehr.fhir_requests == []
        assert resp.headers["Content-Type"].startswith("text/html")
    finally:
        ehr.stop()


def test_the_callback_may_reach_another_instance_sharing_the_database(tmp_path, ehr):
    settings = settings_for(tmp_path, ehr)
    first, second = create_app(settings).test_client(), create_app(settings).test_client()
    started = launch(first, ehr.fhir_base)
    state = params(started.headers["Location"])["state"]
    sealed = first.get_cookie(cookie_name(state), domain="cds.example.org", path="/smart/callback").value
    second.set_cookie(cookie_name(state), sealed, domain="cds.example.org", path="/smart/callback")
    back = authorize(started.headers["Location"])
    assert callback(second, back).status_code == 200
    # a deployment with another database (another key) cannot read it
    elsewhere = create_app(replace(settings, database_url=f"sqlite:///{tmp_path / 'other.sqlite3'}")).test_client()
    elsewhere.set_cookie(cookie_name(state), sealed, domain="cds.example.org", path="/smart/callback")
    assert callback(elsewhere, back).status_code == 400


def test_a_configured_session_key_is_used_by_every_instance(tmp_path, ehr):
    key = "k" * 40
    a = create_app(settings_for(tmp_path, ehr, smart_session_key=key))
    b = create_app(settings_for(tmp_path, ehr, smart_session_key=key,
                                database_url=f"sqlite:///{tmp_path / 'b.sqlite3'}"))
    started = launch(a.test_client(), ehr.fhir_base)
    state = params(started.headers["Location"])["state"]
    client_b = b.test_client()
    sealed = started.headers["Set-Cookie"].split(";", 1)[0].split("=", 1)[1]
    client_b.set_cookie(cookie_name(state), sealed, domain="cds.example.org", path="/smart/callback")
    assert callback(client_b, authorize(started.headers["Location"])).status_code == 200


def test_demo_routes_do_not_exist_in_production(tmp_path, ehr):
    client = create_app(settings_for(tmp_path, ehr)).test_client()
    assert client.get("/smart/demo-launch?patient=gmg-demo-course", base_url=PUBLIC_BASE).status_code == 404
    assert client.get("/smart/demo-auth/authorize", base_url=PUBLIC_BASE).status_code == 404
    assert client.post("/smart/demo-auth/token", data={"grant_type": "authorization_code"},
                       base_url=PUBLIC_BASE).status_code == 404
    assert client.get("/demo/fhir/.well-known/smart-configuration", base_url=PUBLIC_BASE).status_code == 404


def test_without_a_client_id_production_cannot_launch(tmp_path, ehr):
    client = create_app(settings_for(tmp_path, ehr, smart_client_id=None)).test_client()
    resp = launch(client, ehr.fhir_base)
    assert resp.status_code == 404 and "not configured" in resp.get_data(as_text=True)
    assert ehr.discovery_requests == 0
