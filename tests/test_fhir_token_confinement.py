"""Token confinement (issue 15, F-3): the EHR's bearer token goes only to URLs under the allowed
FHIR base, judged after normalisation (dot segments, percent-encoded dots, encoded slashes).

A real FHIR-like server on 127.0.0.1 records every request and the Authorization it carried; it
reads paths leniently, as many servers do (percent-decoding, `\\` as `/`, `;` parameters
dropped, dot segments resolved), so a URL that a strict check lets through but a server reads
as outside /fhir counts as a leak."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from cds_service.app import create_app
from cds_service.fhir_client import FhirServer, normalise_url
from cds_service.settings import TrustedIssuer
from tests.security_helpers import (
    ISSUER,
    LoopbackServer,
    bearer,
    hook_body,
    mint,
    production_settings,
    searchset,
    send_json,
    signing_key,
    write_jwks,
)

ES = signing_key("ES384")
TOKEN = "ehr-token-confined-51c2"
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1970-01-01"}


def lenient_path(raw: str) -> str:
    """How a lenient server reads a request path: decoded (twice), `\\` as `/`, `;params`
    dropped, dot segments resolved."""
    path = unquote(unquote(raw.split("?", 1)[0])).replace("\\", "/")
    out: list[str] = []
    for seg in path.split("/"):
        seg = seg.split(";", 1)[0]
        if seg == "..":
            if out:
                out.pop()
        elif seg not in (".", ""):
            out.append(seg)
    return "/" + "/".join(out)


@pytest.fixture
def ehr():
    server = LoopbackServer().start()
    server.routes["/fhir/Patient/p1"] = lambda s, h: send_json(h, 200, PATIENT)
    server.default = lambda s, h: send_json(h, 200, searchset())
    yield server
    server.stop()


def client_for(tmp_path: Path, ehr: LoopbackServer):
    issuer = TrustedIssuer(iss=ISSUER, jwks_file=write_jwks(tmp_path / "k.json", ES),
                           fhir_servers=(ehr.base + "/fhir",))
    return create_app(production_settings(tmp_path, issuers=(issuer,))).test_client()


def call(client, fhir_server: str, prefetch: dict[str, Any] | None = None):
    body = hook_body(fhirServer=fhir_server, fhirAuthorization={
        "access_token": TOKEN, "token_type": "Bearer", "expires_in": 300, "scope": "patient/*.read",
        "subject": "gmg-cds"})
    if prefetch is not None:
        body["prefetch"] = prefetch
    return client.post("/cds-services/gmg-patient-view", json=body, headers=bearer(mint(ES)))


def leaks(ehr: LoopbackServer) -> list[str]:
    """Requests carrying the token whose path, read leniently, lies outside /fhir."""
    return [p for p, auth in ehr.hits if auth == f"Bearer {TOKEN}"
            and not (lenient_path(p) + "/").startswith("/fhir/")]


@pytest.mark.parametrize("suffix", [
    "/fhir/../admin",
    "/fhir/./../admin",
    "/fhir/%2e%2e/admin",
    "/fhir/%2E%2E/admin",
    "/fhir/.%2e/admin",
    "/fhir/%2e%2e%2fadmin",
    "/fhir/..%2Fadmin",
    "/fhir/..;/admin",
    "/fhir/..%5cadmin",
    "/fhir/%252e%252e/admin",
])
def test_a_fhir_server_that_leaves_the_allowed_base_gets_nothing(tmp_path, ehr, suffix) -> None:
    resp = call(client_for(tmp_path, ehr), ehr.base + suffix)
    assert resp.status_code == 412  # required data could not be had: not allowed, never fetched
    assert ehr.hits == []


@pytest.mark.parametrize("next_link", [
    "{base}/fhir/../admin/secrets?page=2",
    "{base}/fhir/Observation/../../admin",
    "{base}/fhir/%2e%2e/admin",
    "{base}/fhir/.%2E/admin",
    "{base}/fhir/%2e%2e%2Fadmin",
    "{base}/fhir/..;/admin",
    "{base}/fhir/..\\admin",
    "{base}/fhir/%252e%252e/admin",
    "../admin?page=2",
    "/admin?page=2",
    "{base}/fhir-other/Observation?page=2",
])
def test_a_next_link_that_leaves_the_base_is_not_followed(tmp_path, ehr, next_link) -> None:
    page = searchset()
    page["link"] = [{"relation": "next", "url": next_link.format(base=ehr.base)}]
    resp = call(client_for(tmp_path, ehr), ehr.base + "/fhir",
                prefetch={"patient": PATIENT, "conditions": searchset(), "observations": page})
    assert resp.status_code == 200
    assert leaks(ehr) == []
    assert any(p.startswith("/fhir/") for p, _ in ehr.hits)  # the other keys were fetched as usual


def test_a_next_link_with_dot_segments_inside_the_base_is_followed_normalised(tmp_path, ehr) -> None:
    page = searchset()
    page["link"] = [{"relation": "next", "url": f"{ehr.base}/fhir/x/%2e%2e/Observation?page=2"}]
    resp = call(client_for(tmp_path, ehr), ehr.base + "/fhir",
                prefetch={"patient": PATIENT, "conditions": searchset(), "observations": page})
    assert resp.status_code == 200
    assert ("/fhir/Observation?page=2", f"Bearer {TOKEN}") in ehr.hits
    assert leaks(ehr) == []


def test_a_base_with_dot_segments_that_stays_inside_is_used_normalised(tmp_path, ehr) -> None:
    resp = call(client_for(tmp_path, ehr), ehr.base + "/fhir/r4/../")
    assert resp.status_code == 200
    assert ehr.hits and all(p.startswith("/fhir/") and "/../" not in p for p, _ in ehr.hits)
    assert leaks(ehr) == []


@pytest.mark.parametrize("url, expected", [
    ("https://EHR.example.org/fhir/a/./b/../Patient/1?x=1#frag", "https://ehr.example.org/fhir/a/Patient/1?x=1"),
    ("https://ehr/fhir/%2e%2e/admin", "https://ehr/admin"),
    ("https://ehr/fhir/../../../../etc", "https://ehr/etc"),
    ("https://ehr/fhir/%2F..", None),
    ("https://ehr/fhir/a%5c..", None),
    ("https://ehr/fhir/..;/x", None),
    ("https://ehr/fhir/%25%32%65", None),
    ("https://user:pw@ehr/fhir", None),
    ("file:///etc/passwd", None),
    ("https://ehr:99999/fhir", None),
])
def test_normalise_url(url, expected) -> None:
    assert normalise_url(url) == expected


def test_confine_compares_whole_segments_after_normalising() -> None:
    server = FhirServer("https://ehr/fhir", None)
    assert server.confine("https://ehr/fhir/Observation?patient=p1") == "https://ehr/fhir/Observation?patient=p1"
    assert server.confine("https://ehr/fhir") == "https://ehr/fhir"
    assert server.confine("https://ehr/fhir-evil/Observation") is None
    assert server.confine("https://ehr/fhir/a/../../x") is None
    assert server.confine("https://ehr.evil/fhir/Observation") is None
    assert server.confine("http://ehr/fhir/Observation") is None  # scheme is part of the base
