"""The JWT audience (issue 15, F-4): outside local mode the service does not start without
GMG_CDS_PUBLIC_BASE_URL, and the expected `aud` is never built from the request's Host or
X-Forwarded-* headers, so a valid token minted for another deployment is refused here, in
process and on the real gunicorn server (which would otherwise honour X-Forwarded-Proto from
loopback). Demo mode (`scripts/serve --demo`, the CDS Hooks sandbox on the tester's machine)
starts without the variable and accepts only this service's loopback URLs."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from cds_service.app import create_app
from cds_service.settings import ConfigError, Settings
from tests.security_helpers import (
    ISSUER,
    PUBLIC_BASE,
    bearer,
    hook_body,
    mint,
    production_settings,
    signing_key,
    write_jwks,
)
from tests.server_helpers import free_port, running

ES = signing_key("ES384")
PATH = "/cds-services/gmg-patient-view"
OTHER = "https://other-deployment.example.net"
FORGED_HEADERS = {"Host": "other-deployment.example.net", "X-Forwarded-Host": "other-deployment.example.net",
                  "X-Forwarded-Proto": "https", "X-Forwarded-Port": "443",
                  "Forwarded": "host=other-deployment.example.net;proto=https"}


def test_production_does_not_start_without_a_public_base_url(tmp_path: Path) -> None:
    env = {"GMG_CDS_ENV": "production", "GMG_CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'a.sqlite3'}"}
    with pytest.raises(ConfigError, match="GMG_CDS_PUBLIC_BASE_URL must be set"):
        create_app(Settings.from_env(env))
    with pytest.raises(ConfigError, match="GMG_CDS_PUBLIC_BASE_URL must be set"):
        create_app(production_settings(tmp_path, public_base_url=None))
    assert Settings.from_env({**env, "GMG_CDS_PUBLIC_BASE_URL": PUBLIC_BASE + "/"}).public_base_url == PUBLIC_BASE


@pytest.mark.slow
def test_the_production_web_process_refuses_to_start_without_it(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("GMG_CDS_")}
    env.update({"GMG_CDS_ENV": "production", "GMG_CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'w.sqlite3'}"})
    done = subprocess.run([sys.executable, "-m", "cds_service.web", "--bind", f"127.0.0.1:{free_port()}"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "GMG_CDS_PUBLIC_BASE_URL must be set" in done.stderr
    done = subprocess.run([sys.executable, "-m", "gunicorn", "--config", "cds_service/gunicorn_conf.py",
                           "--bind", f"127.0.0.1:{free_port()}", "cds_service.wsgi:app"],
                          cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "GMG_CDS_PUBLIC_BASE_URL must be set" in done.stderr


@pytest.mark.parametrize("value, why", [
    ("http://cds.example.org", "https"),
    ("https://user:pw@cds.example.org", "credentials"),
    ("cds.example.org", "absolute"),
    ("https://cds.example.org/?x=1", "query"),
])
def test_a_public_base_url_that_cannot_be_an_audience_is_refused(value: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        Settings.from_env({"GMG_CDS_ENV": "production", "GMG_CDS_PUBLIC_BASE_URL": value})


def test_a_token_for_another_deployment_is_refused_whatever_host_the_request_names(tmp_path: Path) -> None:
    client = create_app(production_settings(tmp_path)).test_client()
    body = hook_body(prefetch={"patient": {"resourceType": "Patient", "id": "p1"},
                               "conditions": None, "observations": None})
    forged = client.post(PATH, json=body, headers={**bearer(mint(ES, aud=OTHER + PATH)), **FORGED_HEADERS},
                         base_url=OTHER)
    assert forged.status_code == 401
    own = client.post(PATH, json=body, headers={**bearer(mint(ES, aud=PUBLIC_BASE + PATH)), **FORGED_HEADERS},
                      base_url=OTHER)
    assert own.status_code == 200  # the token for this deployment's public URL, whatever Host says


def test_demo_mode_starts_without_a_public_base_and_accepts_only_its_loopback_urls(tmp_path: Path) -> None:
    demo = Settings.from_env({"GMG_CDS_ENV": "demo", "PORT": "8080",
                              "GMG_CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'd.sqlite3'}"})
    assert demo.audience_bases == ("http://localhost:8080", "http://127.0.0.1:8080")
    issuer = production_settings(tmp_path).trusted_issuers
    client = create_app(replace(demo, trusted_issuers=issuer, evaluation_date=None)).test_client()
    body = hook_body(prefetch={"patient": {"resourceType": "Patient", "id": "p1"},
                               "conditions": None, "observations": None})
    for aud in ("http://localhost:8080" + PATH, "http://127.0.0.1:8080" + PATH):
        assert client.post(PATH, json=body, headers=bearer(mint(ES, aud=aud))).status_code == 200
    forged = client.post(PATH, json=body, headers={**bearer(mint(ES, aud="http://evil.example:8080" + PATH)),
                                                   "Host": "evil.example:8080"}, base_url="http://evil.example:8080")
    assert forged.status_code == 401
    configured = Settings.from_env({"GMG_CDS_ENV": "demo", "GMG_CDS_PUBLIC_BASE_URL": "http://demo.example.org"})
    assert configured.audience_bases == ("http://demo.example.org",)


@pytest.mark.slow
def test_on_gunicorn_forwarded_headers_from_loopback_do_not_make_a_foreign_token_valid(tmp_path: Path) -> None:
    port = free_port()
    env = {"GMG_CDS_ENV": "production", "GMG_CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'g.sqlite3'}",
           "GMG_CDS_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "GMG_CDS_WORKERS": "1",
           "GMG_CDS_TRUSTED_ISSUERS": json.dumps([{"iss": ISSUER, "jwks_file": write_jwks(tmp_path / "k.json", ES)}])}
    body = json.dumps(hook_body(prefetch={"patient": {"resourceType": "Patient", "id": "p1"},
                                          "conditions": None, "observations": None}))
    with running("gunicorn", tmp_path, env, port=port) as server:
        url = server.base + PATH
        for aud, headers in ((OTHER + PATH, FORGED_HEADERS),
                             (f"https://127.0.0.1:{port}{PATH}", {"X-Forwarded-Proto": "https"})):
            r = requests.post(url, data=body, timeout=10, headers={
                "Content-Type": "application/json", **bearer(mint(ES, aud=aud)), **headers})
            assert r.status_code == 401, aud
        r = requests.post(url, data=body, timeout=10, headers={"Content-Type": "application/json",
                                                               **bearer(mint(ES, aud=url))})
        assert r.status_code == 200
