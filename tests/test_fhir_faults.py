"""Calls back to the EHR against a real, misbehaving FHIR server on 127.0.0.1: slow, 500, 429,
503, 401, invalid JSON, an endless `next` chain, a huge Bundle, a server that drips bytes, a
redirect. Every request is answered within the budget with 412 (a required key could not be had)
or 200 with the failed keys passed on as unavailable (the cards state the gap), never 500. The
token goes only to the issuer's configured FHIR servers."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest

from cds_service.app import create_app
from cds_service.settings import TrustedIssuer
from hooks import registry
from hooks.registry import REQUIRED_KEYS
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
EHR_TOKEN = "ehr-access-token-7f3a9c"
BUDGET = 1.5
MARGIN = 0.6  # answer time allowed beyond the budget (thread hand-off, the handler, Flask)
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1970-01-01"}


@pytest.fixture
def ehr():
    server = LoopbackServer().start()
    server.routes["/fhir/Patient/p1"] = lambda s, h: send_json(h, 200, PATIENT)
    server.default = lambda s, h: send_json(h, 200, searchset())
    yield server
    server.stop()


@pytest.fixture
def elsewhere():
    server = LoopbackServer().start()
    server.default = lambda s, h: send_json(h, 200, searchset())
    yield server
    server.stop()


@pytest.fixture
def seen(monkeypatch) -> list[Any]:
    """Wrap every service's handler to record the HookCall it receives (the real handler runs)."""
    calls: list[Any] = []
    real = registry.services

    def recording() -> dict[str, Any]:
        out = {}
        for sid, svc in real().items():
            def handler(call, _inner=svc.handler):  # noqa: ANN001, ANN202
                calls.append(call)
                return _inner(call)
            out[sid] = dataclasses.replace(svc, handler=handler)
        return out

    monkeypatch.setattr(registry, "services", recording)
    return calls


def make_client(tmp_path: Path, ehr: LoopbackServer, **overrides: Any):
    issuer = TrustedIssuer(iss=ISSUER, jwks_file=write_jwks(tmp_path / "k.json", ES),
                           fhir_servers=(ehr.base + "/fhir",))
    overrides.setdefault("fhir_timeout_seconds", 1.0)
    settings = production_settings(tmp_path, issuers=(issuer,), prefetch_budget_seconds=BUDGET, **overrides)
    return create_app(settings).test_client()


def invoke(client, fhir_server: str, prefetch: dict[str, Any] | None = None):
    body = hook_body(fhirServer=fhir_server, fhirAuthorization={
        "access_token": EHR_TOKEN, "token_type": "Bearer", "expires_in": 300,
        "scope": "patient/*.read", "subject": "gmg-cds", "patient": "p1"})
    if prefetch is not None:
        body["prefetch"] = prefetch
    started = time.monotonic()
    resp = client.post("/cds-services/gmg-patient-view", json=body, headers=bearer(mint(ES)))
    return resp, time.monotonic() - started


def assert_bounded(resp, elapsed: float) -> None:
    assert resp.status_code in (200, 412), resp.get_data(as_text=True)
    assert elapsed < BUDGET + MARGIN, elapsed
    assert resp.is_json


def sleeper(seconds: float):
    def route(s, h):  # noqa: ANN001, ANN202
        time.sleep(seconds)
        send_json(h, 200, searchset())
    return route


def status(code: int, headers: dict[str, str] | None = None, body: Any = None):
    return lambda s, h: send_json(h, code, body if body is not None else
                                  {"resourceType": "OperationOutcome", "issue": []}, headers)


def test_healthy_server_gives_200_and_the_token_reaches_it(tmp_path, ehr, seen) -> None:
    resp, elapsed = invoke(make_client(tmp_path, ehr), ehr.base + "/fhir")
    assert_bounded(resp, elapsed)
    assert resp.status_code == 200
    assert len(ehr.hits) == 10 and all(a == f"Bearer {EHR_TOKEN}" for _, a in ehr.hits)
    assert seen[-1].unavailable == frozenset()


def test_slow_server_answers_412_within_the_budget(tmp_path, ehr, seen) -> None:
    ehr.default = sleeper(5)
    ehr.routes["/fhir/Patient/p1"] = sleeper(5)
    resp, elapsed = invoke(make_client(tmp_path, ehr), ehr.base + "/fhir")
    assert_bounded(resp, elapsed)
    assert resp.status_code == 412
    named = {i["expression"][0] for i in resp.get_json()["issue"]}
    assert named == {f"prefetch.{k}" for k in REQUIRED_KEYS}


def test_slow_optional_keys_give_200_with_the_gap_named(tmp_path, ehr, seen) -> None:
    ehr.routes["/fhir/Condition"] = lambda s, h: send_json(h, 200, searchset())
    ehr.routes["/fhir/Observation"] = lambda s, h: send_json(h, 200, searchset())
    ehr.default = sleeper(5)
    resp, elapsed = invoke(make_client(tmp_path, ehr), ehr.base + "/fhir")
    assert_bounded(resp, elapsed)
    assert resp.status_code == 200
    assert {"medicationStatements", "procedures", "immunizations"} <= seen[-1].unavailable


@pytest.mark.parametrize("code", [500, 401, 403, 404])
def test_error_statuses_give_412_without_retry(tmp_path, ehr, seen, code: int) -> None:
    ehr.default = status(code)
    ehr.routes["/fhir/Patient/p1"] = status(code)
    resp, elapsed = invoke(make_client(tmp_path, ehr), ehr.base + "/fhir")
    assert_bounded(resp, elapsed)
    assert resp.status_code == 412
    assert len(ehr.hits) == 10  # one call per key: no retry on non-transient errors
    assert f"http-{code}" in resp.get_data(as_text=True)


@pytest.mark.parametrize("code", [429, 503])
def test_transient_status_is_retried_after_retry_after(tmp_path, ehr, seen, code: int) -> None:
    answers = iter([status(code, {"Retry-After": "0"}), lambda s, h: send_json(h, 200, searchset())])
    ehr.routes["/fhir/Observation"] = lambda s, h: next(answers)(s, h)
    resp, elapsed = invoke(make_client(tmp_path, ehr), ehr.base + "/fhir")
    assert_bounded(resp, elapsed)
    assert resp.status_code == 200
    assert [p for p, _ in ehr.hits if p.startswith("/fhir/Observation")].__len__() == 2
    assert "observations" not in seen[-1].unavailable


def test_retry_after_beyond_the_budget_fails_fast(tmp_path, ehr, seen) -> None:
    ehr.routes["/fhir/Observation"] = status(429, {"Retry-After": "30"})
    resp, elapsed = invoke(make_client(tmp_path, ehr), ehr.base + "/fhir")
    assert resp.status_code == 412 and elapsed < 1.0  # no pointless wait
    assert len([p for p, _ in ehr.hits if p.startswith("/fhir/Observation")]) == 1


def test_retries_are_bounded(tmp_path, ehr, seen) -> None:
    ehr.routes["/fhir/Observation"] = status(503, {"Retry-After": "0"})
    resp, elapsed = invoke(make_client(tmp_path, ehr, fhir_max_retries=2), ehr.base + "/fhir")
    assert_bounded(resp, elapsed)
    assert resp.status_code == 412
    assert len([p for p, _ in ehr.hits if p.startswith("/fhir/Observation")]) == 3


@pytest.mark.parametrize("payload", [b"{not json", b"[1, 2, 3]", b'{"no": "resourceType"}',
                                     b"[" * 100000, b"\xff\xfe\x00garbage", b""])
def test_invalid_json_gives_412(tmp_path, ehr, seen, payload: bytes) -> None:
    ehr.routes["/fhir/Condition"] = lambda s, h: send_json(h, 200, payload)
    resp, elapsed = invoke(make_client(tmp_path, ehr), ehr.base + "/fhir")
    assert_bounded(resp, elapsed)
    assert resp.status_code == 412
    assert "prefetch.conditions" in resp.get_data(as_text=True)


def test_endless_next_chain_is_capped(tmp_path, ehr, seen) -> None:
    def page(s, h):  # noqa: ANN001, ANN202
        n = int(h.path.rsplit("page=", 1)[1]) if "page=" in h.path else 0
        send_json(h, 200, searchset([{"resourceType": "Observation", "id": f"o{n}", "status": "final",
                                      "code": {"text": "x"}}], next_url=f"{s.base}/fhir/Observation?page={n + 1}"))
    ehr.routes["/fhir/Observation"] = page
    resp, elapsed = invoke(make_client(tmp_path, ehr, fhir_max_pages=5), ehr.base + "/fhir")
    assert_bounded(resp, elapsed)
    assert resp.status_code == 200
    assert len([p for p, _ in ehr.hits if p.startswith("/fhir/Observation")]) == 5
    call = seen[-1]
    assert "observations" in call.unavailable  # partial data is flagged
    assert len(call.prefetch["observations"]["entry"]) == 5


def test_next_chain_that_never_ends_in_time(tmp_path, ehr, seen) -> None:
    def page(s, h):  # noqa: ANN001, ANN202
        time.sleep(0.2)
        send_json(h, 200, searchset([], next_url=f"{s.base}/fhir/Observation?p={time.time()}"))
    ehr.routes["/fhir/Observation"] = page
    resp, elapsed = invoke(make_client(tmp_path, ehr, fhir_max_pages=1000), ehr.base + "/fhir")
    assert_bounded(resp, elapsed)


def test_huge_bundle_is_refused_by_size(tmp_path, ehr, seen) -> None:
    big = searchset([{"resourceType": "Observation", "id": f"o{i}", "status": "final",
                      "code": {"text": "y" * 200}} for i in range(20000)])  # ~5 MB
    ehr.routes["/fhir/Observation"] = lambda s, h: send_json(h, 200, big)
    resp, elapsed = invoke(make_client(tmp_path, ehr, fhir_max_response_bytes=1024 * 1024), ehr.base + "/fhir")
    assert_bounded(resp, elapsed)
    assert resp.status_code == 412
    assert "response-too-large" in resp.get_data(as_text=True)


def test_huge_bundle_without_content_length_is_cut_off(tmp_path, ehr, seen) -> None:
    def chunked(s, h):  # noqa: ANN001, ANN202
        h.send_response(200)
        h.send_header("Content-Type", "application/fhir+json")
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(b'{"resourceType":"Bundle","type":"searchset","entry":[')
        for _ in range(400):
            h.wfile.write(b'{"resource":{"resourceType":"Observation","status":"final"}},' * 200)
        h.wfile.write(b"{}]}")
    ehr.routes["/fhir/Observation"] = chunked
    resp, elapsed = invoke(make_client(tmp_path, ehr, fhir_max_response_bytes=1024 * 1024), ehr.base + "/fhir")
    assert_bounded(resp, elapsed)
    assert resp.status_code == 412


def test_server_that_drips_bytes_cannot_hold_the_call(tmp_path, ehr, seen) -> None:
    def drip(s, h):  # noqa: ANN001, ANN202
        h.send_response(200)
        h.send_header("Content-Type", "application/fhir+json")
        h.send_header("Content-Length", "100000")
        h.end_headers()
        for _ in range(100):
            h.wfile.write(b" ")
            h.wfile.flush()
            time.sleep(0.2)
    ehr.routes["/fhir/Condition"] = drip
    resp, elapsed = invoke(make_client(tmp_path, ehr), ehr.base + "/fhir")
    assert_bounded(resp, elapsed)
    assert resp.status_code == 412


# ------------------------------------------------------------------ SSRF: where the token may go

def test_fhir_server_not_configured_for_the_issuer_is_never_called(tmp_path, ehr, elsewhere, seen) -> None:
    resp, elapsed = invoke(make_client(tmp_path, ehr), elsewhere.base + "/fhir")
    assert resp.status_code == 412
    assert elsewhere.hits == [] and ehr.hits == []


@pytest.mark.parametrize("suffix", ["/fhir-evil", "/fhi", "/"])
def test_path_prefix_tricks_are_refused(tmp_path, ehr, seen, suffix: str) -> None:
    resp, _ = invoke(make_client(tmp_path, ehr), ehr.base + suffix)
    assert resp.status_code == 412
    assert ehr.hits == []


def test_userinfo_trick_is_refused(tmp_path, ehr, elsewhere, seen) -> None:
    host = ehr.base.split("//", 1)[1]
    resp, _ = invoke(make_client(tmp_path, ehr), f"http://{host}@{elsewhere.base.split('//', 1)[1]}/fhir")
    assert resp.status_code in (400, 412)
    assert elsewhere.hits == [] and ehr.hits == []


def test_next_link_to_another_host_is_not_followed(tmp_path, ehr, elsewhere, seen) -> None:
    ehr.routes["/fhir/Observation"] = lambda s, h: send_json(
        h, 200, searchset([], next_url=elsewhere.base + "/fhir/Observation?page=2"))
    resp, elapsed = invoke(make_client(tmp_path, ehr), ehr.base + "/fhir")
    assert_bounded(resp, elapsed)
    assert elsewhere.hits == []  # the token never left for the other host
    assert resp.status_code == 412
    assert "url-outside-fhir-server" in resp.get_data(as_text=True)


def test_prefetched_bundle_with_foreign_next_link_is_not_followed(tmp_path, ehr, elsewhere, seen) -> None:
    prefetch = {"patient": PATIENT, "conditions": searchset(),
                "observations": searchset([], next_url=elsewhere.base + "/steal")}
    resp, elapsed = invoke(make_client(tmp_path, ehr), ehr.base + "/fhir", prefetch)
    assert_bounded(resp, elapsed)
    assert elsewhere.hits == []


def test_redirects_are_not_followed(tmp_path, ehr, elsewhere, seen) -> None:
    ehr.routes["/fhir/Condition"] = lambda s, h: send_json(
        h, 302, {}, {"Location": elsewhere.base + "/fhir/Condition"})
    resp, elapsed = invoke(make_client(tmp_path, ehr), ehr.base + "/fhir")
    assert resp.status_code == 412
    assert elsewhere.hits == []


def test_site_wide_ceiling_also_applies(tmp_path, ehr, seen) -> None:
    client = make_client(tmp_path, ehr, fhir_allowed_bases=("https://only-this.example.org/fhir",))
    resp, _ = invoke(client, ehr.base + "/fhir")
    assert resp.status_code == 412 and ehr.hits == []


def test_retry_after_forms() -> None:
    from email.utils import formatdate

    import requests

    from cds_service.fhir_client import retry_delay

    def resp(value: str | None) -> requests.Response:
        r = requests.Response()
        if value is not None:
            r.headers["Retry-After"] = value
        return r

    assert retry_delay(resp("3")) == 3.0
    assert retry_delay(resp(None)) == 0.2 and retry_delay(resp("soon")) == 0.2
    assert 8.0 <= retry_delay(resp(formatdate(time.time() + 10, usegmt=True))) <= 10.5
    assert retry_delay(resp(formatdate(time.time() - 100, usegmt=True))) == 0.0


def test_silent_server_after_headers(tmp_path, ehr, seen) -> None:
    def silent(s, h):  # noqa: ANN001, ANN202
        h.send_response(200)
        h.send_header("Content-Type", "application/fhir+json")
        h.send_header("Content-Length", "1000")
        h.end_headers()
        h.wfile.flush()
        time.sleep(5)
    ehr.routes["/fhir/Condition"] = silent
    resp, elapsed = invoke(make_client(tmp_path, ehr, fhir_timeout_seconds=3.0), ehr.base + "/fhir")
    assert_bounded(resp, elapsed)  # the per-call timeout (3 s) is cut to the budget (1.5 s)
    assert resp.status_code == 412


def test_connections_to_the_fhir_server_are_kept_alive_between_calls(tmp_path, ehr, seen) -> None:
    """Each answer read to the end gives its connection back: three calls' searches travel on
    (at most) as many connections as one call opens in parallel, not one per search (27)."""
    ports: list[int] = []

    def record(s, h):  # noqa: ANN001, ANN202
        ports.append(h.client_address[1])
        send_json(h, 200, searchset())

    ehr.default = record
    client = make_client(tmp_path, ehr)
    for _ in range(3):
        resp, elapsed = invoke(client, ehr.base + "/fhir")
        assert resp.status_code == 200
    per_call = len(ports) // 3
    assert per_call >= 8 and len(ports) == 3 * per_call
    # the Patient read (not recorded here) is the call's tenth parallel request
    assert len(set(ports)) <= per_call + 1 < len(ports)


def test_a_connection_left_half_read_is_not_used_again(tmp_path, ehr, seen) -> None:
    """An answer refused for its declared size is not read: its connection is closed, so the
    next call's search on the same server gets its own answer, not the rest of that body."""
    big = searchset([{"resourceType": "Observation", "id": f"o{i}", "status": "final",
                      "code": {"text": "x" * 50}} for i in range(40)])
    answers = iter([big])

    def observations(s, h):  # noqa: ANN001, ANN202
        send_json(h, 200, next(answers, searchset()))

    ehr.routes["/fhir/Observation"] = observations
    client = make_client(tmp_path, ehr, fhir_max_response_bytes=2048)
    statuses = []
    for _ in range(2):
        resp, elapsed = invoke(client, ehr.base + "/fhir")
        assert_bounded(resp, elapsed)
        statuses.append(resp.status_code)
    assert statuses == [412, 200]  # observations is a required key: refused, then had
    (second,) = seen
    assert "observations" not in second.unavailable
    assert second.prefetch["observations"] == searchset()
