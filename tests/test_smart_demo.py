"""The demo launch (local and demo mode): `/smart/demo-launch` runs the whole SMART flow against
the bundled demo FHIR endpoint over real HTTP (the service on a werkzeug server on 127.0.0.1
calls its own discovery, token and FHIR endpoints), and the demo authorization server checks
what an EHR's would: client id, redirect URI, PKCE S256, `aud`, the signed launch context.
(The production profile has none of these routes: tests/test_smart_launch.py.)"""

from __future__ import annotations

import threading
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from werkzeug.serving import make_server

from cds_service.app import create_app
from cds_service.smart import oauth
from cds_service.smart.config import DEMO_CLIENT_ID
from tests.conftest import local_settings


@pytest.fixture(autouse=True)
def _fresh_discovery():
    oauth.clear_discovery_cache()
    yield
    oauth.clear_discovery_cache()


def serve(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.server_port}"


def test_demo_launch_runs_the_whole_flow_over_http(tmp_path):
    """Local mode (the launch cookie is not Secure there, so `requests` carries it over http; demo
    mode's Secure cookie over http://localhost is Chromium's part: tests/test_smart_browser.py)."""
    server, base = serve(create_app(local_settings(tmp_path)))
    try:
        with requests.Session() as browser:
            resp = browser.get(f"{base}/smart/demo-launch", params={"patient": "gmg-demo-course", "lang": "zh-CN"},
                               timeout=30)
            assert resp.status_code == 200, resp.text[:500]
            assert urlsplit(resp.url).path == "/smart/callback"
            assert [urlsplit(r.headers["Location"]).path for r in resp.history] == [
                "/smart/launch/zh-CN", "/smart/demo-auth/authorize", "/smart/callback"]
            html = resp.text
            assert "Rosa Course" in html and "MG 病程总览" in html and "治疗时间线" in html
            assert "按中国共识为难治性全身型 MG（3-1、3-4）" in html and "2026-10-28" in html
            assert resp.headers["Cache-Control"] == "no-store"
            assert "access_token" not in html and not any("token" in c.name for c in browser.cookies)
            again = browser.get(resp.url, timeout=10)  # a reload: the code was used, the cookie cleared
            assert again.status_code == 400
    finally:
        server.shutdown()


def test_demo_launch_lists_patients_and_refuses_unknown_ones(tmp_path):
    client = create_app(local_settings(tmp_path)).test_client()
    listing = client.get("/smart/demo-launch")
    assert listing.status_code == 200 and "gmg-demo-course" in listing.get_data(as_text=True)
    assert client.get("/smart/demo-launch?patient=nobody").status_code == 404
    by_slug = client.get("/smart/demo-launch?patient=course-refractory")
    assert by_slug.status_code == 302
    target = parse_qs(urlsplit(by_slug.headers["Location"]).query)
    assert target["iss"] == ["http://localhost/demo/fhir"]


def test_demo_mode_on_a_forged_host_does_not_trust_itself(tmp_path):
    settings = replace(local_settings(tmp_path), env="demo", auth_required=True, cors_origins=())
    client = create_app(settings).test_client()
    resp = client.get("/smart/demo-launch?patient=gmg-demo-course", base_url="http://attacker.example")
    assert resp.status_code == 403
    assert client.get("/smart/launch?iss=http://attacker.example/demo/fhir",
                      base_url="http://attacker.example").status_code == 403


def _authorize(client, **overrides):
    launch = parse_qs(urlsplit(client.get("/smart/demo-launch?patient=gmg-demo-met-3-4").headers["Location"]).query)
    verifier = "v" * 50
    query = {"response_type": "code", "client_id": DEMO_CLIENT_ID, "redirect_uri": "http://localhost/smart/callback",
             "scope": "launch patient/Patient.r patient/Observation.rs", "state": "s1",
             "aud": "http://localhost/demo/fhir", "launch": launch["launch"][0],
             "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256"}
    query.update({k: v for k, v in overrides.items() if v is not None})
    for k in [k for k, v in overrides.items() if v is None]:
        query.pop(k)
    return client.get("/smart/demo-auth/authorize", query_string=query), verifier


def _token(client, code: str, verifier: str, **overrides):
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": "http://localhost/smart/callback",
            "client_id": DEMO_CLIENT_ID, "code_verifier": verifier}
    form.update(overrides)
    return client.post("/smart/demo-auth/token", data=form)


def test_the_demo_authorization_server_checks_pkce_and_the_client(tmp_path):
    client = create_app(local_settings(tmp_path)).test_client()
    resp, verifier = _authorize(client)
    assert resp.status_code == 302
    back = parse_qs(urlsplit(resp.headers["Location"]).query)
    assert back["state"] == ["s1"]
    code = back["code"][0]
    assert _token(client, code, verifier + "x").get_json() == {"error": "invalid_grant"}
    assert _token(client, code, verifier, client_id="someone-else").status_code == 401
    assert _token(client, code, verifier, redirect_uri="http://localhost/elsewhere").status_code == 400
    token = _token(client, code, verifier).get_json()
    assert token["patient"] == "gmg-demo-met-3-4" and token["token_type"] == "Bearer"


@pytest.mark.parametrize("overrides, error", [
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge": None}, "invalid_request"),
    ({"aud": "http://localhost/other/fhir"}, "invalid_request"),
    ({"launch": "forged"}, "invalid_request"),
    ({"launch": None, "scope": "patient/Patient.r"}, "invalid_scope"),
])
def test_the_demo_authorization_server_refuses_bad_requests(tmp_path, overrides, error):
    client = create_app(local_settings(tmp_path)).test_client()
    resp, _ = _authorize(client, **overrides)
    assert resp.status_code == 302
    assert parse_qs(urlsplit(resp.headers["Location"]).query)["error"] == [error]


def test_the_demo_authorization_server_never_redirects_to_an_unknown_uri(tmp_path):
    client = create_app(local_settings(tmp_path)).test_client()
    resp, _ = _authorize(client, redirect_uri="https://attacker.example/cb")
    assert resp.status_code == 400 and "Location" not in resp.headers
