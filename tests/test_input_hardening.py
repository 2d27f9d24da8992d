"""Input hardening through the real app (production profile, valid token): body size limit
(declared and chunked), JSON nesting limit, content-type check, unknown fields tolerated, wrong
types answered 400 with the field named and the value never echoed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cds_service.app import create_app
from cds_service.json_body import json_too_deep
from tests.security_helpers import (
    PUBLIC_BASE,
    bearer,
    empty_prefetch,
    hook_body,
    mint,
    production_settings,
    signing_key,
)

ES = signing_key("ES384")
URL = "/cds-services/gmg-patient-view"
FEEDBACK = URL + "/feedback"
SECRET = "Zebulon-Quartermain-1953"  # stands for a patient value that must never be echoed


@pytest.fixture
def client(tmp_path: Path):
    return create_app(production_settings(tmp_path, max_body_bytes=64 * 1024, max_json_depth=32)).test_client()


def post(client, data: bytes | str, content_type: str = "application/json", url: str = URL, **kw):
    return client.post(url, data=data, content_type=content_type,
                       headers=bearer(mint(ES, aud=PUBLIC_BASE + url)), **kw)


def valid() -> dict:
    return hook_body(prefetch=empty_prefetch())


def test_valid_request_passes(client) -> None:
    assert post(client, json.dumps(valid())).status_code == 200


def test_oversized_body_is_413(client) -> None:
    body = valid()
    body["extension"] = {"padding": "x" * (70 * 1024)}
    resp = post(client, json.dumps(body))
    assert resp.status_code == 413
    assert resp.get_json()["resourceType"] == "OperationOutcome"


def test_oversized_chunked_body_without_length_is_413(tmp_path: Path) -> None:
    """Over real HTTP (a threaded werkzeug server on 127.0.0.1): no Content-Length to trust."""
    import threading

    import requests
    from werkzeug.serving import make_server

    from tests.server_helpers import free_port

    port = free_port()
    app = create_app(production_settings(tmp_path, max_body_bytes=64 * 1024,
                                         public_base_url=f"http://127.0.0.1:{port}"))
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        def chunks(total: int):  # noqa: ANN202
            yield json.dumps(valid())[:-1].encode() + b', "extension": {"p": "'
            for _ in range(total // 8192):
                yield b"z" * 8192
            yield b'"}}'

        def send(total: int) -> int:
            return requests.post(base + URL, data=chunks(total), timeout=10, headers={
                "Content-Type": "application/json",
                **bearer(mint(ES, aud=base + URL))}).status_code

        assert send(8192) == 200  # chunked is fine when small
        assert send(1024 * 1024) == 413
    finally:
        server.shutdown()


def test_nesting_beyond_the_limit_is_400(client) -> None:
    body = valid()
    deep: dict = {}
    node = deep
    for _ in range(40):
        node["a"] = {}
        node = node["a"]
    body["extension"] = deep
    resp = post(client, json.dumps(body))
    assert resp.status_code == 400
    assert "nesting" in resp.get_json()["issue"][0]["diagnostics"]


def test_extreme_nesting_is_400_not_a_crash(client) -> None:
    assert post(client, "[" * 30000 + "]" * 30000).status_code == 400
    assert post(client, '{"a":' * 10000 + "1" + "}" * 10000).status_code == 400
    # brackets hidden in strings lower the fast estimate; the decoder's guard still answers 400
    assert post(client, ('["]",' * 5000) + "[" * 3000 + "]" * 3000 + "]" * 5000).status_code == 400


def test_brackets_inside_strings_do_not_count_as_nesting(client) -> None:
    body = valid()
    body["extension"] = {"note": "[" * 500 + "{" * 500}
    assert post(client, json.dumps(body)).status_code == 200
    assert not json_too_deep(json.dumps({"s": "[" * 100}).encode(), 8)


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=x", "application/xml"])
def test_wrong_content_type_is_415(client, ctype: str) -> None:
    assert post(client, json.dumps(valid()), content_type=ctype).status_code == 415


@pytest.mark.parametrize("url, payload", [
    (URL, valid),
    (FEEDBACK, lambda: {"feedback": [{"card": "c1b2c3d4-0000-4000-8000-000000000001", "outcome": "accepted",
                                     "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
                                     "outcomeTimestamp": "2026-11-22T10:00:00Z"}]}),
])
def test_a_post_without_content_type_is_415_as_the_readme_says(client, url, payload) -> None:
    """Issue 15, F-12: the README says 415 for a body that is not declared JSON; a POST with no
    Content-Type at all was accepted. Real clients declare it (the sandbox: application/json)."""
    resp = client.post(url, data=json.dumps(payload()).encode(), headers=bearer(mint(ES, aud=PUBLIC_BASE + url)))
    assert "Content-Type" not in resp.request.headers
    assert resp.status_code == 415
    issue = resp.get_json()["issue"][0]
    assert issue["code"] == "not-supported" and "application/json" in issue["diagnostics"]
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert "415 not JSON" in readme


@pytest.mark.parametrize("ctype", ["application/json; charset=utf-8", "application/fhir+json", "APPLICATION/JSON"])
def test_json_content_types_are_accepted(client, ctype: str) -> None:
    assert post(client, json.dumps(valid()), content_type=ctype).status_code == 200


@pytest.mark.parametrize("data", [b"", b"{", b"\xff\xfe{}", b"null", b"[]", b'"text"', b"1" * 5000,
                                  b'{"hook": NaN}', b"\x00"])
def test_not_a_json_object_is_400(client, data: bytes) -> None:
    resp = post(client, data)
    assert resp.status_code == 400, (data[:20], resp.status_code)
    assert resp.get_json()["resourceType"] == "OperationOutcome"


def test_unknown_fields_are_tolerated(client) -> None:
    body = valid()
    body["somethingNew"] = {"nested": [1, 2]}
    body["extension"] = {"com.epic.cdshooks.request.fhir-version": "R4"}
    body["context"]["unknownContextField"] = "x"
    body["fhirAuthorization"] = None
    body.pop("fhirAuthorization")
    assert post(client, json.dumps(body)).status_code == 200


def _set(body: dict, path: str, value) -> dict:  # noqa: ANN001
    node = body
    parts = path.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return body


@pytest.mark.parametrize("path, value", [
    ("hook", 7),
    ("hookInstance", SECRET),
    ("context", SECRET),
    ("context.patientId", 12345),
    ("context.patientId", SECRET + "/../x"),
    ("context.userId", ["Practitioner/1"]),
    ("prefetch", SECRET),
    ("prefetch.patient", [SECRET]),
    ("fhirServer", 42),
    ("fhirServer", "file:///etc/passwd"),
    ("extension", SECRET),
])
def test_wrong_types_name_the_field_and_do_not_echo_values(client, path: str, value) -> None:  # noqa: ANN001
    resp = post(client, json.dumps(_set(valid(), path, value)))
    assert resp.status_code == 400, resp.get_data(as_text=True)
    issue = resp.get_json()["issue"][0]
    assert issue["expression"] == [path]
    assert SECRET not in resp.get_data(as_text=True)


def test_fhir_authorization_fields_are_typed(client) -> None:
    body = valid()
    body["fhirServer"] = "https://ehr.example.org/fhir"
    body["fhirAuthorization"] = {"access_token": "t", "token_type": "Bearer", "expires_in": "300",
                                 "scope": "patient/*.read", "subject": "s"}
    resp = post(client, json.dumps(body))
    assert resp.status_code == 400
    assert resp.get_json()["issue"][0]["expression"] == ["fhirAuthorization.expires_in"]
    del body["fhirServer"]
    body["fhirAuthorization"]["expires_in"] = 300
    resp = post(client, json.dumps(body))
    assert resp.status_code == 400
    assert resp.get_json()["issue"][0]["expression"] == ["fhirServer"]


def test_feedback_wrong_types(client) -> None:
    resp = post(client, json.dumps({"feedback": SECRET}), url=FEEDBACK)
    assert resp.status_code == 400
    assert resp.get_json()["issue"][0]["expression"] == ["feedback"]
    assert SECRET not in resp.get_data(as_text=True)


def test_hook_mismatch_is_400(client) -> None:
    resp = post(client, json.dumps(hook_body("order-sign")))
    assert resp.status_code == 400
    assert resp.get_json()["issue"][0]["expression"] == ["hook"]


def test_wrong_methods_and_unknown_routes(client) -> None:
    assert client.get(URL, headers=bearer(mint(ES))).status_code == 405
    resp = client.post("/cds-services/no-such-service", json=valid(),
                       headers=bearer(mint(ES, aud=PUBLIC_BASE + "/cds-services/no-such-service")))
    assert resp.status_code == 404


def test_huge_prefetch_values_of_the_wrong_shape_do_not_crash(client) -> None:
    body = valid()
    body["prefetch"]["observations"] = {"resourceType": "Bundle", "entry": "not-a-list", "link": 5}
    body["prefetch"]["conditions"] = {"resourceType": "Bundle", "entry": [None, 1, "x", {"resource": []}]}
    body["prefetch"]["patient"] = {"resourceType": "Patient", "birthDate": {"not": "a date"}, "name": 7}
    resp = post(client, json.dumps(body))
    assert resp.status_code in (200, 400, 412), resp.get_data(as_text=True)
