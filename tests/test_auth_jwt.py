"""Caller authentication through the real app (production profile): every way a token must be
refused is refused with a bare 401 and a logged reason without the token; valid ES384 and RS384
tokens (and the spec's example token shape) are accepted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import replace
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from cds_service.app import create_app
from cds_service.auth import AuthFailure, JwtVerifier, build_authenticator
from cds_service.replay import ReplayGuard
from cds_service.settings import ConfigError, Settings, TrustedIssuer
from cds_service.store import open_store

from tests.security_helpers import (
    EXAMPLES,
    ISSUER,
    PUBLIC_BASE,
    SERVICE_URL,
    LogCapture,
    LoopbackServer,
    bearer,
    empty_prefetch,
    hook_body,
    jwks,
    mint,
    production_settings,
    send_json,
    signing_key,
    write_jwks,
)

ES = signing_key("ES384")
RS = signing_key("RS384")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return production_settings(tmp_path)


@pytest.fixture
def client(settings: Settings):
    return create_app(settings).test_client()


def call(client, token: str | None, url: str = "/cds-services/gmg-patient-view", body=None,
         headers: dict[str, str] | None = None):
    hdrs = dict(headers or {})
    if token is not None:
        hdrs.update(bearer(token))
    if body is None:
        body = hook_body(prefetch=empty_prefetch())
    return client.post(url, json=body, headers=hdrs)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def assert_refused(resp, logs: LogCapture, reason: str, token: str | None = None) -> None:
    assert resp.status_code == 401, resp.get_data(as_text=True)
    body = resp.get_json()
    # no detail: one generic issue, nothing about why
    assert body == {"resourceType": "OperationOutcome",
                    "issue": [{"severity": "error", "code": "login", "diagnostics": "authentication failed"}]}
    assert resp.headers.get("WWW-Authenticate") == "Bearer"
    reasons = [e.get("reason") for e in logs.events("auth")]
    assert reason in reasons, reasons
    if token:
        for part in token.split("."):
            if len(part) > 8:
                assert part not in logs.text


# ------------------------------------------------------------------ acceptance

@pytest.mark.parametrize("key", [ES, RS], ids=["ES384", "RS384"])
def test_valid_token_is_accepted(client, key) -> None:
    with LogCapture() as logs:
        resp = call(client, mint(key))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert "cards" in resp.get_json()
    request_log = logs.events("request")[-1]
    assert request_log["issuer"] == ISSUER and request_log["status"] == 200


def test_discovery_and_feedback_check_their_own_urls(client) -> None:
    assert client.get("/cds-services").status_code == 401
    ok = client.get("/cds-services", headers=bearer(mint(aud=f"{PUBLIC_BASE}/cds-services")))
    assert ok.status_code == 200
    fb = {"feedback": [{"card": "c1", "outcome": "overridden", "outcomeTimestamp": "2026-11-22T10:00:00Z"}]}
    url = "/cds-services/gmg-patient-view/feedback"
    resp = client.post(url, json=fb, headers=bearer(mint(aud=PUBLIC_BASE + url)))
    assert resp.status_code == 200


def test_cors_preflight_needs_no_token(client) -> None:
    resp = client.options("/cds-services/gmg-patient-view", headers={
        "Origin": "https://sandbox.example.org", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert resp.status_code in (200, 204)
    assert resp.headers.get("Access-Control-Allow-Origin") == "https://sandbox.example.org"


def test_health_is_not_authenticated(client) -> None:
    assert client.get("/healthz").status_code == 200


# ------------------------------------------------------------------ rejections

def test_no_token(client) -> None:
    with LogCapture() as logs:
        assert_refused(call(client, None), logs, "missing-token")


@pytest.mark.parametrize("raw, reason", [
    ("Bearer", "malformed-token"),
    ("Bearer not-a-jwt", "malformed-token"),
    ("Bearer a.b.c", "malformed-token"),
    ("Bearer " + "x" * 20000, "malformed-token"),
    ("Basic dXNlcjpwYXNz", "not-bearer"),
])
def test_malformed_token(client, raw: str, reason: str) -> None:
    with LogCapture() as logs:
        resp = client.post("/cds-services/gmg-patient-view", json=hook_body(prefetch=empty_prefetch()),
                           headers={"Authorization": raw})
        assert_refused(resp, logs, reason)


def test_alg_none(client) -> None:
    token = jwt.encode({**json.loads(json.dumps({"iss": ISSUER, "aud": SERVICE_URL, "iat": int(time.time()),
                        "exp": int(time.time()) + 300, "jti": "n1"}))}, None, algorithm="none",
                       headers={"kid": ES.kid})
    with LogCapture() as logs:
        assert_refused(call(client, token), logs, "alg-not-allowed", token)


def test_hs384_signed_with_the_public_key(client) -> None:
    """The classic key-confusion attack: HMAC with the issuer's public key as secret."""
    public_pem = RS.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())
    header = b64(json.dumps({"alg": "HS384", "typ": "JWT", "kid": RS.kid}).encode())
    payload = b64(json.dumps({"iss": ISSUER, "aud": SERVICE_URL, "iat": now, "exp": now + 300,
                              "jti": "hs-1"}).encode())
    sig = b64(hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha384).digest())
    token = f"{header}.{payload}.{sig}"
    with LogCapture() as logs:
        assert_refused(call(client, token), logs, "alg-not-allowed", token)


def test_algorithm_outside_the_issuer_allowlist(tmp_path: Path) -> None:
    es256 = signing_key("ES256", "k256")
    issuer = TrustedIssuer(iss=ISSUER, jwks_file=write_jwks(tmp_path / "k.json", es256))
    client = create_app(production_settings(tmp_path, issuers=(issuer,))).test_client()
    with LogCapture() as logs:
        assert_refused(call(client, mint(es256)), logs, "alg-not-allowed")


def test_unknown_kid(client) -> None:
    stranger = signing_key("ES384", "someone-else")
    with LogCapture() as logs:
        assert_refused(call(client, mint(stranger)), logs, "unknown-kid")


def test_known_kid_but_wrong_key_fails_signature(client) -> None:
    import dataclasses

    impostor = dataclasses.replace(signing_key("ES384", "impostor"), kid=ES.kid)
    with LogCapture() as logs:
        assert_refused(call(client, mint(impostor)), logs, "bad-signature")


def test_missing_kid(client) -> None:
    token = jwt.encode({"iss": ISSUER, "aud": SERVICE_URL, "iat": int(time.time()),
                        "exp": int(time.time()) + 60, "jti": "x"}, ES.private, algorithm="ES384")
    with LogCapture() as logs:
        assert_refused(call(client, token), logs, "missing-kid")


def test_jku_not_on_the_allowlist(client) -> None:
    token = mint(ES, headers={"jku": "https://attacker.example/jwks.json"})
    with LogCapture() as logs:
        assert_refused(call(client, token), logs, "jku-not-allowed", token)


def test_wrong_issuer(client) -> None:
    with LogCapture() as logs:
        assert_refused(call(client, mint(ES, iss="https://evil.example")), logs, "untrusted-issuer")
    assert "evil.example" not in logs.text  # an untrusted iss is not echoed into logs


@pytest.mark.parametrize("aud", [
    f"{PUBLIC_BASE}/cds-services/gmg-order-sign",  # another service
    f"{PUBLIC_BASE}/cds-services/gmg-order-sign/feedback",  # another service's feedback URL
    f"{PUBLIC_BASE}/cds-services/gmg-patient-view/feedback",  # this service's feedback URL
    f"{PUBLIC_BASE}/cds-services",  # discovery
    "http://cds.example.org/cds-services/gmg-patient-view",  # other scheme
    f"{PUBLIC_BASE}/cds-services/gmg-patient-view/",  # not the exact URL
    "https://other-cds.example.org/cds-services/gmg-patient-view",  # another deployment
])
def test_wrong_audience(client, aud: str) -> None:
    with LogCapture() as logs:
        assert_refused(call(client, mint(ES, aud=aud)), logs, "wrong-audience")


def test_audience_as_a_list_must_contain_the_called_url(client) -> None:
    assert call(client, mint(ES, aud=[SERVICE_URL, "https://x.example"])).status_code == 200
    assert call(client, mint(ES, aud=["https://x.example"])).status_code == 401


def test_expired(client) -> None:
    now = int(time.time())
    with LogCapture() as logs:
        assert_refused(call(client, mint(ES, iat=now - 400, exp=now - 100)), logs, "expired")


def test_expiry_within_leeway_is_tolerated(client) -> None:
    now = int(time.time())
    assert call(client, mint(ES, iat=now - 300, exp=now - 5)).status_code == 200


def test_issued_in_the_future(client) -> None:
    now = int(time.time())
    with LogCapture() as logs:
        assert_refused(call(client, mint(ES, iat=now + 600, exp=now + 900)), logs, "issued-in-future")


def test_token_older_than_max_age(client) -> None:
    now = int(time.time())
    with LogCapture() as logs:
        assert_refused(call(client, mint(ES, iat=now - 3600, exp=now + 3600)), logs, "token-too-old")


def test_not_before_in_the_future(client) -> None:
    now = int(time.time())
    with LogCapture() as logs:
        assert_refused(call(client, mint(ES, nbf=now + 600)), logs, "not-yet-valid")


def test_replayed_jti(client) -> None:
    token = mint(ES)
    assert call(client, token).status_code == 200
    with LogCapture() as logs:
        assert_refused(call(client, token), logs, "replayed-jti", token)
    # the same jti in a fresh, differently signed token is a replay too
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    assert call(client, mint(RS, jti=jti)).status_code == 401


@pytest.mark.parametrize("claim", ["jti", "iat", "exp", "aud", "iss"])
def test_missing_required_claim(client, claim: str) -> None:
    with LogCapture() as logs:
        resp = call(client, mint(ES, **{claim: None}))
    reason = "untrusted-issuer" if claim == "iss" else f"missing-{claim}"
    assert_refused(resp, logs, reason)


def test_tenant_bound_to_configuration(tmp_path: Path) -> None:
    issuer = TrustedIssuer(iss=ISSUER, jwks_file=write_jwks(tmp_path / "k.json", ES), tenants=("t-1",))
    client = create_app(production_settings(tmp_path, issuers=(issuer,))).test_client()
    assert call(client, mint(ES, tenant="t-1")).status_code == 200
    with LogCapture() as logs:
        assert_refused(call(client, mint(ES, tenant="t-2")), logs, "wrong-tenant")
        assert_refused(call(client, mint(ES)), logs, "wrong-tenant")


# ------------------------------------------------------------------ keys fetched over HTTP

@pytest.fixture
def jwks_host():
    server = LoopbackServer().start()
    server.current = jwks(ES)  # type: ignore[attr-defined]
    server.routes["/jwks.json"] = lambda s, h: send_json(h, 200, s.current)
    server.routes["/other-jwks.json"] = lambda s, h: send_json(h, 200, jwks(RS))
    yield server
    server.stop()


def test_key_rotation_refetches_once_per_interval(tmp_path: Path, jwks_host) -> None:
    issuer = TrustedIssuer(iss=ISSUER, jwks_url=jwks_host.base + "/jwks.json")
    settings = production_settings(tmp_path, issuers=(issuer,), jwks_min_refetch_seconds=0.5)
    client = create_app(settings).test_client()
    assert call(client, mint(ES)).status_code == 200
    assert len(jwks_host.hits) == 1
    assert call(client, mint(ES)).status_code == 200
    assert len(jwks_host.hits) == 1  # cached

    time.sleep(0.6)
    rotated = signing_key("ES384", "rotated-2")
    jwks_host.current = jwks(ES, rotated)
    assert call(client, mint(rotated)).status_code == 200  # unknown kid -> one refetch -> found
    assert len(jwks_host.hits) == 2

    forged = [signing_key("ES384", f"forged-{i}") for i in range(5)]
    for key in forged:  # a burst of unknown kids inside the interval: no refetch storm
        assert call(client, mint(key)).status_code == 401
    assert len(jwks_host.hits) <= 3


def test_allowlisted_jku_is_fetched_and_others_are_not(tmp_path: Path, jwks_host) -> None:
    allowed = jwks_host.base + "/other-jwks.json"
    issuer = TrustedIssuer(iss=ISSUER, jwks_file=write_jwks(tmp_path / "k.json", ES), jku_allowlist=(allowed,))
    client = create_app(production_settings(tmp_path, issuers=(issuer,))).test_client()
    assert call(client, mint(RS, headers={"jku": allowed})).status_code == 200
    assert [h[0] for h in jwks_host.hits] == ["/other-jwks.json"]
    assert call(client, mint(RS, headers={"jku": jwks_host.base + "/jwks.json"})).status_code == 401
    assert len(jwks_host.hits) == 1  # the non-allowlisted jku was never fetched


# ------------------------------------------------------------------ the spec's example token

def test_spec_test_vector_verifies_with_its_jwks(tmp_path: Path) -> None:
    vector = json.loads((EXAMPLES / "spec-2.0.1_jwt-test-vector.json").read_text())
    token = vector["compact"]
    assert jwt.get_unverified_header(token) == vector["header"]
    assert jwt.decode(token, options={"verify_signature": False}) == vector["payload"]
    (tmp_path / "vector-jwks.json").write_text(json.dumps(vector["jwks"]))
    issuer = TrustedIssuer(iss=vector["payload"]["iss"], jwks_file=str(tmp_path / "vector-jwks.json"),
                           jku_allowlist=(vector["header"]["jku"],), tenants=(vector["payload"]["tenant"],))
    settings = production_settings(tmp_path, issuers=(issuer,), public_base_url="https://cds.example.org")
    store = open_store(settings.database_url)
    iat = vector["payload"]["iat"]
    # "time checks off": the verifier's clock is set inside the token's validity
    auth = build_authenticator(settings, store, clock=lambda: iat + 5)
    client = create_app(settings, store=store, authenticator=auth).test_client()
    resp = client.post("/cds-services/some-service", json=hook_body(), headers=bearer(token))
    assert resp.status_code == 404  # authenticated; the example service does not exist here
    again = client.post("/cds-services/some-service", json=hook_body(), headers=bearer(token))
    assert again.status_code == 401  # its jti is now spent
    # with the real clock the 2015 token is refused
    verifier = JwtVerifier(settings, ReplayGuard(store.engine))
    with pytest.raises(AuthFailure) as info:
        verifier.verify("Bearer " + token, vector["payload"]["aud"])
    assert info.value.reason == "expired"


def test_spec_shaped_token_with_test_keys_is_accepted(client) -> None:
    """The example's header (alg, typ, kid, jku) and claims (incl. tenant) with our own key."""
    token = mint(ES, tenant="2ddd6c3a-8e9a-44c6-a305-52111ad302a2")
    header = jwt.get_unverified_header(token)
    assert set(header) == {"alg", "typ", "kid"}
    assert call(client, token).status_code == 200


# ------------------------------------------------------------------ configuration

def test_sandbox_trust_is_refused_in_production() -> None:
    with pytest.raises(ConfigError, match="DEMO_TRUST_SANDBOX"):
        Settings.from_env({"GMG_CDS_ENV": "production", "GMG_CDS_DEMO_TRUST_SANDBOX": "1"})
    with pytest.raises(ConfigError, match="sandbox"):
        Settings.from_env({"GMG_CDS_ENV": "production", "GMG_CDS_TRUSTED_ISSUERS": json.dumps(
            [{"iss": "https://sandbox.cds-hooks.org", "jwks_url": "https://sandbox.cds-hooks.org/.well-known/jwks.json"}])})


def test_sandbox_key_is_ignored_outside_demo_even_under_another_name(tmp_path: Path) -> None:
    sandbox_jwks = json.loads((EXAMPLES.parent / "sandbox" / "sandbox-jwks.json").read_text())
    path = tmp_path / "disguised.json"
    path.write_text(json.dumps(sandbox_jwks))
    issuer = TrustedIssuer(iss=ISSUER, jwks_file=str(path))
    settings = production_settings(tmp_path, issuers=(issuer,))
    verifier = JwtVerifier(settings, ReplayGuard(open_store(settings.database_url).engine))
    assert verifier.issuers[ISSUER].static == {}
    demo = replace(settings, env="demo")
    assert "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f" in JwtVerifier(
        demo, ReplayGuard(open_store(settings.database_url).engine)).issuers[ISSUER].static


def test_demo_profile_trusts_the_sandbox_only_when_asked(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'd.sqlite3'}"
    demo = Settings.from_env({"GMG_CDS_ENV": "demo", "GMG_CDS_DEMO_TRUST_SANDBOX": "1",
                              "GMG_CDS_DATABASE_URL": db})
    assert demo.demo_trust_sandbox and demo.auth_required
    with LogCapture() as logs:
        verifier = build_authenticator(demo, open_store(db)).verifier  # type: ignore[attr-defined]
    assert "https://sandbox.cds-hooks.org" in verifier.issuers
    assert any("DEMO MODE" in e["msg"] for e in logs.events("startup"))
    plain_demo = Settings.from_env({"GMG_CDS_ENV": "demo", "GMG_CDS_DATABASE_URL": db})
    assert "https://sandbox.cds-hooks.org" not in JwtVerifier(
        plain_demo, ReplayGuard(open_store(db).engine)).issuers


@pytest.mark.parametrize("algs", ["HS256", "none", "ES384,HS384"])
def test_symmetric_or_none_algorithms_cannot_be_configured(algs: str) -> None:
    with pytest.raises(ConfigError, match="asymmetric"):
        Settings.from_env({"GMG_CDS_JWT_ALGORITHMS": algs, "GMG_CDS_PUBLIC_BASE_URL": PUBLIC_BASE})
    with pytest.raises(ConfigError, match="asymmetric"):
        Settings.from_env({"GMG_CDS_PUBLIC_BASE_URL": PUBLIC_BASE, "GMG_CDS_TRUSTED_ISSUERS": json.dumps(
            [{"iss": ISSUER, "jwks_url": "https://ehr.example.org/jwks", "algorithms": algs.split(",")}])})


def test_trusted_issuers_from_a_file_and_typos_are_refused(tmp_path: Path) -> None:
    write_jwks(tmp_path / "keys.json", ES)
    (tmp_path / "issuers.json").write_text(json.dumps([{
        "iss": ISSUER, "jwks_file": "keys.json", "fhir_servers": ["https://ehr.example.org/fhir/r4/"],
        "tenant": ["a", "b"]}]))
    s = Settings.from_env({"GMG_CDS_TRUSTED_ISSUERS": str(tmp_path / "issuers.json"),
                           "GMG_CDS_PUBLIC_BASE_URL": PUBLIC_BASE})
    (issuer,) = s.trusted_issuers
    assert issuer.fhir_servers == ("https://ehr.example.org/fhir/r4",) and issuer.tenants == ("a", "b")
    assert issuer.jwks_file == str(tmp_path / "keys.json")
    with pytest.raises(ConfigError, match="unknown field"):
        Settings.from_env({"GMG_CDS_TRUSTED_ISSUERS": json.dumps(
            [{"iss": ISSUER, "jwks_url": "https://e.example/j", "fhir_server": ["https://e.example/fhir"]}])})
    with pytest.raises(ConfigError, match="https"):
        Settings.from_env({"GMG_CDS_TRUSTED_ISSUERS": json.dumps(
            [{"iss": ISSUER, "jwks_url": "http://e.example/j"}])})


def test_replay_memory_expires_and_is_cleaned_up(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    store = open_store(f"sqlite:///{tmp_path / 'r.sqlite3'}")
    guard = ReplayGuard(store.engine, clock=lambda: now[0], cleanup_interval_seconds=0)
    assert guard.claim(ISSUER, "a", now[0] + 60)
    assert not guard.claim(ISSUER, "a", now[0] + 60)
    assert guard.claim("https://other-issuer.example", "a", now[0] + 60)  # per issuer
    assert guard.claim(ISSUER, "b", now[0] + 600)
    assert guard.count() == 3
    now[0] += 120  # "a" has expired (its token can no longer pass the time checks)
    assert guard.claim(ISSUER, "c", now[0] + 60)
    assert guard.count() == 2  # both expired "a" rows cleaned up, "b" and "c" remain
    assert not guard.claim(ISSUER, "b", now[0] + 600)
    from sqlalchemy import select

    from cds_service.replay import jwt_replay

    with store.engine.connect() as conn:
        keys = [r[0] for r in conn.execute(select(jwt_replay.c.jti_key))]
    assert all(len(k) == 64 and "b" != k for k in keys)  # hashes only, no jti or token stored
