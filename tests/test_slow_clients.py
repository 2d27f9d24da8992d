"""Slow and greedy clients (issue 15, F-1, F-7) against the real production web process
(`gmg-cds-web`: Debian's nginx in front of gunicorn, production profile, JWT per call).

- 16, then 50, connections that send their headers one line a second never finish: ordinary
  calls are answered meanwhile within the hook's budget, and nginx closes the slow ones after
  its header timeout (before the change, gunicorn alone: with 50 such connections no call was
  answered within 30 s; `scripts/attack-slow-clients --server gunicorn`).
- eight clients post 15 MB bodies of 40,000 MedicationStatements at once: each is refused (413,
  too many resources; or 503 with Retry-After while another large call is read), and ordinary
  calls are answered within the budget meanwhile (before: none within 30 s).
- eight clients post bodies of 8,000 statements (under the resource cap, over the large-call
  threshold, each a second or more of work): one per worker is evaluated, the others get 503 with Retry-After at once, and ordinary
  calls are answered within the budget meanwhile.

The work bounds themselves (GMG_CDS_MAX_RESOURCES, the large-call lane) are tested in process
at the end. The figures the issue asks for come from `scripts/attack-slow-clients`."""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from bench.slow_clients import BigBodies, Running, SlowHeaders, normal_calls, statements_body
from cds_service.admission import LargeCallLane, resource_count
from cds_service.app import create_app
from cds_service.errors import ServiceError
from hooks import registry
from tests.security_helpers import ISSUER, PUBLIC_BASE, bearer, hook_body, mint, production_settings, signing_key, write_jwks
from tests.server_helpers import NGINX, free_port, needs_nginx, running

ES = signing_key("ES384")
PATH = "/cds-services/gmg-patient-view"
BUDGET_S = 4.0  # GMG_CDS_PREFETCH_BUDGET_SECONDS: what an EHR waits for a hook at the least


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """The production web process, as the Procfile and the container run it."""
    tmp = tmp_path_factory.mktemp("web")
    port = free_port()
    env = {"GMG_CDS_ENV": "production", "GMG_CDS_DATABASE_URL": f"sqlite:///{tmp / 'w.sqlite3'}",
           "GMG_CDS_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "GMG_CDS_WORKERS": "2",
           "GMG_CDS_TRUSTED_ISSUERS": json.dumps([{"iss": ISSUER, "jwks_file": write_jwks(tmp / "k.json", ES)}])}
    if NGINX is None and os.environ.get("GMG_CDS_REQUIRE_NGINX") != "1":
        pytest.skip("nginx is not installed (Debian: apt-get install nginx; .ci/run installs it)")
    with running("web", tmp, env, port=port) as server:
        def auth(url: str) -> dict[str, str]:
            return bearer(mint(ES, aud=url))
        yield Running(server.proc, server.base, auth, server.log)


def normal_body() -> bytes:
    return json.dumps(hook_body(prefetch={
        "patient": {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1970-01-01"},
        "conditions": None, "observations": None})).encode()


def assert_answered_within_budget(lat, minimum: int = 3) -> None:
    assert lat.failures == 0, lat
    assert len(lat.ms) >= minimum, lat
    assert max(lat.ms) < BUDGET_S * 1000, lat


@needs_nginx
@pytest.mark.slow
def test_slow_header_connections_do_not_hold_back_ordinary_calls(web) -> None:
    host, port = "127.0.0.1", int(web.base.rsplit(":", 1)[1])
    with SlowHeaders(host, port, 16) as slow16:
        assert_answered_within_budget(normal_calls(web, normal_body(), 4.0, "slow-16"))
        with SlowHeaders(host, port, 34) as slow34:  # 50 open in all
            assert_answered_within_budget(normal_calls(web, normal_body(), 4.0, "slow-50"))
            # nginx ends a request head that takes longer than client_header_timeout (10 s)
            deadline = time.monotonic() + 15
            while slow34.closed == 0 and time.monotonic() < deadline:
                time.sleep(0.5)
            assert slow34.closed > 0
    assert slow16.opened >= 16


@needs_nginx
@pytest.mark.slow
def test_eight_15_mb_bodies_are_refused_and_ordinary_calls_still_answered(web) -> None:
    data = statements_body(40_000)
    assert len(data) > 15_000_000
    with BigBodies(web, data) as greedy:
        lat = normal_calls(web, normal_body(), 6.0, "big-8")
    assert_answered_within_budget(lat)
    assert greedy.statuses and set(greedy.statuses) <= {413, 503}, greedy.statuses
    assert greedy.statuses.get(413, 0) >= 1


@needs_nginx
@pytest.mark.slow
def test_large_calls_under_the_cap_take_one_lane_per_worker(web) -> None:
    data = statements_body(8_000)  # over GMG_CDS_LARGE_CALL_RESOURCES (6,000)
    url = web.base + PATH
    answers: list[requests.Response] = []

    def post() -> None:
        answers.append(requests.post(url, data=data, timeout=60, headers={
            "Content-Type": "application/json", **web.auth(url)}))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    lat = normal_calls(web, normal_body(), 4.0, "large-8")
    for t in threads:
        t.join(timeout=90)
    assert_answered_within_budget(lat)
    statuses = sorted(r.status_code for r in answers)
    assert len(statuses) == 8 and set(statuses) <= {200, 503}, statuses
    assert 1 <= statuses.count(200) <= 4, statuses  # at most one at a time per worker (2), twice
    refused = next(r for r in answers if r.status_code == 503)
    assert refused.headers["Retry-After"] == "2"
    assert refused.json()["issue"][0]["code"] == "transient"


@needs_nginx
@pytest.mark.slow
def test_an_answer_given_before_the_body_was_read_reaches_the_client(web) -> None:
    """A 15 MB body refused before it is read (no token: 401) gets its JSON answer through nginx,
    not 502: the service reads the rest of the body after answering, so gunicorn does not reset
    the connection."""
    data = statements_body(40_000)
    session = requests.Session()
    for _ in range(3):
        r = session.post(web.base + PATH, data=data, timeout=30, headers={"Content-Type": "application/json"})
        assert r.status_code == 401 and r.json()["resourceType"] == "OperationOutcome"


# -- the bounds in process ----------------------------------------------------------------------

def test_a_call_with_more_resources_than_the_cap_is_413_naming_the_limit(tmp_path: Path) -> None:
    client = create_app(production_settings(tmp_path, max_resources=50)).test_client()
    entries = [{"resource": {"resourceType": "Observation", "id": f"o{i}", "status": "final",
                             "code": {"text": "x"}}} for i in range(60)]
    body = hook_body(prefetch={"patient": {"resourceType": "Patient", "id": "p1"}, "conditions": None,
                               "observations": {"resourceType": "Bundle", "type": "searchset", "entry": entries}})
    resp = client.post(PATH, json=body, headers=bearer(mint(ES, aud=PUBLIC_BASE + PATH)))
    assert resp.status_code == 413
    issue = resp.get_json()["issue"][0]
    assert issue["code"] == "too-costly" and "61 resources" in issue["diagnostics"]
    assert "GMG_CDS_MAX_RESOURCES = 50" in issue["diagnostics"]
    body["prefetch"]["observations"]["entry"] = entries[:40]
    assert client.post(PATH, json=body, headers=bearer(mint(ES, aud=PUBLIC_BASE + PATH))).status_code == 200


def test_resource_count() -> None:
    bundle = {"resourceType": "Bundle", "entry": [{}, {}, {}]}
    assert resource_count({"patient": {"resourceType": "Patient"}, "a": bundle, "b": None,
                           "c": {"resourceType": "Bundle", "entry": "not a list"}}) == 4


def test_the_lane_admits_one_large_call_at_a_time_and_refuses_the_next_at_once(tmp_path: Path) -> None:
    settings = replace(production_settings(tmp_path), large_call_resources=10, max_body_bytes=1000)
    lane = LargeCallLane(1)
    with lane.call() as first:
        first.resources(5, settings)  # small: no slot taken
        assert not first.holds
        first.resources(11, settings)
        assert first.holds
        with lane.call() as second:
            second.resources(10, settings)  # not large: admitted
            started = time.monotonic()
            with pytest.raises(ServiceError) as refused:
                second.body(501, settings)  # a body over half the body limit is large too
            assert time.monotonic() - started < 0.1  # refused at once, not after waiting
            assert refused.value.status == 503 and refused.value.headers == {"Retry-After": "2"}
    with lane.call() as third:  # the slot came back
        third.body(501, settings)
        assert third.holds


def test_large_calls_run_one_at_a_time_per_app(tmp_path: Path) -> None:
    """Two large calls at once through one app (one worker's threads): one is answered, the
    other refused with 503 at once."""
    entries = [{"resource": {"resourceType": "Observation", "id": f"o{i}", "status": "final",
                             "code": {"text": "x"}}} for i in range(6)]
    body = hook_body(prefetch={"patient": {"resourceType": "Patient", "id": "p1"}, "conditions": None,
                               "observations": {"resourceType": "Bundle", "type": "searchset", "entry": entries}})
    gate = threading.Event()
    services = registry.services()
    real = services["gmg-patient-view"].handler

    def held(call):  # noqa: ANN001, ANN202 - the real handler, once both calls have arrived
        gate.wait(5)
        return real(call)

    services["gmg-patient-view"] = replace(services["gmg-patient-view"], handler=held)
    client = create_app(production_settings(tmp_path, large_call_resources=5), services=services).test_client()

    def post() -> int:
        return client.post(PATH, json=body, headers=bearer(mint(ES, aud=PUBLIC_BASE + PATH))).status_code

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(post)
        time.sleep(0.5)
        second = pool.submit(post)
        assert second.result(timeout=5) == 503
        gate.set()
        assert first.result(timeout=10) == 200
